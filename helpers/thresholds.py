"""Thresholds (workflow step 2): global methods and the masked-object (MO) threshold.

The masked-object threshold segments objects of very different brightness (e.g. nucleoli in bright
and dim cells) in two levels: a low global threshold finds each object's extent, then an Otsu
threshold computed inside each object finds its bright core.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import filters
from skimage.morphology import ball

from ._checks import check_choice, check_image, check_mask, check_number
from .morphology import remove_small_objects

__all__ = [
    "GLOBAL_METHODS",
    "global_threshold",
    "masked_object_threshold_low",
    "masked_object_threshold_high",
    "masked_object_threshold",
]

#: Fraction of the whole image's Otsu threshold below which an object is dropped (``extra_criteria``).
EXTRA_CRITERIA_FRACTION = 0.333
#: Radius (voxels) of the ball by which the low-level mask is optionally dilated.
DILATION_RADIUS = 2

_SKIMAGE_METHODS = {
    "otsu": filters.threshold_otsu,
    "triangle": filters.threshold_triangle,
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "isodata": filters.threshold_isodata,
    "mean": filters.threshold_mean,
    "minimum": filters.threshold_minimum,
}
#: Names accepted by :func:`global_threshold` (the MO low level uses triangle, median, ave_tri_med).
GLOBAL_METHODS = ("triangle", "median", "ave_tri_med", "otsu", "li", "yen", "isodata", "mean", "minimum")
_ALIASES = {"tri": "triangle", "med": "median", "ave": "ave_tri_med"}


def _threshold_value(work: np.ndarray, method: str):
    """The threshold as a NumPy scalar of the image's precision.

    The arithmetic is done on NumPy scalars, in the reference's order, so that the threshold is
    bit-identical to the reference's (float32 rounding decides voxels at the threshold).
    """
    if method == "median":
        return np.percentile(work, 50)
    if method == "ave_tri_med":
        return (filters.threshold_triangle(work) + np.percentile(work, 50)) / 2
    try:
        return _SKIMAGE_METHODS[method](work)
    except RuntimeError as error:  # e.g. "minimum" on a histogram without two peaks
        raise ValueError(
            f"The {method!r} threshold could not be computed for this image ({error}); try another "
            "method such as 'otsu' or 'triangle'."
        ) from error


def _checked_method(method) -> str:
    if isinstance(method, str):
        method = _ALIASES.get(method.lower(), method)
    return check_choice(method, "method", GLOBAL_METHODS)


def _require_contrast(work: np.ndarray) -> None:
    if work.min() == work.max():
        raise ValueError(
            f"The image is constant (every voxel is {work.min():g}); there is nothing to threshold. "
            "Check that the right channel was read."
        )


def global_threshold(image, *, method: str = "otsu") -> float:
    """One intensity threshold for the whole image.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    method : str
        ``"triangle"``, ``"median"`` (the 50th percentile), ``"ave_tri_med"`` (mean of those two),
        or one of scikit-image's ``"otsu"``, ``"li"``, ``"yen"``, ``"isodata"``, ``"mean"``,
        ``"minimum"`` (256-bin histograms). ``"tri"``, ``"med"`` and ``"ave"`` are accepted as in the
        reference.

    Returns
    -------
    float
        Voxels strictly above it are foreground.

    Raises
    ------
    ValueError
        For an unknown method or a constant image (no threshold separates anything).
    """
    work = check_image(image)
    method = _checked_method(method)
    _require_contrast(work)
    return float(_threshold_value(work, method))


def masked_object_threshold_low(image, *, method: str = "triangle", min_size: int = 700,
                                dilate: bool = False) -> np.ndarray:
    """Masked-object threshold, low level (MO_LOW): the extent of every object.

    Voxels above a global threshold, keeping connected components (face connectivity) of at
    least ``min_size`` voxels, optionally dilated by a ball of radius 2.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Usually normalized and smoothed.
    method : str
        ``"triangle"``, ``"median"`` or ``"ave_tri_med"`` (see :func:`global_threshold`; the other
        global methods work too).
    min_size : int
        Smallest object kept, in voxels (the lookup table's ``min_area``).
    dilate : bool
        Grow the objects by 2 voxels, so the high level sees a margin of background around each.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    work = check_image(image)
    method = _checked_method(method)
    min_size = check_number(min_size, "min_size", minimum=0, integer=True)
    _require_contrast(work)
    objects = remove_small_objects(work > _threshold_value(work, method), min_size=min_size)
    if dilate:
        objects = ndimage.binary_dilation(objects, structure=ball(DILATION_RADIUS).astype(bool))
    return objects


def masked_object_threshold_high(image, objects, *, local_adjust: float = 1.0,
                                 extra_criteria: bool = False) -> np.ndarray:
    """Masked-object threshold, high level (MO_HIGH): the bright part of each object.

    Within each connected component (face connectivity) of ``objects``, the Otsu threshold t of the
    image inside that component is computed; the component's voxels brighter than
    ``local_adjust * t`` are kept.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    objects : array_like of bool, shape (Z, Y, X)
        The low-level mask (see :func:`masked_object_threshold_low`).
    local_adjust : float
        Factor on each object's Otsu threshold (below 1 keeps more, above 1 less); in [0, 2].
    extra_criteria : bool
        Drop an object entirely when its own threshold t is at most 0.333 times the Otsu
        threshold of the whole image (a dim object in a bright field is background).

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    work = check_image(image)
    objects = check_mask(objects, name="objects", like=work)
    local_adjust = check_number(local_adjust, "local_adjust", minimum=0.0, maximum=2.0)
    labels, count = ndimage.label(objects)
    result = np.zeros(work.shape, dtype=bool)
    if count == 0:
        return result
    cutoff = None
    if extra_criteria:
        _require_contrast(work)
        cutoff = EXTRA_CRITERIA_FRACTION * filters.threshold_otsu(work)
    # Each object is handled inside its bounding box: the same voxels, far less work.
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        inside = labels[box] == index
        values = work[box][inside]
        local = filters.threshold_otsu(values)
        if cutoff is not None and not local > cutoff:
            continue
        keep = inside & (work[box] > local * local_adjust)
        result[box] |= keep
    return result


def masked_object_threshold(image, *, method: str = "triangle", min_size: int = 700,
                            local_adjust: float = 1.0, extra_criteria: bool = False,
                            dilate: bool = False) -> np.ndarray:
    """Masked-object threshold (MO): the low level followed by the high level.

    See :func:`masked_object_threshold_low` and :func:`masked_object_threshold_high` for the
    parameters.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    objects = masked_object_threshold_low(image, method=method, min_size=min_size, dilate=dilate)
    return masked_object_threshold_high(image, objects, local_adjust=local_adjust,
                                        extra_criteria=extra_criteria)
