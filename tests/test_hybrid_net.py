"""The 2D-3D hybrid network: size rules, forward passes, its two outputs, the pyramid's reach, bad arguments.

Tiny widths (base_channels 2-4) and small inputs keep the file to a few seconds on one CPU thread.
"""

from __future__ import annotations

import json

import pytest
import torch

from helpers import losses, nets
from helpers.nets import HybridNet2D3D

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# (constructor arguments, spatial input shape, expected spatial output shape)
SHAPE_TABLE = [
    ({}, (5, 64, 64), (5, 64, 64)),  # a 5-section stack: the defaults pool only in y and x
    ({}, (1, 4, 4), (1, 4, 4)),  # the smallest valid input at the defaults
    ({}, (7, 12, 20), (7, 12, 20)),
    ({"depth": 4}, (3, 8, 16), (3, 8, 16)),
    ({"pooling": (2, 2, 2)}, (8, 8, 12), (8, 8, 12)),
    ({"depth": 1}, (3, 5, 7), (3, 5, 7)),
]


@pytest.mark.parametrize("arguments, input_shape, expected", SHAPE_TABLE)
def test_shape_table(arguments, input_shape, expected):
    net = nets.build({"name": "hybrid_2d3d", "base_channels": 2, **arguments})
    assert net.output_shape(input_shape) == expected
    assert net.valid_input_shape(input_shape) == input_shape
    assert net.margin == (0, 0, 0)


def test_invalid_sizes_name_the_nearest_valid_ones():
    net = HybridNet2D3D(base_channels=2)
    assert net.valid_input_shape((5, 17, 30)) == (5, 20, 32)
    with pytest.raises(ValueError, match=r"Y = 18 \(nearest valid: 16 or 20\).*multiple of \(1, 4, 4\)"):
        net.output_shape((5, 18, 16))


@pytest.mark.parametrize("arguments, input_shape", [
    ({"base_channels": 4, "n_classes": 5}, (3, 16, 12)),
    ({"base_channels": 3, "pooling": (2, 2, 2), "pyramid_bins": (1, 3), "batch_norm": False, "in_channels": 2},
     (4, 8, 8)),
])
def test_forward_gives_a_3d_and_a_2d_output(arguments, input_shape):
    net = HybridNet2D3D(**arguments).train()
    config = net.config
    x = torch.randn(2, config["in_channels"], *input_shape)
    before = x.clone()
    with torch.no_grad():
        outputs = net(x)
        evaluated = net.eval()(x)
    assert torch.equal(x, before)
    assert len(outputs) == 2 and len(evaluated) == 1  # prediction: the main 3D output only
    for out in outputs:
        assert tuple(out.shape) == (2, config["n_classes"], *input_shape)
        assert torch.all(out <= 1e-6)
        assert torch.allclose(out.exp().sum(dim=1), torch.ones(()), atol=1e-5)
    assert not torch.allclose(outputs[0], outputs[1])  # two different heads


def test_config_rebuilds_the_same_network():
    net = HybridNet2D3D(base_channels=3, n_classes=4, pyramid_bins=(1, 2)).eval()
    config = json.loads(json.dumps(net.config))
    assert config == {"name": "hybrid_2d3d", "in_channels": 1, "n_classes": 4, "depth": 3, "base_channels": 3,
                      "pooling": [1, 2, 2], "pyramid_bins": [1, 2], "batch_norm": True}
    rebuilt = nets.build(config).eval()
    rebuilt.load_state_dict(net.state_dict())
    x = torch.randn(1, 1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x)[0], rebuilt(x)[0])


def test_auxiliary_head_is_in_plane():
    # The 2D head mixes voxels within a slice only: a change in one slice's features changes that slice alone.
    net = HybridNet2D3D(base_channels=4, n_classes=3).eval()
    features = torch.randn(1, 4, 5, 8, 8)
    changed = features.clone()
    changed[:, :, 2] += torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        difference = (net.head_2d(features) - net.head_2d(changed)).abs().amax(dim=(0, 1, 3, 4))
    assert difference[2] > 1e-3
    assert torch.all(difference[[0, 1, 3, 4]] == 0)


def test_pyramid_gives_every_voxel_context_from_the_whole_bottleneck():
    # A 1x1x1 convolution sees one voxel; the pyramid's whole-volume branch (bin 1) carries a change in
    # one corner of the bottleneck to the opposite corner, and the finer bins (2) keep it local to a cell.
    net = HybridNet2D3D(base_channels=4, depth=2, pyramid_bins=(1, 2)).double().eval()
    features = torch.rand(1, 8, 4, 8, 8, dtype=torch.float64)
    changed = features.clone()
    changed[..., 0, 0, 0] += 10.0
    with torch.no_grad():
        for branch in net.pyramid.branches:  # positive weights: no branch is switched off by its ReLU
            branch[0].weight.fill_(0.1)
        difference = (net.pyramid(features) - net.pyramid(changed)).abs().amax(dim=(0, 1))
    assert difference[-1, -1, -1] > 1e-6
    assert difference[0, 0, 0] > difference[-1, -1, -1]  # nearer: also the bin-2 cell and the voxel itself


def test_one_training_step_reaches_every_parameter_and_lowers_the_loss():
    net = HybridNet2D3D(base_channels=2, n_classes=3).train()
    x = torch.randn(2, 1, 3, 8, 8)
    target = torch.randint(0, 3, (2, 3, 8, 8))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss = losses.deep_supervision_loss(net(x), target, weights=[1.0, 0.5])  # 3D term + 2D term
    loss.backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    optimizer.step()
    optimizer.zero_grad()
    for _ in range(4):
        later = losses.deep_supervision_loss(net(x), target, weights=[1.0, 0.5])
        later.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert float(later.detach()) < float(loss.detach())


def test_a_zero_2d_weight_leaves_the_2d_head_untrained():
    net = HybridNet2D3D(base_channels=2).train()
    x = torch.randn(1, 1, 2, 8, 8)
    loss = losses.deep_supervision_loss(net(x), torch.randint(0, 2, (1, 2, 8, 8)), weights=[1.0, 0.0])
    loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in net.head_2d.parameters())
    assert net.head_3d.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("arguments, match", [
    ({"n_classes": 1}, "n_classes"),
    ({"depth": 0}, "depth"),
    ({"base_channels": 2.5}, "base_channels"),
    ({"pooling": (1, 1, 1)}, "never down-samples"),
    ({"pooling": (2, 2)}, "pooling"),
    ({"pyramid_bins": ()}, "pyramid_bins"),
    ({"pyramid_bins": (1, 1)}, "distinct"),
    ({"pyramid_bins": (0, 2)}, "pyramid_bins"),
    ({"batch_norm": "yes"}, "batch_norm"),
    ({"in_channels": True}, "in_channels"),
])
def test_bad_arguments_are_refused(arguments, match):
    with pytest.raises(ValueError, match=match):
        HybridNet2D3D(**arguments)


def test_bad_inputs_are_refused():
    net = HybridNet2D3D(base_channels=2)
    with pytest.raises(ValueError, match="5D tensor"):
        net(torch.zeros(1, 8, 8, 8))
    with pytest.raises(ValueError, match="input channel"):
        net(torch.zeros(1, 2, 1, 8, 8))
    with pytest.raises(ValueError, match="Did you mean 'hybrid_2d3d'"):
        nets.build({"name": "hybrid-2d3d-net"})
