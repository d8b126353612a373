"""Known answers for the 22 threshold baselines (ImageJ Auto Threshold / Auto Local Threshold)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters

from helpers.histogram_thresholds import (
    GLOBAL_THRESHOLD_METHODS,
    apply_global_threshold,
    global_threshold_value,
)
from helpers.local_thresholds import (
    LOCAL_RADII,
    LOCAL_THRESHOLD_METHODS,
    bernsen_threshold,
    contrast_threshold,
    local_threshold,
    mean_threshold,
    to_8bit,
)

DELEGATED = {
    "isodata": lambda image, bins: filters.threshold_isodata(image, nbins=bins),
    "li": lambda image, bins: filters.threshold_li(image),
    "mean": lambda image, bins: filters.threshold_mean(image),
    "minimum": lambda image, bins: filters.threshold_minimum(image, nbins=bins),
    "otsu": lambda image, bins: filters.threshold_otsu(image, nbins=bins),
    "triangle": lambda image, bins: filters.threshold_triangle(image, nbins=bins),
    "yen": lambda image, bins: filters.threshold_yen(image, nbins=bins),
}


def _bimodal(shape=(4, 40, 50), low=50.0, high=150.0, spread=5.0, fraction_low=0.55, seed=0):
    """Two Gaussian modes, well apart, in random voxel order."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    n_low = int(round(fraction_low * size))
    values = np.concatenate([rng.normal(low, spread, n_low), rng.normal(high, spread, size - n_low)])
    return rng.permutation(values).reshape(shape)


def _integer_bimodal(seed=1):
    """Integer-valued (float) bimodal image spanning exactly [0, 201]: no value on a bin edge."""
    image = np.clip(np.rint(_bimodal(shape=(30, 40), low=60, high=140, spread=12, seed=seed)), 0, 201)
    image[0, 0], image[0, 1] = 0.0, 201.0
    return image


# --------------------------------------------------------------------------------------------
# Global methods
# --------------------------------------------------------------------------------------------

def test_method_lists():
    assert len(GLOBAL_THRESHOLD_METHODS) == 14 and len(set(GLOBAL_THRESHOLD_METHODS)) == 14
    assert len(LOCAL_THRESHOLD_METHODS) == 8
    assert LOCAL_RADII == (8, 16, 32, 64)


@pytest.mark.parametrize("method", GLOBAL_THRESHOLD_METHODS)
def test_global_threshold_lies_between_the_two_modes(method):
    image = _bimodal()
    threshold = global_threshold_value(image, method=method)
    assert 50.0 < threshold < 150.0
    mask = apply_global_threshold(image, method=method)
    assert mask.shape == image.shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, image > threshold)


@pytest.mark.parametrize("method", sorted(DELEGATED))
@pytest.mark.parametrize("bins", [256, 64])
def test_delegated_methods_equal_scikit_image(method, bins):
    image = _bimodal(shape=(30, 40), seed=3)
    expected = DELEGATED[method](image, bins)
    assert global_threshold_value(image, method=method, bins=bins) == pytest.approx(expected, abs=0)


def test_mean_is_the_mean():
    image = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]])
    assert global_threshold_value(image, method="mean") == pytest.approx(115.0 / 6)
    np.testing.assert_array_equal(apply_global_threshold(image, method="mean"),
                                  image > 115.0 / 6)


def test_percentile_splits_the_voxels_in_half():
    image = np.repeat(np.arange(1.0, 9.0), 5).reshape(5, 8)  # 1..8, five voxels each
    assert global_threshold_value(image, method="percentile") == 4.0
    mask = apply_global_threshold(image, method="percentile")
    assert mask.mean() == 0.5
    np.testing.assert_array_equal(mask, image > 4)


def test_moments_reproduce_a_two_level_image():
    # A two-level image is its own moment-preserving binarisation: the split keeps 30 % / 70 %.
    image = np.full((10, 10), 90.0)
    image[:3] = 10.0
    assert global_threshold_value(image, method="moments") == 10.0
    np.testing.assert_array_equal(apply_global_threshold(image, method="moments"), image == 90.0)


def test_moments_preserve_the_first_three_moments_on_a_three_level_image():
    # Levels 0, 1, 2 (3 bins) with fractions 0.5, 0.25, 0.25: m1 = 0.75, m2 = 1.25, m3 = 2.25.
    # Tsai's two-level image: z0, z1 are the roots of z**2 - (21/11) z + 2/11, and the background
    # fraction is p0 = (z1 - m1) / (z1 - z0) = 0.6197. Level 0 (cumulative 0.5, 0.12 away) is
    # nearer p0 than level 1 (0.75, 0.13 away), so only level 0 is background.
    z0, z1 = sorted(np.roots([1.0, -21.0 / 11.0, 2.0 / 11.0]))
    p0 = (z1 - 0.75) / (z1 - z0)
    for order, moment in ((1, 0.75), (2, 1.25), (3, 2.25)):  # the moments are preserved
        assert p0 * z0**order + (1 - p0) * z1**order == pytest.approx(moment)
    assert p0 == pytest.approx(0.6197, abs=1e-4)
    image = np.array([0.0] * 8 + [1.0] * 4 + [2.0] * 4).reshape(4, 4)
    assert global_threshold_value(image, method="moments", bins=3) == 0.0
    np.testing.assert_array_equal(apply_global_threshold(image, method="moments", bins=3), image > 0)


