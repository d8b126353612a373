"""Drawing primitives: curves, tubes, sheets and blobs on the voxel grid, each with its ground truth.

Every primitive (``thicken``, ``blob``) returns two boolean images: the *geometry* (where the fluorophore is, the voxels whose
centre lies inside the object, at least the voxels its centre line or mid-surface passes through) and
the *truth* (what a perfect segmentation should return). They differ only for objects thinner than
the optics resolve: an object is never thinner in the truth than the point spread function's full
width at half maximum (FWHM), because its image is that wide. That is one rule for every pattern: the
truth is the boundary at half maximum of the object's blurred image, computed from the geometry
(for objects larger than the PSF it is the geometry itself; for a microtubule it is a tube one lateral
FWHM wide and one axial FWHM tall around the centre line).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._cells import ellipsoid_mask
from ._microscope import Microscope


def rasterize(shape, points_voxels) -> np.ndarray:
    """(Z, Y, X) bool: the voxels containing the given (N, 3) points; points outside are ignored."""
    out = np.zeros(shape, bool)
    p = np.rint(np.asarray(points_voxels, float)).astype(int).reshape(-1, 3)
    inside = np.all((p >= 0) & (p < np.array(shape)), axis=1)
    p = p[inside]
    out[p[:, 0], p[:, 1], p[:, 2]] = True
    return out


def polyline(vertices_um, step_um: float = 0.03) -> np.ndarray:
    """Points every ``step_um`` along the straight segments joining (N, D) vertices (micrometres)."""
    v = np.asarray(vertices_um, float)
    pieces = []
    for a, b in zip(v[:-1], v[1:]):
        n = max(2, int(np.ceil(np.linalg.norm(b - a) / step_um)) + 1)
        pieces.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    return np.concatenate(pieces) if pieces else v.copy()


def smooth_random_field(shape, correlation_voxels, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field with zero mean and unit standard deviation (blurred white noise).

    For patchiness, waviness and breaks: threshold it, scale it, or exponentiate it for a positive
    log-normal texture. ``correlation_voxels`` is the Gaussian sigma (scalar or one per axis).
    """
    field = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), correlation_voxels, mode="wrap")
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def thicken(centre: np.ndarray, radius_um, microscope: Microscope) -> tuple[np.ndarray, np.ndarray]:
    """Tubes or sheets around a centre line or mid-surface: (geometry, truth).

    Parameters
    ----------
    centre : (Z, Y, X) bool
        The rasterized centre line(s) or surface(s).
    radius_um : float or (Z, Y, X) float array
        The object's real radius (half thickness for a sheet) in micrometres; an array gives each
        centre voxel its own radius (read where ``centre`` is True).
    microscope : Microscope
        Voxel size and PSF (the truth is at least one FWHM thick, see the module docstring).
    """
    centre = np.asarray(centre, bool)
    if not centre.any():
        return centre.copy(), centre.copy()
    per_voxel = np.ndim(radius_um) > 0
    radius = np.asarray(radius_um, np.float32)
    half_fwhm = microscope.fwhm_lateral / 2
    distance, index = ndimage.distance_transform_edt(~centre, sampling=microscope.voxel_size,
                                                     return_indices=True)
    nearest_radius = radius[tuple(index)] if per_voxel else radius
    geometry = centre | (distance <= nearest_radius)
    # the PSF-sized tube around the centre (exact: a distance in the metric where the PSF is round) ...
    optical = ndimage.distance_transform_edt(~centre, sampling=microscope.optical_sampling)
    truth = geometry | (optical <= half_fwhm)
    # ... and, for objects thicker than the PSF laterally but thinner than it axially, the half-maximum
    # cross-section: an ellipse with semi-axes max(radius, half the FWHM) in z and in the plane
    vz, vy, vx = microscope.voxel_size
    zz, yy, xx = np.indices(centre.shape, sparse=True)
    dz = (zz - index[0]) * vz
    lateral = np.hypot((yy - index[1]) * vy, (xx - index[2]) * vx)
    truth |= ((dz / np.maximum(nearest_radius, microscope.fwhm_axial / 2)) ** 2
              + (lateral / np.maximum(nearest_radius, half_fwhm)) ** 2) <= 1
    return geometry, truth


def blob(shape, microscope: Microscope, centre_voxels, radii_um, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoidal vesicle, dot or blob: (geometry, truth).

    ``radii_um`` are the semi-axes (z, in-plane a, in-plane b) in micrometres. A blob smaller than the
    PSF has a truth with semi-axes of half the FWHM (lateral and axial); its geometry is at least the
    voxel holding its centre.
    """
    rz, ra, rb = radii_um
    geometry = ellipsoid_mask(shape, microscope.voxel_size, centre_voxels, radii_um, angle)
    geometry |= rasterize(shape, [centre_voxels])
    truth_radii = (max(rz, microscope.fwhm_axial / 2), max(ra, microscope.fwhm_lateral / 2),
                   max(rb, microscope.fwhm_lateral / 2))
    truth = geometry | ellipsoid_mask(shape, microscope.voxel_size, centre_voxels, truth_radii, angle)
    return geometry, truth


def surface_of(solid: np.ndarray) -> np.ndarray:
    """(Z, Y, X) bool: the one-voxel outer layer of a solid (its voxels with a face neighbour outside)."""
    solid = np.asarray(solid, bool)
    return solid & ~ndimage.binary_erosion(solid, border_value=1)


def label_by_nearest(truth: np.ndarray, centre_labels: np.ndarray, voxel_size) -> np.ndarray:
    """(Z, Y, X) int32: each truth voxel takes the label of the nearest labelled centre voxel."""
    labelled = centre_labels > 0
    if not labelled.any():
        return np.zeros(truth.shape, np.int32)
    index = ndimage.distance_transform_edt(~labelled, sampling=voxel_size, return_distances=False,
                                           return_indices=True)
    return np.where(truth, centre_labels[tuple(index)], 0).astype(np.int32)
