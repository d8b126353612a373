"""Objects in volumes larger than memory: connected components found block by block, and the steps
that work on whole objects (SIZE, HOLES, and object-local steps such as MAXIMA and WCUT).

A step with a fixed halo cannot see a whole object, so these run in passes over the block grid:

1. Each block is labelled on its own (``scipy.ndimage.label``). Its first and last plane along
   every axis are saved as small *face* files, and the block returns its table: voxels, bounding
   box and first voxel (in raster order) of each of its ids.
2. Along every block boundary (z, y and x), the last plane of the lower block and the first plane
   of the upper one (one block's footprint plus one voxel at a time) give the pairs of ids that
   touch across the boundary under the chosen connectivity, diagonal neighbours included. A graph
   of these pairs (connected components of a sparse graph, i.e. union-find) joins them.
3. Components are numbered 1..count in the raster order of their first voxel, exactly like
   ``scipy.ndimage.label`` on the whole volume, so the labels do not depend on the block size. A
   last pass labels each block again (cheaper than storing its ids) and maps its ids to the step's
   output: the global ids, or keep / fill decisions.

Only tables with one row per component piece live in memory, never a whole volume: about 64 bytes
per (block, component) piece, plus the touching pairs of each boundary.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numba
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _graph_components

from .._checks import check_number
from .arrays import ZarrArray, create_zarr
from .blocks import BlockGrid, as_halo

__all__ = ["Components", "connected_components", "remove_small_objects_blocks", "fill_holes_blocks",
           "run_object_local"]

#: Face planes up to this size are read whole; larger ones are memory-mapped (only strips are needed).
_SMALL_FILE_BYTES = 1 << 20
#: Pairs of node numbers below this are packed into one int64 (node * count + node) to find repeats.
_PAIR_KEY_LIMIT = 3_000_000_000



@dataclass(frozen=True)
class Components:
    """The connected components of a mask too large for memory.

    Attributes
    ----------
    labels : ZarrArray
        (Z, Y, X) global ids 1..count (uint32, or int64 beyond 2**32 - 1 components); 0 = not part of
        any component. Numbered as ``scipy.ndimage.label`` numbers them on the whole volume (raster
        order of each component's first voxel), whatever the block grid.
    count : int
        Number of components.
    sizes : numpy.ndarray of int64, shape (count + 1,)
        Voxels per id (``sizes[0]`` = 0).
    boxes : numpy.ndarray of int64, shape (count + 1, 6)
        Bounding box per id: z0, y0, x0, z1, y1, x1 (stops exclusive); row 0 is zeros.
    touches_border : numpy.ndarray of bool, shape (count + 1,)
        The component touches a face of the volume (not of a block). With ``per_slice`` only the
        y and x faces count, the border of each slice.
    """

    labels: ZarrArray
    count: int
    sizes: np.ndarray
    boxes: np.ndarray
    touches_border: np.ndarray


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _check_grid(grid) -> BlockGrid:
    if not isinstance(grid, BlockGrid):
        raise ValueError(f"`grid` must be a helpers.chunked.blocks.BlockGrid, got {type(grid).__name__}; "
                         "make one with BlockGrid(shape=volume.shape, core_shape=...).")
    return grid


def _check_reference(array, name: str, grid: BlockGrid, *, mask: bool):
    for attribute in ("shape", "dtype", "read"):
        if not hasattr(array, attribute):
            raise ValueError(f"`{name}` must be an array reference (ZarrArray, InMemoryArray, LazyArray or "
                             f"PointwiseArray from helpers.chunked.arrays); got {type(array).__name__}. "
                             "Wrap a NumPy or Dask array with helpers.chunked.arrays.as_reference(array).")
    shape = tuple(int(s) for s in array.shape)
    if shape != tuple(grid.shape):
        raise ValueError(f"`{name}` has shape {shape} but the block grid covers {tuple(grid.shape)}; "
                         "they must match voxel for voxel.")
    dtype = np.dtype(array.dtype)
    if mask and not (dtype == bool or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"`{name}` has dtype {dtype}, but a binary mask (bool, or integers where > 0 means "
                         f"foreground) is needed. Threshold it first, e.g. a step `{name} > 0.5`.")
    return array


def _check_out(out, grid: BlockGrid) -> ZarrArray:
    if not isinstance(out, ZarrArray):
        raise ValueError(f"`out` must be a ZarrArray (helpers.chunked.arrays.create_zarr), got "
                         f"{type(out).__name__}.")
    _check_reference(out, "out", grid, mask=False)
    for axis, (chunk, core, size) in enumerate(zip(out.chunks, grid.core_shape, grid.shape)):
        if core < size and core % chunk:
            raise ValueError(f"`out` has chunks {tuple(out.chunks)}, which do not divide the block cores "
                             f"{tuple(grid.core_shape)} along {'ZYX'[axis]}, so two blocks would write the same "
                             "chunk. Create `out` with chunks that divide the cores (e.g. the cores themselves).")
    return out


def _check_flag(value, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"`{name}` must be True or False, got {value!r}.")


def _check_connectivity(connectivity) -> int:
    return check_number(connectivity, "connectivity", minimum=1, maximum=3, integer=True,
                        hint="1 = faces (6 neighbours in 3D, 4 in a slice), 2 = faces and edges (18 / 8), "
                             "3 = all 26 neighbours (8 in a slice).")


def _structure(connectivity: int, per_slice: bool) -> np.ndarray:
    """The 3x3x3 neighbourhood; per slice, its middle plane only (slices are never joined)."""
    structure = ndimage.generate_binary_structure(3, connectivity)
    if per_slice:
        structure = structure.copy()
        structure[0] = False
        structure[2] = False
    return structure


def _scratch_folder(work_folder, prefix: str) -> Path:
    root = Path(work_folder)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def _planes_across(structure: np.ndarray, axis: int) -> list[tuple[int, int]]:
    """In-plane shifts (along the two other axes) of the neighbours one step further along ``axis``."""
    offsets = np.argwhere(structure) - 1
    return [tuple(int(v) for v in np.delete(d, axis)) for d in offsets if d[axis] == 1]


# --------------------------------------------------------------------------------------------------
# Pass 1: each block on its own
# --------------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _block_tables(labels, count, origin, shape):
    """Voxels, bounding box (z0, y0, x0, z1, y1, x1) and first voxel (flat index in the volume) of
    every id 1..count of one block whose corner lies at ``origin`` in a volume of ``shape``."""
    sizes = np.zeros(count + 1, dtype=np.int64)
    boxes = np.empty((count + 1, 6), dtype=np.int64)
    first = np.full(count + 1, -1, dtype=np.int64)
    for k in range(count + 1):
        for axis in range(3):
            boxes[k, axis] = np.iinfo(np.int64).max
            boxes[k, axis + 3] = -1
    nz, ny, nx = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                k = labels[z, y, x]
                if k == 0:
                    continue
                sizes[k] += 1
                position = (origin[0] + z, origin[1] + y, origin[2] + x)
                if first[k] < 0:
                    first[k] = (position[0] * shape[1] + position[1]) * shape[2] + position[2]
                for axis in range(3):
                    if position[axis] < boxes[k, axis]:
                        boxes[k, axis] = position[axis]
                    if position[axis] + 1 > boxes[k, axis + 3]:
                        boxes[k, axis + 3] = position[axis] + 1
    return sizes, boxes, first


def _block_ids(item: dict):
    """The ids of one block on its own (numbered in raster order, as scipy.ndimage.label does)."""
    values = np.asarray(item["mask"].read(item["core"]))
    foreground = values if values.dtype == bool else values > 0
    target = ~foreground if item["background"] else foreground
    return ndimage.label(target, structure=item["structure"])


def _label_block(item: dict):
    """Label one block; save its face planes; return its table."""
    core = item["core"]
    labels, count = _block_ids(item)
    for axis in item["face_axes"]:
        position, last = item["index"][axis], item["counts"][axis] - 1
        if position > 0:
            np.save(_face_path(item["faces"], axis, "first", item["index"]), np.take(labels, 0, axis=axis))
        if position < last:
            np.save(_face_path(item["faces"], axis, "last", item["index"]), np.take(labels, -1, axis=axis))
    origin = np.array([s.start for s in core], dtype=np.int64)
    sizes, boxes, first = _block_tables(labels, count, origin, np.array(item["shape"], dtype=np.int64))
    return count, sizes[1:], boxes[1:], first[1:]


# --------------------------------------------------------------------------------------------------
# Pass 2: pairs of ids that touch across block boundaries
# --------------------------------------------------------------------------------------------------


def _face_path(folder: str, axis: int, side: str, index) -> str:
    return str(Path(folder) / f"{'zyx'[axis]}-{side}-{index[0]}-{index[1]}-{index[2]}.npy")


def _face_pairs(item: dict) -> np.ndarray:
    """(n, 2) node numbers that touch across the lower boundary of one block along one axis.

    Pairs are (lower voxel, upper voxel) with the upper voxel inside this block's footprint and the
    lower one shifted by -1..1 in the plane (as the neighbourhood allows), so each touching pair of
    the volume is found by the block holding its upper voxel. The lower plane is read from the
    blocks below: the one under this block and one-voxel strips of its in-plane neighbours.
    """
    axis, index, core, shape = item["axis"], tuple(item["index"]), item["core"], item["shape"]
    offsets, core_shape, folder = item["offsets"], item["core_shape"], item["faces"]
    other = [a for a in range(3) if a != axis]
    foot = [core[a] for a in other]
    wide = [slice(max(core[a].start - 1, 0), min(core[a].stop + 1, shape[a])) for a in other]

    upper = np.load(_face_path(folder, axis, "first", index)).astype(np.int64)
    upper_nodes = np.where(upper > 0, offsets[index] + upper - 1, -1)
    lower_nodes = np.full((wide[0].stop - wide[0].start, wide[1].stop - wide[1].start), -1, dtype=np.int64)
    block_ranges = [range(w.start // core_shape[a], (w.stop - 1) // core_shape[a] + 1) for w, a in zip(wide, other)]
    for j0 in block_ranges[0]:
        for j1 in block_ranges[1]:
            below = list(index)
            below[axis] -= 1
            below[other[0]], below[other[1]] = j0, j1
            starts = [j * core_shape[a] for j, a in zip((j0, j1), other)]
            spans = [slice(max(w.start, s), min(w.stop, s + core_shape[a])) for w, s, a in zip(wide, starts, other)]
            path = _face_path(folder, axis, "last", below)
            plane = np.load(path, mmap_mode="r" if os.path.getsize(path) > _SMALL_FILE_BYTES else None)
            part = np.asarray(plane[tuple(slice(p.start - s, p.stop - s) for p, s in zip(spans, starts))],
                              dtype=np.int64)
            target = tuple(slice(p.start - w.start, p.stop - w.start) for p, w in zip(spans, wide))
            lower_nodes[target] = np.where(part > 0, offsets[tuple(below)] + part - 1, -1)

    pairs = []
    sizes = [shape[a] for a in other]
    for shift in item["shifts"]:
        spans_upper, spans_lower = [], []
        for f, w, s, size in zip(foot, wide, shift, sizes):
            start, stop = max(f.start, s), min(f.stop, size + s)  # the lower voxel must lie in the volume
            spans_upper.append(slice(start - f.start, stop - f.start))
            spans_lower.append(slice(start - s - w.start, stop - s - w.start))
        if any(span.stop <= span.start for span in spans_upper):
            continue
        a, b = lower_nodes[tuple(spans_lower)], upper_nodes[tuple(spans_upper)]
        both = (a >= 0) & (b >= 0)
        pairs.append(np.stack([a[both], b[both]], axis=1))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    nodes = item["nodes"]
    if nodes >= _PAIR_KEY_LIMIT:
        return np.unique(pairs, axis=0)
    # One int64 key per pair; neighbouring voxels mostly give the same pair, so drop runs first.
    keys = pairs[:, 0] * nodes + pairs[:, 1]
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys
    keys = np.unique(keys)
    return np.stack([keys // nodes, keys % nodes], axis=1)


# --------------------------------------------------------------------------------------------------
# Pass 3: map each block's ids to the output
# --------------------------------------------------------------------------------------------------


def _map_block(item: dict) -> None:
    local, _ = _block_ids(item)  # labelling again is cheaper than storing the ids of every block
    values = item["table"][local]
    ZarrArray(item["out"]).write(item["core"], values.astype(item["dtype"], copy=False))


# --------------------------------------------------------------------------------------------------
# The passes together
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Labelling:
    """Passes 1 and 2: per block piece (a 'node'), its global id; per global id, size and box."""

    mask: object               # the reference labelled, and how (to label a block again)
    structure: np.ndarray
    background: bool
    block_counts: np.ndarray   # pieces per block, in grid order
    node_start: np.ndarray     # first node number of each block, in grid order
    node_ids: np.ndarray       # global id of every node
    count: int
    sizes: np.ndarray
    boxes: np.ndarray


def _label(mask, *, grid: BlockGrid, executor, folder: Path, structure: np.ndarray,
           background: bool) -> _Labelling:
    blocks = grid.blocks
    counts = tuple(grid.counts)
    face_axes = tuple(axis for axis in range(3) if counts[axis] > 1 and _planes_across(structure, axis))
    faces = folder / "faces"
    faces.mkdir()
    items = [{"mask": mask, "core": block.core, "index": block.index, "counts": counts, "shape": tuple(grid.shape),
              "structure": structure, "background": background, "faces": str(faces),
              "face_axes": face_axes}
             for block in blocks]
    tables = executor.map(_label_block, items, what="labelling blocks")

    block_counts = np.array([t[0] for t in tables], dtype=np.int64)
    node_start = np.concatenate([[0], np.cumsum(block_counts)[:-1]]).astype(np.int64)
    n_nodes = int(block_counts.sum())
    node_sizes = np.concatenate([t[1] for t in tables]) if n_nodes else np.zeros(0, np.int64)
    node_boxes = np.concatenate([t[2] for t in tables]) if n_nodes else np.zeros((0, 6), np.int64)
    node_first = np.concatenate([t[3] for t in tables]) if n_nodes else np.zeros(0, np.int64)
    del tables

    offsets = node_start.reshape(counts)
    face_items = [{"faces": str(faces), "axis": axis, "index": block.index, "core": block.core,
                   "shape": tuple(grid.shape), "core_shape": tuple(grid.core_shape), "offsets": offsets,
                   "shifts": _planes_across(structure, axis), "nodes": n_nodes}
                  for axis in face_axes for block in blocks if block.index[axis] > 0]
    pairs = executor.map(_face_pairs, face_items, what="joining blocks") if n_nodes and face_items else []
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)

    if n_nodes == 0:
        component = np.zeros(0, dtype=np.int64)
        n_components = 0
    elif pairs.shape[0] == 0:
        component = np.arange(n_nodes, dtype=np.int64)
        n_components = n_nodes
    else:
        graph = coo_matrix((np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                           shape=(n_nodes, n_nodes))
        n_components, component = _graph_components(graph, directed=False)
    del pairs

    # Number the components by their first voxel in raster order (scipy.ndimage.label's order).
    first = np.full(n_components, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, component, node_first)
    rank = np.empty(n_components, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, n_components + 1)
    node_ids = rank[component] if n_nodes else np.zeros(0, dtype=np.int64)

    sizes = np.zeros(n_components + 1, dtype=np.int64)
    np.add.at(sizes, node_ids, node_sizes)
    low = np.full((n_components + 1, 3), np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full((n_components + 1, 3), -1, dtype=np.int64)
    np.minimum.at(low, node_ids, node_boxes[:, :3])
    np.maximum.at(high, node_ids, node_boxes[:, 3:])
    boxes = np.concatenate([low, high], axis=1)
    boxes[0] = 0
    shutil.rmtree(faces, ignore_errors=True)
    return _Labelling(mask, structure, background, block_counts, node_start, node_ids, n_components, sizes, boxes)


def _write_mapped(labelling: _Labelling, node_values: np.ndarray, out_path: str, *, dtype, unlabelled,
                  grid: BlockGrid, executor) -> None:
    """Write ``node_values`` of each block piece (``unlabelled`` where no piece is) to ``out_path``."""
    items = []
    for block, start, count in zip(grid.blocks, labelling.node_start, labelling.block_counts):
        table = np.concatenate([np.array([unlabelled], dtype=node_values.dtype), node_values[start:start + count]])
        items.append({"mask": labelling.mask, "structure": labelling.structure, "background": labelling.background,
                      "core": block.core, "table": table, "out": out_path, "dtype": dtype})
    executor.map(_map_block, items, what="writing blocks")


def _check_common(mask, grid, executor, *, name: str = "mask"):
    grid = _check_grid(grid)
    _check_reference(mask, name, grid, mask=True)
    if not callable(getattr(executor, "map", None)):
        raise ValueError(f"`executor` must be a helpers.chunked.executor.BlockExecutor, got {type(executor).__name__}.")
    return grid


# --------------------------------------------------------------------------------------------------
# Public steps
# --------------------------------------------------------------------------------------------------


def connected_components(mask, *, grid: BlockGrid, executor, work_folder, connectivity: int = 3,
                         per_slice: bool = False, background: bool = False) -> Components:
    """Connected components of a (Z, Y, X) mask, block by block, equal to ``scipy.ndimage.label``.

    Parameters
    ----------
    mask : array reference
        A :class:`~helpers.chunked.arrays.ZarrArray`, ``InMemoryArray``, ``LazyArray`` or
        ``PointwiseArray`` of shape (Z, Y, X) with a bool or integer dtype (> 0 is foreground).
    grid : BlockGrid
        The blocks to work in (any core shape; memory per task is about 14 bytes per core voxel).
    executor : BlockExecutor
        Where the block tasks run.
    work_folder : str or os.PathLike
        A scratch folder; the labels are written to a new sub-folder in it.
    connectivity : {1, 2, 3}
        Neighbours that join voxels: 1 = faces (6 in 3D), 2 = faces and edges (18), 3 = all 26.
        With ``per_slice``: 1 = 4 neighbours in the slice, 2 or 3 = 8.
    per_slice : bool
        Label every z-slice on its own (components never span two slices).
    background : bool
        Label the components of the background (``mask`` == 0) instead, e.g. to find holes.

    Returns
    -------
    Components
        Labels on disk (numbered as ``scipy.ndimage.label`` numbers them on the whole volume) and
        per-component sizes, bounding boxes and whether each touches the volume's border.

    Raises
    ------
    ValueError
        For a float mask, a mask whose shape differs from the grid's, or a connectivity other than
        1, 2 or 3.

    Notes
    -----
    Memory: one block's core (mask, ids, labels) per task, and in this process tables of about
    64 bytes per piece of a component in a block, plus the pairs of pieces touching across block
    boundaries; never a whole volume or plane.
    """
    grid = _check_common(mask, grid, executor)
    connectivity = _check_connectivity(connectivity)
    per_slice = _check_flag(per_slice, "per_slice")
    background = _check_flag(background, "background")
    folder = _scratch_folder(work_folder, "components-")
    labelling = _label(mask, grid=grid, executor=executor, folder=folder,
                       structure=_structure(connectivity, per_slice), background=background)
    dtype = np.dtype("uint32") if labelling.count < 2 ** 32 else np.dtype("int64")
    labels = create_zarr(folder / "labels", shape=grid.shape, dtype=dtype, chunks=grid.core_shape)
    _write_mapped(labelling, labelling.node_ids.astype(dtype), labels.path, dtype=dtype, unlabelled=0,
                  grid=grid, executor=executor)

    boxes = labelling.boxes
    axes = (1, 2) if per_slice else (0, 1, 2)
    touches = np.zeros(labelling.count + 1, dtype=bool)
    for axis in axes:
        touches |= (boxes[:, axis] == 0) | (boxes[:, axis + 3] == grid.shape[axis])
    touches[0] = False
    return Components(labels=labels, count=labelling.count, sizes=labelling.sizes, boxes=boxes,
                      touches_border=touches)


def remove_small_objects_blocks(mask, out: ZarrArray, *, min_size: int, per_slice: bool, grid: BlockGrid,
                                executor, work_folder) -> None:
    """:func:`helpers.morphology.remove_small_objects` (SIZE) block by block, written to ``out``.

    Components are face-connected (6 neighbours in 3D, 4 within a slice with ``per_slice``);
    those of fewer than ``min_size`` voxels are removed, those of exactly ``min_size`` are kept.
    The result equals the in-memory function voxel for voxel.

    Parameters
    ----------
    mask : array reference, shape (Z, Y, X)
        Bool or integer (> 0 is foreground).
    out : ZarrArray, shape (Z, Y, X)
        Where the mask is written (bool or uint8); its chunks must divide the grid's cores.
    min_size : int
        Smallest component to keep, in voxels (pixels with ``per_slice``); 0 or 1 keeps all.
    per_slice : bool
        Judge each z-slice's 2D components on their own.
    grid, executor, work_folder
        As for :func:`connected_components`.

    Raises
    ------
    ValueError
        For a float mask, shapes that differ from the grid's, misaligned ``out`` chunks or a
        negative or fractional ``min_size``.
    """
    grid = _check_common(mask, grid, executor)
    out = _check_out(out, grid)
    min_size = check_number(min_size, "min_size", minimum=0, integer=True,
                            hint="It is the smallest object to keep, in voxels.")
    per_slice = _check_flag(per_slice, "per_slice")
    dtype = out.dtype
    if min_size <= 1:
        executor.map(_copy_mask_block, [{"mask": mask, "core": block.core, "out": out.path, "dtype": dtype}
                                        for block in grid.blocks], what="copying blocks")
        return
    folder = _scratch_folder(work_folder, "size-filter-")
    try:
        labelling = _label(mask, grid=grid, executor=executor, folder=folder, structure=_structure(1, per_slice),
                           background=False)
        keep = labelling.sizes >= min_size
        _write_mapped(labelling, keep[labelling.node_ids], out.path, dtype=dtype, unlabelled=False,
                      grid=grid, executor=executor)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_mask_block(item: dict) -> None:
    values = np.asarray(item["mask"].read(item["core"]))
    foreground = values if values.dtype == bool else values > 0
    ZarrArray(item["out"]).write(item["core"], foreground.astype(item["dtype"], copy=False))


def fill_holes_blocks(mask, out: ZarrArray, *, min_size: int, max_size: int, per_slice: bool, grid: BlockGrid,
                      executor, work_folder) -> None:
    """:func:`helpers.morphology.fill_holes` (HOLES) block by block, written to ``out``.

    The background is split into face-connected components (4-connected in each slice with
    ``per_slice``, 6-connected in 3D otherwise); those of ``min_size`` to ``max_size`` voxels,
    both included, are added to the mask. As in memory, background touching the volume's border
    is filled too when its size is in range. The result equals the in-memory function voxel for
    voxel.

    Parameters
    ----------
    mask : array reference, shape (Z, Y, X)
        Bool or integer (> 0 is foreground).
    out : ZarrArray, shape (Z, Y, X)
        Where the mask is written (bool or uint8); its chunks must divide the grid's cores.
    min_size, max_size : int
        Smallest and largest hole to fill, in voxels (pixels with ``per_slice``).
    per_slice : bool
        Fill each z-slice as a 2D image.
    grid, executor, work_folder
        As for :func:`connected_components`.

    Raises
    ------
    ValueError
        For a float mask, shapes that differ from the grid's, misaligned ``out`` chunks, negative
        sizes or ``min_size > max_size``.
    """
    grid = _check_common(mask, grid, executor)
    out = _check_out(out, grid)
    min_size = check_number(min_size, "min_size", minimum=0, integer=True,
                            hint="It is the smallest hole to fill, in voxels.")
    max_size = check_number(max_size, "max_size", minimum=0, integer=True,
                            hint="It is the largest hole to fill, in voxels.")
    if min_size > max_size:
        raise ValueError(f"`min_size` = {min_size} is larger than `max_size` = {max_size}, so no hole can be "
                         "filled; swap them or lower `min_size`.")
    per_slice = _check_flag(per_slice, "per_slice")
    folder = _scratch_folder(work_folder, "fill-holes-")
    try:
        labelling = _label(mask, grid=grid, executor=executor, folder=folder, structure=_structure(1, per_slice),
                           background=True)
        fill = (labelling.sizes >= min_size) & (labelling.sizes <= max_size)
        # Voxels outside every background piece are the mask itself: kept (unlabelled = True).
        _write_mapped(labelling, fill[labelling.node_ids], out.path, dtype=out.dtype, unlabelled=True,
                      grid=grid, executor=executor)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Steps local to each object
# --------------------------------------------------------------------------------------------------


def _object_local_block(item: dict) -> None:
    region, inner = item["region"], item["inner"]
    arrays = [reference.read(region) for reference in item["inputs"]]
    result = np.asarray(item["function"](*arrays, **item["parameters"]))
    expected = tuple(s.stop - s.start for s in region)
    if result.shape != expected:
        raise ValueError(f"{getattr(item['function'], '__name__', 'The step')} returned shape {result.shape} for a "
                         f"region of shape {expected}; an object-local step must return one value per voxel.")
    ZarrArray(item["out"]).write(item["core"], result[inner].astype(item["dtype"], copy=False))


def run_object_local(function: Callable, inputs: dict, out: ZarrArray, *, objects, reach, grid: BlockGrid,
                     executor, work_folder, parameters: dict, max_region_voxels: int) -> None:
    """Run a step whose result on each object depends only on that object and its surroundings.

    For steps such as :func:`helpers.watershed.find_local_maxima` (MAXIMA) and
    :func:`helpers.watershed.cut_touching_objects` (WCUT): the output on the voxels of one object
    depends only on the object's voxels and the inputs within ``reach`` voxels of it. Each block
    reads the region made of its core, every object that touches the core (whole) and ``reach``
    voxels around them (clipped to the volume), calls
    ``function(*[inputs[name].read(region) for name in inputs], **parameters)`` and writes the
    core of the result.

    Parameters
    ----------
    function : callable
        A top-level (picklable) function of (Z, Y, X) arrays returning one (Z, Y, X) array.
    inputs : dict of str to array reference
        The function's positional arguments, in order, each of the grid's shape.
    out : ZarrArray, shape (Z, Y, X)
        Where the result is written; its chunks must divide the grid's cores.
    objects : array reference, shape (Z, Y, X)
        A mask whose 26-connected components are the objects.
    reach : int or tuple of 3 int
        Voxels (z, y, x) around each object that the function needs.
    grid, executor, work_folder
        As for :func:`connected_components`.
    parameters : dict
        Keyword arguments of ``function`` (picklable).
    max_region_voxels : int
        The largest region one task may read (set by the memory available per task).

    Raises
    ------
    ValueError
        For shapes that differ, a float ``objects`` mask, misaligned ``out`` chunks, or a region
        larger than ``max_region_voxels`` (raised before any block is computed; the message names
        the largest object of that region).

    Notes
    -----
    Results equal the in-memory step when it truly is local to objects; whole-volume inputs to the
    step (e.g. the image minimum that MAXIMA compares seeds with) must be passed in ``parameters``.
    """
    grid = _check_common(objects, grid, executor, name="objects")
    out = _check_out(out, grid)
    if not callable(function):
        raise ValueError(f"`function` must be callable, got {function!r}.")
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError("`inputs` must be a non-empty dict of array references, e.g. {'image': image, 'mask': mask}.")
    for name, reference in inputs.items():
        _check_reference(reference, f"inputs[{name!r}]", grid, mask=False)
    reach = as_halo(reach)
    max_region_voxels = check_number(max_region_voxels, "max_region_voxels", minimum=1, integer=True,
                                     hint="It is the largest region (in voxels) one block may read.")
    if not isinstance(parameters, dict):
        raise ValueError(f"`parameters` must be a dict of keyword arguments, got {type(parameters).__name__}.")

    folder = _scratch_folder(work_folder, "object-local-")
    try:
        labelling = _label(objects, grid=grid, executor=executor, folder=folder, structure=_structure(3, False),
                           background=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    shape = np.array(grid.shape, dtype=np.int64)
    grow = np.array(reach, dtype=np.int64)
    items = []
    for block, start, count in zip(grid.blocks, labelling.node_start, labelling.block_counts):
        low = np.array([s.start for s in block.core], dtype=np.int64)
        high = np.array([s.stop for s in block.core], dtype=np.int64)
        ids = labelling.node_ids[start:start + count]
        if ids.size:
            boxes = labelling.boxes[ids]
            low = np.minimum(low, boxes[:, :3].min(axis=0))
            high = np.maximum(high, boxes[:, 3:].max(axis=0))
        low, high = np.maximum(low - grow, 0), np.minimum(high + grow, shape)
        voxels = int(np.prod(high - low))
        if voxels > max_region_voxels:
            raise ValueError(_region_too_large(block, ids, labelling, low, high, voxels, max_region_voxels))
        region = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
        inner = tuple(slice(s.start - int(a), s.stop - int(a)) for s, a in zip(block.core, low))
        items.append({"function": function, "inputs": list(inputs.values()), "parameters": dict(parameters),
                      "region": region, "inner": inner, "core": block.core, "out": out.path, "dtype": out.dtype})
    executor.map(_object_local_block, items, what="computing objects")


def _region_too_large(block, ids, labelling: _Labelling, low, high, voxels: int, limit: int) -> str:
    extent = " x ".join(str(int(v)) for v in high - low)
    message = (f"The block at {tuple(s.start for s in block.core)} would have to read {voxels} voxels "
               f"({extent}) to hold its objects whole, more than the {limit} allowed")
    if ids.size:
        boxes = labelling.boxes[ids]
        largest = ids[int(np.argmax(np.prod(boxes[:, 3:] - boxes[:, :3], axis=1)))]
        box = labelling.boxes[largest]
        message += (f": an object of {int(labelling.sizes[largest])} voxels spans "
                    f"{' x '.join(str(int(v)) for v in box[3:] - box[:3])} voxels from "
                    f"{tuple(int(v) for v in box[:3])}")
    return (message + ". This step needs whole objects: use a preset made for smaller objects, allow more memory "
            "per block, or segment this volume in memory.")
