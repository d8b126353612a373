"""A synthetic lattice light-sheet volume of a dense tissue with fluorescent cell membranes.

The lattice light-sheet 3D U-Net paper segments cell membranes in densely packed tissue. This module
draws such a volume with its cell labels, so that the membrane path (percentile scaling, a 3D U-Net,
tiled prediction, threshold sweep, cells back from membranes) can be run and scored on known truth.

What is drawn (all lengths in micrometres, converted with the voxel size):

- Cells: a 3D Voronoi tessellation of randomly spread centres (at least 0.8 ``cell_diameter``
  apart, over the field and a margin around it, so cells cut by the edge keep their real size) in
  coordinates warped by a few smooth random waves (amplitude 0.06 ``cell_diameter``), so that
  membranes are gently curved, not flat. The tissue fills the whole field: every voxel belongs to
  a cell (labels 1..n, no background).
- Fluorescence: each cell's side of every contact (the border voxels of
  :func:`helpers.membranes.labels_to_membranes` with ``thickness=1``) at the cell's expression
  level (log-normal, sd 0.3), a dim cytoplasm (8 % of the membrane level) and a few membrane-bound
  vesicles per cell (single bright voxels inside the cell: distractors that are not membrane).
- Optics and camera (:mod:`._microscope`): a Gaussian point spread function of 0.30 um lateral and
  0.60 um axial full width at half maximum (a dithered square lattice), nearly flat illumination,
  shot noise, an sCMOS camera (offset 100 counts, gain 2, read noise 3 counts), and saturated hot
  pixels at a rate of ``outlier_fraction`` (2 per 100,000 voxels by default: fewer than the 0.01 %
  above the 99.99th percentile, so percentile scaling clips them while min-max scaling is squeezed
  by them).

Voxels are 0.2 x 0.1 x 0.1 um (z, y, x), lattice light-sheet-like after deskewing; the default
field of 64 x 128 x 128 voxels, the paper's training patch, is 12.8 um on each side and holds parts
of about 75 cells of 4.5 um (a dense embryonic tissue), most of them cut by the field's faces.

Examples
--------
>>> from helpers.synthetic import membranes
>>> volume = membranes.make_volume((32, 64, 64), seed=0)
>>> volume.image.dtype, volume.labels.dtype, volume.image.shape, volume.voxel_size
(dtype('uint16'), dtype('int32'), (32, 64, 64), (0.2, 0.1, 0.1))
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .._checks import check_number, check_shape, check_voxel_size
from ..membranes import labels_to_membranes
from ._microscope import Microscope, blur, camera, illumination

__all__ = ["MembraneVolume", "make_volume", "LATTICE_VOXEL_SIZE", "LATTICE_MICROSCOPE"]

#: Voxel size (z, y, x) in micrometres of the synthetic lattice light-sheet volumes.
LATTICE_VOXEL_SIZE = (0.2, 0.1, 0.1)

#: Optics and camera of the synthetic lattice light-sheet microscope.
LATTICE_MICROSCOPE = Microscope(voxel_size=LATTICE_VOXEL_SIZE, fwhm_lateral=0.30, fwhm_axial=0.60,
                                offset=100.0, gain=2.0, read_noise=3.0, vignetting=0.1)

#: Expected photo-electrons of a membrane voxel of an average cell (before blurring).
_MEMBRANE_ELECTRONS = 120.0
_CYTOPLASM_FRACTION = 0.08
_VESICLES_PER_CELL = 3
_VESICLE_BRIGHTNESS = 3.0


class MembraneVolume(NamedTuple):
    """A synthetic membrane volume: ``image, labels, voxel_size = make_volume(...)``.

    Attributes
    ----------
    image : numpy.ndarray of uint16, shape (Z, Y, X)
        The recorded fluorescence (camera counts).
    labels : numpy.ndarray of int32, shape (Z, Y, X)
        Cell labels 1..n (every voxel belongs to a cell).
    voxel_size : tuple of 3 floats
        (z, y, x) in micrometres.
    """

    image: np.ndarray
    labels: np.ndarray
    voxel_size: tuple


def _spread_centres(low, high, spacing, rng, tries: int) -> np.ndarray:
    """Points in the box [low, high) at least ``spacing`` apart (dart throwing: too close a candidate is dropped)."""
    candidates = rng.uniform(low, high, size=(tries, 3))
    kept = np.empty((0, 3))
    for point in candidates:
        if kept.shape[0] == 0 or np.min(np.sum((kept - point) ** 2, axis=1)) >= spacing ** 2:
            kept = np.vstack([kept, point])
    return kept


def _cell_labels(shape, voxel_size, cell_diameter, rng) -> np.ndarray:
    extent = np.asarray(shape) * np.asarray(voxel_size)
    margin = 0.6 * cell_diameter
    spacing = 0.8 * cell_diameter
    box_volume = float(np.prod(extent + 2 * margin))
    tries = int(min(200_000, 12 * box_volume / spacing ** 3 + 200))
    centres = _spread_centres(-margin, extent + margin, spacing, rng, tries)
    # smooth warp: three random plane waves per axis, so the Voronoi faces are gently curved
    axes = [np.arange(n, dtype=np.float32) * v for n, v in zip(shape, voxel_size)]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    warped = []
    for coordinate in (z, y, x):
        shifted = np.broadcast_to(coordinate, shape).astype(np.float32)
        for _ in range(3):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            wavelength = rng.uniform(1.2, 2.5) * cell_diameter
            phase = rng.uniform(0, 2 * np.pi)
            k = (2 * np.pi / wavelength * direction).astype(np.float32)
            argument = k[0] * z + k[1] * y + (k[2] * x + np.float32(phase))
            shifted += np.float32(0.06 * cell_diameter / np.sqrt(3)) * np.sin(argument)
        warped.append(shifted)
    points = np.stack(warped, axis=-1)  # (Z, Y, X, 3) warped positions in micrometres
    return _nearest_centre(points, centres.astype(np.float32))


def _nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Label 1..n of the nearest centre of every point (labels numbered in the order of the centres).

    Exact and fast: the field is cut into blocks, and only centres that can be nearest to some point
    of a block are compared (a centre farther from the block's bounding-box centre than the nearest
    one plus the box's diagonal never is); the squared distances come from one matrix product.
    """
    shape = points.shape[:3]
    nearest = np.empty(shape, dtype=np.int64)
    squared = (centres ** 2).sum(1)
    step = (8, 16, 16)
    for z0 in range(0, shape[0], step[0]):
        for y0 in range(0, shape[1], step[1]):
            for x0 in range(0, shape[2], step[2]):
                block = (slice(z0, z0 + step[0]), slice(y0, y0 + step[1]), slice(x0, x0 + step[2]))
                cloud = points[block].reshape(-1, 3)
                low, high = cloud.min(0), cloud.max(0)
                middle, diagonal = (low + high) / 2, float(np.linalg.norm(high - low))
                reach = np.linalg.norm(centres - middle, axis=1)
                candidates = np.flatnonzero(reach <= reach.min() + diagonal)
                c = centres[candidates]
                choice = np.argmin(squared[candidates][None, :] - 2 * (cloud @ c.T), axis=1)
                nearest[block] = candidates[choice].reshape(nearest[block].shape)
    used = np.zeros(len(centres), dtype=bool)
    used[nearest.ravel()] = True
    renumber = np.cumsum(used).astype(np.int32)  # 1..n in order of the centres
    return renumber[nearest]


