"""Properties of the gradient anisotropic diffusion kernel behind edge-preserving smoothing (ES).

Parity with ITK itself is checked against the reference package elsewhere; these tests need no ITK.
"""

import itertools

import numpy as np
import pytest

from helpers._anisotropic_diffusion import gradient_anisotropic_diffusion

ITK_DEFAULTS = dict(iterations=10, conductance=1.2, time_step=0.0625)


def _diffuse(image, **overrides):
    return gradient_anisotropic_diffusion(image, **{**ITK_DEFAULTS, **overrides})


def _noisy_image(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32)


def _straightforward_step(image, conductance, time_step):
    """One iteration written out voxel by voxel in float64 (independent of the numba kernel).

    Out-of-image neighbours repeat the nearest border voxel (zero-flux boundary). K is set from the
    mean squared central-difference gradient; each voxel gains the flux through its six faces.
    """
    u = image.astype(np.float64)
    last = np.array(u.shape) - 1
    unit = np.eye(3, dtype=int)

    def value(p):
        return u[tuple(np.clip(p, 0, last))]

    def central(p, axis):
        return (value(p + unit[axis]) - value(p - unit[axis])) / 2

    voxels = [np.array(p) for p in np.ndindex(u.shape)]
    mean_sq_gradient = np.mean([sum(central(p, a) ** 2 for a in range(3)) for p in voxels])
    k = -2.0 * conductance**2 * mean_sq_gradient

    def flux(p, axis):
        """From p to p + e_axis: difference times exp(-|grad|^2 / (2 g c^2)) at the face."""
        q = p + unit[axis]
        d = value(q) - value(p)
        along = sum(0.25 * (central(p, b) + central(q, b)) ** 2 for b in range(3) if b != axis)
        return d * np.exp((d * d + along) / k)

    out = u.copy()
    for p in voxels:
        inflow = sum(flux(p, a) - flux(p - unit[a], a) for a in range(3))
        out[tuple(p)] += time_step * inflow
    return out


def test_returns_new_float32_array_and_leaves_input_alone():
    image = _noisy_image((3, 5, 6))
    before = image.copy()
    out = _diffuse(image)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out is not image and not np.shares_memory(out, image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("iterations", [0, 1, 10])
def test_constant_image_is_unchanged(iterations):
    image = np.full((4, 5, 6), 0.7, dtype=np.float32)
    out = _diffuse(image, iterations=iterations)
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_two_voxels_match_closed_form():
    # For two voxels a, b along x: every central difference is (b - a) / 2, so the mean squared
    # gradient is (b - a)^2 / 4 and the single face's conductance is exp(-2 / conductance^2)
    # whatever the contrast. One step moves time_step * (b - a) * exp(-2 / c^2) from b to a.
    a, b, c, dt = 0.25, 1.0, 1.2, 0.0625
    image = np.array([[[a, b]]], dtype=np.float32)
    moved = dt * (b - a) * np.exp(-2.0 / c**2)
    out = _diffuse(image, iterations=1, conductance=c, time_step=dt)
    np.testing.assert_allclose(out[0, 0], [a + moved, b - moved], rtol=0, atol=1e-7)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 4, 6), (4, 1, 3), (2, 3, 1)])
def test_one_iteration_matches_straightforward_implementation(shape):
    image = _noisy_image(shape, seed=sum(shape))
    for conductance, time_step in [(1.2, 0.0625), (0.7, 0.03)]:
        expected = _straightforward_step(image, conductance, time_step)
        out = _diffuse(image, iterations=1, conductance=conductance, time_step=time_step)
        # float32 storage vs the float64 reference: differences of a few 1e-8 are expected.
        np.testing.assert_allclose(out, expected, rtol=0, atol=2e-7)
        assert np.abs(out - image).max() > 1e-3  # the step really moved something


def test_each_iteration_conserves_the_image_sum():
    # Zero-flux borders and one shared flux per face: what leaves a voxel enters its neighbour.
    current = _noisy_image((5, 12, 14), seed=3)
    for _ in range(5):
        updated = _diffuse(current, iterations=1)
        assert np.abs(updated - current).max() > 1e-3
        # Each voxel is rounded to float32 on its own, hence the per-voxel float tolerance.
        tolerance = current.size * np.spacing(np.float32(np.abs(current).max()))
        assert abs(updated.sum(dtype=np.float64) - current.sum(dtype=np.float64)) <= tolerance
        current = updated


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flipping_the_input_flips_the_output(axis):
    image = _noisy_image((6, 7, 8), seed=5)
    out = _diffuse(image)
    out_of_flipped = _diffuse(np.ascontiguousarray(np.flip(image, axis)))
    np.testing.assert_allclose(out_of_flipped, np.flip(out, axis), rtol=0, atol=1e-6)


def test_noisy_step_edge_is_kept_while_noise_is_removed():
    rng = np.random.default_rng(0)
    clean = np.zeros((8, 32, 32), dtype=np.float32)
    clean[..., 16:] = 1.0
    image = (clean + rng.normal(0.0, 0.1, clean.shape)).astype(np.float32)
    out = _diffuse(image)

    def noise_std(a):  # spread around the clean value, away from the edge
        return np.concatenate([a[..., :12].ravel(), a[..., 20:].ravel() - 1.0]).std()

    def edge_jump(a):  # mean step between the two columns either side of the edge
        return float((a[..., 16] - a[..., 15]).mean())

    assert noise_std(out) < 0.3 * noise_std(image)
    assert edge_jump(out) > 0.9  # a Gaussian of similar noise reduction leaves about 0.4


def test_more_iterations_smooth_more():
    image = _noisy_image((4, 16, 16), seed=7)
    variations = [np.abs(np.diff(_diffuse(image, iterations=n), axis=2)).mean()
                  for n in (0, 1, 5, 10)]
    assert all(a > b for a, b in itertools.pairwise(variations))
