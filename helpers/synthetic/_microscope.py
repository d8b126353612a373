"""The imaging model: an anisotropic Gaussian point spread function, uneven illumination and a camera.

A structure enters as a noise-free density (expected photo-electrons per voxel before blurring) and
leaves as the uint16 image a spinning-disk confocal with an sCMOS camera would record: blurred by
the PSF, dimmed towards the field's edges, with Poisson (shot) noise, Gaussian read noise, a gain
and an offset. The numbers are those of the Allen Cell hiPS images: 100x / 1.25 NA water objective,
voxels of 0.108 x 0.108 x 0.29 um (x, y, z), background near 400 counts, structures up to a few
thousand counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Conversion between a Gaussian's standard deviation and its full width at half maximum.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class Microscope:
    """Optics and camera of a synthetic acquisition.

    Attributes
    ----------
    voxel_size : tuple of 3 floats
        (z, y, x) voxel size in micrometres.
    fwhm_lateral, fwhm_axial : float
        Full width at half maximum of the point spread function in x/y and in z (micrometres).
    offset : float
        Camera offset (counts of a dark pixel).
    gain : float
        Counts per photo-electron.
    read_noise : float
        Standard deviation of the camera read noise, in counts.
    vignetting : float
        Fraction of the illumination lost at the corners of the field (0 = perfectly flat).
    """

    voxel_size: tuple[float, float, float] = (0.29, 0.108, 0.108)
    fwhm_lateral: float = 0.26
    fwhm_axial: float = 0.80
    offset: float = 400.0
    gain: float = 2.0
    read_noise: float = 4.0
    vignetting: float = 0.3

    @property
    def sigma_voxels(self) -> tuple[float, float, float]:
        """PSF standard deviation in voxels, (z, y, x)."""
        vz, vy, vx = self.voxel_size
        lateral = self.fwhm_lateral / FWHM_PER_SIGMA
        return (self.fwhm_axial / FWHM_PER_SIGMA / vz, lateral / vy, lateral / vx)

    @property
    def optical_sampling(self) -> tuple[float, float, float]:
        """Voxel size in units in which the PSF is isotropic (z shrunk by lateral/axial FWHM).

        A distance measured with this sampling is "optical": one lateral FWHM is the same length in
        every direction, so a sub-resolution object thickened to half a lateral FWHM in this metric
        becomes an ellipsoid-sectioned tube as wide as its blurred image at half maximum.
        """
        vz, vy, vx = self.voxel_size
        return (vz * self.fwhm_lateral / self.fwhm_axial, vy, vx)


def blur(density: np.ndarray, microscope: Microscope) -> np.ndarray:
    """The density seen through the point spread function (a separable anisotropic Gaussian)."""
    return ndimage.gaussian_filter(density.astype(np.float32, copy=False), microscope.sigma_voxels,
                                   mode="nearest", truncate=3.0)


def illumination(shape, microscope: Microscope, rng: np.random.Generator) -> np.ndarray:
    """A smooth (1, Y, X) illumination profile: 1 at a randomly placed centre, dimmer towards the edges."""
    _, ny, nx = shape
    cy, cx = rng.uniform(0.3, 0.7, 2) * (ny, nx)
    yy, xx = np.ogrid[:ny, :nx]
    r2 = ((yy - cy) / ny) ** 2 + ((xx - cx) / nx) ** 2
    return (1.0 - microscope.vignetting * np.clip(r2 / 0.5, 0, 1)).astype(np.float32)[None]


def camera(expected_electrons: np.ndarray, microscope: Microscope, rng: np.random.Generator,
           hot_pixels: int = 0) -> np.ndarray:
    """Record an expected photo-electron image: shot noise, gain, offset, read noise, 16-bit clipping.

    ``hot_pixels`` voxels (chosen at random) saturate, as defective camera pixels do; presets with a
    min-max upper bound (MM) treat such outliers specially, so the samples carry a few.
    """
    electrons = rng.poisson(np.clip(expected_electrons, 0, None)).astype(np.float32)
    counts = microscope.offset + microscope.gain * electrons
    counts += rng.normal(0.0, microscope.read_noise, expected_electrons.shape).astype(np.float32)
    if hot_pixels:
        flat = rng.choice(counts.size, size=hot_pixels, replace=False)
        counts.reshape(-1)[flat] = rng.uniform(20000, 65535, hot_pixels)
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)
