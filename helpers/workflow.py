"""The workflow engine: presets as data, one engine that runs any of them.

A workflow is a graph of steps. Each step names a building block from :mod:`helpers.registry`,
its parameters, and its inputs: ``"raw"`` (the image) or the ids of earlier steps. The 20 presets of
the lookup table are JSON files in ``helpers/presets/``; a tuned workflow is saved in the same
format and runs the same way, from Python or with ``segmenter run``.

Running again with the previous result recomputes only what changed: every step's output is keyed
by a fingerprint of its algorithm, its parameters and its inputs' fingerprints (the image by its
content), and unchanged fingerprints reuse the earlier arrays. Changing one parameter therefore
recomputes that step and the steps after it, nothing else.

Example
-------
>>> from helpers import workflow
>>> preset = workflow.load_preset("sec61b")                          # doctest: +SKIP
>>> result = workflow.run(preset, image)                             # doctest: +SKIP
>>> tuned = preset.with_parameters("filaments", scales=[[1, 0.1]])   # doctest: +SKIP
>>> result = workflow.run(tuned, image, previous=result)             # doctest: +SKIP
>>> tuned.save("my_sec61b.json")                                     # doctest: +SKIP
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import check_target, write_json
from .registry import get_algorithm

__all__ = ["Step", "Workflow", "Result", "StepCache", "load_preset", "from_dict", "list_presets", "preset_names", "run",
           "SCHEMA_VERSION"]

#: Version of the workflow file format.
SCHEMA_VERSION = 1
#: The input name that stands for the image a workflow is run on.
RAW = "raw"
_DESCRIPTIVE_FIELDS = ("gene", "structure", "pattern", "description")


@dataclass(frozen=True)
class Step:
    """One step: ``algorithm`` applied to ``inputs`` (name -> step id, or list of ids) with ``parameters``."""

    id: str
    algorithm: str
    inputs: dict[str, Any]
    parameters: dict[str, Any]

    def to_dict(self) -> dict:
        # Inputs are kept internally under the registry's names ("masks*" for a list); files use the short name.
        inputs = {name.rstrip("*"): copy.deepcopy(value) for name, value in self.inputs.items()}
        return {"id": self.id, "algorithm": self.algorithm, "inputs": inputs,
                "parameters": copy.deepcopy(self.parameters)}


@dataclass(frozen=True)
class Workflow:
    """A validated workflow: its steps in an order where every input comes before its use."""

    name: str
    steps: tuple[Step, ...]
    output: str
    gene: str = ""
    structure: str = ""
    pattern: str = ""
    description: str = ""
    source: str = ""

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise ValueError(f"Workflow {self.name!r} has no step {step_id!r}; its steps are "
                         f"{', '.join(s.id for s in self.steps)}.")

    def with_parameters(self, step_id: str, **changes) -> "Workflow":
        """A copy with some parameters of one step changed (validated against the registry)."""
        data = self.to_dict()
        target = next((s for s in data["steps"] if s["id"] == step_id), None)
        if target is None:
            self.step(step_id)  # raises with the list of steps
        target["parameters"].update(changes)
        return _validate(data, source=f"workflow {self.name!r} (tuned)")

    def to_dict(self) -> dict:
        """The complete workflow as JSON-able data, every parameter included."""
        data = {"schema": SCHEMA_VERSION, "name": self.name}
        data.update({key: getattr(self, key) for key in _DESCRIPTIVE_FIELDS})
        data["steps"] = [step.to_dict() for step in self.steps]
        data["output"] = self.output
        return data

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write the workflow as JSON (atomically); ``segmenter run`` and :func:`load_preset` accept it."""
        path = Path(path)
        check_target(path, overwrite=overwrite)
        write_json(path, self.to_dict())
        return path

    def describe(self) -> str:
        """The steps and parameters as readable text (``segmenter show``)."""
        lines = [f"{self.name}: {self.gene} - {self.structure} ({self.pattern})", f"  {self.description}", ""]
        for number, step in enumerate(self.steps, start=1):
            algorithm = get_algorithm(step.algorithm)
            sources = ", ".join(f"{k.rstrip('*')}={'+'.join(v) if isinstance(v, list) else v}"
                                for k, v in step.inputs.items())
            parameters = ", ".join(f"{k}={v}" for k, v in step.parameters.items())
            lines.append(f"  {number:2d}. {step.id} = {algorithm.label} {step.algorithm}({sources}"
                         f"{'; ' + parameters if parameters else ''})")
        lines.append(f"  output: {self.output}")
        return "\n".join(lines)


