"""Cell membranes from labels, cells back from membranes, and the synthetic membrane volume."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.membranes import labels_to_membranes, membrane_to_cells
from helpers.metrics import match_objects
from helpers.synthetic import membranes


def _two_boxes():
    """Cells 1 (x 2..4) and 2 (x 5..7) side by side in a 5 x 6 x 10 field, background around."""
    labels = np.zeros((5, 6, 10), np.int32)
    labels[1:4, 1:5, 2:5] = 1
    labels[1:4, 1:5, 5:8] = 2
    return labels


def test_two_boxes_exact_voxels():
    labels = _two_boxes()
    membrane = labels_to_membranes(labels)
    # inside each 3 x 4 x 3 box only the centre line (z 2, y 2..3, at the x farthest from the contact
    # and from the background) is free of any other label among the 6 neighbours
    expected = labels > 0
    expected[2, 2:4, 3] = False
    expected[2, 2:4, 6] = False
    np.testing.assert_array_equal(membrane, expected)


def test_two_boxes_contact_only():
    labels = _two_boxes()
    membrane = labels_to_membranes(labels, include_background_border=False)
    expected = np.zeros(labels.shape, bool)
    expected[1:4, 1:5, 4:6] = True  # one voxel of each cell at the contact x = 4 | 5
    np.testing.assert_array_equal(membrane, expected)


def test_field_edge_is_not_a_border():
    labels = np.ones((3, 4, 8), np.int32)
    labels[..., 4:] = 2  # two cells filling the field
    membrane = labels_to_membranes(labels)
    expected = np.zeros(labels.shape, bool)
    expected[..., 3:5] = True
    np.testing.assert_array_equal(membrane, expected)


def test_three_cells_in_a_row_thickness():
    labels = np.zeros((1, 1, 15), np.int32)
    labels[0, 0, 0:5], labels[0, 0, 5:10], labels[0, 0, 10:15] = 1, 2, 3
    row = lambda t: labels_to_membranes(labels, thickness=t)[0, 0].astype(int).tolist()
    assert row(1) == [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert row(2) == [0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0]
    assert row(3) == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]


def test_thickness_grows_towards_the_background_only_inside_cells():
    labels = np.zeros((1, 1, 8), np.int32)
    labels[0, 0, 2:7] = 1
    assert labels_to_membranes(labels, thickness=2)[0, 0].astype(int).tolist() == [0, 0, 1, 1, 0, 1, 1, 0]


def test_thickness_is_euclidean_in_voxels():
    labels = np.ones((1, 9, 9), np.int32)
    labels[0, :, 5:] = 2  # a vertical contact between x = 4 and x = 5
    membrane = labels_to_membranes(labels, thickness=3)
    np.testing.assert_array_equal(membrane[0, 4], [0, 0, 1, 1, 1, 1, 1, 1, 0])
    assert membrane[0].sum() == 9 * 6  # 3 voxels on each side, every row


def test_membranes_input_checks_and_no_mutation():
    labels = _two_boxes()
    before = labels.copy()
    labels_to_membranes(labels, thickness=2)
    np.testing.assert_array_equal(labels, before)
    with pytest.raises(ValueError, match="thickness"):
        labels_to_membranes(labels, thickness=0)
    with pytest.raises(ValueError, match="label image of integers"):
        labels_to_membranes(labels.astype(float))
    with pytest.raises(ValueError, match="include_background_border"):
        labels_to_membranes(labels, include_background_border="yes")


def _grid_of_cells():
    """8 box cells (2 x 2 x 2) filling a 20 x 40 x 40 field."""
    labels = np.zeros((20, 40, 40), np.int32)
    label = 0
    for z in (0, 10):
        for y in (0, 20):
            for x in (0, 20):
                label += 1
                labels[z:z + 10, y:y + 20, x:x + 20] = label
    return labels


def test_cells_back_from_true_membranes():
    labels = _grid_of_cells()
    cells = membrane_to_cells(labels_to_membranes(labels), seed_distance=2)
    assert cells.dtype == np.int32 and cells.max() == 8
    matches = match_objects(cells, labels, iou_threshold=0.8)
    assert matches.true_positives == 8 and matches.false_positives == 0


def test_cells_back_from_a_probability_with_a_gap():
    labels = _grid_of_cells()
    probability = np.where(labels_to_membranes(labels), 0.9, 0.1).astype(np.float32)
    probability[3:6, 8:12, 19:21] = 0.1  # a hole in the membrane between cells 1 and 2
    cells = membrane_to_cells(probability, threshold=0.5, seed_distance=3)
    matches = match_objects(cells, labels, iou_threshold=0.8)
    assert matches.true_positives == 8  # the hole's neck is too close to the membrane to seed
    merged = membrane_to_cells(probability, threshold=0.5, seed_distance=0.5)
    assert merged.max() == 7  # without a seed distance the two cells leak into one


def test_membrane_to_cells_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        membrane_to_cells(np.full((4, 4, 4), 2.0))
    with pytest.raises(ValueError, match="threshold"):
        membrane_to_cells(np.full((4, 4, 4), 0.2), threshold=1.0)
    with pytest.raises(ValueError, match="0/1 mask"):
        membrane_to_cells(np.full((4, 4, 4), 3, np.int32))
    assert membrane_to_cells(np.ones((4, 4, 4), bool)).max() == 0  # all membrane: no seed, no cell
    np.testing.assert_array_equal(membrane_to_cells(np.zeros((4, 4, 4), bool), min_seed_size=1), 1)  # one cell


def test_volume_shapes_types_and_determinism():
    first = membranes.make_volume((16, 48, 48), seed=3)
    again = membranes.make_volume((16, 48, 48), seed=3)
    other = membranes.make_volume((16, 48, 48), seed=4)
    assert first.image.shape == first.labels.shape == (16, 48, 48)
    assert first.image.dtype == np.uint16 and first.labels.dtype == np.int32
    assert first.voxel_size == membranes.LATTICE_VOXEL_SIZE
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)


def test_volume_cells_fill_the_field_at_their_size():
    volume = membranes.make_volume((64, 128, 128), seed=0, outlier_fraction=0)
    labels = volume.labels
    n = int(labels.max())
    assert labels.min() == 1 and np.unique(labels).size == n  # every voxel in a cell, labels 1..n
    # cells of 4.5 um in a 12.8 um cube: about (12.8 / 4.5) ** 3 ~ 23 whole cells' volume, more counting cut ones
    assert 25 <= n <= 120
    mean_volume = np.prod(np.array(labels.shape) * volume.voxel_size) / n
    assert 8 < mean_volume < 80  # cubic micrometres


def test_volume_membranes_are_bright_and_outliers_are_few():
    volume = membranes.make_volume((32, 64, 64), seed=1, outlier_fraction=1e-4)
    membrane = labels_to_membranes(volume.labels)
    assert np.median(volume.image[membrane]) > 1.3 * np.median(volume.image[~membrane])
    hot = volume.image > 20000
    assert hot.sum() == round(1e-4 * volume.image.size)  # 13 saturated voxels
    assert np.percentile(volume.image, 99.9) < 2000  # they stay above the high percentiles


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": (4, 64, 64)}, "shape"),
    ({"cell_diameter": 0}, "cell_diameter"),
    ({"outlier_fraction": 0.5}, "outlier_fraction"),
    ({"voxel_size": (0.2, 0.1)}, "voxel_size"),
])
def test_volume_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        membranes.make_volume(**kwargs)
