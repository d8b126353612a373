"""Global (histogram-derived) thresholds: the 14 methods of ImageJ's "Auto Threshold" plugin.

These are the global baselines the Allen Cell Structure Segmenter paper compares against (Fig. 7).
Every method picks one intensity from the image's histogram; voxels brighter than it are the
foreground. As ImageJ does for 16-bit images, the histogram has ``bins`` equal-width bins spanning
the image's own [min, max], so each method is unaffected by the absolute intensity scale.

Methods computed by scikit-image (same names, same values): ``isodata``, ``li``, ``mean``,
``minimum``, ``otsu``, ``triangle``, ``yen``. The others (``huang``, ``intermodes``,
``max_entropy``, ``moments``, ``percentile``, ``renyi_entropy``, ``shanbhag``) are written here
from their published definitions and the plugin's documented defaults.

References
----------
.. [1] G. Landini, "Auto Threshold" ImageJ/Fiji plugin, https://imagej.net/plugins/auto-threshold
.. [2] L.-K. Huang and M.-J. J. Wang, "Image thresholding by minimizing the measures of fuzziness",
   Pattern Recognition 28(1):41-51, 1995.
.. [3] J. M. S. Prewitt and M. L. Mendelsohn, "The analysis of cell images", Annals of the New York
   Academy of Sciences 128:1035-1053, 1966.
.. [4] T. W. Ridler and S. Calvard, "Picture thresholding using an iterative selection method",
   IEEE Trans. Systems, Man and Cybernetics 8:630-632, 1978.
.. [5] C. H. Li and P. K. S. Tam, "An iterative algorithm for minimum cross entropy thresholding",
   Pattern Recognition Letters 19(8):771-776, 1998.
.. [6] J. N. Kapur, P. K. Sahoo and A. K. C. Wong, "A new method for gray-level picture thresholding
   using the entropy of the histogram", Computer Vision, Graphics, and Image Processing
   29(3):273-285, 1985.
.. [7] P. K. Sahoo, C. Wilkins and J. Yeager, "Threshold selection using Renyi's entropy",
   Pattern Recognition 30(1):71-84, 1997.
.. [8] C. A. Glasbey, "An analysis of histogram-based thresholding algorithms", CVGIP: Graphical
   Models and Image Processing 55:532-537, 1993.
.. [9] W.-H. Tsai, "Moment-preserving thresholding: a new approach", Computer Vision, Graphics,
   and Image Processing 29:377-393, 1985.
.. [10] W. Doyle, "Operations useful for similarity-invariant pattern recognition", Journal of the
   ACM 9:259-267, 1962.
.. [11] N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems,
   Man and Cybernetics 9:62-66, 1979.
.. [12] A. G. Shanbhag, "Utilization of information measure as a means of image thresholding",
   CVGIP: Graphical Models and Image Processing 56(5):414-419, 1994.
.. [13] G. W. Zack, W. E. Rogers and S. A. Latt, "Automatic measurement of sister chromatid exchange
   frequency", Journal of Histochemistry and Cytochemistry 25(7):741-753, 1977.
.. [14] J.-C. Yen, F.-J. Chang and S. Chang, "A new criterion for automatic multilevel
   thresholding", IEEE Trans. Image Processing 4(3):370-378, 1995.
"""

from __future__ import annotations

import numpy as np
from skimage import filters

from ._checks import check_choice, check_image, check_number

__all__ = [
    "GLOBAL_THRESHOLD_METHODS",
    "global_threshold_value",
    "apply_global_threshold",
]

#: The 14 global methods of ImageJ's Auto Threshold plugin, in the plugin's (alphabetical) order.
GLOBAL_THRESHOLD_METHODS = (
    "huang",
    "intermodes",
    "isodata",
    "li",
    "max_entropy",
    "mean",
    "minimum",
    "moments",
    "otsu",
    "percentile",
    "renyi_entropy",
    "shanbhag",
    "triangle",
    "yen",
)

