"""Apply one workflow to many image files: resumable, parallel, on a Dask cluster if asked.

Inputs are images in any format :func:`helpers.image_files.open_image` reads (``.tif``, ``.ome.tif``,
``.ome.zarr`` folders, ``.czi``, ``.nd2``, ``.lif``). Each input is opened once; ``scene=``,
``time=`` and ``channel=`` (an index, a list or ``"all"``) choose its (Z, Y, X) stacks, and for every
stack the batch writes, into one output folder,

- ``NAME[_s{scene}][_t{time}][_c{channel}]_seg.ome.tif``: the mask, uint8 0/255, same (Z, Y, X) shape
  and voxel size as the input stack. A tag is present only when the file has more than one scene,
  time point or channel, with indices zero-padded to the width of the file's largest index (a
  single-stack file gives ``NAME_seg.ome.tif``; channel 1 of a 2-channel file ``NAME_c1_seg.ome.tif``);
- ``NAME[...]_seg.json``: the record of how it was made: the complete workflow with every parameter,
  the input path and its checksum, the scene (index and name), time point and channel (index and
  name), the ``helpers`` version, per-step timings, the total time, the date and the output shape.

The input checksum is the SHA-256 of a file's bytes; for a folder image (OME-Zarr) it covers the
metadata files' bytes and the sizes and modification times of the chunk files
(:func:`helpers.image_files.input_checksum`), so that a large volume is not read twice.

Both files are written atomically (a temporary file in the output folder renamed into place) and
the record is written last, so a record next to its mask means a complete result; an interrupted
run leaves at most a hidden ``.*.partial`` file, which never counts. Running the same batch again
skips every stack whose record and mask exist and whose record names the same workflow, scene, time
point, channel and input checksum, so a batch can be stopped and resumed at any time. A result made
by a different workflow (or from an input that has changed since) is never replaced unless
``overwrite=True``.
Inputs are never written to.

A file that fails (unreadable or corrupt, a format whose reader is not installed, a scene, time or
channel index out of range for it, a time-lapse without ``time=``, a 2D image, a workflow error) is
reported with its reason and the batch goes on with the others.

Parallel runs: ``workers=N`` processes on this machine, or ``scheduler=ADDRESS`` for an existing
Dask distributed cluster (every worker needs ``helpers`` installed and the same paths), or
``scheduler="local"`` for a Dask cluster started on this machine for the run.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import sys
import tempfile
import time
from time import perf_counter as _clock  # run_batch's `time` argument hides the module there
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from . import __version__
from ._atomic import write_json
from .image_files import IMAGE_SUFFIXES, IndexChoice, image_stem, input_checksum, is_image_path, open_image
from .io import write_image, write_mask

__all__ = [
    "FileOutcome",
    "BatchSummary",
    "expand_inputs",
    "output_paths",
    "stack_tag",
    "check_output_folder",
    "file_checksum",
    "segment_file",
    "run_batch",
    "start_local_cluster",
]

MASK_SUFFIX = "_seg.ome.tif"
#: The mask of a block-wise run (helpers.chunked): OME-Zarr, for volumes larger than memory.
ZARR_MASK_SUFFIX = "_seg.ome.zarr"
RECORD_SUFFIX = "_seg.json"
RECORD_KIND = "segmenter result"
_GLOB_CHARACTERS = set("*?[")
#: Seconds to wait for a Dask scheduler to answer.
DASK_CONNECT_TIMEOUT_S = 20
#: How worker processes start: "forkserver" on Linux (workers fork from a server that has imported
#: the package once, saving each worker the ~1.5 s import), "spawn" elsewhere. Every task and
#: argument is spawn-safe (top-level functions, picklable workflows), so "spawn" works everywhere.
POOL_START_METHOD = "forkserver" if sys.platform.startswith("linux") else "spawn"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one stack (or one whole input) of a batch.

    Attributes
    ----------
    input : str
        The input file.
    status : str
        ``"done"`` (segmented now), ``"skipped"`` (a complete result was already there) or
        ``"failed"``.
    mask : str
        The mask file (written, or already there; nothing is written for a failed input).
    record : dict or None
        The contents of the JSON record (None for a failed input).
    error : str or None
        Why it failed, one line.
    seconds : float
        Wall time spent on this stack.
    scene, time, channel : int or None
        The stack's indices (None for an input that failed before its stacks were known).
    """

    input: str
    status: str
    mask: str
    record: dict | None = None
    error: str | None = None
    seconds: float = 0.0
    scene: int | None = None
    time: int | None = None
    channel: int | None = None

    @property
    def label(self) -> str:
        """``path`` or ``path [scene 1, time 0, channel 2]``."""
        parts = [f"{what} {value}" for what, value in (("scene", self.scene), ("time", self.time),
                                                      ("channel", self.channel)) if value is not None]
        return self.input + (f" [{', '.join(parts)}]" if parts else "")


