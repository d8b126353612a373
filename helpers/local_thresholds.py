"""Local thresholds: the 8 methods of ImageJ's "Auto Local Threshold" plugin.

These are the local baselines the Allen Cell Structure Segmenter paper compares against (Fig. 7),
at window radii 8, 16, 32 and 64 pixels. Each pixel gets its own threshold, computed from the grey
levels in a circular window around it, so slow changes of illumination do not matter.

As the plugin requires, the (Y, X) image is first scaled to 8 bits over its own [min, max]
(``round(255 (v - min) / (max - min))``); thresholds and parameters are in those 0..255 units
(Phansalkar's in 0..1). The window is the disk of pixels with ``dy**2 + dx**2 <= radius**2``
(:func:`skimage.morphology.disk`); near the border it is completed by repeating the nearest edge
pixel, as ImageJ's rank filters do. Window sums (means and variances) are computed exactly, in
integers, by FFT convolution; window minima, maxima and Otsu thresholds by scikit-image's
histogram-based rank filters.

References
----------
.. [1] G. Landini, "Auto Local Threshold" ImageJ/Fiji plugin,
   https://imagej.net/plugins/auto-local-threshold
.. [2] J. Bernsen, "Dynamic thresholding of grey-level images", Proc. 8th International
   Conference on Pattern Recognition, pp. 1251-1255, 1986.
.. [3] W. Niblack, "An Introduction to Digital Image Processing", Prentice-Hall, pp. 115-116, 1986.
.. [4] N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems,
   Man and Cybernetics 9:62-66, 1979.
.. [5] N. Phansalkar, S. More, A. Sabale and M. Joshi, "Adaptive local thresholding for detection
   of nuclei in diversity stained cytology images", International Conference on Communications
   and Signal Processing (ICCSP), pp. 218-220, 2011. :DOI:`10.1109/ICCSP.2011.5739305`
.. [6] J. Sauvola and M. Pietikainen, "Adaptive document image binarization", Pattern Recognition
   33(2):225-236, 2000. :DOI:`10.1016/S0031-3203(99)00055-2`
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve
from skimage.filters import rank
from skimage.morphology import disk

from ._checks import check_choice, check_image, check_number

__all__ = [
    "LOCAL_THRESHOLD_METHODS",
    "LOCAL_RADII",
    "to_8bit",
    "local_threshold",
    "bernsen_threshold",
    "contrast_threshold",
    "mean_threshold",
    "mid_grey_threshold",
    "niblack_threshold",
    "otsu_threshold",
    "phansalkar_threshold",
    "sauvola_threshold",
]

#: The 8 local methods of ImageJ's Auto Local Threshold plugin used as baselines.
LOCAL_THRESHOLD_METHODS = (
    "bernsen",
    "contrast",
    "mean",
    "mid_grey",
    "niblack",
    "otsu",
    "phansalkar",
    "sauvola",
)
#: Window radii (pixels) of the paper's comparison.
LOCAL_RADII = (8, 16, 32, 64)

_RADIUS_HINT = "The radius is in pixels; the paper used 8, 16, 32 and 64."


# --------------------------------------------------------------------------------------------
# Input handling and window statistics
# --------------------------------------------------------------------------------------------

def to_8bit(image) -> np.ndarray:
    """Scale a (Y, X) image to 8 bits over its own [min, max], as the plugin requires.

    Parameters
    ----------
    image : array_like, shape (Y, X)

    Returns
    -------
    numpy.ndarray of uint8, shape (Y, X)
        ``round(255 * (v - min) / (max - min))``: the minimum maps to 0, the maximum to 255.

    Raises
    ------
    ValueError
        For an image that is not 2D, has NaN/infinite values or is constant.
    """
    if np.ndim(image) != 2:
        shape = tuple(np.shape(image))
        raise ValueError(
            f"`image` is a {np.ndim(image)}D array of shape {shape}, but local thresholds need one "
            "2D (Y, X) image. For a (Z, Y, X) stack, threshold each slice, e.g. "
            "`np.stack([local_threshold(plane, method=..., radius=...) for plane in stack])`."
        )
    work = check_image(image, ndim=2, dtype=np.float64)
    low, high = work.min(), work.max()
    if low == high:
        raise ValueError(
            f"The image is constant (every pixel is {low:g}), so it has no threshold: nothing "
            "separates foreground from background. Check that the right channel or crop was passed."
        )
    scaled = np.rint((work - low) * (255.0 / (high - low)))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _checked_radius(radius) -> int:
    return check_number(radius, "radius", minimum=1, integer=True, hint=_RADIUS_HINT)


def _window_sums(pixels: np.ndarray, radius: int):
    """Exact window sums of the values and their squares, and the window size (edge-padded)."""
    footprint = disk(radius).astype(np.float64)
    padded = np.pad(pixels.astype(np.float64), radius, mode="edge")
    total = np.rint(fftconvolve(padded, footprint, mode="valid")).astype(np.int64)
    squares = np.rint(fftconvolve(padded * padded, footprint, mode="valid")).astype(np.int64)
    return total, squares, int(footprint.sum())


def _window_mean_std(pixels: np.ndarray, radius: int):
    """Window mean and (population) standard deviation; exactly 0 where the window is flat."""
    total, squares, count = _window_sums(pixels, radius)
    mean = total / count
    variance_times_count2 = count * squares - total * total  # exact integers, >= 0
    std = np.sqrt(variance_times_count2.astype(np.float64)) / count
    return mean, std


def _window_min_max(pixels: np.ndarray, radius: int):
    """Window minimum and maximum (int). Padding with edge pixels would not change them: each
    repeated edge pixel lies inside the disk too, so the rank filters run on the image itself."""
    footprint = disk(radius)
    low = rank.minimum(pixels, footprint).astype(np.int64)
    high = rank.maximum(pixels, footprint).astype(np.int64)
    return low, high


def _number(value, name: str, **limits) -> float:
    return check_number(value, name, **limits)


# --------------------------------------------------------------------------------------------
# The methods. Each returns a (Y, X) bool mask, True = foreground (white object).
# --------------------------------------------------------------------------------------------

def bernsen_threshold(image, *, radius: int, contrast_threshold: float = 15) -> np.ndarray:
    """Bernsen (1986): threshold at the window's mid-grey, unless the window has low contrast.

    Where the window's contrast ``max - min`` is at least ``contrast_threshold``, a pixel is
    foreground when it is at or above the mid-grey ``(max + min) / 2``. Where it is lower, the
    window is taken to hold one class only: the pixel is foreground when the mid-grey is at
    least 128 (the middle of the 8-bit range) and background otherwise.

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    contrast_threshold : float
        Smallest local contrast (8-bit grey levels) for which the mid-grey is used (plugin
        default 15).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)

    References
    ----------
    .. [1] Bernsen 1986; ImageJ Auto Local Threshold (see the module docstring).
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    contrast_threshold = _number(contrast_threshold, "contrast_threshold", minimum=0, maximum=255)
    low, high = _window_min_max(pixels, radius)
    twice_mid = low + high
    above_mid = 2 * pixels.astype(np.int64) >= twice_mid
    bright_window = twice_mid >= 2 * 128
    return np.where(high - low >= contrast_threshold, above_mid, bright_window)


