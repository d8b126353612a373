"""HybridNet2D3D: a 2D-3D hybrid network with a 3D spatial pyramid and a 2D auxiliary head.

After the 2D-3D hybrid networks for dense cellular segmentation in serial-block-face EM: the input
is a stack of Z slices (3D context for every slice), an encoder-decoder of 3x3x3 convolutions, a 3D
spatial pyramid pooling module at the bottleneck, and two outputs trained together (the multi-loss
objective; removing the 2D term cost the most in that study):

- output 0, the **main 3D output**: a 1x1x1 convolution of the decoder's features;
- output 1, the **auxiliary 2D output**: two in-plane (1x3x3) convolutions and a 1x1x1 convolution
  of the same features, so it labels every slice from that slice's features alone.

Both are (N, n_classes, Z, Y, X) log-probabilities, so :func:`helpers.losses.deep_supervision_loss`
adds the 3D and the 2D loss with ``loss_weights`` = (weight of the 3D term, weight of the 2D term).
In evaluation mode (``model.eval()``, as for prediction) only the main 3D output is returned.

Layout: ``depth`` levels (``depth - 1`` max-poolings of size ``pooling``); level l has
c_l = base_channels * 2 ** l channels and a block of two padded (3x3x3 convolution, batch norm,
ReLU) groups, as in :class:`helpers.nets.UNet3D`. At the bottom, the pyramid: for every ``b`` in
``pyramid_bins`` the features are average-pooled to (min(b, Z'), min(b, Y'), min(b, X')) cells,
reduced by a 1x1x1 convolution (+ ReLU) to c / len(pyramid_bins) channels and brought back to the
bottleneck's size by trilinear interpolation; the branches are concatenated with the features and
fused by a 1x1x1 convolution (+ batch norm, ReLU) to c channels. Each pyramid cell summarises a
large 3D region, so every voxel sees context from the whole input. On the way up: transposed
convolution, concatenation with the encoder features, a block of two 3x3x3 groups.

Valid input sizes: along every axis a multiple of ``pooling[axis] ** (depth - 1)`` (Z any size and
Y, X multiples of 4 at the defaults). The output has the input's size; the margin is 0.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn
from torch.nn import functional

from ._blocks import SegmentationNetwork, check_integer
from .unet3d import UNet3D, _check_pooling, contracting_path, expanding_path, u_net_features

__all__ = ["HybridNet2D3D"]


def _check_bins(bins) -> tuple[int, ...]:
    try:
        values = tuple(bins)
    except TypeError:
        values = ()
    if (not values or len(set(values)) != len(values)
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values)):
        raise ValueError(
            f"`pyramid_bins` must be distinct whole numbers >= 1, the pooled grid size of each pyramid "
            f"branch, e.g. (1, 2, 4); got {bins!r}."
        )
    return tuple(int(v) for v in values)


class _PyramidPooling3D(nn.Module):
    """3D spatial pyramid pooling: pooled branches at several scales, up-sampled and concatenated."""

    def __init__(self, channels: int, bins: tuple[int, ...], batch_norm: bool):
        super().__init__()
        self.bins = bins
        reduced = max(1, channels // len(bins))
        # no batch norm in the branches: a 1x1x1 branch has one value per channel and patch
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv3d(channels, reduced, kernel_size=1), nn.ReLU(inplace=True)) for _ in bins
        )
        fuse = [nn.Conv3d(channels + reduced * len(bins), channels, kernel_size=1, bias=not batch_norm)]
        if batch_norm:
            fuse.append(nn.BatchNorm3d(channels))
        fuse.append(nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(*fuse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[2:])
        pooled = []
        for b, branch in zip(self.bins, self.branches):
            cells = tuple(min(b, s) for s in size)
            y = branch(functional.adaptive_avg_pool3d(x, cells))
            pooled.append(functional.interpolate(y, size=size, mode="trilinear", align_corners=False))
        return self.fuse(torch.cat([x, *pooled], dim=1))


class HybridNet2D3D(SegmentationNetwork):
    """2D-3D hybrid encoder-decoder: 3x3x3 convolutions, a 3D pyramid, a 3D and a 2D output.

    Parameters
    ----------
    in_channels : int
        Channels of the input stack.
    n_classes : int
        Classes predicted (>= 2), e.g. 5 for background, cytoplasm, membrane, nucleus and
        mitochondria.
    depth : int
        Resolution levels, counting the bottom one (>= 1; ``depth - 1`` poolings).
    base_channels : int
        Channels at the first level; level l has ``base_channels * 2 ** l``.
    pooling : sequence of 3 int
        Max-pooling (and up-sampling) factors (Z, Y, X): (1, 2, 2) keeps every section of an
        anisotropic SBF-EM stack, (2, 2, 2) for isotropic data.
    pyramid_bins : sequence of int
        Grid size of each branch of the 3D spatial pyramid (1 = the mean over the whole bottleneck).
    batch_norm : bool
        Batch normalisation after every 3x3x3 convolution.

    Notes
    -----
    Input (N, in_channels, Z, Y, X) with every size a multiple of ``pooling[axis] ** (depth - 1)``.
    ``forward`` returns ``[main_3d, auxiliary_2d]`` in training mode and ``[main_3d]`` in evaluation
    mode, each (N, n_classes, Z, Y, X) log-probabilities; train with two ``loss_weights``, the 3D
    term first.
    """

    name = "hybrid_2d3d"

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, depth: int = 3, base_channels: int = 16,
                 pooling=(1, 2, 2), pyramid_bins=(1, 2, 4), batch_norm: bool = True):
        super().__init__()
        in_channels = check_integer(in_channels, "in_channels", minimum=1)
        n_classes = check_integer(n_classes, "n_classes", minimum=2, hint="Use 2 for background / structure.")
        depth = check_integer(depth, "depth", minimum=1, hint="3 or 4 are usual.")
        base_channels = check_integer(base_channels, "base_channels", minimum=1, hint="16 to 32 are usual.")
        pooling = _check_pooling(pooling)
        bins = _check_bins(pyramid_bins)
        if not isinstance(batch_norm, bool):
            raise ValueError(f"`batch_norm` must be True or False, got {batch_norm!r}.")
        self._arguments = {"in_channels": in_channels, "n_classes": n_classes, "depth": depth,
                           "base_channels": base_channels, "pooling": pooling, "pyramid_bins": bins,
                           "batch_norm": batch_norm}
        self.channels = [base_channels * 2 ** level for level in range(depth)]
        c = self.channels
        self.encoder, self.pool = contracting_path(in_channels, c, pooling, batch_norm)
        self.pyramid = _PyramidPooling3D(c[-1], bins, batch_norm)
        self.upsample, self.decoder = expanding_path(c, pooling, batch_norm)
        self.head_3d = nn.Conv3d(c[0], n_classes, kernel_size=1)
        in_plane = []
        for _ in range(2):
            in_plane.append(nn.Conv3d(c[0], c[0], kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=not batch_norm))
            if batch_norm:
                in_plane.append(nn.BatchNorm3d(c[0]))
            in_plane.append(nn.ReLU(inplace=True))
        in_plane.append(nn.Conv3d(c[0], n_classes, kernel_size=1))
        self.head_2d = nn.Sequential(*in_plane)

    # The same input-size rule as the 3D U-Net: every size a multiple of pooling ** (depth - 1).
    _axis_output_size = UNet3D._axis_output_size
    _size_rule = UNet3D._size_rule

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Segment a batch of stacks.

        Parameters
        ----------
        x : torch.Tensor, shape (N, in_channels, Z, Y, X)

        Returns
        -------
        list of torch.Tensor, each (N, n_classes, Z, Y, X)
            Log-probabilities: the main 3D output, then (training mode only) the auxiliary 2D
            output.
        """
        self._check_input(x)
        x = u_net_features(self, x, bottom=self.pyramid)
        outputs = [torch.log_softmax(self.head_3d(x), dim=1)]
        if self.training:
            outputs.append(torch.log_softmax(self.head_2d(x), dim=1))
        return outputs