@dataclass
class Result:
    """What :func:`run` returns.

    Attributes
    ----------
    mask : numpy.ndarray of bool, shape (Z, Y, X)
        The final segmentation.
    images : dict of str to numpy.ndarray
        Every step's output by step id (only the output's when intermediates are not kept).
    timings : dict of str to float
        Seconds spent on each step in this run (0 for steps reused from ``previous``).
    fingerprints : dict of str to str
        Each step's fingerprint (algorithm, parameters, inputs); used to reuse work.
    reused : set of str
        Steps taken from ``previous`` instead of being computed.
    region : tuple of three slice or None
        The region the workflow ran on (see :func:`run`); None for the whole image.
    """

    mask: np.ndarray
    images: dict[str, np.ndarray]
    timings: dict[str, float]
    fingerprints: dict[str, str] = field(default_factory=dict)
    reused: set = field(default_factory=set)
    region: tuple | None = None
    #: What each fingerprint computed, as computed (whole-image steps of a region run uncropped).
    computed: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def recomputed(self) -> list[str]:
        """Steps computed in this run, in order (the others were reused)."""
        return [step for step in self.timings if step not in self.reused]


class StepCache:
    """A bounded store of step outputs by fingerprint, for :func:`run`'s ``cache``.

    Keeps the most recently used outputs up to ``max_bytes`` in all, so that going back to earlier
    parameter values (or resetting to the preset) reuses what was computed before.
    """

    def __init__(self, max_bytes: int = 2 * 1024**3):
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"`max_bytes` must be a non-negative whole number of bytes, got {max_bytes!r}.")
        self.max_bytes = max_bytes
        self._items: dict[str, Any] = {}

    @staticmethod
    def _size(value) -> int:
        return int(getattr(value, "nbytes", 0))

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return sum(self._size(v) for v in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, fingerprint) -> bool:
        return fingerprint in self._items

    def get(self, fingerprint):
        """The stored output (marked as recently used), or None."""
        if fingerprint not in self._items:
            return None
        value = self._items.pop(fingerprint)
        self._items[fingerprint] = value
        return value

    def put(self, fingerprint: str, value) -> None:
        """Store an output, dropping the least recently used ones beyond ``max_bytes``."""
        self._items.pop(fingerprint, None)
        if self._size(value) > self.max_bytes:
            return
        self._items[fingerprint] = value
        total = self.nbytes
        while total > self.max_bytes:
            oldest = next(iter(self._items))
            total -= self._size(self._items.pop(oldest))

    def clear(self) -> None:
        self._items.clear()


# ----------------------------------------------------------------------------------------------
# loading and validation
# ----------------------------------------------------------------------------------------------

def _presets_folder():
    return resources.files("helpers") / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.name[: -len(".json")] for p in _presets_folder().iterdir() if p.name.endswith(".json"))


def list_presets() -> list[Workflow]:
    """All shipped presets, validated, in lookup-table order (by file name)."""
    return [load_preset(name) for name in preset_names()]


