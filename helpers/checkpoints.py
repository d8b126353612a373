"""Checkpoints of trained networks: the weights with everything needed to use them again.

A checkpoint is one file written by ``torch.save`` holding only plain data and tensors: the network's
settings (``helpers.nets.build`` rebuilds it), its weights, the image normalization used in training
(prediction applies the same), the package version, the training iteration and history, and (for
resuming) the optimizer's state. It is read with ``torch.load(weights_only=True)``, which refuses
any file that would run code when unpickled; such files, and files that are not our checkpoints,
are refused with an error that says so.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "FORMAT"]

#: Marker and version of the checkpoint layout.
FORMAT = "helpers-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : torch.nn.Module
        The network, with its weights, in eval mode on the requested device.
    normalization : dict
        The normalization used in training (``helpers.training_data.normalize`` applies it).
    network : dict
        The network's settings (``model.config``).
    iteration : int
        Training iterations done.
    info : dict
        The rest: package version, training settings, history, best validation score, class count.
    optimizer_state : dict or None
        The optimizer's state, for resuming.
    """

    model: Any
    normalization: dict
    network: dict
    iteration: int
    info: dict = field(default_factory=dict)
    optimizer_state: dict | None = None


def save_checkpoint(path, model, *, normalization: dict, iteration: int, optimizer=None, info: dict | None = None) -> Path:
    """Write a checkpoint atomically (a crash never leaves a half-written file under ``path``)."""
    import torch

    from . import __version__
    from ._atomic import atomic_path

    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError("The model has no `config` with a 'name'; use a network from helpers.nets.")
    content = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__,
        "network": dict(config), "normalization": dict(normalization), "iteration": int(iteration),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "info": dict(info or {}),
    }
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(content, temporary)
    return path


def load_checkpoint(path, *, device=None) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`; refuse anything else.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When the file is not a checkpoint of this package, holds Python objects other than plain
        data and tensors (refused for safety: unpickling them could run code), or is damaged.
    """
    import torch

    from .nets import build

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {path}.")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path} was refused: it holds Python objects other than weights and plain data, and "
                         "loading it could run code. Only checkpoints written by helpers (segmenter train) are "
                         f"accepted. ({str(error).splitlines()[0]})") from error
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path} is not a readable checkpoint (damaged or not a PyTorch file): {error}") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ValueError(f"{path} is not a helpers checkpoint (no '{FORMAT}' marker); train a model with "
                         "`segmenter train` or helpers.training.train.")
    if content.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer version of helpers ({content.get('package_version')}); "
                         "update the package to read it.")
    model = build(content["network"])
    try:
        model.load_state_dict(content["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not fit the network {content['network']}: {error}") from error
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    return Checkpoint(model=model, normalization=content["normalization"], network=content["network"],
                      iteration=content["iteration"], info=content.get("info", {}),
                      optimizer_state=content.get("optimizer"))
