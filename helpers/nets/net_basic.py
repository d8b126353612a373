"""Net_basic: the unpadded anisotropic 3D U-Net of the iterative deep-learning workflow.

Input (N, C, Z, Y, X) -> list of three (N, n_classes, Z - 28, Y - 88, X - 88) log-probability
tensors (main output, then the two auxiliary deep-supervision outputs), at the default layout.

Layout (``base_channels`` = b, 32 by default; every convolution 3x3x3 and unpadded):

- encoder blocks in -> b -> 2b, 2b -> 2b -> 4b, 4b -> 4b -> 8b, bottom 8b -> 8b -> 16b, each
  convolution followed by batch norm without affine parameters and ReLU, max-pooling (1, 2, 2)
  between the blocks (never along Z);
- three transposed convolutions of kernel and stride (1, 2, 2) that keep the channel count, each
  followed by concatenation with the centre-cropped encoder output of the same level and a decoder
  block (8b + 16b) -> 8b -> 8b, (4b + 8b) -> 4b -> 4b, (2b + 4b) -> 2b -> 2b;
- main head: a 1x1x1 convolution to ``n_classes``;
- two auxiliary heads, from the decoder outputs with 8b and 4b channels: a transposed convolution
  to 2b channels back to full resolution (kernel (1, 8, 8) stride (1, 4, 4), resp. kernel (1, 4, 4)
  stride (1, 2, 2)), a 3x3x3 convolution 2b -> 2b with batch norm and ReLU, a 1x1x1 convolution to
  ``n_classes``, centre-cropped to the main output's size;
- log-softmax over the class axis on all three outputs.

Valid input sizes: along Z any size >= 29 (output Z - 28); along Y and X the sizes 8 m + 60 with
m >= 4 (92, 100, ..., 140, 148, 156, ...), giving 8 m - 28 (Y - 88). The margin (input minus output)
is (28, 88, 88). Documented: 44 x 140 x 140 -> 16 x 52 x 52, 50 x 156 x 156 -> 22 x 68 x 68.
"""

from __future__ import annotations

import torch
from torch import nn

from ._blocks import ConvBlock, SegmentationNetwork, center_crop, check_integer

__all__ = ["NetBasic"]

_LEVELS = 3  # max-poolings (1, 2, 2) inside the U


