"""Multi-scale filters: the (sigma, cutoff) pairs the filament and spot filters take, and their union.

A filter with several scales keeps a voxel when its response exceeds the cutoff at any scale, so
thin and thick (or small and large) structures are found together.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import check_number

__all__ = ["check_scales", "union_over_scales"]


def check_scales(scales, name: str = "scales", *, cutoff_range=(0.0, 1.0), cutoff_hint: str = "") -> list[tuple[float, float]]:
    """Validate a list of (sigma, cutoff) pairs for the multi-scale filters.

    A single pair may be given as a tuple. sigma must be > 0; cutoff must lie in ``cutoff_range``.
    """
    if isinstance(scales, tuple) and len(scales) == 2 and all(isinstance(v, numbers.Real) for v in scales):
        scales = [scales]
    try:
        pairs = [tuple(pair) for pair in scales]
    except TypeError:
        pairs = None
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise ValueError(
            f"`{name}` must be a non-empty list of (sigma, cutoff) pairs, e.g. [(1.0, 0.01)]; "
            f"got {scales!r}."
        )
    checked = []
    for sigma, cutoff in pairs:
        sigma = check_number(sigma, f"{name}: sigma", minimum=0.0, min_inclusive=False,
                             hint="sigma is the structure radius in voxels; try 1.")
        cutoff = check_number(cutoff, f"{name}: cutoff", minimum=cutoff_range[0], maximum=cutoff_range[1],
                              hint=cutoff_hint)
        checked.append((sigma, cutoff))
    return checked


def union_over_scales(work: np.ndarray, pairs, response) -> np.ndarray:
    """OR over the pairs of ``response(work, sigma) > cutoff``; a (Z, Y, X) bool mask."""
    result = np.zeros(work.shape, dtype=bool)
    for sigma, cutoff in pairs:
        result |= response(work, sigma) > np.float32(cutoff)
    return result
