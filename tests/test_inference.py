"""Tiled prediction: identity-like stand-in networks must give the image back exactly, seams and all."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from helpers import inference


def _two_class_log(x: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of two classes [1 - x, x] (x in (0, 1)): class 1 reproduces the input."""
    return torch.log(torch.cat([1 - x, x], dim=1))


class SameSize(torch.nn.Module):
    """A padded network: output size = input size, probability of class 1 = the input.

    It records the shape of every batch it is given (``seen``), so tests can check the tiles.
    """

    def __init__(self, return_list: bool = False):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))  # so that .to()/.eval() have something to do
        self.return_list = return_list
        self.seen: list[tuple] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape))
        out = _two_class_log(x * self.scale)
        return [out, out.clone()] if self.return_list else out


class Unpadded(torch.nn.Module):
    """A valid-convolution stack: ``n`` unpadded 3x3x3 convolutions whose fixed weights only pass the
    centre voxel, so the output is the input cropped by ``n`` voxels on every side, then made into
    two-class log-probabilities. It has ``output_shape`` and ``valid_input_shape`` like helpers.nets.
    """

    def __init__(self, n: int = 2, multiple: int = 1):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        for _ in range(n):
            conv = torch.nn.Conv3d(1, 1, 3, bias=False)
            with torch.no_grad():
                conv.weight.zero_()
                conv.weight[0, 0, 1, 1, 1] = 1.0
            self.convs.append(conv)
        self.margin = 2 * n
        self.multiple = multiple  # inputs must be margin + a multiple of this (like pooling nets)
        self.training_flag_seen = []

    def output_shape(self, input_shape):
        out = tuple(int(s) - self.margin for s in input_shape)
        if any(o < 1 or o % self.multiple for o in out):
            raise ValueError(f"input {tuple(input_shape)} is not valid")
        return out

    def valid_input_shape(self, shape):
        m = self.multiple
        return tuple(self.margin + max(m, -(-(int(s) - self.margin) // m) * m) for s in shape)

    def forward(self, x):
        self.training_flag_seen.append(self.training)
        for conv in self.convs:
            x = conv(x)
        return [_two_class_log(x)]


def _image(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(np.float32)


@pytest.mark.parametrize(
    "shape, tile",
    [
        ((7, 40, 33), (4, 16, 16)),   # not multiples of the tile
        ((3, 20, 50), (8, 16, 16)),   # z shorter than the tile
        ((1, 9, 70), (4, 32, 24)),    # one slice, y shorter than the tile
        ((12, 30, 30), (12, 30, 30)),  # a single tile
        ((6, 24, 24), None),          # default tile
    ],
)
def test_same_size_model_reproduces_the_image(shape, tile):
    image = _image(shape)
    original = image.copy()
    p = inference.predict(SameSize(), image, tile_shape=tile, device="cpu")
    assert p.dtype == np.float32 and p.shape == (2,) + shape
    np.testing.assert_allclose(p[1], image, atol=2e-6)
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=2e-6)
    np.testing.assert_array_equal(image, original)


def test_same_size_blending_has_no_seams_and_tiles_overlap():
    # a smooth ramp image: any seam would show as a jump in the second difference
    z, y, x = np.meshgrid(np.arange(5), np.arange(37), np.arange(41), indexing="ij")
    image = (0.1 + 0.8 * (x + y + z) / (4 + 36 + 40)).astype(np.float32)
    model = SameSize()
    p = inference.predict(model, image, tile_shape=(5, 16, 16), overlap=(0, 6, 6), device="cpu")
    assert len(model.seen) > 4 and all(s[2:] == (5, 16, 16) for s in model.seen)
    np.testing.assert_allclose(p[1], image, atol=2e-6)
    assert np.abs(np.diff(p[1], n=2, axis=2)).max() < 1e-5


def test_blending_averages_disagreeing_tiles_smoothly():
    # a model whose output depends on the tile's position (its mean): tiles disagree, yet the
    # blended result varies smoothly (no jump larger than the tiles' disagreement allows)
    def tile_mean(x):
        m = x.mean(dim=(2, 3, 4), keepdim=True).expand_as(x)
        return _two_class_log(m)

    image = np.zeros((1, 1, 64), np.float32) + np.linspace(0.1, 0.9, 64, dtype=np.float32)
    blended = inference.predict(tile_mean, image, tile_shape=(1, 1, 16), overlap=(0, 0, 8), device="cpu")[1, 0, 0]
    hard = inference.predict(tile_mean, image, tile_shape=(1, 1, 16), overlap=(0, 0, 0), device="cpu")[1, 0, 0]
    assert np.abs(np.diff(hard)).max() > 0.15  # without overlap: steps at tile borders
    assert np.abs(np.diff(blended)).max() < 0.06  # with blending: gradual


@pytest.mark.parametrize(
    "shape, tile",
    [
        ((9, 40, 35), (7, 20, 16)),   # several tiles, last ones cropped
        ((2, 5, 30), (8, 12, 12)),    # z and y shorter than the output tile
        ((1, 1, 12), (5, 5, 9)),      # single voxels: edge padding
        ((10, 24, 24), None),         # default tile
    ],
)
def test_unpadded_model_reproduces_the_image(shape, tile):
    image = _image(shape, seed=1)
    original = image.copy()
    model = Unpadded(n=2)
    p = inference.predict(model, image, tile_shape=tile, device="cpu")
    assert p.shape == (2,) + shape
    np.testing.assert_allclose(p[1], image, atol=2e-6)
    np.testing.assert_array_equal(image, original)
    assert model.training and model.training_flag_seen and not any(model.training_flag_seen)


def test_unpadded_tiles_get_real_context():
    # a model that averages the 3x3x3 neighbourhood: with real context (mirror at the image border
    # only) the tiled result equals one whole-image pass
    class Mean3(Unpadded):
        def __init__(self):
            super().__init__(n=1)
            with torch.no_grad():
                self.convs[0].weight.fill_(1 / 27)

    image = _image((6, 30, 26), seed=2)
    model = Mean3()
    whole = inference.predict(model, image, tile_shape=(8, 32, 28), device="cpu")
    tiled = inference.predict(model, image, tile_shape=(4, 9, 7), device="cpu")
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    # and the interior equals the 3x3x3 mean computed directly
    from scipy import ndimage

    expected = ndimage.uniform_filter(image.astype(np.float64), 3, mode="mirror")
    np.testing.assert_allclose(tiled[1], expected, atol=1e-5)


def test_invalid_tile_is_made_valid_with_a_warning():
    image = _image((4, 20, 20))
    model = Unpadded(n=1, multiple=4)
    with pytest.warns(UserWarning, match="valid"):
        p = inference.predict(model, image, tile_shape=(5, 9, 9), device="cpu")
    np.testing.assert_allclose(p[1], image, atol=2e-6)


def test_invalid_tile_without_valid_input_shape_is_refused():
    model = Unpadded(n=1, multiple=4)
    model.valid_input_shape = None
    with pytest.raises(ValueError, match="not a valid input size"):
        inference.predict(model, _image((4, 20, 20)), tile_shape=(5, 9, 9), device="cpu")


@pytest.mark.parametrize("model", [SameSize(), Unpadded(n=1)])
def test_batch_size_does_not_change_the_result(model):
    image = _image((5, 30, 27), seed=3)
    one = inference.predict(model, image, tile_shape=(5, 12, 12), batch_size=1, device="cpu")
    three = inference.predict(model, image, tile_shape=(5, 12, 12), batch_size=3, device="cpu")
    np.testing.assert_array_equal(one, three)


def test_model_returning_a_list_and_a_plain_function():
    image = _image((3, 17, 19))
    p_list = inference.predict(SameSize(return_list=True), image, tile_shape=(3, 8, 8), device="cpu")
    p_func = inference.predict(lambda x: (_two_class_log(x),), image, tile_shape=(3, 8, 8), device="cpu")
    np.testing.assert_allclose(p_list[1], image, atol=2e-6)
    np.testing.assert_array_equal(p_list, p_func)


def test_multichannel_input_and_progress_bar():
    image = np.stack([_image((3, 10, 10), seed=4), _image((3, 10, 10), seed=5)])
    p = inference.predict(lambda x: _two_class_log(x[:, 1:2]), image, tile_shape=(3, 6, 6),
                          device="cpu", progress=True)
    np.testing.assert_allclose(p[1], image[1], atol=2e-6)


def test_integer_image_is_accepted():
    image = np.random.default_rng(0).integers(1, 9, (2, 8, 8)).astype(np.uint16)
    p = inference.predict(lambda x: _two_class_log(x / 10), image, tile_shape=(2, 4, 4), device="cpu")
    np.testing.assert_allclose(p[1], image / 10, atol=2e-6)


def test_bad_arguments_raise():
    image = _image((3, 10, 10))
    model = SameSize()
    with pytest.raises(ValueError, match="NaN"):
        bad = image.copy()
        bad[0, 0, 0] = np.nan
        inference.predict(model, bad, device="cpu")
    with pytest.raises(ValueError, match="dimensions"):
        inference.predict(model, image[0], device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        inference.predict(model, image, batch_size=0, device="cpu")
    with pytest.raises(ValueError, match="tile_shape"):
        inference.predict(model, image, tile_shape=(4, 4), device="cpu")
    with pytest.raises(ValueError, match="tile_shape"):
        inference.predict(model, image, tile_shape=(0, 4, 4), device="cpu")
    with pytest.raises(ValueError, match="overlap"):
        inference.predict(model, image, tile_shape=(3, 4, 4), overlap=4, device="cpu")
    with pytest.raises(ValueError, match="overlap"):
        inference.predict(model, image, overlap=-1, device="cpu")
    with pytest.raises(ValueError, match="device"):
        inference.predict(model, image, device="nonsense")
    with pytest.raises(ValueError, match="model"):
        inference.predict("not a model", image, device="cpu")
    with pytest.raises(ValueError, match="output_shape"):  # shrinking output without output_shape
        inference.predict(lambda x: _two_class_log(x[:, :, :, 1:-1, 1:-1]), image, device="cpu")
    with pytest.raises(ValueError, match="torch tensor"):
        inference.predict(lambda x: x.numpy(), image, device="cpu")


def test_probability_to_mask_and_labels():
    p = np.zeros((3, 1, 2, 2), np.float32)
    p[0] = [[[0.7, 0.1], [0.2, 0.3]]]
    p[1] = [[[0.2, 0.6], [0.3, 0.3]]]
    p[2] = 1 - p[0] - p[1]
    original = p.copy()
    np.testing.assert_array_equal(inference.probability_to_mask(p), [[[False, True], [False, False]]])
    np.testing.assert_array_equal(inference.probability_to_mask(p, foreground=(1, 2)),
                                  [[[False, True], [True, True]]])
    np.testing.assert_array_equal(inference.probability_to_mask(p[1], threshold=0.25),
                                  [[[False, True], [True, True]]])
    np.testing.assert_array_equal(inference.probability_to_labels(p), [[[0, 1], [2, 2]]])
    np.testing.assert_array_equal(p, original)
    with pytest.raises(ValueError, match="threshold"):
        inference.probability_to_mask(p, threshold=1.0)
    with pytest.raises(ValueError, match="foreground"):
        inference.probability_to_mask(p, foreground=3)
    with pytest.raises(ValueError, match="probabilities"):
        inference.probability_to_mask(p[0, 0])


def test_no_warnings_for_valid_calls():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inference.predict(Unpadded(n=1), _image((3, 8, 8)), tile_shape=(5, 6, 6), device="cpu")


def test_overlap_on_a_single_tile_axis_is_harmless():
    image = _image((3, 20, 20))
    p = inference.predict(SameSize(), image, tile_shape=(8, 8, 8), overlap=(5, 3, 3), device="cpu")
    np.testing.assert_allclose(p[1], image, atol=2e-6)
    with pytest.raises(ValueError, match="overlap"):
        inference.predict(Unpadded(n=1), image, overlap=(1, 2), device="cpu")


def test_padded_network_with_output_shape_is_blended():
    # helpers.nets networks all have output_shape; a padded one returns its input size and must
    # still get overlapping, blended tiles
    class PaddedNet(SameSize):
        def output_shape(self, input_shape):
            return tuple(int(s) for s in input_shape)

        def valid_input_shape(self, shape):
            return tuple(-(-int(s) // 4) * 4 for s in shape)  # multiples of 4, like a pooling U-Net

    image = _image((3, 30, 30))
    model = PaddedNet()
    p = inference.predict(model, image, tile_shape=(4, 16, 16), device="cpu")
    np.testing.assert_allclose(p[1], image, atol=2e-6)
    assert all(s[2:] == (4, 16, 16) for s in model.seen)
    assert len(model.seen) == 9  # y and x: 3 tiles each (overlap 4, step 12: starts 0, 7, 14)
