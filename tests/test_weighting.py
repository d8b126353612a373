"""The error weighting array of the 2D-3D SBF-EM networks: floor + class balancing + edge term."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.weighting import class_boundaries, error_weights


def _two_classes():
    truth = np.zeros((4, 20, 20), np.int64)
    truth[:, 5:10, 5:10] = 1  # 100 of 1600 voxels
    return truth


def test_every_class_carries_the_same_total_weight():
    truth = _two_classes()
    weights = error_weights(truth, floor=0.0, edge_weight=0.0)
    totals = [weights[truth == c].sum() for c in (0, 1)]
    assert totals[0] == pytest.approx(totals[1], rel=1e-6)
    assert weights[truth == 1][0] == pytest.approx(1 / (2 * 100 / 1600))  # 1 / (K f_c)


def test_without_balancing_the_floor_and_edges_add_to_one():
    truth = _two_classes()
    weights = error_weights(truth, floor=0.25, class_balance=False, edge_weight=0.0)
    assert np.allclose(weights, 1.25)


def test_the_edge_term_peaks_on_boundaries_and_decays_with_distance():
    truth = _two_classes()
    weights = error_weights(truth, floor=0.0, class_balance=False, edge_weight=2.0, edge_sigma=1.5)
    edge = class_boundaries(truth)
    assert np.allclose(weights[edge], 3.0)  # 1 + edge_weight exactly on the boundary
    row = weights[2, 7, 10:20]  # leaving the square along x: x = 10 is on the boundary (distance 0), then 1, 2, ...
    assert np.all(np.diff(row) <= 1e-6) and row[0] == pytest.approx(3.0)
    assert row[3] == pytest.approx(1 + 2.0 * np.exp(-(3 ** 2) / (2 * 1.5 ** 2)), rel=1e-5)


def test_the_ignored_class_weighs_nothing_and_makes_no_edges():
    truth = _two_classes()
    truth[:, 15:, :] = 4  # outside the nucleus, to be ignored
    weights = error_weights(truth, floor=0.1, edge_weight=1.0, ignore_class=4)
    assert (weights[truth == 4] == 0).all() and (weights[truth != 4] > 0).all()
    boundary_with_ignored = weights[2, 14, 15]  # next to the ignored band, far from the square
    assert boundary_with_ignored < weights[2, 7, 10]  # a true edge weighs more
    balance = error_weights(truth, floor=0.0, edge_weight=0.0, ignore_class=4)
    totals = [balance[truth == c].sum() for c in (0, 1)]  # frequencies over the counted voxels only
    assert totals[0] == pytest.approx(totals[1], rel=1e-6)


def test_boundaries_are_face_neighbours_of_another_class():
    truth = np.zeros((1, 5, 5), int)
    truth[0, 2, 2] = 1
    edge = class_boundaries(truth)
    assert edge.sum() == 5 and edge[0, 2, 2] and edge[0, 1, 2] and not edge[0, 1, 1]


@pytest.mark.parametrize("kwargs, match", [
    ({"floor": -0.1}, "floor"),
    ({"edge_sigma": 0}, "edge_sigma"),
    ({"class_balance": "yes"}, "class_balance"),
    ({"floor": 0, "class_balance": False, "edge_weight": 0}, "every weight would be 0"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        error_weights(_two_classes(), **kwargs)


def test_bad_truth_is_refused():
    with pytest.raises(ValueError, match="whole-number"):
        error_weights(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        error_weights(np.zeros((0, 4, 4), int))