@dataclass
class BatchSummary:
    """The outcome of a batch, one :class:`FileOutcome` per stack (or failed input), in input order."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    output_folder: str = ""
    seconds: float = 0.0

    def _with(self, status: str) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def done(self) -> list[FileOutcome]:
        return self._with("done")

    @property
    def skipped(self) -> list[FileOutcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FileOutcome]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failed


# ----------------------------------------------------------------------------------------------
# inputs and outputs
# ----------------------------------------------------------------------------------------------

def _image_stem(path: Path) -> str | None:
    return image_stem(path)


#: Extra images a segmenter may write beside the mask (a trained network's probability map).
EXTRA_SUFFIXES = ("_prob.ome.tif", ZARR_MASK_SUFFIX, "_prob.ome.zarr")


def _is_our_output(path: Path) -> bool:
    name = path.name
    for suffix in (MASK_SUFFIX, *EXTRA_SUFFIXES):
        if name.endswith(suffix) and (path.parent / (name[: -len(suffix)] + RECORD_SUFFIX)).exists():
            return True
    return False


def expand_inputs(inputs) -> list[Path]:
    """Turn files, folders and glob patterns into a sorted, duplicate-free list of images.

    Parameters
    ----------
    inputs : str, os.PathLike or a sequence of them
        Files and ``.ome.zarr`` / ``.zarr`` image folders (taken as given), folders (their images:
        ``.tif``, ``.tiff``, ``.ome.tif``, ``.czi``, ``.nd2``, ``.lif`` files and ``.ome.zarr`` /
        ``.zarr`` folders, not recursive, sorted; masks written there by an earlier batch,
        ``NAME_seg.ome.tif`` next to ``NAME_seg.json``, are left out) and glob patterns
        (``"data/*.czi"``, ``"data/**/*.tif"``; matching files and zarr folders, sorted).

    Returns
    -------
    list of pathlib.Path
        Each image once, in the order given (images of one folder or pattern sorted by name).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For no inputs at all, a folder without images, or a pattern that matches no image.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise ValueError("No inputs given; pass image files, folders or glob patterns such as 'data/*.tif'.")
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        text = str(item)
        if path.is_dir() and not is_image_path(path):
            found = sorted((p for p in path.iterdir() if is_image_path(p) and not _is_our_output(p)),
                           key=lambda p: p.name)
            if not found:
                raise ValueError(
                    f"The folder {path} has no image files ({', '.join(IMAGE_SUFFIXES)}). Check the folder, or "
                    "pass the files or a pattern such as 'folder/**/*.tif' for files in subfolders."
                )
            files.extend(found)
        elif path.is_file() or path.is_dir():
            files.append(path)
        elif _GLOB_CHARACTERS & set(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True)
                           if Path(p).is_file() or is_image_path(p))
            if not found:
                raise ValueError(
                    f"No files match {text!r}. Check the pattern (relative patterns start at {Path.cwd()})."
                )
            files.extend(found)
        else:
            raise FileNotFoundError(
                f"No such file or folder: {text}. Check the path (relative paths start at {Path.cwd()})."
            )
    unique, seen = [], set()
    for path in files:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def output_paths(input_path, output_folder, *, tag: str = "") -> tuple[Path, Path]:
    """The mask and record paths of one input: ``OUT/NAME{tag}_seg.ome.tif`` and ``OUT/NAME{tag}_seg.json``.

    ``NAME`` is the input's name without its image ending (``.ome.tif``, ``.tif``, ``.czi``,
    ``.ome.zarr``, ...; any other name is kept whole); ``tag`` is :func:`stack_tag`'s (e.g. ``"_s1_c0"``).
    """
    input_path = Path(input_path)
    stem = _image_stem(input_path) or input_path.name
    folder = Path(output_folder)
    return folder / (stem + tag + MASK_SUFFIX), folder / (stem + tag + RECORD_SUFFIX)


