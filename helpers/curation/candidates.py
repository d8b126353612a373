"""Finding the candidate segmentations of each raw image: the batch runner's ``NAME_seg.ome.tif`` files.

A candidate is a mask (non-zero = foreground) of the raw image's shape, written by ``segmenter run``
(a classic workflow), ``segmenter predict`` (a trained network) or any other tool that follows the naming.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..batch import MASK_SUFFIX, expand_inputs, output_paths
from ..io import read_image

__all__ = ["match_candidates", "read_candidate"]


def read_candidate(path, shape) -> np.ndarray:
    """A candidate mask as (Z, Y, X) bool, refused with a message when it is not the raw image's ``shape``."""
    data = read_image(path, promote_2d=True).data
    if data.shape != tuple(shape):
        raise ValueError(f"The candidate {path} has shape {data.shape}, but its raw image has {tuple(shape)} "
                         "(Z, Y, X): it was made from another image. Segment the raw image again.")
    return data != 0


def match_candidates(images, *candidate_folders) -> list[tuple[Path, ...]]:
    """Pair each raw image with its candidate mask in each folder.

    Parameters
    ----------
    images : path, folder, glob pattern or a list of them
        The raw images (as :func:`helpers.batch.expand_inputs` reads them).
    *candidate_folders : paths
        One folder per candidate, each holding ``NAME_seg.ome.tif`` for raw image ``NAME.ome.tif``
        (one folder for sorting, two for merging).

    Returns
    -------
    list of tuples ``(raw, candidate_1, ...)``
        In the order of ``images``.

    Raises
    ------
    FileNotFoundError
        Naming the images whose candidate is missing (and how many), with the command that makes them.
    """
    if not candidate_folders:
        raise ValueError("Give at least one folder of candidate segmentations (NAME_seg.ome.tif files).")
    raws = expand_inputs(images)
    items, missing = [], []
    for raw in raws:
        candidates = tuple(output_paths(raw, folder)[0] for folder in candidate_folders)
        absent = [c for c in candidates if not c.exists()]
        if absent:
            missing.append(absent[0])
        items.append((raw, *candidates))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(raws)} images have no candidate segmentation (first: {missing[0]}). Segment "
            f"them first (`segmenter run PRESET IMAGES -o FOLDER`, or `segmenter predict`); candidates are named "
            f"NAME{MASK_SUFFIX} after the raw image NAME.ome.tif.")
    return items