def contrast_threshold(image, *, radius: int) -> np.ndarray:
    """Contrast: each pixel joins whichever of the window's maximum or minimum it is closer to.

    A pixel is foreground when ``max - v <= v - min`` (closer to the maximum; a pixel exactly
    halfway is foreground).

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    low, high = _window_min_max(pixels, radius)
    values = pixels.astype(np.int64)
    return high - values <= values - low


def mean_threshold(image, *, radius: int, c: float = 0.0) -> np.ndarray:
    """Mean: foreground where ``v > mean - c`` (window mean; plugin default ``c = 0``).

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    c : float
        Offset subtracted from the mean (8-bit grey levels).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    c = _number(c, "c")
    mean, _ = _window_mean_std(pixels, radius)
    return pixels > mean - c


def mid_grey_threshold(image, *, radius: int, c: float = 0.0) -> np.ndarray:
    """MidGrey: foreground where ``v > (max + min) / 2 - c`` (plugin default ``c = 0``).

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    c : float
        Offset subtracted from the mid-grey (8-bit grey levels).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    c = _number(c, "c")
    low, high = _window_min_max(pixels, radius)
    return pixels > (low + high) / 2.0 - c


def niblack_threshold(image, *, radius: int, k: float = 0.2, c: float = 0.0) -> np.ndarray:
    """Niblack (1986): foreground where ``v > mean + k * std - c``.

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    k : float
        Weight of the window's standard deviation (plugin default 0.2 for bright objects).
    c : float
        Offset (8-bit grey levels; plugin default 0).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)

    Notes
    -----
    The standard deviation is the population one (divided by the number of window pixels).
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    k = _number(k, "k")
    c = _number(c, "c")
    mean, std = _window_mean_std(pixels, radius)
    return pixels > mean + k * std - c


