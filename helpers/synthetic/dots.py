"""Dot-like patterns: desmosomes, centrioles, peroxisomes, gap junctions, adherens junctions, lysosomes.

These structures are small compartments or membrane patches, most of them at or below the optical
resolution, so their image is a blurred point of varied brightness. They sit where the biology puts
them: desmosomes, gap junctions and beta-catenin on the lateral membranes between cells, centrioles
near the apical surface above the nucleus, peroxisomes all through the cytoplasm, lysosomes clustered
around the nucleus. Countable objects (dots, plaques, vesicles) get one truth label each; the
beta-catenin membranes are a boolean sheet.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import Cells
from ._draw import thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure


# ----------------------------------------------------------------------------------------------------
# private helpers


def _stamp(shape, microscope: Microscope, centres, radii_um, amounts, *, shell=None,
           shell_fraction: float = 0.0, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ellipsoidal objects one bounding box at a time: (density float32, truth labels int32).

    ``centres`` (N, 3) in voxels, ``radii_um`` (N, 3) semi-axes (z, y, x) in micrometres, ``amounts``
    (N,) the total fluorophore of each object in units of one voxel at density 1 (so a dot's brightness
    follows its volume, not the number of voxels it happens to cover). Where ``shell`` is True for an
    object its fluorophore lies on its surface (a membrane-bound vesicle; points drawn with ``rng``) plus
    ``shell_fraction`` of it spread through the lumen. Truth: each object's voxels, at least half a
    PSF FWHM in every semi-axis; where truths overlap, a voxel goes to the object whose surface is
    farther away (the one it lies deeper in).
    """
    density = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.int32)
    depth = np.full(shape, np.inf, np.float32)
    vox = np.asarray(microscope.voxel_size, float)
    floor = np.array([microscope.fwhm_axial, microscope.fwhm_lateral, microscope.fwhm_lateral]) / 2
    shape_arr = np.asarray(shape)
    for i, (c, r, amount) in enumerate(zip(np.asarray(centres, float), np.asarray(radii_um, float), amounts)):
        rt = np.maximum(r, floor)
        reach = np.ceil(rt / vox).astype(int) + 1
        ci = np.rint(c).astype(int)
        lo = np.maximum(ci - reach, 0)
        hi = np.minimum(ci + reach + 1, shape_arr)
        if np.any(hi <= lo):
            continue
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        dz, dy, dx = (z - c[0]) * vox[0], (y - c[1]) * vox[1], (x - c[2]) * vox[2]
        geometry = (dz / r[0]) ** 2 + (dy / r[1]) ** 2 + (dx / r[2]) ** 2 <= 1.0
        inside_c = np.all((ci >= lo) & (ci < hi))
        if inside_c:
            geometry[tuple(ci - lo)] = True
        if not geometry.any():
            continue
        q = (dz / rt[0]) ** 2 + (dy / rt[1]) ** 2 + (dx / rt[2]) ** 2
        truth = geometry | (q <= 1.0)
        if shell is not None and shell[i]:
            # the membrane: points spread evenly over the ellipsoid's surface (about one per
            # 0.03 x 0.03 um), so each voxel gets fluorophore in proportion to the area it holds
            n = int(np.clip(4 * np.pi * np.prod(r) ** (2 / 3) / 0.03 ** 2, 200, 40000))
            u = rng.normal(0, 1, (n, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            q_pts = np.rint(c + u * r / vox).astype(int) - lo
            keep = np.all((q_pts >= 0) & (q_pts < hi - lo), axis=1)
            weight = np.zeros(geometry.shape, np.float32)
            np.add.at(weight, tuple(q_pts[keep].T), np.float32((1 - shell_fraction) / n))
            lumen = geometry & (weight == 0)
            if lumen.any():
                weight += lumen * np.float32(shell_fraction / lumen.sum())
            density[box] += amount * weight
        else:
            density[box] += geometry * np.float32(amount / geometry.sum())
        closer = truth & (q < depth[box])
        depth[box][closer] = q[closer]
        labels[box][closer] = i + 1
    present = np.unique(labels)
    lookup = np.zeros(len(amounts) + 1, np.int32)
    lookup[present] = np.arange(len(present), dtype=np.int32)
    return density, lookup[labels]


def _spread(candidates_vox, weights, n, voxel_size, min_distance_um, rng, *, tries_per_point=4):
    """Up to ``n`` points (voxels, sub-voxel jitter) drawn from candidate voxels by weight, at least
    ``min_distance_um`` apart (rejection; points too close to an accepted one are dropped)."""
    if n <= 0 or len(candidates_vox) == 0:
        return np.zeros((0, 3))
    p = np.asarray(weights, float)
    p = p / p.sum()
    m = int(n * tries_per_point)
    picks = candidates_vox[rng.choice(len(candidates_vox), size=m, p=p)].astype(float)
    picks += rng.uniform(-0.5, 0.5, picks.shape)
    um = picks * np.asarray(voxel_size)
    accepted: list[int] = []
    acc_um = np.empty((n, 3))
    for j in range(m):
        if accepted:
            d2 = ((acc_um[:len(accepted)] - um[j]) ** 2).sum(1)
            if d2.min() < min_distance_um ** 2:
                continue
        acc_um[len(accepted)] = um[j]
        accepted.append(j)
        if len(accepted) == n:
            break
    return picks[accepted]


def _lateral_membranes(cells: Cells, inset_um: float = 0.15) -> np.ndarray:
    """(Z, Y, X) bool: the cell-cell borders (one-pixel lines from above) from the coverslip to the
    top of the cells, ``inset_um`` short of both surfaces."""
    nz = cells.shape[0]
    inset = inset_um / cells.voxel_size[0]
    zz = np.arange(nz, dtype=np.float32)[:, None, None]
    lines = cells.membranes_2d()
    return lines[None] & (zz >= cells.bottom + inset) & (zz <= cells.top - inset)


def _height_fraction(cells: Cells, points_vox) -> np.ndarray:
    """Height of points between the coverslip (0) and the cell's top (1) at their (y, x)."""
    p = np.rint(points_vox).astype(int)
    y = np.clip(p[:, 1], 0, cells.shape[1] - 1)
    x = np.clip(p[:, 2], 0, cells.shape[2] - 1)
    b, t = cells.bottom[y, x], cells.top[y, x]
    return np.clip((points_vox[:, 0] - b) / np.maximum(t - b, 1e-3), 0, 1)


def _partners(points_vox, lines_2d, fraction, distance_um, voxel_size, rng):
    """Touching partners for a ``fraction`` of membrane dots: a second dot ``distance_um`` (range)
    away along the same border (or straight above / below it on the membrane sheet)."""
    out = []
    ny, nx = lines_2d.shape
    vz, vy, _ = voxel_size
    for p in points_vox[rng.random(len(points_vox)) < fraction]:
        d = rng.uniform(*distance_um)
        if rng.random() < 0.4:
            out.append(p + (rng.choice([-1, 1]) * d / vz, 0, 0))
            continue
        cy, cx = int(round(p[1])), int(round(p[2]))
        r = int(np.ceil(d / vy)) + 1
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, ny), max(cx - r, 0), min(cx + r + 1, nx)
        yy, xx = np.nonzero(lines_2d[y0:y1, x0:x1])
        dist = np.hypot(yy + y0 - p[1], xx + x0 - p[2]) * vy
        ok = np.abs(dist - d) < 0.06
        if not ok.any():
            continue
        k = rng.choice(np.nonzero(ok)[0])
        out.append((p[0] + rng.normal(0, 0.3), yy[k] + y0, xx[k] + x0))
    return np.array(out).reshape(-1, 3)


def _round_radii(n, low_um, high_um, rng, z_stretch=1.0):
    """(n, 3) semi-axes of roughly round objects, radius uniform in [low, high] um, slightly uneven."""
    r = rng.uniform(low_um, high_um, n)[:, None] * rng.uniform(0.85, 1.15, (n, 3))
    r[:, 0] *= z_stretch
    return r


def _cell_brightness(cells: Cells, points_vox) -> np.ndarray:
    """The expression level (``cells.brightness``) of the cell holding each point; 1 outside cells."""
    p = np.rint(points_vox).astype(int)
    p = np.clip(p, 0, np.asarray(cells.shape) - 1)
    label = cells.footprint[p[:, 1], p[:, 2]]
    level = np.concatenate([[1.0], cells.brightness])
    return level[label]


def _unit_voxel(microscope: Microscope) -> float:
    """Volume of one voxel in cubic micrometres."""
    return float(np.prod(microscope.voxel_size))


def _amounts(radii_um, brightness, microscope: Microscope) -> np.ndarray:
    """Fluorophore of solid objects: volume (in voxels) times brightness, the volume of an object
    below the resolution counted as at least that of a 0.1 um sphere."""
    r = np.maximum(radii_um, 0.1)
    volume = 4 / 3 * np.pi * r.prod(1)
    return brightness * volume / _unit_voxel(microscope)


# ----------------------------------------------------------------------------------------------------
# the patterns


def desmosomes(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """DSP: desmosomes, dots of 0.2-0.4 um (radius 0.1-0.2 um) on the lateral membranes.

    Desmosomes are button-like junctions spaced along the cell-cell borders over the whole height of
    the lateral membrane, more towards the apical side; about 0.5 per um^2 of membrane (tens per
    border), at least 0.5 um apart, a sixth of them with a touching neighbour 0.35-0.5 um away.
    Brightness varies between desmosomes (log-normal, sigma 0.5, at most 3.5 times the median).
    """
    membrane = _lateral_membranes(cells, 0.3)
    lines = cells.membranes_2d()
    vz, vy, vx = microscope.voxel_size
    candidates = np.argwhere(membrane)
    if len(candidates) == 0:
        return Structure(np.zeros(cells.shape, np.float32), np.zeros(cells.shape, np.int32))
    height = _height_fraction(cells, candidates.astype(float))
    weights = 0.35 + height ** 1.5
    area = len(candidates) * vy * vz * 1.2
    points = _spread(candidates, weights, int(rng.poisson(0.5 * area)), microscope.voxel_size, 0.5, rng)
    points = np.concatenate([points, _partners(points, lines, 0.17, (0.35, 0.5), microscope.voxel_size, rng)])
    radii = _round_radii(len(points), 0.1, 0.2, rng)
    bright = np.minimum(rng.lognormal(0, 0.5, len(points)), 3.5) * _cell_brightness(cells, points)
    density, labels = _stamp(cells.shape, microscope, points, radii, _amounts(radii, bright, microscope))
    return Structure(density, labels)


def centrioles(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """CETN2: centrioles, point sources (radius 0.1 um) near the apical surface above the nucleus.

    Each cell has one centrosome 0.5-2.5 um to the side of the nucleus's axis (up to 3.5 um, towards
    the field, for cells whose nucleus lies outside it) and 0.8-1.6 um below the cell's top: a pair of
    centrioles 0.35-0.6 um apart (a fifth of the cells, in G2, have duplicated: two pairs 1-2 um
    apart). Around it, centrin is enriched in a faint pericentriolar cloud of satellites (radius about
    1 um, not objects of the truth); the rest of centrin is a diffuse pool in cytoplasm and nucleus.
    """
    vox = np.asarray(microscope.voxel_size)
    size = np.asarray(cells.shape[1:])
    pts, bright, cloud = [], [], []
    for label in range(1, cells.count + 1):
        cz, cy, cx = cells.nucleus_centres[label - 1]
        level = cells.brightness[label - 1]
        outside = not (0 <= cy < size[0] and 0 <= cx < size[1])
        if outside:
            towards = (size - 1) / 2 - (cy, cx)
            angle = np.arctan2(towards[0], towards[1]) + rng.normal(0, 0.4)
            shift = rng.uniform(1.5, 3.5)
        else:
            angle, shift = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 2.5)
        yx = np.array([cy, cx]) + shift * np.array([np.sin(angle), np.cos(angle)]) / vox[1:]
        iy, ix = np.rint(yx).astype(int)
        if not (0 <= iy < size[0] and 0 <= ix < size[1]) or cells.footprint[iy, ix] != label:
            # the cell is cut by the field's edge: the visible point of the cell nearest to the
            # intended place, at least 1.5 um inside the cell
            own = cells.footprint == label
            deep = np.argwhere(ndimage.distance_transform_edt(own, sampling=vox[1:]) >= 1.5)
            if len(deep) == 0:
                continue
            yx = deep[np.argmin(((deep - yx) ** 2).sum(1))] + rng.uniform(-0.5, 0.5, 2)
            iy, ix = np.rint(yx).astype(int)
        z = cells.top[iy, ix] - rng.uniform(0.8, 1.6) / vox[0]
        z = min(z, cells.shape[0] - 2 - rng.uniform(0, 1))  # a short stack cuts the cell: keep it in
        centre = np.array([z, *yx])
        pairs = [centre]
        if rng.random() < 0.2:
            direction = rng.normal(0, 1, 3) * (0.3, 1, 1)
            pairs.append(centre + rng.uniform(1.0, 2.0) * direction / np.linalg.norm(direction) / vox)
        for c in pairs:
            direction = rng.normal(0, 1, 3)
            direction /= np.linalg.norm(direction)
            half = 0.5 * rng.uniform(0.35, 0.6) * direction / vox
            for p in (c - half, c + half):
                pts.append(p)
                bright.append(np.sqrt(level) * min(rng.lognormal(0, 0.2), 1.4))
        cloud.append(centre)
    pts = np.array(pts).reshape(-1, 3)
    radii = rng.uniform(0.08, 0.12, (len(pts), 3))
    amounts = np.asarray(bright) * 4 / 3 * np.pi * 0.1 ** 3 / _unit_voxel(microscope)
    density, labels = _stamp(cells.shape, microscope, pts, radii, amounts)
    if cloud:
        halo = np.zeros(cells.shape, np.float32)
        for c in cloud:
            for p in c + rng.normal(0, 1, (12, 3)) * (0.5, 0.8, 0.8) / vox:
                q = np.rint(p).astype(int)
                if np.all((q >= 0) & (q < cells.shape)):
                    halo[tuple(q)] += rng.uniform(0.5, 1.5)
        density += ndimage.gaussian_filter(halo, 0.25 / vox) * 0.06 * amounts.mean()
    return Structure(density, labels)


def peroxisomes(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """SLC25A17: peroxisomes, round dots of 0.1-0.25 um radius throughout the cytoplasm.

    About 0.09 per um^3 of cytoplasm (tens to about a hundred per hiPS cell), at least 0.3 um apart
    so that some touch; brightness varies between peroxisomes (log-normal, sigma 0.5, at most 3.5
    times the median) on top of
    the cell's expression level.
    """
    cyto = cells.cytoplasm
    zz = np.arange(cells.shape[0])[:, None, None]
    inner = cyto & (zz >= cells.bottom + 1) & (zz <= cells.top - 1)
    candidates = np.argwhere(inner)
    volume = len(candidates) * _unit_voxel(microscope)
    points = _spread(candidates, np.ones(len(candidates)), int(rng.poisson(0.09 * volume)),
                     microscope.voxel_size, 0.3, rng)
    radii = _round_radii(len(points), 0.1, 0.25, rng)
    bright = np.minimum(rng.lognormal(0, 0.5, len(points)), 3.5) * _cell_brightness(cells, points)
    density, labels = _stamp(cells.shape, microscope, points, radii, _amounts(radii, bright, microscope))
    return Structure(density, labels)


def gap_junctions(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """GJA1: gap-junction plaques, 0.2-0.6 um across, on the lateral membranes.

    Connexin-43 plaques are few (about 0.06 per um^2 of lateral membrane, a handful per border), at
    least 1 um apart, mostly in the upper half of the membrane; flattened in the membrane (drawn as
    round blobs, which they are at this resolution), brightness varying with size and between plaques.
    """
    membrane = _lateral_membranes(cells, 0.4)
    vz, vy, _ = microscope.voxel_size
    candidates = np.argwhere(membrane)
    if len(candidates) == 0:
        return Structure(np.zeros(cells.shape, np.float32), np.zeros(cells.shape, np.int32))
    height = _height_fraction(cells, candidates.astype(float))
    area = len(candidates) * vy * vz * 1.2
    points = _spread(candidates, 0.3 + height, int(rng.poisson(0.06 * area)), microscope.voxel_size, 1.0, rng)
    radii = _round_radii(len(points), 0.1, 0.3, rng)
    bright = rng.lognormal(0, 0.4, len(points)) * _cell_brightness(cells, points)
    density, labels = _stamp(cells.shape, microscope, points, radii, _amounts(radii, bright, microscope))
    return Structure(density, labels)


def adherens_junctions(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """CTNNB1: beta-catenin on the lateral membranes, a sheet between neighbouring cells.

    The membrane is drawn as a surface (real thickness far below the resolution) over the whole
    height of the border, brighter towards the apical side (adherens junctions concentrate there)
    and spotty: the density is modulated by a smooth random field (clusters about 0.5 um) plus
    bright puncta. Truth: the membrane sheets, one FWHM thick.
    """
    membrane = _lateral_membranes(cells, 0.1)
    geometry, truth = thicken(membrane, 0.02, microscope)
    height = np.zeros(cells.shape, np.float32)
    zz = np.arange(cells.shape[0], dtype=np.float32)[:, None, None]
    height[:] = np.clip((zz - cells.bottom) / np.maximum(cells.top - cells.bottom, 1e-3), 0, 1)
    field = rng.normal(0, 1, cells.shape).astype(np.float32)
    field = ndimage.gaussian_filter(field, (0.6, 2.5, 2.5))
    field /= field.std() + 1e-6
    spotty = np.exp(0.5 * field)
    puncta = (rng.random(cells.shape) < 0.04) * rng.uniform(1.0, 3.0, cells.shape)
    density = geometry * (0.4 + 0.9 * height ** 2) * (spotty + puncta)
    return Structure(density.astype(np.float32), truth)


def lysosomes(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """LAMP1: lysosomes and late endosomes, clustered around the nucleus.

    Per cell about 30 small lysosomes (solid dots, radius 0.15-0.3 um) and 6 larger vesicles (radius
    0.4-1 um) whose LAMP-1 lies on the limiting membrane, so they image as rings with a dimmer lumen.
    Both are placed in the cytoplasm with a density falling off over 1.5 um from the nuclear surface.
    Truth: the whole vesicle, lumen included.
    """
    cyto = cells.cytoplasm
    zz = np.arange(cells.shape[0])[:, None, None]
    inner = cyto & (zz >= cells.bottom + 1.5) & (zz <= cells.top - 1.5)
    distance = ndimage.distance_transform_edt(cells.nuclei == 0, sampling=microscope.voxel_size)
    candidates = np.argwhere(inner)
    if len(candidates) == 0:
        return Structure(np.zeros(cells.shape, np.float32), np.zeros(cells.shape, np.int32))
    weights = np.exp(-distance[tuple(candidates.T)] / 1.5)
    volume = len(candidates) * _unit_voxel(microscope)
    per_um3 = 1.0 / 25.0
    big = _spread(candidates, weights, int(rng.poisson(0.2 * per_um3 * volume)), microscope.voxel_size, 2.2, rng)
    big_r = _round_radii(len(big), 0.4, 1.0, rng, z_stretch=0.9)
    small = _spread(candidates, weights, int(rng.poisson(per_um3 * volume)), microscope.voxel_size, 0.45, rng)
    if len(big):
        # keep small lysosomes out of the large vesicles
        d = np.sqrt((((small[:, None] - big[None]) * microscope.voxel_size) ** 2).sum(-1))
        small = small[np.all(d > big_r.max(1)[None] + 0.35, axis=1)]
    small_r = _round_radii(len(small), 0.15, 0.3, rng)
    points = np.concatenate([big, small])
    radii = np.concatenate([big_r, small_r])
    shell = np.arange(len(points)) < len(big)
    level = rng.lognormal(0, 0.4, len(points)) * _cell_brightness(cells, points)
    # membrane-bound: fluorophore follows the surface area for both kinds
    r = np.maximum(radii, 0.1)
    area = 4 * np.pi * (r.prod(1)) ** (2 / 3)
    amounts = level * area * 0.25 / (microscope.voxel_size[1] ** 2)
    density, labels = _stamp(cells.shape, microscope, points, radii, amounts, shell=shell, shell_fraction=0.05, rng=rng)
    return Structure(density, labels)


PATTERNS = [
    Pattern(
        name="dsp",
        title="DSP (desmoplakin): desmosomes",
        description="Desmosomes: tens of small dots (0.2-0.4 um) along every cell-cell border over the "
                    "height of the lateral membranes, some in touching pairs. Truth: one label per desmosome.",
        draw=desmosomes,
        structure_electrons=2800.0,
        cytoplasm_electrons=10.0,
        nucleus_electrons=4.0,
        hot_pixels=3.0,
    ),
    Pattern(
        name="cetn2",
        title="CETN2 (centrin-2): centrioles",
        description="Centrioles: per cell one pair (sometimes two) of very bright point sources near the "
                    "apical surface above the nucleus, in a faint pericentriolar haze over a diffuse centrin "
                    "pool. Truth: one label per centriole.",
        draw=centrioles,
        structure_electrons=22000.0,
        cytoplasm_electrons=25.0,
        nucleus_electrons=15.0,
        hot_pixels=3.0,
    ),
    Pattern(
        name="slc25a17",
        title="SLC25A17 (PMP34): peroxisomes",
        description="Peroxisomes: tens to about a hundred small round dots (radius 0.1-0.25 um) per cell "
                    "throughout the cytoplasm, of varied brightness, some touching. Truth: one label per peroxisome.",
        draw=peroxisomes,
        structure_electrons=700.0,
        cytoplasm_electrons=12.0,
        nucleus_electrons=5.0,
        hot_pixels=0.0,
    ),
    Pattern(
        name="gja1",
        title="GJA1 (connexin-43): gap junctions",
        description="Gap junctions: a few plaques (0.2-0.6 um) per cell-cell border, mostly in the upper "
                    "half of the lateral membranes, over a low diffuse background. Truth: one label per plaque.",
        draw=gap_junctions,
        structure_electrons=250.0,
        cytoplasm_electrons=6.0,
        nucleus_electrons=3.0,
        hot_pixels=0.0,
    ),
    Pattern(
        name="ctnnb1",
        title="CTNNB1 (beta catenin): adherens junctions",
        description="Beta catenin on the lateral cell-cell membranes (lines in every slice), spotty and "
                    "brighter towards the apical side, over a diffuse cytoplasmic pool. Truth: the membrane sheets.",
        draw=adherens_junctions,
        structure_electrons=150.0,
        cytoplasm_electrons=20.0,
        nucleus_electrons=8.0,
        hot_pixels=0.0,
    ),
    Pattern(
        name="lamp1",
        title="LAMP1 (LAMP-1): lysosomes",
        description="Lysosomes clustered around the nucleus: small dots (radius 0.15-0.3 um) and larger "
                    "vesicles (radius 0.4-1 um) that image as rings with a dark lumen. Truth: one label per "
                    "vesicle, lumen included.",
        draw=lysosomes,
        structure_electrons=300.0,
        cytoplasm_electrons=10.0,
        nucleus_electrons=4.0,
        hot_pixels=0.0,
    ),
]
