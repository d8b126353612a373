"""A FIB-SEM-like slab through a meiotic nucleus, with five-class ground truth and chromosome instances.

The FIB-SEM study of sub-nuclear structures (NETWORKS.md, "Other networks in the seed papers") trains
a multi-class U-Net on four classes inside the nucleus (nucleoplasm, nucleolus, chromosomes,
synaptonemal complex) plus a fifth class for everything outside the nucleus, which the loss ignores.
No such volume can be downloaded here, so :func:`make_volume` draws one with a known answer.

What is drawn (sizes in micrometres, the default voxel is 0.05 um, isotropic, as in binned FIB-SEM):

- the **nucleus**: a large sphere (radius 4.5 to 5.5 um) with a gently wavy surface whose centre lies
  off the field, so that one side of the field shows **cytoplasm** (class 4, outside the nucleus)
  beyond a dark double **nuclear envelope** (counted as outside too);
- one or two **nucleoli** (class 1): lobed dense bodies 1.0 to 1.6 um across, granular inside;
- up to six **chromosomes** (class 2; four to six in the default field, fewer in small ones): bent
  rods 1.8 to 3.2 um long and 0.4 to 0.6 um thick lying roughly in the x-y plane, wholly inside the
  field, at least ``CHROMOSOME_GAP`` apart from each other and from the nucleoli, so that
  26-connected components count them one by one;
- the **synaptonemal complex** (class 3): a ribbon of two dense lateral elements 0.2 um apart with a
  fainter central element, running along the axis of most chromosomes (the paired homologues of a
  pachytene bivalent) and, once or twice, on its own in the nucleoplasm (an unsynapsed stretch).
  Inside a chromosome the complex's voxels are class 3, not 2.

Contrast: dense, heavy-metal-stained material is **dark** on a lighter nucleoplasm, the way FIB-SEM
backscatter images are usually shown after inversion (darkest: the synaptonemal complex's lateral
elements, then the nucleolus, the chromosomes and the envelope; cytoplasm a little darker than
nucleoplasm, with dark ribosome specks and a few vesicles). The image has a granular texture, a
slight blur, Gaussian detector noise, a brightness drift along z and slice-to-slice brightness
jitter (milling and detector drift), and is stored as uint8 like most FIB-SEM data. ``contrast``
applies ``offset + gain * value ** gamma`` to the noise-bearing image scaled to [0, 1] before it is
stored, which makes "the same kind of volume, acquired with other detector settings" for the
histogram-matching step (:mod:`helpers.histogram_matching`).

Examples
--------
>>> from helpers.synthetic import em_nucleus
>>> volume = em_nucleus.make_volume(shape=(48, 128, 128), seed=0)
>>> volume.image.dtype, volume.labels.dtype, volume.voxel_size
(dtype('uint8'), dtype('uint8'), (0.05, 0.05, 0.05))
>>> em_nucleus.CLASS_NAMES[em_nucleus.IGNORE_CLASS]
'outside nucleus'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import ndimage

from .._checks import check_number, check_shape, check_voxel_size

__all__ = ["CLASS_NAMES", "IGNORE_CLASS", "CHROMOSOME_CLASS", "Contrast", "EMVolume", "make_volume",
           "DEFAULT_VOXEL_SIZE", "CHROMOSOME_GAP"]

#: Names of the classes 0..4 of :attr:`EMVolume.labels`.
CLASS_NAMES = ("nucleoplasm", "nucleolus", "chromosome", "synaptonemal complex", "outside nucleus")
#: The class a training loss ignores and scores leave out: cytoplasm and envelope beyond the nucleus.
IGNORE_CLASS = 4
#: The class whose 26-connected components are the chromosomes.
CHROMOSOME_CLASS = 2
#: Voxel size (z, y, x) in micrometres: binned isotropic FIB-SEM.
DEFAULT_VOXEL_SIZE = (0.05, 0.05, 0.05)
#: Smallest distance between two chromosomes, and between a chromosome and a nucleolus, in um.
CHROMOSOME_GAP = 0.25

# Grey levels (0 = black, 1 = white) of the noise-free image.
_NUCLEOPLASM, _CYTOPLASM, _ENVELOPE = 0.72, 0.62, 0.30
_NUCLEOLUS, _CHROMOSOME, _LATERAL, _CENTRAL = 0.30, 0.42, 0.12, 0.30


@dataclass(frozen=True)
class Contrast:
    """A monotone grey-level change: ``offset + gain * value ** gamma`` on values scaled to [0, 1].

    The identity (1, 1, 0) is the training data's contrast; e.g. ``Contrast(gamma=1.6, gain=0.8,
    offset=0.1)`` gives darker mid-tones in a narrower range. Results are clipped to [0, 1] before
    they are stored as 0..255.
    """

    gamma: float = 1.0
    gain: float = 1.0
    offset: float = 0.0

    def __post_init__(self):
        check_number(self.gamma, "contrast gamma", minimum=0.0, min_inclusive=False,
                     hint="Use e.g. 0.6 to brighten mid-tones or 1.6 to darken them.")
        check_number(self.gain, "contrast gain", minimum=0.0, min_inclusive=False,
                     hint="The gain must be positive so that dark stays dark.")
        check_number(self.offset, "contrast offset", minimum=-1.0, maximum=1.0)


@dataclass(frozen=True)
class EMVolume:
    """What :func:`make_volume` returns.

    Attributes
    ----------
    image : numpy.ndarray of uint8, shape (Z, Y, X)
        The FIB-SEM-like volume (dense structures dark).
    labels : numpy.ndarray of uint8, shape (Z, Y, X)
        Classes 0..4, named by :data:`CLASS_NAMES`; 4 (:data:`IGNORE_CLASS`) is outside the nucleus.
    chromosomes : numpy.ndarray of int32, shape (Z, Y, X)
        One label 1..n per chromosome, 0 elsewhere; nonzero exactly where ``labels == 2``.
    voxel_size : tuple of 3 float
        (z, y, x) in micrometres.
    contrast : Contrast
        The grey-level change applied.
    """

    image: np.ndarray
    labels: np.ndarray
    chromosomes: np.ndarray
    voxel_size: tuple
    contrast: Contrast

    @property
    def chromosome_count(self) -> int:
        """The number of chromosomes drawn (and of 26-connected components of class 2)."""
        return int(self.chromosomes.max())


def _check_contrast(contrast) -> Contrast:
    if contrast is None:
        return Contrast()
    if isinstance(contrast, Contrast):
        return contrast
    if isinstance(contrast, Mapping):
        unknown = sorted(set(contrast) - {"gamma", "gain", "offset"})
        if unknown:
            raise ValueError(f"`contrast` has unknown key(s) {', '.join(unknown)}; use gamma, gain and offset, "
                             "e.g. {'gamma': 1.5, 'gain': 0.8, 'offset': 0.1}.")
        return Contrast(**contrast)
    raise ValueError(f"`contrast` must be a Contrast, a dict with gamma / gain / offset, or None; got {contrast!r}.")


def _smooth_noise(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation (low resolution, then zoomed)."""
    step = max(1, int(sigma // 2))
    small = tuple(max(2, math.ceil(s / step) + 1) for s in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(small).astype(np.float32), sigma / step, mode="wrap")
    if step > 1:
        field = ndimage.zoom(field, step, order=1)
    field = field[tuple(slice(0, s) for s in shape)]
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def _curve(start, heading, tilt, length, step, bend, rng) -> np.ndarray:
    """Points (n, 3) in voxels along a smoothly bending path in the x-y plane with a slight z tilt."""
    n = max(2, int(length / step) + 1)
    turn = np.cumsum(rng.normal(0.0, bend, n)) * step  # heading changes smoothly (integrated noise)
    turn = ndimage.gaussian_filter1d(turn, 3.0)
    angles = heading + turn
    directions = np.stack([np.full(n, math.sin(tilt)), math.cos(tilt) * np.sin(angles),
                           math.cos(tilt) * np.cos(angles)], axis=1)
    return np.asarray(start, float) + np.cumsum(directions * step, axis=0) - directions[0] * step


def _normals(points: np.ndarray) -> np.ndarray:
    """Unit vectors perpendicular to the path and to z (in the x-y plane), one per point."""
    tangent = np.gradient(points, axis=0)
    normal = np.stack([np.zeros(len(points)), -tangent[:, 2], tangent[:, 1]], axis=1)
    return normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)


def _tube(shape, points: np.ndarray, radius_um: float, voxel_size) -> tuple[tuple, np.ndarray]:
    """(box, mask in the box) of the voxels within ``radius_um`` of a path of points (voxel coordinates).

    The distance transform runs in the path's bounding box only (grown by the radius), which keeps
    drawing many thin objects in a large field cheap.
    """
    reach = np.ceil(radius_um / np.asarray(voxel_size)).astype(int) + 1
    voxels = np.rint(points).astype(int)
    low = np.maximum(voxels.min(axis=0) - reach, 0)
    high = np.minimum(voxels.max(axis=0) + reach + 1, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    seeds = np.ones(tuple(high - low), bool)
    local = voxels - low
    keep = np.all((local >= 0) & (local < high - low), axis=1)
    seeds[tuple(local[keep].T)] = False
    if seeds.all():
        return box, np.zeros(seeds.shape, bool)
    return box, ndimage.distance_transform_edt(seeds, sampling=voxel_size) <= radius_um


def _nucleus(shape, voxel_size, rng):
    """(centre in voxels, radius in um) of a nucleus that covers most of the field."""
    size_um = np.array(shape) * voxel_size
    radius = rng.uniform(4.5, 5.5)
    angle = rng.uniform(0, 2 * math.pi)
    # The centre lies so that the envelope crosses the field at 78-92 % of its width from the far side.
    reach = rng.uniform(0.78, 0.92) * size_um[1:].mean()
    centre_um = np.array([size_um[0] / 2, size_um[1] / 2, size_um[2] / 2])
    centre_um[1:] += (radius - reach + size_um[1:].mean() / 2) * np.array([math.sin(angle), math.cos(angle)])
    return centre_um / voxel_size, radius


def make_volume(shape=(48, 128, 128), *, seed: int = 0, voxel_size=DEFAULT_VOXEL_SIZE, contrast=None,
                noise_sd: float = 0.05, z_drift: float = 0.08) -> EMVolume:
    """Draw a FIB-SEM-like volume of part of a meiotic nucleus with its five-class ground truth.

    Parameters
    ----------
    shape : (Z, Y, X) ints
        Size in voxels; at least 24 x 64 x 64. Chromosomes are drawn only where they fit whole, so
        a small field may hold none (the default field holds four to six). The default takes well
        under 2 s.
    seed : int
        The same arguments and seed give the same volume, voxel for voxel.
    voxel_size : (z, y, x) floats
        Voxel size in micrometres (default 0.05 um, isotropic). Structures keep their size in
        micrometres, so smaller voxels show a smaller piece of the nucleus.
    contrast : Contrast or dict, optional
        Grey-level change ``offset + gain * value ** gamma`` (see :class:`Contrast`); default the
        identity. Everything else (geometry, texture, noise) depends on the seed only, so the same
        seed with another contrast is the same volume seen with other detector settings.
    noise_sd : float
        Standard deviation of the detector noise, in units of the [0, 1] grey range.
    z_drift : float
        Relative brightness change from the first to the last slice (FIB-SEM milling drift); each
        slice also gets a random brightness offset of a quarter of this.

    Returns
    -------
    EMVolume
        ``image`` (uint8), ``labels`` (uint8 classes 0..4, see :data:`CLASS_NAMES`), ``chromosomes``
        (int32 instance labels), ``voxel_size`` and ``contrast``.

    Raises
    ------
    ValueError
        For a shape smaller than 24 x 64 x 64, a bad voxel size, contrast or noise setting.
    """
    shape = check_shape(shape, "shape")
    if shape[0] < 24 or min(shape[1:]) < 64:
        raise ValueError(f"`shape` must be at least (24, 64, 64) voxels (Z, Y, X); got {shape}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be a whole number, got {seed!r}.")
    voxel = np.array(check_voxel_size(voxel_size), float)
    contrast = _check_contrast(contrast)
    noise_sd = check_number(noise_sd, "noise_sd", minimum=0.0, maximum=0.5)
    z_drift = check_number(z_drift, "z_drift", minimum=0.0, maximum=0.5)
    rng = np.random.default_rng(seed)
    grid_um = [np.arange(n, dtype=np.float32) * v for n, v in zip(shape, voxel)]

    # Nucleus: a sphere with a wavy surface (low-frequency noise moves the envelope by up to ~0.2 um).
    centre, radius = _nucleus(shape, voxel, rng)
    zz, yy, xx = np.meshgrid(*grid_um, indexing="ij", sparse=True)
    centre_um = centre * voxel
    radial = np.sqrt((zz - centre_um[0]) ** 2 + (yy - centre_um[1]) ** 2 + (xx - centre_um[2]) ** 2)
    wobble = 0.08 * _smooth_noise(shape, 0.8 / voxel[1], rng)
    depth = (radius + wobble) - radial  # um inside the envelope (negative outside)
    inside = depth > 0
    envelope = (np.abs(depth - 0.03) < 0.025) | (np.abs(depth + 0.05) < 0.025)  # two membranes, 80 nm apart

    # Nucleoli: lobed dense bodies, well inside the nucleus.
    nucleolus = np.zeros(shape, bool)
    bodies = []
    for _ in range(int(rng.integers(1, 3))):
        for _try in range(30):
            r = rng.uniform(0.5, 0.8)
            c = np.array([rng.uniform(0.3, 0.7) * shape[0], rng.uniform(0.15, 0.85) * shape[1],
                          rng.uniform(0.15, 0.85) * shape[2]]) * voxel
            if np.linalg.norm(c - centre_um) > radius - r - 0.4:
                continue
            if all(np.linalg.norm(c - b) > r + q + 0.6 for b, q in bodies):
                break
        else:
            continue
        bodies.append((c, r))
        for k in range(int(rng.integers(1, 4))):
            offset = rng.normal(size=3) * (0.4, 1, 1)
            offset *= (0.0 if k == 0 else r * 0.5) / max(np.linalg.norm(offset), 1e-9)
            lobe = r * (1.0 if k == 0 else rng.uniform(0.5, 0.75))
            axes = lobe * np.array([rng.uniform(0.75, 1.0), 1.0, rng.uniform(0.8, 1.0)])
            lc = c + offset
            nucleolus |= ((zz - lc[0]) / axes[0]) ** 2 + ((yy - lc[1]) / axes[1]) ** 2 + ((xx - lc[2]) / axes[2]) ** 2 < 1
    nucleolus &= depth > 0.2
    nucleolus_distance = ndimage.distance_transform_edt(~nucleolus, sampling=voxel) if nucleolus.any() else None

    # Chromosomes: bent rods placed one by one, refused when too close to the envelope, the field's
    # faces (so that none is cut in two), a nucleolus or another chromosome.
    step = 0.5  # voxels between path points
    rods: list[tuple[np.ndarray, float]] = []
    field_hi = np.array(shape) - 1
    wanted = int(rng.integers(4, 7))
    for _try in range(100 * wanted):
        if len(rods) == wanted:
            break
        thickness = rng.uniform(0.4, 0.6)
        r_um = thickness / 2
        length_um = rng.uniform(1.8, 3.2)
        path = _curve(np.zeros(3), rng.uniform(0, 2 * math.pi), rng.uniform(-0.12, 0.12), length_um / voxel[1],
                      step, 0.05, rng)
        margin = r_um / voxel + 2
        low, high = -path.min(axis=0) + margin, field_hi - path.max(axis=0) - margin
        if np.any(high < low):
            continue
        path = path + rng.uniform(low, high)  # anywhere it fits whole in the field
        path_um = path * voxel
        if np.any(np.linalg.norm(path_um - centre_um, axis=1) > radius - r_um - 0.35):
            continue
        if nucleolus_distance is not None:
            near = nucleolus_distance[tuple(np.rint(path).astype(int).T)]
            if np.any(near < r_um + CHROMOSOME_GAP):
                continue
        if any(np.min(np.linalg.norm(path_um[:, None] - other[None] * voxel, axis=2)) < r_um + q + CHROMOSOME_GAP
               for other, q in rods):
            continue
        rods.append((path, r_um))

    labels = np.zeros(shape, np.uint8)
    labels[nucleolus] = 1
    chromosomes = np.zeros(shape, np.int32)
    for number, (path, r_um) in enumerate(rods, start=1):
        box, solid = _tube(shape, path, r_um, voxel)
        chromosomes[box][solid] = number
    labels[chromosomes > 0] = 2

    # Synaptonemal complex: a ribbon along most chromosomes' axes, and one or two stretches on their own.
    ribbons = []
    for path, _ in rods:
        if rng.random() < 0.8:
            trim = int(len(path) * rng.uniform(0.05, 0.12))
            ribbons.append(path[trim:len(path) - trim])
    for _ in range(int(rng.integers(1, 3))):  # stretches on their own, 0.3 um clear of everything
        for _try in range(40):
            path = _curve(np.zeros(3), rng.uniform(0, 2 * math.pi), rng.uniform(-0.1, 0.1),
                          rng.uniform(0.8, 1.5) / voxel[1], step, 0.03, rng)
            low, high = -path.min(axis=0) + 3, field_hi - path.max(axis=0) - 3
            if np.any(high < low):
                continue
            path = path + rng.uniform(low, high)
            path_um = path * voxel
            if np.any(np.linalg.norm(path_um - centre_um, axis=1) > radius - 0.5):
                continue
            if nucleolus_distance is not None and np.any(nucleolus_distance[tuple(np.rint(path).astype(int).T)] < 0.3):
                continue
            if any(np.min(np.linalg.norm(path_um[:, None] - other[None] * voxel, axis=2)) < q + 0.3
                   for other, q in rods):
                continue
            ribbons.append(path)
            break
    half_width, element = 0.1, 0.035  # lateral elements 0.2 um apart, each ~70 nm thick
    complex_mask = np.zeros(shape, bool)
    lateral = np.zeros(shape, bool)
    central = np.zeros(shape, bool)
    for path in ribbons:
        normal = _normals(path) * (half_width / voxel[1])
        for side in (-1, 1):
            box, solid = _tube(shape, path + side * normal, element + voxel.min() / 2, voxel)
            lateral[box] |= solid
        box, solid = _tube(shape, path, 0.02 + voxel.min() / 2, voxel)
        central[box] |= solid
        across = np.concatenate([path + side * normal for side in np.linspace(-1, 1, 9)])
        box, solid = _tube(shape, across, element + voxel.min() / 2, voxel)
        complex_mask[box] |= solid
    complex_mask &= inside
    labels[complex_mask] = 3
    chromosomes[complex_mask] = 0
    outside = ~inside | envelope
    labels[outside] = IGNORE_CLASS
    chromosomes[outside] = 0
    if rods:  # keep the promise "one label per 26-connected component of class 2"
        chromosomes = _relabel_sequential(chromosomes)

    # The image: grey levels per compartment, textures, blur, drift, noise, contrast, uint8.
    grain = _smooth_noise(shape, 1.2, rng)
    coarse = _smooth_noise(shape, 4.0, rng)
    gray = np.where(inside, _NUCLEOPLASM + 0.035 * coarse + 0.02 * grain, _CYTOPLASM + 0.04 * coarse)
    specks = (_smooth_noise(shape, 0.8, rng) > 2.2) & ~inside  # ribosomes
    gray = np.where(specks, gray - 0.18, gray)
    for _ in range(6):  # vesicles: dark rims in the cytoplasm
        centre_vesicle = rng.uniform(0, 1, 3) * (np.array(shape) - 1)
        box, ball = _tube(shape, centre_vesicle[None], rng.uniform(0.12, 0.25), voxel)
        rim = ball & ~ndimage.binary_erosion(ball, iterations=1, border_value=1)
        gray[box] = np.where(rim & ~inside[box], 0.35, gray[box])
    gray = np.where(envelope, _ENVELOPE, gray)
    gray = np.where(nucleolus, _NUCLEOLUS + 0.06 * grain + 0.03 * coarse, gray)
    gray = np.where(labels == 2, _CHROMOSOME + 0.05 * grain, gray)
    gray = np.where(complex_mask & ~lateral, np.minimum(gray, _CENTRAL + 0.2 * (~central)), gray)
    gray = np.where(lateral & inside, _LATERAL, gray)
    gray = ndimage.gaussian_filter(gray.astype(np.float32), 0.7)
    drift = 1.0 - z_drift * np.linspace(-0.5, 0.5, shape[0], dtype=np.float32)
    drift += 0.25 * z_drift * rng.standard_normal(shape[0]).astype(np.float32)
    gray = gray * drift[:, None, None] + noise_sd * rng.standard_normal(shape, dtype=np.float32)
    gray = np.clip(gray, 0.0, 1.0)
    gray = np.clip(contrast.offset + contrast.gain * gray ** np.float32(contrast.gamma), 0.0, 1.0)
    image = np.rint(gray * 255).astype(np.uint8)
    return EMVolume(image=image, labels=labels, chromosomes=chromosomes,
                    voxel_size=tuple(float(v) for v in voxel), contrast=contrast)


def _relabel_sequential(instances: np.ndarray) -> np.ndarray:
    """Instance labels renumbered 1..n in order of first appearance; labels with no voxel left vanish."""
    present = np.unique(instances)
    present = present[present > 0]
    table = np.zeros(int(instances.max()) + 1, np.int32)
    table[present] = np.arange(1, len(present) + 1, dtype=np.int32)
    return table[instances]
