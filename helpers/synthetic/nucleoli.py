"""Nucleolar patterns: fibrillarin (FBL, dense fibrillar component) and nucleophosmin (NPM1, granular component).

A hiPS cell nucleus holds one to four nucleoli, irregular lobed bodies 1 to 3 um across, in the middle
of the nucleus. A nucleolus is built in three layers around its rDNA: fibrillar centres (FC, 0.2 to
0.5 um), each wrapped in a dense fibrillar component (DFC) of small beads, all embedded in the granular
component (GC) that makes up most of the nucleolus. FBL sits in the DFC, so it shows as clusters of
bright beads over a dimmer nucleolar body; NPM1 fills the GC and is excluded from the FC/DFC, so it
shows as bright bodies with dark holes. Both proteins keep a dim diffuse pool in the nucleoplasm.
The nucleoli of different cells differ in brightness (expression level and nucleolar size vary
with the cell cycle), which is why both presets threshold each nucleus's objects on their own
(masked-object threshold).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import Cells, ellipsoid_mask
from ._draw import blob
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Nucleoli per nucleus (hiPS cells: one to four, seldom more).
NUCLEOLI_PER_NUCLEUS = (1, 4)
#: Diameter of a nucleolus, micrometres.
NUCLEOLUS_DIAMETER = (1.0, 3.0)
#: Spread (log-normal sigma) of nucleolar brightness between cells, on top of the cell's expression.
NUCLEOLUS_CELL_SPREAD = 0.35


def _rotation(angle: float) -> np.ndarray:
    """In-plane rotation of (z, u, v) offsets into (z, y, x), as _cells.ellipsoid_mask uses it."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _nucleoli(cells: Cells, rng: np.random.Generator):
    """Where the nucleoli are: (list of dicts with the cell label, a bounding box and the solid;
    per-cell nucleolar brightness factors indexed by cell label).

    Each nucleolus is the union of one main ellipsoidal lobe (diameter 1 to 3 um, nearly round) and
    up to three smaller lobes (0.45 to 0.75 of its radius) set off from its centre, which gives the
    irregular, lobed outline of real nucleoli. Nucleoli lie inside their nucleus, at least 0.3 um
    from its envelope (they sit in the nuclear interior), and do not overlap each other. More
    nucleoli per nucleus come out smaller. ``box`` is a tuple of slices into the field; ``solid``
    the nucleolus's voxels inside the box (clipped to its nucleus).
    """
    vz, vy, vx = cells.voxel_size
    shape = np.array(cells.shape)
    out = []
    factors = np.ones(cells.count + 1)
    for label in range(1, cells.count + 1):
        centre = cells.nucleus_centres[label - 1]
        radii = cells.nucleus_radii[label - 1]
        rot = _rotation(cells.nucleus_angles[label - 1])
        count = int(rng.integers(NUCLEOLI_PER_NUCLEUS[0], NUCLEOLI_PER_NUCLEUS[1] + 1))
        placed: list[tuple[np.ndarray, float]] = []
        cell_factor = factors[label] = rng.lognormal(0.0, NUCLEOLUS_CELL_SPREAD)
        for _ in range(count):
            diameter = rng.uniform(*NUCLEOLUS_DIAMETER) * (1.0 - 0.1 * (count - 1))
            r = 0.5 * max(diameter, NUCLEOLUS_DIAMETER[0])
            room = np.maximum(radii - r - 0.3, 0.1)
            room[0] = min(room[0], 0.6)  # nucleoli stay near the nuclear mid-plane in z
            for _try in range(20):
                u = rng.normal(size=3)
                u *= rng.uniform() ** (1 / 3) / np.linalg.norm(u)
                offset_um = rot @ (u * room)
                if all(np.linalg.norm(offset_um - p) > r + q + 0.25 for p, q in placed):
                    break
            else:
                continue
            placed.append((offset_um, r))
            centre_vox = centre + offset_um / cells.voxel_size
            lobes = [(np.zeros(3), np.array([r * rng.uniform(0.8, 1.0), r, r * rng.uniform(0.75, 1.0)]),
                      rng.uniform(0, np.pi))]
            for _lobe in range(int(rng.integers(0, 4))):
                direction = rng.normal(size=3) * (0.4, 1, 1)
                direction /= np.linalg.norm(direction)
                lr = r * rng.uniform(0.45, 0.75)
                lobes.append((direction * (r - 0.6 * lr), np.array([lr * rng.uniform(0.8, 1), lr, lr]),
                              rng.uniform(0, np.pi)))
            reach = np.ceil((r + 0.6) / np.array([vz, vy, vx])).astype(int)
            lo = np.maximum(np.floor(centre_vox).astype(int) - reach, 0)
            hi = np.minimum(np.floor(centre_vox).astype(int) + reach + 1, shape)
            if np.any(hi <= lo):
                continue
            box = tuple(slice(a, b) for a, b in zip(lo, hi))
            sub_shape = tuple(hi - lo)
            solid = np.zeros(sub_shape, bool)
            for off, lr, ang in lobes:
                solid |= ellipsoid_mask(sub_shape, cells.voxel_size, centre_vox + off / cells.voxel_size - lo,
                                        lr, ang)
            solid &= cells.nuclei[box] == label
            if solid.sum() < 4:
                continue
            out.append(dict(label=label, box=box, lo=lo, solid=solid, centre=centre_vox, radius=r,
                            brightness=cell_factor * rng.uniform(0.8, 1.2)))
    return out, factors


