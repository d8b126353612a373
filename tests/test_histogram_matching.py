"""Histogram matching by quantile mapping: identity, quantiles, monotone, range, dtypes, masks, contrast undone."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.histogram_matching import match_histogram
from helpers.synthetic import em_nucleus


@pytest.fixture(scope="module")
def pair():
    shape = (24, 64, 64)
    return (em_nucleus.make_volume(shape=shape, seed=3),
            em_nucleus.make_volume(shape=shape, seed=3, contrast={"gamma": 1.7, "gain": 0.75, "offset": 0.12}))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_matching_a_volume_to_itself_is_the_identity(dtype):
    rng = np.random.default_rng(0)
    image = (rng.gamma(2.0, 30.0, (6, 20, 20))).astype(dtype)
    matched = match_histogram(image, image)
    assert matched.dtype == dtype
    assert np.array_equal(matched, image)


def test_matched_quantiles_equal_the_reference_quantiles():
    rng = np.random.default_rng(1)
    image = rng.exponential(5.0, (8, 40, 40))
    reference = rng.normal(100.0, 15.0, (10, 30, 30))
    matched = match_histogram(image, reference)
    levels = np.linspace(0.01, 0.99, 25)
    spread = np.quantile(reference, 0.99) - np.quantile(reference, 0.01)
    assert np.abs(np.quantile(matched, levels) - np.quantile(reference, levels)).max() < 0.01 * spread
    assert matched.dtype == np.float64
    assert match_histogram(image, reference.astype(np.float16)).dtype == np.float32


def test_mapping_is_monotone_and_inside_the_reference_range():
    rng = np.random.default_rng(2)
    image = rng.normal(0, 1, (6, 24, 24)) ** 3
    reference = rng.uniform(20, 80, (6, 24, 24))
    matched = match_histogram(image, reference)
    order = np.argsort(image, axis=None)
    assert np.all(np.diff(matched.ravel()[order].astype(np.float64)) >= 0)
    assert matched.min() >= reference.min() and matched.max() <= reference.max()


@pytest.mark.parametrize("change", [lambda x: 0.5 * x - 20.0, lambda x: 3.0 * x ** 0.6, lambda x: np.exp(x / 40.0)])
def test_a_monotone_contrast_change_is_undone_on_continuous_data(change):
    rng = np.random.default_rng(3)
    reference = rng.gamma(3.0, 20.0, (6, 24, 24)) + 1.0
    matched = match_histogram(change(reference), reference)
    assert np.allclose(matched, reference, rtol=1e-5, atol=1e-3)


def test_a_gamma_and_linear_change_of_an_em_volume_is_undone(pair):
    volume, changed = pair
    before = np.abs(changed.image.astype(int) - volume.image).mean()
    matched = match_histogram(changed.image, volume.image)
    after = np.abs(matched.astype(int) - volume.image).mean()
    assert matched.dtype == np.uint8 and before > 15 and after < 1.0


def test_the_mask_chooses_whose_distribution_is_matched(pair):
    volume, changed = pair
    nucleus = volume.labels != em_nucleus.IGNORE_CLASS
    matched = match_histogram(changed.image, volume.image, mask=nucleus, reference_mask=nucleus)
    levels = np.linspace(0.05, 0.95, 10)
    assert np.abs(np.quantile(matched[nucleus], levels) - np.quantile(volume.image[nucleus], levels)).max() <= 1.0
    assert matched.shape == changed.image.shape  # applied to every voxel


def test_inputs_are_not_modified(pair):
    volume, changed = pair
    image, reference = changed.image.copy(), volume.image.copy()
    match_histogram(image, reference, mask=np.ones(image.shape, bool))
    assert np.array_equal(image, changed.image) and np.array_equal(reference, volume.image)


@pytest.mark.parametrize("kwargs, message", [
    ({"image": np.zeros((4, 4))}, "3D"),
    ({"image": np.full((2, 4, 4), np.nan)}, "NaN"),
    ({"mask": np.zeros((2, 4, 4), bool)}, "selects no voxel"),
    ({"mask": np.ones((2, 4, 5), bool)}, "shape"),
    ({"reference_mask": np.zeros((3, 4, 4), bool)}, "reference_mask"),
    ({"reference": np.ones((3, 4, 4), bool)}, "boolean"),
])
def test_bad_inputs_are_refused(kwargs, message):
    arguments = {"image": np.arange(32, dtype=float).reshape(2, 4, 4), "reference": np.arange(48).reshape(3, 4, 4)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        match_histogram(arguments.pop("image"), arguments.pop("reference"), **arguments)
