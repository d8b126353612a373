"""The tuning panel: sliders built from a workflow and the parameter registry, with a live preview.

A :class:`TuningPanel` shows one control per parameter of a workflow (a slider, a menu or a tick
box, with the registry's range and step), grouped by stage: pre-processing, core, post-processing.
Moving a control recomputes only the steps that depend on it (the engine's fingerprints), on a
preview region (the whole image when it is small, else a middle slab; a crop can be picked), and
redraws the preview: the raw image, a chosen intermediate step and the mask over the raw image.
A button runs the whole image and refreshes the 3D view (:attr:`TuningPanel.viewer3d`); others
reset to the preset, save the tuned workflow for ``segmenter run``, and show it as code to copy.

Example
-------
>>> from helpers import io, widgets
>>> image = io.read_image("../../data_samples/sec61b.ome.tif")                    # doctest: +SKIP
>>> panel = widgets.TuningPanel("sec61b", image.data, voxel_size=image.voxel_size)  # doctest: +SKIP
>>> panel                                    # in a notebook: the sliders and the preview   # doctest: +SKIP
>>> panel.set("filaments", scales=[[1, 0.1]])  # what moving the slider does              # doctest: +SKIP
>>> result = panel.run_full()                # the whole image; refreshes panel.viewer3d   # doctest: +SKIP
>>> panel.save("results/sec61b_tuned.json")                                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import pprint
import time
from pathlib import Path

import numpy as np

from . import _render, regions
from . import workflow as engine
from ._checks import check_image, check_voxel_size
from .io import next_free_path
from .registry import STAGES, Parameter, get_algorithm

__all__ = ["TuningPanel"]

_log = logging.getLogger(__name__)

_SLIDER_LAYOUT = {"width": "440px"}
_STYLE = {"description_width": "120px"}
_VIEWS = ("slice", "max projection")


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step and step < 1 else 0


class _Control:
    """The widget(s) of one parameter: ``get`` gives the value in the registry's form, ``set`` shows one."""

    def __init__(self, name: str, spec: Parameter, value):
        import ipywidgets as w

        self.name, self.spec = name, spec
        self._parts = []
        tip = spec.description
        if spec.kind == "scales":
            self._callback = None
            add = w.Button(description="+ scale", layout={"width": "80px"},
                           tooltip="add a [sigma, cutoff] pair: the pairs' results are combined (OR)")
            remove = w.Button(description="- scale", layout={"width": "80px"}, tooltip="remove the last pair")
            add.on_click(lambda _: self._change_scale_count(+1))
            remove.on_click(lambda _: self._change_scale_count(-1))
            self._scale_buttons = w.HBox([add, remove], layout={"margin": "0 0 0 124px"})
            self.widget = w.VBox()
            self._set_pairs(value)
        elif spec.kind == "bool":
            box = w.Checkbox(value=bool(value), description=name, tooltip=tip, indent=True)
            self._parts = [box]
            self.widget = box
        elif spec.kind == "choice":
            menu = w.Dropdown(options=list(spec.choices), value=value, description=name, tooltip=tip)
            self._parts = [menu]
            self.widget = menu
        else:
            make = w.IntSlider if spec.kind == "int" else w.FloatSlider
            extra = {} if spec.kind == "int" else {"readout_format": f".{_decimals(spec.step)}f"}
            slider = make(value=spec.maximum if value is None else value, min=spec.minimum, max=spec.maximum,
                          step=spec.step, description=name, tooltip=tip, **extra)
            self._parts = [slider]
            if spec.optional:
                self._none = w.Checkbox(value=value is None, description="none", indent=False,
                                        tooltip="no value: " + tip, layout={"width": "90px"})
                slider.disabled = value is None
                self._parts.append(self._none)
                self.widget = w.HBox([slider, self._none])
            else:
                self.widget = slider
        if spec.kind != "scales":
            self._style(self._parts)

    @staticmethod
    def _style(parts) -> None:
        import ipywidgets as w

        for part in parts:
            if hasattr(part, "continuous_update"):
                part.continuous_update = False  # recompute when the slider is released, not while dragging
            if part.description:
                part.style = _STYLE
            if isinstance(part, (w.FloatSlider, w.IntSlider)):
                part.layout = _SLIDER_LAYOUT
            part.add_class("segmenter-parameter")

    def _set_pairs(self, pairs) -> None:
        """Show one sigma and one cutoff slider per [sigma, cutoff] pair (scales parameters)."""
        import ipywidgets as w

        spec = self.spec
        self._parts = []
        for index, (sigma, cutoff) in enumerate(pairs, start=1):
            label = f"scale {index}" if len(pairs) > 1 else "scale"
            self._parts += [
                w.FloatSlider(value=sigma, min=spec.sigma_step, max=spec.sigma_range[1], step=spec.sigma_step,
                              description=f"{label}: sigma", tooltip="width of the structures found, in voxels",
                              readout_format=f".{_decimals(spec.sigma_step)}f"),
                w.FloatSlider(value=cutoff, min=spec.minimum, max=spec.maximum, step=spec.step,
                              description=f"{label}: cutoff", tooltip="smallest filter response kept (lower: more)",
                              readout_format=f".{_decimals(spec.step)}f")]
        self._style(self._parts)
        if self._callback is not None:
            for part in self._parts:
                part.observe(self._callback, names="value")
        self._scale_buttons.children[1].disabled = len(pairs) == 1
        self.widget.children = [*self._parts, self._scale_buttons]

    def _change_scale_count(self, delta: int) -> None:
        pairs = self.get()
        if delta > 0:
            sigma, cutoff = pairs[-1]
            pairs.append([min(self.spec.sigma_range[1], round(2 * sigma, 6)), cutoff])
        elif len(pairs) > 1:
            pairs.pop()
        self._set_pairs(pairs)
        if self._callback is not None:
            self._callback(None)

    def get(self):
        if self.spec.kind == "scales":
            values = [part.value for part in self._parts]
            return [[values[i], values[i + 1]] for i in range(0, len(values), 2)]
        if self.spec.optional and self._none.value:
            return None
        return self._parts[0].value

    def set(self, value) -> None:
        if self.spec.kind == "scales":
            if 2 * len(value) != len(self._parts):
                self._set_pairs(value)
                return
            for index, (sigma, cutoff) in enumerate(value):
                self._parts[2 * index].value = sigma
                self._parts[2 * index + 1].value = cutoff
            return
        if self.spec.optional:
            self._none.value = value is None
            self._parts[0].disabled = value is None
            if value is None:
                return
        self._parts[0].value = value

    def observe(self, callback) -> None:
        if self.spec.kind == "scales":
            self._callback = callback
        for part in self._parts:
            part.observe(callback, names="value")
        if self.spec.optional:
            self._none.observe(lambda change: setattr(self._parts[0], "disabled", change["new"]), names="value")


