"""A trained network applied to a volume larger than memory, block by block.

The image is normalized as in training with the whole volume's statistics (one streaming pass, see
:mod:`.steps`), then every block is read with a halo, predicted tile by tile
(:func:`helpers.inference.predict`) and cropped to its core. Outputs: the foreground probability
(float32) and the mask (uint8 0/255, the most probable class for more than two classes), both OME-Zarr.

The halo gives every core voxel the context it has in memory; the tiles' positions still differ near
block borders, so probabilities there differ slightly from an in-memory prediction (the masks agree to
Dice >= 0.999 in the tests).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .arrays import OmeZarrOutput, as_reference
from .blocks import BlockGrid, as_halo, core_shape_for
from .engine import DEFAULT_CHUNKS, ChunkedResult, _block_bytes
from .executor import BlockExecutor
from .steps import Context, _run_normalization

__all__ = ["predict_chunked", "DEFAULT_HALO"]

#: Context added around every block (z, y, x), in voxels.
DEFAULT_HALO = (8, 32, 32)
#: Loaded checkpoints of this process, by (path, device).
_LOADED: dict = {}


def _model(path: str, device):
    key = (path, str(device))
    if key not in _LOADED:
        from ..checkpoints import load_checkpoint

        _LOADED.clear()
        _LOADED[key] = load_checkpoint(path, device=device)
    return _LOADED[key]


def _predict_task(item) -> int:
    from ..inference import predict

    checkpoint_path, device, source, probability_out, mask_out, block, halo, threshold, tile_shape, batch_size = item
    checkpoint = _model(checkpoint_path, device)
    read, inner = block.with_halo(halo)
    normalized = source.read(read).astype(np.float32, copy=False)
    model_device = next(checkpoint.model.parameters()).device
    probabilities = predict(checkpoint.model, normalized, tile_shape=tile_shape, batch_size=batch_size,
                            device=model_device)
    core = (slice(None),) + tuple(inner)
    probabilities = probabilities[core]
    foreground = (1.0 - probabilities[0]).astype(np.float32)
    if probabilities.shape[0] > 2:
        mask = probabilities.argmax(axis=0).astype(np.uint8)
    else:
        mask = (foreground > np.float32(threshold)).astype(np.uint8) * np.uint8(255)
    probability_out.write(block.core, foreground)
    mask_out.write(block.core, mask)
    return int(np.count_nonzero(mask))


def predict_chunked(checkpoint, image, output, *, probability_output=None, threshold: float = 0.5,
                    tile_shape=None, batch_size: int = 1, device=None, halo=DEFAULT_HALO, voxel_size=None,
                    memory_gb: float = 3.0, workers: int = 1, scheduler: str | None = None, chunks=DEFAULT_CHUNKS,
                    block_mb: float | None = None, overwrite: bool = False, progress=None) -> ChunkedResult:
    """Predict a (Z, Y, X) volume of any size with a trained checkpoint, block by block.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A checkpoint written by ``segmenter train``.
    image : dask array, zarr array, NumPy array or a reference from :mod:`.arrays`
        The raw volume.
    output : str or os.PathLike
        The mask, ``NAME_seg.ome.zarr``.
    probability_output : str or os.PathLike, optional
        The foreground probability (default: ``output`` with ``_seg`` replaced by ``_prob``).
    threshold : float
        Foreground probability of the mask (two-class networks).
    tile_shape, batch_size, device
        As for :func:`helpers.inference.predict`.
    halo : int or tuple of 3 int
        Context read around every block, in voxels.
    voxel_size, memory_gb, workers, scheduler, chunks, block_mb, overwrite, progress
        As for :func:`helpers.chunked.run_chunked`.

    Returns
    -------
    ChunkedResult
        For the mask; ``timings`` has ``normalization`` and ``predict``.
    """
    from ..checkpoints import load_checkpoint

    started = time.perf_counter()
    checkpoint_path = str(Path(checkpoint).resolve())
    loaded = load_checkpoint(checkpoint_path, device="cpu")
    source = as_reference(image)
    shape = tuple(int(s) for s in source.shape)
    if len(shape) != 3:
        raise ValueError(f"The volume must be (Z, Y, X); got shape {shape}. Select one channel, scene and time "
                         "point first.")
    output = Path(output)
    probability_output = Path(probability_output) if probability_output is not None else output.with_name(
        output.name.replace("_seg", "_prob") if "_seg" in output.name else "prob_" + output.name)
    for path in (output, probability_output):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name or pass overwrite=True (--overwrite).")
    halo = as_halo(halo)
    chunks = tuple(min(int(c), s) for c, s in zip(chunks, shape))
    work = output.with_name(f".{output.name}.work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    mask_file = OmeZarrOutput(output, shape=shape, dtype="uint8", chunks=chunks, voxel_size=voxel_size,
                              name=output.name, overwrite=overwrite)
    probability_file = OmeZarrOutput(probability_output, shape=shape, dtype="float32", chunks=chunks,
                                     voxel_size=voxel_size, name=probability_output.name, overwrite=overwrite)
    timings = {}
    try:
        executor_workers = 1 if scheduler is not None else int(workers)
        with BlockExecutor(workers=executor_workers, scheduler=scheduler, progress=progress) as executor:
            block_bytes = (float(block_mb) * 2**20 if block_mb is not None
                           else _block_bytes(memory_gb, max(1, executor_workers)))
            context = Context(shape=shape, executor=executor, work=work, block_bytes=block_bytes, chunks=chunks)
            step_started = time.perf_counter()
            normalization = loaded.normalization
            from ..registry import get_algorithm

            algorithm = get_algorithm(normalization["algorithm"])
            parameters = algorithm.check_parameters(normalization["parameters"], name=normalization["algorithm"])
            step = SimpleNamespace(algorithm=normalization["algorithm"], id="normalized")
            normalized = _run_normalization(context, step, parameters, {"image": source})
            timings["normalization"] = round(time.perf_counter() - step_started, 3)
            step_started = time.perf_counter()
            core = core_shape_for(shape, bytes_per_voxel=48.0, memory_bytes=block_bytes, halo=halo, chunks=chunks)
            grid = BlockGrid(shape, core)
            foreground = sum(executor.map(_predict_task, [
                (checkpoint_path, device, normalized, probability_file.array, mask_file.array, block, halo, threshold,
                 tile_shape, batch_size) for block in grid], what="predicting"))
            timings["predict"] = round(time.perf_counter() - step_started, 3)
        path = mask_file.finish()
        probability_file.finish()
    except BaseException:
        mask_file.abandon()
        probability_file.abandon()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ChunkedResult(path=path, shape=shape, foreground_voxels=int(foreground),
                         seconds=time.perf_counter() - started, timings=timings)
