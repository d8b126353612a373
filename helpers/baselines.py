"""The paper's comparison against 22 classic threshold methods (its Fig. 7), scored against a truth.

The Allen Cell Structure Segmenter paper compared its workflows with the 14 global thresholds of
ImageJ's "Auto Threshold" and the 8 local thresholds of its "Auto Local Threshold" (radii 8, 16, 32
and 64 pixels), each applied to the maximum projection of a chosen z-slice and the slices just above
and below it. The paper scored them against the workflow's result; here every method, and the
workflow, is scored against a ground truth (a synthetic sample's truth, projected the same way), and
the agreement with the workflow is kept as a second column, as in the paper.

Examples
--------
>>> from helpers import baselines, synthetic
>>> sample = synthetic.make_sample("gja1", shape=(24, 96, 96))
>>> comparison = baselines.compare_thresholds(sample.image, sample.mask)
>>> best = comparison.best("local")
>>> best.kind, best.radius in (8, 16, 32, 64)
('local', True)
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._checks import check_image, check_mask, check_number
from .histogram_thresholds import GLOBAL_THRESHOLD_METHODS, apply_global_threshold
from .local_thresholds import LOCAL_RADII, LOCAL_THRESHOLD_METHODS, local_threshold
from .metrics import dice

__all__ = ["BaselineScore", "BaselineComparison", "choose_slice", "slab_projection", "compare_thresholds",
           "method_mask", "summary_rows", "markdown_table", "show_comparison"]


@dataclass(frozen=True)
class BaselineScore:
    """One threshold method on one projection.

    Attributes
    ----------
    method : str
        The method's name (``GLOBAL_THRESHOLD_METHODS`` or ``LOCAL_THRESHOLD_METHODS``).
    kind : str
        "global" or "local".
    radius : int or None
        Window radius in pixels (local methods).
    dice : float
        Dice against the projected truth; NaN when the method could not be applied (see ``error``).
    agreement : float or None
        Dice against the projected workflow mask (the paper's measure), when a workflow mask was given.
    error : str or None
        Why the method gave no threshold (e.g. a histogram without two peaks for "minimum").
    """

    method: str
    kind: str
    radius: int | None
    dice: float
    agreement: float | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """e.g. "otsu (global)" or "sauvola r=32 (local)"."""
        return f"{self.method} (global)" if self.radius is None else f"{self.method} r={self.radius} (local)"


@dataclass(frozen=True)
class BaselineComparison:
    """All methods on one image, plus the workflow's own scores.

    Attributes
    ----------
    z : int
        The chosen slice; the projection covers ``z - half_width`` to ``z + half_width``.
    half_width : int
    scores : tuple of BaselineScore
        Every global method once, every local method at every radius.
    workflow_dice_2d : float or None
        The workflow mask, projected the same way, against the projected truth.
    workflow_dice_3d : float or None
        The workflow mask against the truth in 3D.
    """

    z: int
    half_width: int
    scores: tuple[BaselineScore, ...]
    workflow_dice_2d: float | None = None
    workflow_dice_3d: float | None = None

    def best(self, kind: str) -> BaselineScore | None:
        """The highest-Dice method of a kind ("global" or "local"); None when every one failed."""
        candidates = [s for s in self.scores if s.kind == kind and not math.isnan(s.dice)]
        return max(candidates, key=lambda s: s.dice) if candidates else None

    def per_method(self) -> list[BaselineScore]:
        """22 rows: each global method, and each local method at its best radius."""
        rows: dict[tuple[str, str], BaselineScore] = {}
        for s in self.scores:
            key = (s.kind, s.method)
            kept = rows.get(key)
            if kept is None or (math.isnan(kept.dice) and not math.isnan(s.dice)) or s.dice > kept.dice:
                rows[key] = s
        return list(rows.values())

    def winners(self) -> list[BaselineScore]:
        """The methods whose Dice beats the workflow's (on the same projection)."""
        if self.workflow_dice_2d is None:
            return []
        return [s for s in self.per_method() if not math.isnan(s.dice) and s.dice > self.workflow_dice_2d]

    def to_text(self, *, workflow: str | None = None) -> str:
        """A plain-text table: the 22 methods (best radius per local method) by Dice, the workflow first."""
        lines = [f"slab: max projection of slices {max(self.z - self.half_width, 0)}-{self.z + self.half_width}",
                 f"{'method':<28} {'Dice':>6}  {'vs workflow':>11}"]
        if self.workflow_dice_2d is not None:
            lines.append(f"{'workflow ' + (workflow or ''):<28} {self.workflow_dice_2d:6.3f}  {'':>11}"
                         f"   (3D Dice {self.workflow_dice_3d:.3f})")
        for s in sorted(self.per_method(), key=lambda s: -1 if math.isnan(s.dice) else s.dice, reverse=True):
            dice_text = "failed" if math.isnan(s.dice) else f"{s.dice:6.3f}"
            agreement = "" if s.agreement is None else f"{s.agreement:11.3f}"
            lines.append(f"{s.label:<28} {dice_text:>6}  {agreement:>11}" + (f"   ({s.error})" if s.error else ""))
        return "\n".join(lines)

    def write_csv(self, path, *, overwrite: bool = False) -> None:
        """Every method and radius as a CSV (method, kind, radius, dice, agreement, error), atomically."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists and was left untouched; choose another name "
                                  "or pass overwrite=True.")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["method", "kind", "radius", "dice", "agreement", "error", "z", "half_width"])
        for s in self.scores:
            writer.writerow([s.method, s.kind, "" if s.radius is None else s.radius, s.dice,
                             "" if s.agreement is None else s.agreement, s.error or "", self.z, self.half_width])
        with atomic_path(path) as temporary:
            Path(temporary).write_text(buffer.getvalue())

    def to_dict(self) -> dict:
        return {"z": self.z, "half_width": self.half_width, "workflow_dice_2d": self.workflow_dice_2d,
                "workflow_dice_3d": self.workflow_dice_3d, "scores": [asdict(s) for s in self.scores]}


def choose_slice(truth) -> int:
    """The "z-slice of choice" of the protocol: the median z of the truth voxels.

    A typical slice through the structure (for a nucleus, its equator; for a network filling the cells,
    the middle of the cells), chosen from the truth alone so that no method is favoured.

    Parameters
    ----------
    truth : array_like of bool or int, shape (Z, Y, X)
    """
    truth = check_mask(truth, name="truth")
    counts = truth.sum(axis=(1, 2))
    if not counts.any():
        raise ValueError("The truth is empty, so there is no slice to choose; pass `z=` explicitly.")
    cumulative = np.cumsum(counts)
    return int(np.searchsorted(cumulative, cumulative[-1] / 2))


def slab_projection(volume, z: int, *, half_width: int = 1) -> np.ndarray:
    """Maximum projection of slices ``z - half_width`` .. ``z + half_width`` (clipped to the stack).

    Parameters
    ----------
    volume : numpy.ndarray, shape (Z, Y, X)
    z : int
    half_width : int

    Returns
    -------
    numpy.ndarray, shape (Y, X), the dtype of ``volume``
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"A (Z, Y, X) stack is needed; got {volume.ndim} dimensions.")
    z = int(check_number(z, "z", minimum=0, maximum=volume.shape[0] - 1, integer=True))
    half_width = int(check_number(half_width, "half_width", minimum=0, integer=True))
    return volume[max(z - half_width, 0):z + half_width + 1].max(axis=0)


