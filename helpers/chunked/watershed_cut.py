"""WCUT (:func:`helpers.watershed.cut_touching_objects`) on a volume of any size, equal to the in-memory cut.

Why not simply object by object: the cut floods the distance map from the markers with a priority
queue, and markers of equal value leave the queue in an order set by the queue's layout, which
depends on every marker in the volume. Cutting each object on its own (or each region of objects)
therefore moves a few voxels of some watershed lines (8 of 2461 foreground voxels on the CETN2
sample). So the cut is split where that is exact and kept whole where it must be:

1. blocks: the seeds are grown by a 6-neighbour cross (halo 1), and the crosses' 26-connected
   components are labelled across blocks (:func:`.labels.connected_components`): the markers;
2. blocks: the distance map (each voxel's distance to the nearest background voxel), from a halo that
   grows until every distance in the block is shorter than the halo (then it is exact);
3. blocks: the mask's voxels are gathered into this process, each with its raveled position, its
   distance and its marker label;
4. one flood over those voxels only, in raster order, exactly as in memory
   (:func:`helpers.watershed.wcut_flood_sparse`);
5. blocks: the kept voxels are written back.

Memory in this process: about :data:`BYTES_PER_VOXEL` per voxel of the mask (not of the volume); a
mask of 1 % of the 200 x 2048 x 2048 benchmark volume needs about 1.1 GB. When the memory given does
not allow it, :func:`cut_touching_objects_blocks` returns False and the caller cuts region by region
instead (close, not exact), with a warning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .arrays import ZarrArray, create_zarr
from .labels import connected_components

__all__ = ["BYTES_PER_VOXEL", "cut_touching_objects_blocks", "mask_voxels"]

#: Memory of the whole-volume flood per mask voxel: position, distance, key, label, queue state, the
#: 6-neighbour table and the queue itself. Measured: 104 bytes per voxel at the flood's peak (2.0 million
#: mask voxels of a 64 x 512 x 512 volume, 3.2 s); the gathering's copies peak lower.
BYTES_PER_VOXEL = 128
#: The distance map's first halo (voxels); blocks holding a longer distance are done again with more.
FIRST_HALO = 4
#: Peak bytes of scipy's distance transform per voxel of a block's region (mask, indices, result).
_DISTANCE_BYTES_PER_VOXEL = 40.0


def _count_task(item) -> int:
    mask, block = item
    return int(np.count_nonzero(mask.read(block.core)))


def _cross_task(item) -> int:
    from scipy import ndimage

    seeds, out, block = item
    read, inner = block.with_halo(1)
    grown = ndimage.binary_dilation(seeds.read(read) > 0, structure=ndimage.generate_binary_structure(3, 1))
    out.write(block.core, grown[inner])
    return 0


def _distance_task(item) -> float:
    """-distance to the nearest background voxel on the block's mask voxels; 0 when exact, else the halo needed.

    Read with ``halo``, the distances found are never shorter than the true ones, and a distance of at
    most ``halo`` is exact (every background voxel outside the region is farther than ``halo``).
    """
    from scipy import ndimage

    mask, out, block, halo = item
    read, inner = block.with_halo(halo)
    region = mask.read(read) > 0
    core = region[inner]
    if not core.any():
        out.write(block.core, np.zeros(core.shape, dtype=np.float64))
        return 0.0
    if region.all():
        return float(2 * halo + 1)
    distances = ndimage.distance_transform_edt(region)[inner]
    longest = float(distances[core].max())
    if longest > halo:
        return longest
    out.write(block.core, np.where(core, -distances, 0.0))
    return 0.0


def _distance_map(mask, out: ZarrArray, context) -> None:
    """WCUT's distance map (:func:`helpers.watershed.wcut_distances`) of a volume with background."""
    import math

    grid = context.grid(halo=FIRST_HALO, bytes_per_voxel=_DISTANCE_BYTES_PER_VOXEL)
    pending, halo = list(grid), FIRST_HALO
    while pending:
        needed = context.executor.map(_distance_task, [(mask, out, block, halo) for block in pending],
                                      what=f"distance map (halo {halo})")
        pending = [block for block, need in zip(pending, needed) if need > 0]
        if not pending:
            break
        halo = max(2 * halo, math.ceil(max(needed)))
        region = max(math.prod(s.stop - s.start for s in block.with_halo(halo)[0]) for block in pending)
        if region * _DISTANCE_BYTES_PER_VOXEL > 4 * context.block_bytes:
            raise ValueError(
                f"The mask's objects are too thick to cut block by block: voxels lie {max(needed):.0f} voxels from "
                f"the background, and a block read with that margin needs about "
                f"{region * _DISTANCE_BYTES_PER_VOXEL / 2**30:.1f} GB. Give more memory per block (--memory), or cut "
                "this volume in memory.")


