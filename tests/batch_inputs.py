"""Tiny input images shared by the batch and command-line tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import io

VOXEL = (0.29, 0.108, 0.108)


def field(seed: int, shape=(4, 32, 32)) -> np.ndarray:
    """A small noisy uint16 stack with scattered bright voxels (dots for the gja1 preset)."""
    rng = np.random.default_rng(seed)
    image = rng.poisson(100, shape).astype(np.float64)
    image[rng.random(shape) > 0.98] += 3000
    return image.astype(np.uint16)


def write_inputs(tmp_path: Path, count: int, suffix: str) -> Path:
    """Write ``count`` fields as ``cell<i><suffix>`` into a new folder ``tmp_path / "in"``."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(count):
        io.write_image(folder / f"cell{i}{suffix}", field(i), voxel_size=VOXEL)
    return folder