#: Most histogram bins accepted (Huang and Shanbhag compare every level with every other).
MAX_BINS = 1024
#: Fraction of voxels below the threshold for the ``percentile`` method (the plugin's default).
PERCENTILE_FRACTION = 0.5
#: Most smoothing passes ``intermodes`` tries before giving up (as the plugin).
MAX_SMOOTHING_ITERATIONS = 10000
#: Renyi entropy orders combined by ``renyi_entropy`` (alpha = 1 is Kapur's max entropy).
RENYI_ORDERS = (0.5, 1.0, 2.0)
#: Distance (in histogram levels) under which two Renyi thresholds count as "close".
RENYI_CLOSE_LEVELS = 5

# scikit-image functions and whether they take the ``nbins`` argument.
_SKIMAGE_METHODS = {
    "isodata": (filters.threshold_isodata, True),
    "li": (filters.threshold_li, False),
    "mean": (filters.threshold_mean, False),
    "minimum": (filters.threshold_minimum, True),
    "otsu": (filters.threshold_otsu, True),
    "triangle": (filters.threshold_triangle, True),
    "yen": (filters.threshold_yen, True),
}


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------

def _checked_image(image) -> np.ndarray:
    """The image as float64, 2D (Y, X) or 3D (Z, Y, X), with contrast."""
    ndim = np.ndim(image)
    if ndim not in (2, 3):
        shape = tuple(np.shape(image))
        hint = (
            "Select one channel (and time point) first, e.g. `image[channel]`."
            if ndim > 3
            else "Pass a 2D (Y, X) image or a 3D (Z, Y, X) stack."
        )
        raise ValueError(
            f"`image` is a {ndim}D array of shape {shape}, but a 2D (Y, X) image or a 3D "
            f"(Z, Y, X) stack is needed. {hint}"
        )
    work = check_image(image, ndim=ndim, dtype=np.float64)
    low, high = work.min(), work.max()
    if low == high:
        raise ValueError(
            f"The image is constant (every voxel is {low:g}), so it has no threshold: nothing "
            "separates foreground from background. Check that the right channel or crop was passed."
        )
    return work


# --------------------------------------------------------------------------------------------
# Histogram methods written here. Each takes the bin counts and returns the histogram level k
# (bin index) of the last background bin: bins 0..k are background, bins k+1.. foreground.
# --------------------------------------------------------------------------------------------

def _occupied_range(counts: np.ndarray) -> tuple[int, int]:
    nonzero = np.flatnonzero(counts)
    return int(nonzero[0]), int(nonzero[-1])


def _huang(counts: np.ndarray) -> int:
    """Huang & Wang (1995): minimise the fuzziness (Shannon entropy of the memberships).

    Each level's membership to its class is ``1 / (1 + |level - class mean| / C)`` with
    ``C = last - first`` occupied level, so memberships lie in [0.5, 1].
    """
    first, last = _occupied_range(counts)
    levels = np.arange(first, last + 1, dtype=np.float64)
    h = counts[first:last + 1].astype(np.float64)
    cum_n = np.cumsum(h)
    cum_w = np.cumsum(h * levels)
    spread = float(last - first)
    thresholds = np.arange(len(levels) - 1)  # both classes non-empty
    mean_low = cum_w[thresholds] / cum_n[thresholds]
    mean_high = (cum_w[-1] - cum_w[thresholds]) / (cum_n[-1] - cum_n[thresholds])
    below = levels[None, :] <= levels[thresholds][:, None]
    class_mean = np.where(below, mean_low[:, None], mean_high[:, None])
    membership = 1.0 / (1.0 + np.abs(levels[None, :] - class_mean) / spread)
    complement = 1.0 - membership
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -membership * np.log(membership) - np.where(
            complement > 0, complement * np.log(np.where(complement > 0, complement, 1.0)), 0.0
        )
    fuzziness = (entropy * h[None, :]).sum(axis=1)
    return first + int(np.argmin(fuzziness))


def _count_peaks(values: np.ndarray) -> int:
    middle = values[1:-1]
    return int(np.count_nonzero((middle > values[:-2]) & (middle > values[2:])))


