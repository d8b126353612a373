"""Net_zoom: Net_basic behind one more max-pooling (1, k, k), for a larger field of view.

Input (N, C, Z, Y, X) -> list of three (N, n_classes, Z - 32, Y', X') log-probability tensors.

Layout (``base_channels`` = b): a max-pooling (1, k, k) (k = ``zoom``), then the whole Net_basic
body (see :mod:`helpers.nets.net_basic`) up to its last decoder block (2b channels), then a
transposed convolution 2b -> 2b of kernel and stride (1, k, k) and one more unpadded decoder block
2b -> 2b -> 2b (64 -> 64 -> 64 at b = 32; there is no skip connection at full resolution), and the
1x1x1 main head. The auxiliary heads up-sample by k times more: transposed convolutions of kernel
(1, 8k, 8k) stride (1, 4k, 4k) and kernel (1, 4k, 4k) stride (1, 2k, 2k).

Valid input sizes: Z >= 33 (output Z - 32); Y and X = k (8 m + 60) with m >= 4, giving
k (8 m - 28) - 4, so the margin is (32, 88 k + 4, 88 k + 4). At k = 3: Y, X in
276, 300, ..., 420, 444, ...; the documented 72 x 420 x 420 gives 40 x 152 x 152.
"""

from __future__ import annotations

from ._blocks import check_integer
from .net_basic import _UnpaddedUNet

__all__ = ["NetZoom"]


class NetZoom(_UnpaddedUNet):
    """Net_zoom: Net_basic with an extra (1, k, k) down- and up-sampling around it.

    Parameters
    ----------
    in_channels : int
        Channels of the input stack.
    n_classes : int
        Classes predicted (>= 2).
    zoom : int
        The extra down-sampling factor k in Y and X (>= 2; 3 as published).
    base_channels : int
        Channels of the first convolution (32 as published).

    Notes
    -----
    Input (N, in_channels, Z, Y, X); ``forward`` returns three (N, n_classes, *output_shape)
    log-probability tensors. Valid sizes: Z >= 33 and Y, X = zoom * (8 m + 60), m >= 4;
    72 x 420 x 420 -> 40 x 152 x 152 at zoom 3. ``margin`` is (32, 88 zoom + 4, 88 zoom + 4).
    """

    name = "net_zoom"

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, zoom: int = 3,
                 base_channels: int = 32):
        super().__init__()
        in_channels = check_integer(in_channels, "in_channels", minimum=1)
        n_classes = check_integer(n_classes, "n_classes", minimum=2,
                                  hint="Use 2 for background / structure.")
        zoom = check_integer(zoom, "zoom", minimum=2,
                             hint="zoom = 1 is Net_basic: use NetBasic (name 'net_basic').")
        base_channels = check_integer(base_channels, "base_channels", minimum=1,
                                      hint="The published network uses 32.")
        self._arguments = {"in_channels": in_channels, "n_classes": n_classes, "zoom": zoom,
                           "base_channels": base_channels}
        self._build(in_channels, n_classes, base_channels, zoom=zoom)
