"""Apply one workflow to many image files: resumable, parallel, on a Dask cluster if asked.

For every input ``NAME.tif`` (or ``.tiff``, ``.ome.tif``) the batch writes, into one output folder,

- ``NAME_seg.ome.tif``: the mask, uint8 0/255, same (Z, Y, X) shape and voxel size as the input;
- ``NAME_seg.json``: the record of how it was made: the complete workflow with every parameter,
  the input path and its SHA-256 checksum, the channel, the ``helpers`` version, per-step timings,
  the total time, the date and the output shape.

Both files are written atomically (a temporary file in the output folder renamed into place) and
the record is written last, so a record next to its mask means a complete result; an interrupted
run leaves at most a hidden ``.*.partial`` file, which never counts. Running the same batch again
skips every input whose record and mask exist and whose record names the same workflow, channel and
input checksum, so a batch can be stopped and resumed at any time. A result made by a different
workflow (or from an input that has changed since) is never replaced unless ``overwrite=True``.
Inputs are never written to.

A file that fails (unreadable or corrupt TIFF, wrong dimensions, a workflow error) is reported with
its reason and the batch goes on with the others.

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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from . import __version__
from ._atomic import write_json
from .io import read_image, write_image, write_mask

__all__ = [
    "FileOutcome",
    "BatchSummary",
    "expand_inputs",
    "output_paths",
    "check_output_folder",
    "file_checksum",
    "segment_file",
    "run_batch",
    "start_local_cluster",
]

#: File name endings recognised as images (case-insensitive), longest first.
IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif")
MASK_SUFFIX = "_seg.ome.tif"
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
    """What happened to one input of a batch.

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
        Wall time spent on this input.
    """

    input: str
    status: str
    mask: str
    record: dict | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class BatchSummary:
    """The outcome of a batch, one :class:`FileOutcome` per input in input order."""

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
    lower = path.name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return path.name[: -len(suffix)]
    return None


#: Extra images a segmenter may write beside the mask (a trained network's probability map).
EXTRA_SUFFIXES = ("_prob.ome.tif",)


def _is_our_output(path: Path) -> bool:
    name = path.name
    for suffix in (MASK_SUFFIX, *EXTRA_SUFFIXES):
        if name.endswith(suffix) and (path.parent / (name[: -len(suffix)] + RECORD_SUFFIX)).exists():
            return True
    return False


def expand_inputs(inputs) -> list[Path]:
    """Turn files, folders and glob patterns into a sorted, duplicate-free list of files.

    Parameters
    ----------
    inputs : str, os.PathLike or a sequence of them
        Files (taken as given), folders (their ``*.tif`` / ``*.tiff`` files, not recursive, sorted;
        masks written there by an earlier batch, ``NAME_seg.ome.tif`` next to ``NAME_seg.json``,
        are left out) and glob patterns (``"data/*.tif"``, ``"data/**/*.tif"``; matching files,
        sorted).

    Returns
    -------
    list of pathlib.Path
        Each file once, in the order given (files of one folder or pattern sorted by name).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For no inputs at all, a folder without TIFF files, or a pattern that matches no file.
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
        if path.is_dir():
            found = sorted(
                (p for p in path.iterdir()
                 if p.is_file() and not p.name.startswith(".") and _image_stem(p) is not None
                 and not _is_our_output(p)),
                key=lambda p: p.name,
            )
            if not found:
                raise ValueError(
                    f"The folder {path} has no .tif/.tiff files. Check the folder, or pass the files "
                    "or a pattern such as 'folder/**/*.tif' for files in subfolders."
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif _GLOB_CHARACTERS & set(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
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


def output_paths(input_path, output_folder) -> tuple[Path, Path]:
    """The mask and record paths of one input: ``OUT/NAME_seg.ome.tif`` and ``OUT/NAME_seg.json``.

    ``NAME`` is the input's file name without ``.ome.tif``, ``.ome.tiff``, ``.tif`` or ``.tiff``
    (any other name is kept whole).
    """
    input_path = Path(input_path)
    stem = _image_stem(input_path) or input_path.name
    folder = Path(output_folder)
    return folder / (stem + MASK_SUFFIX), folder / (stem + RECORD_SUFFIX)


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
    """SHA-256 of a file's bytes, as 64 hexadecimal digits."""
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

    try:
        with tifffile.TiffFile(mask_path) as tiff:
            return list(tiff.series[0].shape) == list(shape)
    except Exception:  # unreadable or truncated: not a complete result
        return False


def _existing_state(workflow_dict: dict, checksum: str, channel, mask_path: Path,
                    record_path: Path) -> tuple[str, dict | None]:
    """("absent" | "complete" | "different", record) for one input's outputs."""
    if not record_path.exists():
        return "absent", None
    record = _read_record(record_path)
    if record is None:
        return "absent", None  # truncated or foreign JSON: treated as an unfinished result
    same = (record.get("workflow") == workflow_dict
            and record.get("input", {}).get("sha256") == checksum
            and record.get("input", {}).get("channel") == channel)
    if not same:
        return "different", record
    if not _mask_complete(mask_path, record.get("output", {}).get("shape")):
        return "absent", None
    return "complete", record


# ----------------------------------------------------------------------------------------------
# one file
# ----------------------------------------------------------------------------------------------

def _segment(workflow, input_path: Path, output_folder: Path, channel, checksum: str) -> dict:
    from .workflow import run

    started = time.perf_counter()
    mask_path, record_path = output_paths(input_path, output_folder)
    read_start = time.perf_counter()
    image = read_image(input_path, channel=channel)
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
            "sha256": checksum,
            "channel": channel,
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


def segment_file(workflow, input_path, output_folder, *, channel: int | None = None) -> dict:
    """Segment one image file and write its mask and record (always; no skipping).

    Parameters
    ----------
    workflow : Workflow, str or os.PathLike
        A workflow, a preset name (e.g. ``"sec61b"``) or a saved workflow JSON file.
    input_path : str or os.PathLike
        A TIFF / OME-TIFF file holding a (Z, Y, X) stack (or several channels, see ``channel``).
    output_folder : str or os.PathLike
        Where ``NAME_seg.ome.tif`` and ``NAME_seg.json`` are written (created if needed).
    channel : int, optional
        The channel to segment in a multichannel file.

    Returns
    -------
    dict
        The record written to ``NAME_seg.json``: ``workflow`` (every parameter), ``input``
        (``path``, ``sha256``, ``channel``, ``shape``, ``voxel_size_um``), ``output`` (``mask``,
        ``shape``, ``dtype``, ``voxel_size_um``), ``helpers_version``, ``date`` and ``timings_s``
        (``read``, per-step ``steps``, ``write``, ``total``).

    Raises
    ------
    ValueError
        For an unreadable image, a wrong number of dimensions, an unwritable output folder, or
        when the mask would replace the input.
    """
    workflow = _as_workflow(workflow)
    input_path = Path(input_path)
    folder = check_output_folder(output_folder)
    mask_path, _ = output_paths(input_path, folder)
    if not input_path.exists():
        raise FileNotFoundError(f"No such file: {input_path}.")
    if os.path.realpath(mask_path) == os.path.realpath(input_path):
        raise ValueError(f"The mask {mask_path} would replace the input; choose another output folder.")
    return _segment(workflow, input_path, folder, channel, file_checksum(input_path))


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


def _process(workflow, input_path: str, output_folder: str, channel, overwrite: bool,
             threads: int | None = None) -> FileOutcome:
    """One input of a batch: skip, segment or report the failure (never raises)."""
    started = time.perf_counter()
    path = Path(input_path)
    mask_path, record_path = output_paths(path, output_folder)
    try:
        _limit_threads(threads)  # numba's setting is per thread (Dask runs tasks on worker threads)
        checksum = file_checksum(path)
        workflow_dict = _plain(workflow.to_dict())
        state, record = _existing_state(workflow_dict, checksum, channel, mask_path, record_path)
        if state == "complete":
            return FileOutcome(str(path), "skipped", str(mask_path), record, None, time.perf_counter() - started)
        if state == "different" and not overwrite:
            reasons = []
            if record.get("workflow") != workflow_dict:
                reasons.append("another workflow")
            if record.get("input", {}).get("sha256") != checksum:
                reasons.append("a different version of the input")
            if record.get("input", {}).get("channel") != channel:
                reasons.append(f"channel {record.get('input', {}).get('channel')}")
            raise ValueError(
                f"{record_path} holds a result made with {' and '.join(reasons)}; it was left "
                "untouched. Use another output folder, or overwrite it (--overwrite, overwrite=True)."
            )
        record = _segment(workflow, path, Path(output_folder), channel, checksum)
        return FileOutcome(str(path), "done", str(mask_path), record, None, time.perf_counter() - started)
    except Exception as error:  # one bad file must not stop the batch
        message = " ".join(str(error).split()) or type(error).__name__
        if not isinstance(error, (ValueError, FileNotFoundError, FileExistsError)):
            message = f"{type(error).__name__}: {message}"
        return FileOutcome(str(path), "failed", str(mask_path), None, message, time.perf_counter() - started)


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
    channel: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    threads_per_worker: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    on_outcome: Callable[[FileOutcome], None] | None = None,
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
    channel : int, optional
        Channel to segment in multichannel files.
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
        Replace results made with another workflow, channel or input version. Inputs themselves
        are never written to.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    on_outcome : callable, optional
        Called in this process with each :class:`FileOutcome` as it completes.

    Returns
    -------
    BatchSummary
        One outcome per input (in input order); ``summary.ok`` is False when any failed.

    Raises
    ------
    ValueError
        Before anything runs: unknown preset or malformed workflow file, no inputs, a folder with
        no TIFF files, a pattern matching nothing, an output folder that cannot be written, an
        output that would replace an input, two inputs that would write the same output, or an
        unreachable scheduler.
    FileNotFoundError
        For an input path that does not exist.
    """
    started = time.perf_counter()
    workflow = _as_workflow(workflow)
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

    outcomes: dict[int, FileOutcome] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="file", desc="segmenting", file=sys.stderr,
                   dynamic_ncols=True)

    def finished(index: int, outcome: FileOutcome) -> None:
        outcomes[index] = outcome
        if bar is not None:
            bar.set_postfix_str(f"{Path(outcome.input).name}: {outcome.status}", refresh=False)
            bar.update(1)
        if on_outcome is not None:
            on_outcome(outcome)

    arguments = [(workflow, str(path), str(folder), channel, overwrite) for path in files]
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
                            outcome = future.result()
                        except Exception as error:  # a worker died or could not unpickle the task
                            outcome = FileOutcome(arguments[index][1], "failed",
                                                  str(output_paths(arguments[index][1], folder)[0]),
                                                  error=f"Dask task failed: {type(error).__name__}: {error}")
                        finished(index, outcome)
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
                        outcome = future.result()
                    except Exception as error:  # the worker process died (e.g. out of memory)
                        outcome = FileOutcome(arguments[index][1], "failed",
                                              str(output_paths(arguments[index][1], folder)[0]),
                                              error=f"worker process failed: {type(error).__name__}: {error}")
                    finished(index, outcome)
            except BaseException:  # Ctrl-C: drop the files not started yet instead of finishing them
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return BatchSummary(outcomes=[outcomes[index] for index in range(len(files))], output_folder=str(folder),
                        seconds=time.perf_counter() - started)
