"""Distributions of voxel values: empirical cumulative distributions and histograms, as figures.

The lattice light-sheet 3D U-Net paper judges a network by the empirical cumulative distribution
function (ECDF) of its output probabilities: a decisive network puts nearly every voxel close to 0 or
1, so the ECDF rises steeply at 0, stays flat in between and rises again at 1; a hesitant one
climbs steadily through the middle, and the threshold then matters a lot. Split by the ground
truth, the curve inside the structure should sit near 1 and the one outside near 0.

Figures are matplotlib ``Figure`` objects made without pyplot (see ``helpers._render``): they show
themselves in a notebook and are saved with ``figure.savefig(path)``.
"""

from __future__ import annotations

import numpy as np

from . import _render
from ._checks import check_mask, check_number, check_probability

__all__ = ["ecdf", "plot_probability_ecdf", "plot_histograms"]


def _finite_values(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        array = array.astype(np.float64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"`{name}` has dtype {array.dtype}, but real numbers are needed.")
    flat = array.ravel()
    if flat.size == 0:
        raise ValueError(f"`{name}` is empty; pass at least one value.")
    if np.issubdtype(flat.dtype, np.floating) and not np.isfinite(flat).all():
        raise ValueError(f"`{name}` contains NaN or infinite values; remove them first, e.g. "
                         f"`{name}[np.isfinite({name})]`.")
    return flat


def ecdf(values) -> tuple[np.ndarray, np.ndarray]:
    """The empirical cumulative distribution function of a set of values.

    Parameters
    ----------
    values : array_like of real numbers, any shape
        E.g. the probabilities of all voxels; flattened. Not modified.

    Returns
    -------
    sorted_values : numpy.ndarray, shape (n,)
        The values in increasing order (ties kept).
    fraction : numpy.ndarray of float64, shape (n,)
        ``fraction[i] = (i + 1) / n``: the share of values <= ``sorted_values[i]`` (for tied values,
        the last of a run gives the exact share).

    Raises
    ------
    ValueError
        For no values, non-numeric values, or NaN / infinite values.

    Examples
    --------
    >>> x, f = ecdf([3, 1, 2, 2])
    >>> x.tolist(), f.tolist()
    ([1, 2, 2, 3], [0.25, 0.5, 0.75, 1.0])
    """
    flat = _finite_values(values, "values")
    ordered = np.sort(flat)
    return ordered, np.arange(1, ordered.size + 1, dtype=np.float64) / ordered.size


def _ecdf_on_grid(sorted_values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of values <= each grid point (the exact ECDF, evaluated at the grid)."""
    return np.searchsorted(sorted_values, grid, side="right") / sorted_values.size


def plot_probability_ecdf(probability, truth=None, *, decisive_margin: float = 0.05, points: int = 1001):
    """The ECDF of a probability map: over all voxels and, given the truth, inside and outside it.

    Parameters
    ----------
    probability : array_like of float, shape (Y, X) or (Z, Y, X)
        Values in [0, 1], e.g. the membrane class of ``helpers.inference.predict``'s output.
    truth : array_like of bool or int, shape like ``probability``, optional
        True foreground mask; adds one curve for the voxels inside it and one for those outside.
    decisive_margin : float
        In (0, 0.5): voxels below this or above 1 minus it count as decided; their share is given
        in the legend (the paper's reading of the ECDF: how decisive the network is).
    points : int
        Probabilities (evenly spaced over [0, 1]) at which the ECDF is drawn (>= 11); the exact
        ECDF is evaluated there, so a billion voxels draw as fast as a thousand.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: probability (x) against the share of voxels at or below it (y), a step line per
        voxel group, the two margins as dotted lines.

    Raises
    ------
    ValueError
        For probabilities outside [0, 1] or not 2D/3D, a truth of another shape, a truth with no
        voxel inside (or none outside), or parameters out of range.
    """
    work = check_probability(probability)
    ndim = work.ndim
    margin = check_number(decisive_margin, "decisive_margin", minimum=0, maximum=0.5, min_inclusive=False,
                          max_inclusive=False, hint="0.05 counts p < 0.05 and p > 0.95 as decided.")
    points = check_number(points, "points", minimum=11, integer=True)
    groups = [("all voxels", work.ravel(), "0.2")]
    if truth is not None:
        inside = check_mask(truth, name="truth", ndim=ndim, like=work)
        if not inside.any() or inside.all():
            raise ValueError("`truth` must have voxels both inside and outside the structure to split the ECDF; "
                             "leave it out (truth=None) for the ECDF of all voxels.")
        groups += [("inside truth", work[inside], "#d62728"), ("outside truth", work[~inside], "#1f77b4")]
    grid = np.linspace(0.0, 1.0, points)
    figure = _render.notebook_figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for label, values, color in groups:
        ordered = np.sort(values)
        decided = (np.searchsorted(ordered, margin, side="left")
                   + ordered.size - np.searchsorted(ordered, 1 - margin, side="right")) / ordered.size
        axes.step(grid, _ecdf_on_grid(ordered, grid), where="post", color=color,
                  label=f"{label} (n = {ordered.size:,}; {100 * decided:.1f} % decided)")
    for x in (margin, 1 - margin):
        axes.axvline(x, color="0.6", linestyle=":", linewidth=1)
    axes.set_xlabel("probability")
    axes.set_ylabel("share of voxels with probability <= x")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="center right", fontsize="small",
                title=f"decided: p < {margin:g} or p > {1 - margin:g}", title_fontsize="small")
    return figure


def plot_histograms(named_values: dict, *, bins: int = 256, log_counts: bool = True):
    """Histograms of several images side by side (e.g. before and after a contrast scaling).

    Parameters
    ----------
    named_values : dict of str to array_like
        Panel title -> values (any shape; flattened), e.g. ``{"raw": image, "scaled": scaled}``.
    bins : int
        Bins per histogram, evenly spaced between the panel's minimum and maximum (>= 2).
    log_counts : bool
        Logarithmic count axis, so a handful of outliers shows next to a million ordinary voxels.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per entry, in the dict's order (``figure.axes[i]``, to add marks).

    Raises
    ------
    ValueError
        For an empty dict, values that are empty, not numeric or not finite, or a bad ``bins``.
    """
    if not isinstance(named_values, dict) or not named_values:
        raise ValueError("`named_values` must be a non-empty dict of title -> values, e.g. {'raw': image}.")
    bins = check_number(bins, "bins", minimum=2, integer=True)
    if not isinstance(log_counts, (bool, np.bool_)):
        raise ValueError(f"`log_counts` must be True or False, got {log_counts!r}.")
    arrays = {str(title): _finite_values(values, f"named_values[{title!r}]") for title, values in named_values.items()}
    figure = _render.notebook_figure(figsize=(4 * len(arrays), 3), layout="constrained")
    for index, (title, flat) in enumerate(arrays.items()):
        axes = figure.add_subplot(1, len(arrays), index + 1)
        low, high = float(flat.min()), float(flat.max())
        if high == low:
            high = low + 1.0
        counts, edges = np.histogram(flat, bins=bins, range=(low, high))
        axes.stairs(counts, edges, fill=True, color="0.35")
        if log_counts:
            axes.set_yscale("log")
        axes.set_title(title, fontsize="medium")
        axes.set_xlabel("value")
        axes.set_ylabel("voxels")
        axes.grid(alpha=0.3)
    return figure