def make_volume(shape=(64, 128, 128), *, seed: int = 0, voxel_size=LATTICE_VOXEL_SIZE,
                cell_diameter: float = 4.5, outlier_fraction: float = 2e-5) -> MembraneVolume:
    """Draw a lattice light-sheet-like volume of membrane-labelled cells and its cell labels.

    Parameters
    ----------
    shape : (Z, Y, X) ints
        Field size in voxels, each at least 8.
    seed : int
        The same arguments and seed give the same volume, voxel for voxel.
    voxel_size : (z, y, x) floats
        Micrometres per voxel (default :data:`LATTICE_VOXEL_SIZE`, 0.2 x 0.1 x 0.1).
    cell_diameter : float
        Typical cell size in micrometres (> 0); centres are at least 0.8 of it apart.
    outlier_fraction : float
        Share of voxels that are saturated hot pixels (counts 20000-65535), in [0, 0.01].

    Returns
    -------
    MembraneVolume
        ``image`` (Z, Y, X) uint16, ``labels`` (Z, Y, X) int32 cell labels 1..n, ``voxel_size``.

    Raises
    ------
    ValueError
        For a shape, voxel size or parameter out of range.
    """
    shape = check_shape(shape, "shape", minimum=8)
    voxel_size = check_voxel_size(voxel_size)
    if voxel_size is None:
        raise ValueError("`voxel_size` is needed to draw cells of a real size; e.g. (0.2, 0.1, 0.1).")
    seed = check_number(seed, "seed", minimum=0, integer=True)
    cell_diameter = check_number(cell_diameter, "cell_diameter", minimum=0, min_inclusive=False,
                                 hint="Give it in micrometres, e.g. 4.5.")
    outlier_fraction = check_number(outlier_fraction, "outlier_fraction", minimum=0, maximum=0.01,
                                    hint="A few per 100,000 voxels (2e-5) is typical of a camera.")
    rng = np.random.default_rng(seed)
    labels = _cell_labels(shape, voxel_size, cell_diameter, rng)
    n = int(labels.max())
    brightness = rng.lognormal(0.0, 0.3, n + 1).astype(np.float32)
    brightness /= brightness[1:].mean()
    level = brightness[labels] * np.float32(_MEMBRANE_ELECTRONS)
    membrane = labels_to_membranes(labels)
    density = np.where(membrane, level, level * np.float32(_CYTOPLASM_FRACTION))
    # membrane-bound vesicles: bright single voxels away from the membranes
    interior = np.flatnonzero(~membrane)
    if interior.size:
        vesicles = rng.choice(interior, size=min(interior.size, _VESICLES_PER_CELL * n), replace=False)
        density.reshape(-1)[vesicles] = level.reshape(-1)[vesicles] * np.float32(_VESICLE_BRIGHTNESS)
    microscope = replace(LATTICE_MICROSCOPE, voxel_size=voxel_size)
    expected = blur(density, microscope) * illumination(shape, microscope, rng)
    hot = int(round(outlier_fraction * labels.size))
    image = camera(expected, microscope, rng, hot_pixels=hot)
    return MembraneVolume(image, labels, tuple(voxel_size))
