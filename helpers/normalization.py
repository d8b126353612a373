"""Intensity normalization (workflow step 1): min-max (MM), auto-contrast (AC, AC4) and percentile scaling.

Every function returns a new float32 image in [0, 1] (:func:`percentile_scale` optionally 8-bit
0..255 instead) and never modifies its input. The formulas
follow the reference segmenter exactly (including its ``+ 1e-8`` guard), so preset parameter values
mean the same here. One deliberate difference: float32 rounding can make the reference return
values up to about 1 + 1e-6; here the brightest voxel maps to exactly 1, so a following INVERT
(``1 - x``) never sees values outside [0, 1] (tests/test_properties.py checks the range).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_image, check_number

__all__ = [
    "min_max_normalize",
    "auto_contrast",
    "auto_contrast_in_range",
    "suggest_auto_contrast",
    "percentile_scale",
]

_GUARD = 1e-8


def _fit_normal(values: np.ndarray) -> tuple[np.float32, np.float32]:
    """Maximum-likelihood normal fit: the mean and the (ddof=0) standard deviation.

    Computed in float32 with NumPy's pairwise summation, exactly as the reference does
    (``scipy.stats.norm.fit`` on float32 data), so that the normalized image is bit-identical.
    """
    flat = values.ravel()
    mean = flat.mean(dtype=np.float32)
    deviation = flat - mean
    deviation *= deviation
    return mean, np.sqrt(deviation.mean(dtype=np.float32))


def _stretch(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to [low, high] and rescale: ``(x - low + 1e-8) / (high - low + 1e-8)``.

    Numerator and denominator use the same float32 operations, so the brightest voxel maps to
    exactly 1 and nothing leaves [0, 1] through rounding.
    """
    low32, high32 = np.float32(low), np.float32(high)
    guard = np.float32(_GUARD)
    out = np.clip(image, low32, high32)
    out -= low32
    out += guard
    out /= (high32 - low32) + guard
    return out


def _require_not_constant(image: np.ndarray, name: str = "image") -> None:
    low, high = image.min(), image.max()
    if low == high:
        raise ValueError(
            f"`{name}` is constant (every voxel is {low:g}), so there is no contrast to normalize. "
            "Check that the right channel was read and that the image is not empty or saturated."
        )


def min_max_normalize(image, *, upper_bound: float | None = None) -> np.ndarray:
    """Rescale intensities to [0, 1] (MM), optionally treating very bright voxels as outliers.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Raw intensities.
    upper_bound : float, optional
        Absolute intensity above which a voxel is an outlier (hot pixel, dead cell): such voxels
        are set to the image minimum before rescaling. None (or a value below 1, the reference's
        convention for "no bound") disables it.

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
        ``(x - min + 1e-8) / (max - min + 1e-8)``.

    Raises
    ------
    ValueError
        For a constant image (nothing to rescale) or an invalid bound.

    See Also
    --------
    auto_contrast : normalization that clips to mean +/- multiples of the standard deviation.
    """
    work = check_image(image)
    if upper_bound is not None:
        upper_bound = check_number(upper_bound, "upper_bound", minimum=0.0)
    if upper_bound is not None and upper_bound >= 1:
        bright = work > np.float32(upper_bound)
        if bright.all():
            raise ValueError(
                f"Every voxel is above `upper_bound` = {upper_bound:g}; raise the bound (the image "
                f"maximum is {work.max():g}) or use None for no bound."
            )
        if bright.any():
            work = work.copy()
            work[bright] = work.min()
    _require_not_constant(work)
    low, high = float(work.min()), float(work.max())
    return _stretch(work, low, high)


