"""Training a network on a folder of curated examples: ``segmenter train CONFIG`` and :func:`train`.

One documented configuration (:class:`TrainingConfig`, a JSON file for the command line) says what
to train (a network of :mod:`helpers.nets`), on what (a training folder, see
:mod:`helpers.training_data`), and how (patches, batch, iterations, Adam with the reference's
learning rate 1e-5 and weight decay 0.005, loss weights of the main and auxiliary outputs,
augmentation, a validation split, a seed). Training runs on CUDA when present (with mixed
precision) and on the CPU otherwise, shows a progress bar, and writes into its output folder:

- ``checkpoint_last.pt`` and ``checkpoint_best.pt`` (best validation Dice), see :mod:`helpers.checkpoints`;
- ``history.csv`` and ``curves.png``: training and validation loss and validation Dice per validation;
- ``config.json``: the configuration as run.

``resume`` continues from a checkpoint (weights, optimizer, iteration and history).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from . import checkpoints, training_data
from ._checks import check_shape
from .metrics import _from_counts

__all__ = ["TrainingConfig", "TrainingResult", "train", "train_or_continue"]

_OUTPUTS = ("checkpoint_last.pt", "checkpoint_best.pt", "history.csv", "curves.png", "config.json")


@dataclass
class TrainingConfig:
    """Everything a training run needs; ``TrainingConfig.from_file(path)`` reads it from JSON.

    Attributes
    ----------
    training_folder : str
        Folder of ``img_001.ome.tif`` / ``img_001_GT.ome.tif`` / ``img_001_CM.ome.tif`` examples.
    output_folder : str
        Where checkpoints, history and curves go (created; refused when it already holds a
        training's outputs, unless ``resume`` or ``overwrite``).
    network : dict
        Settings for ``helpers.nets.build``, e.g. ``{"name": "net_basic"}`` or
        ``{"name": "unet3d", "depth": 3, "base_channels": 16}``.
    patch_shape : list of int, optional
        Input patch (Z, Y, X); made valid for the network (the next valid size up). Default: the
        network's documented patch (50 x 156 x 156 for Net_basic), else 32 x 128 x 128.
    batch_size : int
        Patches per iteration (4 in the paper, 8 in the released configuration).
    iterations : int
        Optimizer steps.
    learning_rate, weight_decay : float
        Adam settings (the reference: 1e-5 and 0.005).
    loss_weights : list of float, optional
        Weight of the main and each auxiliary output's loss (default 1 each).
    normalization : dict, optional
        ``{"algorithm": "auto_contrast" | "min_max_normalize" | "auto_contrast_in_range", "parameters": {...}}``.
    augmentation : dict
        Fields of :class:`helpers.training_data.Augmentation`.
    validation_fraction : float
        Share of the images kept aside to choose the best checkpoint (none when there is one image).
    validate_every : int
        Iterations between validations (and checkpoint writes).
    validation_patches : int
        Fixed patches drawn once from the validation images (from the training images when there
        are none: the score then measures fit, not generalization).
    seed : int
        Seeds patch sampling, augmentation and the network's initial weights.
    device : str, optional
        "cuda", "cpu" or None (CUDA when available).
    mixed_precision : bool
        Half-precision arithmetic on CUDA (ignored on the CPU).
    ignore_class : int, optional
        A ground-truth class the loss ignores (cost 0) and validation does not score, e.g. the
        outside-the-nucleus background of the FIB-SEM U-Net. It must still be a class of the network
        (below ``network.n_classes``).
    weighting : dict, optional
        Multiply every example's cost map by :func:`helpers.weighting.error_weights` with these
        settings (``floor``, ``class_balance``, ``edge_weight``, ``edge_sigma``), the error weighting
        of the 2D-3D SBF-EM networks. Validation is scored without it.
    resume : str, optional
        A checkpoint to continue from.
    overwrite : bool
        Replace the outputs of an earlier training in ``output_folder``.
    """

    training_folder: str
    output_folder: str
    network: dict = field(default_factory=lambda: {"name": "net_basic"})
    patch_shape: list | None = None
    batch_size: int = 4
    iterations: int = 1000
    learning_rate: float = 1e-5
    weight_decay: float = 0.005
    loss_weights: list | None = None
    normalization: dict | None = None
    augmentation: dict = field(default_factory=lambda: {"rotate": True, "flip": True})
    validation_fraction: float = 0.2
    validate_every: int = 50
    validation_patches: int = 8
    seed: int = 0
    device: str | None = None
    mixed_precision: bool = True
    ignore_class: int | None = None
    weighting: dict | None = None
    resume: str | None = None
    overwrite: bool = False

    @classmethod
    def from_file(cls, path) -> "TrainingConfig":
        """Read a JSON configuration; relative folders are taken relative to the file's folder."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"No training configuration at {path}.") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error}).") from error
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the configuration must be a JSON object of settings.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}.")
        for key in ("training_folder", "output_folder", "resume"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str(path.parent / data[key])
        try:
            return cls(**data)
        except TypeError as error:
            raise ValueError(f"{path}: {error}; training_folder and output_folder are required.") from error

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        def positive_int(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a whole number >= 1, got {value!r}.")

        for name in ("batch_size", "iterations", "validate_every", "validation_patches"):
            positive_int(name)
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1):
            raise ValueError(f"`learning_rate` must be in (0, 1), got {self.learning_rate!r} (the reference uses 1e-5).")
        if not (isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay < 1):
            raise ValueError(f"`weight_decay` must be in [0, 1), got {self.weight_decay!r}.")
        if not isinstance(self.network, dict) or "name" not in self.network:
            raise ValueError(f"`network` must be a dict with a 'name', e.g. {{'name': 'net_basic'}}; got {self.network!r}.")
        if self.patch_shape is not None:
            check_shape(self.patch_shape, "patch_shape")
        if self.ignore_class is not None and (isinstance(self.ignore_class, bool) or not isinstance(self.ignore_class, int)
                                              or self.ignore_class < 0):
            raise ValueError(f"`ignore_class` must be a class id (a whole number >= 0) or None, got {self.ignore_class!r}.")
        from .weighting import check_weighting

        check_weighting(self.weighting)
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"`device` must be 'cpu', 'cuda' or None (automatic), got {self.device!r}.")


