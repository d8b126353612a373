"""Properties every intensity building block shares, checked over one table of all of them.

Each entry takes a (Z, Y, X) image and returns an array of the same shape: never modifies its
input, never prints, returns float32 (or bool for the filters with a cutoff), accepts any integer
or float dtype, and refuses bad input with a ValueError that names the problem.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers import filaments, normalization, smoothing, spots, thresholds

BLOCKS = {
    "min_max": lambda im: normalization.min_max_normalize(im),
    "min_max_bound": lambda im: normalization.min_max_normalize(im, upper_bound=2500),
    "auto_contrast": lambda im: normalization.auto_contrast(im, lower_sd=2.0, upper_sd=10.0),
    "auto_contrast_in_range": lambda im: normalization.auto_contrast_in_range(
        im, lower_sd=2.0, upper_sd=10.0, lower_intensity=-1, upper_intensity=1600),
    "gaussian_3d": lambda im: smoothing.gaussian_smooth_3d(im, sigma=1.0),
    "gaussian_2d": lambda im: smoothing.gaussian_smooth_2d(im, sigma=1.0),
    "edge_preserving": lambda im: smoothing.edge_preserving_smooth(im),
    "filament_response_3d": lambda im: filaments.filament_response_3d(im, sigma=1.0),
    "filament_filter_3d": lambda im: filaments.filament_filter_3d(im, scales=[(1.0, 0.05)]),
    "filament_response_2d": lambda im: filaments.filament_response_2d(im, sigma=1.0),
    "filament_filter_2d": lambda im: filaments.filament_filter_2d(im, scales=[(1.0, 0.05)]),
    "spot_response_3d": lambda im: spots.spot_response_3d(im, sigma=1.0),
    "spot_filter_3d": lambda im: spots.spot_filter_3d(im, scales=[(1.0, 0.02)]),
    "spot_response_2d": lambda im: spots.spot_response_2d(im, sigma=1.0),
    "spot_filter_2d": lambda im: spots.spot_filter_2d(im, scales=[(1.0, 0.02)]),
    "mo_low": lambda im: thresholds.masked_object_threshold_low(im, method="triangle", min_size=5),
    "mo": lambda im: thresholds.masked_object_threshold(im, method="ave_tri_med", min_size=5),
}
BINARY = {"filament_filter_3d", "filament_filter_2d", "spot_filter_3d", "spot_filter_2d", "mo_low", "mo"}
#: Blocks that are undefined on a constant image (nothing to normalize or threshold).
NEEDS_CONTRAST = {"min_max", "min_max_bound", "auto_contrast", "auto_contrast_in_range", "mo_low", "mo"}
#: Blocks that commute with flipping the image along every axis.
FLIP_SYMMETRIC = {"min_max", "auto_contrast", "gaussian_3d", "gaussian_2d", "edge_preserving",
                  "filament_response_3d", "spot_response_3d", "spot_response_2d"}


def sample_image(shape=(8, 24, 28), seed=0, dtype=np.uint16):
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random(shape), 1.0) * 2000 + 300
    image[shape[0] // 2, shape[1] // 2, 4:-4] += 1500  # a bright line
    image += rng.normal(0, 20, shape)
    return np.clip(image, 0, None).astype(dtype)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_shape_dtype_and_input_untouched(name, capsys):
    image = sample_image()
    original = image.copy()
    result = BLOCKS[name](image)
    np.testing.assert_array_equal(image, original)
    assert result.shape == image.shape
    assert result.dtype == (bool if name in BINARY else np.float32)
    assert np.isfinite(result.astype(np.float32)).all()
    assert capsys.readouterr() == ("", ""), "building blocks must not print"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_accepts_numeric_dtypes_alike(name, dtype):
    image = (sample_image() // 12).astype(dtype)
    reference = BLOCKS[name](image.astype(np.float32))
    np.testing.assert_allclose(BLOCKS[name](image).astype(np.float32), reference.astype(np.float32),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_zeros_in_zeros_out_or_clear_error(name):
    zeros = np.zeros((6, 20, 20), dtype=np.float32)
    if name in NEEDS_CONTRAST:
        with pytest.raises(ValueError, match="constant"):
            BLOCKS[name](zeros)
    else:
        assert not BLOCKS[name](zeros).any()


@pytest.mark.parametrize("name", sorted(FLIP_SYMMETRIC))
def test_commutes_with_flips(name):
    image = sample_image(seed=3).astype(np.float32)
    result = BLOCKS[name](image)
    for axis in range(3):
        flipped = BLOCKS[name](np.flip(image, axis).copy())
        np.testing.assert_allclose(np.flip(flipped, axis), result, rtol=1e-5, atol=1e-6 * np.abs(result).max())


BAD_INPUTS = {
    "2D": (np.ones((20, 20), np.float32), "3D"),
    "4D": (np.ones((2, 4, 20, 20), np.float32), "channel"),
    "NaN": (np.where(np.eye(20, dtype=bool)[None], np.nan, 1.0).astype(np.float32), "NaN"),
    "inf": (np.where(np.eye(20, dtype=bool)[None], np.inf, 1.0).astype(np.float32), "infinite"),
    "empty": (np.ones((0, 20, 20), np.float32), "empty"),
    "bool": (np.ones((4, 20, 20), bool), "boolean"),
    "complex": (np.ones((4, 20, 20), np.complex64), "real-valued"),
    "object": (np.array([[["a"]]], dtype=object), "real-valued"),
}


@pytest.mark.parametrize("problem", sorted(BAD_INPUTS))
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_bad_input_is_a_clear_value_error(name, problem):
    image, message = BAD_INPUTS[problem]
    original = image.copy()
    with pytest.raises(ValueError, match=message):
        BLOCKS[name](image)
    np.testing.assert_array_equal(image, original)


@pytest.mark.parametrize("call, message", [
    (lambda im: smoothing.gaussian_smooth_3d(im, sigma=-1), "sigma"),
    (lambda im: smoothing.gaussian_smooth_2d(im, sigma=float("nan")), "sigma"),
    (lambda im: smoothing.edge_preserving_smooth(im, time_step=0.1), "time_step"),
    (lambda im: smoothing.edge_preserving_smooth(im, iterations=-2), "iterations"),
    (lambda im: smoothing.edge_preserving_smooth(im, conductance=0), "conductance"),
    (lambda im: filaments.filament_response_3d(im, sigma=0), "sigma"),
    (lambda im: filaments.filament_filter_3d(im, scales=[(1.0, 1.5)]), "cutoff"),
    (lambda im: filaments.filament_filter_3d(im, scales=[(-1.0, 0.1)]), "sigma"),
    (lambda im: filaments.filament_filter_2d(im, scales=[(1.0, -0.1)]), "cutoff"),
    (lambda im: filaments.filament_filter_2d(im, scales=[]), "scales"),
    (lambda im: filaments.filament_filter_2d(im, scales=[(1.0,)]), "scales"),
    (lambda im: spots.spot_filter_3d(im, scales=[(1.0, -0.5)]), "cutoff"),
    (lambda im: spots.spot_response_2d(im, sigma=-2), "sigma"),
    (lambda im: normalization.auto_contrast(im, lower_sd="2", upper_sd=3), "lower_sd"),
    (lambda im: normalization.auto_contrast(im, lower_sd=-5, upper_sd=-5), "empty intensity range"),
    (lambda im: normalization.auto_contrast_in_range(im, lower_sd=1, upper_sd=1, lower_intensity=1e6,
                                                     upper_intensity=2e6), "No voxel"),
    (lambda im: normalization.auto_contrast_in_range(im, lower_sd=1, upper_sd=1, lower_intensity=500,
                                                     upper_intensity=400), "upper_intensity"),
    (lambda im: normalization.min_max_normalize(im, upper_bound=-3), "upper_bound"),
    (lambda im: normalization.min_max_normalize(im, upper_bound=10), "Every voxel is above"),
    (lambda im: thresholds.global_threshold(im, method="magic"), "magic"),
    (lambda im: thresholds.masked_object_threshold_low(im, method="otsu", min_size=-1), "min_size"),
    (lambda im: thresholds.masked_object_threshold_high(im, im > 500, local_adjust=3), "local_adjust"),
    (lambda im: thresholds.masked_object_threshold_high(im, im.astype(np.float32), local_adjust=1), "Threshold it"),
    (lambda im: thresholds.masked_object_threshold_high(im, im[:2] > 0), "shape"),
])
def test_bad_parameters_are_clear_value_errors(call, message):
    image = sample_image()
    original = image.copy()
    with pytest.raises(ValueError, match=message):
        call(image)
    np.testing.assert_array_equal(image, original)


def test_single_slice_needs_the_2d_filters():
    one_slice = sample_image(shape=(1, 24, 24))
    with pytest.raises(ValueError, match="F2"):
        filaments.filament_response_3d(one_slice, sigma=1)
    assert filaments.filament_response_2d(one_slice, sigma=1).shape == one_slice.shape
