"""Nuclear envelope patterns (lamin B1): interphase shells and the broken envelopes of mitosis.

Lamin B1 lines the inner nuclear membrane as a meshwork about 15 nm thick: in interphase a closed,
slightly patchy shell around each nucleus, with little diffuse lamin in the nucleoplasm and almost
none in the cytoplasm. When a cell enters mitosis it rounds up, and in prometaphase the lamina is
disassembled: what is left are wavy, crumpled fragments of the old envelope around the condensing
chromosomes, while the released lamin spreads as a diffuse haze through the whole rounded cell.

Both patterns share one drawing function, :func:`lamin_structure`, which draws the diffuse pools
itself (the rounded mitotic cells do not follow the colony's cell outlines), so their ``Pattern``
pools are zero; :mod:`helpers.synthetic.lamin_set` uses the same function and the same levels for its
training set. Truth: one label per nucleus (its envelope, or the fragments of it in a mitotic cell),
the label of the cell it belongs to.
"""

from __future__ import annotations

import numpy as np

from ._cells import Cells, ellipsoid_mask
from ._draw import label_by_nearest, smooth_random_field, surface_of, thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Thickness of the nuclear lamina (micrometres), far below the resolution: drawn as a surface.
LAMINA_HALF_THICKNESS = 0.015
#: Photo-electrons per voxel of lamina (density 1) in an average cell, before blur.
LAMINA_ELECTRONS = 1100.0
#: Diffuse lamin B1, as a fraction of a lamina voxel's density: nucleoplasm and cytoplasm in
#: interphase, the whole rounded cell in prometaphase (the lamina's lamin released into it).
NUCLEOPLASM_POOL = 0.04
CYTOPLASM_POOL = 0.01
MITOTIC_POOL = 0.07