def auto_contrast(image, *, lower_sd: float, upper_sd: float) -> np.ndarray:
    """Auto-contrast normalization (AC) around the mean intensity.

    With m, s the mean and standard deviation of all voxels, intensities are clipped to
    ``[max(m - lower_sd*s, min), min(m + upper_sd*s, max)]`` and rescaled to [0, 1].

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Raw intensities.
    lower_sd, upper_sd : float
        How many standard deviations below and above the mean the range extends (the lookup
        table's AC ``a`` and ``b``). Larger values keep more of the dark / bright range.

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)

    See Also
    --------
    suggest_auto_contrast : values of ``lower_sd`` / ``upper_sd`` suggested for an image.
    """
    work = check_image(image)
    lower_sd = check_number(lower_sd, "lower_sd")
    upper_sd = check_number(upper_sd, "upper_sd")
    _require_not_constant(work)
    mean, std = _fit_normal(work)
    low = max(mean - lower_sd * std, work.min())
    high = min(mean + upper_sd * std, work.max())
    if high <= low:
        raise ValueError(
            f"`lower_sd`={lower_sd:g} and `upper_sd`={upper_sd:g} give an empty intensity range "
            f"[{low:g}, {high:g}]; make their sum positive (e.g. lower_sd=2, upper_sd=10)."
        )
    return _stretch(work, low, high)


def auto_contrast_in_range(image, *, lower_sd: float, upper_sd: float, lower_intensity: float,
                           upper_intensity: float) -> np.ndarray:
    """Auto-contrast normalization (AC4) with statistics from an intensity window only.

    The standard deviation s is measured on voxels with ``lower_intensity < x < upper_intensity``
    (e.g. the cytoplasm, excluding background and very bright spots); the range is
    ``[max(lower_intensity - lower_sd*s, min), min(upper_intensity + upper_sd*s, max)]``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    lower_sd, upper_sd : float
        Multiples of s below ``lower_intensity`` and above ``upper_intensity``.
    lower_intensity, upper_intensity : float
        The raw-intensity window used for the statistics (exclusive).

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
    """
    work = check_image(image)
    lower_sd = check_number(lower_sd, "lower_sd")
    upper_sd = check_number(upper_sd, "upper_sd")
    lower_intensity = check_number(lower_intensity, "lower_intensity")
    upper_intensity = check_number(upper_intensity, "upper_intensity", minimum=lower_intensity,
                                   min_inclusive=False, hint="It must be above `lower_intensity`.")
    _require_not_constant(work)
    window = work[(work > lower_intensity) & (work < upper_intensity)]
    if window.size == 0:
        raise ValueError(
            f"No voxel lies between `lower_intensity`={lower_intensity:g} and `upper_intensity`="
            f"{upper_intensity:g} (the image spans {work.min():g} to {work.max():g}); choose a "
            "window inside that range."
        )
    _, std = _fit_normal(window)
    low = max(lower_intensity - lower_sd * std, work.min())
    high = min(upper_intensity + upper_sd * std, work.max())
    if high <= low:
        raise ValueError(f"The parameters give an empty intensity range [{low:g}, {high:g}].")
    return _stretch(work, low, high)


def suggest_auto_contrast(image) -> tuple[float, float]:
    """Suggest ``(lower_sd, upper_sd)`` for :func:`auto_contrast` from the intensity histogram.

    ``upper_sd`` is the smallest multiple of 0.5 with ``m + upper_sd*s`` above the 99.99th
    percentile (0.5 less when that also exceeds the maximum); ``lower_sd`` is the smallest
    multiple of 0.5 with ``m - k*s`` below the minimum, minus 0.5. A starting point to tune from.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)

    Returns
    -------
    (float, float)
        ``(lower_sd, upper_sd)``.
    """
    work = check_image(image)
    _require_not_constant(work)
    mean, std = _fit_normal(work)
    p9999 = float(np.percentile(work, 99.99))
    low, high = float(work.min()), float(work.max())
    steps = np.arange(1, 2000) * 0.5
    upper_sd = 0.0
    above = np.nonzero(mean + std * steps > p9999)[0]
    if above.size:
        k = steps[above[0]]
        upper_sd = float(k - 0.5) if mean + std * k > high else float(k)
    lower_sd = 0.0
    below = np.nonzero(mean - std * steps < low)[0]
    if below.size:
        lower_sd = float(steps[below[0]] - 0.5)
    return lower_sd, upper_sd


