"""Curvilinear membrane networks seen slice by slice: the endoplasmic reticulum and mitochondria.

Both structures fill the cytoplasm of hiPS cells with thin, winding objects that look like curves in
every z-slice (which is why their presets use the 2D filament filter):

* ``sec61b``: the ER, a reticulum of sub-resolution tubules (about 50 nm across) joined at three-way
  junctions, densest around the nucleus, with stacked sheets (cisternae) near the nucleus and the
  nuclear envelope, which is part of the same membrane, as a bright continuous rim.
* ``tomm20``: mitochondria, tubes 0.2 to 0.25 um in radius and 1 to 6 um long, some branched, mostly
  around the nucleus and in the lower half of the cell; TOMM20 sits in the outer membrane, but at this
  resolution the tube looks filled, so the whole tube is drawn and is the truth.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import Cells
from ._draw import rasterize, smooth_random_field, surface_of, thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Radius of an ER tubule (um), about 50 nm across: far below the resolution, drawn as a centre line.
ER_TUBULE_RADIUS = 0.025
#: Half thickness of an ER sheet (cisterna) and of the nuclear envelope (um), also sub-resolution.
ER_SHEET_HALF_THICKNESS = 0.025


def _sample_voxels(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random points (voxels, (count, 3)) drawn with probability proportional to ``weights``,
    spread uniformly within their voxel."""
    flat = weights.reshape(-1).astype(np.float64)
    total = flat.sum()
    if count <= 0 or total <= 0:
        return np.zeros((0, 3))
    index = rng.choice(flat.size, size=count, p=flat / total)
    points = np.stack(np.unravel_index(index, weights.shape), -1).astype(float)
    return points + rng.uniform(-0.5, 0.5, points.shape)


def _lookup(volume: np.ndarray, points_voxels: np.ndarray, outside=0):
    """Values of ``volume`` at the voxels holding the (..., 3) points; ``outside`` beyond the field."""
    p = np.rint(points_voxels).astype(int)
    inside = np.all((p >= 0) & (p < np.array(volume.shape)), axis=-1)
    p = np.where(inside[..., None], p, 0)
    return np.where(inside, volume[p[..., 0], p[..., 1], p[..., 2]], outside)


def _nucleus_distance(cells: Cells, microscope: Microscope) -> np.ndarray:
    """Distance (um) of every voxel from the nearest nucleus."""
    return ndimage.distance_transform_edt(cells.nuclei == 0, sampling=microscope.voxel_size).astype(np.float32)


# ---------------------------------------------------------------------------------------------- ER