def stack_tag(image_file, stack) -> str:
    """The part of an output name that says which stack it is: ``"_s{scene}_t{time}_c{channel}"``.

    A part is present only when the file has more than one along that axis (the largest count over
    its scenes), its index zero-padded to the width of the file's largest index: channel 1 of a
    2-channel file is ``"_c1"``, scene 3 of 12 scenes ``"_s03"``, a single-stack file ``""``.
    """
    infos = [image_file.scene_info(i) for i in range(len(image_file.scenes))]
    counts = (("s", len(infos), stack.scene), ("t", max(i.time_points for i in infos), stack.time),
              ("c", max(i.shape["C"] for i in infos), stack.channel))
    return "".join(f"_{letter}{index:0{len(str(count - 1))}d}" for letter, count, index in counts if count > 1)


def check_output_folder(output_folder) -> Path:
    """Create the output folder if needed and make sure files can be written in it.

    Raises
    ------
    ValueError
        When the path is an existing file, cannot be created, or is not writable (checked by
        writing and removing a small file, which is reliable also for root and read-only mounts).
    """
    folder = Path(output_folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"The output folder {folder} is an existing file; choose a folder, e.g. {folder}_masks.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot create the output folder {folder} ({error.strerror or error}); choose a folder you "
            "can write to."
        ) from error
    try:
        handle, probe = tempfile.mkstemp(prefix=".segmenter-write-check.", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"Cannot write to the output folder {folder} ({error.strerror or error}); choose a folder you "
            "can write to, or fix its permissions."
        ) from error
    return folder


