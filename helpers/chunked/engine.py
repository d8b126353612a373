"""Run a workflow on a volume larger than memory, block by block, into an OME-Zarr mask.

    result = run_chunked(load_preset("tuba1b"), open_image("big.ome.zarr").lazy(channel=0),
                         "big_seg.ome.zarr", voxel_size=(0.29, 0.108, 0.108), memory_gb=3, workers=2)

The steps run in the workflow's order. Each writes its output to a scratch zarr array beside the
result (``.NAME.work/``), computed block by block (see :mod:`.steps` for how each building block does
that exactly), and is deleted as soon as no later step needs it. The mask is written as uint8 0/255
to an OME-Zarr image with the voxel size, atomically. Memory: about ``memory_gb`` in all, whatever the
volume's size; the block size is chosen from it.
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..workflow import RAW, Workflow
from .arrays import OmeZarrOutput, as_reference
from .blocks import BlockGrid, core_shape_for
from .executor import BlockExecutor
from .steps import Context, check_blockwise, run_step

__all__ = ["ChunkedResult", "run_chunked", "DEFAULT_CHUNKS", "WORKER_OVERHEAD_BYTES"]

#: Chunk shape (z, y, x) of the scratch arrays and of the output (smaller along axes the volume is smaller).
DEFAULT_CHUNKS = (8, 256, 256)
#: Memory of a worker process before it holds any block (Python, NumPy, SciPy, numba, the package).
WORKER_OVERHEAD_BYTES = 400 * 2**20


@dataclass
class ChunkedResult:
    """What :func:`run_chunked` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The OME-Zarr mask (uint8 0/255), array ``"0"`` inside it.
    shape : tuple of int
    foreground_voxels : int
    seconds : float
        Wall time of the whole run.
    timings : dict
        Seconds per step (and ``"write"`` for the final mask).
    """

    path: Path
    shape: tuple[int, int, int]
    foreground_voxels: int
    seconds: float
    timings: dict = field(default_factory=dict)

    def read(self) -> np.ndarray:
        """The mask as a boolean NumPy array (only for volumes that fit in memory)."""
        import zarr

        return np.asarray(zarr.open_array(str(self.path / "0"), mode="r")[...]) > 0


def _mask_task(item) -> int:
    source, out, block = item
    values = source.read(block.core)
    mask = values if values.dtype == bool else values > 0
    out.write(block.core, mask.astype(np.uint8) * np.uint8(255))
    return int(mask.sum())


def _block_bytes(memory_gb: float, workers: int) -> float:
    total = float(memory_gb) * 2**30
    per_worker = (total - WORKER_OVERHEAD_BYTES) / workers - (WORKER_OVERHEAD_BYTES if workers > 1 else 0)
    if per_worker < 64 * 2**20:
        raise ValueError(f"memory_gb={memory_gb:g} leaves less than 64 MiB per block with {workers} worker(s); "
                         "give more memory or use fewer workers.")
    return per_worker


def run_chunked(workflow: Workflow, image, output, *, voxel_size=None, memory_gb: float = 3.0, workers: int = 1,
                scheduler: str | None = None, work_folder=None, chunks=DEFAULT_CHUNKS, block_mb: float | None = None,
                overwrite: bool = False, progress=None, record: dict | None = None) -> ChunkedResult:
    """Segment a (Z, Y, X) volume of any size block by block.

    Parameters
    ----------
    workflow : Workflow
        A preset or tuned workflow whose every step can run block by block (see
        :func:`helpers.chunked.steps.check_blockwise`; checked before anything runs).
    image : dask array, zarr array, NumPy array or a reference from :mod:`.arrays`
        The raw (Z, Y, X) volume, e.g. ``open_image(path).lazy(channel=0)``; read a block at a time.
    output : str or os.PathLike
        The ``NAME.ome.zarr`` folder to write.
    voxel_size : tuple of 3 float, optional
        (z, y, x) in micrometres, kept in the output's metadata.
    memory_gb : float
        Memory for the whole run (this process and its workers); blocks are sized to stay within it.
    workers : int
        Worker processes on this machine (blocks run in parallel).
    scheduler : str, optional
        A Dask distributed scheduler address: blocks run on that cluster's workers (which must see
        ``output``'s folder). ``memory_gb`` is then the memory of one of its workers.
    work_folder : str or os.PathLike, optional
        Scratch space (default ``.NAME.work`` beside the output; needs about the volume's size in
        compressed float32). Removed at the end.
    chunks : tuple of 3 int
        Chunk shape of the scratch arrays and the output.
    block_mb : float, optional
        Memory of one block in MiB; default: what ``memory_gb`` leaves per worker. (Small values make
        many small blocks, which tests use to check that blocks join seamlessly.)
    overwrite : bool
        Replace an existing output.
    progress : callable, optional
        ``progress(done, total, what)`` after each block.
    record : dict, optional
        Extra facts stored in the output's metadata (``segmenter`` key).

    Returns
    -------
    ChunkedResult
    """
    started = time.perf_counter()
    if not isinstance(workflow, Workflow):
        raise ValueError("`workflow` must be a Workflow; load one with helpers.workflow.load_preset(name).")
    check_blockwise(workflow)
    source = as_reference(image)
    shape = tuple(int(s) for s in source.shape)
    if len(shape) != 3:
        raise ValueError(f"The volume must be (Z, Y, X); got shape {shape}. Select one channel, scene and time "
                         "point first, e.g. open_image(path).lazy(channel=0, scene=0, time=0).")
    dtype = np.dtype(source.dtype)
    if dtype == bool or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"The volume has dtype {dtype}; an intensity image (integers or floats) is needed.")
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; choose another name or pass overwrite=True (--overwrite).")
    executor_workers = 1 if scheduler is not None else int(workers)
    chunks = tuple(min(int(c), s) for c, s in zip(chunks, shape))
    work = Path(work_folder) if work_folder is not None else output.with_name(f".{output.name}.work")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    final = OmeZarrOutput(output, shape=shape, dtype="uint8", chunks=chunks, voxel_size=voxel_size,
                          name=output.name, overwrite=overwrite)
    timings: dict[str, float] = {}
    try:
        with BlockExecutor(workers=executor_workers, scheduler=scheduler, progress=progress) as executor:
            # this process's share for whole-volume work, while the workers wait with their own overhead
            whole_volume_bytes = float(memory_gb) * 2**30 - WORKER_OVERHEAD_BYTES * max(1, executor_workers)
            context = Context(shape=shape, executor=executor, work=work,
                              block_bytes=(float(block_mb) * 2**20 if block_mb is not None
                                           else _block_bytes(memory_gb, max(1, executor_workers))),
                              chunks=chunks, memory_bytes=max(whole_volume_bytes, 0.0))
            values = {RAW: source}
            remaining = {}
            for step in workflow.steps:
                for ids in step.inputs.values():
                    for ref in ids if isinstance(ids, list) else [ids]:
                        remaining[ref] = remaining.get(ref, 0) + 1
            for step in workflow.steps:
                step_started = time.perf_counter()
                inputs = {name: ([values[r] for r in ids] if isinstance(ids, list) else values[ids])
                          for name, ids in step.inputs.items()}
                try:
                    values[step.id] = run_step(context, step, inputs)
                except ValueError as error:
                    raise ValueError(f"Step {step.id!r} ({step.algorithm}) of workflow {workflow.name!r}: "
                                     f"{error}") from error
                timings[step.id] = round(time.perf_counter() - step_started, 3)
                for ids in step.inputs.values():
                    for ref in ids if isinstance(ids, list) else [ids]:
                        remaining[ref] -= 1
                        if remaining[ref] == 0 and ref not in (RAW, workflow.output):
                            _discard(values.pop(ref))
            write_started = time.perf_counter()
            core = core_shape_for(shape, bytes_per_voxel=8.0, memory_bytes=context.block_bytes, chunks=chunks)
            grid = BlockGrid(shape, core)
            foreground = sum(executor.map(_mask_task, [(values[workflow.output], final.array, block)
                                                       for block in grid], what="writing the mask"))
            timings["write"] = round(time.perf_counter() - write_started, 3)
        _write_record(final, workflow, shape, voxel_size, foreground, timings, record)
        path = final.finish()
    except BaseException:
        final.abandon()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ChunkedResult(path=path, shape=shape, foreground_voxels=int(foreground),
                         seconds=time.perf_counter() - started, timings=timings)


def _discard(value) -> None:
    path = getattr(value, "path", None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _write_record(final: OmeZarrOutput, workflow, shape, voxel_size, foreground, timings, extra) -> None:
    attributes_path = final.partial / ".zattrs"
    attributes = json.loads(attributes_path.read_text(encoding="utf-8"))
    attributes["segmenter"] = {
        **attributes.get("segmenter", {}),
        "kind": "segmenter result",
        "helpers_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "workflow": json.loads(json.dumps(workflow.to_dict())),
        "shape": list(shape),
        "values": "0 background, 255 foreground",
        "voxel_size_um": list(voxel_size) if voxel_size is not None else None,
        "foreground_voxels": int(foreground),
        "timings_s": timings,
        "block_wise": True,
        **(extra or {}),
    }
    attributes_path.write_text(json.dumps(attributes, indent=2) + "\n", encoding="utf-8")
