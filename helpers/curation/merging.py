"""Merging: combine two workflows' results by regions a person draws.

Often one workflow is right for most of an image and a second one for a few cells (for the nuclear
envelope: the interphase workflow for most nuclei, the mitotic one for dividing cells). A person draws
regions on the maximum projection around where candidate B is right (polygons, extended through z) or
loads a mask drawn in Fiji or napari; the merged ground truth is candidate B inside the regions and
candidate A outside. Every merge is logged (columns raw, seg_a, seg_b, mask, score) and written to the
training folder at once, so an interrupted session resumes where it stopped.

Example
-------
>>> from helpers import curation
>>> items = curation.match_candidates("images/", "model_1/", "mitotic/")   # doctest: +SKIP
>>> merger = curation.Merger(items, "curation/merging.csv", training_folder="training/iteration_2")  # doctest: +SKIP
>>> merger.add_polygon([(20, 20), (20, 80), (90, 80), (90, 20)])          # doctest: +SKIP
>>> merger.accept()   # saves B inside the polygon, A outside                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .._checks import check_mask
from ._session import CurationSession
from .decisions import MERGING_COLUMNS

__all__ = ["Merger", "merge_masks"]


def merge_masks(a, b, regions) -> np.ndarray:
    """Candidate ``b`` inside ``regions``, candidate ``a`` outside.

    Parameters
    ----------
    a, b, regions : (Z, Y, X) bool
        The two candidates and the regions where ``b`` is right (all the same shape).

    Returns
    -------
    (Z, Y, X) bool
    """
    a = check_mask(a, name="a")
    b = check_mask(b, name="b", like=a)
    regions = check_mask(regions, name="regions", like=a)
    return np.where(regions, b, a)


class Merger(CurationSession):
    """Merge two candidate segmentations of each image by drawn regions.

    Parameters
    ----------
    items : list of (raw, seg_a, seg_b) paths
        Each raw image with candidate A (used outside the regions) and candidate B (inside).
    log : path
        The merging CSV (columns raw, seg_a, seg_b, mask, score). An existing log is continued. Drawn
        regions are kept beside it, in ``<log name>_regions/``.
    training_folder : path, optional
        Where each merged image is written as an ``img_NNN`` example at once.
    """

    columns = MERGING_COLUMNS
    candidate_columns = ("seg_a", "seg_b")
    regions_suffix = "merge"
    origin = "merging"

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, B): the two candidate masks of the image on show, (Z, Y, X) bool."""
        _, a, b = self.load()
        return a, b

    def merged(self) -> np.ndarray:
        """(Z, Y, X) bool: B inside the regions, A outside (A alone when there are no regions)."""
        a, b = self.candidates()
        return merge_masks(a, b, self.region_mask())

    def accept(self) -> None:
        """Save the merged ground truth (cost map 1 everywhere), log it with score 1, show the next image."""
        self._require_current()
        merged = self.merged()
        self._record(1, truth=merged, cost=np.ones(merged.shape, np.float32))