@dataclass
class TrainingResult:
    """What :func:`train` returns: where things were written, and the history rows."""

    output_folder: Path
    best_checkpoint: Path
    last_checkpoint: Path
    history: list[dict]
    seconds: float


#: Input patches of the reference's released configurations (NETWORKS.md); other networks: 32 x 128 x 128.
DOCUMENTED_PATCHES = {"net_basic": (50, 156, 156), "net_zoom": (72, 420, 420)}


def _default_patch(network) -> tuple:
    return DOCUMENTED_PATCHES.get(network.config["name"], (32, 128, 128))


def _device(config: TrainingConfig):
    import torch

    if config.device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(config.device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but PyTorch sees no CUDA GPU here; use 'cpu' or None.")
    return torch.device(config.device)


def _class_counts(log_probabilities, classes, cost, n_classes: int) -> np.ndarray:
    """(n_classes, 3) true positives, false positives, false negatives of every class, where cost > 0."""
    predicted = log_probabilities.argmax(dim=1)
    counted = cost > 0
    counts = np.zeros((n_classes, 3), np.int64)
    for c in range(1, n_classes):
        p, t = (predicted == c) & counted, (classes == c) & counted
        counts[c] = (int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum()))
    return counts


def _validation_dice(counts: np.ndarray, ignore_class) -> tuple[float, dict]:
    """Mean Dice over the foreground classes seen in truth or prediction, and the Dice of each."""
    per_class = {}
    for c in range(1, counts.shape[0]):
        if c == ignore_class or not counts[c].any():
            continue
        per_class[c] = _from_counts(*(int(v) for v in counts[c])).dice
    return (float(np.mean(list(per_class.values()))) if per_class else 1.0), per_class


def _ignoring(example, ignore_class):
    """The example with cost 0 on the ignored class (a copy of the cost map when it changes)."""
    image, classes, cost = example
    if ignore_class is None:
        return example
    return image, classes, np.where(classes == ignore_class, np.float32(0), cost)