def _gather_task(item):
    mask, distances, markers, block, shape = item
    inside = np.flatnonzero(mask.read(block.core))
    local = np.unravel_index(inside, tuple(s.stop - s.start for s in block.core))
    flat = np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, block.core)), shape).astype(np.int64)
    return (flat, distances.read(block.core).ravel()[inside],
            markers.read(block.core).ravel()[inside].astype(np.int32))


def _write_task(item) -> int:
    hits_path, out, block, shape = item
    hits = np.load(hits_path, mmap_mode="r")
    start = np.array([s.start for s in block.core], dtype=np.int64)
    stop = np.array([s.stop for s in block.core], dtype=np.int64)
    first, last = np.ravel_multi_index(tuple(start), shape), np.ravel_multi_index(tuple(stop - 1), shape)
    a, b = np.searchsorted(hits, [first, last + 1])
    coords = np.column_stack(np.unravel_index(np.asarray(hits[a:b]), shape)) - start
    coords = coords[np.all((coords >= 0) & (coords < stop - start), axis=1)]
    core = np.zeros(tuple(stop - start), dtype=bool)
    core[tuple(coords.T)] = True
    out.write(block.core, core)
    return int(coords.shape[0])


def mask_voxels(mask, *, grid, executor) -> int:
    """The number of foreground voxels of a (Z, Y, X) mask reference, counted block by block."""
    return int(sum(executor.map(_count_task, [(mask, block) for block in grid], what="counting the mask")))


def cut_touching_objects_blocks(mask, seeds, out: ZarrArray, *, min_size: int, context) -> bool:
    """Cut touching objects of a volume as :func:`helpers.watershed.cut_touching_objects` does in memory.

    Parameters
    ----------
    mask, seeds : array reference, shape (Z, Y, X)
        The objects and their seeds (> 0 is foreground), read a block at a time.
    out : ZarrArray of bool, shape (Z, Y, X)
        Where the cut mask is written.
    min_size : int
        Smallest watershed region to keep, in voxels.
    context : helpers.chunked.steps.Context
        The run's volume shape, executor, scratch space and memory (``memory_bytes``, ``block_bytes``).

    Returns
    -------
    bool
        True when the cut was written; False (nothing written) when the mask has too many voxels for
        one flood in ``context.memory_bytes``.
    """
    from ..watershed import cut_touching_objects, wcut_flood_sparse

    shape = tuple(int(s) for s in context.shape)
    count_grid = context.grid(bytes_per_voxel=2.0)
    voxels = mask_voxels(mask, grid=count_grid, executor=context.executor)
    if voxels * BYTES_PER_VOXEL > context.memory_bytes:
        return False
    if voxels == 0:  # nothing to cut: ``out`` stays as created, all False
        return True
    every = (slice(None),) * 3
    if voxels == int(np.prod(shape)):  # no background: the in-memory rule for that case, on the whole volume
        out.write(every, cut_touching_objects(mask.read(every), seeds.read(every), min_size=min_size))
        return True

    folder = context.folder("wcut")
    try:
        grown = create_zarr(folder / "grown_seeds.zarr", shape=shape, dtype="bool", chunks=context.chunks)
        context.executor.map(_cross_task, [(seeds, grown, block) for block in context.grid(halo=1, bytes_per_voxel=4.0)],
                             what="markers (seed crosses)")
        markers = connected_components(grown, grid=context.grid(bytes_per_voxel=24.0), executor=context.executor,
                                       work_folder=folder, connectivity=3).labels
        distances = create_zarr(folder / "distances.zarr", shape=shape, dtype="float64", chunks=context.chunks)
        _distance_map(mask, distances, context)

        parts = context.executor.map(_gather_task, [(mask, distances, markers, block, shape)
                                                    for block in context.grid(bytes_per_voxel=24.0)],
                                     what="gathering the mask")
        flat = np.concatenate([p[0] for p in parts])
        order = np.argsort(flat, kind="stable")
        flat = flat[order]
        values = np.concatenate([p[1] for p in parts])[order]
        labels = np.concatenate([p[2] for p in parts])[order]
        del parts, order
        keep = wcut_flood_sparse(flat, shape, values, labels, min_size=min_size)
        del values, labels
        hits_path = Path(folder) / "kept.npy"
        np.save(hits_path, flat[keep])
        del flat, keep
        context.executor.map(_write_task, [(str(hits_path), out, block, shape)
                                           for block in context.grid(bytes_per_voxel=16.0)],
                             what="writing the cut")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return True
