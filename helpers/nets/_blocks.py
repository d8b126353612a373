"""Building blocks shared by the networks: argument checks, convolution blocks, centre crops and the
input-size rules (which input sizes a network accepts, what output size it gives, the margin).

Every network in :mod:`helpers.nets` derives from :class:`SegmentationNetwork`, which supplies
``output_shape``, ``valid_input_shape``, ``margin``, ``config`` and the input check of ``forward``
from one per-axis size function that the network defines.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .._checks import check_shape

__all__ = [
    "check_integer",
    "check_spatial_shape",
    "center_crop",
    "ConvBlock",
    "SegmentationNetwork",
]

# How far `valid_input_shape` and the error messages look for valid sizes along one axis.
_SEARCH_LIMIT = 1 << 16
_AXIS_NAMES = {3: ("Z", "Y", "X"), 2: ("Y", "X")}


def check_integer(value, name: str, *, minimum: int, hint: str = "") -> int:
    """Return ``value`` as an int, or raise ValueError if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be a whole number, got {value!r}. {hint}".strip())
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}, got {value}. {hint}".strip())
    return int(value)


def check_spatial_shape(shape, ndim: int, name: str = "input_shape") -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ``ndim`` positive ints, or raise ValueError."""
    return check_shape(shape, name, ndim=ndim, axes=f"({', '.join(_AXIS_NAMES[ndim])})")


def center_crop(tensor: torch.Tensor, spatial_shape) -> torch.Tensor:
    """Cut the centre ``spatial_shape`` out of a (N, C, *spatial) tensor (a view, no copy).

    When a size difference is odd, the extra voxel is removed at the end of the axis.
    """
    slices = [slice(None), slice(None)]
    for size, target in zip(tensor.shape[2:], spatial_shape):
        if target > size:
            raise ValueError(f"cannot crop a size of {size} to the larger size {target}.")
        start = (size - target) // 2
        slices.append(slice(start, start + target))
    return tensor[tuple(slices)]


def _conv_layer(dimensions: int):
    return nn.Conv3d if dimensions == 3 else nn.Conv2d


def _norm_layer(dimensions: int):
    return nn.BatchNorm3d if dimensions == 3 else nn.BatchNorm2d


class ConvBlock(nn.Sequential):
    """Two (convolution 3x3x3, batch norm, ReLU) groups: in -> middle -> out channels.

    Parameters
    ----------
    in_channels, middle_channels, out_channels : int
        Channel counts of the input, after the first and after the second convolution.
    padded : bool
        True pads by one voxel (output size = input size); False is unpadded ("valid"), each
        convolution removes one voxel at both ends of every axis (size - 2).
    batch_norm : bool
        Insert batch normalisation after each convolution (the convolution then has no bias).
    affine : bool
        Whether the batch normalisation has learnable scale and shift (Net_basic: False).
    """

    def __init__(self, in_channels, middle_channels, out_channels, *, padded, batch_norm=True,
                 affine=True, dimensions=3):
        conv, norm = _conv_layer(dimensions), _norm_layer(dimensions)
        layers = []
        for c_in, c_out in ((in_channels, middle_channels), (middle_channels, out_channels)):
            layers.append(conv(c_in, c_out, kernel_size=3, padding=1 if padded else 0,
                               bias=not batch_norm))
            if batch_norm:
                layers.append(norm(c_out, affine=affine))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SegmentationNetwork(nn.Module):
    """Base class: the input-size rules, the margin, ``config`` and the input check of ``forward``.

    A subclass sets ``name`` (the key in :data:`helpers.nets.NETWORKS`), ``spatial_ndim`` and
    ``self._arguments`` (the constructor arguments) and implements ``_axis_output_size(axis, size)``,
    which returns the output size along one axis for an input ``size``, or None when that size is
    not valid.
    """

    name = ""
    spatial_ndim = 3

    # ------------------------------------------------------------------ size rules
    def _axis_output_size(self, axis: int, size: int):  # pragma: no cover - every network defines its rule
        raise TypeError(f"{type(self).__name__} defines no input-size rule; a network class must implement "
                        "_axis_output_size(axis, size).")

    def _axis_names(self) -> tuple[str, ...]:
        return _AXIS_NAMES[self.spatial_ndim]

    def _valid_neighbours(self, axis: int, size: int) -> tuple:
        """The nearest valid input sizes below and above ``size`` (None where there is none)."""
        below = next((s for s in range(size - 1, 0, -1)
                      if self._axis_output_size(axis, s) is not None), None)
        above = next((s for s in range(size + 1, size + _SEARCH_LIMIT)
                      if self._axis_output_size(axis, s) is not None), None)
        return below, above

    def output_shape(self, input_shape) -> tuple[int, ...]:
        """Spatial output size for a spatial input size.

        Parameters
        ----------
        input_shape : sequence of int, length 3 (Z, Y, X) or 2 (Y, X) for 2D networks
            Spatial input size, without batch and channel axes.

        Returns
        -------
        tuple of int
            Spatial size of every output (main and auxiliary).

        Raises
        ------
        ValueError
            When the size is not valid along an axis; the message names the nearest valid sizes.
        """
        shape = check_spatial_shape(input_shape, self.spatial_ndim)
        output = []
        problems = []
        for axis, size in enumerate(shape):
            out = self._axis_output_size(axis, size)
            if out is None:
                below, above = self._valid_neighbours(axis, size)
                options = [str(s) for s in (below, above) if s is not None]
                problems.append(
                    f"{self._axis_names()[axis]} = {size} (nearest valid: {' or '.join(options)})"
                )
            output.append(out)
        if problems:
            raise ValueError(
                f"Input size {shape} is not valid for {type(self).__name__}: "
                + "; ".join(problems)
                + f". {self._size_rule()} Use `valid_input_shape({shape})` to get "
                f"{self.valid_input_shape(shape)}, the smallest valid size at least as large."
            )
        return tuple(output)

    def _size_rule(self) -> str:
        return ""

    def valid_input_shape(self, shape) -> tuple[int, ...]:
        """The smallest valid spatial input size that is >= ``shape`` along every axis.

        Parameters
        ----------
        shape : sequence of int, length 3 (Z, Y, X) or 2 (Y, X)

        Returns
        -------
        tuple of int
        """
        shape = check_spatial_shape(shape, self.spatial_ndim, name="shape")
        result = []
        for axis, size in enumerate(shape):
            valid = next((s for s in range(size, size + _SEARCH_LIMIT)
                          if self._axis_output_size(axis, s) is not None), None)
            if valid is None:  # pragma: no cover - the rules always have valid sizes
                raise ValueError(f"no valid input size found near {size} along axis {axis}.")
            result.append(valid)
        return tuple(result)

    @property
    def margin(self) -> tuple[int, ...]:
        """Total shrink per axis, input size minus output size (0 for padded networks).

        The same for every valid input size. A tiled prediction pads the image by half of it
        (``margin // 2`` before, the rest after) so every output voxel has its full context.
        """
        smallest = self.valid_input_shape((1,) * self.spatial_ndim)
        return tuple(i - o for i, o in zip(smallest, self.output_shape(smallest)))

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> dict:
        """JSON-able description ``{"name": ..., **constructor arguments}``; see :func:`build`."""
        arguments = {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in self._arguments.items()}
        return {"name": self.name, **arguments}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._arguments.items())

    # ------------------------------------------------------------------ forward helpers
    def _check_input(self, x) -> tuple[int, ...]:
        """Check a (N, C, *spatial) tensor and return the spatial output size."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{type(self).__name__} needs a torch.Tensor, got {type(x).__name__}.")
        expected = 2 + self.spatial_ndim
        if x.ndim != expected:
            axes = ", ".join(self._axis_names())
            raise ValueError(
                f"{type(self).__name__} needs a {expected}D tensor (N, C, {axes}), got shape "
                f"{tuple(x.shape)}. Add batch and channel axes, e.g. `image[None, None]`."
            )
        in_channels = self._arguments["in_channels"]
        if x.shape[1] != in_channels:
            raise ValueError(
                f"{type(self).__name__} was built for {in_channels} input channel(s), the tensor has "
                f"{x.shape[1]} (shape {tuple(x.shape)})."
            )
        return self.output_shape(tuple(x.shape[2:]))