def er_network(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """The endoplasmic reticulum of every cell: tubules, perinuclear sheets and the nuclear envelope.

    * Tubules: a reticulum of junctions (three-way nodes) spread through the cytoplasm, about one per
      0.4 um^3 next to the nucleus falling to one per 1.7 um^3 at the cell's periphery (the ER is densest
      around the nucleus), each joined to its 3 nearest neighbours in the same cell (closer than 2.2 um)
      by a gently bowed tubule 50 nm across: polygons 0.5 to 2 um wide, as in ER images.
    * Sheets: 1 or 2 stacked cisternae about 0.4 and 0.75 um out from the nucleus (wavy, +-0.15 um),
      in patches about 1 to 2 um wide covering about a third of the nuclear surface.
    * Nuclear envelope: continuous with the ER, the nucleus's whole surface (a bright perinuclear rim).

    All are thinner than the resolution, so the truth is the FWHM-wide band around each (see
    :func:`helpers.synthetic._draw.thicken`). Brightness: sheets and envelope carry about 1.5 times the
    membrane per area of a tubule's lateral view; each cell's ER varies by about 15 %.
    """
    shape = cells.shape
    voxel = np.array(microscope.voxel_size)
    cytoplasm = cells.cytoplasm
    distance = _nucleus_distance(cells, microscope)

    # --- tubules: nodes denser near the nucleus, linked to near neighbours in the same cell
    volume_um3 = cytoplasm.sum() * voxel.prod()
    node_density = np.where(cytoplasm, 0.6 + 2.0 * np.exp(-distance / 1.5), 0.0)
    count = int(rng.poisson(volume_um3 * node_density[cytoplasm].mean() if cytoplasm.any() else 0))
    nodes = _sample_voxels(node_density, count, rng)
    owner = _lookup(cells.cells, nodes)
    nodes_um = nodes * voxel
    edges = []
    for label in np.unique(owner[owner > 0]):
        idx = np.flatnonzero(owner == label)
        if len(idx) < 2:
            continue
        d = np.linalg.norm(nodes_um[idx, None] - nodes_um[None, idx], axis=-1)
        np.fill_diagonal(d, np.inf)
        k = min(3, len(idx) - 1)
        nearest = np.argsort(d, axis=1)[:, :k]
        for j in range(k):
            close = d[np.arange(len(idx)), nearest[:, j]] < 2.2
            a, b = idx[close], idx[nearest[close, j]]
            edges.append(np.stack([np.minimum(a, b), np.maximum(a, b)], -1))
    centre = np.zeros(shape, bool)
    if edges:
        edges = np.unique(np.concatenate(edges), axis=0)
        a, b = nodes_um[edges[:, 0]], nodes_um[edges[:, 1]]
        # a quadratic Bezier bowed sideways by up to a fifth of the length: tubules are never straight
        length = np.linalg.norm(b - a, axis=1, keepdims=True)
        bow = rng.normal(0, 1, a.shape)
        bow -= (bow * (b - a)).sum(1, keepdims=True) * (b - a) / np.maximum(length ** 2, 1e-9)
        bow *= 0.2 * length / np.maximum(np.linalg.norm(bow, axis=1, keepdims=True), 1e-9)
        bow[:, 0] *= 0.5
        middle = 0.5 * (a + b) + bow
        t = np.linspace(0, 1, int(np.ceil(2.2 / 0.04)) + 1)[None, :, None]
        points = ((1 - t) ** 2 * a[:, None] + 2 * t * (1 - t) * middle[:, None] + t ** 2 * b[:, None]) / voxel
        # a tubule that would cross a nucleus or leave the cell is not drawn
        own = _lookup(cells.cells, points)
        keep = np.all(_lookup(cells.nuclei, points) == 0, axis=1) & np.all(own == own[:, :1], axis=1)
        centre = rasterize(shape, points[keep].reshape(-1, 3))
    tubules = centre & cytoplasm

    # --- sheets: patches of 1-3 stacked cisternae parallel to the nuclear envelope
    patches = smooth_random_field(shape, 0.8 / voxel, rng) > 0.3
    wobble = 0.15 * smooth_random_field(shape, 0.8 / voxel, rng)
    layers = np.zeros(shape, bool)
    shell_width = voxel[1] * 0.75
    for offset in (0.4, 0.75):
        layers |= (np.abs(distance + wobble - offset) < shell_width / 2) & patches
        patches &= smooth_random_field(shape, 0.8 / voxel, rng) > 0.0
    sheets = layers & cytoplasm

    # --- nuclear envelope
    envelope = surface_of(cells.nuclei > 0)

    membranes = tubules | sheets | envelope
    _, truth = thicken(membranes, ER_TUBULE_RADIUS, microscope)
    per_cell = np.concatenate([[1.0], rng.normal(1.0, 0.15, cells.count).clip(0.6, 1.4)]).astype(np.float32)
    local = rng.uniform(0.7, 1.3, shape).astype(np.float32)
    density = (tubules * 1.0 + sheets * 0.75 + envelope * 1.0) * local * per_cell[cells.cells]
    return Structure(density.astype(np.float32), truth)


# ---------------------------------------------------------------------------------------------- mitochondria


def _walks(starts_um, directions, steps: int, step_um: float, persistence_um: float, flatness: float,
           rng: np.random.Generator) -> np.ndarray:
    """Many persistent random walks at once: (N, steps + 1, 3) points in micrometres."""
    direction = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    points = np.empty((len(starts_um), steps + 1, 3))
    points[:, 0] = starts_um
    kick = np.sqrt(2 * step_um / persistence_um)
    for i in range(steps):
        turn = rng.normal(0, kick, direction.shape)
        turn[:, 0] *= flatness
        direction = direction + turn
        direction[:, 0] *= 0.9  # mitochondria lie along the coverslip: z is damped
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        points[:, i + 1] = points[:, i] + step_um * direction
    return points


def mitochondria(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """Tubular mitochondria in the cytoplasm of every cell.

    About one mitochondrion per 8 um^3 of cytoplasm (some 40 to 60 in a hiPS cell), each a tube of
    radius 0.2 to 0.25 um and length 1 to 6 um (log-uniform: many short, few long), a smooth curve
    (persistence 3 um) lying mostly parallel to the coverslip; a third carry one side branch 0.5 to
    2 um long. They start preferentially within 2 um of the nucleus and in the lower half of the cell
    (hiPS cells keep their mitochondria around and below the nucleus, the apical cytoplasm is thin).
    A tube ends where it would enter the nucleus or leave its cell. Brightness varies by 25 % between
    mitochondria and by 15 % between cells; the truth is the tube (radius at least half the FWHM).
    """
    shape = cells.shape
    voxel = np.array(microscope.voxel_size)
    cytoplasm = cells.cytoplasm
    distance = _nucleus_distance(cells, microscope)
    zz = np.arange(shape[0], dtype=np.float32)[:, None, None]
    z_nucleus = np.concatenate([[0.0], cells.nucleus_centres[:, 0]]).astype(np.float32)[cells.cells]
    lower = np.where(zz <= z_nucleus + 0.5 / voxel[0], 1.0, 0.3)
    weight = np.where(cytoplasm, (0.3 + np.exp(-distance / 2.0)) * lower, 0.0)

    volume_um3 = cytoplasm.sum() * voxel.prod()
    count = int(rng.poisson(volume_um3 / 8.0))
    step = 0.05
    starts = _sample_voxels(weight, count, rng) * voxel
    lengths = np.exp(rng.uniform(np.log(1.0), np.log(6.0), count))
    angle = rng.uniform(0, 2 * np.pi, count)
    directions = np.stack([rng.normal(0, 0.15, count), np.cos(angle), np.sin(angle)], -1)
    # grow from the middle both ways so the start (near the nucleus) is the tube's middle
    half_steps = int(np.ceil(6.0 / 2 / step))
    forward = _walks(starts, directions, half_steps, step, 3.0, 0.3, rng)
    backward = _walks(starts, -directions, half_steps, step, 3.0, 0.3, rng)
    position = np.arange(half_steps + 1)[None] * step
    n_branch = int(np.sum(rng.random(count) < 1 / 3))
    owner_mito = np.arange(count)
    radius = rng.uniform(0.2, 0.25, count)
    brightness = rng.normal(1.0, 0.25, count).clip(0.5, 1.6)

    tubes = [(forward, position <= lengths[:, None] / 2, owner_mito),
             (backward, position <= lengths[:, None] / 2, owner_mito)]
    if n_branch:
        parent = rng.choice(count, n_branch, replace=False)
        at = rng.integers(0, half_steps + 1, n_branch)
        at = np.minimum(at, np.floor(lengths[parent] / 2 / step).astype(int))
        base = forward[parent, at]
        tangent = forward[parent, np.minimum(at + 1, half_steps)] - forward[parent, np.maximum(at - 1, 0)]
        side = np.cross(tangent, [1.0, 0.0, 0.0])
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
        branch_dir = side * rng.choice([-1, 1], (n_branch, 1)) + 0.5 * tangent / np.maximum(
            np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
        branch = _walks(base, branch_dir, int(np.ceil(2.0 / step)), step, 3.0, 0.3, rng)
        branch_position = np.arange(branch.shape[1])[None] * step
        tubes.append((branch, branch_position <= rng.uniform(0.5, 2.0, (n_branch, 1)), parent))

    radius_map = np.zeros(shape, np.float32)
    bright_map = np.zeros(shape, np.float32)
    centre = np.zeros(shape, bool)
    for points_um, wanted, who in tubes:
        points = points_um / voxel
        own = _lookup(cells.cells, points)
        inside = (_lookup(cells.nuclei, points) == 0) & (own == _lookup(cells.cells, points[:, :1]))
        inside &= own > 0
        # a tube stops at the first point where it would leave the cytoplasm of its cell
        wanted = wanted & (np.cumprod(inside, axis=1) > 0)
        rows = np.repeat(np.arange(len(points)), points.shape[1]).reshape(points.shape[:2])[wanted]
        p = np.rint(points[wanted]).astype(int)
        ok = np.all((p >= 0) & (p < np.array(shape)), axis=1)
        p, rows = p[ok], rows[ok]
        centre[p[:, 0], p[:, 1], p[:, 2]] = True
        radius_map[p[:, 0], p[:, 1], p[:, 2]] = radius[who[rows]]
        bright_map[p[:, 0], p[:, 1], p[:, 2]] = brightness[who[rows]]
    geometry, truth = thicken(centre, radius_map, microscope)
    if centre.any():
        index = ndimage.distance_transform_edt(~centre, sampling=microscope.voxel_size,
                                               return_distances=False, return_indices=True)
        object_brightness = bright_map[tuple(index)]
    else:
        object_brightness = np.ones(shape, np.float32)
    geometry &= cells.cells > 0
    truth &= cells.cells > 0
    per_cell = np.concatenate([[1.0], rng.normal(1.0, 0.15, cells.count).clip(0.6, 1.4)]).astype(np.float32)
    density = geometry * object_brightness * per_cell[cells.cells]
    return Structure(density.astype(np.float32), truth)


PATTERNS = [
    Pattern(
        name="sec61b",
        title="SEC61B (Sec61 beta): endoplasmic reticulum",
        description="A reticulum of sub-resolution ER tubules filling the cytoplasm, densest around the "
                    "nucleus, with stacked perinuclear sheets and the nuclear envelope as a bright rim.",
        draw=er_network,
        structure_electrons=800.0,
        cytoplasm_electrons=15.0,
        nucleus_electrons=2.0,
        background_electrons=10.0,
    ),
    Pattern(
        name="tomm20",
        title="TOMM20 (Tom20): mitochondria",
        description="Tubular mitochondria 0.4-0.5 um wide and 1-6 um long, some branched, gathered around "
                    "the nucleus and in the lower half of each cell.",
        draw=mitochondria,
        structure_electrons=500.0,
        cytoplasm_electrons=4.0,
        nucleus_electrons=1.0,
        background_electrons=10.0,
    ),
]
