"""percentile_scale: the lattice light-sheet contrast scaling (clip to two percentiles, rescale)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.normalization import min_max_normalize, percentile_scale


def _ramp_with_hot_pixel():
    image = np.arange(101, dtype=np.uint16).reshape(1, 1, 101)  # 0..99 and, in the last voxel,
    image[0, 0, 100] = 60000  # a hot pixel
    return image


def test_known_answer_upper_percentile_clips_the_outlier():
    image = _ramp_with_hot_pixel()
    scaled = percentile_scale(image, upper_percentile=99)  # the 99th percentile of 101 values is 99
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled[0, 0, :100], np.arange(100) / 99, atol=1e-6)
    assert scaled[0, 0, 100] == 1.0


def test_known_answer_lower_percentile():
    image = np.arange(11, dtype=np.float32).reshape(1, 1, 11)  # 0..10
    scaled = percentile_scale(image, lower_percentile=20, upper_percentile=80)  # 2 and 8
    np.testing.assert_allclose(scaled[0, 0], np.clip((np.arange(11) - 2) / 6, 0, 1), atol=1e-6)


def test_full_range_equals_min_max():
    image = np.random.default_rng(0).normal(500, 50, (4, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(percentile_scale(image, upper_percentile=100), min_max_normalize(image), atol=1e-6)


def test_range_and_endpoints():
    image = np.random.default_rng(1).gamma(2.0, 100.0, (8, 32, 32))
    scaled = percentile_scale(image, lower_percentile=1, upper_percentile=99)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert np.mean(scaled == 1.0) == pytest.approx(0.01, abs=0.002)  # the top 1 % clipped
    assert np.mean(scaled == 0.0) == pytest.approx(0.01, abs=0.002)  # the bottom 1 % clipped


def test_uint8_output():
    image = _ramp_with_hot_pixel()
    eight_bit = percentile_scale(image, upper_percentile=99, to_uint8=True)
    assert eight_bit.dtype == np.uint8
    assert eight_bit[0, 0, 0] == 0 and eight_bit[0, 0, 99] == 255 and eight_bit[0, 0, 100] == 255
    assert eight_bit[0, 0, 33] == round(255 * 33 / 99)


def test_outlier_does_not_compress_the_contrast():
    rng = np.random.default_rng(2)
    image = rng.normal(1000, 100, (16, 64, 64)).astype(np.float32)  # 65536 voxels
    image[3, 4, 5] = 65000.0  # one hot pixel, far fewer than the 0.01 % above the 99.99th percentile
    by_percentile = percentile_scale(image)
    by_min_max = min_max_normalize(image)
    ordinary = np.ones(image.shape, bool)
    ordinary[3, 4, 5] = False
    assert np.std(by_percentile[ordinary]) > 0.1  # the ordinary voxels keep their spread
    assert np.std(by_min_max[ordinary]) < 0.01  # min-max squeezes them into the bottom 2 %
    assert np.std(by_percentile[ordinary]) > 10 * np.std(by_min_max[ordinary])


def test_input_not_modified():
    image = _ramp_with_hot_pixel()
    before = image.copy()
    percentile_scale(image, to_uint8=True)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("lower, upper, message", [
    (50, 50, "must be below"),
    (90, 10, "must be below"),
    (-1, 99, "lower_percentile"),
    (0, 101, "upper_percentile"),
])
def test_bad_percentiles(lower, upper, message):
    with pytest.raises(ValueError, match=message):
        percentile_scale(np.arange(27.0).reshape(3, 3, 3), lower_percentile=lower, upper_percentile=upper)


def test_constant_image():
    with pytest.raises(ValueError, match="constant"):
        percentile_scale(np.full((2, 3, 3), 7.0))


def test_equal_percentiles_are_refused_with_advice():
    image = np.zeros((1, 10, 10))
    image[0, 0, 0] = 5.0  # 99 % of the voxels share one value
    with pytest.raises(ValueError, match="no contrast between them"):
        percentile_scale(image, lower_percentile=0, upper_percentile=50)


def test_2d_image_is_refused():
    with pytest.raises(ValueError, match="3D"):
        percentile_scale(np.arange(16.0).reshape(4, 4))
