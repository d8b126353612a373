"""Sarcomeres of hiPS-derived cardiomyocytes: striated myofibrils (troponin I, titin).

Cardiomyocytes are larger and flatter than hiPS cells (here 28 um across, 7 um tall, imaged at
0.128 um pixels with a lower-NA objective than the hiPS images). Myofibrils, about 1 um across, run
through the lower part of the cell, roughly parallel within a cell and gently curved (persistence
length 30 um), around the nucleus. Each is a chain of sarcomeres 1.8-2 um long; the tagged proteins
make stripes across the fibril, drawn as short line segments perpendicular to it (the Z-disc is a
thin disc, a thin-filament band a short ribbon): TTN's Z-disc end one narrow stripe on each Z line,
TNNI1 (on the thin filaments) a band on either side of each Z line.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import Cells
from ._draw import rasterize, thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Lower-NA optics of the cardiomyocyte images (micrometres).
CARDIO_MICROSCOPE = Microscope(voxel_size=(0.29, 0.128, 0.128), fwhm_lateral=0.32, fwhm_axial=1.0)
#: Cardiomyocyte colony: large, flat cells with a relatively small nucleus.
CARDIO_CELLS = dict(cell_diameter=28.0, height=7.0, nucleus_fraction=0.45, nucleus_height=5.0,
                    brightness_spread=0.35)


def _myofibrils(cells: Cells, rng: np.random.Generator, per_100um2: float = 12.0):
    """Centre lines of the myofibrils: a list of (points (N, 3) um, tangents (N, 2) in y/x, arc length (N,)).

    Per cell: about ``per_100um2`` fibrils per 100 um^2 of footprint, each 5-20 um long, starting at a
    random point of the footprint at least 1.5 um from the border, heading along the cell's own axis
    (spread 10 deg) with a persistence length of 30 um, 0.4-3 um above the coverslip (drifting a
    little in z); a fibril ends where it comes within 0.7 um of the cell border, enters the nucleus
    or leaves the field.
    """
    vz, vy, vx = cells.voxel_size
    nz, ny, nx = cells.shape
    edges = cells.membranes_2d()
    distance_edge = ndimage.distance_transform_edt(~edges, sampling=(vy, vx)) if edges.any() \
        else np.full((ny, nx), 1e3)
    areas = np.bincount(cells.footprint.ravel(), minlength=cells.count + 1)[1:] * vy * vx
    base = float(np.median(cells.bottom)) * vz
    step = 0.04
    fibrils = []
    for label in range(1, cells.count + 1):
        n = rng.poisson(per_100um2 * areas[label - 1] / 100)
        candidates = np.argwhere((cells.footprint == label) & (distance_edge >= 1.5))
        if n == 0 or len(candidates) == 0:
            continue
        heading = rng.uniform(0, np.pi)
        for _ in range(n):
            start = candidates[rng.integers(len(candidates))] * (vy, vx)
            length = rng.uniform(5.0, 20.0)
            m = int(length / step)
            theta0 = heading + rng.normal(0, 0.17)
            # trace both ways from the start: a persistent random walk of the heading
            halves = []
            for sign in (1, -1):
                theta = theta0 + np.cumsum(rng.normal(0, np.sqrt(step / 30.0), m // 2))
                yx = start + sign * step * np.cumsum(np.stack([np.sin(theta), np.cos(theta)], -1), 0)
                halves.append(yx)
            yx = np.concatenate([halves[1][::-1], start[None], halves[0]])
            z = base + rng.uniform(0.4, 3.0) + np.cumsum(rng.normal(0, 0.004, len(yx)))
            pts = np.column_stack([z, yx])
            idx = np.rint(pts / (vz, vy, vx)).astype(int)
            inside = np.all((idx >= 0) & (idx < np.array(cells.shape)), axis=1)
            ok = np.zeros(len(pts), bool)
            i = idx[inside]
            ok[inside] = ((cells.footprint[i[:, 1], i[:, 2]] == label) & (distance_edge[i[:, 1], i[:, 2]] >= 0.7)
                          & (cells.nuclei[i[:, 0], i[:, 1], i[:, 2]] == 0) & (cells.cells[i[:, 0], i[:, 1], i[:, 2]] == label))
            mid = len(yx) // 2 if ok[len(yx) // 2] else None
            if mid is None:
                continue
            bad = np.nonzero(~ok)[0]
            lo = bad[bad < mid].max() + 1 if (bad < mid).any() else 0
            hi = bad[bad > mid].min() if (bad > mid).any() else len(pts)
            pts = pts[lo:hi]
            if len(pts) * step < 3.0:
                continue
            tangent = np.gradient(pts[:, 1:], axis=0)
            tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
            arc = np.arange(len(pts)) * step
            fibrils.append((pts, tangent, arc))
    return fibrils


def _striations(cells: Cells, microscope: Microscope, rng: np.random.Generator, offsets_um,
                stripe_radius: float, width_um=(0.8, 1.2)) -> Structure:
    """Stripes across every myofibril: one short segment (the fibril's width, ``width_um``) perpendicular
    to the fibril at each Z line plus each of ``offsets_um`` along the fibril, with Z lines every
    1.8-2.0 um (per fibril, jittered by 0.04 um per sarcomere); per-fibril brightness varies by 25 %,
    per-stripe by 15 %. Each stripe is ``stripe_radius`` thick (um)."""
    shape = cells.shape
    vs = np.asarray(cells.voxel_size)
    centre = np.zeros(shape, bool)
    weight = np.zeros(shape, np.float32)
    u = np.linspace(-0.5, 0.5, 40)
    for pts, tangent, arc in _myofibrils(cells, rng):
        period = rng.uniform(1.8, 2.0)
        width = rng.uniform(*width_um)
        bright = rng.lognormal(0, 0.25)
        n_lines = int(arc[-1] / period) + 1
        z_lines = rng.uniform(0, period) + period * np.arange(n_lines) + rng.normal(0, 0.04, n_lines)
        s = (z_lines[:, None] + np.asarray(offsets_um, float)[None]).ravel()
        s = s[(s >= 0.15) & (s <= arc[-1] - 0.15)]
        if len(s) == 0:
            continue
        k = np.clip(np.searchsorted(arc, s), 0, len(arc) - 1)
        p, t = pts[k], tangent[k]
        normal = np.stack([-t[:, 1], t[:, 0]], -1)  # in-plane (y, x), perpendicular to the fibril
        seg = np.empty((len(s), len(u), 3))
        seg[..., 0] = p[:, None, 0]
        seg[..., 1:] = p[:, None, 1:] + (width * u)[None, :, None] * normal[:, None, :]
        vox = seg.reshape(-1, 3) / vs
        mark = rasterize(shape, vox)
        centre |= mark
        w = np.repeat(bright * rng.lognormal(0, 0.15, len(s)), len(u))
        idx = np.rint(vox).astype(int)
        inside = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
        weight[tuple(idx[inside].T)] = np.maximum(weight[tuple(idx[inside].T)], w[inside])
    geometry, truth = thicken(centre, stripe_radius, microscope)
    spread = ndimage.grey_dilation(weight, size=(3, 5, 5))
    density = np.where(geometry, np.where(centre, weight, spread), 0).astype(np.float32)
    return Structure(density, truth)


def troponin_i(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """TNNI1 (troponin I, on the thin filaments): two bands 0.1 um thick, 0.25 um either side of each
    Z line, 0.8-1.2 um long across the fibril; the thin filaments' central H zone stays dark."""
    return _striations(cells, microscope, rng, offsets_um=(-0.25, 0.25), stripe_radius=0.05)


def titin_z(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """TTN (titin, tagged at its Z-disc end): one narrow stripe (Z disc, about 0.1 um thick) on each
    Z line, 0.8-1.2 um long across the fibril."""
    return _striations(cells, microscope, rng, offsets_um=(0.0,), stripe_radius=0.05)


PATTERNS = [
    Pattern(
        name="cardio_tnni1",
        title="TNNI1 (troponin I): sarcomeres in cardiomyocytes",
        description="Myofibrils running through large, flat cardiomyocytes, striated every 1.8-2 um: "
                    "troponin I bands on either side of each Z line, on a diffuse cytoplasmic pool.",
        draw=troponin_i,
        structure_electrons=450.0,
        cytoplasm_electrons=6.0,
        nucleus_electrons=3.0,
        microscope=CARDIO_MICROSCOPE,
        cell_options=CARDIO_CELLS,
    ),
    Pattern(
        name="cardio_ttn",
        title="TTN (titin, Z-disc end): sarcomeres in cardiomyocytes",
        description="Myofibrils running through large, flat cardiomyocytes, with a narrow titin stripe "
                    "across the fibril at every Z line (every 1.8-2 um), on a weak diffuse pool.",
        draw=titin_z,
        structure_electrons=600.0,
        cytoplasm_electrons=6.0,
        nucleus_electrons=2.0,
        microscope=CARDIO_MICROSCOPE,
        cell_options=CARDIO_CELLS,
    ),
]
