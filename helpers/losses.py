"""Training losses: cross-entropy weighted per voxel by a cost map, with deep supervision.

The reference trains its networks with a weighted cross-entropy: every voxel's loss is multiplied
by a cost map (1 by default; 0 excludes a voxel, e.g. a region the curator masked out or the
padding added around an image; larger values stress a region). Networks with auxiliary heads
(Net_basic, Net_zoom) add one such loss per head, summed with weights (1, 1, 1 in the reference).
"""

from __future__ import annotations

import torch

__all__ = ["weighted_cross_entropy", "deep_supervision_loss"]


def weighted_cross_entropy(log_probabilities: torch.Tensor, target: torch.Tensor,
                           cost_map: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over the voxels, each weighted by the cost map.

    Parameters
    ----------
    log_probabilities : torch.Tensor, shape (N, n_classes, *spatial)
        Log-softmax output of a network.
    target : torch.Tensor of int, shape (N, *spatial)
        The class of every voxel (0 .. n_classes - 1).
    cost_map : torch.Tensor, shape (N, *spatial), optional
        Non-negative weight per voxel; 0 excludes it. Default: 1 everywhere.

    Returns
    -------
    torch.Tensor
        A scalar: sum of weight x (-log p(true class)) divided by the sum of the weights (0 when every
        weight is 0, so an excluded patch adds no gradient).
    """
    if log_probabilities.ndim < 3:
        raise ValueError(f"`log_probabilities` must be (N, classes, *spatial); got shape {tuple(log_probabilities.shape)}.")
    expected = (log_probabilities.shape[0], *log_probabilities.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"`target` has shape {tuple(target.shape)} but the network output needs {expected} "
                         "(batch, then the output's spatial size; crop the truth to the output).")
    classes = log_probabilities.shape[1]
    target = target.long()
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= classes):
        raise ValueError(f"`target` holds classes {int(target.min())}..{int(target.max())}, but the network has "
                         f"{classes} classes (0..{classes - 1}); check the ground truth's values.")
    picked = -log_probabilities.gather(1, target.unsqueeze(1)).squeeze(1)
    if cost_map is None:
        return picked.mean()
    if tuple(cost_map.shape) != expected:
        raise ValueError(f"`cost_map` has shape {tuple(cost_map.shape)}; it must match the target, {expected}.")
    weights = cost_map.to(picked.dtype)
    total = weights.sum()
    return (picked * weights).sum() / total.clamp_min(torch.finfo(picked.dtype).tiny) if total > 0 else picked.sum() * 0


def deep_supervision_loss(outputs, target: torch.Tensor, cost_map: torch.Tensor | None = None,
                          weights=None) -> torch.Tensor:
    """The weighted sum of :func:`weighted_cross_entropy` over a network's outputs (main first).

    Parameters
    ----------
    outputs : list of torch.Tensor
        What a network of :mod:`helpers.nets` returns: the main output, then auxiliary outputs of the
        same shape.
    target, cost_map :
        As for :func:`weighted_cross_entropy`.
    weights : sequence of float, optional
        One weight per output; default 1 for each (the reference's 1, 1, 1).
    """
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    if not outputs:
        raise ValueError("`outputs` is empty; pass the list a network returns.")
    weights = [1.0] * len(outputs) if weights is None else list(weights)
    if len(weights) != len(outputs):
        raise ValueError(f"Got {len(weights)} loss weights for {len(outputs)} network outputs; give one per output "
                         "(main first).")
    if any(w < 0 for w in weights):
        raise ValueError(f"Loss weights must be non-negative, got {weights}.")
    return sum(w * weighted_cross_entropy(o, target, cost_map) for w, o in zip(weights, outputs))
