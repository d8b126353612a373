"""Widgets for curation in a notebook: look at each image, draw regions, click Accept or Reject.

:class:`SortingWidget` shows a :class:`~.sorting.Sorter`'s image on show: the raw image with the
candidate segmentation over it (the middle slice, the XY and the XZ maximum projections, z stretched by
the voxel size), the exclusion regions hatched in amber, and a drawing canvas of the XY projection where
a person clicks a polygon around a region to exclude (click the vertices, then the first vertex again to
close it). :class:`MergingWidget` does the same for a :class:`~.merging.Merger`: candidates A and B and
their merge side by side, the polygons marking where B is right; :func:`merge_figure` draws A, B and the
merge of one decided image as a static figure.

Buttons accept, reject, skip or go back; others undo the last polygon, clear the regions, load a mask
drawn in Fiji or napari, and show the image in 3D. Every button is also a method (``accept()``,
``reject()``, ``skip()``, ``back()``, ``add_polygon(vertices)``, ``undo()``, ``clear()``,
``load_mask(path)``, ``show_3d()``), so scripts and tests drive the widget exactly as clicks do. A
failed click says why in red under the buttons.

The canvas needs ipympl (``pip install ipympl``, with its JupyterLab extension, which ships in the
wheel); without it the widget says so and regions can still be added with ``add_polygon`` or a mask file.

Example
-------
>>> from helpers import curation
>>> from helpers.curation.widgets import SortingWidget
>>> sorter = curation.Sorter(curation.match_candidates("images/", "classic/"), "curation/sorting.csv",
...                          training_folder="training/sorted")                 # doctest: +SKIP
>>> SortingWidget(sorter)              # in a notebook: the images, the canvas and the buttons  # doctest: +SKIP
"""

from __future__ import annotations

import html
import itertools
import logging
from abc import ABC, abstractmethod

import numpy as np

from .. import _render
from .merging import Merger
from .sorting import Sorter

__all__ = ["SortingWidget", "MergingWidget", "merge_figure"]

_log = logging.getLogger(__name__)

#: Colours: candidate (and A) red, candidate B blue, regions amber.
A_RGB = _render.MASK_RGB
B_RGB = (30, 136, 229)
REGION_RGB = (255, 183, 0)

_FIGURE_NUMBERS = itertools.count(1)
_NO_IPYMPL = ("Install ipympl to draw (<code>pip install ipympl</code>, then restart JupyterLab); regions can "
              "still be added with <code>widget.add_polygon([(y, x), ...])</code> or a mask file (below).")
#: Errors a person can cause (a bad path, a wrong mask, nothing left to decide): shown as they are.
_EXPECTED_ERRORS = (ValueError, RuntimeError, FileNotFoundError, FileExistsError, OSError)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _resize_plane(plane, size, *, smooth: bool) -> np.ndarray:
    """A 2D uint8 or bool plane resized to ``size`` (rows, columns); masks stay masks."""
    from PIL import Image

    rows, columns = size
    is_mask = plane.dtype == bool
    array = plane.astype(np.uint8) * np.uint8(255) if is_mask else plane
    if array.shape == (rows, columns):
        return plane.copy()
    method = (Image.Resampling.BILINEAR if smooth and rows * columns < array.size else Image.Resampling.NEAREST)
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize((columns, rows), method))
    return resized > 127 if is_mask else resized


def _blend(rgb, where, colour, alpha) -> None:
    rgb[where] = ((1 - alpha) * rgb[where] + alpha * np.asarray(colour, np.float32)).astype(np.uint8)


