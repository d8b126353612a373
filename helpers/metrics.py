"""Agreement between a segmentation and a ground truth: Dice, IoU, precision, recall.

Voxel-wise scores of binary masks, for 2D or 3D arrays. Label images are accepted and read as masks
(every label > 0 is foreground). When neither mask has any foreground the two agree perfectly and
every score is 1.0; when exactly one is empty, Dice and IoU are 0.0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._checks import check_mask

__all__ = ["Scores", "scores", "dice", "iou", "precision", "recall"]


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
