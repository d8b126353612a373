"""Filament (vesselness) filters (workflow step 2): 3D (F3) and slice-by-slice 2D (F2).

Both enhance bright curvilinear structures (tubules, fibres, sheets seen edge-on) with the
vesselness of Jerman et al. (2016) computed from the eigenvalues of the scale-normalized Hessian,
and threshold it at a cutoff. Several (sigma, cutoff) pairs can be OR-ed to catch thin and thick
structures at once. The numbers match the reference segmenter (``aicssegmentation`` 0.5.3), so preset
cutoffs keep their meaning; the work is done in compiled kernels that never store the full Hessian.

References
----------
T. Jerman, F. Pernus, B. Likar, Z. Spiclin, "Enhancement of vascular structures in 3D and 2D
angiographic images", IEEE Transactions on Medical Imaging 35(9), 2016.
"""

from __future__ import annotations

import numpy as np
from . import _hessian_kernels as kernels
from . import _separable
from ._checks import check_image, check_number
from ._scales import check_scales, union_over_scales

__all__ = [
    "hessian_eigenvalues_3d",
    "filament_response_3d",
    "filament_filter_3d",
    "filament_response_2d",
    "filament_filter_2d",
]

#: Jerman's regularization parameter; 1 in every reference workflow.
TAU = 1.0
#: Columns at the right edge of every slice that F2 leaves at 0 (reference behaviour, see F2).
F2_EDGE_COLUMNS = 3
_TRUNCATE = 3.0
_CUTOFF_HINT = "The vesselness lies in [0, 1]; preset cutoffs are 0.005 to 0.5."


def _check_sigma(sigma) -> float:
    return check_number(sigma, "sigma", minimum=0.0, min_inclusive=False,
                        hint="sigma is about the filament radius in voxels; try 1.")


def _smooth(image: np.ndarray, sigma) -> np.ndarray:
    return _separable.gaussian_filter(image, sigma, mode="nearest", truncate=_TRUNCATE)


def _require_length(image: np.ndarray, axes, what: str) -> None:
    for axis in axes:
        if image.shape[axis] < 2:
            raise ValueError(
                f"{what} needs at least 2 voxels along axis {'ZYX'[axis]}, but the image has shape "
                f"{image.shape}." + (" For a single slice use the 2D filter (F2)." if axis == 0 else "")
            )


def hessian_eigenvalues_3d(image, *, sigma: float) -> np.ndarray:
    """Eigenvalues of the scale-normalized 3D Hessian, ordered by magnitude.

    The image is smoothed with a Gaussian (``sigma`` voxels, "nearest" borders, truncated at
    3 sigma); second derivatives are ``numpy.gradient`` applied twice, times ``sigma**2``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    sigma : float
        Scale in voxels (> 0).

    Returns
    -------
    numpy.ndarray of float32, shape (3, Z, Y, X)
        ``[l1, l2, l3]`` with ``|l1| <= |l2| <= |l3|`` at every voxel. Bright tubes have
        ``l2, l3 < 0`` and ``l1`` near 0.
    """
    work = check_image(image)
    sigma = _check_sigma(sigma)
    _require_length(work, (0, 1, 2), "The 3D Hessian")
    out = np.empty((3,) + work.shape, dtype=np.float32)
    minima = np.empty(work.shape[0], dtype=np.float32)
    kernels.hessian_eigenvalues_3d(_smooth(work, sigma), sigma * sigma, out[0], out[1], out[2], minima)
    return out


def filament_response_3d(image, *, sigma: float) -> np.ndarray:
    """3D filament (vesselness) response R at one scale (F3 before the cutoff).

    With ``l2``, ``l3`` the middle and largest-magnitude Hessian eigenvalues (see
    :func:`hessian_eigenvalues_3d`) and ``m`` the minimum of ``l3`` over the whole volume:
    ``lr = m`` where ``m < l3 < 0`` (tau = 1), else ``lr = l3``;
    ``R = 27 l2^2 |lr - l2| / (2|l2| + |lr - l2|)^3``, ``R = 1`` where ``l2 < lr / 2``,
    ``R = 0`` where ``l2 >= 0`` or ``l3 >= 0``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Usually normalized and smoothed.
    sigma : float
        Scale in voxels (> 0), about the radius of the filaments to enhance.

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
        Response in [0, 1]. Because ``m`` is taken over the whole volume, cropping the image
        changes the response slightly.
    """
    work = check_image(image)
    sigma = _check_sigma(sigma)
    _require_length(work, (0, 1, 2), "The 3D filament filter")
    return _response_3d(work, sigma)


