"""Histogram matching: give a new volume the grey-level distribution of the training data.

A network trained on volumes of one contrast sees a volume acquired with other detector settings
(brightness, contrast, a gamma) as something new, and its accuracy drops. The FIB-SEM study of
sub-nuclear structures (NETWORKS.md) brings a new volume's contrast to the training data's by
histogram matching before prediction. :func:`match_histogram` does it by quantile mapping: every
voxel's value v is replaced by the reference value at the same quantile, ``Q_ref(F_image(v))``,
where ``F_image`` is the image's empirical cumulative distribution (each distinct value at the
middle of its step) and ``Q_ref`` the reference's quantile function, interpolated linearly between
the reference's distinct values. The mapping is monotone (brighter stays brighter), maps the image
onto the reference's range, and is the identity when the image is the reference. It undoes any
strictly increasing grey-level change (linear, gamma) up to the loss from merged grey levels.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_image, check_mask

__all__ = ["match_histogram"]


def _distribution(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, cumulative probability at the middle of each value's step)."""
    distinct, counts = np.unique(values, return_counts=True)
    cumulative = np.cumsum(counts, dtype=np.float64)
    return distinct, (cumulative - counts / 2.0) / cumulative[-1]


def match_histogram(image, reference, *, mask=None, reference_mask=None) -> np.ndarray:
    """Map the image's grey levels so that their distribution matches the reference's.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        The volume to change (any real dtype).
    reference : array_like, shape (Z', Y', X')
        A volume with the wanted contrast, e.g. a training volume; its shape may differ.
    mask : array_like of bool, shape (Z, Y, X), optional
        The voxels of ``image`` whose distribution is matched (e.g. inside the nucleus); the mapping
        learnt from them is applied to every voxel. Default: all voxels.
    reference_mask : array_like of bool, shape (Z', Y', X'), optional
        The voxels of ``reference`` that define the wanted distribution. Default: all voxels.

    Returns
    -------
    numpy.ndarray, shape (Z, Y, X)
        A new array of the reference's dtype: rounded for an integer reference (the values stay
        within the reference's range, so nothing overflows); float16 references give float32.
        Values lie within the reference's (masked) minimum and maximum.

    Raises
    ------
    ValueError
        For a non-3D, empty, boolean or non-finite image or reference, a mask of the wrong shape,
        or a mask that selects no voxel.

    Notes
    -----
    Monotone: ``image[a] <= image[b]`` implies ``result[a] <= result[b]``. Voxels of the same value
    get the same value, so an image with few grey levels cannot take on every reference level.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.normal(100, 10, (4, 16, 16))
    >>> darker = 0.5 * reference - 20  # a linear contrast change
    >>> bool(np.allclose(match_histogram(darker, reference), reference, atol=1e-3))
    True
    """
    source = check_image(image, dtype=np.float64)
    target = check_image(reference, name="reference", dtype=np.float64)
    chosen = source if mask is None else source[check_mask(mask, like=source)]
    wanted = target if reference_mask is None else target[check_mask(reference_mask, name="reference_mask",
                                                                      like=target)]
    if chosen.size == 0:
        raise ValueError("`mask` selects no voxel of the image; pass a mask with some True voxels, or None for all.")
    if wanted.size == 0:
        raise ValueError("`reference_mask` selects no voxel of the reference; pass a mask with some True voxels, "
                         "or None for all.")
    source_values, source_quantiles = _distribution(chosen)
    target_values, target_quantiles = _distribution(wanted)
    # Every distinct image value -> its quantile -> the reference value at that quantile.
    mapped_levels = np.interp(source_quantiles, target_quantiles, target_values)
    # Values between (or, with a mask, beyond) the learnt levels: linear between neighbouring levels,
    # clamped at the ends, which keeps the mapping monotone and inside the reference's range.
    mapped = np.interp(source, source_values, mapped_levels)
    dtype = np.asarray(reference).dtype
    if np.issubdtype(dtype, np.integer):
        return np.rint(mapped).astype(dtype)
    return mapped.astype(np.promote_types(dtype, np.float32))
