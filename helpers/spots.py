"""Spot filters (workflow step 2): scale-normalized Laplacian of Gaussian in 3D (S3) or per slice (S2).

The response ``-sigma^2 * LoG_sigma(image)`` is large and positive at bright blobs of radius about
``sigma * sqrt(dimensions)``; thresholding it at a cutoff gives the spots. Several (sigma, cutoff)
pairs can be OR-ed for spots of different sizes. Border handling and kernel size follow
``scipy.ndimage.gaussian_laplace`` (mode "reflect", truncated at 4 sigma), as in the reference, so
preset cutoffs keep their meaning.
"""

from __future__ import annotations

import numpy as np
from . import _separable
from ._checks import check_image, check_number
from ._scales import check_scales, union_over_scales

__all__ = ["spot_response_3d", "spot_filter_3d", "spot_response_2d", "spot_filter_2d"]

_CUTOFF_RANGE = (0.0, np.inf)
_CUTOFF_HINT = "Preset cutoffs are 0.001 to 0.1 for normalized images; it must not be negative."


def _check_sigma(sigma) -> float:
    return check_number(sigma, "sigma", minimum=0.0, min_inclusive=False,
                        hint="sigma is about the spot radius in voxels; try 1.")


def _response(work: np.ndarray, sigma: float, sigmas) -> np.ndarray:
    # The same passes, in the same order, as scipy.ndimage.gaussian_laplace (on each slice for
    # sigma 0 along z), spread over the cores; identical results, see helpers._separable.
    response = _separable.gaussian_laplace(work, sigmas)
    response *= np.float32(-(sigma**2))
    return response


def _response_3d(work: np.ndarray, sigma: float) -> np.ndarray:
    return _response(work, sigma, (sigma, sigma, sigma))


def _response_2d(work: np.ndarray, sigma: float) -> np.ndarray:
    return _response(work, sigma, (0.0, sigma, sigma))


def spot_response_3d(image, *, sigma: float) -> np.ndarray:
    """3D spot response (S3 before the cutoff): ``-sigma^2 * LoG_sigma(image)``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Usually normalized and smoothed.
    sigma : float
        Scale in voxels (> 0); about the spot radius divided by sqrt(3).

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
        Positive at bright spots, negative around them.
    """
    work = check_image(image)
    return _response_3d(work, _check_sigma(sigma))


def spot_filter_3d(image, *, scales) -> np.ndarray:
    """3D spot filter (S3): voxels whose spot response exceeds the cutoff at any scale.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    scales : list of (sigma, cutoff)
        ``sigma`` in voxels (> 0), ``cutoff`` >= 0 on the response, e.g. ``[(1, 0.04)]``.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    work = check_image(image)
    pairs = check_scales(scales, cutoff_range=_CUTOFF_RANGE, cutoff_hint=_CUTOFF_HINT)
    return union_over_scales(work, pairs, _response_3d)


def spot_response_2d(image, *, sigma: float) -> np.ndarray:
    """Spot response of each z-slice in 2D (S2 before the cutoff): ``-sigma^2 * LoG_sigma(slice)``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    sigma : float
        Scale in pixels (> 0); about the spot radius divided by sqrt(2).

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
    """
    work = check_image(image)
    return _response_2d(work, _check_sigma(sigma))


def spot_filter_2d(image, *, scales) -> np.ndarray:
    """Slice-by-slice 2D spot filter (S2): spot response above the cutoff at any scale.

    For spots well resolved within a slice but smeared along z, and (on an inverted image) for
    dark holes inside bright structures.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    scales : list of (sigma, cutoff)
        ``sigma`` in pixels (> 0), ``cutoff`` >= 0, e.g. ``[(1.5, 0.01)]``.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    work = check_image(image)
    pairs = check_scales(scales, cutoff_range=_CUTOFF_RANGE, cutoff_hint=_CUTOFF_HINT)
    return union_over_scales(work, pairs, _response_2d)