def _random_voxels(mask: np.ndarray, count: int, min_distance_um: float, voxel_size, rng) -> np.ndarray:
    """Up to ``count`` voxels of ``mask`` (indices, float), at least ``min_distance_um`` apart."""
    candidates = np.argwhere(mask)
    if len(candidates) == 0:
        return np.zeros((0, 3))
    order = rng.permutation(len(candidates))
    chosen: list[np.ndarray] = []
    scale = np.asarray(voxel_size)
    for i in order[: 40 * count]:
        p = candidates[i].astype(float)
        if all(np.linalg.norm((p - q) * scale) >= min_distance_um for q in chosen):
            chosen.append(p)
            if len(chosen) == count:
                break
    return np.array(chosen).reshape(-1, 3)


def dense_fibrillar_component(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """FBL: bright DFC beads clustered around fibrillar centres, in a dimmer nucleolar body.

    Per nucleolus (see :func:`_nucleoli`), about 6 fibrillar centres per cubic micrometre (hiPS
    nucleoli are large and rich in FCs; at least two, about 5 to 60 per nucleolus), at least 0.4 um
    apart and 0.15 um inside the nucleolus's edge. Each FC (radius 0.1 to 0.22 um, FBL-free) is
    wrapped by 10 to 16 DFC beads of radius 0.07 to 0.13 um on its surface (density about 1,
    varying 0.6 to 1.4 per bead). The rest of the nucleolus (the granular component) holds a little
    FBL (density 0.07 to 0.11). Each nucleolus carries its cell's nucleolar brightness (log-normal
    spread 0.35) times 0.8 to 1.2. Each nucleus also has 1 to 3 Cajal bodies (see
    :func:`_cajal_bodies`), which are not in the truth. The diffuse nucleoplasmic pool is low (a
    few per cent of the DFC's brightness), close to the cytoplasm's.

    Truth: the DFC, i.e. the union of the beads (each at least one PSF FWHM wide, as every sub-
    resolution object), labelled per nucleolus. One label per bead would be meaningless, since
    the beads of one FC lie closer than the resolution and merge into one bright cluster, and the
    clusters of one nucleolus touch; a nucleolus is the countable object a biologist compares
    (its DFC volume), so the DFC is labelled by the nucleolus it belongs to.
    """
    shape = cells.shape
    density = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.int32)
    voxel = np.asarray(microscope.voxel_size)
    nucleoli, factors = _nucleoli(cells, rng)
    for index, nucleolus in enumerate(nucleoli, start=1):
        box, solid = nucleolus["box"], nucleolus["solid"]
        level = nucleolus["brightness"]
        volume = solid.sum() * np.prod(voxel)
        sub_density = np.where(solid, np.float32(rng.uniform(0.07, 0.11) * level), np.float32(0))
        sub_truth = np.zeros(solid.shape, bool)
        inner = ndimage.distance_transform_edt(solid, sampling=microscope.voxel_size) >= 0.15
        if not inner.any():
            inner = solid
        n_fc = max(2, int(round(6.0 * volume * rng.uniform(0.8, 1.2))))
        for fc in _random_voxels(inner, n_fc, 0.4, microscope.voxel_size, rng):
            fc_radius = rng.uniform(0.10, 0.22)
            for _bead in range(int(rng.integers(6, 13))):
                direction = rng.normal(size=3)
                direction /= np.linalg.norm(direction)
                bead_r = rng.uniform(0.07, 0.13)
                centre = fc + direction * (fc_radius + bead_r) / voxel
                geometry, bead_truth = blob(solid.shape, microscope, centre, (bead_r, bead_r, bead_r))
                sub_density[geometry] = rng.uniform(0.6, 1.4) * level
                sub_truth |= bead_truth
        sub_truth &= cells.nuclei[box] == nucleolus["label"]
        density[box] = np.maximum(density[box], sub_density)
        truth[box][sub_truth] = index
    _cajal_bodies(cells, microscope, rng, density, factors)
    return Structure(density, truth)