def test_two_level_image_every_method_separates_the_levels():
    image = np.full((8, 10), 20.0)
    image[:, :4] = 220.0
    for method in GLOBAL_THRESHOLD_METHODS:
        if method in ("intermodes", "minimum"):
            continue  # their peaks sit on the histogram's end bins, which never count as peaks
        mask = apply_global_threshold(image, method=method)
        np.testing.assert_array_equal(mask, image == 220.0, err_msg=method)


@pytest.mark.parametrize("method", GLOBAL_THRESHOLD_METHODS)
def test_adding_a_constant_shifts_the_threshold(method):
    image = _integer_bimodal()
    shifted = image + 1000.0
    expected = global_threshold_value(image, method=method) + 1000.0
    tolerance = 0.5 if method == "li" else 1e-6  # Li iterates to half the intensity step
    assert global_threshold_value(shifted, method=method) == pytest.approx(expected, abs=tolerance)
    np.testing.assert_array_equal(apply_global_threshold(shifted, method=method),
                                  apply_global_threshold(image, method=method))


@pytest.mark.parametrize("method", GLOBAL_THRESHOLD_METHODS)
@pytest.mark.parametrize("gain, offset", [(3.0, 7.0), (0.25, -40.0)])
def test_masks_unchanged_under_a_positive_affine_intensity_map(method, gain, offset):
    image = _integer_bimodal()
    np.testing.assert_array_equal(
        apply_global_threshold(gain * image + offset, method=method),
        apply_global_threshold(image, method=method),
    )


def test_integer_dtypes_and_2d_input_work_and_are_not_modified():
    image = _integer_bimodal().astype(np.uint16)
    before = image.copy()
    for method in GLOBAL_THRESHOLD_METHODS:
        mask = apply_global_threshold(image, method=method)
        np.testing.assert_array_equal(mask, apply_global_threshold(image.astype(float), method=method))
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(10), "2D \\(Y, X\\) image or a 3D"),
    (np.zeros((2, 3, 4, 5)), "Select one channel"),
    (np.full((5, 5), 3.0), "constant"),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
])
def test_global_bad_images(bad, message):
    with pytest.raises(ValueError, match=message):
        global_threshold_value(bad, method="otsu")
    with pytest.raises(ValueError, match=message):
        apply_global_threshold(bad, method="otsu")


def test_global_bad_method_and_bins():
    image = _bimodal()
    with pytest.raises(ValueError, match="choose one of: huang"):
        global_threshold_value(image, method="kittler")
    with pytest.raises(ValueError, match="ImageJ uses 256 bins"):
        global_threshold_value(image, method="huang", bins=1)


@pytest.mark.parametrize("method", ["intermodes", "minimum"])
def test_methods_needing_two_peaks_say_what_to_use_instead(method):
    flat = np.arange(256.0).reshape(16, 16)  # a flat histogram never smooths into two peaks
    with pytest.raises(ValueError, match="such as 'otsu'"):
        global_threshold_value(flat, method=method)


# --------------------------------------------------------------------------------------------
# Local methods
# --------------------------------------------------------------------------------------------

