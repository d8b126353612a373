"""Segmentation networks: size rules, documented sizes, forward passes, configs, bad input.

Forward passes use tiny widths (base_channels 2-4) and the smallest valid inputs, so the file runs in
seconds on one CPU thread.
"""

from __future__ import annotations

import json

import pytest
import torch

from helpers import nets
from helpers.nets import MSDNet, NetBasic, NetZoom, UNet3D

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# (network name, constructor arguments, spatial input shape, expected spatial output shape)
SHAPE_TABLE = [
    # documented sizes (NETWORKS.md)
    ("net_basic", {}, (44, 140, 140), (16, 52, 52)),
    ("net_basic", {}, (50, 156, 156), (22, 68, 68)),
    ("net_zoom", {}, (72, 420, 420), (40, 152, 152)),
    ("unet3d", {}, (64, 128, 128), (64, 128, 128)),  # membrane 3D U-Net training patch
    # smallest valid inputs and other valid sizes
    ("net_basic", {}, (29, 92, 92), (1, 4, 4)),
    ("net_basic", {"base_channels": 4}, (30, 92, 100), (2, 4, 12)),
    ("net_zoom", {}, (33, 276, 276), (1, 8, 8)),
    ("net_zoom", {"zoom": 2}, (33, 184, 184), (1, 4, 4)),
    ("net_zoom", {"zoom": 2}, (40, 200, 184), (8, 20, 4)),
    ("unet3d", {"depth": 5, "pooling": (1, 2, 2)}, (5, 32, 48), (5, 32, 48)),
    ("hybrid_2d3d", {}, (5, 64, 64), (5, 64, 64)),
    ("unet3d", {"depth": 1}, (3, 5, 7), (3, 5, 7)),
    ("msdnet", {}, (7, 9, 11), (7, 9, 11)),
    ("msdnet", {"dimensions": 2}, (13, 17), (13, 17)),
]


@pytest.mark.parametrize("name, arguments, input_shape, expected", SHAPE_TABLE)
def test_shape_table(name, arguments, input_shape, expected):
    net = nets.build({"name": name, **arguments})
    assert net.output_shape(input_shape) == expected
    assert net.valid_input_shape(input_shape) == input_shape
    assert net.margin == tuple(i - o for i, o in zip(input_shape, expected))


# Tiny networks for real forward passes: (network, smallest valid input used, expected output).
TINY = [
    (lambda: NetBasic(base_channels=4), (30, 92, 100), (2, 4, 12)),
    (lambda: NetZoom(zoom=2, base_channels=2), (33, 184, 200), (1, 4, 20)),
    (lambda: UNet3D(base_channels=4, depth=3), (4, 12, 8), (4, 12, 8)),
    (lambda: UNet3D(base_channels=3, depth=3, growth=1.5, pooling=(1, 2, 2), batch_norm=False),
     (3, 8, 12), (3, 8, 12)),
    (lambda: MSDNet(depth=6, max_dilation=3, width=2, n_classes=3), (5, 6, 7), (5, 6, 7)),
    (lambda: MSDNet(depth=6, dimensions=2, in_channels=2), (9, 10), (9, 10)),
]
TINY_IDS = ["net_basic", "net_zoom", "unet3d", "unet3d_aniso", "msdnet3d", "msdnet2d"]


@pytest.mark.parametrize("make, input_shape, expected", TINY, ids=TINY_IDS)
def test_forward_shapes_and_log_probabilities(make, input_shape, expected):
    net = make().train()  # training mode: the auxiliary outputs too
    config = net.config
    x = torch.randn(2, config["in_channels"], *input_shape)
    before = x.clone()
    with torch.no_grad():
        outputs = net(x)
        evaluated = net.eval()(x)
    assert torch.equal(x, before)  # the input is not modified
    assert isinstance(outputs, list) and isinstance(evaluated, list)
    n_outputs = 3 if config["name"] in ("net_basic", "net_zoom") else 1
    assert len(outputs) == n_outputs
    assert len(evaluated) == 1 and evaluated[0].shape == outputs[0].shape  # prediction: the main output only
    assert net.output_shape(input_shape) == expected
    for out in outputs:  # aux outputs have the main output's shape
        assert tuple(out.shape) == (2, config["n_classes"], *expected)
        assert torch.all(out <= 1e-6)
        assert torch.allclose(out.exp().sum(dim=1), torch.ones(()), atol=1e-5)
    assert not torch.allclose(outputs[0][0], outputs[0][1])  # the two samples differ


