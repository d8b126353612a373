"""Agreement between a segmentation and a ground truth: Dice, IoU, precision, recall.

Voxel-wise scores of binary masks, for 2D or 3D arrays. Label images are accepted and read as masks
(every label > 0 is foreground). When neither mask has any foreground the two agree perfectly and
every score is 1.0; when exactly one is empty, Dice and IoU are 0.0.

Beyond binary masks:

- :func:`f1_scores` and :func:`mean_iou` score multi-class label images (e.g. 0 background,
  1 nucleolus, 2 chromosome) class by class, with micro and macro averages, optionally ignoring
  the voxels of one truth class (such as "outside the nucleus");
- :func:`match_objects` scores objects rather than voxels: predicted and true objects are paired
  one to one when they overlap enough (IoU), giving detection precision, recall and F1;
- :func:`object_agreement` says how much of each true object a mask covers, and how much of the mask
  around it is right (was it found at all?);
- :func:`threshold_sweep` scores a probability map at many thresholds, and
  :func:`plot_threshold_sweep` draws the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from . import _render
from ._checks import check_labels, check_mask, check_number, check_probability

__all__ = [
    "Scores", "scores", "dice", "iou", "precision", "recall",
    "ClassScores", "f1_scores", "MeanIoU", "mean_iou",
    "ObjectMatches", "match_objects", "ObjectAgreement", "object_agreement",
    "ThresholdSweep", "threshold_sweep", "plot_threshold_sweep",
]


@dataclass(frozen=True)
class Scores:
    """Voxel counts and scores of one comparison.

    Attributes
    ----------
    true_positives, false_positives, false_negatives : int
        Voxels in both, only in the prediction, only in the truth.
    dice : float
        2 TP / (2 TP + FP + FN), the F1 score of the voxels.
    iou : float
        TP / (TP + FP + FN), the Jaccard index.
    precision : float
        TP / (TP + FP): the fraction of the prediction that is right.
    recall : float
        TP / (TP + FN): the fraction of the truth that is found.
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    dice: float
    iou: float
    precision: float
    recall: float

    def to_dict(self) -> dict:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def _pair(prediction, truth) -> tuple[np.ndarray, np.ndarray]:
    ndim = np.ndim(prediction)
    if ndim not in (2, 3):
        raise ValueError(f"`prediction` must be a 2D (Y, X) or 3D (Z, Y, X) mask; got {ndim} dimensions.")
    prediction = check_mask(prediction, name="prediction", ndim=ndim)
    truth = check_mask(truth, name="truth", ndim=ndim, like=prediction)
    return prediction, truth


def scores(prediction, truth) -> Scores:
    """All voxel-wise scores of ``prediction`` against ``truth``.

    Parameters
    ----------
    prediction, truth : array_like of bool or int, shape (Y, X) or (Z, Y, X)
        Binary masks (or label images, read as masks) of the same shape.

    Returns
    -------
    Scores

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((1, 4, 4), bool); truth[0, :2] = True
    >>> prediction = np.zeros((1, 4, 4), bool); prediction[0, 1:3] = True
    >>> s = scores(prediction, truth); (s.dice, s.iou, s.precision, s.recall)
    (0.5, 0.3333333333333333, 0.5, 0.5)
    """
    prediction, truth = _pair(prediction, truth)
    tp = int(np.count_nonzero(prediction & truth))
    fp = int(np.count_nonzero(prediction)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    return Scores(tp, fp, fn, dice=_ratio(2 * tp, 2 * tp + fp + fn), iou=_ratio(tp, tp + fp + fn),
                  precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn))


def dice(prediction, truth) -> float:
    """Dice coefficient 2 |P & T| / (|P| + |T|) of two masks (1.0 when both are empty). See :func:`scores`."""
    return scores(prediction, truth).dice


def iou(prediction, truth) -> float:
    """Intersection over union |P & T| / |P | T| (Jaccard index). See :func:`scores`."""
    return scores(prediction, truth).iou


def precision(prediction, truth) -> float:
    """Fraction of the predicted voxels that are in the truth. See :func:`scores`."""
    return scores(prediction, truth).precision


def recall(prediction, truth) -> float:
    """Fraction of the truth voxels that are predicted. See :func:`scores`."""
    return scores(prediction, truth).recall


