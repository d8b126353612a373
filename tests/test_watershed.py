"""Tests for helpers.watershed: MAXIMA, WCUT, SHELL_SEEDS, WSEG, BOUNDARY.

Known answers on tiny hand-made volumes, scikit-image as an oracle on random inputs (the functions
promise its results, with its default arguments as the reference calls them), and bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers.watershed import (
    SHELL_BACKGROUND_LABEL,
    cut_touching_objects,
    drop_background_object,
    find_local_maxima,
    object_boundaries,
    seeded_watershed,
    shell_seeds,
)

RNG = np.random.default_rng(7)
FACES = ndimage.generate_binary_structure(3, 1)


def blobs(shape, seed, smooth=1.5, threshold=0.55, levels=0):
    """A random smooth image (optionally quantized, to create ties) and a mask of its bright parts."""
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.random(shape), smooth).astype(np.float32)
    image = (image - image.min()) / (image.max() - image.min())
    if levels:
        image = np.round(image * levels) / levels
    field = ndimage.gaussian_filter(rng.random(shape), smooth)
    mask = field > np.quantile(field, threshold)
    return image.astype(np.float32), mask


def ball_mask(shape, centres, radius):
    zz, yy, xx = np.indices(shape)
    mask = np.zeros(shape, dtype=bool)
    for cz, cy, cx in centres:
        mask |= (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    return mask


def reference_cut(mask, seeds):
    from skimage.measure import label
    from skimage.morphology import ball, dilation
    from skimage.segmentation import watershed

    markers = label(dilation(seeds.astype(np.uint8), footprint=ball(1)))
    return watershed(-ndimage.distance_transform_edt(mask), markers, mask=mask, watershed_line=True)


# --------------------------------------------------------------------------------------------------
# MAXIMA
# --------------------------------------------------------------------------------------------------


def test_one_bright_voxel_gives_one_seed():
    zz, yy, xx = np.indices((9, 11, 11))
    image = (1.0 - 0.05 * np.sqrt((zz - 4) ** 2 + (yy - 6) ** 2 + (xx - 4) ** 2)).astype(np.float32)
    mask = ball_mask(image.shape, [(4, 5, 5)], 3)
    peaks = find_local_maxima(image, mask)
    assert peaks.dtype == bool and peaks.shape == image.shape
    assert np.argwhere(peaks).tolist() == [[4, 6, 4]]


def test_each_object_gets_its_own_maximum():
    image = np.zeros((9, 20, 20), np.float32)
    mask = ball_mask(image.shape, [(4, 5, 5), (4, 14, 14)], 2)
    image[mask] = 0.2
    image[4, 5, 5] = 0.3            # dim object: still its own maximum
    image[4, 14, 14] = 0.9
    assert np.argwhere(find_local_maxima(image, mask)).tolist() == [[4, 5, 5], [4, 14, 14]]


def test_no_seed_near_the_border():
    image = np.zeros((9, 12, 12), np.float32)
    mask = np.zeros(image.shape, bool)
    mask[4, 1, 5] = mask[4, 6, 6] = True
    image[4, 1, 5] = image[4, 6, 6] = 1.0
    peaks = find_local_maxima(image, mask, min_distance=2)
    assert np.argwhere(peaks).tolist() == [[4, 6, 6]]
    assert find_local_maxima(image, mask, min_distance=1)[4, 1, 5]


def test_equal_neighbouring_maxima_keep_the_first_in_raster_order():
    image = np.zeros((7, 9, 9), np.float32)
    mask = ball_mask(image.shape, [(3, 4, 4)], 2)
    image[mask] = 0.1
    image[3, 4, 4] = image[3, 4, 5] = 1.0
    assert np.argwhere(find_local_maxima(image, mask)).tolist() == [[3, 4, 4]]


def test_a_constant_object_is_seeded_where_an_opening_removes_it():
    """scikit-image's rule for an object without a strict maximum (kept from the reference)."""
    image = np.full((9, 9, 9), 0.5, np.float32)
    image[0, 0, 0] = 0.0                                 # the seed must exceed the image minimum
    mask = np.zeros(image.shape, bool)
    mask[4, 4, 4] = True                                 # a single voxel: its own seed
    mask[4, 2:7, 2] = True                               # a line: the opening removes all of it
    peaks = find_local_maxima(image, mask)
    # every line voxel qualifies; the minimum spacing of 2 then keeps every other one
    assert np.argwhere(peaks).tolist() == [[4, 2, 2], [4, 4, 2], [4, 4, 4], [4, 6, 2]]


