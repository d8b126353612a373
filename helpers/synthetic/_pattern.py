"""A pattern: how to draw one structure, and how bright it is, composed into a camera image."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._cells import Cells, make_cells
from ._microscope import Microscope, blur, camera, illumination


@dataclass(frozen=True)
class Structure:
    """What a pattern draws: a noise-free fluorophore density and the ground truth.

    density : (Z, Y, X) float32, relative amount of fluorophore per voxel (about 1 for a typical
        structure voxel; per-object brightness variation is part of it).
    truth : (Z, Y, X) bool, or int32 labels (one per object) when the pattern has countable objects.
    """

    density: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class Pattern:
    """One row of the lookup table as a synthetic sample.

    Attributes
    ----------
    name : str
        The preset name (``helpers.workflow.preset_names()``).
    title : str
        Gene and structure, for tables.
    description : str
        What is drawn, in one or two sentences (shown in data_samples/README.md).
    draw : callable (cells, microscope, rng) -> Structure
    structure_electrons : float
        Expected photo-electrons per voxel of structure (density 1) in an average cell, before blur.
    cytoplasm_electrons, nucleus_electrons : float
        Diffuse (unbound) pool of the tagged protein in the cytoplasm and in the nucleus.
    background_electrons : float
        Medium and out-of-focus light, everywhere.
    hot_pixels : int
        Saturated camera pixels per million voxels.
    microscope : Microscope
    cell_options : dict
        Keyword arguments for :func:`helpers.synthetic._cells.make_cells` (cell size, height ...).
    """

    name: str
    title: str
    description: str
    draw: Callable[[Cells, Microscope, np.random.Generator], Structure]
    structure_electrons: float
    cytoplasm_electrons: float = 8.0
    nucleus_electrons: float = 4.0
    background_electrons: float = 10.0
    hot_pixels: float = 0.0
    microscope: Microscope = field(default_factory=Microscope)
    cell_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """A synthetic image with its ground truth.

    Attributes
    ----------
    name : str
        The pattern (preset) name.
    image : (Z, Y, X) uint16
    truth : (Z, Y, X) bool, or int32 labels (0 = background) for patterns with countable objects.
    voxel_size : (z, y, x) micrometres.
    cells : Cells
        The colony the structure was drawn in (cell and nucleus labels), for analyses.
    """

    name: str
    image: np.ndarray
    truth: np.ndarray
    voxel_size: tuple[float, float, float]
    cells: Cells

    @property
    def mask(self) -> np.ndarray:
        """The ground truth as a (Z, Y, X) bool mask (labels merged)."""
        return self.truth > 0


def pattern_rng(name: str, seed: int) -> np.random.Generator:
    """A generator seeded by the seed and the pattern's name (patterns do not share random streams)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def record(pattern: Pattern, cells: Cells, structure: Structure, rng: np.random.Generator) -> np.ndarray:
    """The camera image (Z, Y, X) uint16 of a drawn structure in its colony.

    Adds the pattern's diffuse pools (cytoplasm, nucleus), scales everything by each cell's expression
    level, blurs it with the PSF, adds the background, applies the illumination and records it with
    the camera (shot and read noise, the pattern's hot pixels).
    """
    microscope = pattern.microscope
    shape = cells.shape
    expression = np.concatenate([[1.0], cells.brightness]).astype(np.float32)[cells.cells]
    density = (pattern.cytoplasm_electrons * cells.cytoplasm
               + pattern.nucleus_electrons * (cells.nuclei > 0)
               + pattern.structure_electrons * structure.density) * expression
    expected = (blur(density, microscope) + pattern.background_electrons) * illumination(shape, microscope, rng)
    hot = int(round(pattern.hot_pixels * np.prod(shape) / 1e6))
    return camera(expected, microscope, rng, hot_pixels=hot)


def render(pattern: Pattern, shape, seed: int) -> Sample:
    """Draw ``pattern`` in a new colony of the given (Z, Y, X) shape and record it with the camera."""
    rng = pattern_rng(pattern.name, seed)
    microscope = pattern.microscope
    cells = make_cells(shape, microscope.voxel_size, rng, **pattern.cell_options)
    structure = pattern.draw(cells, microscope, rng)
    if structure.density.shape != tuple(shape) or structure.truth.shape != tuple(shape):
        raise RuntimeError(f"pattern {pattern.name!r} drew an image of the wrong shape")  # a bug in the pattern
    image = record(pattern, cells, structure, rng)
    truth = structure.truth if structure.truth.dtype != bool else structure.truth.copy()
    return Sample(pattern.name, image, truth, microscope.voxel_size, cells)