def _response_3d(work: np.ndarray, sigma: float) -> np.ndarray:
    # The kernel builds the Hessian plane by plane (numpy.gradient applied twice, the reference's
    # exact arithmetic) and keeps only the two eigenvalues the response needs.
    smoothed = _smooth(work, sigma)
    middle = np.empty(work.shape, dtype=np.float32)
    large = np.empty(work.shape, dtype=np.float32)
    minima = np.empty(work.shape[0], dtype=np.float32)
    unused_small = np.empty((1, 1, 1), dtype=np.float32)
    kernels.hessian_eigenvalues_3d(smoothed, sigma * sigma, unused_small, middle, large, minima)
    del smoothed
    tau_min = np.float32(TAU) * minima.min()
    kernels.vesselness_3d(middle, large, tau_min, middle)  # the response replaces `middle`
    return middle


def filament_filter_3d(image, *, scales) -> np.ndarray:
    """3D filament filter (F3): voxels whose vesselness exceeds the cutoff at any scale.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Usually normalized and smoothed (edge-preserving smoothing in most presets).
    scales : list of (sigma, cutoff)
        One or more scales: ``sigma`` in voxels (> 0) and the response ``cutoff`` in [0, 1].
        E.g. ``[(1, 0.01)]`` for microtubules, ``[(2, 0.1), (1, 0.04)]`` for actin.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)

    See Also
    --------
    filament_response_3d : the response thresholded here.
    filament_filter_2d : the slice-by-slice variant for structures resolved in 2D only.
    """
    work = check_image(image)
    pairs = check_scales(scales, cutoff_hint=_CUTOFF_HINT)
    _require_length(work, (0, 1, 2), "The 3D filament filter")
    return union_over_scales(work, pairs, _response_3d)