def _cajal_bodies(cells: Cells, microscope: Microscope, rng: np.random.Generator, density: np.ndarray,
                  factors: np.ndarray) -> None:
    """Add fibrillarin's other home to ``density``: 1 to 3 Cajal bodies per nucleus.

    Cajal bodies are round nucleoplasmic foci 0.4 to 0.7 um across (radius 0.2 to 0.35 um), found in
    proliferating cells such as hiPS cells, that carry fibrillarin too (density 0.3 to 0.5, times
    the cell's nucleolar brightness). They are not part of the nucleolus, so not of the truth.
    """
    voxel = np.asarray(microscope.voxel_size)
    for cell in range(1, cells.count + 1):
        centre = cells.nucleus_centres[cell - 1]
        radii = cells.nucleus_radii[cell - 1]
        rot = _rotation(cells.nucleus_angles[cell - 1])
        for _body in range(int(rng.integers(1, 4))):
            u = rng.normal(size=3)
            u *= rng.uniform(0.1, 0.8) / np.linalg.norm(u)
            position = centre + rot @ (u * radii) / voxel
            r = rng.uniform(0.2, 0.35)
            geometry = ellipsoid_mask(cells.shape, microscope.voxel_size, position, (r, r, r))
            geometry &= cells.nuclei == cell
            density[geometry] = np.maximum(density[geometry], factors[cell] * rng.uniform(0.3, 0.5))