def _striped_image_with_gradient():
    """Bright horizontal stripes (4 rows on, 4 off; first and last rows on) on a background
    rising from 0 to 120 left to right; the stripes add 100. The right background is brighter
    than the left stripes, so no single threshold separates them."""
    rows, cols = 68, 128
    truth = (np.arange(rows) // 4) % 2 == 0
    truth = np.repeat(truth[:, None], cols, axis=1)
    background = np.linspace(0.0, 120.0, cols)[None, :]
    return background + 100.0 * truth, truth


def test_a_global_threshold_fails_on_the_illumination_gradient():
    image, truth = _striped_image_with_gradient()
    accuracies = [np.mean((image > t) == truth) for t in np.unique(image)]
    assert max(accuracies) < 0.93
    assert np.mean(apply_global_threshold(image, method="otsu") == truth) < 0.93


@pytest.mark.parametrize("radius", [8, 16])
@pytest.mark.parametrize("method", LOCAL_THRESHOLD_METHODS)
def test_local_methods_recover_the_stripes_despite_the_gradient(method, radius):
    image, truth = _striped_image_with_gradient()
    mask = local_threshold(image, method=method, radius=radius)
    assert mask.shape == truth.shape and mask.dtype == bool
    assert np.mean(mask == truth) > 0.99


def test_to_8bit_scales_min_to_0_and_max_to_255():
    image = np.array([[-10.0, 0.0], [5.0, 10.0]])
    np.testing.assert_array_equal(to_8bit(image), [[0, 128], [191, 255]])
    assert to_8bit(image).dtype == np.uint8


def test_bernsen_low_contrast_windows_take_the_class_of_their_mid_grey():
    # Left half: 250/255 checkerboard (contrast 5 < 15, mid-grey 252.5 >= 128 -> all foreground,
    # even the 250s below the mid-grey). Right half: 0/5 (mid-grey 2.5 < 128 -> all background,
    # even the 5s above it).
    checker = (np.indices((12, 24)).sum(axis=0) % 2).astype(float)
    image = np.where(np.arange(24) < 12, 250.0 + 5.0 * checker, 5.0 * checker)
    mask = bernsen_threshold(image, radius=2)
    np.testing.assert_array_equal(mask[:, :9], True)
    np.testing.assert_array_equal(mask[:, 15:], False)
    # With no contrast requirement the mid-grey rule applies everywhere instead.
    mask = bernsen_threshold(image, radius=2, contrast_threshold=0)
    np.testing.assert_array_equal(mask[:, :9], image[:, :9] >= 252.5)
    np.testing.assert_array_equal(mask[:, 15:], image[:, 15:] >= 2.5)


def test_bernsen_high_contrast_uses_the_mid_grey():
    image = np.array([[0.0, 100.0, 127.0], [128.0, 200.0, 255.0]])  # already 0..255
    mask = bernsen_threshold(image, radius=5)  # window = whole image: min 0, max 255
    np.testing.assert_array_equal(mask, image >= 127.5)


def test_contrast_assigns_each_pixel_to_the_nearer_of_min_and_max():
    image = np.array([[0.0, 100.0, 200.0], [49.0, 127.0, 128.0], [255.0, 160.0, 90.0]])
    # Whole image in every window (radius 5): min 0, max 255; nearer max means v >= 127.5.
    expected = np.array([[False, False, True], [False, False, True], [True, True, False]])
    np.testing.assert_array_equal(contrast_threshold(image, radius=5), expected)
    # Radius 1 window (plus-shaped) around the centre pixel 127: min 49, max 160 -> 127 is
    # nearer 160 (33 < 78): foreground.
    assert contrast_threshold(image, radius=1)[1, 1]


def _brute_force_local_mean(pixels, radius, c=0.0):
    rows, cols = pixels.shape
    result = np.zeros(pixels.shape, dtype=bool)
    for y in range(rows):
        for x in range(cols):
            window = []
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if dy * dy + dx * dx <= radius * radius:
                        yy = min(max(y + dy, 0), rows - 1)  # edge pixels repeated
                        xx = min(max(x + dx, 0), cols - 1)
                        window.append(float(pixels[yy, xx]))
            result[y, x] = pixels[y, x] > np.mean(window) - c
    return result


@pytest.mark.parametrize("radius, c", [(1, 0.0), (2, 0.0), (3, 4.0)])
def test_local_mean_matches_a_brute_force_circular_window(radius, c):
    rng = np.random.default_rng(radius)
    image = rng.integers(0, 256, size=(7, 9)).astype(float)
    image[0, 0], image[-1, -1] = 0.0, 255.0  # 8-bit scaling is then the identity
    expected = _brute_force_local_mean(image.astype(np.uint8), radius, c)
    np.testing.assert_array_equal(mean_threshold(image, radius=radius, c=c), expected)
    np.testing.assert_array_equal(local_threshold(image, method="mean", radius=radius, c=c), expected)


def test_flat_regions_are_background_for_mean_niblack_and_otsu():
    image = np.zeros((40, 40))
    image[:, 30:] = 200.0  # left part flat far beyond the window
    for method in ("mean", "niblack", "otsu", "mid_grey"):
        mask = local_threshold(image, method=method, radius=4)
        assert not mask[:, :20].any(), method
        assert not mask[:, 36:].any(), method


@pytest.mark.parametrize("method", LOCAL_THRESHOLD_METHODS)
def test_local_input_is_not_modified(method):
    image, _ = _striped_image_with_gradient()
    before = image.copy()
    local_threshold(image, method=method, radius=8)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 10, 10)), "threshold each slice"),
    (np.zeros(10), "2D \\(Y, X\\)"),
    (np.full((10, 10), 7.0), "constant"),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
])
def test_local_bad_images(bad, message):
    with pytest.raises(ValueError, match=message):
        local_threshold(bad, method="mean", radius=8)


def test_local_bad_method_radius_and_parameters():
    image, _ = _striped_image_with_gradient()
    with pytest.raises(ValueError, match="choose one of: bernsen"):
        local_threshold(image, method="median", radius=8)
    with pytest.raises(ValueError, match="radius.*paper used 8, 16, 32 and 64"):
        local_threshold(image, method="mean", radius=0)
    with pytest.raises(ValueError, match="whole number"):
        local_threshold(image, method="mean", radius=2.5)
    with pytest.raises(ValueError, match="parameters are: k, c"):
        local_threshold(image, method="niblack", radius=8, r=128)
    with pytest.raises(ValueError, match="`r`"):
        local_threshold(image, method="sauvola", radius=8, r=0)
