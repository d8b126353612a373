"""The pipeline grid as a notebook widget: look at every combination, judge each one, saved at once.

One panel per (pre-processing, segmenter) cell of a :class:`~helpers.analysis.pipeline_grid.GridResult`
(rows = pre-processings, columns = segmenters): the row's pre-processed slice with the mask tinted and
outlined, the object count (and Dice with a truth), and four toggle buttons - correct, under-segmented,
over-segmented, failed. A slider picks the slice; a status line says what was saved. Every judgement is
written at once to the CSV and its JSON parameter record (:class:`~helpers.analysis.grid_judgements.GridJudgements`),
so a closed tab or a restarted kernel loses nothing; opening the widget again on the same file resumes.

Every action is also a method (``judge``, ``clear``, ``show_slice``), so scripts and tests drive the
widget exactly as clicks do.

Example
-------
>>> from helpers.analysis.grid_widget import GridWidget
>>> GridWidget(result, "results/grid_judgements.csv")      # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging

from .. import _render
from .._checks import check_number
from .grid_figure import _row_limits, cell_caption, panel_image, slice_index
from .grid_judgements import JUDGEMENTS, GridJudgements
from .pipeline_grid import GridResult

__all__ = ["GridWidget"]

_log = logging.getLogger(__name__)
_EXPECTED_ERRORS = (ValueError, OSError)


class GridWidget:
    """Judge every cell of a pipeline grid in a notebook.

    Parameters
    ----------
    result : GridResult
        From :func:`helpers.analysis.pipeline_grid.run_grid`.
    judgements_path : str or os.PathLike
        The judgements CSV (see :class:`~helpers.analysis.grid_judgements.GridJudgements`); an existing one
        of ours is resumed, anything else is refused.
    panel_size : int
        Width of one panel in screen pixels (64 to 1000).
    z : int, optional
        The first slice shown; default: the slice saved with the judgements, else the middle of the truth.

    Attributes
    ----------
    judgements : GridJudgements
    widget : ipywidgets.VBox
        The whole widget (CSS class ``segmenter-grid``).
    z : int
        The slice on show.
    """

    def __init__(self, result: GridResult, judgements_path, *, panel_size: int = 200, z: int | None = None):
        if not isinstance(result, GridResult):
            raise ValueError("`result` must be the GridResult that pipeline_grid.run_grid returned.")
        self.panel_size = int(check_number(panel_size, "panel_size", minimum=64, maximum=1000, integer=True,
                                           hint="It is the width of one panel in screen pixels."))
        self.result = result
        self.judgements = GridJudgements(judgements_path, result)
        self.z = slice_index(result, self.judgements.slice if z is None else z)
        self._updating = False
        self._build()
        self._render_panels()
        self._set_status(self._progress())

    # -- actions --------------------------------------------------------------------------------------

    def judge(self, preprocessing: str, segmenter: str, judgement: str) -> None:
        """Record the judgement of one cell (saved at once) and show it on its buttons."""
        self.judgements.set(preprocessing, segmenter, judgement, z=self.z)
        self._show_value(preprocessing, segmenter, judgement)
        self._set_status(f"Saved: {preprocessing} × {segmenter} is {judgement}. {self._progress()}")

    def clear(self, preprocessing: str, segmenter: str) -> None:
        """Forget the judgement of one cell (saved at once)."""
        self.judgements.remove(preprocessing, segmenter)
        self._show_value(preprocessing, segmenter, None)
        self._set_status(f"Cleared {preprocessing} × {segmenter}. {self._progress()}")

    def show_slice(self, z: int) -> None:
        """Show slice ``z`` in every panel."""
        self.z = slice_index(self.result, z)
        if self._slider.value != self.z:
            self._updating = True
            try:
                self._slider.value = self.z
            finally:
                self._updating = False
        self._render_panels()
        self._set_status(f"Showing slice z = {self.z}. {self._progress()}")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- building -------------------------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        rows, columns = self.result.row_names, self.result.column_names
        self._images, self._buttons, self._captions = {}, {}, {}
        header = [w.HTML("")] + [w.HTML(f"<b>{html.escape(s)}</b>") for s in columns]
        children = list(header)
        for p in rows:
            label = w.HTML(f"<b>{html.escape(p)}</b>")
            label.add_class("segmenter-grid-row-name")
            children.append(label)
            for s in columns:
                cell = self.result.cells[(p, s)]
                image = w.Image(format="png", layout=w.Layout(width=f"{self.panel_size}px", height="auto"))
                caption = w.HTML(self._caption_html(cell))
                buttons = w.ToggleButtons(options=list(JUDGEMENTS), value=self.judgements.get(p, s),
                                          style={"button_width": f"{max(40, self.panel_size // 2 - 6)}px"},
                                          layout=w.Layout(width=f"{self.panel_size}px"))
                buttons.observe(self._on_toggle(p, s), names="value")
                self._images[(p, s)], self._buttons[(p, s)], self._captions[(p, s)] = image, buttons, caption
                box = w.VBox([caption, image, buttons])
                box.add_class("segmenter-grid-cell")
                children.append(box)
        grid = w.GridBox(children, layout=w.Layout(
            grid_template_columns=f"auto repeat({len(columns)}, {self.panel_size + 8}px)", grid_gap="6px"))
        depth = self.result.image.shape[0]
        self._slider = w.IntSlider(value=self.z, min=0, max=depth - 1, description="z slice",
                                   continuous_update=False, layout=w.Layout(width="420px"))
        self._slider.observe(self._on_slider, names="value")
        self._status = w.HTML()
        self._status.add_class("segmenter-grid-status")
        self.widget = w.VBox([self._slider, grid, self._status])
        self.widget.add_class("segmenter-grid")

    def _caption_html(self, cell) -> str:
        if cell.ok:
            return f"<span>{html.escape(cell_caption(cell))}</span>"
        error = html.escape(cell.error)
        return f"<span style='color:#b00020' title='{error}'>failed: {html.escape(cell.error[:80])}</span>"

    def _render_panels(self) -> None:
        for p in self.result.row_names:
            limits = _row_limits(self.result, p)
            for s in self.result.column_names:
                rgb = panel_image(self.result, p, s, z=self.z, limits=limits)
                scale = self.panel_size / rgb.shape[1]
                self._images[(p, s)].value = _render.png_bytes(_render.resize(rgb, scale) if scale < 1 else rgb)

    def _show_value(self, preprocessing, segmenter, value) -> None:
        buttons = self._buttons[(preprocessing, segmenter)]
        if buttons.value != value:
            self._updating = True
            try:
                buttons.value = value
            finally:
                self._updating = False

    # -- callbacks ------------------------------------------------------------------------------------

    def _on_toggle(self, preprocessing, segmenter):
        def changed(change):
            if self._updating:
                return
            if change["new"] is None:
                self._safely(lambda: self.clear(preprocessing, segmenter))
            else:
                self._safely(lambda: self.judge(preprocessing, segmenter, change["new"]))
        return changed

    def _on_slider(self, change) -> None:
        if not self._updating:
            self._safely(lambda: self.show_slice(change["new"]))

    def _progress(self) -> str:
        counts = self.judgements.counts()
        judged = ", ".join(f"{counts[label]} {label}" for label in JUDGEMENTS if counts[label])
        return (f"{counts['to judge']} of {len(self.result.cells)} to judge" + (f" ({judged})" if judged else "")
                + f" · saved in {self.judgements.path.name}")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self._status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    def _safely(self, action) -> None:
        try:
            action()
        except _EXPECTED_ERRORS as error:
            self._set_status(str(error), error=True)
        except Exception as error:  # a bug: keep the widget usable and say so
            _log.exception("grid widget callback failed")
            self._set_status(f"Unexpected error ({type(error).__name__}: {error}). Please report it.", error=True)
