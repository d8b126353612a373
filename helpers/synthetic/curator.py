"""A stand-in for a person curating the lamin B1 set: decisions made from the known truth.

The iterative deep-learning loop needs a person to sort and merge. To run the loop unattended (in the
tests, the benchmark, and the notebooks' quick mode) this module makes the decisions a careful person
would make by eye, using the set's ground truth instead of eyes:

* **sorting** a candidate: reject the field when a nucleus whose centre lies in it is not found (a
  person sees the missing envelope); otherwise accept it, excluding (cost 0) every mitotic cell, every
  nucleus cut by the field's edge that the candidate missed, and every sizeable piece of the candidate
  that lies on no envelope;
* **merging**: draw a region around every mitotic cell (where the mitotic workflow is right).

A region is the convex hull of the object's maximum projection, widened by a margin, as a polygon a
person could have drawn. "Found" follows :mod:`~.lamin_scores`. The decisions are written through
:class:`helpers.curation.Sorter` and :class:`helpers.curation.Merger`, in the files a person's session
writes, so replaying them is replaying a person's work.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from ..metrics import object_agreement
from .lamin_scores import MIN_COVERAGE, MIN_PRECISION

__all__ = ["hull_polygon", "sorting_decision", "merging_regions", "record_lamin_decisions", "MARGIN"]

#: How far (pixels) a drawn region reaches beyond the object it surrounds.
MARGIN = 4
#: Pieces of a candidate smaller than this (voxels) that lie on no envelope are left alone.
MIN_WRONG_PIECE = 30


def hull_polygon(footprint, *, margin: int = MARGIN) -> np.ndarray:
    """A polygon around a (Y, X) footprint: the convex hull of the footprint widened by ``margin`` pixels.

    Returns (N, 2) (y, x) vertices; a footprint that widens to fewer than three distinct pixels in a
    line gets a square around them.
    """
    footprint = np.asarray(footprint, bool)
    if not footprint.any():
        raise ValueError("The footprint is empty: there is nothing to draw a region around.")
    if margin > 0:
        y, x = np.ogrid[-margin:margin + 1, -margin:margin + 1]
        footprint = ndimage.binary_dilation(footprint, structure=y ** 2 + x ** 2 <= margin ** 2)
    points = np.argwhere(footprint).astype(float)
    try:
        hull = points[ConvexHull(points).vertices]
    except Exception:  # fewer than 3 points, or all on a line: a square around them
        (y0, x0), (y1, x1) = points.min(axis=0), points.max(axis=0)
        hull = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)
    centre = points.mean(axis=0)
    direction = hull - centre
    length = np.hypot(*direction.T)[:, None]
    unit = np.divide(direction, length, out=np.zeros_like(direction), where=length > 0)
    return np.round(hull + unit * 0.5, 1)  # half a pixel out, so the hull's edge pixels are inside


def sorting_decision(candidate, truth, nuclei) -> tuple[bool, list[np.ndarray]]:
    """Accept or reject one field's candidate, and the regions to exclude when accepting.

    Parameters
    ----------
    candidate : (Z, Y, X) bool
    truth : (Z, Y, X) int — the field's envelopes, one label per nucleus.
    nuclei : sequence of Nucleus — every nucleus with a label in ``truth``.

    Returns
    -------
    (accept, polygons)
        ``polygons`` (y, x) vertex arrays, empty when rejecting.
    """
    agreement = object_agreement(candidate, truth, tolerance=1)

    def found(label):
        coverage, precision = agreement.get(label, (0.0, 1.0))
        return coverage >= MIN_COVERAGE and precision >= MIN_PRECISION

    if any(n.in_field and n.state != "mitotic" and not found(n.label) for n in nuclei):
        return False, []
    polygons = [hull_polygon((truth == n.label).any(axis=0)) for n in nuclei
                if n.state == "mitotic" or not found(n.label)]
    near_envelope = ndimage.binary_dilation(truth > 0, structure=np.ones((3, 3, 3), bool))
    pieces, count = ndimage.label(candidate & ~near_envelope, structure=np.ones((3, 3, 3), bool))
    if count:
        sizes = np.bincount(pieces.reshape(-1))
        polygons += [hull_polygon((pieces == label).any(axis=0)) for label in np.flatnonzero(sizes >= MIN_WRONG_PIECE)
                     if label > 0]
    return True, polygons


def merging_regions(truth, nuclei) -> list[np.ndarray]:
    """Regions around every mitotic cell of a field (where the mitotic workflow should be used)."""
    return [hull_polygon((truth == n.label).any(axis=0), margin=2 * MARGIN) for n in nuclei if n.state == "mitotic"]


def _plain_names(log: Path) -> None:
    """Rewrite a log's raw and candidate columns as bare file names (the data's location is the user's)."""
    rows = list(csv.DictReader(io.StringIO(log.read_text(encoding="utf-8"))))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()) if rows else ["raw"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (Path(v).name if k in ("raw", "seg", "seg_a", "seg_b") and v else v) for k, v in row.items()})
    log.write_text(buffer.getvalue(), encoding="utf-8")


def record_lamin_decisions(lamin_folder, out_folder, *, interphase_preset: str = "lmnb1_interphase",
                           mitotic_preset: str = "lmnb1_mitotic") -> tuple[Path, Path]:
    """Curate a lamin B1 set folder as a person would, writing ``sorting.csv`` and ``merging.csv``.

    Sorting judges the ``interphase_preset``'s result of each field; merging draws regions around the
    mitotic cells, for merging any candidate A with the ``mitotic_preset``'s result. The logs name the
    images by file name only (``replay`` matches on it) and their regions files sit beside them, in
    ``sorting_regions/`` and ``merging_regions/``. Existing files in ``out_folder`` are refused.

    Returns the two log paths.
    """
    from .. import batch, curation, workflow
    from ..io import read_image
    from .lamin_scores import read_nuclei

    lamin_folder, out_folder = Path(lamin_folder), Path(out_folder)
    targets = [out_folder / name for name in ("sorting.csv", "merging.csv", "sorting_regions", "merging_regions")]
    if any(t.exists() for t in targets):
        raise FileExistsError(f"{out_folder} already holds recorded decisions; choose an empty folder.")
    nuclei = read_nuclei(lamin_folder)
    images = sorted(lamin_folder.glob("field_??.ome.tif"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for preset in (interphase_preset, mitotic_preset):
            summary = batch.run_batch(workflow.load_preset(preset), images, scratch / preset, workers=1)
            if not summary.ok:
                raise RuntimeError(f"{preset} failed on {len(summary.failed)} fields: {summary.failed[0].error}")
        out_folder.mkdir(parents=True, exist_ok=True)
        sorter = curation.Sorter(curation.match_candidates(images, scratch / interphase_preset),
                                 out_folder / "sorting.csv")
        merger = curation.Merger(curation.match_candidates(images, scratch / interphase_preset, scratch / mitotic_preset),
                                 out_folder / "merging.csv")
        for index, raw in enumerate(images):
            truth = read_image(raw.with_name(raw.name.replace(".ome.tif", "_truth.ome.tif"))).data
            sorter.go_to(index)
            accept, polygons = sorting_decision(sorter.candidate(), truth, nuclei[raw.name])
            for polygon in polygons:
                sorter.add_polygon(polygon)
            sorter.accept() if accept else sorter.reject()
            merger.go_to(index)
            for polygon in merging_regions(truth, nuclei[raw.name]):
                merger.add_polygon(polygon)
            merger.accept()
    for log in (sorter.log.path, merger.log.path):
        _plain_names(log)
    return sorter.log.path, merger.log.path
