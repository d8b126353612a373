"""Multi-class, object-level and threshold-sweep scores: hand-computed answers and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import metrics


# ------------------------------------------------------------------ multi-class F1 and IoU


def _classes():
    # truth:      prediction:
    # 0 0 1 1     0 1 1 1
    # 2 2 2 0     2 2 0 0
    # 3 3 3 3     3 3 1 2     (3 = outside the nucleus, ignored)
    truth = np.array([[[0, 0, 1, 1], [2, 2, 2, 0], [3, 3, 3, 3]]])
    prediction = np.array([[[0, 1, 1, 1], [2, 2, 0, 0], [3, 3, 1, 2]]])
    return prediction, truth


def test_f1_scores_known_answer_with_ignored_class():
    prediction, truth = _classes()
    original = prediction.copy()
    s = metrics.f1_scores(prediction, truth, ignore=3)
    assert s.classes == (0, 1, 2) and s.ignored_voxels == 4
    # class 0: truth 3 voxels, prediction 3, overlap 2 -> P = R = 2/3, F1 = 2/3
    c0 = s.per_class[0]
    assert (c0.true_positives, c0.false_positives, c0.false_negatives) == (2, 1, 1)
    assert c0.dice == pytest.approx(2 / 3) and c0.iou == pytest.approx(2 / 4)
    # class 1: truth 2, prediction 3 (one ignored voxel predicted 1 does not count), overlap 2
    c1 = s.per_class[1]
    assert (c1.true_positives, c1.false_positives, c1.false_negatives) == (2, 1, 0)
    assert (c1.precision, c1.recall, c1.dice) == pytest.approx((2 / 3, 1.0, 0.8))
    # class 2: truth 3, prediction 2, overlap 2
    c2 = s.per_class[2]
    assert (c2.true_positives, c2.false_positives, c2.false_negatives) == (2, 0, 1)
    assert c2.dice == pytest.approx(0.8)
    # micro: TP 6, FP 2, FN 2 -> 12 / 16 (= accuracy 6 / 8 of the scored voxels)
    assert s.micro_f1 == pytest.approx(0.75)
    assert s.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.8) / 3)
    assert s.mean_iou == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    np.testing.assert_array_equal(prediction, original)
    assert "micro F1 0.750" in s.to_text()


def test_f1_scores_without_ignore_counts_the_outside_class():
    prediction, truth = _classes()
    s = metrics.f1_scores(prediction, truth)
    assert s.classes == (0, 1, 2, 3) and s.ignored_voxels == 0
    # class 3: truth 4, prediction 2, overlap 2; class 1 now has 2 FP; class 2 has 1 FP
    assert s.per_class[3].dice == pytest.approx(4 / 6)
    assert s.per_class[1].false_positives == 2 and s.per_class[2].false_positives == 1
    assert s.micro_f1 == pytest.approx(8 / 12)  # accuracy: 8 of 12 voxels right


def test_f1_scores_selected_classes_and_absent_class():
    prediction, truth = _classes()
    s = metrics.f1_scores(prediction, truth, classes=(1, 2, 7), ignore=3)
    assert s.classes == (1, 2, 7)
    assert s.per_class[7].dice == 1.0  # absent from both: nothing to find
    # micro over classes 1, 2, 7: TP 4, FP 1, FN 1 -> 8 / 10
    assert s.micro_f1 == pytest.approx(0.8)


def test_mean_iou_known_answer():
    truth = np.array([[0, 0, 1, 1]])
    prediction = np.array([[0, 1, 1, 1]])
    m = metrics.mean_iou(prediction, truth)
    assert m.per_class == pytest.approx({0: 0.5, 1: 2 / 3})
    assert m.mean == pytest.approx((0.5 + 2 / 3) / 2)
    mean, per_class = metrics.mean_iou(prediction, truth, classes=[1])
    assert mean == pytest.approx(2 / 3) and list(per_class) == [1]


def test_perfect_and_binary_labels():
    labels = np.array([[[0, 1], [2, 2]]])
    s = metrics.f1_scores(labels, labels)
    assert s.micro_f1 == s.macro_f1 == s.mean_iou == 1.0
    # bool images are read as labels 0 / 1 and agree with Dice of the masks for class 1
    a = np.array([[True, False, True, True]])
    b = np.array([[True, True, False, True]])
    assert metrics.f1_scores(a, b).per_class[1].dice == pytest.approx(metrics.dice(a, b))


@pytest.mark.parametrize("prediction, truth, kwargs, message", [
    (np.zeros((2, 2), int), np.zeros((2, 3), int), {}, "shape"),
    (np.zeros((2, 2), float), np.zeros((2, 2), int), {}, "integers"),
    (np.zeros((2, 2), int), -np.ones((2, 2), int), {}, "negative"),
    (np.zeros(4, int), np.zeros(4, int), {}, "2D"),
    (np.zeros((2, 2), int), np.zeros((2, 2), int), {"classes": []}, "classes"),
    (np.zeros((2, 2), int), np.zeros((2, 2), int), {"classes": [1.5]}, "classes"),
    (np.zeros((2, 2), int), np.zeros((2, 2), int), {"ignore": 0}, "ignored"),
    (np.zeros((2, 2), int), np.zeros((2, 2), int), {"classes": [0], "ignore": 0}, "both"),
])
def test_f1_scores_bad_input(prediction, truth, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.f1_scores(prediction, truth, **kwargs)


# ------------------------------------------------------------------ object matching


def _two_objects():
    # truth: two 10-voxel objects; prediction: one overlapping the first at IoU 6/10 = 0.6, one
    # overlapping the second at IoU 4/10 = 0.4 (4 shared voxels, 6 + 4 extra, union 10)
    truth = np.zeros((1, 5, 20), bool)
    truth[0, 1, 0:10] = True        # object A: x 0..9
    truth[0, 3, 10:20] = True       # object B: x 10..19 (rows 1 and 3 do not touch)
    prediction = np.zeros((1, 5, 20), bool)
    prediction[0, 1, 0:6] = True    # inside A: 6 voxels -> IoU 6 / 10
    prediction[0, 3, 16:20] = True  # inside B: 4 voxels -> IoU 4 / 10
    return prediction, truth


def test_match_objects_known_answer():
    prediction, truth = _two_objects()
    original = prediction.copy()
    m = metrics.match_objects(prediction, truth)
    assert (m.n_predicted, m.n_truth) == (2, 2)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (1, 1, 1)
    assert (m.precision, m.recall, m.f1) == pytest.approx((0.5, 0.5, 0.5))
    assert len(m.pairs) == 1 and m.pairs[0][2] == pytest.approx(0.6)
    np.testing.assert_array_equal(prediction, original)
    # a lower threshold matches both
    low = metrics.match_objects(prediction, truth, iou_threshold=0.3)
    assert low.true_positives == 2 and [p[2] for p in low.pairs] == pytest.approx([0.6, 0.4])


def test_match_objects_uses_26_connectivity_for_masks():
    truth = np.zeros((3, 3, 3), bool)
    truth[0, 0, 0] = truth[1, 1, 1] = truth[2, 2, 2] = True  # diagonal: one object
    m = metrics.match_objects(truth, truth)
    assert (m.n_truth, m.true_positives, m.f1) == (1, 1, 1.0)
    # 0/255 masks are masks too
    assert metrics.match_objects(truth.astype(np.uint8) * 255, truth).n_predicted == 1


def test_match_objects_label_images_keep_their_labels():
    truth = np.zeros((1, 2, 6), np.int32)
    truth[0, 0, :3] = 5
    truth[0, 0, 3:] = 9  # touching objects, kept apart by their labels
    prediction = np.zeros_like(truth)
    prediction[0, 0, :3] = 1
    prediction[0, 0, 3:5] = 2
    m = metrics.match_objects(prediction, truth)
    assert m.n_truth == 2 and m.true_positives == 2
    assert sorted(m.pairs) == [(1, 5, 1.0), (2, 9, pytest.approx(2 / 3))]


def test_match_objects_optimal_assignment_when_objects_compete():
    # one predicted object covering two true halves: IoU 0.5 with each (ties at threshold 0.5),
    # and a second prediction equal to the right half: the optimal pairing uses both predictions
    truth = np.zeros((1, 1, 8), np.int32)
    truth[0, 0, :4] = 1
    truth[0, 0, 4:] = 2
    prediction = np.zeros((1, 1, 8), np.int32)
    prediction[0, 0, :8] = 1
    big_and_small = np.stack([prediction[0], np.where(truth[0] == 2, 2, 0)])  # two z planes
    truth2 = np.stack([truth[0], np.where(truth[0] == 2, 3, 0)])
    m = metrics.match_objects(big_and_small, truth2, iou_threshold=0.3)
    # prediction 1 (8 voxels): IoU 0.5 with truth 1, 0.5 with truth 2; prediction 2 = truth 3
    assert m.true_positives == 2 and m.false_negatives == 1 and m.false_positives == 0
    assert {(p, t) for p, t, _ in m.pairs} in ({(1, 1), (2, 3)}, {(1, 2), (2, 3)})


def test_match_objects_empty():
    empty = np.zeros((2, 4, 4), bool)
    m = metrics.match_objects(empty, empty)
    assert (m.true_positives, m.false_positives, m.false_negatives, m.f1) == (0, 0, 0, 1.0)
    full = np.ones((2, 4, 4), bool)
    m = metrics.match_objects(empty, full)
    assert (m.false_negatives, m.recall, m.f1) == (1, 0.0, 0.0)


@pytest.mark.parametrize("prediction, truth, kwargs, message", [
    (np.zeros((2, 2, 2), bool), np.zeros((2, 3, 2), bool), {}, "shape"),
    (np.zeros((2, 2, 2), float), np.zeros((2, 2, 2), bool), {}, "integers"),
    (np.zeros(5, bool), np.zeros(5, bool), {}, "2D"),
    (np.zeros((2, 2), bool), np.zeros((2, 2), bool), {"iou_threshold": 0}, "iou_threshold"),
    (np.zeros((2, 2), bool), np.zeros((2, 2), bool), {"iou_threshold": 1.5}, "iou_threshold"),
])
def test_match_objects_bad_input(prediction, truth, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.match_objects(prediction, truth, **kwargs)


# ------------------------------------------------------------------ threshold sweep


def test_threshold_sweep_known_answer():
    probability = np.array([[0.1, 0.4, 0.6, 0.9], [0.2, 0.3, 0.7, 0.8]])
    truth = np.array([[0, 1, 1, 1], [0, 0, 0, 1]], bool)
    original = probability.copy()
    sweep = metrics.threshold_sweep(probability, truth, thresholds=[0.5, 0.25, 0.75])
    assert len(sweep) == 3 and list(sweep.column("threshold")) == [0.25, 0.5, 0.75]
    t25, t50, t75 = sweep.rows
    # > 0.25: predicted {0.4, 0.6, 0.9, 0.3, 0.7, 0.8} -> TP 4, FP 2, FN 0, TN 2
    counts = ("true_positives", "false_positives", "false_negatives", "true_negatives")
    assert tuple(t25[c] for c in counts) == (4, 2, 0, 2)
    assert (t25["dice"], t25["precision"], t25["recall"], t25["accuracy"]) == pytest.approx((0.8, 4 / 6, 1.0, 0.75))
    # > 0.5: {0.6, 0.9, 0.7, 0.8} -> TP 3, FP 1, FN 1
    assert (t50["dice"], t50["iou"], t50["accuracy"]) == pytest.approx((0.75, 0.6, 0.75))
    # > 0.75: {0.9, 0.8} -> TP 2, FP 0, FN 2
    assert (t75["dice"], t75["precision"], t75["recall"]) == pytest.approx((2 / 3, 1.0, 0.5))
    assert sweep.best("dice")["threshold"] == 0.25
    assert sweep.best("precision")["threshold"] == 0.75
    assert sweep.best("accuracy")["threshold"] == 0.25  # tie: lowest threshold
    assert "threshold" in sweep.to_text() and len(sweep.to_text().splitlines()) == 4
    np.testing.assert_array_equal(probability, original)


def test_threshold_sweep_default_thresholds_and_plot():
    rng = np.random.default_rng(0)
    truth = rng.random((2, 16, 16)) > 0.5
    probability = np.clip(truth * 0.6 + rng.random(truth.shape) * 0.4, 0, 1)
    sweep = metrics.threshold_sweep(probability, truth)
    assert len(sweep) == 19 and sweep.column("threshold")[0] == pytest.approx(0.05)
    # foreground >= 0.6, background < 0.4: every threshold in [0.4, 0.6) is perfect
    assert sweep.best("dice")["dice"] == 1.0 and 0.4 - 1e-9 <= sweep.best("dice")["threshold"] < 0.6

    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    figure = metrics.plot_threshold_sweep(sweep)
    assert plt.get_fignums() == open_before  # not registered with pyplot
    axes = figure.axes[0]
    assert len(axes.lines) == 6  # five metrics and the best-threshold line
    np.testing.assert_allclose(axes.lines[0].get_ydata(), sweep.column("dice"))
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("probability, truth, thresholds, message", [
    (np.zeros((2, 2)), np.zeros((2, 2), bool), [0.0, 0.5], "strictly between 0 and 1"),
    (np.zeros((2, 2)), np.zeros((2, 2), bool), [0.5, 1.0], "strictly between 0 and 1"),
    (np.zeros((2, 2)), np.zeros((2, 2), bool), [], "non-empty"),
    (np.zeros((2, 2)), np.zeros((2, 2), bool), [[0.5]], "non-empty"),
    (np.zeros((2, 2)), np.zeros((2, 3), bool), [0.5], "shape"),
    (np.full((2, 2), 2.0), np.zeros((2, 2), bool), [0.5], r"\[0, 1\]"),
    (np.full((2, 2), np.nan), np.zeros((2, 2), bool), [0.5], "NaN"),
    (np.zeros(4), np.zeros(4, bool), [0.5], "2D"),
])
def test_threshold_sweep_bad_input(probability, truth, thresholds, message):
    with pytest.raises(ValueError, match=message):
        metrics.threshold_sweep(probability, truth, thresholds=thresholds)


def test_sweep_table_and_plot_bad_arguments():
    sweep = metrics.threshold_sweep(np.array([[0.2, 0.8]]), np.array([[0, 1]], bool), thresholds=[0.5])
    with pytest.raises(ValueError, match="metric"):
        sweep.best("f2")
    with pytest.raises(ValueError, match="not a scored metric"):
        metrics.plot_threshold_sweep(sweep, metrics=("dice", "auc"))
    with pytest.raises(ValueError, match="threshold_sweep"):
        metrics.plot_threshold_sweep([{"threshold": 0.5}])


def test_match_objects_is_optimal_not_greedy():
    # t1, t2: two 2 x 10 blocks side by side. A (row 0, x 0..14) has IoU 10/25 = 0.4 with t1 and
    # 5/30 with t2; B (row 1, x 0..4) has IoU 5/20 = 0.25 with t1 only. Greedy (A-t1 first) finds
    # 1 pair; the optimal assignment (summed IoU 1/6 + 0.25 > 0.4) pairs A-t2 and B-t1.
    truth = np.zeros((1, 2, 20), np.int32)
    truth[0, :, :10] = 1
    truth[0, :, 10:] = 2
    prediction = np.zeros_like(truth)
    prediction[0, 0, :15] = 1
    prediction[0, 1, :5] = 2
    m = metrics.match_objects(prediction, truth, iou_threshold=0.1)
    assert m.true_positives == 2 and m.false_positives == m.false_negatives == 0
    assert m.pairs == ((2, 1, pytest.approx(0.25)), (1, 2, pytest.approx(1 / 6)))
    # at 0.3 only A-t1 qualifies
    m = metrics.match_objects(prediction, truth, iou_threshold=0.3)
    assert m.pairs == ((1, 1, pytest.approx(0.4)),) and m.false_negatives == 1