def _large_eigenvalue_2d(side_by_side: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Larger-magnitude 2D Hessian eigenvalue of each (Y, X) slice of a (Z, Y, X) array, and its
    per-slice minimum."""
    smoothed = _smooth(side_by_side, (0.0, sigma, sigma))
    gy, gx = np.gradient(smoothed, axis=(1, 2))
    del smoothed
    large = np.empty(side_by_side.shape, dtype=np.float32)
    minima = np.empty(side_by_side.shape[0], dtype=np.float32)
    kernels.hessian_large_eigenvalue_2d(gy, gx, sigma * sigma, large, minima)
    return large, minima


def _response_2d_independent(work: np.ndarray, sigma: float) -> np.ndarray:
    """F2 response of each slice on its own (its own minimum, all columns)."""
    large, minima = _large_eigenvalue_2d(work, sigma)
    out = np.zeros(work.shape, dtype=np.float32)
    kernels.vesselness_2d(large, (np.float32(TAU) * minima).astype(np.float32), work.shape[2], out)
    return out


def _response_2d(work: np.ndarray, sigma: float, shared_scale: bool = True,
                 projection: np.ndarray | None = None) -> np.ndarray:
    """F2 response with the reference's side-by-side maximum projection, computed economically.

    The reference filters, for every slice, the array [slice | projection] (width 2X). A value of
    the Hessian at column j depends only on input columns j - (r + 2) .. j + (r + 2), r being the
    Gaussian radius, so the projection's columns farther than r + 2 from the seam give the same
    eigenvalues for every slice. They are computed once; per slice only the slice plus a band of
    the projection wide enough for exact values near the seam is filtered. The result is
    bit-identical to filtering the full side-by-side array (see tests).

    ``projection`` is the maximum projection of the whole stack when ``work`` holds only some of its
    slices (block-wise runs, :mod:`helpers.chunked`); each slice's response is then exactly what the
    whole stack gives it. By default it is ``work``'s own projection.
    """
    if not shared_scale:
        return _response_2d_independent(work, sigma)
    nz, ny, nx = work.shape
    projection = work.max(axis=0) if projection is None else projection
    radius = int(_TRUNCATE * sigma + 0.5)  # scipy's kernel radius
    reach = radius + 2  # + 2 columns for the two successive central differences
    band = 2 * (reach + 1)
    if nx > band + reach:
        projection_large, projection_min = _large_eigenvalue_2d(projection[np.newaxis], sigma)
        shared_min = projection_large[0, :, reach:].min()
        exact = nx + reach + 1  # columns of [slice | band] whose values are exact
        width = nx + band
    else:  # small images: filter the full side-by-side array
        shared_min, exact, width = np.float32(np.inf), 2 * nx, 2 * nx
    out = np.zeros(work.shape, dtype=np.float32)
    n_columns = max(nx - F2_EDGE_COLUMNS, 0)
    chunk = max(1, min(nz, int(2**24 // max(1, ny * width))))  # bound the memory
    for start in range(0, nz, chunk):
        stop = min(nz, start + chunk)
        side_by_side = np.empty((stop - start, ny, width), dtype=np.float32)
        side_by_side[:, :, :nx] = work[start:stop]
        side_by_side[:, :, nx:] = projection[:, : width - nx]
        large, _ = _large_eigenvalue_2d(side_by_side, sigma)
        minima = np.minimum(large[:, :, :exact].min(axis=(1, 2)), shared_min)
        tau_min = (np.float32(TAU) * minima).astype(np.float32)
        kernels.vesselness_2d(large, tau_min, n_columns, out[start:stop])
    return out


def filament_response_2d(image, *, sigma: float, shared_scale: bool = True) -> np.ndarray:
    """2D filament (vesselness) response of every z-slice (F2 before the cutoff).

    Per slice, with ``l2`` the larger-magnitude eigenvalue of the scale-normalized 2D Hessian and
    ``m`` its minimum: ``lr = m`` where ``m <= l2 < 0`` (tau = 1), else ``lr = l2``;
    ``R = 27 l2^2 |lr - l2| / (2|l2| + |lr - l2|)^3``, ``R = 1`` where ``l2 < lr / 2``,
    ``R = 0`` where ``l2 >= 0``.

    Reference behaviour kept on purpose: each slice is filtered placed side by side (along x)
    with the maximum projection of the whole stack, and ``m`` is taken over that pair, so that all
    slices share one brightness scale (a dim slice does not get its faint texture stretched to
    full response). As a side effect the last 3 columns (largest x) of every slice are 0. Keeping
    this makes preset cutoffs mean the same as in the reference.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    sigma : float
        Scale in pixels (> 0).
    shared_scale : bool
        True (default): the reference behaviour above. False: every slice is filtered on its own,
        with its own minimum and no zeroed columns (what the reference does for a single 2D image,
        e.g. the middle slice used for nuclear-envelope seeds).

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
        Response in [0, 1].
    """
    work = check_image(image)
    sigma = _check_sigma(sigma)
    _require_length(work, (1, 2), "The 2D filament filter")
    return _response_2d(work, sigma, bool(shared_scale))


def filament_filter_2d(image, *, scales, shared_scale: bool = True) -> np.ndarray:
    """2D filament filter (F2), slice by slice: vesselness above the cutoff at any scale.

    For structures that look curvilinear within each slice but are poorly resolved along z
    (endoplasmic reticulum, mitochondria, the nuclear envelope in mitosis). See
    :func:`filament_response_2d` for the response and the reference behaviour it keeps.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    scales : list of (sigma, cutoff)
        ``sigma`` in pixels (> 0) and ``cutoff`` in [0, 1], e.g. ``[(1, 0.15)]``.
    shared_scale : bool
        See :func:`filament_response_2d` (False filters each slice on its own).

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    work = check_image(image)
    pairs = check_scales(scales, cutoff_hint=_CUTOFF_HINT)
    _require_length(work, (1, 2), "The 2D filament filter")
    shared_scale = bool(shared_scale)
    return union_over_scales(work, pairs, lambda image, sigma: _response_2d(image, sigma, shared_scale))