@pytest.mark.parametrize("make, input_shape, expected", TINY, ids=TINY_IDS)
def test_config_rebuilds_same_architecture(make, input_shape, expected):
    net = make().eval()
    config = json.loads(json.dumps(net.config))  # JSON-able
    rebuilt = nets.build(config).eval()
    assert rebuilt.config == net.config
    rebuilt.load_state_dict(net.state_dict())  # strict: same parameter names and shapes
    x = torch.randn(1, config["in_channels"], *input_shape)
    with torch.no_grad():
        for a, b in zip(net(x), rebuilt(x)):
            assert torch.equal(a, b)


def test_training_step_reaches_every_parameter():
    net = NetBasic(base_channels=2).train()
    x = torch.randn(1, 1, 29, 92, 92)
    target = torch.randint(0, 2, (1, 1, 4, 4))
    loss = sum(torch.nn.functional.nll_loss(out, target) for out in net(x))
    loss.backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_msdnet_training_and_prediction_paths_agree():
    net = MSDNet(depth=5, max_dilation=2, width=2)
    x = torch.randn(1, 1, 4, 5, 6)
    trained = net(x)[0]  # grad mode: concatenation path
    trained.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with torch.no_grad():
        predicted = net(x)[0]  # buffer path
    assert torch.allclose(trained.detach(), predicted, atol=1e-6)


def test_msdnet_dilations_cycle():
    net = MSDNet(depth=7, max_dilation=3)
    assert [layer.dilation[0] for layer in net.layers] == [1, 2, 3, 1, 2, 3, 1]
    assert [layer.in_channels for layer in net.layers] == [1, 2, 3, 4, 5, 6, 7]
    assert net.head.in_channels == 8


def test_unet3d_channel_plan():
    assert UNet3D().channels == [32, 64, 128, 256]
    assert UNet3D(depth=5, base_channels=64, growth=1.5).channels == [64, 96, 144, 216, 324]


# ---------------------------------------------------------------- size rules and margins

def test_margins():
    # The margin does not depend on the width; base_channels=1 keeps the test fast.
    assert NetBasic(base_channels=1).margin == (28, 88, 88)
    assert NetZoom(base_channels=1).margin == (32, 268, 268)
    assert NetZoom(zoom=2, base_channels=1).margin == (32, 180, 180)
    assert UNet3D(base_channels=1).margin == (0, 0, 0)
    assert MSDNet(dimensions=2).margin == (0, 0)


def test_net_basic_valid_sizes_follow_the_rule():
    net = NetBasic(base_channels=1)
    valid_xy = [s for s in range(1, 200) if net._axis_output_size(1, s) is not None]
    assert valid_xy == list(range(92, 200, 8))
    assert net.valid_input_shape((1, 1, 1)) == (29, 92, 92)
    assert net.valid_input_shape((40, 130, 141)) == (40, 132, 148)


def test_net_zoom_valid_sizes_near_documented():
    net = NetZoom(base_channels=1)
    assert net.valid_input_shape((70, 400, 421)) == (70, 420, 444)
    with pytest.raises(ValueError, match="396 or 420"):
        net.output_shape((72, 400, 420))


@pytest.mark.parametrize("net, shape, message", [
    (NetBasic(base_channels=1), (44, 141, 140), r"Y = 141 \(nearest valid: 140 or 148\)"),
    (NetBasic(base_channels=1), (28, 140, 140), r"Z = 28 \(nearest valid: 29\)"),
    (NetBasic(base_channels=1), (44, 140, 10), r"X = 10 \(nearest valid: 92\)"),
    (UNet3D(base_channels=1), (63, 128, 128), r"Z = 63 \(nearest valid: 56 or 64\)"),
    (UNet3D(base_channels=1, pooling=(1, 2, 2)), (5, 20, 32), r"Y = 20 \(nearest valid: 16 or 24\)"),
])
def test_invalid_sizes_name_valid_neighbours(net, shape, message):
    with pytest.raises(ValueError, match=message):
        net.output_shape(shape)
    with pytest.raises(ValueError, match=message):
        net(torch.zeros(1, 1, *shape))


@pytest.mark.parametrize("shape", [(44, 140), (1, 44, 140, 140), "44", (44, 0, 140), (44.5, 140, 140)])
def test_bad_shapes_raise(shape):
    with pytest.raises(ValueError):
        NetBasic(base_channels=1).output_shape(shape)