def percentile_scale(image, *, lower_percentile: float = 0.0, upper_percentile: float = 99.99,
                     to_uint8: bool = False) -> np.ndarray:
    """Clip to two percentiles of the intensities and rescale to [0, 1] (or to 8-bit 0..255).

    The contrast scaling of the lattice light-sheet 3D U-Net: the upper bound is a high percentile
    (99.99th by default) rather than the maximum, so a few very bright voxels (hot camera pixels,
    debris) are clipped instead of squeezing every other intensity into the bottom of the range.

    With ``low``, ``high`` the two percentiles of all voxels (``numpy.percentile``, linear
    interpolation), the result is ``(clip(x, low, high) - low) / (high - low)``: exactly 0 at and
    below ``low``, exactly 1 at and above ``high``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Raw intensities of any real dtype.
    lower_percentile, upper_percentile : float
        Percentiles (0..100) mapped to 0 and 1; ``0 <= lower_percentile < upper_percentile <= 100``.
        0 and 100 are the minimum and maximum (``percentile_scale(image, upper_percentile=100)`` is a
        min-max normalization).
    to_uint8 : bool
        Return ``round(255 * scaled)`` as uint8 (the paper's 8-bit images) instead of float32.

    Returns
    -------
    numpy.ndarray, shape (Z, Y, X)
        float32 in [0, 1], or uint8 in 0..255 when ``to_uint8``.

    Raises
    ------
    ValueError
        For percentiles out of order or outside [0, 100], a constant image, or an image whose two
        percentiles are equal (most voxels share one value: widen the percentiles).

    See Also
    --------
    min_max_normalize : the full range, optionally with an absolute outlier bound.

    Examples
    --------
    >>> image = np.arange(101, dtype=np.uint16).reshape(1, 1, 101)  # 0, 1, ..., 99, and
    >>> image[0, 0, 100] = 60000  # one hot pixel
    >>> percentile_scale(image, upper_percentile=99)[0, 0, [0, 33, 99, 100]].tolist()
    [0.0, 0.3333333432674408, 1.0, 1.0]
    >>> percentile_scale(image, upper_percentile=99, to_uint8=True)[0, 0, [33, 99]].tolist()
    [85, 255]
    """
    work = check_image(image)
    lower = check_number(lower_percentile, "lower_percentile", minimum=0.0, maximum=100.0,
                         hint="Percentiles are given from 0 to 100, e.g. 0.0 (the minimum).")
    upper = check_number(upper_percentile, "upper_percentile", minimum=0.0, maximum=100.0,
                         hint="Percentiles are given from 0 to 100, e.g. 99.99.")
    if not lower < upper:
        raise ValueError(
            f"`lower_percentile` = {lower:g} must be below `upper_percentile` = {upper:g}; e.g. "
            "lower_percentile=0.0, upper_percentile=99.99."
        )
    if not isinstance(to_uint8, (bool, np.bool_)):
        raise ValueError(f"`to_uint8` must be True or False, got {to_uint8!r}.")
    _require_not_constant(work)
    low, high = (float(v) for v in np.percentile(work, [lower, upper]))
    if high <= low:
        raise ValueError(
            f"The {lower:g}th and {upper:g}th percentiles are both {low:g} (most voxels share that "
            "value), so there is no contrast between them; lower `lower_percentile` or raise "
            "`upper_percentile`."
        )
    scaled = np.clip(work, np.float32(low), np.float32(high))
    scaled -= np.float32(low)
    scaled /= np.float32(high - low)
    np.clip(scaled, 0.0, 1.0, out=scaled)  # float32 rounding of the division never leaves [0, 1]
    if to_uint8:
        return np.rint(scaled * np.float32(255)).astype(np.uint8)
    return scaled