def _score(method, kind, radius, image2d, truth2d, workflow2d) -> BaselineScore:
    try:
        if kind == "global":
            mask = apply_global_threshold(image2d, method=method)
        else:
            mask = local_threshold(image2d, method=method, radius=radius)
    except ValueError as error:
        return BaselineScore(method, kind, radius, float("nan"), None, str(error))
    agreement = None if workflow2d is None else dice(mask, workflow2d)
    return BaselineScore(method, kind, radius, dice(mask, truth2d), agreement)


def compare_thresholds(image, truth, *, workflow_mask=None, z: int | None = None, half_width: int = 1,
                       radii=LOCAL_RADII) -> BaselineComparison:
    """Score the 14 global and 8 local threshold methods on a slab projection against the truth.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        The raw image (any real dtype; the methods see the projection's own intensities).
    truth : array_like of bool or int, shape (Z, Y, X)
        Ground truth (labels are read as a mask).
    workflow_mask : array_like of bool or int, shape (Z, Y, X), optional
        A workflow's result to score the same way (and to compute each method's agreement with it).
    z : int, optional
        The slice of choice; by default :func:`choose_slice` of the truth.
    half_width : int
        Slices either side of ``z`` in the projection (1 in the paper).
    radii : sequence of int
        Window radii (pixels) for the local methods.

    Returns
    -------
    BaselineComparison
    """
    image = check_image(image, dtype=np.float64)
    truth = check_mask(truth, name="truth", like=image)
    if workflow_mask is not None:
        workflow_mask = check_mask(workflow_mask, name="workflow_mask", like=image)
    z = choose_slice(truth) if z is None else z
    image2d = slab_projection(image, z, half_width=half_width)
    truth2d = slab_projection(truth, z, half_width=half_width)
    workflow2d = None if workflow_mask is None else slab_projection(workflow_mask, z, half_width=half_width)
    rows = [_score(m, "global", None, image2d, truth2d, workflow2d) for m in GLOBAL_THRESHOLD_METHODS]
    rows += [_score(m, "local", int(r), image2d, truth2d, workflow2d)
             for m in LOCAL_THRESHOLD_METHODS for r in radii]
    return BaselineComparison(
        z=int(z), half_width=int(half_width), scores=tuple(rows),
        workflow_dice_2d=None if workflow2d is None else dice(workflow2d, truth2d),
        workflow_dice_3d=None if workflow_mask is None else dice(workflow_mask, truth),
    )


