"""Sorting: keep or reject whole images, optionally excluding regions, to make ground truth.

A person looks at each raw image with its candidate segmentation (from a classic workflow or a trained
network) and decides: **accept** (the segmentation is right, or right outside regions they mark) or
**reject** (not usable). An accepted image becomes a training example at once: the candidate is the
ground truth and the cost map is 1 everywhere except inside the exclusion regions, where it is 0, so the
network is neither rewarded nor punished there. Every decision is logged (columns raw, seg, score,
mask) so an interrupted session resumes where it stopped.

Example
-------
>>> from helpers import curation
>>> items = curation.match_candidates("images/", "classic/")              # doctest: +SKIP
>>> sorter = curation.Sorter(items, "curation/sorting.csv", training_folder="training/iteration_1")  # doctest: +SKIP
>>> sorter.add_polygon([(10, 10), (10, 60), (50, 60)])  # exclude a region  # doctest: +SKIP
>>> sorter.accept()                                                        # doctest: +SKIP
>>> sorter.reject()                                                        # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ._session import CurationSession
from .candidates import read_candidate
from .decisions import SORTING_COLUMNS
from .training_set import TrainingSet

__all__ = ["Sorter", "take_all"]


class Sorter(CurationSession):
    """Accept or reject each image's candidate segmentation.

    Parameters
    ----------
    items : list of (raw, seg) paths
        Each raw image with its candidate mask (see :func:`match_candidates`).
    log : path
        The decisions CSV (columns raw, seg, score, mask). An existing log is continued: decided images
        are skipped. Exclusion regions are kept beside it, in ``<log name>_regions/``.
    training_folder : path, optional
        Where accepted images are written as ``img_NNN`` examples at once (rejected ones removed).

    Attributes
    ----------
    index : int or None
        The image on show (0-based); None when every image is decided.
    polygons : list of Polygon
        The exclusion regions drawn on the image on show.
    """

    columns = SORTING_COLUMNS
    candidate_columns = ("seg",)
    regions_suffix = "exclusion"
    origin = "sorting"

    def candidate(self) -> np.ndarray:
        """(Z, Y, X) bool: the candidate segmentation of the image on show."""
        return self.load()[1]

    def cost_map(self) -> np.ndarray:
        """(Z, Y, X) float32: 1, and 0 inside the exclusion regions."""
        return np.where(self.region_mask(), np.float32(0), np.float32(1))

    def accept(self) -> None:
        """The candidate is right (outside the exclusion regions): logged with score 1 and, with a
        training folder, written as an example (ground truth = candidate, cost map 0 in the regions)."""
        self._require_current()
        self._record(1, truth=self.candidate(), cost=self.cost_map())


def take_all(items, training_folder) -> list[str]:
    """Put every (raw, seg) pair into a training folder without looking (the reference's take-all).

    Useful when a workflow is right on every image, or to start from everything and let a cost map or
    a later sorting round correct it. Images already taken (by this or a sorting session with the same
    folder) are rewritten under their own name. Returns the example names, in the order of ``items``.
    """
    from ..io import read_image

    training = TrainingSet(training_folder)
    names = []
    for raw, seg in items:
        image = read_image(raw, promote_2d=True)
        truth = read_candidate(seg, image.shape)
        names.append(training.add(raw, image.data, truth, cost=np.ones(image.shape, np.float32),
                                  voxel_size=image.voxel_size, seg=seg, origin="take-all"))
    return names
