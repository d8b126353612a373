"""Tests for helpers.morphology: SIZE, HOLES, THIN, union, INVERT, MASK.

Known answers on tiny hand-made masks, invariants on random masks, scikit-image as an oracle for
the re-implemented medial axis and thinning, and bad input that must fail with a clear message.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from helpers import morphology
from helpers.morphology import fill_holes, invert, mask_image, remove_small_objects, thin, union

RNG = np.random.default_rng(20240611)
FACES = ndimage.generate_binary_structure(3, 1)


def random_mask(shape, smooth=1.5, fraction=0.45, seed=None):
    rng = RNG if seed is None else np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.random(shape), smooth)
    return field > np.quantile(field, 1 - fraction)


def n_components(mask, structure=FACES):
    return ndimage.label(mask, structure=structure)[1]


# --------------------------------------------------------------------------------------------------
# SIZE
# --------------------------------------------------------------------------------------------------


def test_size_keeps_an_object_of_exactly_min_size():
    mask = np.zeros((3, 8, 8), dtype=bool)
    mask[1, 1, 1:6] = True      # 5 voxels
    mask[1, 5, 1:5] = True      # 4 voxels
    result = remove_small_objects(mask, min_size=5)
    assert result[1, 1, 1:6].all()
    assert not result[1, 5].any()


def test_size_uses_face_connectivity():
    mask = np.zeros((3, 5, 5), dtype=bool)
    mask[1, 1, 1] = mask[1, 2, 2] = True     # touching along an edge only: two objects of 1
    assert not remove_small_objects(mask, min_size=2).any()
    mask[1, 1, 2] = True                      # now face-connected: one object of 3
    assert remove_small_objects(mask, min_size=3).sum() == 3


def test_size_per_slice_judges_the_area_in_each_slice():
    mask = np.zeros((4, 5, 5), dtype=bool)
    mask[:3, 2, 2] = True                     # 3 voxels in 3D, 1 pixel per slice
    assert remove_small_objects(mask, min_size=3).sum() == 3
    assert not remove_small_objects(mask, min_size=2, per_slice=True).any()


def test_size_matches_component_sizes_on_random_masks():
    for per_slice in (False, True):
        mask = random_mask((5, 30, 30))
        structure = FACES.copy()
        if per_slice:
            structure[0] = structure[2] = False
        labels, _ = ndimage.label(mask, structure=structure)
        sizes = np.bincount(labels.ravel())
        expected = (sizes >= 7)[labels] & mask
        np.testing.assert_array_equal(remove_small_objects(mask, min_size=7, per_slice=per_slice), expected)


@pytest.mark.parametrize("min_size", [0, 1])
def test_size_zero_or_one_keeps_everything(min_size):
    mask = random_mask((3, 10, 10))
    np.testing.assert_array_equal(remove_small_objects(mask, min_size=min_size), mask)


# --------------------------------------------------------------------------------------------------
# HOLES
# --------------------------------------------------------------------------------------------------


def ring_slice(size=12, hole=(3, 3)):
    """A square ring in one slice of a (3, size, size) stack, enclosing a hole of ``hole`` pixels."""
    mask = np.zeros((3, size, size), dtype=bool)
    h, w = hole
    mask[1, 2:4 + h, 2:4 + w] = True
    mask[1, 3:3 + h, 3:3 + w] = False
    return mask


def test_holes_fill_exactly_up_to_max_size():
    mask = ring_slice(hole=(3, 3))                      # hole of 9 pixels
    assert fill_holes(mask, min_size=0, max_size=9)[1, 3:6, 3:6].all()
    assert not fill_holes(mask, min_size=0, max_size=8)[1, 3:6, 3:6].any()


def test_holes_respect_min_size():
    mask = ring_slice(hole=(3, 3))
    assert fill_holes(mask, min_size=9, max_size=100)[1, 3:6, 3:6].all()
    assert not fill_holes(mask, min_size=10, max_size=100)[1, 3:6, 3:6].any()


def test_holes_never_remove_foreground():
    mask = random_mask((4, 25, 25), fraction=0.6)
    for per_slice in (True, False):
        result = fill_holes(mask, min_size=0, max_size=30, per_slice=per_slice)
        assert result[mask].all()


def test_a_tube_is_filled_per_slice_but_not_in_3d():
    tube = np.zeros((5, 9, 9), dtype=bool)
    tube[1:4, 2:7, 2:7] = True
    tube[1:4, 3:6, 3:6] = False                         # open at both ends along z
    assert fill_holes(tube, min_size=1, max_size=20, per_slice=True)[1:4, 4, 4].all()
    assert not fill_holes(tube, min_size=1, max_size=100, per_slice=False)[1:4, 4, 4].any()
    closed = tube.copy()
    closed[0, 2:7, 2:7] = closed[4, 2:7, 2:7] = True    # lids: now a 3D hole of 27 voxels
    assert fill_holes(closed, min_size=1, max_size=27, per_slice=False)[1:4, 4, 4].all()


def test_holes_diagonal_gap_still_encloses():
    """Background is 4-connected: a hole touching the outside only at a corner is a hole."""
    mask = ring_slice(hole=(2, 2))
    mask[1, 2, 2] = False                               # open the ring's corner diagonally
    result = fill_holes(mask, min_size=0, max_size=4)
    assert result[1, 3:5, 3:5].all()


def test_outer_background_is_filled_when_small_enough():
    """Reference oddity kept: the background touching the border is an ordinary component."""
    mask = np.ones((1, 6, 6), dtype=bool)
    mask[0, 0, :] = False                                # a 6-pixel strip along the border
    assert fill_holes(mask, min_size=0, max_size=6).all()
    assert not fill_holes(mask, min_size=0, max_size=5)[0, 0].any()


def test_holes_fast_path_equals_whole_volume_labelling():
    """The bounding-box shortcut must agree with labelling every slice of the full volume."""
    for trial in range(6):
        mask = np.zeros((4, 40, 50), dtype=bool)
        mask[:, 8:30, 10:35] = random_mask((4, 22, 25), fraction=0.6, seed=trial)
        for per_slice, max_size in ((True, 30), (True, 400), (False, 50), (False, 4000)):
            structure = FACES.copy()
            if per_slice:
                structure[0] = structure[2] = False
            labels, _ = ndimage.label(~mask, structure=structure)
            sizes = np.bincount(labels.ravel())
            fill = (sizes >= 1) & (sizes <= max_size)
            fill[0] = False
            expected = mask | fill[labels]
            result = fill_holes(mask, min_size=1, max_size=max_size, per_slice=per_slice)
            np.testing.assert_array_equal(result, expected)


# --------------------------------------------------------------------------------------------------
# THIN
# --------------------------------------------------------------------------------------------------


def thin_with_scikit_image(mask, min_thickness, radius):
    """The THIN definition written with scikit-image and scipy (slow, for comparison)."""
    from skimage.morphology import ball, medial_axis

    safe = np.zeros_like(mask)
    for z in range(mask.shape[0]):
        if mask[z].any():
            axis = medial_axis(mask[z], rng=0)
            safe[z] = ndimage.distance_transform_edt(~axis) > min_thickness + 1e-5
    eroded = ndimage.binary_erosion(mask, structure=ball(radius).astype(bool), border_value=1)
    return mask & ~(safe & mask & ~eroded)


def test_medial_axis_equals_scikit_image_seeded():
    from skimage.morphology import medial_axis

    for trial in range(25):
        shape = tuple(RNG.integers(3, 40, 2))
        image = ndimage.gaussian_filter(RNG.random(shape), RNG.uniform(0.5, 3))
        foreground = image > np.quantile(image, RNG.uniform(0.2, 0.9))
        if foreground.all() or not foreground.any():
            continue
        np.testing.assert_array_equal(morphology._medial_axis(foreground), medial_axis(foreground, rng=0))


@pytest.mark.parametrize("min_thickness, radius", [(1.6, 1), (1.0, 2), (0.5, 1), (2.5, 3)])
def test_thin_equals_its_definition(min_thickness, radius):
    mask = random_mask((6, 40, 40), smooth=2.0, fraction=0.35)
    mask[0, :5, :] = True                                 # touch the image border too
    np.testing.assert_array_equal(thin(mask, min_thickness=min_thickness, thin=radius),
                                  thin_with_scikit_image(mask, min_thickness, radius))


def test_thin_never_disconnects_a_slice_and_keeps_the_medial_axis():
    eight = np.ones((3, 3), dtype=bool)
    for trial in range(6):
        single = random_mask((1, 50, 50), smooth=2.0, fraction=0.4, seed=trial)
        result = thin(single, min_thickness=1.6, thin=1)
        assert not (result & ~single).any()
        assert (single & ~result).any()                   # something thick was thinned
        assert ndimage.label(result[0], eight)[1] == ndimage.label(single[0], eight)[1]
        stack = random_mask((5, 40, 40), smooth=2.0, fraction=0.35, seed=trial)
        result = thin(stack, min_thickness=1.6, thin=1)
        for z in range(stack.shape[0]):
            if stack[z].any():
                assert result[z][morphology._medial_axis(stack[z])].all()


def test_thin_keeps_one_pixel_lines():
    mask = np.zeros((3, 20, 20), dtype=bool)
    mask[1, 10, 2:18] = True                              # a line in x
    mask[1, 2:18, 5] = True                               # crossing a line in y
    mask[:, 15, 15] = True                                # a line along z
    for radius in (1, 2):
        np.testing.assert_array_equal(thin(mask, min_thickness=1.0, thin=radius), mask)


def test_thin_is_deterministic():
    mask = random_mask((4, 50, 50), smooth=2.5, fraction=0.4)
    first = thin(mask, min_thickness=1.6, thin=1)
    for _ in range(3):
        np.testing.assert_array_equal(thin(mask, min_thickness=1.6, thin=1), first)


def test_thin_zero_radius_changes_nothing():
    mask = random_mask((3, 20, 20))
    np.testing.assert_array_equal(thin(mask, min_thickness=1.0, thin=0), mask)


# --------------------------------------------------------------------------------------------------
# Shared properties
# --------------------------------------------------------------------------------------------------

OPERATIONS = {
    "size": lambda m: remove_small_objects(m, min_size=4),
    "size_per_slice": lambda m: remove_small_objects(m, min_size=4, per_slice=True),
    "holes": lambda m: fill_holes(m, min_size=1, max_size=20),
    "holes_3d": lambda m: fill_holes(m, min_size=1, max_size=20, per_slice=False),
    "thin": lambda m: thin(m, min_thickness=1.6, thin=1),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_zeros_in_zeros_out(name):
    result = OPERATIONS[name](np.zeros((3, 30, 30), dtype=bool))
    assert result.dtype == bool and result.shape == (3, 30, 30) and not result.any()


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_output_type_and_input_untouched(name):
    mask = random_mask((4, 20, 24))
    as_uint8 = mask.astype(np.uint8) * 255
    before = as_uint8.copy()
    result = OPERATIONS[name](as_uint8)
    np.testing.assert_array_equal(as_uint8, before)
    assert result.dtype == bool and result.shape == mask.shape
    np.testing.assert_array_equal(result, OPERATIONS[name](mask))


@pytest.mark.parametrize("name", ["size", "size_per_slice", "holes", "holes_3d"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_size_and_holes_commute_with_flips(name, axis):
    mask = random_mask((4, 20, 24), fraction=0.55)
    operation = OPERATIONS[name]
    np.testing.assert_array_equal(operation(np.flip(mask, axis)), np.flip(operation(mask), axis))


# --------------------------------------------------------------------------------------------------
# union, INVERT, MASK
# --------------------------------------------------------------------------------------------------


def test_union_is_voxelwise_or():
    a, b, c = (random_mask((2, 8, 8), fraction=0.2) for _ in range(3))
    np.testing.assert_array_equal(union(a, b, c), a | b | c)
    np.testing.assert_array_equal(union([a, b]), a | b)
    np.testing.assert_array_equal(union(a), a)


def test_invert_mask_and_image():
    mask = random_mask((2, 6, 6))
    np.testing.assert_array_equal(invert(mask), ~mask)
    np.testing.assert_array_equal(invert(mask.astype(np.uint8) * 255), ~mask)
    image = RNG.random((2, 6, 6)).astype(np.float32)
    result = invert(image)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, 1 - image)
    np.testing.assert_array_equal(invert(np.zeros((2, 3, 3), np.float32)), np.ones((2, 3, 3), np.float32))


def test_mask_image_on_images_and_masks():
    image = RNG.random((2, 6, 6)).astype(np.float32)
    where = random_mask((2, 6, 6))
    before = image.copy()
    result = mask_image(image, where, value=0)
    np.testing.assert_array_equal(image, before)
    assert result.dtype == np.float32
    assert (result[where] == 0).all() and np.array_equal(result[~where], image[~where])
    spots = random_mask((2, 6, 6))
    cut = mask_image(spots, where, value=False)
    assert cut.dtype == bool
    np.testing.assert_array_equal(cut, spots & ~where)


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

GOOD = np.zeros((2, 5, 5), dtype=bool)


@pytest.mark.parametrize("call, message", [
    (lambda: remove_small_objects(np.zeros((5, 5), bool), min_size=3), "np.newaxis"),
    (lambda: remove_small_objects(np.zeros((1, 2, 5, 5), bool), min_size=3), "channel"),
    (lambda: remove_small_objects(GOOD.astype(float), min_size=3), "Threshold it"),
    (lambda: remove_small_objects(GOOD, min_size=-1), "min_size"),
    (lambda: remove_small_objects(GOOD, min_size=2.5), "whole number"),
    (lambda: remove_small_objects(GOOD, min_size=3, per_slice="yes"), "per_slice"),
    (lambda: fill_holes(GOOD, min_size=10, max_size=5), "larger than `max_size`"),
    (lambda: fill_holes(GOOD, min_size=-1, max_size=5), "min_size"),
    (lambda: fill_holes(GOOD, min_size=0, max_size=-5), "max_size"),
    (lambda: fill_holes(np.zeros((5, 5), bool), min_size=0, max_size=5), "np.newaxis"),
    (lambda: thin(GOOD, min_thickness=-1, thin=1), "min_thickness"),
    (lambda: thin(GOOD, min_thickness=1, thin=1.5), "whole number"),
    (lambda: thin(GOOD, min_thickness=1, thin=-1), "thin"),
    (lambda: thin(GOOD.astype(np.float32), min_thickness=1, thin=1), "Threshold it"),
    (lambda: union(), "at least one mask"),
    (lambda: union(GOOD, np.zeros((2, 5, 6), bool)), "must match"),
    (lambda: invert(np.full((2, 3, 3), 2.0)), "normalized to [0, 1]"),
    (lambda: invert(np.full((2, 3, 3), np.nan)), "NaN"),
    (lambda: invert(np.zeros((3, 3))), "np.newaxis"),
    (lambda: mask_image(GOOD, GOOD, value=0.5), "must be 0 or 1"),
    (lambda: mask_image(np.zeros((2, 5, 5)), GOOD, value=np.inf), "finite"),
    (lambda: mask_image(np.zeros((2, 5, 5)), np.zeros((2, 5, 4), bool), value=0), "must match"),
])
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        call()