class TuningPanel:
    """Sliders for every parameter of a workflow, a live preview, and buttons to run, reset, save.

    Parameters
    ----------
    workflow : str, os.PathLike or helpers.workflow.Workflow
        A preset name (``"sec61b"``), a saved workflow file, or a Workflow.
    image : array_like, shape (Z, Y, X), or helpers.io.Image
        The raw image (any real dtype). An ``io.Image`` also gives the voxel size.
    voxel_size : tuple of float, optional
        (Z, Y, X) voxel size in micrometres, for the 3D view's proportions. Default: the
        ``io.Image``'s, else isotropic.
    region : tuple of three slice, optional
        The preview region. Default: the whole image when it is small, else a middle slab
        (:func:`helpers.regions.preview_region`); it can be changed in the panel.
    halo : tuple of three int
        Context (Z, Y, X voxels) computed around the region and cut off before display.
    max_preview_voxels : int
        Budget of the default preview region (region plus halo).
    panel_size : int
        Width in screen pixels of each of the three preview images.

    Attributes
    ----------
    workflow : helpers.workflow.Workflow
        The tuned workflow (the preset until a control moves).
    preset : helpers.workflow.Workflow
        What the panel started from; "Reset" returns to it.
    preview : helpers.workflow.Result
        The last preview run (on the region plus halo).
    result : helpers.workflow.Result or None
        The last whole-image run.
    widget : ipywidgets.VBox
        The panel (displayed when the panel is the last line of a cell).
    """

    def __init__(self, workflow, image, *, voxel_size=None, region=None, halo=regions.DEFAULT_HALO,
                 max_preview_voxels: int = regions.DEFAULT_PREVIEW_VOXELS, panel_size: int = 300):
        if hasattr(image, "data") and hasattr(image, "voxel_size"):  # a helpers.io.Image
            voxel_size = voxel_size if voxel_size is not None else image.voxel_size
            image = image.data
        array = np.asarray(image)
        self.image = check_image(array, dtype=array.dtype)
        if float(self.image.min()) == float(self.image.max()):
            raise ValueError(f"The image is constant (every voxel is {self.image.flat[0]}); there is nothing to "
                             "segment. Check that the right file and channel were read.")
        self.voxel_size = check_voxel_size(voxel_size, unknown=(1.0, 1.0, 1.0))
        self.preset = workflow if isinstance(workflow, engine.Workflow) else engine.load_preset(workflow)
        self._origin = workflow if not isinstance(workflow, engine.Workflow) else None
        self.workflow = self.preset
        self.halo = regions._check_halo(halo)
        if region is None:
            region = regions.preview_region(self.image.shape, max_voxels=max_preview_voxels, halo=self.halo)
        self.region = regions.check_region(region, self.image.shape)
        if not isinstance(panel_size, int) or not 64 <= panel_size <= 2000:
            raise ValueError(f"`panel_size` must be a whole number of screen pixels in [64, 2000], got {panel_size!r}.")
        self.panel_size = panel_size
        self.preview = None
        self.result = None
        self._viewer3d = None
        self._quiet = False
        self._limits_cache: dict = {}
        # Step outputs of earlier previews, so that going back to a value (or resetting) is instant:
        # about 40 preview-sized float32 arrays, at least 256 MB.
        preview_bytes = 4 * math.prod(regions.region_shape(regions.expand(self.region, self.image.shape, self.halo)))
        self._cache = engine.StepCache(max_bytes=max(256 * 1024**2, 40 * preview_bytes))
        self._build()
        self._refresh_preview()

    # ------------------------------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------------------------------

    def set(self, step_id: str, **parameters) -> None:
        """Change parameters of one step, as moving its controls would, and update the preview.

        Raises
        ------
        ValueError
            For an unknown step or parameter or an out-of-range value (nothing changes then).
        """
        tuned = self.workflow.with_parameters(step_id, **parameters)
        controls = self._controls.get(step_id, {})
        with self._silenced():
            for name in parameters:
                controls[name].set(tuned.step(step_id).parameters[name])
        self.workflow = tuned
        self._after_change()

    def reset(self) -> None:
        """Return every control to the preset's value and update the preview."""
        with self._silenced():
            for step in self.preset.steps:
                for name, control in self._controls.get(step.id, {}).items():
                    control.set(step.parameters[name])
        self.workflow = self.preset
        self._after_change()

    def run_full(self, *, keep_intermediates: bool | None = None):
        """Run the tuned workflow on the whole image, refresh the 3D view, and return the Result.

        Parameters
        ----------
        keep_intermediates : bool, optional
            Keep every step's output (so that the next whole-image run after a change reuses the
            steps before it). Default: only for images up to 64 million voxels, to bound memory.
        """
        if keep_intermediates is None:
            keep_intermediates = self.image.size <= 64_000_000
        self._run_button.disabled = True
        self._set_status(f"Running {self.workflow.name} on the whole image {self.image.shape} ...")
        started = time.perf_counter()
        try:
            self.result = engine.run(self.workflow, self.image, previous=self.result or self.preview,
                                     keep_intermediates=keep_intermediates)
        finally:
            self._run_button.disabled = False
        elapsed = time.perf_counter() - started
        if self._viewer3d is not None:
            self._viewer3d.update(mask=self.result.mask)
        fraction = self.result.mask.mean()
        self._set_status(f"Whole image done in {elapsed:.1f} s: the mask covers {fraction:.2%} of the voxels. "
                         "The 3D view shows it (panel.viewer3d).")
        return self.result

    @property
    def viewer3d(self):
        """The 3D view of the image with the last whole-image mask (made on first use)."""
        if self._viewer3d is None:
            from .viewer import view3d

            mask = self.result.mask if self.result is not None else None
            self._viewer3d = view3d(self.image, mask, voxel_size=self.voxel_size)
        return self._viewer3d

    def save(self, path, *, if_exists: str = "error") -> Path:
        """Save the tuned workflow as JSON for ``segmenter run`` and :func:`helpers.workflow.load_preset`.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write (missing folders are created).
        if_exists : {"error", "rename", "overwrite"}
            What to do when the file exists: refuse (FileExistsError), write ``name-2.json`` (or the
            next free name) instead, or replace it.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        if if_exists not in ("error", "rename", "overwrite"):
            raise ValueError(f"`if_exists` must be 'error', 'rename' or 'overwrite', got {if_exists!r}.")
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise ValueError(f"Save the workflow under a name ending in .json (got {path.name!r}), so that "
                             "`segmenter run` recognizes it as a workflow file.")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and if_exists == "rename":
            path = next_free_path(path)
        return self.workflow.save(path, overwrite=if_exists == "overwrite")

    def changes(self) -> dict[str, dict]:
        """The parameters that differ from the preset, by step id."""
        changed = {}
        for step in self.workflow.steps:
            before = self.preset.step(step.id).parameters
            differing = {k: v for k, v in step.parameters.items() if before.get(k) != v}
            if differing:
                changed[step.id] = differing
        return changed

    def code(self) -> str:
        """Python code that rebuilds the tuned workflow, to paste into a notebook or script."""
        if isinstance(self._origin, (str, Path)):
            load = f"workflow.load_preset({str(self._origin)!r})"
        elif self.preset.name in engine.preset_names() and not self._differs_from_shipped():
            load = f"workflow.load_preset({self.preset.name!r})"
        else:
            load = f"workflow.from_dict({pprint.pformat(self.preset.to_dict(), width=100, sort_dicts=False)})"
        lines = ["from helpers import workflow", "", f"tuned = {load}"]
        for step_id, changed in self.changes().items():
            arguments = ", ".join(f"{k}={v!r}" for k, v in changed.items())
            lines.append(f"tuned = tuned.with_parameters({step_id!r}, {arguments})")
        if not self.changes():
            lines.append("# (no parameter differs from the preset yet)")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------------------------------
    # building the widgets
    # ------------------------------------------------------------------------------------------

    def _differs_from_shipped(self) -> bool:
        return self.preset.to_dict()["steps"] != engine.load_preset(self.preset.name).to_dict()["steps"]

    def _build(self) -> None:
        import ipywidgets as w

        self._controls: dict[str, dict[str, _Control]] = {}
        sections = {stage: [] for stage in STAGES}
        for number, step in enumerate(self.workflow.steps, start=1):
            algorithm = get_algorithm(step.algorithm)
            if not algorithm.parameters:
                continue
            controls = {name: _Control(name, spec, step.parameters[name])
                        for name, spec in algorithm.parameters.items()}
            for control in controls.values():
                control.observe(lambda change, step_id=step.id: self._on_control(step_id))
            self._controls[step.id] = controls
            title = w.HTML(f"<b>{number}. {html.escape(step.id)}</b> &nbsp;<span style='color:#555'>"
                           f"{html.escape(algorithm.label)}: {html.escape(algorithm.description)}</span>")
            sections[algorithm.stage].append(w.VBox([title, *[c.widget for c in controls.values()]]))
        used = [stage for stage in STAGES if sections[stage]]
        self._region_controls = self._build_region_controls()
        accordion = w.Accordion(children=[w.VBox(sections[s]) for s in used] + [self._region_controls],
                                titles=tuple(used) + ("preview region",),
                                layout={"width": "490px"})
        accordion.selected_index = used.index("core") if "core" in used else 0
        self._accordion = accordion

        options = [("raw image", engine.RAW)] + [
            (f"{s.id} ({get_algorithm(s.algorithm).label})", s.id) for s in self.workflow.steps]
        self._show = w.Dropdown(options=options, value=self._default_intermediate(), description="middle panel",
                                style=_STYLE, layout={"width": "360px"})
        z_count = self.region[0].stop - self.region[0].start
        self._z = w.IntSlider(value=z_count // 2, min=0, max=z_count - 1, description="z in region",
                              continuous_update=False, style=_STYLE, layout={"width": "360px"})
        self._view = w.ToggleButtons(options=list(_VIEWS), value="slice")
        for control in (self._show, self._z, self._view):
            control.observe(lambda change: self._safely(self._render), names="value")
        width = f"{3 * self.panel_size + 8}px"
        self._captions = w.HTML(layout={"width": width})
        self._preview_image = w.Image(format="png", layout={"width": width})
        self._preview_image.add_class("segmenter-preview")
        self._status = w.HTML()
        self._status.add_class("segmenter-status")

        self._run_button = w.Button(description="Run whole image", button_style="primary",
                                    tooltip="run the tuned workflow on the whole image and refresh the 3D view",
                                    layout={"width": "160px"})
        reset = w.Button(description="Reset to preset", tooltip="every slider back to the preset's value")
        self._code_toggle = w.ToggleButton(description="Show as code", tooltip="the tuned parameters as Python")
        self._save_name = w.Text(value=f"{self.workflow.name}_tuned.json", description="save as",
                                 style={"description_width": "60px"}, layout={"width": "300px"})
        self._overwrite = w.Checkbox(value=False, description="overwrite", indent=False, layout={"width": "100px"})
        save = w.Button(description="Save workflow", tooltip="write the tuned workflow as JSON for `segmenter run`")
        self._code = w.HTML(layout={"display": "none"})
        self._run_button.on_click(lambda _: self._safely(self.run_full))
        reset.on_click(lambda _: self._safely(self.reset))
        save.on_click(lambda _: self._safely(self._save_clicked))
        self._code_toggle.observe(lambda change: self._safely(self._refresh_code), names="value")

        header = w.HTML(f"<h3 style='margin:4px 0'>{html.escape(self.workflow.name)}: "
                        f"{html.escape(self.workflow.gene)} {html.escape(self.workflow.structure)}</h3>"
                        "<span style='color:#555'>Move a slider: only the steps after it are recomputed, on the "
                        "preview region. <b>Run whole image</b> when the preview looks right.</span>")
        preview = w.VBox([self._captions, self._preview_image, self._show, w.HBox([self._z, self._view])])
        self.widget = w.VBox([
            header,
            w.HBox([accordion, preview]),
            self._status,
            w.HBox([self._run_button, reset, self._code_toggle]),
            w.HBox([self._save_name, self._overwrite, save]),
            self._code,
        ])
        self.widget.add_class("segmenter-panel")

    def _build_region_controls(self):
        import ipywidgets as w

        z_size, y_size, x_size = self.image.shape
        z, y, x = self.region
        self._region_z = w.IntRangeSlider(value=(z.start, z.stop - 1), min=0, max=z_size - 1, description="z slices",
                                          continuous_update=False, style=_STYLE, layout=_SLIDER_LAYOUT)
        self._region_y = w.IntRangeSlider(value=(y.start, y.stop - 1), min=0, max=y_size - 1, description="y rows",
                                          continuous_update=False, style=_STYLE, layout=_SLIDER_LAYOUT)
        self._region_x = w.IntRangeSlider(value=(x.start, x.stop - 1), min=0, max=x_size - 1, description="x columns",
                                          continuous_update=False, style=_STYLE, layout=_SLIDER_LAYOUT)
        for control in (self._region_z, self._region_y, self._region_x):
            control.observe(lambda change: self._safely(self._region_changed), names="value")
        note = w.HTML("<span style='color:#555'>The preview runs on this crop (inclusive ranges), with a margin "
                      f"of {self.halo[0]} slices and {self.halo[1]} pixels computed around it for context. "
                      "Normalizations use the whole image's statistics.</span>")
        return w.VBox([note, self._region_z, self._region_y, self._region_x])

    def _default_intermediate(self) -> str:
        """The image the first core step filters (e.g. the smoothed image), else the first step."""
        for step in self.workflow.steps:
            if get_algorithm(step.algorithm).stage == "core":
                first = next(iter(step.inputs.values()))
                return first[0] if isinstance(first, list) else first
        return self.workflow.steps[0].id

    # ------------------------------------------------------------------------------------------
    # reacting
    # ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _silenced(self):
        """Set controls without each change recomputing the preview."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _safely(self, action) -> None:
        """Run a widget callback; show a failure in the status line instead of losing it in a log."""
        try:
            action()
        except (ValueError, FileExistsError, FileNotFoundError, OSError) as error:
            self._set_status(str(error), error=True)
        except Exception as error:  # a bug: keep the panel usable and say so
            _log.exception("tuning panel callback failed")
            self._set_status(f"Unexpected error ({type(error).__name__}: {error}). Please report it.", error=True)

    def _on_control(self, step_id: str) -> None:
        if self._quiet:
            return

        def change():
            parameters = {name: control.get() for name, control in self._controls[step_id].items()}
            self.workflow = self.workflow.with_parameters(step_id, **parameters)
            self._after_change()

        self._safely(change)

    def _after_change(self) -> None:
        self._refresh_preview()
        if self._code_toggle.value:
            self._refresh_code()

    def _region_changed(self) -> None:
        if self._quiet:
            return
        ranges = (self._region_z.value, self._region_y.value, self._region_x.value)
        self.region = regions.check_region(tuple(slice(a, b + 1) for a, b in ranges), self.image.shape)
        z_count = self.region[0].stop - self.region[0].start
        with self._silenced():
            self._z.max = z_count - 1
            self._z.value = min(self._z.value, z_count - 1)
        self._limits_cache.clear()
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        compute = regions.expand(self.region, self.image.shape, self.halo)
        started = time.perf_counter()
        self.preview = engine.run(self.workflow, self.image, previous=self.preview, region=compute, cache=self._cache)
        self._render()
        elapsed = time.perf_counter() - started
        recomputed = ", ".join(self.preview.recomputed) or "nothing"
        inner = regions.relative(self.region, compute)
        fraction = self.preview.mask[inner].mean()
        self._set_status(f"Preview updated in {elapsed:.2f} s (recomputed: {html.escape(recomputed)}). Region "
                         f"{regions.describe(self.region)}; the mask covers {fraction:.2%} of it.")

    def _plane(self, volume) -> np.ndarray:
        compute = self.preview.region
        inner = volume[regions.relative(self.region, compute)] if volume.shape == self.preview.mask.shape else volume
        if self._view.value == "max projection":
            return inner.max(axis=0)
        return inner[min(self._z.value, inner.shape[0] - 1)]

    def _limits(self, key, volume):
        if key not in self._limits_cache:
            self._limits_cache[key] = _render.contrast_limits(volume)
        return self._limits_cache[key]

    def _render(self) -> None:
        if self.preview is None:
            return
        raw_region = self.image[self.region]
        raw_limits = self._limits(("raw", regions.describe(self.region)), raw_region)
        raw_gray = _render.to_gray(self._plane(raw_region), raw_limits)
        shown = self._show.value
        if shown == engine.RAW:
            middle = _render.gray_rgb(raw_gray)
        else:
            volume = np.asarray(self.preview.images[shown])
            if volume.dtype != bool and np.issubdtype(volume.dtype, np.integer):
                volume = volume > 0  # labels: show where objects are
            key = (self.preview.fingerprints[shown], regions.describe(self.region))
            middle = _render.gray_rgb(_render.to_gray(self._plane(volume), self._limits(key, volume)))
        mask_plane = self._plane(self.preview.mask)
        panels = [_render.gray_rgb(raw_gray), middle, _render.overlay(raw_gray, mask_plane)]
        scale = self.panel_size / max(raw_gray.shape)
        rgb = _render.side_by_side([_render.resize(p, scale) for p in panels])
        self._preview_image.value = _render.png_bytes(rgb)
        where = (f"max projection of z {self.region[0].start}-{self.region[0].stop - 1}"
                 if self._view.value == "max projection" else f"z = {self.region[0].start + self._z.value}")
        cell = f"flex:0 0 {self.panel_size}px;text-align:center"
        titles = ["raw", html.escape(str(shown)), "mask over raw"]
        self._captions.value = ("<div style='display:flex;gap:4px'>"
                                + "".join(f"<span style='{cell}'>{t}</span>" for t in titles)
                                + f"</div><div style='color:#555'>{where}</div>")

    def _refresh_code(self) -> None:
        if not self._code_toggle.value:
            self._code.layout.display = "none"
            return
        self._code.value = ("<pre style='background:#f6f6f6;padding:6px;user-select:text'>"
                            f"{html.escape(self.code())}</pre>")
        self._code.layout.display = None

    def _save_clicked(self) -> None:
        path = self.save(self._save_name.value.strip(), if_exists="overwrite" if self._overwrite.value else "error")
        self._set_status(f"Saved the tuned workflow to {html.escape(str(path))}. Run it on a folder with: "
                         f"<code>segmenter run {html.escape(str(path))} FOLDER -o OUTPUT</code>")

    def _set_status(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self._status.value = f"<span style='color:{colour}'>{text if not error else html.escape(text)}</span>"
