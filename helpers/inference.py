"""Tiled prediction: run a trained network on an image of any size, on the CPU or a GPU.

A network sees a limited block of voxels at a time (a *tile*). :func:`predict` cuts the image into
tiles, runs the network on batches of them and stitches the class probabilities back into one
(n_classes, Z, Y, X) array. Two kinds of networks are handled:

Unpadded networks (Net_basic, Net_zoom: they have ``output_shape(input_shape)``)
    Every convolution is "valid", so the output of a tile is smaller than the tile by a fixed
    margin. The image is mirrored outwards by half the margin on each side (edge values are
    repeated on an axis of a single voxel, where nothing can be mirrored), and the tiles are
    placed so that their *outputs* cover the image exactly, side by side: every output voxel is
    computed with real image context around it, as in the Allen Cell Structure Segmenter. The last
    tile of an axis is moved back so that it ends at the image border; the few voxels it shares
    with its neighbour are computed with the same context and simply written again.

Same-size networks (padded U-Nets, MSD networks, any function; ``output_shape``, when present,
returns the input size)
    The output has the size of the tile, but voxels near a tile's border see zeros instead of
    image and are less reliable. Tiles therefore overlap (``overlap`` voxels, a quarter of the tile
    by default) and are blended with weights that fall smoothly to small values (never zero) at
    the tile borders; the sum is divided by the summed weights, so no seam shows. On an axis
    shorter than the tile, the tile is clipped to the image (or, when the network needs a larger
    valid size, the image is mirrored at its end and the extra output is dropped).

Memory stays bounded: besides the image, only the output array (plus one (Z, Y, X) weight array for
blending) and one batch of tiles are held; mirrored borders are read tile by tile, never built as a
padded copy of the image.

Networks follow the interface of ``helpers.nets``: a (N, C, Z, Y, X) float tensor in, a tensor or a
list whose first item is the main output of (N, n_classes, Z', Y', X') log-probabilities out.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ._checks import check_image, check_number, check_shape

__all__ = ["predict", "probability_to_mask", "probability_to_labels", "DEFAULT_MAX_TILE"]

#: Largest default tile (Z, Y, X) in voxels (output tile for unpadded networks): about 0.5 million
#: voxels, a few hundred MB of activations for a small U-Net on the CPU.
DEFAULT_MAX_TILE = (32, 128, 128)

#: Smallest blending weight, at the very border of a tile (weights are never exactly zero, so a
#: voxel covered by a single tile border is still defined).
_MIN_WEIGHT = 1e-3


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_shape(value, name: str, minimum: int = 1, allow_scalar: bool = False):
    """A (z, y, x) tuple of whole numbers >= ``minimum`` (one number for all axes if allowed)."""
    if allow_scalar and not isinstance(value, (Sequence, np.ndarray)):
        value = (value,) * 3
    return check_shape(value, name, minimum=minimum)


def _check_image_channels(image) -> np.ndarray:
    """The image as float32 (C, Z, Y, X): a (Z, Y, X) image gets a channel axis of 1."""
    ndim = np.ndim(image)
    if ndim == 4:
        return check_image(image, name="image", ndim=4)
    if ndim != 3:
        raise ValueError(
            f"`image` has {ndim} dimensions; pass a 3D (Z, Y, X) image, or a 4D (C, Z, Y, X) "
            "image when the network takes several channels. For a single 2D slice use "
            "`image[np.newaxis]`."
        )
    return check_image(image, name="image")[np.newaxis]


def _resolve_device(device):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"`device` = {device!r} is not a torch device; use 'cpu' or 'cuda'.") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` asks for CUDA, but no CUDA GPU is available; use device='cpu'.")
    return device


# --------------------------------------------------------------------------------------------
# tile geometry
# --------------------------------------------------------------------------------------------


def _unpadded_geometry(model, image_shape, tile_shape):
    """Input tile, output tile and margin (per axis) of a network whose outputs are smaller."""
    valid = getattr(model, "valid_input_shape", None)
    valid = valid if callable(valid) else None

    def output_of(shape):
        return tuple(int(s) for s in model.output_shape(tuple(int(v) for v in shape)))

    # the fixed margin, from the smallest valid input
    if valid is not None:
        smallest = tuple(int(v) for v in valid((1, 1, 1)))
        margin = tuple(i - o for i, o in zip(smallest, output_of(smallest)))
    else:
        margin = None
    if tile_shape is None:
        if margin is None:
            raise ValueError(
                "The network has `output_shape` but no `valid_input_shape`; pass `tile_shape`, "
                "a valid input size of the network."
            )
        wanted = tuple(min(s, m) + g for s, m, g in zip(image_shape, DEFAULT_MAX_TILE, margin))
        tile = tuple(int(v) for v in valid(wanted))
    else:
        tile = _check_shape(tile_shape, "tile_shape")
        try:
            output_of(tile)
        except ValueError as error:
            if valid is None:
                raise ValueError(
                    f"`tile_shape` = {tile} is not a valid input size of the network: {error}"
                ) from error
            corrected = tuple(int(v) for v in valid(tile))
            warnings.warn(
                f"`tile_shape` = {tile} is not a valid input size of the network; using the next "
                f"valid size {corrected}.",
                stacklevel=3,
            )
            tile = corrected
    out = output_of(tile)
    if any(o < 1 for o in out):
        raise ValueError(f"`tile_shape` = {tile} gives an empty output {out}; use a larger tile.")
    margin = tuple(t - o for t, o in zip(tile, out))
    if any(m < 0 for m in margin):
        raise ValueError(
            f"The network's `output_shape({tile})` = {out} is larger than its input; only networks "
            "whose outputs are smaller by a fixed margin (or of the same size) are supported."
        )
    return tile, out, margin


def _same_size_geometry(model, image_shape, tile_shape):
    """Input tile of a same-size network: clipped to the image, made valid when the network says how."""
    if tile_shape is None:
        tile = tuple(min(s, m) for s, m in zip(image_shape, DEFAULT_MAX_TILE))
    else:
        tile = _check_shape(tile_shape, "tile_shape")
        tile = tuple(min(s, t) for s, t in zip(image_shape, tile))
    valid = getattr(model, "valid_input_shape", None)
    if callable(valid):
        tile = tuple(int(v) for v in valid(tile))
    return tile


def _starts(extent: int, tile: int, step: int) -> list[int]:
    """Tile starts covering [0, extent): evenly spread, at most ``step`` apart, last one at extent - tile."""
    if extent <= tile:
        return [0]
    n = math.ceil((extent - tile) / step) + 1
    return sorted({int(round(v)) for v in np.linspace(0, extent - tile, n)})


def _mirror_indices(start: int, length: int, size: int):
    """Indices of ``length`` voxels from ``start`` along an axis of ``size``, mirrored at both ends.

    A slice when the range lies inside the image; an index array otherwise (mirror without repeating
    the border voxel, as ``np.pad(mode="reflect")``, repeated as often as needed; the edge voxel on
    an axis of one voxel).
    """
    if start >= 0 and start + length <= size:
        return slice(start, start + length)
    if size == 1:
        return np.zeros(length, dtype=np.intp)
    period = 2 * (size - 1)
    index = np.abs(np.arange(start, start + length)) % period
    return np.where(index >= size, period - index, index)


def _read_tile(image: np.ndarray, starts, shape) -> np.ndarray:
    """One (C, *shape) tile of the (C, Z, Y, X) image, mirrored where it reaches outside."""
    tile = image
    for axis, (start, length) in enumerate(zip(starts, shape)):
        index = _mirror_indices(start, length, image.shape[axis + 1])
        tile = tile[(slice(None),) * (axis + 1) + (index,)]
    return tile


def _blend_window(tile: int, overlap: int) -> np.ndarray:
    """1D weights of a tile: 1 in the middle, a squared-sine ramp over ``overlap`` voxels at each end."""
    weights = np.ones(tile, dtype=np.float32)
    if overlap > 0:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        ramp = np.maximum(ramp, _MIN_WEIGHT).astype(np.float32)
        n = min(overlap, tile)
        weights[:n] = np.minimum(weights[:n], ramp[:n])
        weights[tile - n:] = np.minimum(weights[tile - n:], ramp[:n][::-1])
    return weights


# --------------------------------------------------------------------------------------------
# running the network
# --------------------------------------------------------------------------------------------


def _main_output(result, batch_shape, expected_spatial):
    import torch

    if isinstance(result, (list, tuple)):
        if len(result) == 0:
            raise ValueError("The network returned an empty list; it must return its outputs.")
        result = result[0]
    if not isinstance(result, torch.Tensor):
        raise ValueError(
            f"The network returned a {type(result).__name__}; it must return a torch tensor or a "
            "list whose first item is the main output tensor."
        )
    if result.ndim != 5 or result.shape[0] != batch_shape[0]:
        raise ValueError(
            f"The network's main output has shape {tuple(result.shape)}; expected (N, n_classes, Z, "
            f"Y, X) with N = {batch_shape[0]} tiles."
        )
    if tuple(result.shape[2:]) != tuple(expected_spatial):
        hint = (
            " A network whose output is smaller than its input must have an `output_shape(input_shape)` "
            "method so that the tiles can be placed." if tuple(result.shape[2:]) != tuple(batch_shape[2:])
            else ""
        )
        raise ValueError(
            f"The network turned tiles of {tuple(batch_shape[2:])} voxels into outputs of "
            f"{tuple(result.shape[2:])}, but {tuple(expected_spatial)} was expected.{hint}"
        )
    return result


def predict(
    model: Callable,
    image,
    *,
    tile_shape=None,
    batch_size: int = 1,
    device=None,
    overlap=None,
    progress: bool = False,
    mixed_precision: bool = False,
) -> np.ndarray:
    """Class probabilities of a whole image, predicted tile by tile.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Takes a (N, C, Z, Y, X) float32 tensor and returns a tensor, or a list/tuple whose first item
        is the main output, of (N, n_classes, Z', Y', X') log-probabilities (log-softmax over the
        classes). Networks whose ``output_shape(input_shape)`` method gives a smaller size have
        outputs smaller than their inputs by a fixed margin; others must return outputs of the
        tile's size. A
        ``torch.nn.Module`` is moved to ``device`` and put in evaluation mode for the prediction;
        its training mode and device are restored afterwards.
    image : array_like, shape (Z, Y, X) or (C, Z, Y, X)
        Intensity image, normalized as for training; a channel axis first for networks with
        several input channels. It is not modified.
    tile_shape : tuple of 3 int, optional
        Input size (z, y, x) given to the network. Default: the whole image when it is small,
        otherwise up to 32 x 128 x 128 output voxels per tile, made a valid size of the network
        (``model.valid_input_shape``). An invalid size is replaced by the next valid one with a
        warning, or refused with ValueError when the network cannot say which sizes are valid.
    batch_size : int
        Tiles per network call. Larger batches are faster on a GPU and need more memory.
    device : str or torch.device, optional
        Where the network runs: CUDA when available, otherwise the CPU.
    overlap : int or tuple of 3 int, optional
        Same-size networks only: voxels shared by neighbouring tiles along z, y, x. Default: a
        quarter of the tile, at least 4 voxels (less on a very short tile). Ignored (no overlap is
        needed) for networks whose outputs are smaller than their inputs.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    mixed_precision : bool
        On CUDA, run the network under float16 autocast (faster, half the activation memory).
        Ignored on the CPU.

    Returns
    -------
    numpy.ndarray of float32, shape (n_classes, Z, Y, X)
        Probability of every class in every voxel (the exponential of the main output); the number
        of classes is read from the first batch.

    Raises
    ------
    ValueError
        For an image that is not 3D/4D real-valued or contains NaN or infinite values, bad tile,
        batch or overlap sizes, or a network whose output does not have the expected shape.

    Examples
    --------
    >>> import numpy as np, torch
    >>> def two_classes(x):  # probability of class 1 = the intensity
    ...     return torch.log(torch.cat([1 - x, x], dim=1))
    >>> image = np.random.default_rng(0).uniform(0.1, 0.9, (5, 40, 50)).astype(np.float32)
    >>> p = predict(two_classes, image, tile_shape=(5, 16, 16), device="cpu")
    >>> p.shape, bool(np.allclose(p[1], image, atol=1e-6))
    ((2, 5, 40, 50), True)
    """
    import torch

    if not callable(model):
        raise ValueError(f"`model` must be a torch network or a function, got {type(model).__name__}.")
    image = _check_image_channels(image)
    shape = image.shape[1:]
    batch_size = check_number(batch_size, "batch_size", minimum=1, integer=True,
                              hint="Use 1 when memory is short.")
    device = _resolve_device(device)

    unpadded = False
    if callable(getattr(model, "output_shape", None)):
        tile, out_tile, margin = _unpadded_geometry(model, shape, tile_shape)
        # a padded network may have output_shape too (returning its input size): blend its tiles
        unpadded = any(m > 0 for m in margin)
    if overlap is not None and unpadded:  # checked, though not needed: the outputs tile the image
        _check_shape(overlap, "overlap", minimum=0, allow_scalar=True)
    if unpadded:
        front = tuple(m // 2 for m in margin)
        extent = tuple(max(s, o) for s, o in zip(shape, out_tile))
        # output tile starts (output coordinates = image coordinates); input starts shifted back
        grid = [_starts(e, o, o) for e, o in zip(extent, out_tile)]
        window = None
    else:
        tile = _same_size_geometry(model, shape, tile_shape)
        out_tile = tile
        front = (0, 0, 0)
        extent = tuple(max(s, t) for s, t in zip(shape, tile))
        if overlap is None:
            overlaps = tuple(min(max(4, t // 4), t // 2) for t in tile)
        else:
            overlaps = _check_shape(overlap, "overlap", minimum=0, allow_scalar=True)
            for t, o, e in zip(tile, overlaps, extent):
                if o >= t and e > t:
                    raise ValueError(
                        f"`overlap` = {overlaps} must be smaller than the tile {tile} on every axis "
                        "the image is longer than the tile."
                    )
            # on an axis covered by a single tile the overlap plays no part
            overlaps = tuple(min(o, t - 1) for t, o in zip(tile, overlaps))
        grid = [_starts(e, t, t - o) for e, t, o in zip(extent, tile, overlaps)]
        windows = [_blend_window(t, o) if len(g) > 1 else np.ones(t, np.float32)
                   for t, o, g in zip(tile, overlaps, grid)]
        window = windows[0][:, None, None] * windows[1][None, :, None] * windows[2][None, None, :]

    positions = [(z, y, x) for z in grid[0] for y in grid[1] for x in grid[2]]
    batches = [positions[i:i + batch_size] for i in range(0, len(positions), batch_size)]

    is_module = isinstance(model, torch.nn.Module)
    if is_module:
        was_training = model.training
        parameter = next(model.parameters(), None)
        original_device = parameter.device if parameter is not None else None
        model.eval()
        model.to(device)
    use_autocast = bool(mixed_precision) and device.type == "cuda"

    output = weights = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(batches), unit="batch", desc="predicting", file=sys.stderr)
    try:
        with torch.inference_mode():
            for batch in batches:
                tiles = np.stack([
                    _read_tile(image, tuple(s - f for s, f in zip(start, front)), tile)
                    for start in batch
                ])
                inputs = torch.from_numpy(tiles).to(device)
                if use_autocast:
                    with torch.autocast("cuda", dtype=torch.float16):
                        result = model(inputs)
                else:
                    result = model(inputs)
                logp = _main_output(result, tiles.shape, out_tile)
                probabilities = torch.exp(logp.float()).cpu().numpy()
                if output is None:
                    output = np.zeros((probabilities.shape[1],) + tuple(shape), dtype=np.float32)
                    if window is not None:
                        weights = np.zeros(shape, dtype=np.float32)
                elif probabilities.shape[1] != output.shape[0]:
                    raise ValueError(
                        f"The network returned {probabilities.shape[1]} classes for one batch and "
                        f"{output.shape[0]} for another."
                    )
                for k, start in enumerate(batch):
                    stop = tuple(min(s + o, n) for s, o, n in zip(start, out_tile, shape))
                    target = tuple(slice(a, b) for a, b in zip(start, stop))
                    source = tuple(slice(0, b - a) for a, b in zip(start, stop))
                    if window is None:
                        output[(slice(None),) + target] = probabilities[k][(slice(None),) + source]
                    else:
                        w = window[source]
                        output[(slice(None),) + target] += probabilities[k][(slice(None),) + source] * w
                        weights[target] += w
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if is_module:
            model.train(was_training)
            if original_device is not None:
                model.to(original_device)
    if weights is not None:
        output /= weights
    return output


def _check_probabilities(probabilities) -> np.ndarray:
    ndim = np.ndim(probabilities)
    if ndim not in (3, 4):
        raise ValueError(
            f"`probabilities` has {ndim} dimensions; pass the (n_classes, Z, Y, X) output of "
            "`predict`, or one class's (Z, Y, X) probability map."
        )
    probabilities = check_image(probabilities, name="probabilities", ndim=ndim)
    return probabilities


def probability_to_mask(probabilities, *, threshold: float = 0.5, foreground=1) -> np.ndarray:
    """Foreground mask: voxels whose foreground probability exceeds ``threshold``.

    Parameters
    ----------
    probabilities : array_like, shape (n_classes, Z, Y, X) or (Z, Y, X)
        Output of :func:`predict`, or a single foreground probability map.
    threshold : float
        In (0, 1); a voxel is foreground when its probability is strictly greater.
    foreground : int or sequence of int
        Class (or classes, whose probabilities are summed) that make the foreground. Ignored for a
        (Z, Y, X) map.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
    """
    probabilities = _check_probabilities(probabilities)
    threshold = check_number(threshold, "threshold", minimum=0, maximum=1, min_inclusive=False,
                             max_inclusive=False, hint="0.5 is the usual choice.")
    if probabilities.ndim == 3:
        return probabilities > threshold
    n_classes = probabilities.shape[0]
    classes = foreground if isinstance(foreground, (Sequence, np.ndarray)) else (foreground,)
    classes = tuple(classes)
    if not classes:
        raise ValueError("`foreground` names no class; pass a class number, e.g. foreground=1.")
    for c in classes:
        check_number(c, "foreground", minimum=0, maximum=n_classes - 1, integer=True,
                     hint=f"The probabilities have {n_classes} classes (0 .. {n_classes - 1}).")
    total = np.zeros(probabilities.shape[1:], dtype=np.float32)
    for c in dict.fromkeys(int(c) for c in classes):
        total += probabilities[c]
    return total > threshold


def probability_to_labels(probabilities) -> np.ndarray:
    """Most probable class of every voxel.

    Parameters
    ----------
    probabilities : array_like, shape (n_classes, Z, Y, X)
        Output of :func:`predict`.

    Returns
    -------
    numpy.ndarray of uint8 (uint16 beyond 255 classes), shape (Z, Y, X)
        Class labels (0 .. n_classes - 1), ready for :func:`helpers.metrics.f1_scores`.
    """
    if np.ndim(probabilities) != 4:
        raise ValueError(
            f"`probabilities` has {np.ndim(probabilities)} dimensions; pass the (n_classes, Z, Y, X) "
            "output of `predict`."
        )
    probabilities = _check_probabilities(probabilities)
    dtype = np.uint8 if probabilities.shape[0] <= 256 else np.uint16
    return np.argmax(probabilities, axis=0).astype(dtype)
