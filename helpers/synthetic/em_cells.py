"""A small synthetic serial-block-face EM volume of densely packed cells, with class labels.

Dense cellular segmentation in serial-block-face electron microscopy (SBF-EM) labels every voxel of a
block of tissue: the space between cells, each cell's cytoplasm, its boundary membrane and its
organelles. This module draws such a block: cells packed like a Voronoi diagram of random centres
with a thin extracellular gap between them, a nucleus in most cells, elongated mitochondria in the
cytoplasm, imaged the way heavy-metal stained EM looks (membranes, the nuclear envelope and
mitochondria dark, the extracellular space and the cytoplasm light, grainy texture, a slight blur,
8-bit grey levels).
Voxels are anisotropic as in SBF-EM: the section thickness (z) is 2.5 times the pixel size.

Classes (``CLASS_NAMES``)::

    0  background      the extracellular space between cells and any region free of cells
    1  cytoplasm       the inside of a cell that is not one of the classes below
    2  membrane        the cell's boundary, about 1.5 voxels thick
    3  nucleus         one ellipsoid in most cells
    4  mitochondrion   small elongated ellipsoids in the cytoplasm

``ORGANELLE_CLASSES`` = (3, 4): the mean IoU "over organelle classes" of the 2D-3D SBF-EM study
averages these, the mean IoU "over all classes" averages 0 .. 4.

Example
-------
>>> from helpers.synthetic import em_cells
>>> volume = em_cells.make_volume(shape=(16, 48, 48), seed=1)
>>> volume.image.dtype, volume.labels.shape, sorted(set(volume.labels.ravel().tolist()))
(dtype('uint8'), (16, 48, 48), [0, 1, 2, 3, 4])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .._checks import check_number, check_shape

__all__ = ["EMVolume", "make_volume", "CLASS_NAMES", "ORGANELLE_CLASSES", "VOXEL_SIZE"]

#: Name of every class label.
CLASS_NAMES = {0: "background", 1: "cytoplasm", 2: "membrane", 3: "nucleus", 4: "mitochondrion"}
#: The organelle classes (scored separately, as in the SBF-EM study).
ORGANELLE_CLASSES = (3, 4)
#: Voxel size (z, y, x) in micrometres: 25 nm sections, 10 nm pixels.
VOXEL_SIZE = (0.025, 0.01, 0.01)

_ANISOTROPY = VOXEL_SIZE[0] / VOXEL_SIZE[2]
# Mean grey level of each class before texture, blur and noise (0 black .. 1 white).
_GREY = {0: 0.82, 1: 0.60, 2: 0.18, 3: 0.50, 4: 0.30}
_CELL_SPACING = 34.0  # mean distance between cell centres, in x-y voxels
_GAP = 0.6  # half-width of the extracellular gap between two cells, in x-y voxels
_MEMBRANE = 1.5  # membrane thickness, in x-y voxels
_MIN_SHAPE = (8, 32, 32)


class EMVolume(NamedTuple):
    """A synthetic SBF-EM volume.

    Attributes
    ----------
    image : numpy.ndarray of uint8, shape (Z, Y, X)
        EM-like grey levels (membranes dark).
    labels : numpy.ndarray of uint8, shape (Z, Y, X)
        The class of every voxel, 0 .. 4 (see ``CLASS_NAMES``).
    voxel_size : tuple of 3 float
        (z, y, x) in micrometres.
    """

    image: np.ndarray
    labels: np.ndarray
    voxel_size: tuple


def _boundary_distance(points, seeds):
    """Nearest seed of every point and its distance to the nearest Voronoi face (same units)."""
    distances, nearest = cKDTree(seeds).query(points, k=2)
    a, b = seeds[nearest[:, 0]], seeds[nearest[:, 1]]
    separation = np.maximum(np.linalg.norm(a - b, axis=1), 1e-6)
    # distance of a point to the bisecting plane of its two nearest seeds
    face = (distances[:, 1] ** 2 - distances[:, 0] ** 2) / (2.0 * separation)
    return nearest[:, 0], face


def _paint_ellipsoid(target, centre, radii, axes, value, allowed):
    """Set ``target`` to ``value`` inside an ellipsoid (voxel coordinates, z scaled) where ``allowed``."""
    reach = np.ceil(np.max(radii) / np.array([_ANISOTROPY, 1.0, 1.0])).astype(int) + 1
    low = np.maximum(np.floor(centre / [_ANISOTROPY, 1, 1]).astype(int) - reach, 0)
    high = np.minimum(np.floor(centre / [_ANISOTROPY, 1, 1]).astype(int) + reach + 1, target.shape)
    if np.any(high <= low):
        return
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high)], indexing="ij"), axis=-1)
    offsets = grid * [_ANISOTROPY, 1.0, 1.0] - centre
    local = offsets @ axes.T / radii
    inside = (local ** 2).sum(axis=-1) <= 1.0
    box = tuple(slice(a, b) for a, b in zip(low, high))
    inside &= allowed[box]
    target[box][inside] = value


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def make_volume(shape=(32, 96, 96), *, seed: int = 0) -> EMVolume:
    """Draw a synthetic SBF-EM block of packed cells with its class labels.

    Parameters
    ----------
    shape : (Z, Y, X) ints
        Size in voxels; at least 8 x 32 x 32. Cells keep their size (about 34 pixels across), so
        a larger block holds more of them.
    seed : int
        The same shape and seed give the same image and labels, voxel for voxel.

    Returns
    -------
    EMVolume
        ``(image, labels, voxel_size)``: uint8 image and uint8 labels, both (Z, Y, X), and
        ``VOXEL_SIZE``.

    Raises
    ------
    ValueError
        For a shape that is not three whole numbers at least 8 x 32 x 32, or a negative seed.
    """
    shape = check_shape(shape, "shape")
    if any(s < m for s, m in zip(shape, _MIN_SHAPE)):
        raise ValueError(f"`shape` must be at least {_MIN_SHAPE} (Z, Y, X) to hold a few cells; got {shape}.")
    seed = check_number(seed, "seed", minimum=0, integer=True)
    rng = np.random.default_rng(seed)
    extent = np.array(shape, float) * [_ANISOTROPY, 1.0, 1.0]  # in x-y voxel units

    # cell centres over the block plus a margin (cells are cut by the block's faces)
    margin = 0.5 * _CELL_SPACING
    n_seeds = max(4, int(round(np.prod(extent + 2 * margin) / _CELL_SPACING ** 3)))
    seeds = rng.uniform(-margin, extent + margin, size=(n_seeds, 3))
    is_cell = rng.random(n_seeds) > 0.15  # some regions are extracellular space

    points = np.stack(np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij"), axis=-1)
    points = points.reshape(-1, 3) * [_ANISOTROPY, 1.0, 1.0]
    owner, face = _boundary_distance(points, seeds)
    owner, face = owner.reshape(shape), face.reshape(shape)

    labels = np.zeros(shape, np.uint8)
    in_cell = is_cell[owner] & (face >= _GAP)
    labels[in_cell] = 1
    labels[in_cell & (face < _GAP + _MEMBRANE)] = 2
    interior = in_cell & (face >= _GAP + _MEMBRANE + 1.0)

    for index in np.flatnonzero(is_cell):
        cell_interior = interior & (owner == index)
        if not cell_interior.any():
            continue
        nucleus_free = cell_interior.copy()
        if rng.random() < 0.75:
            radii = rng.uniform(0.28, 0.36, 3) * _CELL_SPACING
            centre = seeds[index] + rng.normal(0, 2.0, 3)
            nucleus = np.zeros(shape, bool)
            _paint_ellipsoid(nucleus, centre, radii, _random_rotation(rng), True, cell_interior)
            labels[nucleus] = 3
            # keep mitochondria a little away from the nucleus
            nucleus_free &= ~ndimage.binary_dilation(nucleus, iterations=2)
        candidates = np.argwhere(nucleus_free)
        for _ in range(rng.integers(3, 7)):
            if len(candidates) == 0:
                break
            centre = candidates[rng.integers(len(candidates))] * [_ANISOTROPY, 1.0, 1.0]
            radii = np.array([rng.uniform(6.0, 10.0), rng.uniform(2.5, 3.5), rng.uniform(2.5, 3.5)])
            _paint_ellipsoid(labels, centre, radii, _random_rotation(rng), 4, nucleus_free)

    image = np.vectorize(_GREY.get, otypes=[np.float32])(labels)
    # cytoplasm and nucleus grain (ribosomes, chromatin), darker rims of mitochondria
    grain = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), (0.6, 1.5, 1.5))
    grain /= grain.std() + 1e-6
    image += 0.05 * grain * np.isin(labels, (1, 3))
    heterochromatin = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), (1.0, 3.0, 3.0))
    image -= 0.12 * (heterochromatin > 0.08) * (labels == 3)
    for organelle, darker in ((3, 0.15), (4, 0.08)):  # the nuclear envelope, the mitochondrial membranes
        inside = labels == organelle
        image[inside & ~ndimage.binary_erosion(inside)] -= darker
    image = ndimage.gaussian_filter(image, (0.4, 0.8, 0.8))
    image += rng.normal(0, 0.05, shape).astype(np.float32)
    image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return EMVolume(image=image, labels=labels, voxel_size=VOXEL_SIZE)
