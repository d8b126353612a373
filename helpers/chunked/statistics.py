"""Whole-volume statistics gathered block by block: intensity moments and extrema, maximum projections.

Each task returns a small summary of its block's core; the summaries combine (in any order) into the
statistic of the whole volume. Sums are taken in float64, so the mean and standard deviation agree with
NumPy's float32 computation on the whole image to about 1e-7 (the in-memory path rounds differently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Moments", "moments_task", "projection_task", "combine_moments", "combine_projections"]


@dataclass(frozen=True)
class Moments:
    """Count, sum, sum of squares, minimum and maximum of some voxels (float64)."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return cls()
        return cls(int(values.size), float(values.sum()), float(np.dot(values, values)),
                   float(values.min()), float(values.max()))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.count + other.count, self.total + other.total, self.squares + other.squares,
                       min(self.minimum, other.minimum), max(self.maximum, other.maximum))

    @property
    def mean(self) -> float:
        return self.total / self.count

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0)."""
        mean = self.mean
        return math.sqrt(max(self.squares / self.count - mean * mean, 0.0))


def moments_task(item) -> tuple[Moments, Moments]:
    """(moments of all voxels of the core, moments of the core's voxels with low < x < high).

    ``item`` is (source, block, window); ``window`` is None or (low, high) in raw intensity. The
    second summary is empty without a window. With ``bound`` (optional fourth element), the second
    summary instead holds the voxels at or below the bound.
    """
    source, block, window = item[:3]
    bound = item[3] if len(item) > 3 else None
    values = source.read(block.core).astype(np.float32, copy=False)
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        count = int((~np.isfinite(values)).sum())
        raise ValueError(f"The image has {count} NaN or infinite values in z {block.core[0].start}.."
                         f"{block.core[0].stop - 1}; replace them first (e.g. np.nan_to_num).")
    everything = Moments.of(values)
    if window is not None:
        low, high = window
        part = Moments.of(values[(values > np.float32(low)) & (values < np.float32(high))])
    elif bound is not None:
        part = Moments.of(values[values <= np.float32(bound)])
    else:
        part = Moments()
    return everything, part


def combine_moments(results) -> tuple[Moments, Moments]:
    everything, part = Moments(), Moments()
    for a, b in results:
        everything, part = everything + a, part + b
    return everything, part


def projection_task(item):
    """The maximum projection over z of ``source`` in ``block`` (a block of whole planes), float32."""
    source, block = item
    values = source.read(block.core).astype(np.float32, copy=False)
    return values.max(axis=0)


def combine_projections(results) -> np.ndarray:
    projection = None
    for part in results:
        projection = part if projection is None else np.maximum(projection, part)
    return projection
