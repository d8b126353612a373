"""The threaded Gaussian filters are bit-identical to SciPy's single-threaded ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers import _separable

# large enough for the threaded path (>= 2**18 voxels), odd sizes to exercise uneven blocks
SHAPE = (17, 131, 129)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random(SHAPE, dtype=np.float32)


@pytest.mark.parametrize("sigma, order, mode, truncate", [
    (1.0, 0, "nearest", 3.0),
    ((0.0, 1.5, 1.5), 0, "nearest", 3.0),
    ((2.0, 1.0, 3.0), (2, 0, 1), "reflect", 4.0),
    ((0.0, 0.0, 0.0), 0, "nearest", 3.0),
])
def test_gaussian_filter_equals_scipy(image, sigma, order, mode, truncate):
    ours = _separable.gaussian_filter(image, sigma, order=order, mode=mode, truncate=truncate)
    expected = ndimage.gaussian_filter(image, sigma, order=order, mode=mode, truncate=truncate)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_gaussian_laplace_equals_scipy_in_3d_and_per_slice(image):
    np.testing.assert_array_equal(_separable.gaussian_laplace(image, 1.3), ndimage.gaussian_laplace(image, 1.3))
    per_slice = np.stack([ndimage.gaussian_laplace(plane, 2.0) for plane in image])
    np.testing.assert_array_equal(_separable.gaussian_laplace(image, (0.0, 2.0, 2.0)), per_slice)


def test_small_images_take_the_serial_path_with_the_same_result():
    small = np.random.default_rng(1).random((3, 9, 11), dtype=np.float32)
    np.testing.assert_array_equal(_separable.gaussian_filter(small, 1.0, mode="nearest", truncate=3.0),
                                  ndimage.gaussian_filter(small, 1.0, mode="nearest", truncate=3.0))