@pytest.mark.parametrize("levels", [0, 4, 12])
def test_maxima_equal_scikit_image_peak_local_max(levels):
    from skimage.feature import peak_local_max
    from skimage.measure import label

    for trial in range(6):
        shape = tuple(int(n) for n in RNG.integers([4, 8, 8], [12, 30, 30]))
        image, mask = blobs(shape, seed=100 * levels + trial, levels=levels)
        expected = np.zeros(shape, bool)
        expected[tuple(peak_local_max(image, labels=label(mask), min_distance=2).T)] = True
        np.testing.assert_array_equal(find_local_maxima(image, mask), expected)


def test_maxima_keep_ties_of_integer_images():
    image, mask = blobs((6, 20, 20), seed=3, levels=6)
    as_integers = np.round(image * 1000).astype(np.uint16)
    np.testing.assert_array_equal(find_local_maxima(as_integers, mask),
                                  find_local_maxima(as_integers.astype(np.float64), mask))


def test_maxima_of_an_empty_mask():
    assert not find_local_maxima(RNG.random((5, 9, 9)), np.zeros((5, 9, 9), bool)).any()


# --------------------------------------------------------------------------------------------------
# WCUT
# --------------------------------------------------------------------------------------------------


def test_two_touching_balls_are_cut_in_two():
    shape = (15, 15, 26)
    mask = ball_mask(shape, [(7, 7, 8), (7, 7, 17)], 5)
    assert ndimage.label(mask, FACES)[1] == 1
    seeds = np.zeros(shape, bool)
    seeds[7, 7, 8] = seeds[7, 7, 17] = True
    cut = cut_touching_objects(mask, seeds)
    assert cut.dtype == bool and not (cut & ~mask).any()
    labels, count = ndimage.label(cut, FACES)
    assert count == 2
    assert labels[7, 7, 8] != labels[7, 7, 17]
    assert (mask & ~cut).sum() < 0.1 * mask.sum()        # only a thin line is removed


def test_one_seed_keeps_the_object_and_no_seed_drops_it():
    shape = (11, 11, 30)
    mask = ball_mask(shape, [(5, 5, 6), (5, 5, 22)], 4)
    seeds = np.zeros(shape, bool)
    seeds[5, 5, 6] = True
    cut = cut_touching_objects(mask, seeds)
    np.testing.assert_array_equal(cut[:, :, :14], mask[:, :, :14])
    assert not cut[:, :, 14:].any()


def test_min_size_drops_small_regions():
    shape = (11, 11, 30)
    mask = ball_mask(shape, [(5, 5, 6)], 4)
    mask[5, 5, 20:23] = True                              # a 3-voxel object with its own seed
    seeds = np.zeros(shape, bool)
    seeds[5, 5, 6] = seeds[5, 5, 21] = True
    assert cut_touching_objects(mask, seeds)[5, 5, 20:23].all()
    assert not cut_touching_objects(mask, seeds, min_size=4)[5, 5, 20:23].any()
    assert cut_touching_objects(mask, seeds, min_size=3)[5, 5, 20:23].all()


@pytest.mark.parametrize("levels", [0, 5])
def test_cut_equals_scikit_image_watershed(levels):
    for trial in range(6):
        shape = tuple(int(n) for n in RNG.integers([4, 10, 10], [12, 32, 32]))
        image, mask = blobs(shape, seed=500 + 10 * levels + trial, levels=levels, threshold=0.45)
        seeds = find_local_maxima(image, mask)
        reference = reference_cut(mask, seeds)
        np.testing.assert_array_equal(cut_touching_objects(mask, seeds), reference > 0)
        sizes = np.bincount(reference.ravel())
        keep = sizes >= 4
        keep[0] = False
        np.testing.assert_array_equal(cut_touching_objects(mask, seeds, min_size=4), keep[reference])