def _panel(plane, limits, size, overlays=(), regions=None, *, hatch=False) -> np.ndarray:
    """RGB of a raw plane at ``size`` with masks tinted over it and regions outlined (hatched: excluded)."""
    rgb = _render.gray_rgb(_resize_plane(_render.to_gray(plane, limits), size, smooth=True))
    for mask, colour in overlays:
        _blend(rgb, _resize_plane(np.asarray(mask, bool), size, smooth=False), colour, 0.5)
    if regions is not None and regions.any():
        shown = _resize_plane(np.asarray(regions, bool), size, smooth=False)
        if hatch:  # diagonal stripes: the region is excluded, yet the image under it stays visible
            rows, columns = np.indices(shown.shape)
            _blend(rgb, shown & ((rows + columns) // 4 % 2 == 0), REGION_RGB, 0.6)
        rgb[_render.outline(shown)] = REGION_RGB
    return rgb


class _CurationWidget(ABC):
    """What the sorting and merging widgets share (not used directly)."""

    session_class: type = object
    accept_label = "Accept"
    accept_tooltip = ""
    decision_words = {"1": "accepted", "0": "rejected"}

    def __init__(self, session, *, panel_size: int = 256, canvas_size: int = 384):
        if not isinstance(session, self.session_class):
            raise ValueError(f"{type(self).__name__} shows a {self.session_class.__name__}; got "
                             f"{type(session).__name__}. Make one with curation.{self.session_class.__name__}"
                             "(items, log, training_folder=...).")
        for name, value in (("panel_size", panel_size), ("canvas_size", canvas_size)):
            if isinstance(value, bool) or not isinstance(value, int) or not 64 <= value <= 2000:
                raise ValueError(f"`{name}` must be a whole number of screen pixels in [64, 2000]; got {value!r}.")
        self.session = session
        self.panel_size, self.canvas_size = panel_size, canvas_size
        #: the 3D view made by the last show_3d() (None until then, and again after a change of image)
        self.viewer3d = None
        self.figure = self.canvas = self.selector = None
        self._limits: tuple[int, tuple[float, float]] | None = None
        self._shown_index = None
        self._build()
        self.refresh()

    # -- actions: every button calls one of these ----------------------------------------------------

    def accept(self) -> None:
        """Accept the image on show (see the session's ``accept``) and show the next undecided one."""
        name = self._name()
        regions = self._regions_text()
        self.session.accept()
        self.refresh(f"{self._accepted_words()} {name}{regions}.")

    def reject(self) -> None:
        """Reject the image on show (score 0) and show the next undecided one."""
        name = self._name()
        self.session.reject()
        self.refresh(f"Rejected {name}.")

    def skip(self) -> None:
        """Leave the image undecided for now; show the next undecided one."""
        name = self._name()
        self.session.skip()
        self.refresh(f"Skipped {name} (still to do).")

    def back(self) -> None:
        """Show the previous image, decided or not, to look again or change its decision."""
        self.session.back()
        self.refresh(f"Back to {self._name()}.")

    def go_to(self, index: int) -> None:
        """Show image ``index`` (0-based), decided or not."""
        self.session.go_to(index)
        self.refresh(f"Showing {self._name()}.")

    def add_polygon(self, vertices, *, z=None):
        """Add a region: (y, x) vertices in pixels of the XY projection (as the canvas does). Returns it."""
        polygon = self.session.add_polygon(vertices, z=z)
        self.refresh(f"Added region {len(self.session.polygons)} ({len(polygon.vertices)} vertices).")
        return polygon

    def undo(self) -> None:
        """Remove the last polygon."""
        self.session.remove_last_polygon()
        self.refresh(f"Removed the last polygon; {len(self.session.polygons)} left.")

    def clear(self) -> None:
        """Remove every region of the image on show (polygons and a loaded mask file)."""
        self.session.clear_regions()
        self.refresh("Cleared the regions of this image.")

    def load_mask(self, path=None) -> None:
        """Use a mask drawn in Fiji or napari (2D or 3D TIFF, .npy, or a regions file) as regions.

        ``path`` defaults to the text field's content.
        """
        if path is None:
            path = self._mask_path.value.strip()
            if not path:
                raise ValueError("Type the path of a mask file (.tif, .tiff, .npy or .json) in the field first.")
        self.session.load_mask(path)
        self.refresh(f"Loaded the regions of {self.session.mask_file.name}.")

    def show_3d(self):
        """Show the image on show in 3D with its mask (below the buttons) and return the viewer."""
        from ..viewer import view3d

        image = self.session.image
        self.viewer3d = view3d(image.data, self._mask_3d(), voxel_size=image.voxel_size or (1.0, 1.0, 1.0))
        self._view3d_box.children = (self.viewer3d.widget,)
        self._set_status(f"3D view of {html.escape(self._name())} below (drag to rotate).")
        return self.viewer3d

    def refresh(self, message: str | None = None) -> None:
        """Redraw everything for the image on show (after a change made to the session directly)."""
        session = self.session
        if self.viewer3d is not None and (session.index is None or self._shown_index != session.index):
            self.viewer3d = None
            self._view3d_box.children = ()
        self._shown_index = session.index
        self._progress.value = f"<b>{html.escape(session.progress())}</b>"
        done = session.index is None
        for button in self._buttons.values():
            button.disabled = done
        self._mask_path.disabled = done
        self._buttons["back"].disabled = session.index == 0
        if done:
            self._name_line.value = ""
            self._captions.value = ""
            self._preview.layout.display = "none"
            self._draw_canvas()
            self._set_status(self._finished_text(message))
            return
        self._preview.layout.display = None
        self._buttons["undo"].disabled = not session.polygons
        self._buttons["clear"].disabled = not session.polygons and session.mask_file is None
        self._name_line.value = self._name_html()
        self._render_preview()
        self._draw_canvas()
        self._set_status(html.escape(message) if message else self._hint())

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- what the subclasses define -------------------------------------------------------------------

    def _accepted_words(self) -> str:
        return "Accepted"

    @abstractmethod
    def _hint(self) -> str:
        """One line that says what to do with the image on show."""

    @abstractmethod
    def _panels(self, limits) -> tuple[list, list[str], str]:
        """(RGB panels, their titles, a legend) for the image on show."""

    @abstractmethod
    def _outlines(self) -> list[tuple[np.ndarray, tuple]]:
        """(2D mask, colour) outlined on the canvas."""

    @abstractmethod
    def _mask_3d(self) -> np.ndarray:
        """The mask the 3D view shows."""

    # -- building -------------------------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        self._progress = w.HTML()
        self._progress.add_class("segmenter-curation-progress")
        self._name_line = w.HTML()
        self._name_line.add_class("segmenter-curation-name")
        self._captions = w.HTML()
        self._preview = w.Image(format="png")
        self._preview.add_class("segmenter-curation-preview")
        self._status = w.HTML()
        self._status.add_class("segmenter-curation-status")

        specs = [("accept", self.accept_label, "success", self.accept_tooltip, self.accept),
                 ("reject", "Reject", "danger", "not usable: logged with score 0", self.reject),
                 ("skip", "Skip", "", "decide later: show the next undecided image", self.skip),
                 ("back", "Back", "", "show the previous image (to change its decision)", self.back),
                 ("undo", "Undo polygon", "", "remove the last polygon", self.undo),
                 ("clear", "Clear regions", "", "remove every region of this image", self.clear),
                 ("show_3d", "Show 3D", "", "the image and its mask in 3D (below)", self.show_3d),
                 ("load_mask", "Load mask", "", "use a mask drawn in Fiji or napari as regions", self.load_mask)]
        self._buttons = {}
        for key, label, style, tooltip, action in specs:
            button = w.Button(description=label, button_style=style, tooltip=tooltip, layout={"width": "auto"})
            button.add_class(f"segmenter-curation-{key.replace('_', '-')}")
            button.on_click(lambda _, action=action: self._safely(action))
            self._buttons[key] = button
        self._mask_path = w.Text(placeholder="mask drawn in Fiji or napari: .tif, .tiff, .npy or regions .json",
                                 layout={"width": "420px"})
        self._mask_path.add_class("segmenter-curation-mask-path")
        self._view3d_box = w.VBox()
        self._view3d_box.add_class("segmenter-curation-view3d")

        self.canvas = self._make_canvas()
        if self.canvas is None:
            drawing = w.HTML(f"<span style='color:#555'>{_NO_IPYMPL}</span>")
            drawing.add_class("segmenter-curation-canvas-note")
        else:
            drawing = self.canvas
        self._drawing_help = w.HTML(
            "<span style='color:#555'>Draw a region: click its corners on the projection, then click the "
            "first corner again to close it. <i>Esc</i> restarts the polygon being drawn.</span>")
        b = self._buttons
        self.widget = w.VBox([
            self._progress,
            self._name_line,
            self._captions,
            self._preview,
            w.HBox([b["accept"], b["reject"], b["skip"], b["back"]]),
            self._status,
            self._drawing_help,
            drawing,
            w.HBox([b["undo"], b["clear"], b["show_3d"]]),
            w.HBox([self._mask_path, b["load_mask"]]),
            self._view3d_box,
        ])
        self.widget.add_class("segmenter-curation")

    def _make_canvas(self):
        """An ipympl canvas (a widget) of a pyplot-free figure, or None without ipympl."""
        try:
            from ipympl.backend_nbagg import new_figure_manager_given_figure
        except ImportError:
            return None
        import matplotlib
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(self.canvas_size / 100, self.canvas_size / 100), dpi=100)
        with matplotlib.rc_context({"interactive": False}):  # never queued for pyplot-style display
            manager = new_figure_manager_given_figure(next(_FIGURE_NUMBERS), self.figure)
        canvas = manager.canvas
        canvas.header_visible = False
        canvas.toolbar_visible = False  # pan/zoom modes would swallow the clicks that draw
        canvas.resizable = False
        canvas.capture_scroll = False
        canvas.add_class("segmenter-curation-canvas")
        self._axes = self.figure.add_axes((0, 0, 1, 1))  # the image fills the canvas: pixel = data coordinate
        return canvas

    # -- drawing --------------------------------------------------------------------------------------

    def _draw_canvas(self) -> None:
        if self.canvas is None:
            return
        from matplotlib.patches import Polygon as PolygonPatch
        from matplotlib.widgets import PolygonSelector

        if self.selector is not None:
            self.selector.disconnect_events()
            self.selector = None
        axes = self._axes
        axes.clear()
        axes.set_axis_off()
        if self.session.index is None:
            axes.text(0.5, 0.5, "every image has a decision", ha="center", va="center", transform=axes.transAxes)
            self.canvas.draw_idle()
            return
        image = self.session.image
        rows, columns = image.shape[1:]
        scale = self.canvas_size / max(rows, columns)
        self.figure.set_size_inches(max(1, round(columns * scale)) / 100, max(1, round(rows * scale)) / 100)
        projection = _render.to_gray(image.data.max(axis=0), self._image_limits())
        axes.imshow(projection, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for mask, colour in self._outlines():
            rgba = np.zeros((*mask.shape, 4), np.float32)
            rgba[_render.outline(mask)] = (*(c / 255 for c in colour), 1.0)
            axes.imshow(rgba, interpolation="nearest")
        if self.session.mask_file is not None:  # a loaded mask: shown translucent (polygons are patches)
            from .drawing import read_region_mask

            loaded = read_region_mask(self.session.mask_file, image.shape).any(axis=0)
            rgba = np.zeros((*loaded.shape, 4), np.float32)
            rgba[loaded] = (*(c / 255 for c in REGION_RGB), 0.35)
            axes.imshow(rgba, interpolation="nearest")
        colour = _hex(REGION_RGB)
        for polygon in self.session.polygons:
            axes.add_patch(PolygonPatch(polygon.vertices[:, ::-1], closed=True, facecolor=colour, alpha=0.35,
                                        edgecolor=colour, linewidth=1.5))
        axes.set_xlim(-0.5, columns - 0.5)
        axes.set_ylim(rows - 0.5, -0.5)
        self.selector = PolygonSelector(axes, self._polygon_drawn, useblit=False,
                                        props={"color": colour, "linewidth": 1.5, "alpha": 0.9},
                                        handle_props={"markersize": 5, "markerfacecolor": colour,
                                                      "markeredgecolor": colour})
        self.canvas.draw_idle()

    def _polygon_drawn(self, vertices) -> None:
        """The selector's callback: matplotlib (x, y) data coordinates to (y, x) pixels, then add it."""
        yx = [(float(y), float(x)) for x, y in vertices]
        self._safely(lambda: self.add_polygon(yx))

    def _image_limits(self) -> tuple[float, float]:
        index = self.session.index
        if self._limits is None or self._limits[0] != index:
            self._limits = (index, _render.contrast_limits(self.session.image.data))
        return self._limits[1]

    def _render_preview(self) -> None:
        panels, titles, legend = self._panels(self._image_limits())
        rgb = _render.side_by_side(panels)
        self._preview.value = _render.png_bytes(rgb)
        self._preview.layout.width = f"{rgb.shape[1]}px"  # screen pixel = PNG pixel
        cells = "".join(f"<span style='flex:0 0 {p.shape[1]}px;text-align:center;font-size:90%'>{html.escape(t)}"
                        "</span>" for p, t in zip(panels, titles))
        self._captions.value = (f"<div style='display:flex;gap:4px'>{cells}</div>"
                                f"<div style='color:#555;font-size:90%'>{legend}</div>")

    def _size(self, rows: int, columns: int) -> tuple[int, int]:
        """Display size of a (rows, columns) plane: the XY plane's longest side is ``panel_size``."""
        scale = self.panel_size / max(self.session.image.shape[1:])
        return max(1, round(rows * scale)), max(1, round(columns * scale))

    # -- text -----------------------------------------------------------------------------------------

    def _name(self) -> str:
        current = self.session.current
        return current[0].name if current is not None else "(none)"

    def _regions_text(self) -> str:
        count = len(self.session.polygons) + (self.session.mask_file is not None)
        return f" with {count} region{'s' if count != 1 else ''}" if count else ""

    def _name_html(self) -> str:
        session = self.session
        raw, *candidates = session.current
        shape = " x ".join(str(n) for n in session.image.shape)
        row = session.decided(session.index)
        decided = ""
        if row is not None:
            word = self.decision_words.get(row.get("score"), "decided")
            decided = (f" <span style='color:#8a5a00'>· already {word}: decide again to change it</span>")
        files = ", ".join(html.escape(c.name) for c in candidates)
        return (f"<b>{html.escape(raw.name)}</b> <span style='color:#555'>({shape} Z x Y x X; candidate"
                f"{'s' if len(candidates) > 1 else ''}: {files})</span>{decided}")

    def _finished_text(self, message: str | None) -> str:
        session = self.session
        counts = session.counts()
        before = f"{html.escape(message)} " if message else ""
        if session.training is not None:
            folder = html.escape(str(session.training.folder))
            after = (f"Their training examples are in <code>{folder}</code>: train a network on it "
                     f"(<code>3_training.ipynb</code> with <code>TRAINING_FOLDER = \"{folder}\"</code>, or "
                     "<code>segmenter train</code>).")
        else:
            after = (f"No training folder was given: the decisions are in <code>{html.escape(str(session.log.path))}"
                     "</code>; replay them into a session with a training folder to make examples.")
        return (f"{before}<b>Every image has a decision</b> ({counts['accepted']} accepted, {counts['rejected']} "
                f"rejected). {after} <b>Back</b> shows an image again to change its decision.")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self._status.value = f"<span style='color:{colour}'>{text}</span>"

    def _safely(self, action) -> None:
        """Run a click's action; a failure is shown in the status line, never lost."""
        try:
            action()
        except _EXPECTED_ERRORS as error:
            self._set_status(html.escape(str(error)), error=True)
        except Exception as error:  # a bug: keep the widget usable and say so
            _log.exception("curation widget callback failed")
            self._set_status(html.escape(f"Unexpected error ({type(error).__name__}: {error}). Please report it."),
                             error=True)


class SortingWidget(_CurationWidget):
    """Accept or reject each image of a :class:`~helpers.curation.Sorter`, drawing exclusion regions.

    Parameters
    ----------
    sorter : helpers.curation.Sorter
        The session: its images, log and training folder. The widget calls it; it holds no state of
        its own, so the sorter can also be used directly (call :meth:`refresh` afterwards).
    panel_size : int
        Screen pixels of the XY panels' longest side.
    canvas_size : int
        Screen pixels of the drawing canvas' longest side.

    Attributes
    ----------
    widget : ipywidgets.VBox
        What the notebook shows (the widget displays itself as the last line of a cell).
    canvas : ipympl Canvas or None
        The drawing canvas (None without ipympl); ``selector`` is its PolygonSelector.
    viewer3d : helpers.viewer.Viewer3D or None
        The last 3D view.
    """

    session_class = Sorter
    accept_tooltip = "the candidate is right (outside the exclusion regions): it becomes a training example"

    def _hint(self) -> str:
        return ("Accept when the segmentation is right (draw regions around any wrong part first: they are "
                "excluded from training, cost 0); Reject when it is not usable.")

    def _panels(self, limits):
        session = self.session
        image, candidate = session.load()
        data = image.data
        regions = session.region_mask()
        z_count, rows, columns = data.shape
        middle = z_count // 2
        xy = self._size(rows, columns)
        stretch = 1.0
        if image.voxel_size is not None:
            stretch = image.voxel_size[0] / image.voxel_size[2]
        xz = (max(1, round(z_count * stretch * xy[0] / rows)), xy[1])
        overlays = lambda mask: [(mask, A_RGB)]  # noqa: E731
        panels = [
            _panel(data[middle], limits, xy, overlays(candidate[middle]), regions[middle], hatch=True),
            _panel(data.max(axis=0), limits, xy, overlays(candidate.any(axis=0)), regions.any(axis=0), hatch=True),
            _panel(data.max(axis=1), limits, xz, overlays(candidate.any(axis=1)), regions.any(axis=1), hatch=True),
        ]
        stretched = f", z stretched x{stretch:.1f}" if image.voxel_size is not None and stretch != 1 else ""
        titles = [f"middle slice (z = {middle})", "XY maximum projection", f"XZ maximum projection{stretched}"]
        legend = (f"<span style='color:{_hex(A_RGB)}'>■</span> candidate &nbsp; "
                  f"<span style='color:{_hex(REGION_RGB)}'>▨</span> excluded region (cost 0)")
        return panels, titles, legend

    def _outlines(self):
        return [(self.session.candidate().any(axis=0), A_RGB)]

    def _mask_3d(self):
        return self.session.candidate()


class MergingWidget(_CurationWidget):
    """Merge two candidates of each image of a :class:`~helpers.curation.Merger` by drawn regions.

    The polygons mark where candidate B is right; the merge is B inside them and A outside. Parameters
    and attributes as :class:`SortingWidget` (``merger`` instead of ``sorter``).
    """

    session_class = Merger
    accept_label = "Save merged"
    accept_tooltip = "save B inside the regions and A outside as this image's ground truth"

    def _accepted_words(self) -> str:
        return "Saved the merge of"

    def _hint(self) -> str:
        return ("Draw regions around the cells where B (blue) is right, then Save merged: B inside the regions, "
                "A (red) outside. Reject when neither is usable.")

    def _panels(self, limits):
        session = self.session
        image, a, b = session.load()
        regions = session.region_mask()
        merged = np.where(regions, b, a)
        projection = image.data.max(axis=0)
        size = self._size(*projection.shape)
        flat_regions = regions.any(axis=0)
        from_b = (merged & regions).any(axis=0)
        from_a = (merged & ~regions).any(axis=0)
        panels = [
            _panel(projection, limits, size, [(a.any(axis=0), A_RGB)], flat_regions),
            _panel(projection, limits, size, [(b.any(axis=0), B_RGB)], flat_regions),
            _panel(projection, limits, size, [(from_a, A_RGB), (from_b, B_RGB)], flat_regions),
        ]
        titles = ["A (XY maximum projection)", "B", "merged: B inside the regions, A outside"]
        legend = (f"<span style='color:{_hex(A_RGB)}'>■</span> A &nbsp; <span style='color:{_hex(B_RGB)}'>■</span> B"
                  f" &nbsp; <span style='color:{_hex(REGION_RGB)}'>□</span> regions where B is used")
        return panels, titles, legend

    def _outlines(self):
        a, b = self.session.candidates()
        return [(a.any(axis=0), A_RGB), (b.any(axis=0), B_RGB)]

    def _mask_3d(self):
        return self.session.merged()


def merge_figure(merger, index: int = 0, *, panel_inches: float = 3.5):
    """Candidates A, B and their merge for one image of a Merger, as decided (XY maximum projections).

    Reads the image's files and its logged regions without changing the image the merger shows.

    Parameters
    ----------
    merger : helpers.curation.Merger
    index : int
        The image (0-based position in ``merger.items``).
    panel_inches : float
        Width of each of the three panels.

    Returns
    -------
    matplotlib.figure.Figure
        Shows itself as a PNG in a notebook (also headless).
    """
    from ..io import read_image
    from .drawing import read_region_mask
    from .merging import merge_masks

    if not isinstance(merger, Merger):
        raise ValueError(f"merge_figure shows a Merger's images; got {type(merger).__name__}.")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(merger.items):
        raise ValueError(f"`index` must be a whole number from 0 to {len(merger.items) - 1}; got {index!r}.")
    raw, path_a, path_b = merger.items[index]
    image = read_image(raw, promote_2d=True).data
    a = read_image(path_a, promote_2d=True).data != 0
    b = read_image(path_b, promote_2d=True).data != 0
    row = merger.decided(index) or {}
    regions = (read_region_mask(row["mask"], image.shape) if row.get("mask")
               else np.zeros(image.shape, bool))
    merged = merge_masks(a, b, regions)
    projection, flat = image.max(axis=0), regions.any(axis=0)
    limits = _render.contrast_limits(image)
    size = projection.shape
    panels = [_panel(projection, limits, size, [(a.any(axis=0), A_RGB)], flat),
              _panel(projection, limits, size, [(b.any(axis=0), B_RGB)], flat),
              _panel(projection, limits, size, [((merged & ~regions).any(axis=0), A_RGB),
                                                ((merged & regions).any(axis=0), B_RGB)], flat)]
    decision = {"1": "saved", "0": "rejected"}.get(row.get("score"), "not decided yet")
    titles = ["A", "B", f"merged ({decision}): B inside the amber regions"]
    figure = _render.notebook_figure(figsize=(3 * panel_inches, panel_inches * size[0] / size[1] + 0.6),
                                     layout="constrained")
    for axes, panel, title in zip(figure.subplots(1, 3), panels, titles):
        axes.imshow(panel, interpolation="nearest")
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    figure.suptitle(raw.name, fontsize=10)
    return figure
