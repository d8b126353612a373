"""MSDNet: the mixed-scale dense network (Pelt and Sethian 2018), in 2D or 3D.

Input (N, C, Z, Y, X) (or (N, C, Y, X) with ``dimensions=2``) -> a one-item list
[(N, n_classes, Z, Y, X)] of log-probabilities; every input size is valid, the margin is 0.
A 2D network also takes (N, C, Z, Y, X) stacks and segments them slice by slice (each z-slice on
its own), so it trains on and predicts 3D images like the other networks (``output_shape`` and
``valid_input_shape`` then take (Z, Y, X) sizes too).

Layout: ``depth`` layers; layer i (0-based) is a 3x3x3 (3x3) convolution with dilation
``i % max_dilation + 1`` (cycling 1, 2, ..., max_dilation), zero-padded by its dilation so the
size is kept, followed by ReLU; it sees the concatenation of the input and all earlier layers
(``in_channels + i * width`` channels) and adds ``width`` channels. The output is a 1x1x1 (1x1)
convolution over the input and all layers (``in_channels + depth * width`` channels) to
``n_classes``, then log-softmax over the class axis. Parameters: about
27 width^2 depth^2 / 2 in 3D, orders of magnitude fewer than a U-Net.
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import SegmentationNetwork, check_integer

__all__ = ["MSDNet"]


class MSDNet(SegmentationNetwork):
    """Mixed-scale dense network: densely connected dilated convolutions, no down-sampling.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    n_classes : int
        Classes predicted (>= 2).
    depth : int
        Number of dilated convolution layers (>= 1; 40 to 100 are usual).
    max_dilation : int
        Dilations cycle 1, 2, ..., max_dilation (>= 1; 10 by default, 15 in the paper's best 3D run).
    width : int
        Channels each layer adds (1 in the paper).
    dimensions : int
        3 for (Z, Y, X) stacks, 2 for single (Y, X) images.

    Notes
    -----
    Input (N, in_channels, *spatial) of any size; ``forward`` returns ``[log_probabilities]`` of
    shape (N, n_classes, *spatial).
    """

    name = "msdnet"

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, depth: int = 40,
                 max_dilation: int = 10, width: int = 1, dimensions: int = 3):
        super().__init__()
        in_channels = check_integer(in_channels, "in_channels", minimum=1)
        n_classes = check_integer(n_classes, "n_classes", minimum=2,
                                  hint="Use 2 for background / structure.")
        depth = check_integer(depth, "depth", minimum=1, hint="40 to 100 layers are usual.")
        max_dilation = check_integer(max_dilation, "max_dilation", minimum=1,
                                     hint="10 to 15 are usual.")
        width = check_integer(width, "width", minimum=1)
        if dimensions not in (2, 3) or isinstance(dimensions, bool):
            raise ValueError(
                f"`dimensions` must be 2 (Y, X images) or 3 (Z, Y, X stacks), got {dimensions!r}."
            )
        self._arguments = {"in_channels": in_channels, "n_classes": n_classes, "depth": depth,
                           "max_dilation": max_dilation, "width": width,
                           "dimensions": int(dimensions)}
        self.spatial_ndim = int(dimensions)
        conv = nn.Conv3d if dimensions == 3 else nn.Conv2d
        self.layers = nn.ModuleList()
        for i in range(depth):
            dilation = i % max_dilation + 1
            self.layers.append(conv(in_channels + i * width, width, kernel_size=3,
                                    padding=dilation, dilation=dilation))
        self.head = conv(in_channels + depth * width, n_classes, kernel_size=1)

    def _axis_output_size(self, axis: int, size: int):
        return size

    def _slice_wise(self, shape) -> bool:
        return self.spatial_ndim == 2 and len(tuple(shape)) == 3

    def output_shape(self, input_shape) -> tuple[int, ...]:
        """The output size (the input size); a 2D network also takes a (Z, Y, X) stack size."""
        if self._slice_wise(input_shape):
            return (int(input_shape[0]), *super().output_shape(tuple(input_shape)[1:]))
        return super().output_shape(input_shape)

    def valid_input_shape(self, shape) -> tuple[int, ...]:
        """Every size is valid (a 2D network also takes a (Z, Y, X) stack size)."""
        if self._slice_wise(shape):
            return (int(shape[0]), *super().valid_input_shape(tuple(shape)[1:]))
        return super().valid_input_shape(shape)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Segment a batch.

        Parameters
        ----------
        x : torch.Tensor, shape (N, in_channels, Z, Y, X) or (N, in_channels, Y, X) in 2D

        Returns
        -------
        list of one torch.Tensor, shape (N, n_classes, *spatial)
            Log-probabilities. A 2D network given (N, C, Z, Y, X) segments every z-slice on its own
            and returns (N, n_classes, Z, Y, X).
        """
        if self.spatial_ndim == 2 and x.ndim == 5:
            n, c, z, y, x_size = x.shape
            slices = x.permute(0, 2, 1, 3, 4).reshape(n * z, c, y, x_size)
            out = self.forward(slices)[0]
            return [out.reshape(n, z, out.shape[1], y, x_size).permute(0, 2, 1, 3, 4)]
        self._check_input(x)
        width = self._arguments["width"]
        if torch.is_grad_enabled():
            # Training: concatenate afresh for every layer, so autograd keeps each layer's input.
            features = x
            for layer in self.layers:
                features = torch.cat([features, torch.relu(layer(features))], dim=1)
        else:
            # Prediction: one pre-allocated buffer holds the input and every layer's output.
            n, _, *spatial = x.shape
            channels = x.shape[1] + len(self.layers) * width
            features = x.new_empty((n, channels, *spatial))
            features[:, : x.shape[1]] = x
            filled = x.shape[1]
            for layer in self.layers:
                features[:, filled: filled + width] = torch.relu(layer(features[:, :filled]))
                filled += width
        return [torch.log_softmax(self.head(features), dim=1)]