def load_preset(name_or_path) -> Workflow:
    """Load a preset by name (e.g. ``"sec61b"``, case-insensitive) or a workflow file by path.

    Raises
    ------
    ValueError
        For an unknown name (the closest names are suggested) or a malformed file (the message
        names the file, the step and what to fix).
    FileNotFoundError
        For a path that does not exist.
    """
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(".json") or os.sep in text
    if looks_like_path:
        path = Path(name_or_path)
        if not path.exists():
            raise FileNotFoundError(f"No such workflow file: {path}.")
        return _load_file(path, str(path))
    key = text.strip().lower()
    names = preset_names()
    if key not in names:
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown preset {text!r}.{hint} Available presets: {', '.join(names)} "
                         "(or give the path of a saved workflow .json file).")
    resource = _presets_folder() / f"{key}.json"
    return _load_file(resource, f"preset {key} ({resource.name})")


def from_dict(data: dict, *, source: str = "workflow data") -> Workflow:
    """A workflow from data in the file format (what :meth:`Workflow.to_dict` gives), validated.

    Raises
    ------
    ValueError
        Naming ``source``, the step and the fix, as for a malformed file.
    """
    return _validate(copy.deepcopy(data), source=source)


def _load_file(path, source: str) -> Workflow:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{source}: not valid JSON ({error}). Fix the file or save the workflow again.") from error
    except OSError as error:
        raise ValueError(f"{source}: cannot be read ({error}).") from error
    return _validate(data, source=source)


def _validate(data, *, source: str) -> Workflow:
    def fail(message: str):
        raise ValueError(f"{source}: {message}")

    if not isinstance(data, dict):
        fail("the file must hold a JSON object with 'name', 'steps' and 'output'.")
    if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        fail(f"schema version {data.get('schema')!r} is not supported (this version reads {SCHEMA_VERSION}).")
    known = {"schema", "name", "steps", "output", *_DESCRIPTIVE_FIELDS}
    unknown = sorted(set(data) - known)
    if unknown:
        fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}.")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        fail("field 'name' is missing or not text.")
    steps_data = data.get("steps")
    if not isinstance(steps_data, list) or not steps_data:
        fail("field 'steps' must be a non-empty list of steps.")
    steps: dict[str, Step] = {}
    for index, raw_step in enumerate(steps_data, start=1):
        step = _validate_step(raw_step, index, steps, fail)
        steps[step.id] = step
    output = data.get("output")
    if output not in steps:
        fail(f"field 'output' = {output!r} must be the id of a step ({', '.join(steps)}).")
    for step in steps.values():
        for input_name, ids in step.inputs.items():
            for ref in ids if isinstance(ids, list) else [ids]:
                if ref != RAW and ref not in steps:
                    fail(f"step {step.id!r}: input {input_name.rstrip('*')!r} refers to {ref!r}, which is not a "
                         f"step; use {RAW!r} (the image) or one of {', '.join(steps)}.")
    order = _topological_order(steps, fail)
    text = {key: str(data.get(key, "")) for key in _DESCRIPTIVE_FIELDS}
    return Workflow(name=name, steps=tuple(steps[i] for i in order), output=output, source=source, **text)


