"""Per-voxel error weighting for training: weight floor + class balancing + edge term.

The 2D-3D hybrid networks for dense cellular segmentation in serial-block-face EM train with a loss
weighted voxel by voxel, the sum of three terms:

- a **floor**, the same for every voxel, so that nothing counts for nothing;
- **class balancing**: a voxel of class c weighs ``1 / (K f_c)``, f_c the fraction of the counted voxels
  in class c and K the number of classes present, so that every class carries the same total weight
  (a rare organelle class counts as much as the abundant cytoplasm);
- an **edge term**: ``edge_weight * exp(-d^2 / (2 edge_sigma^2))``, d the distance in voxels to the
  nearest boundary between two classes, so that thin boundaries between touching objects are not
  smoothed away.

:func:`error_weights` computes the array; ``TrainingConfig(weighting={...})`` multiplies every training
example's cost map by it (a cost of 0, e.g. an excluded region or the ignored class, stays 0).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_number

__all__ = ["error_weights", "class_boundaries", "check_weighting"]

#: The settings of :func:`error_weights` and their defaults.
DEFAULTS = {"floor": 0.1, "class_balance": True, "edge_weight": 1.0, "edge_sigma": 2.0}


def check_weighting(weighting) -> dict:
    """The weighting settings with defaults filled in; ValueError for unknown keys or bad values."""
    if weighting is None:
        return {}
    if not isinstance(weighting, dict):
        raise ValueError(f"`weighting` must be a dict such as {DEFAULTS}, got {type(weighting).__name__}.")
    unknown = sorted(set(weighting) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown weighting setting(s) {unknown}; allowed: {sorted(DEFAULTS)}.")
    settings = {**DEFAULTS, **weighting}
    check_number(settings["floor"], "floor", minimum=0)
    check_number(settings["edge_weight"], "edge_weight", minimum=0)
    check_number(settings["edge_sigma"], "edge_sigma", minimum=0, min_inclusive=False)
    if not isinstance(settings["class_balance"], bool):
        raise ValueError(f"`class_balance` must be True or False, got {settings['class_balance']!r}.")
    if settings["floor"] == 0 and settings["edge_weight"] == 0 and not settings["class_balance"]:
        raise ValueError("With floor 0, edge_weight 0 and no class balancing every weight would be 0; "
                         "raise the floor (e.g. 0.1) or turn class_balance on.")
    return settings


def class_boundaries(classes, counted=None) -> np.ndarray:
    """Voxels with a face neighbour (6-connectivity) of another class: bool, the shape of ``classes``.

    With ``counted`` (bool, same shape), only pairs of counted voxels are compared: a voxel next to an
    uncounted (ignored) one is not on a boundary for that reason.
    """
    classes = np.asarray(classes)
    edge = np.zeros(classes.shape, bool)
    for axis in range(classes.ndim):
        if classes.shape[axis] < 2:
            continue
        before = [slice(None)] * classes.ndim
        after = [slice(None)] * classes.ndim
        before[axis], after[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(before), tuple(after)
        differ = classes[a] != classes[b]
        if counted is not None:
            differ &= counted[a] & counted[b]
        edge[a] |= differ
        edge[b] |= differ
    return edge


def error_weights(classes, *, floor: float = 0.1, class_balance: bool = True, edge_weight: float = 1.0,
                  edge_sigma: float = 2.0, ignore_class: int | None = None) -> np.ndarray:
    """Weight of every voxel in the training loss: floor + class balancing + edge term.

    Parameters
    ----------
    classes : array_like of int, shape (Z, Y, X) (or (Y, X))
        The ground truth class of every voxel.
    floor : float
        Added to every voxel (>= 0).
    class_balance : bool
        Add ``1 / (K f_c)`` for a voxel of class c (f_c its class's share of the counted voxels, K the
        number of classes present); without it, add 1 to every voxel.
    edge_weight, edge_sigma : float
        Height (>= 0; 0 turns the term off) and width in voxels (> 0) of the Gaussian edge term
        around the boundaries between classes (:func:`class_boundaries`).
    ignore_class : int, optional
        Voxels of this class weigh 0 and are left out of the class frequencies; boundaries with them
        are not edges.

    Returns
    -------
    numpy.ndarray of float32, the shape of ``classes``

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((1, 4, 4), int); truth[0, 0, 0] = 1        # 1 voxel of 16 in class 1
    >>> w = error_weights(truth, floor=0.0, edge_weight=0.0)
    >>> float(w[0, 0, 0]), round(float(w[0, 3, 3]), 4)             # 1/(2 * 1/16), 1/(2 * 15/16)
    (8.0, 0.5333)
    """
    from scipy import ndimage

    settings = check_weighting({"floor": floor, "class_balance": class_balance, "edge_weight": edge_weight,
                                "edge_sigma": edge_sigma})
    classes = np.asarray(classes)
    if classes.ndim not in (2, 3) or classes.size == 0:
        raise ValueError(f"`classes` must be a non-empty (Z, Y, X) or (Y, X) array; got shape {classes.shape}.")
    if not np.issubdtype(classes.dtype, np.integer) and classes.dtype != bool:
        raise ValueError(f"`classes` must hold whole-number class ids, got dtype {classes.dtype}.")
    classes = classes.astype(np.int64)
    counted = np.ones(classes.shape, bool) if ignore_class is None else classes != ignore_class
    weights = np.full(classes.shape, settings["floor"], np.float64)
    if settings["class_balance"]:
        values, counts = np.unique(classes[counted], return_counts=True)
        if values.size:
            share = counts / counts.sum()
            lookup = dict(zip(values.tolist(), (1.0 / (values.size * share)).tolist()))
            for value, weight in lookup.items():
                weights[classes == value] += weight
    else:
        weights += 1.0
    if settings["edge_weight"] > 0:
        edges = class_boundaries(classes, None if ignore_class is None else counted)
        if edges.any():
            distance = ndimage.distance_transform_edt(~edges)
            weights += settings["edge_weight"] * np.exp(-(distance ** 2) / (2 * settings["edge_sigma"] ** 2))
    weights[~counted] = 0
    return weights.astype(np.float32)

