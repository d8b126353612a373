"""The cells of a synthetic field: a packed colony of hiPS cells, each with a nucleus.

Cells tile the field in x and y like a Voronoi diagram of randomly spread centres (hiPS colonies are
packed epithelia), stand on the coverslip near the bottom of the stack and are dome-shaped on top.
Each cell has one ellipsoidal nucleus in its lower middle. Everything is given both as label images on
the voxel grid and as per-cell geometry in micrometres, so a pattern can draw its structure where
the biology puts it (at the membrane, around the nucleus, at the apical surface ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Cells:
    """A colony on the voxel grid.

    Attributes
    ----------
    voxel_size : (z, y, x) micrometres.
    cells : (Z, Y, X) int32 — cell label (1..n) inside each cell, 0 in the medium.
    nuclei : (Z, Y, X) int32 — the label of the cell whose nucleus covers the voxel, else 0.
    footprint : (Y, X) int32 — the cell label map in x and y (Voronoi regions).
    bottom, top : (Y, X) float32 — z (in voxels) of the cell's lower and upper surface.
    nucleus_centres : (n, 3) float — nucleus centres in voxels (z, y, x).
    nucleus_radii : (n, 3) float — nucleus semi-axes in micrometres (z, and the two in-plane ones).
    nucleus_angles : (n,) float — orientation of the nucleus's long in-plane axis (radians).
    brightness : (n,) float — expression level of each cell (1 = average), for cell-to-cell variation.
    """

    voxel_size: tuple[float, float, float]
    cells: np.ndarray
    nuclei: np.ndarray
    footprint: np.ndarray
    bottom: np.ndarray
    top: np.ndarray
    nucleus_centres: np.ndarray
    nucleus_radii: np.ndarray
    nucleus_angles: np.ndarray
    brightness: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.cells.shape)

    @property
    def count(self) -> int:
        return len(self.brightness)

    @property
    def cytoplasm(self) -> np.ndarray:
        """(Z, Y, X) bool: inside a cell and outside its nucleus."""
        return (self.cells > 0) & (self.nuclei == 0)

    def membranes_2d(self) -> np.ndarray:
        """(Y, X) bool: one-pixel lines where two cells touch (the lateral membranes seen from above)."""
        f = self.footprint
        edge = np.zeros(f.shape, bool)
        edge[:, :-1] |= f[:, :-1] != f[:, 1:]
        edge[:-1, :] |= f[:-1, :] != f[1:, :]
        return edge


def _spread_centres(extent_um, spacing_um, rng, tries=4000):
    """Centres at least ``spacing_um`` apart over the field plus a margin (dart throwing)."""
    margin = 0.6 * spacing_um
    low, high = -margin, np.asarray(extent_um) + margin
    centres: list[np.ndarray] = []
    for _ in range(tries):
        p = rng.uniform(low, high)
        if all(np.hypot(*(p - q)) >= spacing_um for q in centres):
            centres.append(p)
    return np.array(centres)


def make_cells(shape, voxel_size, rng: np.random.Generator, *, cell_diameter: float = 13.0,
               height: float = 8.5, base: float = 1.2, nucleus_fraction: float = 0.75,
               nucleus_height: float = 5.5, brightness_spread: float = 0.3) -> Cells:
    """Lay out a colony filling a (Z, Y, X) field.

    Parameters
    ----------
    shape : (Z, Y, X) ints
    voxel_size : (z, y, x) micrometres
    rng : numpy.random.Generator
    cell_diameter : float
        Typical cell width in micrometres (hiPS cells about 11, cardiomyocytes larger).
    height : float
        Cell height at its centre (micrometres above ``base``).
    base : float
        Height of the coverslip (the cells' lower surface) above the first slice, micrometres.
    nucleus_fraction : float
        Nucleus width as a fraction of the cell's inscribed diameter.
    nucleus_height : float
        Nucleus height (full z extent) in micrometres.
    brightness_spread : float
        Standard deviation of the cell-to-cell expression level (log-normal, mean about 1).
    """
    nz, ny, nx = shape
    vz, vy, vx = voxel_size
    centres_xy = _spread_centres((ny * vy, nx * vx), 0.92 * cell_diameter, rng)
    centres_xy += rng.normal(0, 0.08 * cell_diameter, centres_xy.shape)
    # the Voronoi regions are computed on the field plus a margin, so that cells cut by the field's
    # edge keep their real size and their nucleus its real place (possibly partly outside the field)
    pad = int(np.ceil(0.7 * cell_diameter / min(vy, vx)))
    yy, xx = np.mgrid[-pad:ny + pad, -pad:nx + pad]
    pixels = np.stack([yy * vy, xx * vx], -1)
    d2 = ((pixels[:, :, None, :] - centres_xy[None, None]) ** 2).sum(-1)
    nearest_big = np.argmin(d2, -1)
    distance_centre_big = np.sqrt(np.take_along_axis(d2, nearest_big[..., None], -1)[..., 0])
    crop = (slice(pad, pad + ny), slice(pad, pad + nx))
    present = np.unique(nearest_big[crop])
    relabel = np.zeros(len(centres_xy), np.int32)
    relabel[present] = np.arange(1, len(present) + 1)
    footprint_big = relabel[nearest_big]
    footprint = footprint_big[crop]
    n = len(present)

    # dome-shaped top: full height at the cell centre, lower at the rim; flat bottom on the glass
    distance_edge_big = np.zeros(footprint_big.shape, np.float32)
    centroid = np.zeros((n, 2))
    inscribed = np.zeros(n)
    for label in range(1, n + 1):
        inside = footprint_big == label
        distance = ndimage.distance_transform_edt(np.pad(inside, 1, constant_values=False),
                                                  sampling=(vy, vx))[1:-1, 1:-1]
        distance_edge_big[inside] = distance[inside]
        centroid[label - 1] = np.argwhere(inside).mean(0) - pad
        inscribed[label - 1] = distance[inside].max()
    distance_edge = distance_edge_big[crop]
    distance_centre = distance_centre_big[crop].astype(np.float32)
    heights = height * rng.uniform(0.85, 1.1, n + 1)
    heights[0] = 0
    rim = np.clip(distance_edge / (0.25 * cell_diameter), 0, 1)
    top_um = base + heights[footprint] * (0.55 + 0.45 * np.sqrt(rim)) * (1 - 0.08 * (distance_centre / cell_diameter))
    bottom = np.full((ny, nx), base / vz, np.float32)
    top = (top_um / vz).astype(np.float32)
    zz = np.arange(nz, dtype=np.float32)[:, None, None]
    cells = np.where((zz >= bottom) & (zz <= top), footprint[None], 0).astype(np.int32)

    # one ellipsoidal nucleus per cell, centred on the cell's footprint, in its lower middle
    centres = np.zeros((n, 3))
    radii = np.zeros((n, 3))
    angles = rng.uniform(0, np.pi, n)
    nuclei = np.zeros(shape, np.int32)
    for label in range(1, n + 1):
        cy, cx = centroid[label - 1]
        r_in = nucleus_fraction * inscribed[label - 1] * rng.uniform(0.9, 1.05)
        r_z = 0.5 * nucleus_height * rng.uniform(0.9, 1.1)
        cz_um = base + 0.55 * r_z + 0.5 * r_z + rng.uniform(-0.2, 0.3)
        centres[label - 1] = (cz_um / vz, cy, cx)
        radii[label - 1] = (r_z, r_in * rng.uniform(1.0, 1.2), r_in * rng.uniform(0.85, 1.0))
        solid = ellipsoid_mask(shape, voxel_size, centres[label - 1], radii[label - 1], angles[label - 1])
        solid &= cells == label
        nuclei[solid] = label
    brightness = rng.lognormal(0.0, brightness_spread, n)
    brightness /= brightness.mean()
    return Cells(tuple(voxel_size), cells, nuclei, footprint, bottom, top, centres, radii, angles, brightness)


def ellipsoid_mask(shape, voxel_size, centre_voxels, radii_um, angle: float = 0.0) -> np.ndarray:
    """(Z, Y, X) bool: voxels whose centre lies inside an ellipsoid (semi-axes in um, z then in-plane,
    the in-plane axes rotated by ``angle`` radians)."""
    nz, ny, nx = shape
    vz, vy, vx = voxel_size
    rz, ra, rb = radii_um
    cz, cy, cx = centre_voxels
    reach = np.array([rz / vz, max(ra, rb) / vy, max(ra, rb) / vx]) + 1
    lo = np.maximum(np.floor(np.array(centre_voxels) - reach).astype(int), 0)
    hi = np.minimum(np.ceil(np.array(centre_voxels) + reach).astype(int) + 1, shape)
    out = np.zeros(shape, bool)
    if np.any(hi <= lo):
        return out
    z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    dz, dy, dx = (z - cz) * vz, (y - cy) * vy, (x - cx) * vx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dy + s * dx, -s * dy + c * dx
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = (dz / rz) ** 2 + (u / ra) ** 2 + (v / rb) ** 2 <= 1.0
    return out
