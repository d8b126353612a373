"""Voxel-wise scores: known answers, edge cases, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import metrics


def _masks():
    truth = np.zeros((2, 6, 6), bool)
    truth[0, :3] = True  # 18 voxels
    prediction = np.zeros((2, 6, 6), bool)
    prediction[0, 2:4] = True  # 12 voxels, 6 of them in the truth
    return prediction, truth


def test_known_answer():
    prediction, truth = _masks()
    s = metrics.scores(prediction, truth)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (6, 6, 12)
    assert s.dice == pytest.approx(12 / 30)
    assert s.iou == pytest.approx(6 / 24)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(6 / 18)
    assert metrics.dice(prediction, truth) == s.dice and metrics.iou(prediction, truth) == s.iou
    assert metrics.precision(prediction, truth) == s.precision and metrics.recall(prediction, truth) == s.recall


def test_dice_and_iou_are_related_and_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 20, 20)) > 0.6
    s = metrics.scores(a, b)
    assert s.dice == pytest.approx(2 * s.iou / (1 + s.iou))
    assert metrics.dice(b, a) == pytest.approx(s.dice)
    assert metrics.precision(a, b) == pytest.approx(metrics.recall(b, a))


def test_identical_masks_score_one_and_disjoint_zero():
    _, truth = _masks()
    assert metrics.dice(truth, truth) == 1.0
    assert metrics.dice(~truth, truth) == 0.0


def test_empty_masks():
    empty = np.zeros((1, 4, 4), bool)
    full = np.ones((1, 4, 4), bool)
    assert metrics.scores(empty, empty).dice == 1.0
    s = metrics.scores(empty, full)
    assert (s.dice, s.iou, s.recall, s.precision) == (0.0, 0.0, 0.0, 1.0)


def test_labels_and_2d_are_accepted():
    labels = np.array([[0, 3], [2, 0]])
    assert metrics.dice(labels, labels > 0) == 1.0


@pytest.mark.parametrize("prediction, truth, message", [
    (np.zeros((2, 2, 2), bool), np.zeros((2, 3, 2), bool), "shape"),
    (np.zeros((2, 2, 2), float), np.zeros((2, 2, 2), bool), "Threshold it"),
    (np.zeros(5, bool), np.zeros(5, bool), "2D"),
])
def test_bad_input(prediction, truth, message):
    with pytest.raises(ValueError, match=message):
        metrics.scores(prediction, truth)