class _UnpaddedUNet(SegmentationNetwork):
    """Shared body of Net_basic (zoom 1) and Net_zoom (zoom k >= 2)."""

    def _build(self, in_channels: int, n_classes: int, base_channels: int, zoom: int) -> None:
        b = base_channels
        self._zoom = zoom
        encoder_channels = [(in_channels, b, 2 * b), (2 * b, 2 * b, 4 * b), (4 * b, 4 * b, 8 * b)]
        self.encoder = nn.ModuleList(
            ConvBlock(*c, padded=False, affine=False) for c in encoder_channels
        )
        self.pool = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.bottom = ConvBlock(8 * b, 8 * b, 16 * b, padded=False, affine=False)
        # Decoder, deepest level first: up-sampled channels, skip channels, output channels.
        decoder_channels = [(16 * b, 8 * b, 8 * b), (8 * b, 4 * b, 4 * b), (4 * b, 2 * b, 2 * b)]
        self.upsample = nn.ModuleList(
            nn.ConvTranspose3d(c_up, c_up, kernel_size=(1, 2, 2), stride=(1, 2, 2))
            for c_up, _, _ in decoder_channels
        )
        self.decoder = nn.ModuleList(
            ConvBlock(c_up + c_skip, c_out, c_out, padded=False, affine=False)
            for c_up, c_skip, c_out in decoder_channels
        )
        if zoom > 1:
            self.zoom_pool = nn.MaxPool3d(kernel_size=(1, zoom, zoom), stride=(1, zoom, zoom))
            self.zoom_upsample = nn.ConvTranspose3d(2 * b, 2 * b, kernel_size=(1, zoom, zoom),
                                                    stride=(1, zoom, zoom))
            self.zoom_decoder = ConvBlock(2 * b, 2 * b, 2 * b, padded=False, affine=False)
        self.head = nn.Conv3d(2 * b, n_classes, kernel_size=1)
        # Auxiliary heads from the 8b- and 4b-channel decoder outputs (up-sampling 4 and 2, times zoom).
        self.aux_heads = nn.ModuleList()
        for channels, factor in ((8 * b, 4), (4 * b, 2)):
            stride = factor * zoom
            self.aux_heads.append(nn.Sequential(
                nn.ConvTranspose3d(channels, 2 * b, kernel_size=(1, 2 * stride, 2 * stride),
                                   stride=(1, stride, stride)),
                nn.Conv3d(2 * b, 2 * b, kernel_size=3),
                nn.BatchNorm3d(2 * b, affine=False),
                nn.ReLU(inplace=True),
                nn.Conv3d(2 * b, n_classes, kernel_size=1),
            ))

    # ------------------------------------------------------------------ sizes
    def _axis_output_size(self, axis: int, size: int):
        pool = 1 if axis == 0 else 2
        zoom = 1 if axis == 0 else self._zoom
        if size % zoom:
            return None
        n = size // zoom
        for _ in range(_LEVELS):
            n -= 4
            if n < 1 or n % pool:
                return None
            n //= pool
        n -= 4  # bottom block
        if n < 1:
            return None
        for _ in range(_LEVELS):
            n = n * pool - 4
            if n < 1:
                return None
        if self._zoom > 1:  # the extra up-sampling (1 along Z) and decoder block of Net_zoom
            n = n * zoom - 4
            if n < 1:
                return None
        return n

    def _size_rule(self) -> str:
        zoom = self._zoom
        if zoom == 1:
            return ("Valid sizes: Z >= 29; Y and X of the form 8 m + 60 with m >= 4 "
                    "(92, 100, ..., 140, 148, 156, ...).")
        return (f"Valid sizes: Z >= 33; Y and X of the form {zoom} x (8 m + 60) with m >= 4 "
                f"({zoom * 92}, {zoom * 100}, ..., {zoom * 140}, ...).")

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Segment a batch of stacks.

        Parameters
        ----------
        x : torch.Tensor, shape (N, in_channels, Z, Y, X)
            A valid input size (see :meth:`valid_input_shape`).

        Returns
        -------
        list of torch.Tensor, each of shape (N, n_classes, *output_shape((Z, Y, X)))
            Log-probabilities: main output, then the two auxiliary outputs. In evaluation mode
            (``model.eval()``, as for prediction) only the main output: the auxiliary heads serve
            training alone and would cost about as much as the last decoder block.
        """
        out_shape = self._check_input(x)
        if self._zoom > 1:
            x = self.zoom_pool(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        decoded = []
        for upsample, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = upsample(x)
            x = block(torch.cat([center_crop(skip, x.shape[2:]), x], dim=1))
            decoded.append(x)
        if self._zoom > 1:
            x = self.zoom_decoder(self.zoom_upsample(x))
        outputs = [self.head(x)]
        for head, features in zip(self.aux_heads if self.training else (), decoded[:2]):
            outputs.append(center_crop(head(features), out_shape))
        return [torch.log_softmax(o, dim=1) for o in outputs]


class NetBasic(_UnpaddedUNet):
    """Net_basic: unpadded anisotropic 3D U-Net with two auxiliary (deep-supervision) heads.

    Parameters
    ----------
    in_channels : int
        Channels of the input stack (1 for a single fluorescence channel).
    n_classes : int
        Classes predicted (>= 2; 2 for background / structure).
    base_channels : int
        Channels of the first convolution (32 as published; the plan is b-2b-4b-8b-16b). Small
        values (4, 8) give fast test models.

    Notes
    -----
    Input (N, in_channels, Z, Y, X); ``forward`` returns three (N, n_classes, Z - 28, Y - 88,
    X - 88) log-probability tensors. Valid sizes: Z >= 29, Y and X = 8 m + 60 with m >= 4
    (e.g. 44 x 140 x 140 -> 16 x 52 x 52, 50 x 156 x 156 -> 22 x 68 x 68). ``margin`` is
    (28, 88, 88).
    """

    name = "net_basic"

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, base_channels: int = 32):
        super().__init__()
        in_channels = check_integer(in_channels, "in_channels", minimum=1)
        n_classes = check_integer(n_classes, "n_classes", minimum=2,
                                  hint="Use 2 for background / structure.")
        base_channels = check_integer(base_channels, "base_channels", minimum=1,
                                      hint="The published network uses 32.")
        self._arguments = {"in_channels": in_channels, "n_classes": n_classes,
                           "base_channels": base_channels}
        self._build(in_channels, n_classes, base_channels, zoom=1)