def test_bad_tensors_raise():
    net = UNet3D(base_channels=1, depth=2)
    with pytest.raises(ValueError, match="5D tensor"):
        net(torch.zeros(8, 8, 8))
    with pytest.raises(ValueError, match="1 input channel"):
        net(torch.zeros(1, 2, 8, 8, 8))
    with pytest.raises(ValueError, match="4D tensor"):
        MSDNet(dimensions=2, depth=1)(torch.zeros(1, 4, 4))  # (a 5D stack is segmented slice by slice)


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize("cls, arguments, message", [
    (NetBasic, {"n_classes": 1}, "n_classes"),
    (NetBasic, {"base_channels": 0}, "base_channels"),
    (NetBasic, {"in_channels": 1.5}, "in_channels"),
    (NetBasic, {"n_classes": True}, "n_classes"),
    (NetZoom, {"zoom": 1}, "net_basic"),
    (NetZoom, {"n_classes": 0}, "n_classes"),
    (UNet3D, {"depth": 0}, "depth"),
    (UNet3D, {"growth": 1.0}, "growth"),
    (UNet3D, {"growth": 0.5}, "growth"),
    (UNet3D, {"growth": "2"}, "growth"),
    (UNet3D, {"pooling": (1, 1, 1)}, "pooling"),
    (UNet3D, {"pooling": (2, 2)}, "pooling"),
    (UNet3D, {"pooling": (2, 0, 2)}, "pooling"),
    (UNet3D, {"batch_norm": 1}, "batch_norm"),
    (MSDNet, {"depth": 0}, "depth"),
    (MSDNet, {"max_dilation": 0}, "max_dilation"),
    (MSDNet, {"width": 0}, "width"),
    (MSDNet, {"dimensions": 4}, "dimensions"),
])
def test_bad_arguments_raise(cls, arguments, message):
    with pytest.raises(ValueError, match=message):
        cls(**arguments)


def test_constructor_takes_keywords_only():
    with pytest.raises(TypeError):
        NetBasic(1, 2)


def test_build_validates_names_and_arguments():
    assert set(nets.NETWORKS) == {"net_basic", "net_zoom", "unet3d", "msdnet", "hybrid_2d3d"}
    assert isinstance(nets.build("msdnet"), MSDNet)
    assert nets.build({"name": "unet3d", "pooling": [1, 2, 2]}).config["pooling"] == [1, 2, 2]
    with pytest.raises(ValueError, match="'unet3d'"):
        nets.build({"name": "unet"})
    with pytest.raises(ValueError, match="'net_basic'"):
        nets.build({"name": "NetBasic"})
    with pytest.raises(ValueError, match="name"):
        nets.build({"n_classes": 2})
    with pytest.raises(ValueError, match="does not take"):
        nets.build({"name": "msdnet", "zoom": 3})
    with pytest.raises(ValueError, match="growth"):
        nets.build({"name": "unet3d", "growth": 1})
    with pytest.raises(ValueError):
        nets.build(["net_basic"])


# ---------------------------------------------------------------- parameter counts

def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_defaults():
    counts = {name: _count(cls()) for name, cls in nets.NETWORKS.items()}
    assert counts == {
        "net_basic": 19_091_814,
        "net_zoom": 28_787_110,
        "unet3d": 5_601_154,
        "msdnet": 22_264,
        "hybrid_2d3d": 346_403,
    }
    # MSDNet: sum over layers of ((1 + i) * 27 weights + 1 bias), plus the 1x1x1 head (41 * 2 + 2).
    assert counts["msdnet"] == sum((1 + i) * 27 + 1 for i in range(40)) + 41 * 2 + 2
    # Two orders of magnitude fewer than the U-Nets.
    assert counts["unet3d"] > 100 * counts["msdnet"]
    # Net_basic's batch norm has no affine parameters.
    bn = [m for m in NetBasic(base_channels=1).modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert bn and all(m.weight is None for m in bn)


def test_a_2d_msdnet_segments_stacks_slice_by_slice():
    torch.manual_seed(0)
    net = MSDNet(depth=4, max_dilation=2, dimensions=2).eval()
    stack = torch.randn(2, 1, 3, 12, 14)
    with torch.no_grad():
        out = net(stack)[0]
        per_slice = torch.stack([net(stack[:, :, z])[0] for z in range(3)], dim=2)
    assert out.shape == (2, 2, 3, 12, 14) and torch.allclose(out, per_slice, atol=1e-6)
    assert net.output_shape((3, 12, 14)) == (3, 12, 14) and net.valid_input_shape((5, 9, 9)) == (5, 9, 9)
    assert net.output_shape((12, 14)) == (12, 14)
