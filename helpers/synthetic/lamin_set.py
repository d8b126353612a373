"""A small training set of lamin B1 fields for the iterative deep-learning demo.

The paper's iterative workflow for the nuclear envelope starts from the classic interphase workflow
(preset ``lmnb1_interphase``), which finds most interphase nuclei but fails on two kinds of nuclei:
those whose centre lies far above or below the slice the workflow seeds from (cells at different
heights in the colony), and mitotic cells, whose envelope is broken. This module draws a set of small
fields with exactly that mix, with ground truth and per-nucleus metadata, so that the failure can be
measured, curated and learnt from.

The fields use the same microscope, camera and intensity levels as the LMNB1 patterns of
:mod:`helpers.synthetic.envelopes` (the same drawing function, :func:`~.envelopes.lamin_structure`),
so a preset tuned on one works on the other.

Example
-------
>>> from helpers.synthetic.lamin_set import make_lamin_set
>>> fields = make_lamin_set(count=4, shape=(40, 128, 128), seed=0)
>>> fields[0].image.dtype, fields[0].truth.dtype, fields[0].voxel_size
(dtype('uint16'), dtype('int32'), (0.29, 0.108, 0.108))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._cells import Cells, make_cells
from ._pattern import pattern_rng, record
from .envelopes import PATTERNS as _ENVELOPE_PATTERNS, lamin_structure

__all__ = ["LaminField", "Nucleus", "make_lamin_set", "FIELD_KINDS", "FAR_FROM_MIDDLE_UM"]

#: The interphase pattern whose microscope and levels the set shares.
_LEVELS = next(p for p in _ENVELOPE_PATTERNS if p.name == "lmnb1_interphase")
#: A nucleus whose centre is further than this from the field's middle slice (micrometres) is "far".
FAR_FROM_MIDDLE_UM = 2.5
#: Default size (Z, Y, X) of a field of the set.
LAMIN_SET_SHAPE = (40, 128, 128)
#: The kinds of field, in the order they are drawn (cycled): plain interphase, cells at different
#: heights, a cell in mitosis, and both.
FIELD_KINDS = ("interphase", "heights", "mitotic", "heights", "mitotic", "heights+mitotic")


@dataclass(frozen=True)
class Nucleus:
    """One nucleus of a field.

    Attributes
    ----------
    label : int
        Its label in the field's truth.
    state : str
        ``"interphase"`` (a closed shell) or ``"mitotic"`` (prometaphase: broken, wavy fragments).
    centre_z : float
        z of its centre, in slices (voxels).
    far : bool
        Its centre is more than ``FAR_FROM_MIDDLE_UM`` from the field's middle slice (``(Z - 1) / 2``).
    in_field : bool
        Its centre lies inside the field in x and y.
    complete : bool
        The whole nucleus lies inside the field in x and y (it does not touch the field's side edges),
        as in the interphase (pre-shift) layout: only such nuclei can be seeded by a workflow that
        looks for closed rings, so counts of found nuclei are taken over them.
    """

    label: int
    state: str
    centre_z: float
    far: bool
    in_field: bool
    complete: bool


@dataclass(frozen=True)
class LaminField:
    """One field of the set.

    Attributes
    ----------
    image : (Z, Y, X) uint16
    truth : (Z, Y, X) int32 — the envelope of each nucleus (or its fragments), one label per nucleus.
    voxel_size : (z, y, x) micrometres.
    nuclei : tuple of Nucleus — every nucleus with a label in ``truth``, by label.
    kind : str — how the field was drawn (one of ``FIELD_KINDS``).
    """

    image: np.ndarray
    truth: np.ndarray
    voxel_size: tuple[float, float, float]
    nuclei: tuple[Nucleus, ...]
    kind: str


def _complete(cells: Cells) -> np.ndarray:
    """(n,) bool: the nuclei that lie wholly inside the field in x and y (not touching its sides)."""
    edge = np.zeros(cells.shape, bool)
    edge[:, [0, -1], :] = True
    edge[:, :, [0, -1]] = True
    present = np.bincount(cells.nuclei.reshape(-1), minlength=cells.count + 1)[1:] > 0
    touching = np.bincount(cells.nuclei[edge], minlength=cells.count + 1)[1:] > 0
    return present & ~touching


def _shift_cells(cells: Cells, offsets_voxels: np.ndarray) -> Cells:
    """The colony with each cell (its whole column: cell and nucleus) moved up or down by a whole number
    of slices, ``offsets_voxels[label - 1]``; what moves past the top or bottom of the stack is lost."""
    nz = cells.shape[0]
    new_cells = np.zeros_like(cells.cells)
    new_nuclei = np.zeros_like(cells.nuclei)
    bottom = cells.bottom.copy()
    top = cells.top.copy()
    centres = cells.nucleus_centres.copy()
    for label in range(1, cells.count + 1):
        k = int(offsets_voxels[label - 1])
        column = cells.footprint == label
        bottom[column] += k
        top[column] += k
        centres[label - 1, 0] += k
        src = slice(max(0, -k), min(nz, nz - k))
        dst = slice(max(0, k), min(nz, nz + k))
        if src.stop <= src.start:
            continue
        new_cells[dst][cells.cells[src] == label] = label
        new_nuclei[dst][cells.nuclei[src] == label] = label
    return dataclasses.replace(cells, cells=new_cells, nuclei=new_nuclei, bottom=bottom, top=top,
                               nucleus_centres=centres)


def _crop_cells(cells: Cells, origin, size) -> Cells:
    """The part of a colony in the (Y, X) window starting at ``origin`` of ``size`` voxels (labels kept)."""
    window = (slice(origin[0], origin[0] + size[0]), slice(origin[1], origin[1] + size[1]))
    centres = cells.nucleus_centres - np.array([0, origin[0], origin[1]])
    return dataclasses.replace(cells, cells=cells.cells[(slice(None),) + window].copy(),
                               nuclei=cells.nuclei[(slice(None),) + window].copy(),
                               footprint=cells.footprint[window].copy(), bottom=cells.bottom[window].copy(),
                               top=cells.top[window].copy(), nucleus_centres=centres)


def _draw_field(kind: str, shape, rng: np.random.Generator) -> LaminField:
    microscope = _LEVELS.microscope
    vz = microscope.voxel_size[0]
    nz, ny, nx = shape
    middle = (nz - 1) / 2
    # the colony stands so that a typical nucleus (centre about 2.9 um above the glass) is centred in z
    base = max(0.3, middle * vz - 2.9 + rng.uniform(-0.4, 0.4))
    # the colony is laid out on a larger field and the field cropped around one nucleus (the "target",
    # nearest the layout's centre), so every field holds at least one whole nucleus
    margin = max(16, ny // 3, nx // 3)
    big = (nz, ny + 2 * margin, nx + 2 * margin)
    colony = make_cells(big, microscope.voxel_size, rng, base=base)
    sizes = np.bincount(colony.nuclei.reshape(-1), minlength=colony.count + 1)[1:]
    centre_distance = np.hypot(*(colony.nucleus_centres[:, 1:] - np.array(big[1:]) / 2).T)
    target = int(np.argmin(np.where(sizes > 0, centre_distance, np.inf))) + 1
    jitter = rng.uniform(-0.04, 0.04, 2) * (ny, nx)
    origin = np.rint(colony.nucleus_centres[target - 1, 1:] - (ny / 2, nx / 2) + jitter).astype(int)
    origin = np.clip(origin, 0, (2 * margin, 2 * margin))
    others = [label for label in range(1, colony.count + 1) if label != target and sizes[label - 1] > 0]

    # cells at different heights: the target (in "heights" fields) and each neighbour with
    # probability 0.2 stand 2.6 to 3.4 um higher or lower than the rest of the colony
    offsets = np.zeros(colony.count)
    moved = [label for label in others if rng.random() < 0.2]
    if "heights" in kind:
        moved.append(target)
    for label in moved:
        offsets[label - 1] = rng.choice([-1, 1]) * rng.uniform(2.6, 3.4) / vz
    colony = _shift_cells(colony, np.rint(offsets))
    # cells in prometaphase: in "mitotic" fields the target (or, with "heights", a neighbour), and
    # any neighbour with probability 0.1
    mitotic = [label for label in others if rng.random() < 0.1]
    if kind == "mitotic":
        mitotic.append(target)
    elif "mitotic" in kind and others and not mitotic:
        mitotic.append(int(rng.choice(others)))
    cells = _crop_cells(colony, origin, (ny, nx))
    complete = _complete(cells)

    structure = lamin_structure(cells, microscope, rng, mitotic=mitotic)
    image = record(_LEVELS, cells, structure, rng)

    nuclei = []
    for label in np.unique(structure.truth[structure.truth > 0]):
        cz = float(cells.nucleus_centres[label - 1, 0])
        if label in mitotic:
            cz = float(np.argwhere(structure.truth == label)[:, 0].mean())
        cy, cx = cells.nucleus_centres[label - 1, 1:]
        nuclei.append(Nucleus(label=int(label), state="mitotic" if label in mitotic else "interphase",
                              centre_z=round(cz, 2), far=bool(abs(cz - middle) * vz > FAR_FROM_MIDDLE_UM),
                              in_field=bool(0 <= cy < ny and 0 <= cx < nx), complete=bool(complete[label - 1])))
    return LaminField(image, structure.truth, microscope.voxel_size, tuple(nuclei), kind)


def make_lamin_set(count: int = 12, shape=LAMIN_SET_SHAPE, seed: int = 0) -> list[LaminField]:
    """Draw ``count`` lamin B1 fields for the iterative deep-learning demo.

    Each field is a piece of a hiPS colony (cells about 11 um across, so a 128 x 128 field of 13.8 um
    holds about 1 to 3 nuclei, plus parts of its neighbours cut by the field's edge). The kinds cycle
    through ``FIELD_KINDS``:

    * ``interphase``: every nucleus a closed shell, centred on the field's middle slice (+-0.5 um);
    * ``heights``: one or two cells stand 2.6 to 3.4 um higher or lower than the others (their nucleus
      is then "far": more than 2.5 um from the middle slice), the largest nucleus stays;
    * ``mitotic``: one in-field cell (and each other with probability 0.2) in prometaphase: rounded,
      its lamina broken into wavy fragments in a diffuse lamin haze;
    * ``heights+mitotic``: both.

    Parameters
    ----------
    count : int
        Number of fields.
    shape : (Z, Y, X) ints
        Size of each field, at least 16 x 64 x 64.
    seed : int
        The same count, shape and seed give the same fields, voxel for voxel (field i depends only on
        the seed and i, so a larger count extends a smaller set).

    Notes
    -----
    With cells of real size (13 um) a 13.8 um field holds one whole nucleus (the one it is centred
    on, ``complete``) and parts of its neighbours; a classic workflow seeding from one middle slice
    follows the whole nucleus to its height, so the "heights" failure shows fully only where several
    whole nuclei share a field (e.g. ``shape=(40, 256, 256)``).

    Returns
    -------
    list of LaminField
        image (uint16), truth (int32, one label per nucleus's envelope), voxel size and per-nucleus
        metadata (label, state, centre z, far from the middle slice, centre in the field, wholly in
        the field).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[0] < 16 or min(shape[1:]) < 64:
        raise ValueError(f"shape must be (Z, Y, X) with Z >= 16 and Y, X >= 64; got {shape}.")
    if count < 0:
        raise ValueError(f"count must be >= 0; got {count}.")
    fields = []
    for i in range(int(count)):
        rng = pattern_rng(f"lamin_set/{i}", seed)
        fields.append(_draw_field(FIELD_KINDS[i % len(FIELD_KINDS)], shape, rng))
    return fields
