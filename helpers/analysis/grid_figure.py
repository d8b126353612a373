"""The pipeline grid as a picture: one panel per (pre-processing, segmenter) cell on a chosen slice.

Rows are the pre-processings and columns the segmenters of a
:class:`~helpers.analysis.pipeline_grid.GridResult`; each panel is the row's pre-processed slice with the
cell's mask tinted and outlined, titled with its object count (and Dice when a truth was given).
:func:`plot_grid` draws the whole grid as a matplotlib Figure; :func:`panel_image` gives one panel as RGB
(the judging widget, :mod:`helpers.analysis.grid_widget`, shows these).
"""

from __future__ import annotations

import textwrap

import numpy as np

from .. import _render
from .._checks import check_number
from .pipeline_grid import GridCell, GridResult

__all__ = ["panel_image", "cell_caption", "plot_grid", "slice_index"]



def slice_index(result: GridResult, z) -> int:
    """The slice to show: ``z`` checked against the image, or the grid's default slice when None."""
    if z is None:
        return result.default_slice()
    return int(check_number(z, "z", minimum=0, maximum=result.image.shape[0] - 1, integer=True,
                            hint=f"The image has {result.image.shape[0]} slices (0 to {result.image.shape[0] - 1})."))


def _row_limits(result: GridResult, preprocessing: str) -> tuple[float, float]:
    volume = result.preprocessed.get(preprocessing)
    return _render.contrast_limits(result.image if volume is None else volume)


def panel_image(result: GridResult, preprocessing: str, segmenter: str, *, z: int | None = None,
                limits=None) -> np.ndarray:
    """RGB (Y, X, 3) uint8 of one cell on slice ``z``: the row's pre-processed image, the mask tinted and outlined.

    A failed cell (or a failed pre-processing) shows the raw image without a mask.
    """
    if not isinstance(result, GridResult):
        raise ValueError("`result` must be the GridResult that run_grid returned.")
    cell = result.cell(preprocessing, segmenter)
    z = slice_index(result, z)
    volume = result.preprocessed.get(preprocessing)
    volume = result.image if volume is None else volume
    limits = _row_limits(result, preprocessing) if limits is None else limits
    gray = _render.to_gray(volume[z], limits)
    if not cell.ok:
        return _render.gray_rgb(gray)
    plane = cell.mask[z]
    rgb = _render.overlay(gray, plane, alpha=0.3)
    rgb[_render.outline(plane)] = _render.MASK_RGB
    return rgb


def cell_caption(cell: GridCell) -> str:
    """One line for a panel: object count (and Dice), or that it failed."""
    if not cell.ok:
        return "failed"
    text = f"{cell.objects} objects"
    if cell.dice is not None:
        text += f" · Dice {cell.dice:.2f}"
    return text


def plot_grid(result: GridResult, *, z: int | None = None, panel_inches: float = 2.4):
    """The grid as a matplotlib Figure: rows = pre-processings, columns = segmenters.

    Parameters
    ----------
    result : GridResult
    z : int, optional
        The slice shown; default :meth:`GridResult.default_slice` (the middle of the truth).
    panel_inches : float
        Size of one panel.

    Returns
    -------
    matplotlib.figure.Figure
        Each panel the row's pre-processed slice with the mask tinted and outlined, titled with the object
        count (and Dice with a truth); a failed cell shows its error text instead.
    """
    if not isinstance(result, GridResult):
        raise ValueError("`result` must be the GridResult that run_grid returned.")
    z = slice_index(result, z)
    panel_inches = check_number(panel_inches, "panel_inches", minimum=0.5, maximum=20)
    n_rows, n_cols = result.shape
    figure = _render.notebook_figure(figsize=(panel_inches * n_cols + 1.2, panel_inches * n_rows + 0.6),
                                     layout="constrained")
    axes = np.atleast_2d(figure.subplots(n_rows, n_cols, squeeze=False))
    for i, p in enumerate(result.row_names):
        limits = _row_limits(result, p)
        for j, s in enumerate(result.column_names):
            ax = axes[i, j]
            cell = result.cells[(p, s)]
            ax.set_xticks([])
            ax.set_yticks([])
            if cell.ok:
                ax.imshow(panel_image(result, p, s, z=z, limits=limits), interpolation="nearest")
                ax.set_title(cell_caption(cell), fontsize=8)
            else:
                ax.set_facecolor("#f4f4f4")
                ax.text(0.5, 0.5, "failed:\n" + "\n".join(textwrap.wrap(cell.error, 28)[:6]), ha="center",
                        va="center", fontsize=7, color="#b00020", transform=ax.transAxes)
                ax.set_title("failed", fontsize=8, color="#b00020")
            if i == 0:
                ax.text(0.5, 1.18, s, ha="center", va="bottom", fontsize=9, fontweight="bold", transform=ax.transAxes)
            if j == 0:
                ax.set_ylabel(p, fontsize=9, fontweight="bold")
    figure.suptitle(f"slice z = {z}", fontsize=9)
    return figure
