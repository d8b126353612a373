"""UNet3D: a padded 3D U-Net with its architecture as arguments.

Covers the 3D U-Net (Cicek et al. 2016) used for lattice light-sheet membrane segmentation
(``pooling=(2, 2, 2)``, trained on 64 x 128 x 128 patches) and the FIB-SEM U-Net with depth 4-5,
base channels 32-64 and channel growth 1.5-2 per level.

Input (N, C, Z, Y, X) -> a one-item list [(N, n_classes, Z, Y, X)] of log-probabilities.

Layout: ``depth`` resolution levels (``depth - 1`` max-poolings of size ``pooling``); level l has
c_l = round(base_channels * growth ** l) channels. Every level holds a block of two padded 3x3x3
(convolution, batch norm, ReLU) groups: the first level in -> c_0 -> c_0, the deeper ones
c_{l-1} -> c_l -> c_l. On the way up a transposed convolution c_{l+1} -> c_l of kernel and stride
``pooling``, concatenation with the encoder output of level l and a block 2 c_l -> c_l -> c_l.
A 1x1x1 convolution maps c_0 channels to ``n_classes``; log-softmax over the class axis.

Valid input sizes: along every axis a multiple of ``pooling[axis] ** (depth - 1)`` (e.g. multiples
of 8 for depth 4 and pooling 2). The output has the input's size; the margin is 0.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from ._blocks import ConvBlock, SegmentationNetwork, check_integer

__all__ = ["UNet3D"]


def _check_pooling(pooling) -> tuple[int, int, int]:
    try:
        values = tuple(pooling)
    except TypeError:
        values = ()
    if len(values) != 3 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                               for v in values):
        raise ValueError(
            f"`pooling` must be three whole numbers >= 1 (Z, Y, X), e.g. (1, 2, 2) for anisotropic "
            f"stacks or (2, 2, 2) for isotropic ones; got {pooling!r}."
        )
    if all(v == 1 for v in values):
        raise ValueError("`pooling` (1, 1, 1) never down-samples; use (1, 2, 2) or (2, 2, 2).")
    return tuple(int(v) for v in values)


def contracting_path(in_channels: int, channels, pooling, batch_norm: bool) -> tuple[nn.ModuleList, nn.MaxPool3d]:
    """The blocks of the way down (one per level: two padded 3x3x3 groups) and the pooling between them."""
    encoder = nn.ModuleList(
        ConvBlock(in_channels if level == 0 else channels[level - 1], channels[level], channels[level], padded=True,
                  batch_norm=batch_norm)
        for level in range(len(channels))
    )
    return encoder, nn.MaxPool3d(kernel_size=pooling, stride=pooling)


def expanding_path(channels, pooling, batch_norm: bool) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The transposed convolutions and blocks of the way up (bottom level first)."""
    levels = list(reversed(range(len(channels) - 1)))
    upsample = nn.ModuleList(
        nn.ConvTranspose3d(channels[level + 1], channels[level], kernel_size=pooling, stride=pooling)
        for level in levels
    )
    decoder = nn.ModuleList(
        ConvBlock(2 * channels[level], channels[level], channels[level], padded=True, batch_norm=batch_norm)
        for level in levels
    )
    return upsample, decoder


def u_net_features(net, x: torch.Tensor, bottom=None) -> torch.Tensor:
    """Run ``x`` down ``net.encoder`` and up ``net.decoder`` with skip connections; the top level's features.

    ``bottom``, a module, transforms the bottom level's output before the way up (e.g. a pyramid pooling).
    """
    skips = []
    for level, block in enumerate(net.encoder):
        if level > 0:
            x = net.pool(x)
        x = block(x)
        skips.append(x)
    skips.pop()  # the bottom level's output is x itself
    if bottom is not None:
        x = bottom(x)
    for upsample, block in zip(net.upsample, net.decoder):
        x = upsample(x)
        x = block(torch.cat([skips.pop(), x], dim=1))
    return x


class UNet3D(SegmentationNetwork):
    """Padded 3D U-Net (output size = input size) with depth, width and growth as arguments.

    Parameters
    ----------
    in_channels : int
        Channels of the input stack.
    n_classes : int
        Classes predicted (>= 2).
    depth : int
        Resolution levels, counting the bottom one (>= 1; ``depth - 1`` poolings). 4 gives the
        classic U-Net with three poolings.
    base_channels : int
        Channels at the first level (32-64 in the FIB-SEM study).
    growth : float
        Channel factor per level (> 1; 2 doubles, 1.5 grows more slowly). Level l has
        ``round(base_channels * growth ** l)`` channels.
    pooling : sequence of 3 int
        Max-pooling (and up-sampling) factors (Z, Y, X): (2, 2, 2) for isotropic data,
        (1, 2, 2) for anisotropic stacks with few slices.
    batch_norm : bool
        Batch normalisation after every 3x3x3 convolution.

    Notes
    -----
    Input (N, in_channels, Z, Y, X) with every size a multiple of ``pooling[axis] ** (depth - 1)``;
    ``forward`` returns ``[log_probabilities]`` of shape (N, n_classes, Z, Y, X).
    """

    name = "unet3d"

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, depth: int = 4,
                 base_channels: int = 32, growth: float = 2.0, pooling=(2, 2, 2),
                 batch_norm: bool = True):
        super().__init__()
        in_channels = check_integer(in_channels, "in_channels", minimum=1)
        n_classes = check_integer(n_classes, "n_classes", minimum=2,
                                  hint="Use 2 for background / structure.")
        depth = check_integer(depth, "depth", minimum=1, hint="4 or 5 are usual.")
        base_channels = check_integer(base_channels, "base_channels", minimum=1,
                                      hint="32 or 64 are usual.")
        if isinstance(growth, bool) or not isinstance(growth, numbers.Real) or not growth > 1:
            raise ValueError(f"`growth` must be a number > 1 (1.5 to 2 are usual), got {growth!r}.")
        pooling = _check_pooling(pooling)
        if not isinstance(batch_norm, bool):
            raise ValueError(f"`batch_norm` must be True or False, got {batch_norm!r}.")
        self._arguments = {"in_channels": in_channels, "n_classes": n_classes, "depth": depth,
                           "base_channels": base_channels, "growth": float(growth),
                           "pooling": pooling, "batch_norm": batch_norm}
        self.channels = [max(1, round(base_channels * growth ** level)) for level in range(depth)]
        c = self.channels
        self.encoder, self.pool = contracting_path(in_channels, c, pooling, batch_norm)
        self.upsample, self.decoder = expanding_path(c, pooling, batch_norm)
        self.head = nn.Conv3d(c[0], n_classes, kernel_size=1)

    def _axis_output_size(self, axis: int, size: int):
        step = self._arguments["pooling"][axis] ** (self._arguments["depth"] - 1)
        return size if size % step == 0 else None

    def _size_rule(self) -> str:
        depth = self._arguments["depth"]
        steps = tuple(p ** (depth - 1) for p in self._arguments["pooling"])
        return f"Each size must be a multiple of {steps} (pooling ** (depth - 1)) along (Z, Y, X)."

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Segment a batch of stacks.

        Parameters
        ----------
        x : torch.Tensor, shape (N, in_channels, Z, Y, X)

        Returns
        -------
        list of one torch.Tensor, shape (N, n_classes, Z, Y, X)
            Log-probabilities.
        """
        self._check_input(x)
        return [torch.log_softmax(self.head(u_net_features(self, x)), dim=1)]