def method_mask(image, score: BaselineScore, *, z: int, half_width: int = 1) -> np.ndarray:
    """The (Y, X) mask a scored method gives on the slab projection of ``image`` (to look at it)."""
    image2d = slab_projection(check_image(image, dtype=np.float64), z, half_width=half_width)
    if score.kind == "global":
        return apply_global_threshold(image2d, method=score.method)
    return local_threshold(image2d, method=score.method, radius=score.radius)


def summary_rows(comparisons: dict) -> list[dict]:
    """One row per structure: the workflow's Dice, the best global and the best local method.

    Parameters
    ----------
    comparisons : dict of str to BaselineComparison

    Returns
    -------
    list of dict with keys structure, workflow_2d, workflow_3d, best_global, best_global_dice,
    best_local, best_local_dice, winner ("workflow", "global" or "local").
    """
    rows = []
    for name, c in comparisons.items():
        best_global, best_local = c.best("global"), c.best("local")
        candidates = {"workflow": -1.0 if c.workflow_dice_2d is None else c.workflow_dice_2d,
                      "global": best_global.dice if best_global else -1.0,
                      "local": best_local.dice if best_local else -1.0}
        rows.append({
            "structure": name, "workflow_2d": c.workflow_dice_2d, "workflow_3d": c.workflow_dice_3d,
            "best_global": best_global.method if best_global else None,
            "best_global_dice": best_global.dice if best_global else None,
            "best_local": f"{best_local.method} r={best_local.radius}" if best_local else None,
            "best_local_dice": best_local.dice if best_local else None,
            "winner": max(candidates, key=candidates.get),
        })
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The rows of :func:`summary_rows` as a Markdown table (floats to 3 decimals)."""
    header = ["structure", "workflow (2D)", "workflow (3D)", "best global", "Dice", "best local", "Dice", "best"]
    keys = ["structure", "workflow_2d", "workflow_3d", "best_global", "best_global_dice", "best_local",
            "best_local_dice", "winner"]
    text = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(text(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def show_comparison(image, truth, comparison: BaselineComparison, *, workflow_mask=None, title: str = "",
                    size: float = 3.0):
    """One row of panels on the slab projection: raw, truth, workflow, best global, best local.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    z, h = comparison.z, comparison.half_width
    raw = slab_projection(check_image(image, dtype=np.float32), z, half_width=h)
    panels = [("raw (max of 3 slices)", raw, "gray"),
              ("truth", slab_projection(check_mask(truth, name="truth"), z, half_width=h), "gray")]
    if workflow_mask is not None:
        panels.append((f"workflow {comparison.workflow_dice_2d:.2f}",
                       slab_projection(check_mask(workflow_mask, name="workflow_mask"), z, half_width=h), "gray"))
    for kind in ("global", "local"):
        best = comparison.best(kind)
        if best is not None:
            panels.append((f"{best.label.split(' (')[0]} {best.dice:.2f}", method_mask(image, best, z=z, half_width=h), "gray"))
    figure, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.4), squeeze=False)
    for axis, (name, panel, cmap) in zip(axes[0], panels):
        low, high = (np.percentile(panel, [0.5, 99.8]) if panel.dtype != bool else (0, 1))
        axis.imshow(panel, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        axis.set_title(name, fontsize=9)
        axis.set_axis_off()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