def _from_counts(tp: int, fp: int, fn: int) -> Scores:
    return Scores(tp, fp, fn, dice=_ratio(2 * tp, 2 * tp + fp + fn), iou=_ratio(tp, tp + fp + fn),
                  precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn))


# --------------------------------------------------------------------------------------------
# multi-class label images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassScores:
    """Class-by-class scores of a multi-class segmentation.

    Attributes
    ----------
    classes : tuple of int
        The classes scored.
    per_class : dict of int to Scores
        Voxel counts, F1 (``dice``), IoU, precision and recall of each class (one class against all
        others).
    micro_f1 : float
        F1 of the voxel counts summed over the classes: 2 sum TP / (2 sum TP + sum FP + sum FN).
        When every scored voxel belongs to one of the classes it equals the voxel accuracy.
    macro_f1 : float
        Mean of the classes' F1: every class counts equally, however small.
    mean_iou : float
        Mean of the classes' IoU.
    ignored_voxels : int
        Voxels left out because their truth label is ``ignore``.
    """

    classes: tuple
    per_class: dict
    micro_f1: float
    macro_f1: float
    mean_iou: float
    ignored_voxels: int

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        """A small table: one line per class, then the averages."""
        lines = [f"{'class':>6} {'precision':>9} {'recall':>7} {'F1':>6} {'IoU':>6}"]
        for c in self.classes:
            s = self.per_class[c]
            lines.append(f"{c:>6} {s.precision:>9.3f} {s.recall:>7.3f} {s.dice:>6.3f} {s.iou:>6.3f}")
        lines.append(f"micro F1 {self.micro_f1:.3f}, macro F1 {self.macro_f1:.3f}, "
                     f"mean IoU {self.mean_iou:.3f}")
        return "\n".join(lines)


class MeanIoU(NamedTuple):
    """Mean IoU over classes (``mean``) and each class's IoU (``per_class``, a dict)."""

    mean: float
    per_class: dict


def _label_pair(prediction, truth, names=("prediction", "truth")):
    ndim = np.ndim(prediction)
    if ndim not in (2, 3):
        raise ValueError(
            f"`{names[0]}` must be a 2D (Y, X) or 3D (Z, Y, X) label image; got {ndim} dimensions."
        )
    prediction = check_labels(prediction, name=names[0], ndim=ndim)
    truth = check_labels(truth, name=names[1], ndim=ndim, like=prediction)
    return prediction, truth


def _check_class_list(values, name: str) -> tuple:
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if not values:
        raise ValueError(f"`{name}` must be a non-empty list of class labels, e.g. (1, 2); got {values!r}.")
    return tuple(dict.fromkeys(
        check_number(v, name, minimum=0, integer=True, hint="Class labels are integers >= 0.")
        for v in values
    ))


def f1_scores(prediction_labels, truth_labels, *, classes=None, ignore=None) -> ClassScores:
    """Per-class precision, recall and F1 of a multi-class label image, with micro and macro F1.

    Parameters
    ----------
    prediction_labels, truth_labels : array_like of int, shape (Y, X) or (Z, Y, X)
        Class of every voxel (e.g. 0 background, 1 nucleolus, 2 chromosome), same shape.
    classes : sequence of int, optional
        Classes to score. Default: every label found in either image, except ``ignore``. Pass
        e.g. ``(1, 2)`` to leave the background out of the averages. A class absent from both
        images scores 1.0 (nothing to find, nothing wrongly found).
    ignore : int, optional
        A truth label whose voxels are not counted at all (e.g. the outside-nucleus class that the
        loss ignored). Predictions of that label elsewhere count as misses of the true class.

    Returns
    -------
    ClassScores

    Examples
    --------
    >>> truth = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    >>> prediction = np.array([[0, 1, 1, 1], [2, 2, 0, 0]])
    >>> s = f1_scores(prediction, truth)
    >>> round(s.per_class[1].dice, 3), round(s.micro_f1, 3), round(s.macro_f1, 3)
    (0.8, 0.75, 0.756)
    """
    prediction, truth = _label_pair(prediction_labels, truth_labels, ("prediction_labels", "truth_labels"))
    if ignore is not None:
        ignore = check_number(ignore, "ignore", minimum=0, integer=True)
        keep = truth != ignore
        ignored = int(keep.size - np.count_nonzero(keep))
        prediction, truth = prediction[keep], truth[keep]
    else:
        ignored = 0
    if classes is None:
        found = np.union1d(np.unique(prediction), np.unique(truth))
        classes = tuple(int(c) for c in found if c != ignore)
        if not classes:
            raise ValueError("Every voxel is ignored; there is nothing to score. Check `ignore`.")
    else:
        classes = _check_class_list(classes, "classes")
        if ignore is not None and ignore in classes:
            raise ValueError(f"Class {ignore} is both scored (`classes`) and ignored (`ignore`); pick one.")
    per_class = {}
    for c in classes:
        p, t = prediction == c, truth == c
        tp = int(np.count_nonzero(p & t))
        per_class[c] = _from_counts(tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp)
    tp = sum(s.true_positives for s in per_class.values())
    fp = sum(s.false_positives for s in per_class.values())
    fn = sum(s.false_negatives for s in per_class.values())
    return ClassScores(
        classes=classes,
        per_class=per_class,
        micro_f1=_ratio(2 * tp, 2 * tp + fp + fn),
        macro_f1=float(np.mean([s.dice for s in per_class.values()])),
        mean_iou=float(np.mean([s.iou for s in per_class.values()])),
        ignored_voxels=ignored,
    )


