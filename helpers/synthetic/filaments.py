"""Filaments in 3D: microtubules, actin and actomyosin bundles, and the tight-junction belt.

All of these are thin, long, curvilinear objects in three dimensions, segmented in the lookup table by
the 3D filament filter (F3). They are drawn as centre lines (a microtubule, 25 nm across, and a
tight-junction strand are far below the resolution) or as tubes (stress fibres and actomyosin
bundles, 0.2-0.5 um across), with the truth at least one PSF FWHM thick (``_draw.thicken``).

Where the biology puts them in a hiPS colony:

* microtubules (TUBA1B) grow from a centrosome sitting on top of the nucleus, are stiff (persistence
  length of tens of micrometres) and bend along the cell cortex when they reach it, on top of a
  large pool of free tubulin dimers in the cytoplasm;
* actin (ACTB), non-muscle myosin IIB (MYH10) and alpha-actinin-1 (ACTN1) make the apical
  circumferential belt at the cell-cell junctions, bundles along the periphery of the cell base and
  stress fibres across the base, on the coverslip;
* ZO-1 (TJP1) marks the tight junctions, a belt a few hundred nanometres tall at the apical end of
  every cell-cell border, which seen from above is the colony's polygonal network.

The lateral cell cortex (an unresolved actin meshwork under the whole membrane) is added to the
actin-family densities as a faint enrichment of the diffuse pool, not as a structure: it has no
filament the optics can resolve, like the G-actin in the cytoplasm, and the truth does not include it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import Cells
from ._draw import blob, polyline, rasterize, smooth_random_field, thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Radius of a microtubule (micrometres): 25 nm across.
MICROTUBULE_RADIUS = 0.0125
#: Radius of a tight-junction strand bundle seen by light microscopy (micrometres).
JUNCTION_STRAND_RADIUS = 0.03


# --------------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------------

def _patchiness(shape, scale_voxels, rng, spread: float = 0.35) -> np.ndarray:
    """A smooth positive log-normal random field (mean about 1) varying over ``scale_voxels``."""
    noise = smooth_random_field(shape, scale_voxels, rng)
    return np.exp(spread * noise - 0.5 * spread ** 2).astype(np.float32)


def _line_density(shape, points_voxels, weights) -> np.ndarray:
    """(Z, Y, X) float32: the summed ``weights`` of the points falling in each voxel (points outside
    the field are dropped). With points spaced evenly along a curve and weight = spacing / voxel
    width, a voxel crossed by the curve receives its length inside the voxel, in voxel widths."""
    p = np.rint(np.asarray(points_voxels, float)).astype(np.int64).reshape(-1, 3)
    w = np.broadcast_to(np.asarray(weights, np.float64), (len(p),))
    inside = np.all((p >= 0) & (p < np.array(shape)), axis=1)
    flat = np.ravel_multi_index(tuple(p[inside].T), shape)
    out = np.bincount(flat, weights=w[inside], minlength=int(np.prod(shape)))
    return out.reshape(shape).astype(np.float32)


def _membrane_distance(cells: Cells) -> np.ndarray:
    """(Y, X) float32: distance (micrometres) from each pixel to the nearest cell-cell border."""
    edges = cells.membranes_2d()
    if not edges.any():
        return np.full(edges.shape, 1e3, np.float32)
    return ndimage.distance_transform_edt(~edges, sampling=cells.voxel_size[1:]).astype(np.float32)


def _junction_centre(cells: Cells, depth_um: float, height_um: float) -> np.ndarray:
    """(Z, Y, X) bool: the cell-cell borders (one-pixel lines seen from above) at the apical end of the
    lateral membranes, ``depth_um`` below the lower of the two cells' top surfaces there, spanning
    ``height_um`` in z (clipped to the top slices when the stack ends below them)."""
    edges = cells.membranes_2d()
    vz = cells.voxel_size[0]
    rim_top = ndimage.minimum_filter(cells.top, size=5)
    ys, xs = np.nonzero(edges)
    centre = np.zeros(cells.shape, bool)
    top = rim_top[ys, xs] - depth_um / vz
    # a stack too short to reach the apical surface still shows the junctions, in its top slices
    top = np.minimum(top, cells.shape[0] - 1.5 - 0.5 * height_um / vz)
    for dz in np.arange(-0.5 * height_um, 0.5 * height_um + 1e-6, max(height_um / 3, 0.05)):
        z = np.rint(top + dz / vz).astype(int)
        ok = (z >= 0) & (z < cells.shape[0])
        centre[z[ok], ys[ok], xs[ok]] = True
    return centre


def _chord(cells: Cells, label: int, distance_edge: np.ndarray, start_yx, angle, margin_um):
    """End points (y, x, micrometres) of the straight chord through ``start_yx`` at ``angle`` that
    stays inside cell ``label``'s footprint, ``margin_um`` from its border; None if too short."""
    vy, vx = cells.voxel_size[1:]
    ny, nx = cells.footprint.shape
    t = np.arange(-30.0, 30.0, 0.05)
    y = start_yx[0] + t * np.sin(angle)
    x = start_yx[1] + t * np.cos(angle)
    iy, ix = np.rint(y / vy).astype(int), np.rint(x / vx).astype(int)
    inside = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
    ok = np.zeros(len(t), bool)
    ok[inside] = (cells.footprint[iy[inside], ix[inside]] == label) & (distance_edge[iy[inside], ix[inside]] >= margin_um)
    mid = len(t) // 2
    if not ok[mid]:
        return None
    bad = np.nonzero(~ok)[0]
    lo = bad[bad < mid].max() + 1 if (bad < mid).any() else 0
    hi = bad[bad > mid].min() - 1 if (bad > mid).any() else len(t) - 1
    if t[hi] - t[lo] < 1.5:
        return None
    return np.array([y[lo], x[lo]]), np.array([y[hi], x[hi]])