def _validate_step(raw_step, index, earlier, fail) -> Step:
    if not isinstance(raw_step, dict):
        fail(f"step {index} must be an object with 'id', 'algorithm', 'inputs' and 'parameters'.")
    step_id = raw_step.get("id")
    where = f"step {step_id!r}" if isinstance(step_id, str) and step_id else f"step {index}"
    if not isinstance(step_id, str) or not step_id or step_id == RAW:
        fail(f"{where}: 'id' must be a non-empty name other than {RAW!r}.")
    if step_id in earlier:
        fail(f"{where}: the id is used twice; give each step its own id.")
    extra = sorted(set(raw_step) - {"id", "algorithm", "inputs", "parameters"})
    if extra:
        fail(f"{where}: unknown field(s) {', '.join(extra)}; a step has id, algorithm, inputs, parameters.")
    try:
        algorithm = get_algorithm(raw_step.get("algorithm"), where=f"{where}: ")
    except ValueError as error:
        fail(str(error))
    inputs = raw_step.get("inputs", {})
    if not isinstance(inputs, dict):
        fail(f"{where}: 'inputs' must map input names to step ids.")
    expected = {name.rstrip("*"): name for name, _ in algorithm.inputs}
    missing = sorted(set(expected) - set(inputs))
    if missing:
        fail(f"{where}: missing input(s) {', '.join(missing)} for {raw_step['algorithm']}; "
             f"it takes {', '.join(expected)}.")
    surplus = sorted(set(inputs) - set(expected))
    if surplus:
        fail(f"{where}: unknown input(s) {', '.join(surplus)} for {raw_step['algorithm']}; "
             f"it takes {', '.join(expected)}.")
    canonical_inputs = {}
    for short, full in expected.items():
        value = inputs[short]
        if full.endswith("*"):
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                fail(f"{where}: input {short!r} must be a non-empty list of step ids.")
        elif not isinstance(value, str):
            fail(f"{where}: input {short!r} must be one step id (or {RAW!r}).")
        canonical_inputs[full] = list(value) if isinstance(value, list) else value
    parameters = raw_step.get("parameters", {})
    if not isinstance(parameters, dict):
        fail(f"{where}: 'parameters' must be an object.")
    try:
        checked = algorithm.check_parameters(parameters, name=raw_step["algorithm"])
    except ValueError as error:
        fail(f"{where}: {error}")
    return Step(id=step_id, algorithm=raw_step["algorithm"], inputs=canonical_inputs, parameters=checked)


def _topological_order(steps: dict[str, Step], fail) -> list[str]:
    def parents(step: Step):
        for ids in step.inputs.values():
            for ref in ids if isinstance(ids, list) else [ids]:
                if ref != RAW:
                    yield ref

    order, state = [], {}

    def visit(step_id, path):
        if state.get(step_id) == "done":
            return
        if state.get(step_id) == "visiting":
            cycle = path[path.index(step_id):] + [step_id]
            fail(f"step {step_id!r}: the inputs form a cycle ({' -> '.join(cycle)}); a step may only use "
                 "steps computed before it.")
        state[step_id] = "visiting"
        for parent in parents(steps[step_id]):
            visit(parent, path + [step_id])
        state[step_id] = "done"
        order.append(step_id)

    for step_id in steps:  # file order first, so independent steps keep their written order
        visit(step_id, [])
    return order


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------

