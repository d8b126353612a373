"""Top-k ensembles of trained networks, and comparing a training over several random seeds.

Two trainings of the same network on the same data differ by their random seed alone (initial
weights, patch order, augmentation), and so do their scores: the 2D-3D SBF-EM study compared its
architectures over several seeds, and got its best results from *top-k ensembles*, averaging the
predictions of the k networks that scored best on the validation data. This module does both:

- :func:`rank_checkpoints` orders checkpoints by the validation score that training stored in them;
- :class:`TopKEnsemble` is a model made of the k best: :func:`helpers.inference.predict` runs it like
  any network, and it returns the log of the *mean of the members' probabilities*;
  :func:`predict_ensemble` gives the same probabilities for a raw image, one member at a time;
- :func:`compare_seeds` trains one or several configurations once per seed (reusing finished
  trainings), scores each best checkpoint with a function of yours, and summarises mean and
  standard deviation per architecture; :func:`plot_seed_comparison` draws it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = ["RankedCheckpoint", "rank_checkpoints", "TopKEnsemble", "predict_ensemble", "SeedComparison",
           "compare_seeds", "plot_seed_comparison", "RANKINGS"]

#: Scores a checkpoint can be ranked by, and whether larger is better.
RANKINGS = {
    "best_validation_dice": True,  # the best validation Dice of the training (the checkpoint_best.pt score)
    "validation_dice": True,  # the validation Dice at the checkpoint's own iteration
    "validation_loss": False,  # the validation loss at the checkpoint's own iteration
}


@dataclass(frozen=True)
class RankedCheckpoint:
    """One checkpoint with the score it was ranked by.

    Attributes
    ----------
    path : pathlib.Path
        The checkpoint file.
    score : float
        Its value of the ranking score.
    network : str
        The network's name (``"unet3d"``, ``"hybrid_2d3d"``, ...).
    iteration : int
        Training iterations done when it was written.
    """

    path: Path
    score: float
    network: str
    iteration: int


def _checkpoint_file(item) -> Path:
    path = Path(item)
    if path.is_dir():
        best = path / "checkpoint_best.pt"
        if not best.is_file():
            raise FileNotFoundError(f"{path} is a folder without checkpoint_best.pt; pass the folder of a finished "
                                    "training (helpers.training.train) or the checkpoint file itself.")
        return best
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file or training folder at {path}.")
    return path


def _as_list(paths_or_folders, name: str) -> list:
    if isinstance(paths_or_folders, (str, Path)):
        return [paths_or_folders]
    try:
        items = list(paths_or_folders)
    except TypeError:
        raise ValueError(f"`{name}` must be checkpoint files or training folders (a list of paths), "
                         f"got {type(paths_or_folders).__name__}.") from None
    if not items:
        raise ValueError(f"`{name}` is empty; pass at least one checkpoint file or training folder.")
    return items


def _score(checkpoint, by: str, path: Path) -> float:
    info = checkpoint.info
    if by == "best_validation_dice":
        value = info.get("best_validation_dice")
    else:
        rows = [row for row in info.get("history", []) if row.get("iteration") == checkpoint.iteration]
        value = rows[-1].get(by) if rows else None
    if value is None or not math.isfinite(float(value)):
        raise ValueError(f"{path} holds no {by!r} (it was not written by helpers.training.train with validation); "
                         "rank only checkpoints of finished trainings.")
    return float(value)


def rank_checkpoints(paths_or_folders, *, by: str = "best_validation_dice") -> list[RankedCheckpoint]:
    """Order checkpoints from best to worst by a validation score stored in them by training.

    Parameters
    ----------
    paths_or_folders : path or sequence of paths
        Checkpoint files, or training output folders (their ``checkpoint_best.pt`` is used).
    by : str
        A key of :data:`RANKINGS`: ``"best_validation_dice"`` (default; larger is better),
        ``"validation_dice"`` or ``"validation_loss"`` (smaller is better) at the checkpoint's
        own iteration.

    Returns
    -------
    list of RankedCheckpoint
        Best first; ties keep the order given.

    Raises
    ------
    FileNotFoundError
        For a path that is neither a checkpoint file nor a folder holding ``checkpoint_best.pt``.
    ValueError
        For an unknown ``by``, a file that is not a checkpoint, or a checkpoint without that score.
    """
    return [entry for entry, _ in _rank(paths_or_folders, by, "paths_or_folders")]


def _rank(paths_or_folders, by: str, name: str) -> list[tuple[RankedCheckpoint, Any]]:
    """(RankedCheckpoint, loaded checkpoint without its weights) pairs, best first."""
    from .checkpoints import load_checkpoint

    if by not in RANKINGS:
        raise ValueError(f"`by` must be one of {', '.join(RANKINGS)}; got {by!r}.")
    ranked = []
    for item in _as_list(paths_or_folders, name):
        path = _checkpoint_file(item)
        checkpoint = load_checkpoint(path, device="cpu")
        entry = RankedCheckpoint(path=path, score=_score(checkpoint, by, path),
                                 network=str(checkpoint.network.get("name")), iteration=checkpoint.iteration)
        ranked.append((entry, replace(checkpoint, model=None, optimizer_state=None)))
    sign = -1.0 if RANKINGS[by] else 1.0
    return sorted(ranked, key=lambda pair: sign * pair[0].score)


def _check_k(k, n: int) -> int:
    if k is None:
        return n
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"`k` must be a whole number >= 1 (how many of the best networks to average), got {k!r}.")
    if k > n:
        raise ValueError(f"`k` = {k} but only {n} checkpoint(s) were given; pass k <= {n}, or more checkpoints.")
    return int(k)


def _select(checkpoints, k, by) -> list[RankedCheckpoint]:
    """The k best checkpoints (best first), checked to agree on normalization and classes."""
    ranked = _rank(checkpoints, by, "checkpoints")
    chosen = ranked[:_check_k(k, len(ranked))]
    for entry, checkpoint in chosen[1:]:
        _check_agrees(chosen[0][1], chosen[0][0].path, checkpoint, entry.path)
    return [entry for entry, _ in chosen]


def _check_agrees(first, first_path: Path, member, path: Path) -> None:
    """Raise ValueError when ``member`` normalizes or classifies differently from ``first``."""
    if member.normalization != first.normalization:
        raise ValueError(
            f"The checkpoints normalize images differently: {first_path} uses {first.normalization} but "
            f"{path} uses {member.normalization}. An ensemble averages networks that see the same input; "
            "use checkpoints trained with the same `normalization` setting."
        )
    classes = (first.network.get("n_classes", 2), member.network.get("n_classes", 2))
    if classes[0] != classes[1]:
        raise ValueError(
            f"The checkpoints predict different numbers of classes: {first_path} {classes[0]}, {path} "
            f"{classes[1]}. Ensemble only networks trained for the same classes."
        )


class TopKEnsemble(nn.Module):
    """The k best trained networks as one model that averages their class probabilities.

    Parameters
    ----------
    checkpoints : path or sequence of paths
        Checkpoint files or training output folders (their ``checkpoint_best.pt``).
    k : int, optional
        How many of the best to keep (ranked by ``by``). Default: all of them.
    by : str
        The ranking score, a key of :data:`RANKINGS`.

    Attributes
    ----------
    members : torch.nn.ModuleList
        The member networks, best first.
    paths : list of pathlib.Path
        Their checkpoint files, best first.
    scores : list of float
        Their ranking scores.
    normalization : dict
        The image normalization every member was trained with; normalize images with it
        (``helpers.training_data.normalize(image, ensemble.normalization)``) before
        :func:`helpers.inference.predict`.
    n_classes : int

    Notes
    -----
    ``forward`` takes (N, C, Z, Y, X) and returns ``[log(mean_i p_i)]``, one (N, n_classes, Z, Y, X)
    tensor: the log of the mean of the members' probabilities (computed stably as a log-sum-exp of
    their log-probabilities minus log k). The mean of probabilities is what "averaging the
    predictions" means: it is again a probability distribution, each member's vote is bounded by
    1 / k, and a voxel gets a class when the members on average find it likely. Averaging the
    logits (log-probabilities) instead would be a geometric mean: one member that is confidently
    wrong (log p near -30) vetoes a class the others agree on, and the result is no longer the
    average of the predictions.

    Members must agree on the normalization and the number of classes (checked before any weights
    are used), and have the same margin
    (the same output size for an input tile); a valid input size is one every member accepts.
    Members are loaded on the CPU; :func:`helpers.inference.predict` moves the ensemble to its
    ``device``.

    Raises
    ------
    ValueError
        For ``k`` larger than the number of checkpoints or below 1, members that normalize
        differently, predict different classes or have different margins.
    FileNotFoundError
        For a path that is neither a checkpoint nor a training folder.

    Examples
    --------
    >>> ensemble = TopKEnsemble(["models/seed_0", "models/seed_1", "models/seed_2"], k=2)  # doctest: +SKIP
    >>> from helpers.inference import predict  # doctest: +SKIP
    >>> from helpers.training_data import normalize  # doctest: +SKIP
    >>> probabilities = predict(ensemble, normalize(image, ensemble.normalization))  # doctest: +SKIP
    """

    def __init__(self, checkpoints, k: int | None = None, *, by: str = "best_validation_dice"):
        from .checkpoints import load_checkpoint

        super().__init__()
        chosen = _select(checkpoints, k, by)
        paths = [r.path for r in chosen]
        loaded = [load_checkpoint(path, device="cpu") for path in paths]
        margins = {tuple(getattr(m.model, "margin", (0, 0, 0))) for m in loaded}
        if len(margins) > 1:
            raise ValueError(f"The members shrink their input by different margins {sorted(margins)}; their "
                             "outputs would not line up. Ensemble networks of the same kind (or all padded ones).")
        self.members = nn.ModuleList(m.model for m in loaded)
        self.paths = paths
        self.scores = [r.score for r in chosen]
        self.normalization = dict(loaded[0].normalization)
        self.n_classes = int(loaded[0].network.get("n_classes", 2))
        self._margin = margins.pop()

    @property
    def k(self) -> int:
        """The number of members."""
        return len(self.members)

    @property
    def margin(self) -> tuple:
        """Input minus output size per axis (the members' common margin)."""
        return self._margin

    def valid_input_shape(self, shape) -> tuple:
        """The smallest (Z, Y, X) size >= ``shape`` that every member accepts."""
        current = tuple(int(v) for v in shape)
        for _ in range(1000):
            proposed = current
            for member in self.members:
                proposed = tuple(int(v) for v in member.valid_input_shape(proposed))
            if proposed == current:
                return current
            current = proposed
        raise ValueError(f"The members accept no common input size near {tuple(shape)}; ensemble networks with "
                         "compatible size rules.")

    def output_shape(self, input_shape) -> tuple:
        """The output size of an input size (ValueError when a member does not accept it)."""
        shapes = {tuple(int(v) for v in member.output_shape(input_shape)) for member in self.members}
        return shapes.pop()

    def forward(self, x):
        """Log of the mean of the members' probabilities, as a one-item list (main output)."""
        stacked = torch.stack([member(x)[0].float() for member in self.members])
        return [torch.logsumexp(stacked, dim=0) - math.log(len(self.members))]


def predict_ensemble(checkpoints, image, *, k: int | None = None, by: str = "best_validation_dice",
                     tile_shape=None, batch_size: int = 1, device=None) -> np.ndarray:
    """Mean class probabilities of the k best networks on a raw image, one network at a time.

    The same probabilities as :func:`helpers.inference.predict` with a :class:`TopKEnsemble` on the
    normalized image (to float precision, when both use the same tiles), but each member predicts
    the whole image in turn: only one network is in memory at a time, and members with different
    margins or size rules (e.g. Net_basic with a padded U-Net) can be combined.

    Parameters
    ----------
    checkpoints : path or sequence of paths
        Checkpoint files or training output folders.
    image : array_like, shape (Z, Y, X)
        The raw image; every member normalizes it as in its training (they must agree).
    k, by :
        As for :class:`TopKEnsemble`.
    tile_shape, batch_size :
        As for :func:`helpers.inference.predict`, for every member (an invalid tile is made valid
        per member, with a warning).
    device : str, optional
        "cpu", "cuda" or None (CUDA when available).

    Returns
    -------
    numpy.ndarray of float32, shape (n_classes, Z, Y, X)
        The mean of the members' probabilities.
    """
    from ._checks import check_image
    from .checkpoints import load_checkpoint
    from .inference import predict
    from .training_data import normalize

    image = check_image(image)
    paths = [r.path for r in _select(checkpoints, k, by)]
    normalized = total = None
    for path in paths:
        member = load_checkpoint(path, device=device)
        if normalized is None:  # the members agree (checked by _select)
            normalized = normalize(image, member.normalization)
        probabilities = predict(member.model, normalized, tile_shape=tile_shape, batch_size=batch_size,
                                device=device)
        total = probabilities if total is None else total + probabilities
        del member
    return (total / len(paths)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedComparison:
    """What :func:`compare_seeds` returns.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per architecture and seed: ``architecture``, ``seed``, ``checkpoint`` (the best
        checkpoint's path), ``best_validation_dice`` and one column per score of ``evaluate``.
    summary : pandas.DataFrame
        One row per architecture (the index), columns ``(score, "mean")`` and ``(score, "sd")``
        for every numeric score, and ``("seeds", "count")``; the standard deviation is the sample
        one (n - 1), NaN for a single seed.
    """

    runs: Any
    summary: Any

    def scores(self) -> list[str]:
        """The names of the scored columns (``best_validation_dice`` and ``evaluate``'s)."""
        return [c for c in self.runs.columns if c not in ("architecture", "seed", "checkpoint")]


def _check_seeds(seeds) -> list[int]:
    try:
        values = list(seeds)
    except TypeError:
        values = []
    if (not values or len(set(values)) != len(values)
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values)):
        raise ValueError(f"`seeds` must be distinct whole numbers >= 0, e.g. (0, 1, 2); got {seeds!r}.")
    return [int(v) for v in values]


def _check_configs(config) -> dict:
    from .training import TrainingConfig

    configs = {config.network.get("name", "network"): config} if isinstance(config, TrainingConfig) else config
    if not isinstance(configs, dict) or not configs or not all(
            isinstance(k, str) and isinstance(v, TrainingConfig) for k, v in configs.items()):
        raise ValueError("`config` must be a TrainingConfig, or a dict {architecture name: TrainingConfig}, e.g. "
                         "{'unet3d': config_a, 'hybrid_2d3d': config_b}.")
    folders = [Path(c.output_folder).resolve() for c in configs.values()]
    if len(set(folders)) != len(folders):
        raise ValueError("Two architectures share an output_folder; give each TrainingConfig its own, the seeds "
                         "then go into seed_<n> sub-folders of it.")
    return configs


def _check_scores(scores, architecture, seed) -> dict:
    if not isinstance(scores, dict) or not all(isinstance(k, str) for k in scores):
        raise ValueError(f"`evaluate` must return a dict of named scores, e.g. {{'mean_iou': 0.8}}; for "
                         f"{architecture} seed {seed} it returned {type(scores).__name__}.")
    clash = sorted(set(scores) & {"architecture", "seed", "checkpoint", "best_validation_dice"})
    if clash:
        raise ValueError(f"`evaluate` returned the reserved column name(s) {clash}; rename those scores.")
    return dict(scores)


def compare_seeds(config, seeds, *, evaluate: Callable[[Path], dict], progress: bool = False) -> SeedComparison:
    """Train the same configuration(s) once per random seed and score every result.

    Parameters
    ----------
    config : helpers.training.TrainingConfig or dict of str to TrainingConfig
        One configuration, or one per architecture (the keys name them in the table). Seed
        ``s`` trains into ``<output_folder>/seed_<s>`` with ``seed = s``; a finished training
        there is reused and an interrupted one resumed (:func:`helpers.training.train_or_continue`),
        so running the comparison again costs only the evaluations.
    seeds : sequence of int
        Distinct seeds >= 0 (weights, patch order and augmentation all follow the seed).
    evaluate : callable
        ``evaluate(checkpoint_path) -> dict`` of named scores for one best checkpoint, e.g. the
        mean IoU on an evaluation volume.
    progress : bool
        Show each training's progress bar.

    Returns
    -------
    SeedComparison
        ``runs`` (one row per architecture and seed) and ``summary`` (mean and sd per
        architecture).

    Raises
    ------
    ValueError
        For bad seeds, configurations or scores (and whatever training raises).
    """
    import pandas as pd

    from .checkpoints import load_checkpoint
    from .training import train_or_continue

    configs = _check_configs(config)
    seeds = _check_seeds(seeds)
    if not callable(evaluate):
        raise ValueError("`evaluate` must be a function taking a checkpoint path and returning a dict of scores.")
    rows = []
    for architecture, base in configs.items():
        for seed in seeds:
            run = replace(base, seed=seed, output_folder=str(Path(base.output_folder) / f"seed_{seed}"))
            best = Path(train_or_continue(run, progress=progress))
            validation = float(load_checkpoint(best, device="cpu").info.get("best_validation_dice", float("nan")))
            scores = _check_scores(evaluate(best), architecture, seed)
            rows.append({"architecture": architecture, "seed": seed, "checkpoint": str(best),
                         "best_validation_dice": validation, **scores})
    runs = pd.DataFrame(rows)
    return SeedComparison(runs=runs, summary=_summarize(runs))


def _summarize(runs):
    import pandas as pd

    numeric = [c for c in runs.columns if c not in ("architecture", "seed", "checkpoint")
               and pd.api.types.is_numeric_dtype(runs[c])]
    grouped = runs.groupby("architecture", sort=False)
    summary = grouped[numeric].agg(["mean", "std"]).rename(columns={"std": "sd"}, level=1)
    summary[("seeds", "count")] = grouped.size()
    return summary


def plot_seed_comparison(comparison: SeedComparison, metric: str):
    """One column per architecture: a point per seed, the mean and a bar of +- one standard deviation.

    Parameters
    ----------
    comparison : SeedComparison
        What :func:`compare_seeds` returned.
    metric : str
        A score column of ``comparison.runs`` (see ``comparison.scores()``).

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; it shows itself in a notebook.
    """
    from ._render import notebook_figure

    if not isinstance(comparison, SeedComparison):
        raise ValueError(f"`comparison` must be what compare_seeds returned, got {type(comparison).__name__}.")
    if metric not in comparison.scores():
        raise ValueError(f"{metric!r} is not a score of this comparison; choose from {comparison.scores()}.")
    runs = comparison.runs
    architectures = list(dict.fromkeys(runs["architecture"]))
    figure = notebook_figure(figsize=(1.8 + 1.6 * len(architectures), 3.8), layout="constrained")
    axes = figure.add_subplot()
    for position, architecture in enumerate(architectures):
        values = runs.loc[runs["architecture"] == architecture, metric].to_numpy(dtype=float)
        seeds = runs.loc[runs["architecture"] == architecture, "seed"].to_numpy()
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        axes.scatter(position + offsets, values, color="tab:blue", alpha=0.7, zorder=3,
                     label="one seed" if position == 0 else None)
        for x, y, seed in zip(position + offsets, values, seeds):
            axes.annotate(str(seed), (x, y), xytext=(4, 0), textcoords="offset points", fontsize="x-small",
                          va="center", color="0.35")
        mean = float(np.mean(values))
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        axes.errorbar(position + 0.3, mean, yerr=sd, fmt="s", color="tab:red", capsize=4, zorder=4,
                      label="mean ± sd" if position == 0 else None)
    axes.set_xticks(range(len(architectures)), architectures)
    axes.set_xlim(-0.5, len(architectures) - 0.3)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} over seeds")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    return figure
