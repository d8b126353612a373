"""Several pre-processings times several segmenters on one image, shown as a grid to judge (OpSeF).

The open segmentation framework (OpSeF) runs a few pre-processing pipelines against a few
segmentation models on one image, shows every combination side by side for a person to judge
(correct, under-segmented, over-segmented, failed) and records every parameter, so that the notebook
documents how the choice was made. This module runs the grid, for 3D stacks, on the workflow engine;
the data then flows on to :mod:`~helpers.analysis.grid_figure` (the grid as a picture),
:mod:`~helpers.analysis.grid_judgements` (the judgements and the parameter record, saved at once) and
:mod:`~helpers.analysis.grid_widget` (the judging grid as a notebook widget).

Pre-processing variants
    Named dicts ``{"normalization": STEP or None, "smoothing": STEP or None}`` where a STEP is
    ``{"algorithm": NAME, "parameters": {...}}`` with a registry normalization (``min_max_normalize``,
    ``auto_contrast``, ``auto_contrast_in_range``) or smoothing (``gaussian_smooth_3d``,
    ``gaussian_smooth_2d``, ``edge_preserving_smooth``); both None is "no pre-processing" (the raw
    image). :func:`default_preprocessings` gives a sensible set, :func:`workflow_preprocessing` the
    one a preset uses.
Segmenter variants
    Named dicts with a ``kind``: ``{"kind": "workflow", "workflow": "lamp1"}`` (a preset name or a
    saved workflow ``.json``), ``{"kind": "threshold", "method": "otsu", "min_size": 0}`` (one global
    threshold, any of :data:`helpers.histogram_thresholds.GLOBAL_THRESHOLD_METHODS`, then objects smaller
    than ``min_size`` voxels removed) or ``{"kind": "model", "checkpoint": "model.pt", "threshold": 0.5}``
    (a trained network, :class:`helpers.prediction.ModelSegmenter`).

How a pre-processing meets a segmenter
    Threshold and model segmenters get the pre-processed image (a model then applies its own training
    normalization to it, so for models the smoothing matters more than the normalization). A workflow's
    own pre-processing is replaced, role for role: its *normalization* steps (a normalization applied to
    the raw image) and its *smoothing* steps (a smoothing applied to such a normalization) are removed;
    steps that used a smoothing step get the variant's pre-processed image (normalized, then smoothed);
    steps that used the normalization directly (e.g. the seeds of ``dsp``) get the variant's normalized
    image, or its pre-processed image when the workflow had no smoothing of its own (so a variant's
    smoothing is never silently dropped). A workflow without a normalization of its own gets the
    pre-processed image in place of the raw image. Each pre-processing is computed once and reused by
    every segmenter of its row (through the engine's step fingerprints).

Example
-------
>>> from helpers.analysis import pipeline_grid as grid
>>> result = grid.run_grid(image, grid.default_preprocessings(),
...                        {"preset": {"kind": "workflow", "workflow": "lamp1"},
...                         "Otsu": {"kind": "threshold", "method": "otsu"}},
...                        truth=truth, workers=2)                            # doctest: +SKIP
>>> from helpers.analysis import grid_figure, grid_judgements
>>> grid_figure.plot_grid(result)                                          # doctest: +SKIP
>>> judgements = grid_judgements.GridJudgements("results/grid.csv", result)  # doctest: +SKIP
>>> judgements.set("auto-contrast", "preset", grid_judgements.CORRECT)     # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_image, check_mask, check_number, check_voxel_size

__all__ = [
    "NORMALIZATIONS", "SMOOTHINGS", "SEGMENTER_KINDS",
    "default_preprocessings", "workflow_preprocessing", "check_preprocessings", "check_segmenters",
    "GridCell", "GridResult", "run_grid",
]

#: Registry algorithms a pre-processing variant may use, by role.
NORMALIZATIONS = ("min_max_normalize", "auto_contrast", "auto_contrast_in_range")
SMOOTHINGS = ("gaussian_smooth_3d", "gaussian_smooth_2d", "edge_preserving_smooth")
#: The kinds of segmenter variant.
SEGMENTER_KINDS = ("workflow", "threshold", "model")

#: Marker of the parameter record written beside a judgements CSV.
RECORD_KIND = "helpers pipeline grid"
RECORD_VERSION = 1

_NORMALIZED_ID = "grid_normalized"
_SMOOTHED_ID = "grid_smoothed"
_COUNT_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # objects are 26-connected


# ----------------------------------------------------------------------------------------------
# variants
# ----------------------------------------------------------------------------------------------

def _step_spec(value, role: str, allowed, where: str) -> dict | None:
    """A normalization or smoothing step in canonical form (every parameter filled in), or None."""
    from ..registry import get_algorithm

    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"algorithm", "parameters"} or "algorithm" not in value:
        raise ValueError(f"{where}: {role!r} must be None or {{'algorithm': NAME, 'parameters': {{...}}}}, "
                         f"got {value!r}.")
    name = value["algorithm"]
    if name not in allowed:
        raise ValueError(f"{where}: {role} algorithm {name!r} is not allowed; choose one of {', '.join(allowed)}.")
    parameters = value.get("parameters", {}) or {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{where}: the {role} parameters must be a dict, got {parameters!r}.")
    algorithm = get_algorithm(name)
    try:
        checked = algorithm.check_parameters(parameters, name=name, what=f"{role} parameter")
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return {"algorithm": name, "parameters": checked}


def _check_names(variants, what: str, example: str) -> dict:
    if not isinstance(variants, dict) or not variants:
        raise ValueError(f"`{what}` must be a non-empty dict of name -> settings, e.g. {example}; got {variants!r}.")
    for name in variants:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"`{what}`: every name must be non-empty text; got {name!r}.")
    return variants


def check_preprocessings(preprocessings) -> dict[str, dict]:
    """Validated pre-processing variants, every parameter filled in (what the record stores).

    Parameters
    ----------
    preprocessings : dict of str to dict
        Name -> ``{"normalization": STEP or None, "smoothing": STEP or None}`` (see the module docstring).

    Returns
    -------
    dict of str to dict
        New dicts in canonical form; the input is not modified.

    Raises
    ------
    ValueError
        For an empty dict, a blank name, an unknown algorithm or parameter, or a value out of range.
    """
    _check_names(preprocessings, "preprocessings",
                 "{'auto-contrast': {'normalization': {'algorithm': 'auto_contrast'}, 'smoothing': None}}")
    checked = {}
    for name, spec in preprocessings.items():
        where = f"pre-processing {name!r}"
        if not isinstance(spec, dict) or set(spec) - {"normalization", "smoothing"}:
            raise ValueError(f"{where} must be a dict with the keys 'normalization' and 'smoothing' (each a step "
                             f"or None); got {spec!r}.")
        checked[name] = {"normalization": _step_spec(spec.get("normalization"), "normalization", NORMALIZATIONS, where),
                         "smoothing": _step_spec(spec.get("smoothing"), "smoothing", SMOOTHINGS, where)}
    return checked


def default_preprocessings(*, sigma: float = 1.0, lower_sd: float = 2.0, upper_sd: float = 10.0) -> dict[str, dict]:
    """A sensible first set of pre-processing variants.

    ``"min-max"`` (rescale to [0, 1]), ``"auto-contrast"`` (clip to mean - ``lower_sd`` sd ... mean +
    ``upper_sd`` sd, rescale), ``"auto-contrast + Gaussian"`` (then a 3D Gaussian of ``sigma`` voxels)
    and ``"auto-contrast + edge-preserving"`` (then anisotropic diffusion with the registry defaults).

    Parameters
    ----------
    sigma : float
        Gaussian standard deviation in voxels.
    lower_sd, upper_sd : float
        Auto-contrast bounds in standard deviations below and above the mean.

    Returns
    -------
    dict of str to dict
        Canonical variants (see :func:`check_preprocessings`).
    """
    auto = {"algorithm": "auto_contrast", "parameters": {"lower_sd": lower_sd, "upper_sd": upper_sd}}
    return check_preprocessings({
        "min-max": {"normalization": {"algorithm": "min_max_normalize"}, "smoothing": None},
        "auto-contrast": {"normalization": auto, "smoothing": None},
        "auto-contrast + Gaussian": {"normalization": auto, "smoothing": {"algorithm": "gaussian_smooth_3d",
                                                                           "parameters": {"sigma": sigma}}},
        "auto-contrast + edge-preserving": {"normalization": auto,
                                            "smoothing": {"algorithm": "edge_preserving_smooth"}},
    })


def _pre_steps(workflow) -> tuple[list, list]:
    """(normalization steps, smoothing steps) of a workflow, by the rule of the module docstring."""
    from ..workflow import RAW

    normalizations = [s for s in workflow.steps if s.algorithm in NORMALIZATIONS and s.inputs.get("image") == RAW]
    ids = {s.id for s in normalizations}
    smoothings = [s for s in workflow.steps if s.algorithm in SMOOTHINGS and s.inputs.get("image") in ids]
    return normalizations, smoothings


def workflow_preprocessing(workflow) -> dict:
    """The pre-processing a workflow does itself, as a variant (to compare a preset's own choice).

    Parameters
    ----------
    workflow : str, os.PathLike or helpers.workflow.Workflow
        A preset name, a saved workflow file or a loaded workflow.

    Returns
    -------
    dict
        ``{"normalization": ..., "smoothing": ...}`` from its first normalization of the raw image and
        the first smoothing of that (None where it has none).
    """
    from ..workflow import Workflow, load_preset

    workflow = workflow if isinstance(workflow, Workflow) else load_preset(workflow)
    normalizations, smoothings = _pre_steps(workflow)
    first = normalizations[0] if normalizations else None
    smoothing = next((s for s in smoothings if first is not None and s.inputs["image"] == first.id), None)
    spec = {"normalization": None if first is None else {"algorithm": first.algorithm, "parameters": first.parameters},
            "smoothing": None if smoothing is None else {"algorithm": smoothing.algorithm,
                                                         "parameters": smoothing.parameters}}
    return check_preprocessings({workflow.name: spec})[workflow.name]


def _check_segmenter(name: str, spec) -> dict:
    from ..histogram_thresholds import GLOBAL_THRESHOLD_METHODS

    where = f"segmenter {name!r}"
    if not isinstance(spec, dict) or spec.get("kind") not in SEGMENTER_KINDS:
        raise ValueError(f"{where} must be a dict whose 'kind' is one of {', '.join(SEGMENTER_KINDS)}, e.g. "
                         "{'kind': 'workflow', 'workflow': 'lamp1'}, {'kind': 'threshold', 'method': 'otsu'} or "
                         f"{{'kind': 'model', 'checkpoint': 'model.pt'}}; got {spec!r}.")
    kind = spec["kind"]
    allowed = {"workflow": {"kind", "workflow"}, "threshold": {"kind", "method", "min_size"},
               "model": {"kind", "checkpoint", "threshold"}}[kind]
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind} segmenter; allowed: "
                         f"{', '.join(sorted(allowed))}.")
    if kind == "workflow":
        from ..workflow import Workflow, load_preset

        source = spec.get("workflow")
        if isinstance(source, Workflow):
            loaded = source
        elif isinstance(source, (str, os.PathLike)) and str(source).strip():
            loaded = load_preset(source)  # ValueError for an unknown preset, FileNotFoundError for a missing file
        else:
            raise ValueError(f"{where}: 'workflow' must be a preset name (e.g. 'lamp1') or the path of a saved "
                             f"workflow .json file; got {source!r}.")
        normalizations, smoothings = _pre_steps(loaded)
        return {"kind": "workflow", "workflow": str(source) if not isinstance(source, Workflow) else loaded.name,
                "definition": loaded.to_dict(), "replaced_normalization_steps": [s.id for s in normalizations],
                "replaced_smoothing_steps": [s.id for s in smoothings]}
    if kind == "threshold":
        method = spec.get("method", "otsu")
        if not isinstance(method, str) or method.lower() not in GLOBAL_THRESHOLD_METHODS:
            raise ValueError(f"{where}: 'method' = {method!r} is not a global threshold method; choose one of "
                             f"{', '.join(GLOBAL_THRESHOLD_METHODS)}.")
        min_size = check_number(spec.get("min_size", 0), f"{where}: 'min_size'", minimum=0, integer=True,
                                hint="It is the smallest object kept, in voxels (0 keeps all).")
        return {"kind": "threshold", "method": method.lower(), "bins": 256, "min_size": int(min_size)}
    from ..prediction import ModelSegmenter

    checkpoint = spec.get("checkpoint")
    if not isinstance(checkpoint, (str, os.PathLike)) or not str(checkpoint).strip():
        raise ValueError(f"{where}: 'checkpoint' must be the path of a checkpoint file written by training; "
                         f"got {checkpoint!r}.")
    model = ModelSegmenter(checkpoint, threshold=spec.get("threshold", 0.5))
    return model.to_dict()


def check_segmenters(segmenters) -> dict[str, dict]:
    """Validated segmenter variants with every setting resolved (what the record stores).

    A workflow's entry gains its complete definition (every step and parameter) and the ids of the
    steps the pre-processing variants replace; a model's entry gains the checkpoint's absolute path,
    SHA-256, network and training normalization.

    Raises
    ------
    ValueError
        For an empty dict, a blank name, an unknown kind, preset or threshold method, or a bad setting.
    FileNotFoundError
        For a workflow file or checkpoint that does not exist.
    """
    _check_names(segmenters, "segmenters", "{'preset': {'kind': 'workflow', 'workflow': 'lamp1'}}")
    return {name: _check_segmenter(name, spec) for name, spec in segmenters.items()}


# ----------------------------------------------------------------------------------------------
# computing one pre-processing and one cell (top-level functions: worker processes call them)
# ----------------------------------------------------------------------------------------------

def _preprocessing_workflow(spec: dict):
    """The variant as a small workflow (None for no pre-processing)."""
    from ..workflow import RAW, from_dict

    steps, last = [], RAW
    if spec["normalization"] is not None:
        steps.append({"id": _NORMALIZED_ID, "inputs": {"image": RAW}, **copy.deepcopy(spec["normalization"])})
        last = _NORMALIZED_ID
    if spec["smoothing"] is not None:
        steps.append({"id": _SMOOTHED_ID, "inputs": {"image": last}, **copy.deepcopy(spec["smoothing"])})
        last = _SMOOTHED_ID
    if not steps:
        return None
    return from_dict({"name": "pre-processing", "steps": steps, "output": last}, source="pre-processing variant")


def _preprocess(image: np.ndarray, spec: dict) -> tuple[dict, dict]:
    """(step id -> array, step id -> fingerprint) of one pre-processing variant on the raw image."""
    from ..workflow import run

    workflow = _preprocessing_workflow(spec)
    if workflow is None:
        return {}, {}
    result = run(workflow, image)
    return dict(result.images), dict(result.fingerprints)


def _as_workflow_with(definition: dict, spec: dict, replaced_norm, replaced_smooth):
    """The workflow with its own pre-processing replaced by the variant's (see the module docstring)."""
    from ..workflow import RAW, from_dict

    data = copy.deepcopy(definition)
    taken = {step["id"] for step in data["steps"]}
    if _NORMALIZED_ID in taken or _SMOOTHED_ID in taken:
        raise ValueError(f"The workflow uses the step id {_NORMALIZED_ID!r} or {_SMOOTHED_ID!r}, which the "
                         "pipeline grid reserves; rename that step in the workflow file.")
    normalized = _NORMALIZED_ID if spec["normalization"] is not None else RAW
    processed = _SMOOTHED_ID if spec["smoothing"] is not None else normalized
    replace = {step_id: processed for step_id in replaced_smooth}
    replace.update({step_id: normalized if replaced_smooth else processed for step_id in replaced_norm})
    if not replaced_norm:
        replace[RAW] = processed
    if data["output"] in replace:
        raise ValueError(f"The workflow's output {data['output']!r} is a pre-processing step, so there is nothing "
                         "to segment; its output must be a mask.")
    kept = []
    for step in data["steps"]:
        if step["id"] in replace:
            continue
        step["inputs"] = {key: ([replace.get(ref, ref) for ref in value] if isinstance(value, list)
                                else replace.get(value, value)) for key, value in step["inputs"].items()}
        kept.append(step)
    front = []
    if spec["normalization"] is not None:
        front.append({"id": _NORMALIZED_ID, "inputs": {"image": RAW}, **copy.deepcopy(spec["normalization"])})
    if spec["smoothing"] is not None:
        front.append({"id": _SMOOTHED_ID, "inputs": {"image": normalized}, **copy.deepcopy(spec["smoothing"])})
    data["steps"] = front + kept
    return from_dict(data, source=f"workflow {data['name']!r} with the grid's pre-processing")


def _segment(image, preprocessed: dict, fingerprints: dict, preprocessing: dict, segmenter: dict) -> np.ndarray:
    """The mask of one cell: ``segmenter`` applied after ``preprocessing`` (already computed)."""
    kind = segmenter["kind"]
    last = _SMOOTHED_ID if preprocessing["smoothing"] is not None else (
        _NORMALIZED_ID if preprocessing["normalization"] is not None else None)
    source = image if last is None else preprocessed[last]
    if kind == "threshold":
        from ..histogram_thresholds import apply_global_threshold
        from ..morphology import remove_small_objects

        mask = apply_global_threshold(source, method=segmenter["method"], bins=segmenter["bins"])
        return remove_small_objects(mask, min_size=segmenter["min_size"]) if segmenter["min_size"] else mask
    if kind == "model":
        from ..prediction import ModelSegmenter

        if multiprocessing.parent_process() is not None:  # a worker: leave the other cores to the other workers
            import torch

            torch.set_num_threads(1)
        model = ModelSegmenter(segmenter["checkpoint"], threshold=segmenter["threshold"],
                               tile_shape=segmenter.get("tile_shape"))
        return np.asarray(model.segment(source)[0]) > 0
    from ..workflow import Result, run

    workflow = _as_workflow_with(segmenter["definition"], preprocessing, segmenter["replaced_normalization_steps"],
                                 segmenter["replaced_smoothing_steps"])
    previous = Result(mask=np.zeros((0, 0, 0), bool), images={}, timings={},
                      computed={fingerprints[key]: value for key, value in preprocessed.items()})
    return run(workflow, image, previous=previous, keep_intermediates=False).mask


def _count_objects(mask: np.ndarray) -> int:
    from scipy import ndimage

    return int(ndimage.label(mask, structure=_COUNT_STRUCTURE)[1])


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _cell_task(image, preprocessed, fingerprints, preprocessing, segmenter) -> dict:
    """Run one cell; never raises (a failure becomes the cell's error text)."""
    started = time.perf_counter()
    try:
        mask = np.asarray(_segment(image, preprocessed, fingerprints, preprocessing, segmenter))
        if mask.shape != image.shape:
            raise ValueError(f"the segmenter returned shape {mask.shape} for an image of shape {image.shape}")
        mask = mask if mask.dtype == bool else mask > 0
        seconds = time.perf_counter() - started
        return {"mask": mask, "seconds": seconds, "objects": _count_objects(mask), "error": None}
    except Exception as error:  # one failed combination must not stop the grid
        return {"mask": None, "seconds": time.perf_counter() - started, "objects": None, "error": _error_text(error)}


def _load_arrays(paths: dict) -> dict:
    return {key: np.load(path, mmap_mode="r") for key, path in paths.items()}


def _worker_preprocess(image_path: str, spec: dict, folder: str, row: int) -> dict:
    """Worker: compute one pre-processing, save its arrays as .npy files in ``folder``."""
    started = time.perf_counter()
    try:
        arrays, fingerprints = _preprocess(np.load(image_path, mmap_mode="r"), spec)
        paths = {}
        for key, array in arrays.items():
            paths[key] = os.path.join(folder, f"row{row}_{key}.npy")
            np.save(paths[key], array)
        return {"paths": paths, "fingerprints": fingerprints, "seconds": time.perf_counter() - started, "error": None}
    except Exception as error:
        return {"paths": {}, "fingerprints": {}, "seconds": time.perf_counter() - started, "error": _error_text(error)}


def _worker_cell(image_path: str, paths: dict, fingerprints: dict, preprocessing: dict, segmenter: dict) -> dict:
    """Worker: one cell, reading the image and the pre-processed arrays memory-mapped; the mask comes back packed."""
    outcome = _cell_task(np.load(image_path, mmap_mode="r"), _load_arrays(paths), fingerprints, preprocessing,
                         segmenter)
    if outcome["mask"] is not None:
        outcome["shape"] = outcome["mask"].shape
        outcome["mask"] = np.packbits(outcome["mask"], axis=None)
    return outcome


# ----------------------------------------------------------------------------------------------
# the grid
# ----------------------------------------------------------------------------------------------

@dataclass
class GridCell:
    """One (pre-processing, segmenter) combination.

    Attributes
    ----------
    preprocessing, segmenter : str
        The variants' names.
    mask : numpy.ndarray of bool, shape (Z, Y, X), or None
        The segmentation; None when the combination failed.
    seconds : float
        Time the segmenter took (the row's pre-processing is timed separately).
    objects : int or None
        Number of 26-connected objects in the mask.
    error : str or None
        Why the combination failed ("TypeName: message"), None when it worked.
    dice, iou : float or None
        Agreement with the truth (:func:`helpers.metrics.scores`), when a truth was given.
    """

    preprocessing: str
    segmenter: str
    mask: np.ndarray | None
    seconds: float
    objects: int | None = None
    error: str | None = None
    dice: float | None = None
    iou: float | None = None

    @property
    def ok(self) -> bool:
        """True when the combination produced a mask."""
        return self.error is None

    def summary(self) -> dict:
        """The cell's numbers (no mask), as the table and the record hold them."""
        return {"preprocessing": self.preprocessing, "segmenter": self.segmenter, "objects": self.objects,
                "dice": self.dice, "iou": self.iou, "seconds": round(self.seconds, 4), "error": self.error}


@dataclass
class GridResult:
    """What :func:`run_grid` returns: one :class:`GridCell` per (pre-processing, segmenter).

    Attributes
    ----------
    image : numpy.ndarray, shape (Z, Y, X)
        The raw image.
    preprocessed : dict of str to numpy.ndarray or None
        Each pre-processing's output (float32; the raw image for no pre-processing; None if it failed).
    preprocessings, segmenters : dict of str to dict
        Every variant's complete settings, in grid order (rows, columns).
    cells : dict of (str, str) to GridCell
    preprocessing_seconds : dict of str to float
    preprocessing_errors : dict of str to str
        The pre-processings that failed, with the reason.
    truth : numpy.ndarray of bool or None
    voxel_size : tuple of float or None
        (z, y, x) in micrometres.
    source : str
        Where the image came from (recorded).
    workers : int
    seconds : float
        Wall time of the whole grid.
    """

    image: np.ndarray
    preprocessed: dict
    preprocessings: dict
    segmenters: dict
    cells: dict
    preprocessing_seconds: dict
    preprocessing_errors: dict = field(default_factory=dict)
    truth: np.ndarray | None = None
    voxel_size: tuple | None = None
    source: str = ""
    workers: int = 1
    seconds: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        """(number of pre-processings, number of segmenters)."""
        return len(self.preprocessings), len(self.segmenters)

    @property
    def row_names(self) -> list[str]:
        return list(self.preprocessings)

    @property
    def column_names(self) -> list[str]:
        return list(self.segmenters)

    def cell(self, preprocessing: str, segmenter: str) -> GridCell:
        """The cell of one combination (ValueError naming the known names for an unknown one)."""
        key = (preprocessing, segmenter)
        if key not in self.cells:
            raise ValueError(f"No cell ({preprocessing!r}, {segmenter!r}); pre-processings: "
                             f"{', '.join(self.row_names)}; segmenters: {', '.join(self.column_names)}.")
        return self.cells[key]

    def table(self, *, sort_by: str | None = None):
        """A pandas DataFrame, one row per cell (grid order, or best first by ``sort_by``, e.g. "dice")."""
        import pandas as pd

        frame = pd.DataFrame([cell.summary() for cell in self.cells.values()])
        if sort_by is not None:
            if sort_by not in frame.columns:
                raise ValueError(f"`sort_by` = {sort_by!r} is not a column; choose one of {', '.join(frame.columns)}.")
            frame = frame.sort_values(sort_by, ascending=sort_by in ("seconds", "preprocessing", "segmenter"),
                                      na_position="last", kind="stable").reset_index(drop=True)
        return frame

    def default_slice(self) -> int:
        """The slice shown by default: the median z of the truth voxels, else of all masks', else the middle."""
        from ..baselines import choose_slice

        for candidate in (self.truth, *(c.mask for c in self.cells.values() if c.ok)):
            if candidate is not None and candidate.any():
                return choose_slice(candidate)
        return self.image.shape[0] // 2

    def record(self) -> dict:
        """Every parameter and number of the grid as JSON-able data (no arrays)."""
        try:
            from .. import __version__
        except ImportError:  # pragma: no cover - the package always defines it
            __version__ = "unknown"
        return {
            "kind": RECORD_KIND, "format_version": RECORD_VERSION, "helpers_version": __version__,
            "image": {"source": self.source, "shape": list(self.image.shape), "dtype": str(self.image.dtype),
                      "voxel_size_um": None if self.voxel_size is None else list(self.voxel_size),
                      "fingerprint": _fingerprint(self.image)},
            "truth": None if self.truth is None else {"voxels": int(self.truth.sum()),
                                                      "fingerprint": _fingerprint(self.truth)},
            "preprocessings": copy.deepcopy(self.preprocessings),
            "segmenters": copy.deepcopy(self.segmenters),
            "workers": self.workers, "seconds": round(self.seconds, 3),
            "preprocessing_seconds": {k: round(v, 4) for k, v in self.preprocessing_seconds.items()},
            "preprocessing_errors": dict(self.preprocessing_errors),
            "cells": [cell.summary() for cell in self.cells.values()],
        }


def _fingerprint(array: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype.str}".encode())
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _check_workers(workers) -> int:
    return int(check_number(workers, "workers", minimum=1, integer=True,
                            hint="Use 1 to run in this process, or e.g. 2 for two worker processes."))


def run_grid(image, preprocessings, segmenters, *, workers: int = 2, truth=None, voxel_size=None,
             source: str = "") -> GridResult:
    """Run every pre-processing against every segmenter on one image.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        The raw image (any real dtype).
    preprocessings : dict of str to dict
        Pre-processing variants by name (see :func:`check_preprocessings`, :func:`default_preprocessings`).
    segmenters : dict of str to dict
        Segmenter variants by name (see :func:`check_segmenters`).
    workers : int
        Worker processes. 1 runs everything in this process; more run the pre-processings, then the cells,
        in parallel (fresh "spawn" processes, so this works from a notebook on any system; the arrays go to
        the workers as memory-mapped temporary files, and each pre-processing is computed once).
    truth : array_like of bool or int, shape (Z, Y, X), optional
        Ground truth; every cell then gets its Dice and IoU.
    voxel_size : tuple of float, optional
        (z, y, x) in micrometres, recorded with the results.
    source : str
        Where the image came from (e.g. its file path), recorded with the results.

    Returns
    -------
    GridResult
        A combination that fails becomes a cell with ``error`` set; the grid goes on.

    Raises
    ------
    ValueError
        For an image that is not 3D, a truth of another shape, empty or invalid variants, an unknown
        preset, or ``workers`` < 1.
    FileNotFoundError
        For a missing workflow file or checkpoint.
    """
    from ..metrics import scores

    check_image(image)
    raw = np.asarray(image)
    truth_mask = None if truth is None else check_mask(truth, name="truth", like=raw)
    voxel = check_voxel_size(voxel_size)
    workers = _check_workers(workers)
    if not isinstance(source, str):
        raise ValueError(f"`source` must be text (e.g. the image's file path), got {source!r}.")
    pre_specs = check_preprocessings(preprocessings)
    seg_specs = check_segmenters(segmenters)
    started = time.perf_counter()
    if workers == 1:
        rows, outcomes = _run_here(raw, pre_specs, seg_specs)
    else:
        rows, outcomes = _run_in_workers(raw, pre_specs, seg_specs, workers)
    cells = {}
    for (p, s), outcome in outcomes.items():
        cell = GridCell(p, s, outcome["mask"], outcome["seconds"], outcome["objects"], outcome["error"])
        if truth_mask is not None and cell.ok:
            agreement = scores(cell.mask, truth_mask)
            cell.dice, cell.iou = agreement.dice, agreement.iou
        cells[(p, s)] = cell
    preprocessed = {}
    for name, row in rows.items():
        if row["error"] is not None:
            preprocessed[name] = None
        else:
            last = _SMOOTHED_ID if _SMOOTHED_ID in row["arrays"] else _NORMALIZED_ID
            preprocessed[name] = np.asarray(row["arrays"][last]) if row["arrays"] else raw
    return GridResult(image=raw, preprocessed=preprocessed, preprocessings=pre_specs, segmenters=seg_specs,
                      cells=cells, preprocessing_seconds={n: r["seconds"] for n, r in rows.items()},
                      preprocessing_errors={n: r["error"] for n, r in rows.items() if r["error"] is not None},
                      truth=truth_mask, voxel_size=voxel, source=source, workers=workers,
                      seconds=time.perf_counter() - started)


def _failed_row(error: str) -> dict:
    return {"mask": None, "seconds": 0.0, "objects": None, "error": f"pre-processing failed: {error}"}


def _run_here(raw, pre_specs, seg_specs):
    rows, outcomes = {}, {}
    for p, pre in pre_specs.items():
        started = time.perf_counter()
        try:
            arrays, fingerprints = _preprocess(raw, pre)
            rows[p] = {"arrays": arrays, "fingerprints": fingerprints, "error": None,
                       "seconds": time.perf_counter() - started}
        except Exception as error:
            rows[p] = {"arrays": {}, "fingerprints": {}, "error": _error_text(error),
                       "seconds": time.perf_counter() - started}
        for s, seg in seg_specs.items():
            row = rows[p]
            outcomes[(p, s)] = (_failed_row(row["error"]) if row["error"] is not None
                                else _cell_task(raw, row["arrays"], row["fingerprints"], pre, seg))
    return rows, outcomes


def _run_in_workers(raw, pre_specs, seg_specs, workers):
    context = multiprocessing.get_context("spawn")
    rows, outcomes = {}, {}
    with tempfile.TemporaryDirectory(prefix="pipeline_grid_") as folder:
        image_path = os.path.join(folder, "image.npy")
        np.save(image_path, np.ascontiguousarray(raw))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {p: pool.submit(_worker_preprocess, image_path, pre, folder, index)
                       for index, (p, pre) in enumerate(pre_specs.items())}
            for p, future in futures.items():
                try:
                    rows[p] = future.result()
                except Exception as error:  # e.g. a worker killed for memory
                    rows[p] = {"paths": {}, "fingerprints": {}, "seconds": 0.0, "error": _error_text(error)}
            cell_futures = {}
            for p, pre in pre_specs.items():
                for s, seg in seg_specs.items():
                    if rows[p]["error"] is None:
                        cell_futures[(p, s)] = pool.submit(_worker_cell, image_path, rows[p]["paths"],
                                                           rows[p]["fingerprints"], pre, seg)
            for key in ((p, s) for p in pre_specs for s in seg_specs):
                row = rows[key[0]]
                if row["error"] is not None:
                    outcomes[key] = _failed_row(row["error"])
                    continue
                try:
                    outcome = cell_futures[key].result()
                except Exception as error:  # e.g. a worker killed for memory
                    outcome = {"mask": None, "seconds": 0.0, "objects": None, "error": _error_text(error)}
                if outcome["mask"] is not None:
                    shape = outcome.pop("shape")
                    bits = np.unpackbits(outcome["mask"], count=int(np.prod(shape)))
                    outcome["mask"] = bits.reshape(shape).astype(bool)
                outcomes[key] = outcome
        for row in rows.values():  # read the arrays into memory before the folder goes
            row["arrays"] = {key: np.array(np.load(path)) for key, path in row.pop("paths").items()}
    return rows, outcomes