def mean_iou(prediction_labels, truth_labels, *, classes=None, ignore=None) -> MeanIoU:
    """Mean intersection over union over classes, and each class's IoU.

    Parameters and class selection as in :func:`f1_scores`.

    Returns
    -------
    MeanIoU
        ``(mean, per_class)``: the mean over the scored classes and a dict class -> IoU.

    Examples
    --------
    >>> truth = np.array([[0, 0, 1, 1]]); prediction = np.array([[0, 1, 1, 1]])
    >>> m = mean_iou(prediction, truth); round(m.mean, 4), m.per_class
    (0.5833, {0: 0.5, 1: 0.6666666666666666})
    """
    s = f1_scores(prediction_labels, truth_labels, classes=classes, ignore=ignore)
    return MeanIoU(s.mean_iou, {c: s.per_class[c].iou for c in s.classes})


# --------------------------------------------------------------------------------------------
# objects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectMatches:
    """Object-level agreement: which predicted objects found which true objects.

    Attributes
    ----------
    true_positives : int
        Matched pairs (a predicted and a true object with IoU >= the threshold).
    false_positives : int
        Predicted objects left unmatched.
    false_negatives : int
        True objects left unmatched.
    precision, recall, f1 : float
        TP / (TP + FP), TP / (TP + FN), 2 TP / (2 TP + FP + FN); 1.0 when there is nothing to
        count.
    pairs : tuple of (int, int, float)
        (predicted label, true label, IoU) of every match, by decreasing IoU.
    n_predicted, n_truth : int
        Number of objects in each image.
    iou_threshold : float
        The threshold used.
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    pairs: tuple
    n_predicted: int
    n_truth: int
    iou_threshold: float

    def to_dict(self) -> dict:
        return asdict(self)


def _objects(array, name: str, ndim: int):
    """Label image of ``array``: connected components of a mask, the labels of a label image."""
    from scipy import ndimage

    array = np.asarray(array) if not isinstance(array, np.ndarray) else array
    if array.dtype == bool or (np.issubdtype(array.dtype, np.integer) and array.size
                               and np.unique(array[array != 0]).size <= 1):
        mask = check_mask(array, name=name, ndim=ndim)
        labels, _ = ndimage.label(mask, structure=np.ones((3,) * ndim, bool))
        return labels
    return check_labels(array, name=name, ndim=ndim)


def match_objects(prediction, truth, *, iou_threshold: float = 0.5) -> ObjectMatches:
    """Pair predicted and true objects one to one by overlap, and count hits and misses.

    Masks (bool arrays, or integer arrays with a single non-zero value such as 0/1 or 0/255) are
    split into connected components (26-connectivity in 3D, 8 in 2D; labels numbered as by
    ``scipy.ndimage.label``); other integer arrays are label images whose labels > 0 are the
    objects. A predicted and a true object can be paired when their IoU is at least
    ``iou_threshold``. The pairing is optimal: among those candidates, the one-to-one assignment
    with the largest summed IoU (``scipy.optimize.linear_sum_assignment``). Above 0.5 the candidates
    never compete (an object can overlap more than half of at most one other), so every candidate
    pair is a match.

    Parameters
    ----------
    prediction, truth : array_like of bool or int, shape (Y, X) or (Z, Y, X)
        Masks or label images of the same shape.
    iou_threshold : float
        In (0, 1]; 0.5 is the usual choice.

    Returns
    -------
    ObjectMatches

    Examples
    --------
    >>> truth = np.zeros((1, 3, 10), bool); truth[0, 1, 0:5] = True; truth[0, 1, 6:10] = True
    >>> prediction = np.zeros((1, 3, 10), bool); prediction[0, 1, 0:4] = True; prediction[0, 1, 9] = True
    >>> m = match_objects(prediction, truth)
    >>> m.true_positives, m.false_positives, m.false_negatives, m.pairs
    (1, 1, 1, ((1, 1, 0.8),))
    """
    ndim = np.ndim(prediction)
    if ndim not in (2, 3):
        raise ValueError(f"`prediction` must be a 2D (Y, X) or 3D (Z, Y, X) array; got {ndim} dimensions.")
    if np.shape(truth) != np.shape(prediction):
        raise ValueError(
            f"`truth` has shape {np.shape(truth)} but `prediction` has shape {np.shape(prediction)}; "
            "they must match voxel for voxel."
        )
    threshold = check_number(iou_threshold, "iou_threshold", minimum=0, maximum=1, min_inclusive=False,
                             hint="0.5 is the usual choice.")
    predicted = _objects(prediction, "prediction", ndim)
    true = _objects(truth, "truth", ndim)

    predicted_ids, predicted_sizes = np.unique(predicted[predicted > 0], return_counts=True)
    true_ids, true_sizes = np.unique(true[true > 0], return_counts=True)
    both = (predicted > 0) & (true > 0)
    pair_codes, overlaps = np.unique(
        predicted[both].astype(np.int64) * (int(true.max()) + 1) + true[both], return_counts=True
    )
    p_of_pair = pair_codes // (int(true.max()) + 1)
    t_of_pair = pair_codes % (int(true.max()) + 1)
    p_size = predicted_sizes[np.searchsorted(predicted_ids, p_of_pair)]
    t_size = true_sizes[np.searchsorted(true_ids, t_of_pair)]
    ious = overlaps / (p_size + t_size - overlaps)
    candidate = ious >= threshold
    p_c, t_c, iou_c = p_of_pair[candidate], t_of_pair[candidate], ious[candidate]

    if np.unique(p_c).size == p_c.size and np.unique(t_c).size == t_c.size:
        chosen = np.arange(p_c.size)
    else:  # objects competing for partners: optimal one-to-one assignment
        from scipy.optimize import linear_sum_assignment

        rows, p_index = np.unique(p_c, return_inverse=True)
        cols, t_index = np.unique(t_c, return_inverse=True)
        gain = np.zeros((rows.size, cols.size))
        gain[p_index, t_index] = iou_c
        r, c = linear_sum_assignment(gain, maximize=True)
        keep = gain[r, c] > 0
        lookup = {(i, j): k for k, (i, j) in enumerate(zip(p_index, t_index))}
        chosen = np.array([lookup[(i, j)] for i, j in zip(r[keep], c[keep])], dtype=np.intp)
    order = chosen[np.argsort(-iou_c[chosen], kind="stable")]
    pairs = tuple((int(p_c[k]), int(t_c[k]), float(iou_c[k])) for k in order)

    tp = len(pairs)
    fp = int(predicted_ids.size) - tp
    fn = int(true_ids.size) - tp
    return ObjectMatches(
        true_positives=tp, false_positives=fp, false_negatives=fn,
        precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn), f1=_ratio(2 * tp, 2 * tp + fp + fn),
        pairs=pairs, n_predicted=int(predicted_ids.size), n_truth=int(true_ids.size),
        iou_threshold=threshold,
    )


class ObjectAgreement(NamedTuple):
    """How well a mask agrees with one true object (see :func:`object_agreement`)."""

    coverage: float
    precision: float


def object_agreement(prediction, truth_labels, *, tolerance: int = 1) -> dict[int, ObjectAgreement]:
    """For each true object: how much of it the prediction covers, and how much of the prediction
    around it is right.

    Answers "was this object found?" when the prediction's objects need not match the truth's one to
    one: a nuclear envelope predicted as a thinner shell, or in several pieces, still covers most of
    its true envelope within a voxel; a filled blob where an envelope should be covers it too, but most
    of the blob is wrong, which the precision shows. An object counts as found when both pass a chosen
    fraction (0.5 is a fair default).

    Parameters
    ----------
    prediction : array_like of bool or int, shape (Z, Y, X)
        A mask (anything > 0 is foreground).
    truth_labels : array_like of int, shape (Z, Y, X)
        True objects, one label each (0 is background).
    tolerance : int
        A true voxel within ``tolerance`` voxels of the prediction counts as covered, and a predicted
        voxel within ``tolerance`` voxels of a true object counts as right (3 x 3 x 3 dilations).

    Returns
    -------
    dict
        label -> ``ObjectAgreement(coverage, precision)`` for every label > 0 in ``truth_labels``:
        ``coverage`` is the fraction of the object's voxels covered; ``precision`` the fraction of the
        predicted voxels nearer to this object than to any other that are right (1.0 when no predicted
        voxel is nearest to it).

    Examples
    --------
    >>> truth = np.zeros((1, 1, 12), int); truth[0, 0, :4] = 1; truth[0, 0, 8:] = 2
    >>> prediction = np.zeros((1, 1, 12), bool); prediction[0, 0, 1:3] = True; prediction[0, 0, 6] = True
    >>> {k: tuple(v) for k, v in object_agreement(prediction, truth, tolerance=0).items()}
    {1: (0.5, 1.0), 2: (0.0, 0.0)}
    >>> {k: tuple(v) for k, v in object_agreement(prediction, truth, tolerance=1).items()}
    {1: (1.0, 1.0), 2: (0.0, 0.0)}
    """
    from scipy import ndimage

    mask = check_mask(prediction, name="prediction")
    labels = check_labels(truth_labels, name="truth_labels", like=mask)
    tolerance = int(check_number(tolerance, "tolerance", minimum=0, maximum=10, integer=True,
                                 hint="1 voxel is usual; 0 counts exact overlap only."))
    cube = np.ones((3, 3, 3), bool)
    widened = ndimage.binary_dilation(mask, structure=cube, iterations=tolerance) if tolerance else mask
    near_truth = ndimage.binary_dilation(labels > 0, structure=cube, iterations=tolerance) if tolerance else labels > 0
    size = np.bincount(labels.reshape(-1), minlength=1)
    covered = np.bincount(labels[widened], minlength=size.size)
    present = [int(label) for label in np.flatnonzero(size) if label > 0]
    if not present:
        return {}
    if mask.any():
        nearest_index = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
        nearest = labels[tuple(index[mask] for index in nearest_index)]
        assigned = np.bincount(nearest, minlength=size.size)
        right = np.bincount(nearest[near_truth[mask]], minlength=size.size)
    else:
        assigned = right = np.zeros(size.size, np.int64)
    return {label: ObjectAgreement(float(covered[label] / size[label]),
                                   float(right[label] / assigned[label]) if assigned[label] else 1.0)
            for label in present}


# --------------------------------------------------------------------------------------------
# threshold sweep of a probability map
# --------------------------------------------------------------------------------------------

_SWEEP_METRICS = ("dice", "iou", "precision", "recall", "accuracy")


@dataclass(frozen=True)
class ThresholdSweep:
    """Scores of a probability map thresholded at several values.

    Attributes
    ----------
    rows : tuple of dict
        One dict per threshold (increasing): ``threshold``, ``dice``, ``iou``, ``precision``,
        ``recall``, ``accuracy`` and the voxel counts ``true_positives``, ``false_positives``,
        ``false_negatives``, ``true_negatives``.
    """

    rows: tuple

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        """One column of the table (e.g. ``"threshold"`` or ``"dice"``) as an array."""
        if not self.rows or name not in self.rows[0]:
            raise ValueError(f"No column {name!r}; choose one of: {', '.join(self.rows[0])}.")
        return np.array([row[name] for row in self.rows])

    def best(self, metric: str = "dice") -> dict:
        """The row with the highest ``metric`` (the lowest threshold among ties)."""
        if metric not in _SWEEP_METRICS:
            raise ValueError(f"`metric` = {metric!r} is not scored; choose one of: {', '.join(_SWEEP_METRICS)}.")
        return dict(self.rows[int(np.argmax(self.column(metric)))])

    def to_text(self) -> str:
        """The table as aligned text, one line per threshold."""
        header = f"{'threshold':>9} " + " ".join(f"{m:>9}" for m in _SWEEP_METRICS)
        lines = [header]
        for row in self.rows:
            lines.append(f"{row['threshold']:>9.3f} " + " ".join(f"{row[m]:>9.4f}" for m in _SWEEP_METRICS))
        return "\n".join(lines)


def threshold_sweep(probability, truth, thresholds=np.linspace(0.05, 0.95, 19)) -> ThresholdSweep:
    """Dice, IoU, precision, recall and accuracy of ``probability > t`` for every threshold t.

    Parameters
    ----------
    probability : array_like of float, shape (Y, X) or (Z, Y, X)
        Foreground probability of every voxel (e.g. ``predict(...)[1]``), values in [0, 1].
    truth : array_like of bool or int, shape like ``probability``
        True foreground mask.
    thresholds : sequence of float
        Values strictly between 0 and 1; sorted and de-duplicated.

    Returns
    -------
    ThresholdSweep
        ``.best("dice")`` gives the best row, ``.to_text()`` the table and
        :func:`plot_threshold_sweep` a figure.

    Examples
    --------
    >>> probability = np.array([[0.1, 0.4, 0.6, 0.9]]); truth = np.array([[0, 1, 1, 1]])
    >>> sweep = threshold_sweep(probability, truth, thresholds=[0.3, 0.5])
    >>> [round(row["dice"], 3) for row in sweep.rows], sweep.best("dice")["threshold"]
    ([1.0, 0.8], 0.3)
    """
    probability = check_probability(probability)
    ndim = probability.ndim
    truth = check_mask(truth, name="truth", ndim=ndim, like=probability)
    values = np.asarray(thresholds, dtype=float).ravel() if np.ndim(thresholds) <= 1 else None
    if values is None or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"`thresholds` must be a non-empty list of numbers, got {thresholds!r}.")
    if values.min() <= 0 or values.max() >= 1:
        raise ValueError(
            f"`thresholds` must lie strictly between 0 and 1; got values from {values.min():g} to "
            f"{values.max():g}."
        )
    n = truth.size
    n_true = int(np.count_nonzero(truth))
    truth_probabilities = probability[truth]
    rows = []
    for t in np.unique(values):
        positives = int(np.count_nonzero(probability > t))
        tp = int(np.count_nonzero(truth_probabilities > t))
        fp, fn = positives - tp, n_true - tp
        tn = n - tp - fp - fn
        s = _from_counts(tp, fp, fn)
        rows.append({"threshold": float(t), "dice": s.dice, "iou": s.iou, "precision": s.precision,
                     "recall": s.recall, "accuracy": (tp + tn) / n, "true_positives": tp,
                     "false_positives": fp, "false_negatives": fn, "true_negatives": tn})
    return ThresholdSweep(tuple(rows))


def plot_threshold_sweep(sweep: ThresholdSweep, *, metrics=_SWEEP_METRICS, best: str = "dice"):
    """Scores against threshold, one line per metric, the best threshold marked.

    Parameters
    ----------
    sweep : ThresholdSweep
        Output of :func:`threshold_sweep`.
    metrics : sequence of str
        Which scores to draw (default all: dice, iou, precision, recall, accuracy).
    best : str
        The metric whose best threshold gets a vertical dashed line.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot (nothing to close); it shows itself in a notebook and can be
        saved with ``figure.savefig(path)``.
    """
    if not isinstance(sweep, ThresholdSweep):
        raise ValueError(f"`sweep` must be the output of `threshold_sweep`, got {type(sweep).__name__}.")
    metrics = tuple(metrics) if not isinstance(metrics, str) else (metrics,)
    for m in metrics + (best,):
        if m not in _SWEEP_METRICS:
            raise ValueError(f"{m!r} is not a scored metric; choose from: {', '.join(_SWEEP_METRICS)}.")
    figure = _render.notebook_figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    thresholds = sweep.column("threshold")
    for m in metrics:
        axes.plot(thresholds, sweep.column(m), marker="o", markersize=3, label=m)
    top = sweep.best(best)
    axes.axvline(top["threshold"], color="0.4", linestyle="--",
                 label=f"best {best} {top[best]:.3f} at {top['threshold']:.2f}")
    axes.set_xlabel("threshold")
    axes.set_ylabel("score")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower center", fontsize="small")
    return figure
