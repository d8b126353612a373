"""The grid of blocks over a (Z, Y, X) volume: cores that tile it, halos around them, and their size.

A block's *core* is the part of the output it writes; cores tile the volume without overlap. To
compute a core exactly, a step reads the core grown by a *halo* on every side (clipped at the
volume's faces, so that a step sees the volume's true borders exactly as it would in memory) and
keeps only the core of its result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Block", "BlockGrid", "core_shape_for", "as_halo"]


def as_halo(halo) -> tuple[int, int, int]:
    """A halo as three non-negative whole numbers of voxels (z, y, x); an int means the same on every axis."""
    if isinstance(halo, (int,)) and not isinstance(halo, bool):
        halo = (halo, halo, halo)
    values = tuple(int(h) for h in halo)
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"A halo is three voxel counts (z, y, x), each >= 0; got {halo!r}.")
    return values


@dataclass(frozen=True)
class Block:
    """One block of a grid.

    Attributes
    ----------
    index : tuple of int
        Position in the grid (z, y, x).
    core : tuple of slice
        The voxels this block writes, in volume coordinates.
    shape : tuple of int
        The whole volume's (Z, Y, X) shape.
    """

    index: tuple[int, int, int]
    core: tuple[slice, slice, slice]
    shape: tuple[int, int, int]

    def with_halo(self, halo) -> tuple[tuple[slice, slice, slice], tuple[slice, slice, slice]]:
        """The region to read (the core grown by ``halo``, clipped to the volume) and where the core
        lies inside that region.

        Returns
        -------
        read, inner : tuple of slice
            ``volume[read][inner]`` is ``volume[core]``.
        """
        halo = as_halo(halo)
        read, inner = [], []
        for core, size, grow in zip(self.core, self.shape, halo):
            start, stop = max(0, core.start - grow), min(size, core.stop + grow)
            read.append(slice(start, stop))
            inner.append(slice(core.start - start, core.stop - start))
        return tuple(read), tuple(inner)

    @property
    def core_shape(self) -> tuple[int, int, int]:
        return tuple(s.stop - s.start for s in self.core)


@dataclass(frozen=True)
class BlockGrid:
    """Cores of ``core_shape`` tiling a volume of ``shape`` (the last ones along an axis may be smaller)."""

    shape: tuple[int, int, int]
    core_shape: tuple[int, int, int]

    def __post_init__(self):
        if len(self.shape) != 3 or len(self.core_shape) != 3:
            raise ValueError(f"Blocks tile (Z, Y, X) volumes; got shape {self.shape} and core {self.core_shape}.")
        if min(self.shape) < 1 or min(self.core_shape) < 1:
            raise ValueError(f"Shapes must be positive; got volume {self.shape}, core {self.core_shape}.")

    @property
    def counts(self) -> tuple[int, int, int]:
        return tuple(math.ceil(s / c) for s, c in zip(self.shape, self.core_shape))

    def __len__(self) -> int:
        return math.prod(self.counts)

    def __iter__(self):
        nz, ny, nx = self.counts
        for iz in range(nz):
            for iy in range(ny):
                for ix in range(nx):
                    core = tuple(slice(i * c, min((i + 1) * c, s))
                                 for i, c, s in zip((iz, iy, ix), self.core_shape, self.shape))
                    yield Block((iz, iy, ix), core, tuple(self.shape))

    @property
    def blocks(self) -> list[Block]:
        return list(self)


def core_shape_for(shape, *, bytes_per_voxel: float, memory_bytes: float, halo=0, chunks=None,
                   whole_planes: bool = False) -> tuple[int, int, int]:
    """The largest block core whose halo'd region fits ``memory_bytes`` at ``bytes_per_voxel``.

    Cores are multiples of ``chunks`` (the on-disk chunk shape) along every axis where the volume is
    cut, so that two blocks never write the same chunk. The search keeps cores close to cubes in
    voxels (where halos cost least), but a step that needs ``whole_planes`` gets full (Y, X) planes
    and is cut along z only.

    Parameters
    ----------
    shape : tuple of 3 int
        The volume (Z, Y, X).
    bytes_per_voxel : float
        Peak bytes a step needs per voxel of its halo'd region (input, output and temporaries).
    memory_bytes : float
        The budget of one block.
    halo : int or tuple of 3 int
    chunks : tuple of 3 int, optional
        The on-disk chunk shape (default: 1 voxel, i.e. no constraint).
    whole_planes : bool
        Cut along z only.

    Returns
    -------
    tuple of 3 int

    Raises
    ------
    ValueError
        When even the smallest allowed core does not fit (the message says how much memory it needs).
    """
    shape = tuple(int(s) for s in shape)
    halo = as_halo(halo)
    chunks = tuple(int(c) for c in (chunks or (1, 1, 1)))

    def cost(core):
        return math.prod(min(s, c + 2 * h) for s, c, h in zip(shape, core, halo)) * float(bytes_per_voxel)

    def snap(value, axis):
        if value >= shape[axis]:
            return shape[axis]
        return max(chunks[axis], (value // chunks[axis]) * chunks[axis])

    if whole_planes:
        core = (snap(chunks[0], 0), shape[1], shape[2])
        if cost(core) > memory_bytes:
            raise ValueError(_too_small(core, halo, cost(core), memory_bytes))
        depth = core[0]
        while depth < shape[0]:
            bigger = snap(depth + chunks[0], 0)
            if bigger == depth or cost((bigger, shape[1], shape[2])) > memory_bytes:
                break
            depth = bigger
        return (depth, shape[1], shape[2])
    core = [snap(chunks[a], a) for a in range(3)]
    if cost(core) > memory_bytes:
        raise ValueError(_too_small(tuple(core), halo, cost(core), memory_bytes))
    grown = True
    while grown:  # grow the axis that is smallest relative to its extent, one chunk at a time
        grown = False
        for axis in sorted(range(3), key=lambda a: (core[a] + 2 * halo[a]) if core[a] < shape[a] else math.inf):
            if core[axis] >= shape[axis]:
                continue
            trial = list(core)
            trial[axis] = snap(core[axis] + chunks[axis], axis)
            if trial[axis] != core[axis] and cost(trial) <= memory_bytes:
                core = trial
                grown = True
                break
    return tuple(core)


def _too_small(core, halo, needed, budget) -> str:
    return (f"A block of {core[0]} x {core[1]} x {core[2]} voxels with a halo of {halo} needs about "
            f"{needed / 2**20:.0f} MiB, more than the {budget / 2**20:.0f} MiB allowed per block. Give more "
            "memory (--memory / memory_gb=), or store the input with smaller chunks.")
