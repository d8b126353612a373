"""WCUT (:func:`helpers.watershed.cut_touching_objects`) on a volume of any size, equal to the in-memory cut.

Why not simply object by object: the cut floods the distance map from the markers with a priority
queue, and markers of equal value leave the queue in an order set by the queue's layout, which
depends on every marker in the volume. Cutting each object on its own (or each region of objects)
therefore moves a few voxels of some watershed lines (8 of 2461 foreground voxels on a crop of the
CETN2 sample). So only what is local is done in blocks, and the flood is done once:

1. blocks: count the mask's voxels and the seeds (is there memory for one flood?);
2. blocks: gather the mask's voxels (raveled positions) with their distance to the background,
   computed on the block read with a halo; a distance no longer than the halo is exact (every
   background voxel outside the region is farther), and blocks holding a longer one are read again
   with a wider halo. The seeds' positions are gathered in the same pass;
3. in this process: the markers (seeds grown by a cross, 26-connected components) from the sparse
   seeds (:func:`helpers.watershed.wcut_markers_sparse`), then one flood over the mask's voxels in
   raster order, exactly as in memory (:func:`helpers.watershed.wcut_flood_sparse`);
4. blocks: write the kept voxels.

Memory in this process: about :data:`BYTES_PER_VOXEL` per voxel of the mask and
:data:`BYTES_PER_SEED` per seed (not per voxel of the volume); a mask of 1 % of the
200 x 2048 x 2048 benchmark volume needs about 1.1 GB. When the memory given does not allow it,
:func:`cut_touching_objects_blocks` returns False and the caller cuts region by region instead (close,
not exact), with a warning.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from .arrays import ZarrArray

__all__ = ["BYTES_PER_VOXEL", "BYTES_PER_SEED", "cut_touching_objects_blocks"]

#: Memory of the whole-volume flood per mask voxel: position, distance, key, label, queue state, the
#: 6-neighbour table and the queue itself. Measured: 104 bytes per voxel at the flood's peak (2.0 million
#: mask voxels of a 64 x 512 x 512 volume, 3.2 s); the gathering's copies peak lower.
BYTES_PER_VOXEL = 128
#: Memory of the markers per seed: its cross, their positions, the 26-neighbour graph.
BYTES_PER_SEED = 512
#: The first halo (voxels) of the distances; blocks holding a longer distance are read again with more.
FIRST_HALO = 4
#: Peak bytes per voxel of a block's region while gathering (mask, position map, distances).
_GATHER_BYTES_PER_VOXEL = 24.0


def _count_task(item) -> tuple[int, int]:
    mask, seeds, block = item
    return int(np.count_nonzero(mask.read(block.core))), int(np.count_nonzero(seeds.read(block.core)))


def _raveled(local: tuple, block, shape) -> np.ndarray:
    """Raveled positions in the volume of positions ``local`` (arrays of z, y, x) in the block's core."""
    return np.ravel_multi_index(tuple(c + s.start for c, s in zip(local, block.core)), shape).astype(np.int64)


def _gather_task(item):
    """(mask positions, distances, seed positions, longest distance when the halo was too narrow, else 0)."""
    from ..watershed import wcut_distances

    mask, seeds, block, halo, shape, with_seeds = item
    seed_flat = (_raveled(np.nonzero(seeds.read(block.core)), block, shape) if with_seeds
                 else np.zeros(0, dtype=np.int64))
    read, inner = block.with_halo(halo)
    region = mask.read(read) > 0
    local = np.nonzero(region[inner])
    if local[0].size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), seed_flat, 0.0
    if region.all():
        return None, None, seed_flat, float(2 * halo + 1)
    distances = wcut_distances(region)[tuple(c + s.start for c, s in zip(local, inner))]
    longest = float(-distances.min())
    if longest > halo:
        return None, None, seed_flat, longest
    return _raveled(local, block, shape), distances, seed_flat, 0.0


def _gather(mask, seeds, context):
    """The mask's voxels (sorted raveled positions), their distances, and the seeds' positions."""
    shape = tuple(int(s) for s in context.shape)
    grid = context.grid(halo=FIRST_HALO, bytes_per_voxel=_GATHER_BYTES_PER_VOXEL)
    pending, halo, first = list(grid), FIRST_HALO, True
    positions, distances, seed_parts = [], [], []
    while pending:
        results = context.executor.map(_gather_task, [(mask, seeds, block, halo, shape, first) for block in pending],
                                       what=f"gathering the mask (halo {halo})")
        first = False
        retry = []
        for block, (flat, values, seed_flat, longest) in zip(pending, results):
            seed_parts.append(seed_flat)
            if longest > 0:
                retry.append((block, longest))
            else:
                positions.append(flat)
                distances.append(values)
        if not retry:
            break
        pending = [block for block, _ in retry]
        longest = max(need for _, need in retry)
        halo = max(2 * halo, math.ceil(longest))
        region = max(math.prod(s.stop - s.start for s in block.with_halo(halo)[0]) for block in pending)
        if region * _GATHER_BYTES_PER_VOXEL > 4 * context.block_bytes:
            raise ValueError(
                f"The mask's objects are too thick to cut block by block: voxels lie {longest:.0f} voxels from the "
                f"background, and a block read with that margin needs about "
                f"{region * _GATHER_BYTES_PER_VOXEL / 2**30:.1f} GB. Give more memory (--memory), or cut this "
                "volume in memory.")
    flat = np.concatenate(positions)
    order = np.argsort(flat, kind="stable")
    return flat[order], np.concatenate(distances)[order], np.concatenate(seed_parts)


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
    from ..watershed import cut_touching_objects, wcut_flood_sparse, wcut_markers_sparse

    shape = tuple(int(s) for s in context.shape)
    counts = context.executor.map(_count_task, [(mask, seeds, block) for block in context.grid(bytes_per_voxel=2.0)],
                                  what="counting the mask and the seeds")
    voxels, seed_count = sum(c[0] for c in counts), sum(c[1] for c in counts)
    if voxels * BYTES_PER_VOXEL + seed_count * BYTES_PER_SEED > context.memory_bytes:
        return False
    if voxels == 0 or seed_count == 0:  # nothing to cut, or nothing left (no seed reaches): ``out`` stays False
        return True
    every = (slice(None),) * 3
    if voxels == math.prod(shape):  # no background: the in-memory rule for that case, on the whole volume
        out.write(every, cut_touching_objects(mask.read(every), seeds.read(every), min_size=min_size))
        return True

    flat, values, seed_flat = _gather(mask, seeds, context)
    marker_flat, marker_labels = wcut_markers_sparse(seed_flat, shape)
    del seed_flat
    position = np.minimum(np.searchsorted(marker_flat, flat), max(marker_flat.size - 1, 0))
    labels = np.where(marker_flat[position] == flat, marker_labels[position], 0).astype(np.int32)
    del position, marker_flat, marker_labels
    keep = wcut_flood_sparse(flat, shape, values, labels, min_size=min_size)
    del values, labels
    folder = context.folder("wcut")
    try:
        hits_path = Path(folder) / "kept.npy"
        np.save(hits_path, flat[keep])
        del flat, keep
        context.executor.map(_write_task, [(str(hits_path), out, block, shape)
                                           for block in context.grid(bytes_per_voxel=16.0)],
                             what="writing the cut")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return True