def file_checksum(path, *, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, as 64 hexadecimal digits (for image inputs see ``input_checksum``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json_atomically(path: Path, content: dict) -> None:
    write_json(path, content, sync=True)


def _plain(value):
    """The workflow dictionary exactly as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _as_workflow(workflow):
    if isinstance(workflow, (str, os.PathLike)):
        from .workflow import load_preset

        return load_preset(workflow)
    if not callable(getattr(workflow, "to_dict", None)):
        raise ValueError(
            f"`workflow` must be a preset name, a workflow file or a Workflow, got {type(workflow).__name__}; "
            "load one with `helpers.workflow.load_preset('sec61b')`."
        )
    return workflow


def _read_record(record_path: Path) -> dict | None:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("kind") == RECORD_KIND else None


def _mask_complete(mask_path: Path, shape) -> bool:
    import tifffile

    if mask_path.name.endswith(".ome.zarr"):  # a block-wise result: complete once renamed into place
        try:
            from .chunked.arrays import ZarrArray

            return mask_path.is_dir() and list(ZarrArray(str(mask_path / "0")).shape) == list(shape)
        except Exception:
            return False

    try:
        with tifffile.TiffFile(mask_path) as tiff:
            # tifffile leaves out size-1 axes (a promoted 2D mask (1, Y, X) reads back as (Y, X))
            return [n for n in tiff.series[0].shape if n != 1] == [n for n in shape if n != 1]
    except Exception:  # unreadable or truncated: not a complete result
        return False


def _selection(image_file, stack) -> dict:
    """The record's description of one stack: scene (index, name), time point, channel (index, name)."""
    info = image_file.scene_info(stack.scene)
    return {"scene": {"index": stack.scene, "name": info.name}, "time": stack.time,
            "channel": {"index": stack.channel, "name": info.channel_names[stack.channel]}}


def _differences(record: dict, workflow_dict: dict, checksum: str, selection: dict) -> list[str]:
    """What makes an existing record another result ([] when it is this one)."""
    saved = record.get("input", {})
    reasons = []
    if record.get("workflow") != workflow_dict:
        reasons.append("another workflow")
    if saved.get("sha256") != checksum:
        reasons.append("a different version of the input")
    for axis in ("scene", "time", "channel"):
        if saved.get(axis) != selection[axis]:
            value = saved.get(axis)
            reasons.append(f"{axis} {value.get('index') if isinstance(value, dict) else value}")
    return reasons


def _existing_state(workflow_dict: dict, checksum: str, selection: dict, mask_path: Path,
                    record_path: Path) -> tuple[str, dict | None]:
    """("absent" | "complete" | "different", record) for one stack's outputs."""
    if not record_path.exists():
        return "absent", None
    record = _read_record(record_path)
    if record is None:
        return "absent", None  # truncated or foreign JSON: treated as an unfinished result
    if _differences(record, workflow_dict, checksum, selection):
        return "different", record
    saved_mask = mask_path.parent / str(record.get("output", {}).get("mask", mask_path.name))
    if not _mask_complete(saved_mask, record.get("output", {}).get("shape")):
        return "absent", None
    return "complete", record


# ----------------------------------------------------------------------------------------------
# one file
# ----------------------------------------------------------------------------------------------

#: Bytes per voxel a workflow needs in memory (the image, its float copies and the step outputs).
IN_MEMORY_BYTES_PER_VOXEL = 24


def _default_memory_gb() -> float:
    """Half of this machine's memory, in GiB (what ``block_wise=None`` compares an image's needs with)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 / 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
        return 8.0


def _use_blocks(image_file, stack, blocks: dict | None) -> bool:
    if not blocks or blocks.get("mode") is False:
        return False
    if blocks.get("mode") is True:
        return True
    shape = image_file.scene_info(stack.scene).shape
    voxels = shape["Z"] * shape["Y"] * shape["X"]
    return voxels * IN_MEMORY_BYTES_PER_VOXEL > blocks["memory_gb"] * 2**30


def _segment_blocks(workflow, image_file, stack, mask_path, record_path, checksum, blocks, started) -> dict:
    """One stack block by block (helpers.chunked), read lazily, written as NAME..._seg.ome.zarr."""
    zarr_path = mask_path.with_name(mask_path.name[: -len(MASK_SUFFIX)] + ZARR_MASK_SUFFIX)
    lazy = image_file.lazy(scene=stack.scene, time=stack.time, channel=stack.channel)
    voxel_size = image_file.scene_info(stack.scene).voxel_size
    options = dict(voxel_size=voxel_size, memory_gb=blocks["memory_gb"], workers=blocks.get("workers", 1),
                   scheduler=blocks.get("scheduler"), overwrite=True)
    extra = []
    if hasattr(workflow, "segment"):
        from .chunked.prediction import predict_chunked

        result = predict_chunked(workflow.path, lazy, zarr_path, threshold=workflow.threshold,
                                 tile_shape=workflow.tile_shape, batch_size=workflow.batch_size, device=workflow.device,
                                 **options)
        extra = [zarr_path.name.replace("_seg", "_prob")]
    else:
        from .chunked import run_chunked

        result = run_chunked(workflow, lazy, zarr_path, **options)
    record = {
        "kind": RECORD_KIND,
        "helpers_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "path": str(Path(image_file.path).resolve()), "format": image_file.format, "reader": image_file.reader,
            "sha256": checksum,
            "checksum_of": "metadata files, chunk sizes and times" if Path(image_file.path).is_dir() else "file bytes",
            **_selection(image_file, stack),
            "shape": list(result.shape), "dtype": str(lazy.dtype),
            "voxel_size_um": list(voxel_size) if voxel_size is not None else None,
        },
        "output": {
            "mask": zarr_path.name, "shape": list(result.shape), "dtype": "uint8",
            "values": "0 background, 255 foreground",
            "voxel_size_um": list(voxel_size) if voxel_size is not None else None,
            "foreground_voxels": result.foreground_voxels, "extra": extra, "block_wise": True,
        },
        "workflow": _plain(workflow.to_dict()),
        "timings_s": {"steps": result.timings, "total": round(time.perf_counter() - started, 4)},
    }
    _write_json_atomically(record_path, record)
    return record


def _segment(workflow, image_file, stack, output_folder: Path, checksum: str, promote_2d: bool,
             blocks: dict | None = None) -> dict:
    from .workflow import run

    started = time.perf_counter()
    input_path = image_file.path
    mask_path, record_path = output_paths(input_path, output_folder, tag=stack_tag(image_file, stack))
    if os.path.realpath(mask_path) == os.path.realpath(input_path):
        raise ValueError(f"The mask {mask_path} would replace the input; choose another output folder.")
    if _use_blocks(image_file, stack, blocks):
        return _segment_blocks(workflow, image_file, stack, mask_path, record_path, checksum, blocks, started)
    read_start = time.perf_counter()
    image = image_file.read(scene=stack.scene, time=stack.time, channel=stack.channel, promote_2d=promote_2d)
    read_seconds = time.perf_counter() - read_start
    if hasattr(workflow, "segment"):  # a trained network (helpers.prediction.ModelSegmenter)
        mask, step_timings, extra_images = workflow.segment(image.data)
    else:
        result = run(workflow, image.data, keep_intermediates=False)  # frees each step when done
        mask, step_timings, extra_images = result.mask, result.timings, {}
    if tuple(mask.shape) != tuple(image.data.shape):
        raise ValueError(
            f"The workflow returned a mask of shape {tuple(mask.shape)} for an image of shape "
            f"{tuple(image.data.shape)}; check the workflow's last step."
        )
    write_start = time.perf_counter()
    stem = mask_path.name[: -len(MASK_SUFFIX)]
    for suffix, array in extra_images.items():  # e.g. the probability map, NAME_prob.ome.tif
        write_image(mask_path.parent / f"{stem}_{suffix}.ome.tif", array, voxel_size=image.voxel_size, overwrite=True)
    if mask.dtype == bool:
        write_mask(mask_path, mask, voxel_size=image.voxel_size, overwrite=True)
        values = "0 background, 255 foreground"
    else:
        write_image(mask_path, mask, voxel_size=image.voxel_size, overwrite=True)
        values = "class labels (0 background)"
    write_seconds = time.perf_counter() - write_start
    record = {
        "kind": RECORD_KIND,
        "helpers_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "path": str(Path(input_path).resolve()),
            "format": image_file.format,
            "reader": image_file.reader,
            "sha256": checksum,
            "checksum_of": "metadata files, chunk sizes and times" if Path(input_path).is_dir() else "file bytes",
            **_selection(image_file, stack),
            "shape": list(image.data.shape),
            "dtype": str(image.data.dtype),
            "voxel_size_um": list(image.voxel_size) if image.voxel_size is not None else None,
        },
        "output": {
            "mask": mask_path.name,
            "shape": list(mask.shape),
            "dtype": "uint8",
            "values": values,
            "voxel_size_um": list(image.voxel_size) if image.voxel_size is not None else None,
            "foreground_voxels": int((mask > 0).sum()),
            "extra": sorted(f"{stem}_{suffix}.ome.tif" for suffix in extra_images),
        },
        "workflow": _plain(workflow.to_dict()),
        "timings_s": {
            "read": round(read_seconds, 4),
            "steps": {step: round(float(seconds), 4) for step, seconds in step_timings.items()},
            "write": round(write_seconds, 4),
            "total": round(time.perf_counter() - started, 4),
        },
    }
    _write_json_atomically(record_path, record)
    return record


def segment_file(workflow, input_path, output_folder, *, channel: int | None = None, scene: int | None = None,
                 time: int | None = None, promote_2d: bool = False) -> dict:
    """Segment one (Z, Y, X) stack of an image file and write its mask and record (always; no skipping).

    Parameters
    ----------
    workflow : Workflow, str or os.PathLike
        A workflow, a preset name (e.g. ``"sec61b"``) or a saved workflow JSON file.
    input_path : str or os.PathLike
        An image in any format :func:`helpers.image_files.open_image` reads.
    output_folder : str or os.PathLike
        Where ``NAME[_s.._t.._c..]_seg.ome.tif`` and ``..._seg.json`` are written (created if needed).
    channel, scene, time : int, optional
        The stack to segment; each may be left out when the file has only one along that axis.
        (For several stacks use :func:`run_batch`.)
    promote_2d : bool
        Segment a 2D image as a one-slice stack.

    Returns
    -------
    dict
        The record written to the JSON file: ``workflow`` (every parameter), ``input`` (``path``,
        ``format``, ``sha256``, ``scene``, ``time``, ``channel``, ``shape``, ``voxel_size_um``),
        ``output`` (``mask``, ``shape``, ``dtype``, ``voxel_size_um``), ``helpers_version``, ``date``
        and ``timings_s`` (``read``, per-step ``steps``, ``write``, ``total``).

    Raises
    ------
    ValueError
        For an unreadable image, a missing or out-of-range choice, a 2D image without
        ``promote_2d``, an unwritable output folder, or when the mask would replace the input.
    """
    workflow = _as_workflow(workflow)
    for name, value in (("channel", channel), ("scene", scene), ("time", time)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"`{name}` must be one index (an int) or None, got {value!r}; for several stacks "
                             "use `run_batch`.")
    folder = check_output_folder(output_folder)
    image_file = open_image(input_path)
    [stack] = image_file.stacks(scene=scene, time=time, channel=channel)
    return _segment(workflow, image_file, stack, folder, input_checksum(image_file.path), promote_2d)


def _limit_threads(threads: int | None) -> None:
    """Use ``threads`` threads in this process's compiled kernels and Gaussian passes."""
    if threads is None:
        return
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _worker_start(threads: int | None) -> None:
    """Process-pool initializer: cap every thread pool before any kernel starts one."""
    if threads is not None:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(threads)
        if "numba" not in sys.modules:
            os.environ["NUMBA_NUM_THREADS"] = str(threads)
    _limit_threads(threads)


def _pool_context():
    context = get_context(POOL_START_METHOD)
    if POOL_START_METHOD == "forkserver":
        context.set_forkserver_preload(["helpers.batch", "helpers.workflow"])
    return context


def _failure(path, mask_path, error: Exception, started: float, stack=None) -> FileOutcome:
    message = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, (ValueError, FileNotFoundError, FileExistsError)):
        message = f"{type(error).__name__}: {message}"
    indices = {} if stack is None else {"scene": stack.scene, "time": stack.time, "channel": stack.channel}
    return FileOutcome(str(path), "failed", str(mask_path), None, message, time.perf_counter() - started, **indices)


def _process(workflow, input_path: str, output_folder: str, choice: dict, overwrite: bool,
             threads: int | None = None) -> list[FileOutcome]:
    """One input of a batch: open it once, then skip, segment or report each chosen stack (never raises).

    ``choice`` holds ``scene``, ``time``, ``channel`` (IndexChoice or None) and ``promote_2d``.
    """
    started = time.perf_counter()
    path = Path(input_path)
    mask_path, _ = output_paths(path, output_folder)
    try:
        _limit_threads(threads)  # numba's setting is per thread (Dask runs tasks on worker threads)
        image_file = open_image(path)
        stacks = image_file.stacks(scene=choice["scene"], time=choice["time"], channel=choice["channel"])
        checksum = input_checksum(path)
        workflow_dict = _plain(workflow.to_dict())
    except Exception as error:  # one bad file must not stop the batch
        return [_failure(path, mask_path, error, started)]
    outcomes = []
    for stack in stacks:
        started = time.perf_counter()
        mask_path, record_path = output_paths(path, output_folder, tag=stack_tag(image_file, stack))
        indices = {"scene": stack.scene, "time": stack.time, "channel": stack.channel}
        try:
            selection = _selection(image_file, stack)
            state, record = _existing_state(workflow_dict, checksum, selection, mask_path, record_path)
            if state == "complete":
                outcomes.append(FileOutcome(str(path), "skipped", str(mask_path), record, None,
                                            time.perf_counter() - started, **indices))
                continue
            if state == "different" and not overwrite:
                reasons = _differences(record, workflow_dict, checksum, selection)
                raise ValueError(
                    f"{record_path} holds a result made with {' and '.join(reasons)}; it was left "
                    "untouched. Use another output folder, or overwrite it (--overwrite, overwrite=True)."
                )
            record = _segment(workflow, image_file, stack, Path(output_folder), checksum, choice["promote_2d"],
                              choice.get("blocks"))
            outcomes.append(FileOutcome(str(path), "done", str(mask_path), record, None,
                                        time.perf_counter() - started, **indices))
        except Exception as error:  # one bad stack must not stop the others
            outcomes.append(_failure(path, mask_path, error, started, stack))
    return outcomes


# ----------------------------------------------------------------------------------------------
# many files
# ----------------------------------------------------------------------------------------------

def start_local_cluster(*, workers: int = 2, threads_per_worker: int = 1, port: int = 0,
                        dashboard: bool = False):
    """Start a Dask distributed cluster on this machine, listening on loopback only.

    Parameters
    ----------
    workers : int
        Worker processes.
    threads_per_worker : int
        Tasks each worker runs at once (1 suits these workflows, which use all of a core).
    port : int
        Scheduler port (0: any free port).
    dashboard : bool
        Serve Dask's dashboard (needs ``bokeh``); off by default.

    Returns
    -------
    distributed.LocalCluster
        Its ``scheduler_address`` (``tcp://127.0.0.1:PORT``) is what ``scheduler=`` and
        ``segmenter run --scheduler`` take. Close it with ``cluster.close()``.
    """
    from distributed import LocalCluster

    workers = int(workers)
    if workers < 1 or threads_per_worker < 1:
        raise ValueError(f"`workers` and `threads_per_worker` must be at least 1, got {workers} and "
                         f"{threads_per_worker}.")
    return LocalCluster(n_workers=workers, threads_per_worker=int(threads_per_worker), host="127.0.0.1",
                        scheduler_port=int(port), dashboard_address=":0" if dashboard else None,
                        processes=True)


def _connect(scheduler: str, timeout_s: float):
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ValueError(
            f"Could not connect to the Dask scheduler at {scheduler} ({error}). Start one with "
            "`segmenter cluster --workers 2` and pass the address it prints, or use --scheduler local."
        ) from error


def run_batch(
    workflow,
    inputs,
    output_folder,
    *,
    channel=None,
    scene=None,
    time=None,
    promote_2d: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    threads_per_worker: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    block_wise: bool | None = False,
    memory_gb: float | None = None,
) -> BatchSummary:
    """Apply one workflow to many files; never stops at a failed file.

    Parameters
    ----------
    workflow : Workflow, str or os.PathLike
        A workflow, a preset name (``"sec61b"``) or a saved workflow JSON file.
    inputs : str, os.PathLike or a sequence of them
        Files, folders and glob patterns (see :func:`expand_inputs`).
    output_folder : str or os.PathLike
        Where masks and records go (created if needed; checked for writing before anything runs).
    channel, scene, time : int, sequence of int, "all", IndexChoice, optional
        Which stacks of each file to segment: one index, several, or ``"all"``. Each may be left out
        for files with only one along that axis; a file with several and no choice fails with a
        message saying how to choose (the others go on). One result per stack, named as the
        module docstring says.
    promote_2d : bool
        Segment 2D images as one-slice stacks (otherwise a 2D image fails with a message).
    workers : int
        Processes on this machine (1: in this process). With ``scheduler="local"``, the number of
        Dask workers to start.
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``): one task per file on that
        cluster, whose workers must have ``helpers`` installed and see the same paths. ``"local"``
        starts a loopback Dask cluster of ``workers`` processes for this run.
    threads_per_worker : int, optional
        Threads each process uses inside a workflow (numba kernels, Gaussian passes). Default: all
        cores with ``workers=1``, else cores // workers (at least 1), so that processes do not
        compete for cores. Left as the cluster sets it for an external scheduler unless given.
    overwrite : bool
        Replace results made with another workflow, scene, time, channel or input version. Inputs themselves
        are never written to.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    on_outcome : callable, optional
        Called in this process with each :class:`FileOutcome` as it completes.
    block_wise : bool or None
        True: every stack runs block by block (:mod:`helpers.chunked`), read lazily and written as
        ``NAME..._seg.ome.zarr``, so that volumes larger than memory work; files then run one after
        another and ``workers`` / ``scheduler`` run the blocks. None: only stacks that would need
        more than ``memory_gb`` in memory (about 24 bytes per voxel). False (default): all in memory.
    memory_gb : float, optional
        Memory for a block-wise run (default: half of this machine's memory).

    Returns
    -------
    BatchSummary
        One outcome per stack (in input order; one failed outcome for an input that could not be
        opened or whose choices do not fit it); ``summary.ok`` is False when any failed.

    Raises
    ------
    ValueError
        Before anything runs: unknown preset or malformed workflow file, a malformed ``channel``,
        ``scene`` or ``time``, no inputs, a folder with no images, a pattern matching nothing, an
        output folder that cannot be written, an output that would replace an input, two inputs
        that would write the same output, or an unreachable scheduler.
    FileNotFoundError
        For an input path that does not exist.
    """
    started = _clock()
    workflow = _as_workflow(workflow)
    choice = {"scene": IndexChoice.of(scene, name="scene"), "time": IndexChoice.of(time, name="time"),
              "channel": IndexChoice.of(channel, name="channel"), "promote_2d": bool(promote_2d)}
    if block_wise is not False:
        memory = float(memory_gb) if memory_gb is not None else _default_memory_gb()
        if memory <= 0:
            raise ValueError(f"`memory_gb` must be positive, got {memory_gb!r}.")
        # forced: the blocks use the workers (or the cluster); automatic: a large stack runs its blocks in the
        # process that has it, beside the other files
        choice["blocks"] = {"mode": block_wise, "memory_gb": memory,
                            "workers": int(workers) if block_wise is True else 1,
                            "scheduler": scheduler if block_wise is True else None}
        if block_wise is True:  # the blocks use the workers; the files run one after another here
            workers, scheduler = 1, None
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"`workers` must be at least 1, got {workers}.")
    if threads_per_worker is not None and (isinstance(threads_per_worker, bool) or int(threads_per_worker) < 1):
        raise ValueError(f"`threads_per_worker` must be at least 1 (or None), got {threads_per_worker!r}.")
    files = expand_inputs(inputs)
    folder = check_output_folder(output_folder)
    inputs_by_path = {os.path.realpath(path): path for path in files}
    targets: dict[str, Path] = {}
    for path in files:
        mask_path, _ = output_paths(path, folder)
        key = os.path.realpath(mask_path)
        if key in inputs_by_path:
            raise ValueError(
                f"The mask of {path} would be written to {mask_path}, which is one of the inputs; "
                "choose another output folder (-o)."
            )
        if key in targets:
            raise ValueError(
                f"{targets[key]} and {path} would both be written to {mask_path}; process them into "
                "separate output folders, or rename one."
            )
        targets[key] = path
    if threads_per_worker is None and scheduler is None and workers > 1:
        threads_per_worker = max(1, (os.cpu_count() or 1) // workers)
    if threads_per_worker is None and scheduler == "local":
        threads_per_worker = max(1, (os.cpu_count() or 1) // workers)

    outcomes: dict[int, list[FileOutcome]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="file", desc="segmenting", file=sys.stderr,
                   dynamic_ncols=True)

    def finished(index: int, results: list[FileOutcome]) -> None:
        outcomes[index] = results
        if bar is not None:
            counts = {status: sum(o.status == status for o in results) for status in ("done", "skipped", "failed")}
            statuses = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
            bar.set_postfix_str(f"{Path(files[index]).name}: {statuses}", refresh=False)
            bar.update(1)
        if on_outcome is not None:
            for outcome in results:
                on_outcome(outcome)

    def crashed(index: int, what: str, error: Exception) -> list[FileOutcome]:
        return [FileOutcome(str(files[index]), "failed", str(output_paths(files[index], folder)[0]),
                            error=f"{what}: {type(error).__name__}: {error}")]

    arguments = [(workflow, str(path), str(folder), choice, overwrite) for path in files]
    try:
        if scheduler is not None:
            cluster = None
            if scheduler == "local":
                cluster = start_local_cluster(workers=workers, threads_per_worker=1)
                address = cluster.scheduler_address
            else:
                address = scheduler
            try:
                client = _connect(address, timeout_s=DASK_CONNECT_TIMEOUT_S)
                try:
                    from distributed import as_completed as dask_as_completed

                    futures = {}
                    for index, args in enumerate(arguments):
                        future = client.submit(_process, *args, threads_per_worker, pure=False,
                                               key=f"segment-{index}-{Path(args[1]).name}")
                        futures[future] = index
                    for future in dask_as_completed(list(futures), loop=client.loop):
                        index = futures[future]
                        try:
                            results = future.result()
                        except Exception as error:  # a worker died or could not unpickle the task
                            results = crashed(index, "Dask task failed", error)
                        finished(index, results)
                finally:
                    client.close()
            finally:
                if cluster is not None:
                    cluster.close()
        elif workers == 1:
            import numba

            before = numba.get_num_threads()
            try:
                for index, args in enumerate(arguments):
                    finished(index, _process(*args, threads_per_worker))
            finally:
                numba.set_num_threads(before)
        else:
            pool = ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=_pool_context(),
                                       initializer=_worker_start, initargs=(threads_per_worker,))
            try:
                futures = {pool.submit(_process, *args, threads_per_worker): index
                           for index, args in enumerate(arguments)}
                for future in as_completed(futures):
                    index = futures[future]
                    try:
                        results = future.result()
                    except Exception as error:  # the worker process died (e.g. out of memory)
                        results = crashed(index, "worker process failed", error)
                    finished(index, results)
            except BaseException:  # Ctrl-C: drop the files not started yet instead of finishing them
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return BatchSummary(outcomes=[outcome for index in range(len(files)) for outcome in outcomes[index]],
                        output_folder=str(folder), seconds=_clock() - started)