def _save_curves(history: list[dict], path: Path) -> None:
    from ._render import notebook_figure

    figure = notebook_figure(figsize=(9, 3.5))
    loss_axis, dice_axis = figure.subplots(1, 2)
    steps = [row["iteration"] for row in history]
    loss_axis.plot(steps, [row["train_loss"] for row in history], label="training")
    loss_axis.plot(steps, [row["validation_loss"] for row in history], label="validation")
    loss_axis.set_xlabel("iteration")
    loss_axis.set_ylabel("weighted cross-entropy")
    loss_axis.legend()
    dice_axis.plot(steps, [row["validation_dice"] for row in history], color="tab:green")
    dice_axis.set_xlabel("iteration")
    dice_axis.set_ylabel("validation Dice (mean over foreground classes)")
    dice_axis.set_ylim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _write_history(history: list[dict], path: Path) -> None:
    from ._atomic import atomic_path

    with atomic_path(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def _prepare_output(config: TrainingConfig) -> Path:
    folder = Path(config.output_folder)
    existing = [name for name in _OUTPUTS if (folder / name).exists()]
    if existing and not (config.overwrite or config.resume):
        raise FileExistsError(f"{folder} already holds a training's outputs ({', '.join(existing)}), left untouched. "
                              "Choose another output_folder, set resume to continue from a checkpoint, or set "
                              "overwrite to replace them.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train(config: TrainingConfig, *, progress: bool = True) -> TrainingResult:
    """Train a network as ``config`` says; see the module docstring for what is written.

    Raises
    ------
    ValueError
        For a bad setting, an incomplete training folder, a patch larger than possible, a
        checkpoint to resume that does not match the network.
    FileExistsError
        When the output folder holds an earlier training (and neither resume nor overwrite is set).
    """
    import torch
    from tqdm.auto import tqdm

    from .losses import deep_supervision_loss
    from .nets import build

    if not isinstance(config, TrainingConfig):
        raise ValueError("`config` must be a TrainingConfig (or use TrainingConfig.from_file(path)).")
    config.check()
    started = time.perf_counter()
    items = training_data.find_training_images(config.training_folder)
    normalization = training_data.check_normalization(config.normalization)
    augmentation = training_data.Augmentation(**config.augmentation)
    device = _device(config)
    folder = _prepare_output(config)

    torch.manual_seed(config.seed)
    resumed = checkpoints.load_checkpoint(config.resume, device=device) if config.resume else None
    if resumed is not None:
        model = resumed.model.train()
        normalization = resumed.normalization
    else:
        model = build(config.network).to(device)
    patch = model.valid_input_shape(tuple(int(v) for v in config.patch_shape) if config.patch_shape
                                    else _default_patch(model))
    out_shape = tuple(model.output_shape(patch))

    train_items, validation_items = training_data.split_validation(items, config.validation_fraction, config.seed)
    examples = [_ignoring(training_data.load_training_image(item, normalization), config.ignore_class)
                for item in train_items]
    n_classes = max(int(e[1].max()) for e in examples) + 1
    network_classes = model.config.get("n_classes", 2)
    if n_classes > network_classes:
        raise ValueError(f"The ground truth holds {n_classes} classes but the network has "
                         f"{network_classes}; set network.n_classes to {n_classes}.")
    if config.ignore_class is not None and config.ignore_class >= network_classes:
        raise ValueError(f"`ignore_class` is {config.ignore_class} but the network's classes are 0..{network_classes - 1}; "
                         "the ignored class must be one of them (raise network.n_classes).")
    weighted = examples
    if config.weighting:
        from .weighting import error_weights

        weighted = [(image, classes, cost * error_weights(classes, ignore_class=config.ignore_class, **config.weighting))
                    for image, classes, cost in examples]
    sampler = training_data.PatchSampler(weighted, patch, out_shape, augmentation=augmentation, seed=config.seed)
    held = [_ignoring(training_data.load_training_image(item, normalization), config.ignore_class)
            for item in validation_items] or examples
    validation = training_data.PatchSampler(held, patch, out_shape, augmentation=None, seed=config.seed + 1)
    validation_batches = [validation.batch(1) for _ in range(config.validation_patches)]

    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: list[dict] = []
    first_iteration = 0
    best = -1.0
    if resumed is not None:
        if resumed.optimizer_state is not None:
            optimizer.load_state_dict(resumed.optimizer_state)
        first_iteration = resumed.iteration
        history = list(resumed.info.get("history", []))
        best = float(resumed.info.get("best_validation_dice", -1.0))
    amp = device.type == "cuda" and config.mixed_precision
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def to_tensors(batch):
        images, classes, costs = batch
        return (torch.from_numpy(images).to(device), torch.from_numpy(classes).to(device),
                torch.from_numpy(costs).to(device))

    def validate() -> tuple[float, float, dict]:
        model.eval()
        losses, counts = [], np.zeros((network_classes, 3), np.int64)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            for batch in validation_batches:
                images, classes, costs = to_tensors(batch)
                outputs = model(images)
                losses.append(float(deep_supervision_loss(outputs[:1], classes, costs)))
                counts += _class_counts(outputs[0].float(), classes, costs, network_classes)
        model.train()
        return (float(np.mean(losses)), *_validation_dice(counts, config.ignore_class))

    info_base = {"training": config.to_dict(), "patch_shape": list(patch), "output_shape": list(out_shape),
                 "n_classes": n_classes, "training_images": [i.name for i in train_items],
                 "validation_images": [i.name for i in validation_items]}
    (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    model.train()
    running: list[float] = []
    bar = tqdm(range(first_iteration, config.iterations), desc="training", disable=not progress,
               initial=first_iteration, total=config.iterations)
    last_path = folder / "checkpoint_last.pt"
    best_path = folder / "checkpoint_best.pt"
    for iteration in bar:
        images, classes, costs = to_tensors(sampler.batch(config.batch_size))
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            outputs = model(images)
            loss = deep_supervision_loss(outputs, classes, costs, config.loss_weights)
        if not torch.isfinite(loss):
            raise ValueError(f"The loss became {float(loss)} at iteration {iteration + 1}; lower the learning rate "
                             "or check the training images for extreme values.")
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        running.append(float(loss.detach()))
        bar.set_postfix(loss=f"{running[-1]:.4f}")
        done = iteration + 1
        if done % config.validate_every == 0 or done == config.iterations:
            validation_loss, validation_dice, per_class = validate()
            history.append({"iteration": done, "train_loss": float(np.mean(running)), "validation_loss": validation_loss,
                            "validation_dice": validation_dice, "seconds": time.perf_counter() - started})
            running = []
            improved = validation_dice > best
            best = max(best, validation_dice)
            info = dict(info_base, history=history, best_validation_dice=best,
                        validation_dice_per_class={str(c): d for c, d in per_class.items()})
            checkpoints.save_checkpoint(last_path, model, normalization=normalization, iteration=done,
                                        optimizer=optimizer, info=info)
            if improved or not best_path.exists():
                checkpoints.save_checkpoint(best_path, model, normalization=normalization, iteration=done, info=info)
            _write_history(history, folder / "history.csv")
            _save_curves(history, folder / "curves.png")
    bar.close()
    return TrainingResult(output_folder=folder, best_checkpoint=best_path, last_checkpoint=last_path,
                          history=history, seconds=time.perf_counter() - started)


def train_or_continue(config: TrainingConfig, *, progress: bool = True) -> Path:
    """Train unless ``config.output_folder`` already holds this training, finished or interrupted.

    For loops and notebooks run more than once: a finished training (its ``checkpoint_last.pt`` at
    ``config.iterations``) is reused as it is, an interrupted one is resumed from its last checkpoint,
    and an empty folder gets a new training. Returns the best checkpoint's path.

    Raises
    ------
    ValueError
        When the folder's training used another network than ``config`` (choose another folder).
    """
    folder = Path(config.output_folder)
    last, best = folder / "checkpoint_last.pt", folder / "checkpoint_best.pt"
    if not last.exists():
        return train(config, progress=progress).best_checkpoint
    earlier = checkpoints.load_checkpoint(last)
    if any(earlier.network.get(key) != value for key, value in dict(config.network).items()):
        raise ValueError(f"{folder} holds a training of another network ({earlier.network['name']}); choose "
                         "another output_folder, or delete that folder to train again.")
    if earlier.iteration >= config.iterations and best.exists():
        return best
    resumed = replace(config, resume=str(last))
    return train(resumed, progress=progress).best_checkpoint