def test_cut_of_a_mask_without_background():
    mask = np.ones((4, 8, 8), bool)
    seeds = np.zeros(mask.shape, bool)
    seeds[2, 2, 2] = seeds[2, 5, 6] = True
    np.testing.assert_array_equal(cut_touching_objects(mask, seeds), reference_cut(mask, seeds) > 0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_cut_is_flip_symmetric_for_symmetric_input(axis):
    shape = (15, 15, 27)
    mask = ball_mask(shape, [(7, 7, 8), (7, 7, 18)], 5)
    seeds = np.zeros(shape, bool)
    seeds[7, 7, 8] = seeds[7, 7, 18] = True
    np.testing.assert_array_equal(cut_touching_objects(np.flip(mask, axis), np.flip(seeds, axis)),
                                  np.flip(cut_touching_objects(mask, seeds), axis))


# --------------------------------------------------------------------------------------------------
# SHELL_SEEDS, WSEG, BOUNDARY
# --------------------------------------------------------------------------------------------------


CENTRES = ((30, 30), (30, 90), (72, 60))


def shells(shape=(16, 100, 124), centres=CENTRES, radius=19):
    """Nuclei outlined by a bright shell (flattened spheres), smoothed, in [0, 1]."""
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    image = np.zeros(shape, np.float32)
    for cy, cx in centres:
        distance = np.sqrt(((zz - shape[0] / 2) / (radius * 0.25)) ** 2 + ((yy - cy) / radius) ** 2
                           + ((xx - cx) / radius) ** 2)
        image += np.exp(-((distance - 1) * radius / 1.5) ** 2)
    image = ndimage.gaussian_filter(image + 0.02 * np.random.default_rng(1).random(shape), 1.0)
    return (image - image.min()) / (image.max() - image.min())


# The whole background of these small test images is below the preset's max_area (40000) and
# would itself count as a hole (reference behaviour, see shell_seeds); the tests use 5000.
AREAS = dict(min_area=400, max_area=5000)


def test_shell_seeds_find_one_seed_per_nucleus():
    image = shells()
    seeds = shell_seeds(image, **AREAS)
    assert seeds.dtype == np.int32 and seeds.shape == image.shape
    assert (seeds[0] == SHELL_BACKGROUND_LABEL).all()
    inner = seeds[1:]
    assert sorted(np.unique(inner[inner > 0]).tolist()) == [2, 3, 4]
    positions = np.argwhere(inner > 0)[:, 1:]
    for cy, cx in CENTRES:
        assert np.abs(positions - [cy, cx]).max(axis=1).min() <= 1
    no_background = shell_seeds(image, background_seed=False, **AREAS)
    assert not no_background[0].any() and sorted(np.unique(no_background).tolist()) == [0, 1, 2, 3]


def test_shell_seeds_respect_the_area_range():
    image = shells()
    assert shell_seeds(image, min_area=3000, max_area=5000).max() == SHELL_BACKGROUND_LABEL
    # with a max_area above the background's area, the background becomes a "hole" too
    assert shell_seeds(image, min_area=400, max_area=40000).max() == SHELL_BACKGROUND_LABEL + 4


def test_seeded_watershed_splits_nuclei_from_background():
    image = shells()
    seeds = shell_seeds(image, **AREAS)
    labels = seeded_watershed(image, seeds)
    assert labels.dtype == np.int32 and labels.shape == image.shape
    nuclei = drop_background_object(labels)
    assert nuclei.dtype == bool
    assert ndimage.label(nuclei, FACES)[1] == 3
    middle = image.shape[0] // 2
    for cy, cx in CENTRES:
        assert nuclei[middle, cy, cx]
    assert not nuclei[:, 0, 0].any()
    outline = object_boundaries(nuclei)
    assert outline[middle, 30, 30 - 19] and not outline[middle, 30, 30]


def test_seeded_watershed_equals_scikit_image():
    from skimage.segmentation import watershed

    for trial in range(5):
        shape = tuple(int(n) for n in RNG.integers([3, 8, 8], [10, 30, 30]))
        image, mask = blobs(shape, seed=900 + trial, levels=[0, 6][trial % 2])
        seeds = np.zeros(shape, np.int32)
        spots = RNG.choice(image.size, size=6, replace=False)
        seeds.ravel()[spots] = RNG.integers(1, 4, size=6)
        for line in (True, False):
            np.testing.assert_array_equal(seeded_watershed(image, seeds, watershed_line=line),
                                          watershed(image, seeds, watershed_line=line))
            np.testing.assert_array_equal(seeded_watershed(image, seeds, mask=mask, watershed_line=line),
                                          watershed(image, seeds, mask=mask, watershed_line=line))



def random_watershed_case(rng):
    """A small random flooding problem with many ties: quantized values, plateaus, negative values
    and -0.0, masks, several seeds per label, a slab seed, seed blobs, (1, Y, X) stacks."""
    shape = (int(rng.integers(1, 6)), int(rng.integers(2, 16)), int(rng.integers(2, 16)))
    image = rng.random(shape)
    if rng.random() < 0.7:
        image = ndimage.gaussian_filter(image, rng.uniform(0.5, 2))
    image = (image - image.min()) / (np.ptp(image) + 1e-12)
    levels = [0, 2, 3, 8, 30][rng.integers(0, 5)]
    if levels:
        image = np.round(image * levels) / levels
    if rng.random() < 0.3:
        image = image - 0.5
        image[image == 0] = -0.0
    if rng.random() < 0.05:
        image[:] = 0.5
    image = image.astype([np.float32, np.float64][rng.integers(0, 2)])
    seeds = np.zeros(shape, np.int32)
    n_labels = int(rng.integers(1, 5))
    spots = rng.choice(image.size, size=min(int(rng.integers(1, 12)), image.size), replace=False)
    seeds.ravel()[spots] = rng.integers(1, n_labels + 1, size=spots.size)
    if rng.random() < 0.3:
        seeds[0] = 1
    if rng.random() < 0.2:
        blobs_, _ = ndimage.label(rng.random(shape) > 0.9)
        seeds[blobs_ > 0] = blobs_[blobs_ > 0] % (n_labels + 1) + 1
    mask = None
    if rng.random() < 0.4:
        mask = ndimage.gaussian_filter(rng.random(shape), 1) > rng.uniform(0.3, 0.6)
    return image, seeds, mask, bool(rng.integers(0, 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_watershed_equals_scikit_image_with_many_ties(seed):
    from skimage.segmentation import watershed

    rng = np.random.default_rng(300 + seed)
    for _ in range(40):
        image, seeds, mask, line = random_watershed_case(rng)
        np.testing.assert_array_equal(seeded_watershed(image, seeds, mask=mask, watershed_line=line),
                                      watershed(image, seeds, mask=mask, watershed_line=line))


@pytest.fixture
def heap_floods(monkeypatch):
    """Counts the floods that had to fall back to the heap (tied markers that could interact)."""
    import helpers.watershed as module

    calls = []
    original = module._flood_volume

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_flood_volume", counting)
    return calls


def test_tied_seeds_far_apart_use_the_bucket_queue(heap_floods):
    """Nuclei seeds of one value (different labels): exact, and without the heap fallback."""
    from skimage.segmentation import watershed

    image = np.round(shells() * 200) / 200
    seeds = shell_seeds(image, **AREAS)
    image[seeds > SHELL_BACKGROUND_LABEL] = 0.1          # the three nuclei seeds tie
    image[0, 0, :3] = 0.1                                  # and tie with the background seed
    for line in (True, False):
        np.testing.assert_array_equal(seeded_watershed(image, seeds, watershed_line=line),
                                      watershed(image, seeds, watershed_line=line))
    assert heap_floods == []


def test_tied_seeds_side_by_side_fall_back_to_the_heap(heap_floods):
    """On a plateau the heap's order of equal seeds decides the result: reproduced exactly."""
    from skimage.segmentation import watershed

    image = np.zeros((3, 9, 9), np.float32)
    seeds = np.zeros(image.shape, np.int32)
    seeds[1, 4, 2], seeds[1, 4, 4], seeds[1, 4, 6] = 1, 2, 1
    for line in (True, False):
        np.testing.assert_array_equal(seeded_watershed(image, seeds, watershed_line=line),
                                      watershed(image, seeds, watershed_line=line))
    assert len(heap_floods) == 2


def test_seeds_of_one_label_fill_what_they_reach():
    from skimage.segmentation import watershed

    image, mask = blobs((5, 20, 20), seed=21, levels=4)
    seeds = np.zeros(image.shape, np.int32)
    seeds[0] = 3
    seeds[4, 10, 10] = 3
    for region in (None, mask):
        for line in (True, False):
            np.testing.assert_array_equal(seeded_watershed(image, seeds, mask=region, watershed_line=line),
                                          watershed(image, seeds, mask=region, watershed_line=line))


def test_seeded_watershed_of_nuclei_equals_scikit_image():
    """The LMNB1 case: a quantized shell image, single-voxel seeds and a background slab."""
    from skimage.segmentation import watershed

    image = np.round(shells(shape=(12, 90, 110), centres=((30, 30), (30, 80), (65, 55)), radius=17)
                     * 300).astype(np.float32) / 300
    seeds = shell_seeds(image, **AREAS)
    np.testing.assert_array_equal(seeded_watershed(image, seeds), watershed(image, seeds,
                                                                            watershed_line=True))


def test_watershed_without_lines_labels_everything_reachable():
    image, _ = blobs((4, 12, 12), seed=5)
    seeds = np.zeros(image.shape, np.int32)
    seeds[0, 0, 0], seeds[3, 11, 11] = 1, 2
    assert (seeded_watershed(image, seeds, watershed_line=False) > 0).all()


@pytest.mark.parametrize("mode", ["thick", "inner", "outer"])
@pytest.mark.parametrize("connectivity", [1, 3])
def test_object_boundaries_equal_scikit_image(mode, connectivity):
    from skimage.segmentation import find_boundaries

    labels = ndimage.label(blobs((6, 20, 20), seed=11)[1], FACES)[0]
    np.testing.assert_array_equal(object_boundaries(labels, connectivity=connectivity, mode=mode),
                                  find_boundaries(labels, connectivity=connectivity, mode=mode))
    assert not object_boundaries(np.zeros((3, 5, 5), int)).any()


# --------------------------------------------------------------------------------------------------
# Inputs untouched, bad input
# --------------------------------------------------------------------------------------------------


def test_inputs_are_not_modified():
    image, mask = blobs((6, 16, 16), seed=2)
    seeds = find_local_maxima(image, mask)
    copies = [a.copy() for a in (image, mask, seeds)]
    cut_touching_objects(mask, seeds)
    find_local_maxima(image, mask)
    labelled = ndimage.label(seeds, np.ones((3, 3, 3)))[0].astype(np.int32)
    labelled_copy = labelled.copy()
    seeded_watershed(image, labelled, mask=mask)
    object_boundaries(labelled)
    for array, copy in zip((image, mask, seeds, labelled), (*copies, labelled_copy)):
        np.testing.assert_array_equal(array, copy)


IMAGE = np.zeros((4, 9, 9), np.float32)
MASK = np.zeros((4, 9, 9), bool)


@pytest.mark.parametrize("call, message", [
    (lambda: find_local_maxima(IMAGE[0], MASK[0]), "np.newaxis"),
    (lambda: find_local_maxima(IMAGE[np.newaxis], MASK), "channel"),
    (lambda: find_local_maxima(IMAGE, MASK.astype(float)), "Threshold it"),
    (lambda: find_local_maxima(np.full(IMAGE.shape, np.nan), MASK), "NaN"),
    (lambda: find_local_maxima(IMAGE, MASK, min_distance=0), "min_distance"),
    (lambda: find_local_maxima(IMAGE, MASK, min_distance=1.5), "whole number"),
    (lambda: find_local_maxima(IMAGE, MASK[:, :, :5]), "must match"),
    (lambda: cut_touching_objects(MASK, MASK[:3]), "must match"),
    (lambda: cut_touching_objects(MASK.astype(np.float32), MASK), "Threshold it"),
    (lambda: cut_touching_objects(MASK, MASK, min_size=-2), "min_size"),
    (lambda: shell_seeds(IMAGE), "constant"),
    (lambda: shell_seeds(shells(), min_area=500, max_area=100), "larger than `max_area`"),
    (lambda: shell_seeds(shells(), min_area=-1), "min_area"),
    (lambda: shell_seeds(shells(), scales=[(0, 0.01)]), "sigma"),
    (lambda: shell_seeds(shells(), background_seed=2), "background_seed"),
    (lambda: seeded_watershed(IMAGE, MASK.astype(float)), "label image of integers"),
    (lambda: seeded_watershed(IMAGE, -np.ones(IMAGE.shape, int)), "negative labels"),
    (lambda: seeded_watershed(IMAGE, np.zeros((4, 9, 8), int)), "must match"),
    (lambda: seeded_watershed(IMAGE, np.zeros(IMAGE.shape, int), watershed_line="yes"), "watershed_line"),
    (lambda: drop_background_object(np.zeros(IMAGE.shape, int), background_label=0), "background_label"),
    (lambda: object_boundaries(np.zeros(IMAGE.shape, int), mode="thin"), "not a known method"),
    (lambda: object_boundaries(np.zeros(IMAGE.shape, int), connectivity=4), "connectivity"),
    (lambda: object_boundaries(np.zeros((9, 9), int)), "np.newaxis"),
])
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        call()


def test_local_maxima_minimum_is_the_bar_seeds_must_clear():
    from helpers.watershed import find_local_maxima

    image = np.zeros((9, 9, 9), np.float32)
    image[4, 4, 4] = 5.0
    mask = np.ones_like(image, dtype=bool)
    assert find_local_maxima(image, mask, min_distance=2).sum() == 1
    # a block-wise run passes the whole volume's minimum; a seed must be brighter than it
    assert find_local_maxima(image, mask, min_distance=2, minimum=5.0).sum() == 0
    assert find_local_maxima(image, mask, min_distance=2, minimum=-1.0).sum() == 1