def otsu_threshold(image, *, radius: int) -> np.ndarray:
    """Otsu (1979) in each window: foreground where the pixel is above its window's Otsu level.

    The window's Otsu level is the highest grey level of the background class of its 256-level
    histogram (:func:`skimage.filters.rank.otsu`). A window holding a single grey level has no
    split; its centre pixel is background.

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    padded = np.pad(pixels, radius, mode="edge")
    level = rank.otsu(padded, disk(radius))[radius:-radius, radius:-radius]
    _, std = _window_mean_std(pixels, radius)
    return (pixels > level) & (std > 0)


def phansalkar_threshold(image, *, radius: int, k: float = 0.25, r: float = 0.5, p: float = 2.0,
                         q: float = 10.0) -> np.ndarray:
    """Phansalkar et al. (2011): Sauvola's threshold raised in dark, low-contrast windows.

    On grey levels normalised to [0, 1] (8-bit value / 255), foreground where
    ``v > mean * (1 + p * exp(-q * mean) + k * (std / r - 1))``.

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    k, r, p, q : float
        The method's constants (plugin defaults 0.25, 0.5, 2 and 10); ``r`` (the dynamic range of
        the standard deviation, on [0, 1] values) must be > 0.

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    k = _number(k, "k")
    r = _number(r, "r", minimum=0, min_inclusive=False)
    p = _number(p, "p")
    q = _number(q, "q")
    mean, std = _window_mean_std(pixels, radius)
    mean, std = mean / 255.0, std / 255.0
    threshold = mean * (1.0 + p * np.exp(-q * mean) + k * (std / r - 1.0))
    return pixels / 255.0 > threshold


def sauvola_threshold(image, *, radius: int, k: float = 0.5, r: float = 128.0) -> np.ndarray:
    """Sauvola & Pietikainen (2000): foreground where ``v > mean * (1 + k * (std / r - 1))``.

    Parameters
    ----------
    image : array_like, shape (Y, X)
    radius : int
        Window radius in pixels (>= 1).
    k : float
        Weight of the normalised standard deviation (plugin default 0.5).
    r : float
        Dynamic range of the standard deviation, in 8-bit grey levels (plugin default 128; > 0).

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
    """
    pixels = to_8bit(image)
    radius = _checked_radius(radius)
    k = _number(k, "k")
    r = _number(r, "r", minimum=0, min_inclusive=False)
    mean, std = _window_mean_std(pixels, radius)
    return pixels > mean * (1.0 + k * (std / r - 1.0))


_METHODS = {
    "bernsen": bernsen_threshold,
    "contrast": contrast_threshold,
    "mean": mean_threshold,
    "mid_grey": mid_grey_threshold,
    "niblack": niblack_threshold,
    "otsu": otsu_threshold,
    "phansalkar": phansalkar_threshold,
    "sauvola": sauvola_threshold,
}
_PARAMETERS = {
    "bernsen": ("contrast_threshold",),
    "contrast": (),
    "mean": ("c",),
    "mid_grey": ("c",),
    "niblack": ("k", "c"),
    "otsu": (),
    "phansalkar": ("k", "r", "p", "q"),
    "sauvola": ("k", "r"),
}


def local_threshold(image, *, method: str, radius: int, **parameters) -> np.ndarray:
    """Foreground mask by one of ImageJ's Auto Local Threshold methods.

    Parameters
    ----------
    image : array_like, shape (Y, X)
        Intensity image of any real dtype; it is scaled to 8 bits over its [min, max] first.
    method : str
        One of :data:`LOCAL_THRESHOLD_METHODS`: ``"bernsen"``, ``"contrast"``, ``"mean"``,
        ``"mid_grey"``, ``"niblack"``, ``"otsu"``, ``"phansalkar"``, ``"sauvola"``.
    radius : int
        Radius of the circular window in pixels (>= 1; the paper used :data:`LOCAL_RADII`).
    **parameters
        The method's own parameters, with the plugin's defaults when left out:
        bernsen ``contrast_threshold=15``; mean and mid_grey ``c=0``; niblack ``k=0.2, c=0``;
        phansalkar ``k=0.25, r=0.5, p=2, q=10``; sauvola ``k=0.5, r=128``. See the per-method
        functions (e.g. :func:`niblack_threshold`) for the formulas.

    Returns
    -------
    numpy.ndarray of bool, shape (Y, X)
        True for foreground (bright objects).

    Raises
    ------
    ValueError
        For an image that is not 2D, NaN/infinite values, a constant image, an unknown method, a
        radius below 1 or not whole, or a parameter the method does not have.

    References
    ----------
    See the module docstring.
    """
    method = check_choice(method, "method", LOCAL_THRESHOLD_METHODS)
    allowed = _PARAMETERS[method]
    unknown = sorted(set(parameters) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) if allowed else "none"
        raise ValueError(
            f"The {method!r} local threshold has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {accepted}. Remove the others."
        )
    return _METHODS[method](image, radius=radius, **parameters)