def _cell_areas(cells: Cells) -> np.ndarray:
    """(n,) footprint area of each cell inside the field, in square micrometres."""
    vy, vx = cells.voxel_size[1:]
    return np.bincount(cells.footprint.ravel(), minlength=cells.count + 1)[1:] * vy * vx


# --------------------------------------------------------------------------------------------------
# microtubules
# --------------------------------------------------------------------------------------------------

def microtubules(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """Radial arrays of microtubules, one per cell, and the centrosomes they grow from.

    Each cell has a centrosome about 0.6 um above the top of its nucleus (a dot 0.5 um across, rich in
    tubulin) and about 0.1 microtubules per cubic micrometre of cytoplasm (some 40-60 in a hiPS cell
    drawn here, fewer for cells cut by the field's edge), each 6-18 um long; 60 % start within about
    0.5 um of the centrosome and grow outwards and downwards, 40 % are non-centrosomal (start anywhere
    in the cytoplasm); all grow with a persistence length of 20 um. A microtubule that reaches the
    cortex or the nuclear envelope turns to run along it (its outward component is removed), one
    that leaves its cell stops.
    Microtubules are 25 nm across (centre lines); per-microtubule brightness varies by about 25 %.
    """
    shape = cells.shape
    vs = np.asarray(cells.voxel_size)
    # the space microtubules may occupy: the cytoplasm, away from the cell-cell borders
    walls = ndimage.binary_dilation(cells.membranes_2d(), iterations=1)
    allowed = cells.cytoplasm & ~walls[None]
    room = ndimage.distance_transform_edt(allowed, sampling=vs).astype(np.float32)
    normal = np.stack(np.gradient(room, *vs), -1)
    labels = cells.cells

    starts, owners, centrosomes = [], [], []
    volumes = np.bincount(labels[allowed].ravel(), minlength=cells.count + 1) * np.prod(vs)
    zz, yy, xx = np.indices(shape, sparse=True)
    for label in range(1, cells.count + 1):
        if volumes[label] < 20:
            continue
        cz, cy, cx = cells.nucleus_centres[label - 1]
        want = np.array([cz + (cells.nucleus_radii[label - 1, 0] + 0.6) / vs[0],
                         cy + rng.normal(0, 1.0) / vs[1], cx + rng.normal(0, 1.0) / vs[2]])
        box = labels == label
        box &= room >= 0.3
        if not box.any():
            continue
        d2 = ((zz - want[0]) * vs[0]) ** 2 + ((yy - want[1]) * vs[1]) ** 2 + ((xx - want[2]) * vs[2]) ** 2
        d2 = np.where(box, d2, np.inf)
        site = np.array(np.unravel_index(np.argmin(d2), shape), float)
        centrosomes.append(site)
        n = max(3, int(rng.poisson(0.1 * volumes[label])))
        # about 60 % nucleate in the pericentriolar material (within ~0.5 um of the centrosome), the
        # rest are non-centrosomal (released or nucleated elsewhere in the cytoplasm)
        n_free = int(round(0.4 * n))
        here = np.repeat(site[None] * vs, n - n_free, 0) + rng.normal(0, 0.3, (n - n_free, 3))
        free = np.argwhere(box)
        free = free[rng.integers(len(free), size=n_free)] * vs
        starts.append(np.concatenate([here, free]))
        owners.append(np.full(n, label))
    if not starts:
        empty = np.zeros(shape, bool)
        return Structure(np.zeros(shape, np.float32), empty)
    pos = np.concatenate(starts)
    owner = np.concatenate(owners)
    n = len(pos)
    phi = rng.uniform(0, 2 * np.pi, n)
    dz = rng.uniform(-0.7, 0.25, n)
    direction = np.stack([dz, np.sqrt(1 - dz ** 2) * np.sin(phi), np.sqrt(1 - dz ** 2) * np.cos(phi)], -1)
    length = rng.uniform(6.0, 18.0, n)
    step = 0.1
    kick = np.sqrt(2 * step / 20.0)
    alive = np.ones(n, bool)
    track = [pos.copy()]
    alive_track = [alive.copy()]
    hi = np.array(shape) - 1
    for i in range(int(np.ceil(length.max() / step))):
        direction = direction + rng.normal(0, kick, (n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        nxt = pos + step * direction
        idx = np.clip(np.rint(nxt / vs).astype(int), 0, hi)
        near = room[idx[:, 0], idx[:, 1], idx[:, 2]] < 0.35
        if near.any():
            g = normal[idx[near, 0], idx[near, 1], idx[near, 2]]
            g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-6)
            out = np.minimum((direction[near] * g).sum(1), 0)[:, None]
            d = direction[near] - 1.3 * out * g
            direction[near] = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
            nxt = pos + step * direction
        idx_f = np.rint(nxt / vs).astype(int)
        inside = np.all((idx_f >= 0) & (idx_f <= hi), axis=1)
        idx = np.clip(idx_f, 0, hi)
        stays = inside & (labels[idx[:, 0], idx[:, 1], idx[:, 2]] == owner) & (room[idx[:, 0], idx[:, 1], idx[:, 2]] > 0)
        alive &= stays & ((i + 1) * step <= length)
        pos = np.where(alive[:, None], nxt, pos)
        track.append(pos.copy())
        alive_track.append(alive.copy())
    track = np.stack(track)              # (steps, n, 3) micrometres
    alive_track = np.stack(alive_track)  # (steps, n)
    # dense points along the drawn segments (4 per 0.1 um step)
    frac = np.linspace(0, 1, 4, endpoint=False)[:, None, None, None]
    dense = track[:-1][None] + frac * (track[1:] - track[:-1])[None]
    keep = np.broadcast_to(alive_track[1:][None], dense.shape[:3])
    brightness = rng.lognormal(0, 0.25, n)
    weights = np.broadcast_to(brightness[None, None], dense.shape[:3])[keep] * (step / 4) / vs[2]
    points = dense[keep] / vs
    density = _line_density(shape, points, weights)
    centre = density > 0
    geometry, truth = thicken(centre, MICROTUBULE_RADIUS, microscope)
    for site in centrosomes:
        g, t = blob(shape, microscope, site, (0.25, 0.25, 0.25))
        density[g] += 1.0
        truth |= t
    return Structure(density, truth)


# --------------------------------------------------------------------------------------------------
# actin, actomyosin and junctions
# --------------------------------------------------------------------------------------------------

def _actomyosin(cells: Cells, microscope: Microscope, rng: np.random.Generator, *, belt: float,
                belt_radius: float, fibres_per_100um2: float, fibre_radius: tuple, fibre_brightness: float,
                ring: float, ring_radius: float, cortex: float, puncta: bool = False) -> Structure:
    """Apical junctional belt + basal stress fibres + basal peripheral bundles (+ faint cortex).

    belt : brightness of the circumferential belt at the apical end of every cell-cell border
        (0.4 um below the lower top surface of the two cells, 0.3 um tall), radius ``belt_radius``.
    fibres_per_100um2 : stress fibres per 100 um^2 of cell base; straight chords 0.25 um above the
        coverslip, ending 0.6 um from the cell border, mostly parallel within a cell (spread 15 deg),
        radius drawn uniformly in ``fibre_radius`` (um), brightness ``fibre_brightness``.
    ring : brightness of the peripheral bundle that runs around the base of each cell 0.8 um inside
        its border (broken into arcs), radius ``ring_radius``.
    cortex : faint enrichment of the diffuse pool under the lateral membranes (not in the truth).
    puncta : myosin minifilaments: the density along every bundle is modulated into puncta ~0.6 um
        apart (the truth stays the continuous bundle).
    """
    shape = cells.shape
    vz, vy, vx = cells.voxel_size
    nz, ny, nx = shape
    base_z = float(np.median(cells.bottom))
    distance_edge = _membrane_distance(cells)
    centre = np.zeros(shape, bool)
    radius = np.zeros(shape, np.float32)
    weight = np.zeros(shape, np.float32)

    def add(mask, r, w):
        centre[mask] = True
        radius[mask] = np.maximum(radius[mask], r)
        weight[mask] = np.maximum(weight[mask], w)

    # 1. apical junctional belt
    if belt > 0:
        line = _junction_centre(cells, depth_um=0.4, height_um=0.3)
        patch = _patchiness((ny, nx), 1.0 / vy, rng, 0.3)[None]
        add(line, belt_radius, 0)
        weight[line] = np.maximum(weight[line], (belt * np.broadcast_to(patch, shape))[line])

    # 2. basal peripheral bundles (arcs around each cell's base)
    if ring > 0:
        inner = distance_edge >= 0.8
        contour = inner & ~ndimage.binary_erosion(inner, border_value=1)
        contour &= _patchiness((ny, nx), 2.0 / vy, rng, 1.0) > 0.45  # gaps between arcs
        z = int(np.rint(base_z + 0.3 / vz))
        layer = np.zeros(shape, bool)
        layer[min(z, nz - 1)] = contour
        add(layer, ring_radius, ring)

    # 3. stress fibres across the base
    if fibres_per_100um2 > 0:
        areas = _cell_areas(cells)
        z_um = (base_z + 0.25 / vz) * vz
        for label in range(1, cells.count + 1):
            n = rng.poisson(fibres_per_100um2 * areas[label - 1] / 100)
            if n == 0:
                continue
            candidates = np.argwhere((cells.footprint == label) & (distance_edge >= 1.5))
            if len(candidates) == 0:
                continue
            heading = rng.uniform(0, np.pi)
            for _ in range(n):
                start = candidates[rng.integers(len(candidates))] * (vy, vx)
                ends = _chord(cells, label, distance_edge, start, heading + rng.normal(0, 0.26), 0.6)
                if ends is None:
                    continue
                pts = polyline(ends)
                pts3 = np.column_stack([np.full(len(pts), z_um + rng.normal(0, 0.08)), pts]) / (vz, vy, vx)
                add(rasterize(shape, pts3), rng.uniform(*fibre_radius), fibre_brightness * rng.lognormal(0, 0.25))

    geometry, truth = thicken(centre, radius, microscope)
    # each geometry voxel takes the brightness of the brightest centre voxel near it
    spread = ndimage.grey_dilation(weight, size=(3, 7, 7))
    density = np.where(geometry, np.where(centre, weight, spread), 0).astype(np.float32)
    if puncta:
        seeds = (rng.random(shape) < 0.06) & geometry
        dots = ndimage.gaussian_filter(seeds.astype(np.float32), (0.6, 1.8, 1.8))
        dots /= max(float(dots[geometry].mean()), 1e-6)
        density *= 0.35 + 0.65 * np.minimum(dots, 3.0)
    density *= _patchiness(shape, (2, 6, 6), rng, 0.2)
    if cortex > 0:
        walls = cells.membranes_2d()[None] & (cells.cells > 0)
        density += cortex * ndimage.gaussian_filter(walls.astype(np.float32), (0.5, 1, 1)) * ~truth
    return Structure(density, truth)


def beta_actin(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """Beta actin: a bright apical belt at every cell-cell junction (0.2 um across), and stress fibres
    0.2-0.45 um across (about 2 per 100 um^2 of cell base, 1.5-12 um long) just above the coverslip,
    with thin peripheral arcs at the base; a faint lateral cortex (not in the truth)."""
    return _actomyosin(cells, microscope, rng, belt=1.0, belt_radius=0.12, fibres_per_100um2=2.0,
                       fibre_radius=(0.1, 0.22), fibre_brightness=0.55, ring=0.5, ring_radius=0.1,
                       cortex=0.12)


def myosin_iib(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """Non-muscle myosin IIB: bundles around the periphery of each cell's base (arcs 0.8 um inside
    the border, 0.25 um across), a dimmer apical junctional belt, and a few basal stress fibres
    (about 2 per 100 um^2), all punctate (minifilaments about 0.6 um apart)."""
    return _actomyosin(cells, microscope, rng, belt=0.6, belt_radius=0.1, fibres_per_100um2=2.0,
                       fibre_radius=(0.1, 0.2), fibre_brightness=0.8, ring=1.0, ring_radius=0.12,
                       cortex=0.05, puncta=True)


def alpha_actinin(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """Alpha-actinin-1: actin bundles at the cell base (stress fibres 0.2-0.4 um across, about 5 per
    100 um^2, and peripheral arcs) and along the apical junctions; a faint cortex (not in the truth)."""
    return _actomyosin(cells, microscope, rng, belt=0.7, belt_radius=0.1, fibres_per_100um2=5.0,
                       fibre_radius=(0.1, 0.2), fibre_brightness=1.0, ring=0.8, ring_radius=0.1,
                       cortex=0.06)


def tight_junctions(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """ZO-1: a thin continuous line along every cell-cell border at the apical end of the lateral
    membranes (0.4 um below the cells' top surface there, a belt about 0.3 um tall and 60 nm wide),
    with a slowly varying brightness along it (about 30 %)."""
    shape = cells.shape
    line = _junction_centre(cells, depth_um=0.4, height_um=0.3)
    geometry, truth = thicken(line, JUNCTION_STRAND_RADIUS, microscope)
    patch = _patchiness(shape[1:], 1.0 / cells.voxel_size[1], rng, 0.3)[None]
    density = (geometry * patch).astype(np.float32)
    return Structure(density, truth)


PATTERNS = [
    Pattern(
        name="tuba1b",
        title="TUBA1B (alpha tubulin): microtubules",
        description="Radial arrays of long, stiff, sub-resolution microtubules growing from a centrosome "
                    "above each nucleus and bending along the cell cortex, on a strong diffuse tubulin "
                    "pool in the cytoplasm.",
        draw=microtubules,
        structure_electrons=500.0,
        cytoplasm_electrons=45.0,
        nucleus_electrons=8.0,
        background_electrons=10.0,
    ),
    Pattern(
        name="actb",
        title="ACTB (beta actin): actin filaments",
        description="Cortical actin at the cell-cell borders, brightest as a belt at the apical junctions, "
                    "and stress fibres and peripheral bundles near the coverslip, on a diffuse actin pool.",
        draw=beta_actin,
        structure_electrons=300.0,
        cytoplasm_electrons=25.0,
        nucleus_electrons=8.0,
    ),
    Pattern(
        name="myh10",
        title="MYH10 (non-muscle myosin IIB): actomyosin bundles",
        description="Punctate actomyosin bundles around the base of each cell and a dimmer belt along the "
                    "apical junctions, with a few basal stress fibres, on a diffuse myosin pool.",
        draw=myosin_iib,
        structure_electrons=300.0,
        cytoplasm_electrons=20.0,
        nucleus_electrons=5.0,
    ),
    Pattern(
        name="actn1",
        title="ACTN1 (alpha-actinin-1): actin bundles",
        description="Actin bundles decorated by alpha-actinin: stress fibres and peripheral arcs at the "
                    "cell base and a belt along the apical junctions, on a diffuse pool.",
        draw=alpha_actinin,
        structure_electrons=300.0,
        cytoplasm_electrons=20.0,
        nucleus_electrons=5.0,
    ),
    Pattern(
        name="tjp1",
        title="TJP1 (ZO-1): tight junctions",
        description="Thin continuous lines along every cell-cell border at the apical top of the cells, "
                    "the colony's polygonal junction network, on a weak cytoplasmic pool.",
        draw=tight_junctions,
        structure_electrons=900.0,
        cytoplasm_electrons=6.0,
        nucleus_electrons=2.0,
    ),
]
