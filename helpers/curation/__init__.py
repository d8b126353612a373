"""Human-in-the-loop curation: turning candidate segmentations into ground truth for deep learning.

The iterative workflow of the Allen Cell Structure Segmenter makes 3D ground truth without painting in
3D. Candidates come from classic workflows (``segmenter run``) or trained networks (``segmenter
predict``); a person then

* **sorts** (:class:`Sorter`): accepts or rejects each image, optionally excluding regions (cost 0);
* **merges** (:class:`Merger`): combines two candidates, B inside drawn regions and A outside;
* or **takes all** (:func:`take_all`).

Accepted and merged images go straight into a training folder (``img_001.ome.tif``, ``_GT``, ``_CM``)
for :mod:`helpers.training`; every decision is logged in a CSV so a session resumes where it stopped.
The widgets of :mod:`helpers.curation.widgets` show each image and let a person click and draw; every
action is also a method, so scripts and tests use the same logic.

Modules: ``drawing`` (polygons and region masks), ``decisions`` (the CSV log), ``training_set`` (the
training folder it fills), ``candidates`` (finding candidate files), ``sorting``, ``merging``, ``widgets``.
"""

from .candidates import match_candidates
from .decisions import MERGING_COLUMNS, SORTING_COLUMNS, DecisionLog
from .drawing import Polygon, polygon_mask, read_region_mask, regions_mask, load_regions, save_regions
from .merging import Merger, merge_masks
from .sorting import Sorter, take_all
from .training_set import TrainingSet

__all__ = ["match_candidates", "DecisionLog", "SORTING_COLUMNS", "MERGING_COLUMNS", "Polygon", "polygon_mask",
           "regions_mask", "read_region_mask", "load_regions", "save_regions", "Merger", "merge_masks", "Sorter",
           "take_all", "TrainingSet"]
