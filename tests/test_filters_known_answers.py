"""Known answers for normalization, smoothing, filament and spot filters on synthetic images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers import filaments, normalization, smoothing, spots, thresholds


def tube_image(shape=(15, 40, 40), radius=1.2, axis_yz=(20, 7)):
    """A bright straight tube along x, blurred: ground truth of a filament."""
    z, y, x = np.indices(shape)
    tube = ((y - axis_yz[0]) ** 2 + (z - axis_yz[1]) ** 2) <= radius**2
    return ndimage.gaussian_filter(tube.astype(np.float32), 1.0), tube


# --- normalization --------------------------------------------------------------------------

def test_min_max_maps_range_to_unit_interval():
    image = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4) * 10 + 100
    result = normalization.min_max_normalize(image)
    expected = (image.astype(np.float64) - 100) / 230
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_min_max_upper_bound_treats_hot_pixels_as_background():
    image = np.full((3, 5, 5), 200, np.uint16)
    image[1, 2, 2] = 1000
    image[0, 0, 0] = 100
    image[2, 4, 4] = 60000  # hot pixel
    result = normalization.min_max_normalize(image, upper_bound=5000)
    assert result[2, 4, 4] == pytest.approx(0.0, abs=1e-6)  # set to the minimum
    assert result[1, 2, 2] == pytest.approx(1.0, abs=1e-6)  # the brightest real voxel
    np.testing.assert_allclose(normalization.min_max_normalize(image, upper_bound=0),
                               normalization.min_max_normalize(image))


def test_auto_contrast_clips_at_mean_plus_minus_sd():
    rng = np.random.default_rng(1)
    image = rng.normal(1000, 100, (10, 30, 30)).astype(np.float32)
    mean, sd = image.mean(dtype=np.float64), image.std(dtype=np.float64)
    result = normalization.auto_contrast(image, lower_sd=1.0, upper_sd=2.0)
    low, high = max(mean - sd, float(image.min())), min(mean + 2 * sd, float(image.max()))
    expected = (np.clip(image, low, high) - low) / (high - low)
    np.testing.assert_allclose(result, expected, atol=1e-5)
    assert result.min() == pytest.approx(0.0, abs=1e-6) and result.max() == pytest.approx(1.0, abs=1e-6)


def test_auto_contrast_in_range_uses_window_statistics():
    rng = np.random.default_rng(2)
    image = rng.normal(500, 50, (6, 30, 30)).astype(np.float32)
    image[:, :5] = 5000  # bright blob excluded from the statistics by the window
    result = normalization.auto_contrast_in_range(image, lower_sd=1, upper_sd=3, lower_intensity=300,
                                                  upper_intensity=800)
    window = image[(image > 300) & (image < 800)].astype(np.float64)
    low = max(300 - window.std(), float(image.min()))
    high = min(800 + 3 * window.std(), float(image.max()))
    expected = (np.clip(image, low, high) - low) / (high - low)
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_suggested_auto_contrast_follows_its_rule():
    rng = np.random.default_rng(3)
    image = rng.gamma(4.0, 100.0, (10, 40, 40)).astype(np.float32)
    lower_sd, upper_sd = normalization.suggest_auto_contrast(image)
    m, s = image.mean(dtype=np.float64), image.std(dtype=np.float64)
    p = np.percentile(image, 99.99)
    assert upper_sd % 0.5 == 0 and lower_sd % 0.5 == 0
    assert m + upper_sd * s > p or m + (upper_sd + 0.5) * s > image.max()
    assert m + (upper_sd - 0.5) * s <= p
    assert m - (lower_sd + 0.5) * s < image.min() <= m - lower_sd * s


# --- smoothing ------------------------------------------------------------------------------

def _gaussian_kernel(sigma):
    radius = int(3 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def test_gaussian_3d_of_an_impulse_is_the_truncated_kernel():
    image = np.zeros((15, 15, 15), np.float32)
    image[7, 7, 7] = 1
    result = smoothing.gaussian_smooth_3d(image, sigma=1.5)
    k = _gaussian_kernel(1.5)
    expected = np.einsum("i,j,k->ijk", k, k, k)
    r = len(k) // 2
    np.testing.assert_allclose(result[7 - r:8 + r, 7 - r:8 + r, 7 - r:8 + r], expected, atol=1e-7)
    assert result.sum() == pytest.approx(1.0, abs=1e-5)


def test_gaussian_2d_never_mixes_slices():
    image = np.zeros((5, 15, 15), np.float32)
    image[2, 7, 7] = 1
    result = smoothing.gaussian_smooth_2d(image, sigma=1.0)
    assert result[[0, 1, 3, 4]].max() == 0
    k = _gaussian_kernel(1.0)
    np.testing.assert_allclose(result[2, 4:11, 4:11], np.outer(k, k), atol=1e-7)


def test_gaussian_sigma_zero_returns_a_copy():
    image = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    result = smoothing.gaussian_smooth_3d(image, sigma=0)
    np.testing.assert_array_equal(result, image)
    assert result is not image


def test_edge_preserving_keeps_edges_and_reduces_noise():
    rng = np.random.default_rng(4)
    step = np.zeros((8, 32, 32), np.float32)
    step[:, :, 16:] = 1.0
    noisy = step + rng.normal(0, 0.05, step.shape).astype(np.float32)
    smooth = smoothing.edge_preserving_smooth(noisy)
    assert smooth[:, :, 2:12].std() < 0.6 * noisy[:, :, 2:12].std()
    # the edge stays sharp: the jump across the step keeps most of its height
    jump = smooth[:, :, 17].mean() - smooth[:, :, 14].mean()
    assert jump > 0.8
    blurred = smoothing.gaussian_smooth_3d(noisy, sigma=1.5)
    assert jump > blurred[:, :, 17].mean() - blurred[:, :, 14].mean()


# --- filaments ------------------------------------------------------------------------------

def test_filament_3d_responds_on_a_tube_axis_and_not_far_from_it():
    image, tube = tube_image()
    response = filaments.filament_response_3d(image, sigma=1.0)
    assert response[7, 20, 5:35].min() > 0.5
    assert response[:, 30:, :].max() < 0.05
    mask = filaments.filament_filter_3d(image, scales=[(1.0, 0.1)])
    assert mask[tube].mean() > 0.9
    assert not mask[:, 30:, :].any()


def test_filament_3d_prefers_tubes_over_sheets():
    _, y, _ = np.indices((21, 41, 41))
    sheet = ndimage.gaussian_filter((np.abs(y - 20) <= 1).astype(np.float32), 1.0)
    tube, _ = tube_image(shape=(21, 41, 41), axis_yz=(20, 10))
    assert filaments.filament_response_3d(tube, sigma=1.0)[10, 20, 20] > 0.5
    assert filaments.filament_response_3d(sheet, sigma=1.0)[10, 20, 20] < 0.05


def test_filament_responses_lie_in_the_unit_interval():
    image = np.random.default_rng(10).random((8, 30, 30)).astype(np.float32)
    for response in (filaments.filament_response_3d(image, sigma=1.0),
                     filaments.filament_response_2d(image, sigma=1.0)):
        assert response.min() >= 0.0 and response.max() <= 1.0 and response.max() > 0.5


def test_filament_response_is_invariant_to_brightness_scaling():
    image, _ = tube_image()
    image = image + np.random.default_rng(5).random(image.shape).astype(np.float32) * 0.05
    np.testing.assert_allclose(filaments.filament_response_3d(image * 7.5, sigma=1.0),
                               filaments.filament_response_3d(image, sigma=1.0), atol=1e-4)
    np.testing.assert_allclose(filaments.filament_response_2d(image * 7.5, sigma=1.0),
                               filaments.filament_response_2d(image, sigma=1.0), atol=1e-4)


def test_hessian_eigenvalues_are_ordered_by_magnitude_and_match_lapack():
    rng = np.random.default_rng(6)
    image = ndimage.gaussian_filter(rng.random((6, 12, 14)), 1).astype(np.float32)
    eig = filaments.hessian_eigenvalues_3d(image, sigma=1.0)
    assert (np.abs(eig[0]) <= np.abs(eig[1])).all() and (np.abs(eig[1]) <= np.abs(eig[2])).all()
    smoothed = ndimage.gaussian_filter(image, 1.0, mode="nearest", truncate=3.0)
    gradients = np.gradient(smoothed)
    hessian = np.empty(image.shape + (3, 3), np.float64)
    for a in range(3):
        for b in range(3):
            hessian[..., a, b] = np.gradient(gradients[a], axis=b)
    values = np.linalg.eigvalsh(hessian)
    values = np.take_along_axis(values, np.argsort(np.abs(values), axis=-1, kind="stable"), axis=-1)
    np.testing.assert_allclose(np.moveaxis(eig, 0, -1), values, atol=1e-6)


def test_filament_2d_finds_a_line_in_each_slice_and_keeps_the_reference_edge():
    image = np.zeros((3, 30, 40), np.float32)
    image[:, 15, :] = 1.0
    image = ndimage.gaussian_filter(image, (0, 1, 1))
    mask = filaments.filament_filter_2d(image, scales=[(1.0, 0.2)])
    assert mask[:, 15, 3:30].all()
    assert not mask[:, :10].any()
    assert not mask[:, :, -3:].any()  # the reference's zeroed columns
    independent = filaments.filament_filter_2d(image, scales=[(1.0, 0.2)], shared_scale=False)
    assert independent[:, 15, -3:].any()


def test_filament_2d_shared_scale_dims_faint_slices():
    image = np.zeros((2, 30, 40), np.float32)
    image[:, 15, :] = 1.0
    image[1] *= 0.2  # a dim copy of the same line
    image = ndimage.gaussian_filter(image, (0, 1, 1))
    response = filaments.filament_response_2d(image, sigma=1.0)
    independent = filaments.filament_response_2d(image, sigma=1.0, shared_scale=False)
    # alone, the dim slice looks like the bright one; side by side with the projection it does not
    np.testing.assert_allclose(independent[1], independent[0], atol=1e-4)
    assert response[1, 15, 20] < response[0, 15, 20]


# --- spots ----------------------------------------------------------------------------------

def test_spot_3d_peaks_at_a_blob_centre():
    image = np.zeros((21, 21, 21), np.float32)
    image[10, 10, 10] = 1
    image = ndimage.gaussian_filter(image, 1.5)
    response = spots.spot_response_3d(image, sigma=1.5)
    assert np.unravel_index(response.argmax(), response.shape) == (10, 10, 10)
    assert response[10, 10, 10] > 0 and response[10, 10, 2] < 1e-3


def test_spot_2d_equals_a_slice_by_slice_laplacian():
    rng = np.random.default_rng(7)
    image = rng.random((4, 20, 25)).astype(np.float32)
    ours = spots.spot_response_2d(image, sigma=1.3)
    loop = np.stack([-(1.3**2) * ndimage.gaussian_laplace(s, 1.3) for s in image])
    np.testing.assert_array_equal(ours, loop)


def test_spot_filters_are_linear_before_the_cutoff():
    rng = np.random.default_rng(8)
    image = rng.random((5, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(spots.spot_response_3d(3 * image, sigma=1), 3 * spots.spot_response_3d(image, sigma=1),
                               rtol=1e-5, atol=1e-6)


def test_multi_scale_filters_are_the_union_of_single_scales():
    image, _ = tube_image()
    both = spots.spot_filter_3d(image, scales=[(1, 0.05), (2, 0.05)])
    np.testing.assert_array_equal(both, spots.spot_filter_3d(image, scales=[(1, 0.05)])
                                  | spots.spot_filter_3d(image, scales=[(2, 0.05)]))
    both = filaments.filament_filter_3d(image, scales=[(1, 0.2), (2, 0.2)])
    np.testing.assert_array_equal(both, filaments.filament_filter_3d(image, scales=[(1, 0.2)])
                                  | filaments.filament_filter_3d(image, scales=[(2, 0.2)]))


# --- thresholds -----------------------------------------------------------------------------

def test_masked_object_threshold_finds_bright_cores_of_dim_and_bright_objects():
    image = np.full((10, 60, 60), 0.05, np.float32)
    z, y, x = np.indices(image.shape)
    for (cy, cx), level in (((15, 15), 1.0), ((45, 45), 0.3)):
        body = ((y - cy) ** 2 + (x - cx) ** 2 <= 100) & (np.abs(z - 5) <= 3)
        core = ((y - cy) ** 2 + (x - cx) ** 2 <= 16) & (np.abs(z - 5) <= 1)
        image[body] = 0.4 * level
        image[core] = level
    objects = thresholds.masked_object_threshold_low(image, method="triangle", min_size=50)
    assert objects[5, 15, 15] and objects[5, 45, 45]
    cores = thresholds.masked_object_threshold_high(image, objects, local_adjust=1.0)
    assert cores[5, 15, 15] and cores[5, 45, 45]  # the dim object's core is found too
    assert not cores[5, 15, 22] and not cores[5, 45, 52]  # its body is not
    # with extra_criteria a uniformly dim object is dropped entirely
    dim_only = thresholds.masked_object_threshold_high(image, objects, extra_criteria=True)
    assert dim_only[5, 15, 15]


def test_global_thresholds_separate_two_levels():
    image = np.zeros((4, 20, 20), np.float32)
    image[:, :, 10:] = 1.0
    image += np.random.default_rng(9).normal(0, 0.05, image.shape).astype(np.float32)
    for method in ("otsu", "li", "yen", "isodata", "mean", "triangle", "ave_tri_med"):
        value = thresholds.global_threshold(image, method=method)
        assert 0.0 < value < 1.0, method
    assert thresholds.global_threshold(image, method="median") == pytest.approx(np.median(image))
    assert thresholds.global_threshold(image, method="tri") == thresholds.global_threshold(image, method="triangle")