def granular_component(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """NPM1: bright nucleolar bodies with dark holes, plus a few small bright nucleoplasmic foci.

    Nucleoli as in :func:`_nucleoli` (1 to 4 per nucleus, 1 to 3 um, lobed), filled with NPM1
    (density 1, each nucleolus its cell's nucleolar brightness times 0.8 to 1.2, with a gentle
    texture of +-15 %). Inside each, about 0.9 holes per cubic micrometre (1 to 8): the fibrillar
    centres with their DFC, which exclude NPM1, drawn as ellipsoids 0.25 to 0.45 um in radius in x
    and y and 0.35 to 0.6 um in z (at least 0.2 um inside the nucleolus's edge, so the GC closes
    around them), with density 0.05. In each nucleus 0 to 3 small bright foci (radius 0.15 to
    0.3 um, density 0.6 to 1.2): prenucleolar bodies / small nucleolar fragments of GC material.

    Truth: the granular component, i.e. the nucleolus minus its holes (the voxels whose centres
    lie in the GC), one label per nucleolus; each nucleoplasmic focus, being GC material too, is
    its own object (its blob truth, at least one PSF FWHM wide) with its own label after the
    nucleoli.
    """
    shape = cells.shape
    density = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.int32)
    voxel = np.asarray(microscope.voxel_size)
    nucleoli, factors = _nucleoli(cells, rng)
    for index, nucleolus in enumerate(nucleoli, start=1):
        box, solid = nucleolus["box"], nucleolus["solid"]
        level = nucleolus["brightness"]
        volume = solid.sum() * np.prod(voxel)
        texture = ndimage.gaussian_filter(rng.normal(0, 1, solid.shape).astype(np.float32), (0.7, 2.5, 2.5))
        texture *= 0.15 / max(float(texture.std()), 1e-6)
        gc = solid.copy()
        inner = ndimage.distance_transform_edt(solid, sampling=microscope.voxel_size) >= 0.45
        n_holes = int(np.clip(round(0.9 * volume * rng.uniform(0.7, 1.3)), 1, 8))
        for hole in _random_voxels(inner, n_holes, 0.8, microscope.voxel_size, rng):
            rxy = rng.uniform(0.25, 0.45)
            radii = (rng.uniform(0.35, 0.6), rxy, rxy * rng.uniform(0.75, 1.0))
            gc &= ~ellipsoid_mask(solid.shape, microscope.voxel_size, hole, radii, rng.uniform(0, np.pi))
        sub = np.where(gc, level * (1 + texture), np.where(solid, 0.05 * level, 0)).astype(np.float32)
        density[box] = np.maximum(density[box], sub)
        truth[box][gc] = index
    label = len(nucleoli)
    for cell in range(1, cells.count + 1):
        centre = cells.nucleus_centres[cell - 1]
        radii = cells.nucleus_radii[cell - 1]
        rot = _rotation(cells.nucleus_angles[cell - 1])
        level = factors[cell]
        for _focus in range(int(rng.integers(0, 4))):
            u = rng.normal(size=3)
            u *= rng.uniform(0.2, 0.85) / np.linalg.norm(u)
            position = centre + rot @ (u * radii) / voxel
            r = rng.uniform(0.15, 0.3)
            geometry, focus_truth = blob(shape, microscope, position, (r, r, r))
            inside = cells.nuclei == cell
            geometry &= inside
            focus_truth &= inside & (truth == 0)
            if not focus_truth.any():
                continue
            label += 1
            density[geometry] = np.maximum(density[geometry], level * rng.uniform(0.6, 1.2))
            truth[focus_truth] = label
    return Structure(density, truth)


# Both: hiPS cells about 11 um wide (the colony default of 13 um leaves too few whole nuclei in
# a 192 x 192 field), and a few saturated camera pixels as real sCMOS data has; the presets' auto-
# contrast (AC, upper bound 15 to 19 standard deviations) was tuned on such data.
PATTERNS = [
    Pattern(
        name="fbl",
        title="FBL (fibrillarin): nucleolus, dense fibrillar component",
        description="One to four lobed nucleoli (1-3 um) per nucleus, each with many small bright dense "
                    "fibrillar component beads clustered around fibrillar centres over a dimmer nucleolar "
                    "body; nucleoli differ in brightness between cells. Truth: the DFC, one label per nucleolus.",
        draw=dense_fibrillar_component,
        structure_electrons=1300.0,
        cytoplasm_electrons=3.0,
        nucleus_electrons=4.0,
        hot_pixels=2.0,
        cell_options=dict(cell_diameter=11.0),
    ),
    Pattern(
        name="npm1",
        title="NPM1 (nucleophosmin): nucleolus, granular component",
        description="One to four lobed nucleoli (1-3 um) per nucleus, brightly filled with nucleophosmin but "
                    "with dark holes where the fibrillar centres exclude it, a dim nucleoplasmic pool and a "
                    "few small bright nucleoplasmic foci. Truth: the granular component (nucleolus minus its "
                    "holes), one label per nucleolus or focus.",
        draw=granular_component,
        structure_electrons=700.0,
        cytoplasm_electrons=4.0,
        nucleus_electrons=4.0,
        hot_pixels=2.0,
        cell_options=dict(cell_diameter=11.0),
    ),
]