def _smoothed_until_bimodal(counts: np.ndarray, method: str) -> np.ndarray:
    """Running mean of 3 (outside the range counts as empty) until exactly two interior peaks."""
    smoothed = counts.astype(np.float64)
    for _ in range(MAX_SMOOTHING_ITERATIONS):
        if _count_peaks(smoothed) == 2:
            return smoothed
        padded = np.concatenate(([0.0], smoothed, [0.0]))
        smoothed = (padded[:-2] + padded[1:-1] + padded[2:]) / 3.0
    raise ValueError(
        f"The {method!r} threshold needs a histogram with two peaks, but this image's histogram "
        f"did not become bimodal after {MAX_SMOOTHING_ITERATIONS} smoothing passes; use a method "
        "that does not assume two peaks, such as 'otsu', 'li' or 'triangle'."
    )


def _intermodes(counts: np.ndarray) -> int:
    """Prewitt & Mendelsohn (1966): midway between the two peaks of the smoothed histogram."""
    smoothed = _smoothed_until_bimodal(counts, "intermodes")
    middle = smoothed[1:-1]
    peaks = np.flatnonzero((middle > smoothed[:-2]) & (middle > smoothed[2:])) + 1
    return int((peaks[0] + peaks[1]) // 2)


def _class_probabilities(counts: np.ndarray):
    """Normalised histogram p, P(t) = p[0..t] and 1 - P(t), with the valid split mask."""
    total = counts.sum()
    p = counts / total
    cum_counts = np.cumsum(counts)
    below = cum_counts / total
    above = (total - cum_counts) / total
    valid = (cum_counts > 0) & (cum_counts < total)
    return p, below, above, valid


def _sums_below_and_above(values: np.ndarray):
    """Sums of ``values`` over levels <= t and over levels > t, for every t (no cancellation)."""
    below = np.cumsum(values)
    above = np.concatenate((np.cumsum(values[::-1])[::-1][1:], [0.0]))
    return below, above


def _renyi_split(counts: np.ndarray, order: float) -> int:
    """Level maximising the sum of the two classes' Renyi entropies of ``order``.

    ``order = 1`` is Shannon's entropy, i.e. Kapur, Sahoo & Wong's maximum entropy method.
    """
    p, below, above, valid = _class_probabilities(counts)
    occupied = p > 0
    safe_below = np.where(valid, below, 1.0)
    safe_above = np.where(valid, above, 1.0)
    if order == 1.0:
        plogp = np.zeros_like(p)
        plogp[occupied] = p[occupied] * np.log(p[occupied])
        cum, rest = _sums_below_and_above(plogp)
        entropy_low = np.log(safe_below) - cum / safe_below
        entropy_high = np.log(safe_above) - rest / safe_above
    else:
        powered = np.zeros_like(p)
        powered[occupied] = p[occupied] ** order
        cum, rest = _sums_below_and_above(powered)
        safe_cum = np.where(valid, cum, 1.0)
        safe_rest = np.where(valid, rest, 1.0)
        entropy_low = (np.log(safe_cum) - order * np.log(safe_below)) / (1.0 - order)
        entropy_high = (np.log(safe_rest) - order * np.log(safe_above)) / (1.0 - order)
    total_entropy = np.where(valid, entropy_low + entropy_high, -np.inf)
    return int(np.argmax(total_entropy))


def _max_entropy(counts: np.ndarray) -> int:
    """Kapur, Sahoo & Wong (1985): maximise the sum of the two classes' Shannon entropies."""
    return _renyi_split(counts, 1.0)


def _renyi_entropy(counts: np.ndarray) -> int:
    """Sahoo, Wilkins & Yeager (1997): weighted mean of the Renyi thresholds of orders 0.5, 1, 2.

    The three thresholds t1 <= t2 <= t3 are combined as
    ``t1 (P(t1) + w b1 / 4) + t2 w b2 / 4 + t3 (1 - P(t3) + w b3 / 4)`` with ``w = P(t3) - P(t1)``
    and weights (b1, b2, b3) = (1, 2, 1), or (0, 1, 3) / (3, 1, 0) when only t1 and t2 / only t2
    and t3 lie within 5 levels of each other. The result is rounded to the nearest level.
    """
    t1, t2, t3 = sorted(_renyi_split(counts, order) for order in RENYI_ORDERS)
    close_low = abs(t1 - t2) <= RENYI_CLOSE_LEVELS
    close_high = abs(t2 - t3) <= RENYI_CLOSE_LEVELS
    if close_low and not close_high:
        weights = (0.0, 1.0, 3.0)
    elif close_high and not close_low:
        weights = (3.0, 1.0, 0.0)
    else:
        weights = (1.0, 2.0, 1.0)
    below = np.cumsum(counts) / counts.sum()
    spread = below[t3] - below[t1]
    level = (
        t1 * (below[t1] + 0.25 * spread * weights[0])
        + 0.25 * t2 * spread * weights[1]
        + t3 * (1.0 - below[t3] + 0.25 * spread * weights[2])
    )
    return int(np.floor(level + 0.5))


def _moments(counts: np.ndarray) -> int:
    """Tsai (1985): the two-level image with the same first three moments; its lower level's
    fraction p0 is the fraction of voxels put in the background (the level whose cumulative
    fraction is closest to p0)."""
    first, last = _occupied_range(counts)
    p = counts / counts.sum()
    levels = np.arange(len(counts), dtype=np.float64)
    m1 = float((p * levels).sum())
    m2 = float((p * levels**2).sum())
    m3 = float((p * levels**3).sum())
    denominator = m2 - m1 * m1
    c0 = (m1 * m3 - m2 * m2) / denominator
    c1 = (m1 * m2 - m3) / denominator
    root = np.sqrt(max(c1 * c1 - 4.0 * c0, 0.0))
    z0 = 0.5 * (-c1 - root)
    z1 = 0.5 * (-c1 + root)
    p0 = (z1 - m1) / (z1 - z0)
    return _closest_cumulative(counts, p0, first, last)


def _closest_cumulative(counts: np.ndarray, fraction: float, first: int, last: int) -> int:
    below = np.cumsum(counts) / counts.sum()
    distance = np.abs(below[first:last + 1] - fraction)
    return first + int(np.argmin(distance))


def _percentile(counts: np.ndarray) -> int:
    """Doyle (1962): the level whose cumulative fraction is closest to 50 %."""
    first, last = _occupied_range(counts)
    return _closest_cumulative(counts, PERCENTILE_FRACTION, first, last)


def _shanbhag(counts: np.ndarray) -> int:
    """Shanbhag (1994): equalise the two classes' information measures.

    A background level i <= t has membership ``1 - P(i - 1) / (2 P(t))`` (0.5 at the threshold,
    1 far from it), a foreground level i > t ``1 - (1 - P(i)) / (2 (1 - P(t)))``; each class's
    information is ``-sum p_i ln(membership_i) / class probability``, and the threshold minimises
    the absolute difference of the two.
    """
    p, below, above, valid = _class_probabilities(counts)
    n = len(counts)
    below_previous = np.concatenate(([0.0], below[:-1]))
    t = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    safe_below = np.where(valid, below, 1.0)[:, None]
    safe_above = np.where(valid, above, 1.0)[:, None]
    membership_low = 1.0 - below_previous[None, :] / (2.0 * safe_below)
    membership_high = 1.0 - above[None, :] / (2.0 * safe_above)
    in_low = (i <= t) & (p[None, :] > 0)
    in_high = (i > t) & (p[None, :] > 0)
    log_low = np.log(np.where(in_low, np.maximum(membership_low, np.finfo(float).tiny), 1.0))
    log_high = np.log(np.where(in_high, np.maximum(membership_high, np.finfo(float).tiny), 1.0))
    info_low = -(p[None, :] * log_low).sum(axis=1) / safe_below[:, 0]
    info_high = -(p[None, :] * log_high).sum(axis=1) / safe_above[:, 0]
    difference = np.where(valid, np.abs(info_low - info_high), np.inf)
    return int(np.argmin(difference))


_LEVEL_METHODS = {
    "huang": _huang,
    "intermodes": _intermodes,
    "max_entropy": _max_entropy,
    "moments": _moments,
    "percentile": _percentile,
    "renyi_entropy": _renyi_entropy,
    "shanbhag": _shanbhag,
}


def _brightest_background_value(work: np.ndarray, edges: np.ndarray, level: int) -> float:
    """The largest voxel value in bins 0..level, so that ``work > value`` is exactly bins > level."""
    if level >= len(edges) - 2:
        return float(work.max())
    background = work[work < edges[level + 1]]
    if background.size == 0:  # pragma: no cover - every method picks an occupied range
        return float(work.min())
    return float(background.max())


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------

def global_threshold_value(image, *, method: str, bins: int = 256) -> float:
    """One global threshold for the image, by one of ImageJ's Auto Threshold methods.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X) or (Y, X)
        Intensity image of any real dtype.
    method : str
        One of :data:`GLOBAL_THRESHOLD_METHODS`: ``"huang"`` [2]_, ``"intermodes"`` [3]_,
        ``"isodata"`` [4]_, ``"li"`` [5]_, ``"max_entropy"`` [6]_, ``"mean"`` [8]_,
        ``"minimum"`` [3]_, ``"moments"`` [9]_, ``"otsu"`` [11]_, ``"percentile"`` (50 %) [10]_,
        ``"renyi_entropy"`` [7]_, ``"shanbhag"`` [12]_, ``"triangle"`` [13]_, ``"yen"`` [14]_.
    bins : int
        Number of equal-width histogram bins spanning the image's [min, max] (ImageJ uses 256;
        2 to 1024).
        Not used by ``"mean"`` (the mean voxel value) and ``"li"`` (iterated on the voxel values).

    Returns
    -------
    float
        The threshold, in the image's intensity units. Voxels strictly brighter than it are
        foreground; voxels equal to it are background (see :func:`apply_global_threshold`).
        For the methods delegated to scikit-image (isodata, li, mean, minimum, otsu, triangle,
        yen) it is scikit-image's value (for the histogram methods, the centre of the last
        background bin). For the others it is the brightest voxel value in the background bins,
        so the foreground is exactly the voxels in the bins above the chosen level.

    Raises
    ------
    ValueError
        For a wrong number of dimensions, NaN/infinite values, a constant image, an unknown
        method, fewer than 2 bins, or a histogram without two peaks (``"intermodes"``,
        ``"minimum"``).

    References
    ----------
    See the module docstring; the methods and defaults follow ImageJ's Auto Threshold plugin [1]_.
    """
    work = _checked_image(image)
    method = check_choice(method, "method", GLOBAL_THRESHOLD_METHODS)
    bins = check_number(bins, "bins", minimum=2, maximum=MAX_BINS, integer=True,
                        hint="ImageJ uses 256 bins; pass e.g. `bins=256`.")
    if method in _SKIMAGE_METHODS:
        function, takes_bins = _SKIMAGE_METHODS[method]
        try:
            value = function(work, nbins=bins) if takes_bins else function(work)
        except RuntimeError as error:  # "minimum": no two peaks after smoothing
            raise ValueError(
                f"The {method!r} threshold could not be computed for this image ({error}); use a "
                "method that does not assume two peaks, such as 'otsu', 'li' or 'triangle'."
            ) from error
        return float(value)
    counts, edges = np.histogram(work, bins=bins, range=(work.min(), work.max()))
    level = _LEVEL_METHODS[method](counts)
    return _brightest_background_value(work, edges, level)


def apply_global_threshold(image, *, method: str, bins: int = 256) -> np.ndarray:
    """Foreground mask from one global threshold (:func:`global_threshold_value`).

    Parameters
    ----------
    image : array_like, shape (Z, Y, X) or (Y, X)
    method : str
        One of :data:`GLOBAL_THRESHOLD_METHODS`.
    bins : int
        Histogram bins over the image's [min, max] (256 as in ImageJ).

    Returns
    -------
    numpy.ndarray of bool, same shape as ``image``
        True where the voxel is strictly brighter than the threshold. Ties (voxels equal to the
        threshold) are background, for every method.

    Raises
    ------
    ValueError
        As :func:`global_threshold_value`.
    """
    work = _checked_image(image)
    threshold = global_threshold_value(work, method=method, bins=bins)
    return work > threshold