def _box(centre_voxels, reach_voxels, shape):
    """Slices of the bounding box around a centre (clipped to the field), or None if it is outside."""
    lo = np.maximum(np.floor(np.asarray(centre_voxels) - reach_voxels).astype(int), 0)
    hi = np.minimum(np.ceil(np.asarray(centre_voxels) + reach_voxels).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return None
    return tuple(slice(a, b) for a, b in zip(lo, hi))


def _mitotic_cell(cells: Cells, label: int, microscope: Microscope, rng: np.random.Generator):
    """A cell in prometaphase: (rounded cell, chromatin region, envelope fragments), bool volumes.

    The cell rounds up into a sphere 10 to 11.6 um across standing on the coverslip above its old
    footprint. Its nucleus, now rounder (in-plane semi-axes 0.8 of the interphase ones, about 3 um,
    z semi-axis 0.85 of those) and lifted to the middle of the rounded cell, has lost its shape: the
    envelope is wavy (the radius varies by about 18 % over about 0.6 um) and broken, 40 to 70 % of it
    remaining in crumpled fragments about a micrometre across.
    """
    shape = cells.shape
    voxel = np.array(microscope.voxel_size)
    cz, cy, cx = cells.nucleus_centres[label - 1]
    rz, ra, rb = cells.nucleus_radii[label - 1]
    angle = cells.nucleus_angles[label - 1]
    radius = rng.uniform(5.0, 5.8)
    footprint = cells.footprint == label
    base = float(cells.bottom[footprint].min()) if footprint.any() else float(cells.bottom.min())
    centre_cell = np.array([base + radius / voxel[0] * 0.92, cy, cx])
    cell = ellipsoid_mask(shape, voxel, centre_cell, (0.92 * radius, radius, radius))

    lateral = 0.8 * np.sqrt(ra * rb)
    radii = np.array([min(1.1 * rz, 0.85 * lateral), lateral * rng.uniform(1.0, 1.1), lateral * rng.uniform(0.9, 1.0)])
    centre = np.array([centre_cell[0], cy, cx])
    box = _box(centre, 1.4 * radii.max() / voxel + 2, shape)
    chromatin = np.zeros(shape, bool)
    fragments = np.zeros(shape, bool)
    if box is None:
        return cell, chromatin, fragments
    z, y, x = np.ogrid[box]
    dz, dy, dx = (z - centre[0]) * voxel[0], (y - centre[1]) * voxel[1], (x - centre[2]) * voxel[2]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dy + s * dx, -s * dy + c * dx
    rho = np.sqrt((dz / radii[0]) ** 2 + (u / radii[1]) ** 2 + (v / radii[2]) ** 2)
    sub = rho.shape
    wave = 0.18 * smooth_random_field(sub, 0.6 / voxel, rng)
    solid = rho <= 1.0 + wave
    kept = rng.uniform(0.4, 0.7)
    breaks = smooth_random_field(sub, 0.5 / voxel, rng)
    threshold = np.quantile(breaks, 1.0 - kept)
    chromatin[box] = rho <= 0.75 + wave
    fragments[box] = surface_of(solid) & (breaks > threshold)
    fragments &= cell
    return cell, chromatin, fragments


def lamin_structure(cells: Cells, microscope: Microscope, rng: np.random.Generator,
                    mitotic=()) -> Structure:
    """Lamin B1 in a colony: shells around interphase nuclei, fragments and haze in mitotic cells.

    Parameters
    ----------
    cells : Cells
    microscope : Microscope
    rng : numpy.random.Generator
    mitotic : iterable of int
        Labels of the cells in prometaphase (see :func:`_mitotic_cell`); the others are in interphase.

    Returns
    -------
    Structure
        ``density``: the lamina (1 per lamina voxel, patchy: smooth +-20 % variation over about half a
        micrometre plus +-10 % voxel to voxel) and the diffuse pools (nucleoplasm, cytoplasm, the
        rounded mitotic cells), relative to a lamina voxel; ``truth``: int32, the envelope of each
        nucleus (or its fragments) labelled with its cell's label.
    """
    shape = cells.shape
    voxel = np.array(microscope.voxel_size)
    mitotic = sorted(int(m) for m in mitotic)
    surface_labels = np.zeros(shape, np.int32)
    for label in range(1, cells.count + 1):
        if label not in mitotic:
            surface_labels[surface_of(cells.nuclei == label)] = label
    nucleoplasm = (cells.nuclei > 0) & ~np.isin(cells.nuclei, mitotic)
    # the space a mitotic cell leaves in its old column is filled by its neighbours' cytoplasm
    cytoplasm = (cells.cells > 0) & ~nucleoplasm
    # the expression level of each cell, so that a rounded cell keeps its own wherever it reaches
    level = np.concatenate([[1.0], cells.brightness]).astype(np.float32)
    relative = np.ones(shape, np.float32)
    haze = np.zeros(shape, np.float32)
    for label in mitotic:
        cell, chromatin, fragments = _mitotic_cell(cells, label, microscope, rng)
        surface_labels[fragments] = label
        nucleoplasm &= ~cell
        cytoplasm &= ~cell
        haze[cell] = np.where(chromatin[cell], 0.35, 1.0) * MITOTIC_POOL
        relative[cell] = level[label] / level[cells.cells[cell]]
    lamina = surface_labels > 0
    geometry, truth = thicken(lamina, LAMINA_HALF_THICKNESS, microscope)
    patchiness = (1.0 + 0.2 * smooth_random_field(shape, 0.5 / voxel, rng)
                  + rng.uniform(-0.1, 0.1, shape).astype(np.float32))
    density = (geometry * patchiness.clip(0.4, None) + NUCLEOPLASM_POOL * nucleoplasm
               + CYTOPLASM_POOL * cytoplasm + haze) * relative
    return Structure(density.astype(np.float32), label_by_nearest(truth, surface_labels, voxel))


def interphase_envelopes(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """One closed shell per nucleus, with a slightly patchy lamina; truth labelled per nucleus."""
    return lamin_structure(cells, microscope, rng, mitotic=())


def choose_mitotic(cells: Cells, rng: np.random.Generator, fraction: float = 0.25) -> list[int]:
    """Labels of the cells to put in mitosis: the cell whose nucleus lies most inside the field, and
    each other cell with probability ``fraction`` (hiPS colonies divide fast; fields with several
    mitoses are common enough to be picked for a mitotic-envelope sample)."""
    sizes = np.bincount(cells.nuclei.reshape(-1), minlength=cells.count + 1)[1:]
    if cells.count == 0 or sizes.max() == 0:
        return []
    first = int(np.argmax(sizes)) + 1
    others = [label for label in range(1, cells.count + 1)
              if label != first and sizes[label - 1] > 0 and rng.random() < fraction]
    return [first] + others


def mitotic_envelopes(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """A field with cells in prometaphase among interphase neighbours (see :func:`choose_mitotic`)."""
    return lamin_structure(cells, microscope, rng, mitotic=choose_mitotic(cells, rng))


PATTERNS = [
    Pattern(
        name="lmnb1_interphase",
        title="LMNB1 interphase (lamin B1): nuclear envelope",
        description="Interphase nuclei of a hiPS colony, each enclosed by a thin, slightly patchy lamina "
                    "shell; little diffuse lamin in the nucleoplasm. Truth: one label per nucleus's envelope.",
        draw=interphase_envelopes,
        structure_electrons=LAMINA_ELECTRONS,
        cytoplasm_electrons=0.0,   # the pools are drawn by lamin_structure
        nucleus_electrons=0.0,
        hot_pixels=2.0,
    ),
    Pattern(
        name="lmnb1_mitotic",
        title="LMNB1 mitotic (lamin B1): nuclear envelope in mitosis",
        description="A colony with cells in prometaphase: rounded cells whose lamina is broken into wavy "
                    "fragments in a diffuse lamin haze, beside interphase nuclei with intact shells. "
                    "Truth: one label per nucleus's envelope or fragments.",
        draw=mitotic_envelopes,
        structure_electrons=LAMINA_ELECTRONS,
        cytoplasm_electrons=0.0,
        nucleus_electrons=0.0,
        hot_pixels=2.0,
    ),
]