def _image_fingerprint(image: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.shape}{image.dtype.str}".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def _step_fingerprint(step: Step, input_fingerprints: list[str]) -> str:
    payload = json.dumps([step.algorithm, step.parameters, input_fingerprints], sort_keys=True)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def run(workflow: Workflow, image, *, previous: Result | None = None, keep_intermediates: bool = True,
        region=None, cache: StepCache | None = None) -> Result:
    """Run a workflow on one (Z, Y, X) image.

    Parameters
    ----------
    workflow : Workflow
        From :func:`load_preset`, or a tuned copy.
    image : array_like, shape (Z, Y, X)
        The raw image (any real dtype; the first step validates it).
    previous : Result, optional
        An earlier result on the same or another image: steps whose algorithm, parameters and
        inputs are unchanged are taken from it instead of being computed again.
    keep_intermediates : bool
        Keep every step's output in ``Result.images`` (the notebooks show them). False frees each
        intermediate as soon as no later step needs it (batch processing of large images), and
        ``images`` then holds the output only.
    region : tuple of three slice, optional
        Run on this part of the image only (the tuning panel's preview). Steps whose output depends
        on statistics of the whole image (the normalizations, ``whole_image`` in the registry) still
        run on the whole image while all their inputs are whole, and are cropped where a regional
        step uses them; every other step runs on the region. ``mask`` and ``images`` then have the
        region's shape. The whole-image steps are reused when only the region changes.
    cache : StepCache, optional
        A store of outputs shared across runs: steps found in it are reused, and every computed
        step is put in it (the tuning panel keeps one, so that returning to earlier values is instant).

    Returns
    -------
    Result
    """
    if not isinstance(workflow, Workflow):
        raise ValueError("`workflow` must be a Workflow; load one with helpers.workflow.load_preset(name).")
    raw = np.asarray(image)
    if region is not None:
        from .regions import check_region

        if raw.ndim != 3:
            raise ValueError(f"A region needs a 3D (Z, Y, X) image; this one has shape {raw.shape}.")
        region = check_region(region, raw.shape)
    fingerprints = {RAW: _image_fingerprint(raw)}
    reusable = {}
    if previous is not None:
        reusable = dict(previous.computed) or {
            previous.fingerprints[s]: a for s, a in previous.images.items() if s in previous.fingerprints}
    region_key = json.dumps([[s.start, s.stop] for s in region]) if region is not None else ""
    whole = {RAW}  # values that cover the whole image (the rest cover the region)
    cropped_cache: dict[str, Any] = {}

    def regional(ref: str):
        """The value of ``ref`` on the region, and its fingerprint there."""
        if region is None or ref not in whole:
            return values[ref], fingerprints[ref]
        if ref not in cropped_cache:
            key = hashlib.blake2b((fingerprints[ref] + region_key).encode(), digest_size=16).hexdigest()
            cropped_cache[ref] = (values[ref][region], key)
        return cropped_cache[ref]
    remaining_uses = {}
    for step in workflow.steps:
        for ids in step.inputs.values():
            for ref in ids if isinstance(ids, list) else [ids]:
                remaining_uses[ref] = remaining_uses.get(ref, 0) + 1
    values: dict[str, Any] = {RAW: raw}
    computed: dict[str, Any] = {}
    timings, reused = {}, set()
    for step in workflow.steps:
        algorithm = get_algorithm(step.algorithm)
        refs = {name: (ids if isinstance(ids, list) else [ids]) for name, ids in step.inputs.items()}
        all_refs = [r for ids in refs.values() for r in ids]
        on_whole = region is None or (algorithm.whole_image and all(r in whole for r in all_refs))
        sources = {r: (values[r], fingerprints[r]) if on_whole else regional(r) for r in all_refs}
        fingerprint = _step_fingerprint(step, [sources[r][1] for r in all_refs])
        fingerprints[step.id] = fingerprint
        if on_whole and region is not None:
            whole.add(step.id)
        stored = reusable.get(fingerprint)
        if stored is None and cache is not None:
            stored = cache.get(fingerprint)
        if stored is not None:
            values[step.id] = stored
            timings[step.id] = 0.0
            reused.add(step.id)
        else:
            arrays = {name: ([sources[r][0] for r in ids] if name.endswith("*") else sources[ids[0]][0])
                      for name, ids in refs.items()}
            started = time.perf_counter()
            try:
                values[step.id] = algorithm.call(arrays, step.parameters)
            except ValueError as error:
                raise ValueError(f"Step {step.id!r} ({algorithm.label} {step.algorithm}) of workflow "
                                 f"{workflow.name!r}: {error}") from error
            timings[step.id] = time.perf_counter() - started
            if cache is not None:
                cache.put(fingerprint, values[step.id])
        computed[fingerprint] = values[step.id]
        if not keep_intermediates:
            for ref in all_refs:
                remaining_uses[ref] -= 1
                if remaining_uses[ref] == 0 and ref not in (RAW, workflow.output):
                    values.pop(ref, None)
                    computed.pop(fingerprints[ref], None)
                    cropped_cache.pop(ref, None)
    for step_id in list(values):
        if step_id != RAW and step_id in whole:
            values[step_id] = regional(step_id)[0]
    final = np.asarray(values[workflow.output])
    mask = final if final.dtype == bool else final > 0
    images = {k: v for k, v in values.items() if k != RAW} if keep_intermediates else {workflow.output: final}
    fingerprints.pop(RAW)
    if not keep_intermediates:
        fingerprints = {workflow.output: fingerprints[workflow.output]}
    return Result(mask=mask, images=images, timings=timings, fingerprints=fingerprints, reused=reused,
                  region=region, computed=computed)
