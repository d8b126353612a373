"""The synthetic samples: deterministic, consistent with their truth, realistic camera statistics."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import synthetic
from helpers.synthetic._draw import blob, rasterize, thicken
from helpers.synthetic._microscope import FWHM_PER_SIGMA, Microscope, blur, camera

SMALL = (24, 96, 96)
NAMES = synthetic.pattern_names()


def test_one_pattern_per_preset():
    from helpers.workflow import preset_names

    assert NAMES == preset_names()


@pytest.fixture(scope="module")
def small_samples():
    return {name: synthetic.make_sample(name, shape=SMALL, seed=3) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_consistent(name, small_samples):
    sample = small_samples[name]
    pattern = synthetic.PATTERNS[name]
    assert sample.image.dtype == np.uint16 and sample.image.shape == SMALL
    assert sample.truth.shape == SMALL
    assert sample.truth.dtype == bool or sample.truth.dtype == np.int32
    assert sample.voxel_size == pattern.microscope.voxel_size
    fraction = sample.mask.mean()
    assert 0 < fraction < 0.5, f"truth covers {fraction:.1%} of the field"
    # camera-like intensities: an offset near 400 counts, nothing negative, the structure visible
    assert 300 <= np.percentile(sample.image, 1) <= 600
    inside = sample.image[sample.mask].mean()
    outside = sample.image[~sample.mask].mean()
    assert inside > outside + 20, f"structure {inside:.0f} vs elsewhere {outside:.0f} counts"


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_deterministic(name, small_samples):
    again = synthetic.make_sample(name, shape=SMALL, seed=3)
    np.testing.assert_array_equal(again.image, small_samples[name].image)
    np.testing.assert_array_equal(again.truth, small_samples[name].truth)


def test_seeds_and_patterns_differ():
    a = synthetic.make_sample("gja1", shape=SMALL, seed=0)
    b = synthetic.make_sample("gja1", shape=SMALL, seed=1)
    assert not np.array_equal(a.image, b.image)


def test_bad_requests_say_what_to_do():
    with pytest.raises(ValueError, match="Choose one of"):
        synthetic.make_sample("golgi_apparatus")
    with pytest.raises(ValueError, match="Z >= 16"):
        synthetic.make_sample("gja1", shape=(8, 64, 64))
    with pytest.raises(ValueError, match="Z, Y, X"):
        synthetic.make_sample("gja1", shape=(64, 64))


# --- the imaging model ------------------------------------------------------------------------------

def test_camera_statistics():
    microscope = Microscope(offset=400, gain=2.0, read_noise=4.0)
    expected = np.full((4, 100, 100), 50.0, np.float32)
    counts = camera(expected, microscope, np.random.default_rng(0)).astype(float)
    assert counts.mean() == pytest.approx(400 + 2 * 50, rel=0.005)
    assert counts.var() == pytest.approx(2 ** 2 * 50 + 4 ** 2, rel=0.05)


def test_camera_hot_pixels_and_clipping():
    microscope = Microscope()
    counts = camera(np.full((2, 50, 50), 1e6, np.float32), microscope, np.random.default_rng(0))
    assert counts.dtype == np.uint16 and counts.max() == 65535
    counts = camera(np.zeros((2, 50, 50), np.float32), microscope, np.random.default_rng(0), hot_pixels=3)
    assert (counts > 20000).sum() == 3


def test_blur_has_the_psf_width():
    microscope = Microscope()
    point = np.zeros((41, 61, 61), np.float32)
    point[20, 30, 30] = 1
    image = blur(point, microscope)
    assert image.sum() == pytest.approx(1, rel=1e-3)
    sz, sy, sx = microscope.sigma_voxels
    assert sy * microscope.voxel_size[1] * FWHM_PER_SIGMA == pytest.approx(microscope.fwhm_lateral)
    profile = image[20, 30]
    measured = np.sqrt((profile * (np.arange(61) - 30) ** 2).sum() / profile.sum())
    assert measured == pytest.approx(sx, rel=0.05)


# --- the ground-truth rule ---------------------------------------------------------------------------

def test_thin_tube_truth_is_one_fwhm_wide():
    microscope = Microscope()
    shape = (21, 41, 81)
    centre = rasterize(shape, [(10, 20, x) for x in range(81)])
    geometry, truth = thicken(centre, 0.01, microscope)
    np.testing.assert_array_equal(geometry, centre)  # thinner than a voxel: the centre line itself
    width_um = truth[10, :, 40].sum() * microscope.voxel_size[1]
    height_um = truth[:, 20, 40].sum() * microscope.voxel_size[0]
    assert width_um == pytest.approx(microscope.fwhm_lateral, abs=microscope.voxel_size[1] * 1.01)
    assert height_um == pytest.approx(microscope.fwhm_axial, abs=microscope.voxel_size[0] * 1.01)


def test_thick_tube_truth_is_its_geometry():
    microscope = Microscope()
    shape = (31, 41, 41)
    centre = rasterize(shape, [(15, 20, x) for x in range(41)])
    geometry, truth = thicken(centre, 0.6, microscope)
    np.testing.assert_array_equal(geometry, truth)
    assert geometry[15, :, 20].sum() * 0.108 == pytest.approx(1.2, abs=0.11)


def test_blob_truth():
    microscope = Microscope()
    shape = (21, 41, 41)
    geometry, truth = blob(shape, microscope, (10, 20, 20), (0.05, 0.05, 0.05))
    assert geometry.sum() == 1 and geometry[10, 20, 20]  # a point source: its voxel
    assert truth[10, 20].sum() * 0.108 == pytest.approx(microscope.fwhm_lateral, abs=0.11)
    geometry, truth = blob(shape, microscope, (10, 20, 20), (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(geometry, truth)
    assert geometry.sum() * np.prod(microscope.voxel_size) == pytest.approx(4 / 3 * np.pi, rel=0.08)
