"""Segmentation networks (PyTorch), our own implementations of the architectures in the seed papers.

Every network is a :class:`torch.nn.Module` built from keyword arguments only, and has

- ``forward(x)``: x of shape (N, in_channels, Z, Y, X) (2D MSDNet: (N, in_channels, Y, X)) ->
  a list of log-probability tensors (log-softmax over the class axis), main output first, then
  the auxiliary outputs in training mode (Net_basic and Net_zoom have two, HybridNet2D3D one,
  the others none), each of shape
  (N, n_classes, *output_shape(spatial input size));
- ``output_shape(input_shape)``: the spatial output size, or ValueError naming the nearest valid
  input sizes; ``valid_input_shape(shape)``: the smallest valid input size >= ``shape`` per axis;
- ``margin``: input minus output size per axis (0 for the padded networks); a tiled prediction
  pads the image by ``margin // 2`` before and the rest after, so every output voxel sees full
  context;
- ``config``: a JSON-able dict ``{"name": ..., **constructor arguments}``; :func:`build` rebuilds
  the network from it.

Networks (``NETWORKS`` key: class, input-size rule, margin at the defaults):

``"net_basic"``: :class:`NetBasic`
    Unpadded anisotropic 3D U-Net of the iterative deep-learning workflow. Z >= 29; Y and X of the
    form 8 m + 60, m >= 4 (92, 100, ..., 140, ...). Margin (28, 88, 88): 44 x 140 x 140 ->
    16 x 52 x 52, 50 x 156 x 156 -> 22 x 68 x 68.
``"net_zoom"``: :class:`NetZoom`
    Net_basic behind an extra (1, k, k) pooling (k = ``zoom``, 3). Z >= 33; Y and X =
    k (8 m + 60), m >= 4. Margin (32, 88 k + 4, 88 k + 4): 72 x 420 x 420 -> 40 x 152 x 152.
``"unet3d"``: :class:`UNet3D`
    Padded 3D U-Net (Cicek et al.; the FIB-SEM U-Net). Every size a multiple of
    ``pooling[axis] ** (depth - 1)`` (8 at the defaults). Margin 0.
``"msdnet"``: :class:`MSDNet`
    Mixed-scale dense network, 2D or 3D. Any size. Margin 0.
``"hybrid_2d3d"``: :class:`HybridNet2D3D`
    2D-3D hybrid network of the SBF-EM study: 3x3x3 encoder-decoder with a 3D spatial pyramid,
    a main 3D output and an auxiliary 2D (in-plane) output. Every size a multiple of
    ``pooling[axis] ** (depth - 1)`` ((1, 4, 4) at the defaults). Margin 0.

Example
-------
>>> from helpers import nets
>>> net = nets.build({"name": "net_basic", "base_channels": 8})
>>> net.output_shape((44, 140, 140))
(16, 52, 52)
>>> nets.build(net.config).config == net.config
True
"""

from __future__ import annotations

import difflib

from .hybrid import HybridNet2D3D
from .msdnet import MSDNet
from .net_basic import NetBasic
from .net_zoom import NetZoom
from .unet3d import UNet3D

__all__ = ["NETWORKS", "build", "NetBasic", "NetZoom", "UNet3D", "MSDNet", "HybridNet2D3D"]

NETWORKS = {
    "net_basic": NetBasic,
    "net_zoom": NetZoom,
    "unet3d": UNet3D,
    "msdnet": MSDNet,
    "hybrid_2d3d": HybridNet2D3D,
}


def build(config):
    """Build a network from its configuration.

    Parameters
    ----------
    config : dict or str
        ``{"name": <a key of NETWORKS>, **constructor arguments}``, as given by a network's
        ``config`` property (missing arguments take their defaults); a bare name builds the
        default network.

    Returns
    -------
    torch.nn.Module
        A freshly initialised network (load trained weights with ``load_state_dict``).

    Raises
    ------
    ValueError
        For an unknown name (the message suggests close ones) or invalid arguments.
    """
    if isinstance(config, str):
        config = {"name": config}
    if not isinstance(config, dict):
        raise ValueError(
            f"`config` must be a dict such as {{'name': 'net_basic', 'n_classes': 2}}, "
            f"got {type(config).__name__}."
        )
    if "name" not in config:
        raise ValueError(f"`config` needs a 'name', one of {sorted(NETWORKS)}; got keys {sorted(config)}.")
    name = config["name"]
    if name not in NETWORKS:
        key = str(name).lower().replace("-", "_").replace(" ", "_")
        close = difflib.get_close_matches(key, list(NETWORKS), n=2, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown network {name!r}; choose one of {sorted(NETWORKS)}.{hint}")
    cls = NETWORKS[name]
    arguments = {k: v for k, v in config.items() if k != "name"}
    try:
        return cls(**arguments)
    except TypeError as error:
        import inspect

        allowed = [p for p in inspect.signature(cls).parameters]
        unknown = sorted(set(arguments) - set(allowed))
        raise ValueError(
            f"{cls.__name__} does not take the argument(s) {unknown}; it takes {allowed}."
        ) from error
