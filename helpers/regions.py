"""Regions of a (Z, Y, X) image: the tuning panel's preview region, its halo, and centre crops.

A region is a tuple of three ``slice`` objects with explicit, in-bounds starts and stops, so that
``image[region]`` is a view of the image. The tuning panel previews a workflow on a region small
enough to recompute within a second; the region is computed with a *halo* (a margin of context
around it, cut off before display) so that filters see the same neighbourhood as in a full run.

Example
-------
>>> region = preview_region((65, 600, 900))
>>> describe(region)
'z 28-35, y 137-462, x 205-693 (8 x 326 x 489 voxels)'
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import _as_array, check_shape

__all__ = ["Region", "whole", "center_crop", "centered_region", "preview_region", "expand", "relative",
           "region_shape", "describe", "check_region"]

Region = tuple[slice, slice, slice]

#: Margin (Z, Y, X) in voxels computed around a preview region and cut off before display: the
#: widest filter of the presets (F3 at sigma 2, G3 at sigma 1 with a 4-sigma kernel) reaches 4 to 8
#: voxels, and edge-preserving smoothing spreads about one voxel per iteration.
DEFAULT_HALO = (4, 16, 16)
#: Voxels of the computed preview (region plus halo): about one second for the slowest preset here.
DEFAULT_PREVIEW_VOXELS = 3_000_000
#: A preview slab of a large image keeps at least this many slices.
MIN_PREVIEW_SLICES = 8


def _check_shape(shape) -> tuple[int, int, int]:
    return check_shape(shape, "shape")


def whole(shape) -> Region:
    """The region covering the whole image of this shape."""
    return tuple(slice(0, n) for n in _check_shape(shape))


def check_region(region, shape) -> Region:
    """``region`` in canonical form (explicit in-bounds starts and stops), or a ValueError saying what is wrong.

    Parameters
    ----------
    region : tuple of three slice
        E.g. ``(slice(10, 20), slice(0, 128), slice(0, 128))``; ``slice(None)`` means the whole axis.
        Steps other than 1 are not allowed.
    shape : tuple of int
        The image's (Z, Y, X) shape.
    """
    shape = _check_shape(shape)
    if not isinstance(region, (tuple, list)) or len(region) != 3 or not all(isinstance(s, slice) for s in region):
        raise ValueError(f"A region must be three slices (Z, Y, X), e.g. (slice(10, 20), slice(None), slice(None)); "
                         f"got {region!r}.")
    canonical = []
    for axis, (piece, size) in enumerate(zip(region, shape)):
        start, stop, step = piece.indices(size)
        if step != 1 or stop <= start:
            raise ValueError(f"The region's {'ZYX'[axis]} slice {piece!r} selects nothing inside an axis of "
                             f"{size} voxels (or has a step); give a start below the stop, within 0..{size}.")
        canonical.append(slice(start, stop))
    return tuple(canonical)


def region_shape(region) -> tuple[int, int, int]:
    """The (Z, Y, X) shape of a canonical region."""
    return tuple(s.stop - s.start for s in region)


def centered_region(image_shape, shape) -> Region:
    """The region of ``shape`` (clipped to the image) centred in an image of ``image_shape``."""
    image_shape = _check_shape(image_shape)
    shape = _check_shape(shape)
    region = []
    for size, wanted in zip(image_shape, shape):
        length = min(size, wanted)
        start = (size - length) // 2
        region.append(slice(start, start + length))
    return tuple(region)


def center_crop(image, shape) -> np.ndarray:
    """The centred crop of ``shape`` (clipped to the image) of a (Z, Y, X) image, as a view.

    The notebooks' quick mode uses it to try a workflow on a small piece of a large image.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
    shape : tuple of three int
        Wanted (Z, Y, X) size; axes shorter than this are kept whole.

    Returns
    -------
    numpy.ndarray
        A view of ``image`` (not a copy; the input is never modified).
    """
    array = _as_array(image, "image")
    if array.ndim != 3:
        raise ValueError(f"`image` is a {array.ndim}D array of shape {array.shape}, but a (Z, Y, X) stack is "
                         "needed; select one channel first, e.g. helpers.io.read_image(path, channel=0).")
    return array[centered_region(array.shape, shape)]


def preview_region(image_shape, *, max_voxels: int = DEFAULT_PREVIEW_VOXELS, halo=DEFAULT_HALO,
                   min_slices: int = MIN_PREVIEW_SLICES) -> Region:
    """The default preview region: the whole image if it is small, else a centred middle slab.

    The region grown by ``halo`` (what is actually computed) holds at most ``max_voxels`` voxels
    where possible: first the slab is thinned to ``min_slices`` middle slices, then the field of
    view is cropped around its centre, keeping its aspect ratio.

    Parameters
    ----------
    image_shape : tuple of int
        (Z, Y, X).
    max_voxels : int
        Budget for the computed preview, region plus halo.
    halo : tuple of three int
        Margin computed around the region (see :func:`expand`).
    min_slices : int
        Fewest slices of a slab.

    Returns
    -------
    Region
    """
    shape = _check_shape(image_shape)
    halo = _check_halo(halo)
    if not isinstance(max_voxels, (int, np.integer)) or max_voxels < 1:
        raise ValueError(f"`max_voxels` must be a positive whole number, got {max_voxels!r}.")
    if math.prod(shape) <= max_voxels:
        return whole(shape)
    slices = min(shape[0], max(int(min_slices), 1))

    def computed(z, y, x):
        return (min(shape[0], z + 2 * halo[0]) * min(shape[1], y + 2 * halo[1]) * min(shape[2], x + 2 * halo[2]))

    if computed(slices, shape[1], shape[2]) <= max_voxels:
        # The whole field of view fits: keep it and use as many middle slices as the budget allows.
        while slices < shape[0] and computed(slices + 1, shape[1], shape[2]) <= max_voxels:
            slices += 1
        return centered_region(shape, (slices, shape[1], shape[2]))
    scale = 1.0
    while scale > 0.01:
        y, x = max(1, int(shape[1] * scale)), max(1, int(shape[2] * scale))
        if computed(slices, y, x) <= max_voxels:
            break
        scale *= 0.97
    return centered_region(shape, (slices, y, x))


def _check_halo(halo) -> tuple[int, int, int]:
    return check_shape(halo, "halo", minimum=0)


def expand(region, image_shape, halo=DEFAULT_HALO) -> Region:
    """``region`` grown by ``halo`` voxels on every side, clipped to the image."""
    shape = _check_shape(image_shape)
    region = check_region(region, shape)
    halo = _check_halo(halo)
    return tuple(slice(max(0, s.start - h), min(n, s.stop + h)) for s, h, n in zip(region, halo, shape))


def relative(inner, outer) -> Region:
    """``inner`` expressed in the coordinates of ``outer`` (which must contain it).

    ``image[outer][relative(inner, outer)]`` is ``image[inner]``.
    """
    if any(i.start < o.start or i.stop > o.stop for i, o in zip(inner, outer)):
        raise ValueError(f"The region {describe(inner)} is not inside {describe(outer)}.")
    return tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer))


def describe(region) -> str:
    """The region as short text, e.g. ``'z 16-23, y 0-191, x 0-191 (8 x 192 x 192 voxels)'`` (inclusive ends)."""
    parts = ", ".join(f"{axis} {s.start}-{s.stop - 1}" for axis, s in zip("zyx", region))
    size = " x ".join(str(n) for n in region_shape(region))
    return f"{parts} ({size} voxels)"
