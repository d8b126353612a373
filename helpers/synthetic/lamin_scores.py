"""The paper's measures on the lamin B1 set: which nuclei a segmentation finds, field by field.

The Allen Cell Structure Segmenter paper judges the nuclear-envelope workflows by two numbers: the
fraction of nuclei found, and the fraction of image fields in which every nucleus is found (the classic
interphase workflow: 85 % of interphase nuclei, every nucleus in 20 % of fields; the first network:
100 % and 100 % for interphase). Here a nucleus is *found* when the segmentation covers at least half of
its true envelope within one voxel and at least half of the segmentation nearest to it lies on that
envelope (:func:`helpers.metrics.object_agreement`: a filled blob is not a found envelope); the nuclei counted in a
field are those whose centre lies in it (a nucleus cut by the field's edge belongs to its neighbour).

Example
-------
>>> from helpers.synthetic import lamin_scores
>>> nuclei = lamin_scores.read_nuclei("data_samples/lamin_b1_set")               # doctest: +SKIP
>>> rows = lamin_scores.score_field(mask, truth, nuclei["field_01.ome.tif"])     # doctest: +SKIP
>>> lamin_scores.summarize({"field_01.ome.tif": rows})["interphase_found"]       # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..metrics import object_agreement
from .lamin_set import Nucleus

__all__ = ["read_nuclei", "score_field", "score_folder", "score_fields", "summarize", "summary_table",
           "format_summary", "coverage_table", "MIN_COVERAGE",
           "MIN_PRECISION", "GROUPS"]

#: A nucleus is found when at least this fraction of its true envelope is covered (within 1 voxel) and at
#: least this fraction of the segmentation nearest to it lies on its envelope (within 1 voxel).
MIN_COVERAGE = 0.5
MIN_PRECISION = 0.5
#: The groups of nuclei reported separately: interphase near the middle slice, interphase far from it
#: (cells standing higher or lower), mitotic.
GROUPS = ("interphase", "far", "mitotic")


def read_nuclei(folder) -> dict[str, list[Nucleus]]:
    """The nuclei of each field of a lamin B1 set folder (its ``nuclei.csv``), by field file name."""
    path = Path(folder) / "nuclei.csv"
    if not path.exists():
        raise FileNotFoundError(f"No nuclei table at {path}: is {folder} a lamin B1 set? Make it with "
                                "`segmenter samples data_samples`.")
    table: dict[str, list[Nucleus]] = {}
    with open(path, newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            table.setdefault(row["field"], []).append(Nucleus(
                label=int(row["label"]), state=row["state"], centre_z=float(row["centre_z"]),
                far=row["far"] == "True", in_field=row["in_field"] == "True", complete=row["complete"] == "True"))
    return table


def _group(nucleus: Nucleus) -> str:
    if nucleus.state == "mitotic":
        return "mitotic"
    return "far" if nucleus.far else "interphase"


def score_field(mask, truth, nuclei, *, min_coverage: float = MIN_COVERAGE, min_precision: float = MIN_PRECISION,
                tolerance: int = 1) -> list[dict]:
    """Which of a field's nuclei a segmentation finds.

    Parameters
    ----------
    mask : (Z, Y, X) bool
        The segmentation of the field.
    truth : (Z, Y, X) int
        The field's truth: one label per nucleus's envelope.
    nuclei : sequence of Nucleus
        The field's nuclei (from :func:`read_nuclei` or a :class:`~.lamin_set.LaminField`); those with
        their centre in the field are counted.
    min_coverage, min_precision, tolerance
        A nucleus is found when at least ``min_coverage`` of its envelope lies within ``tolerance``
        voxels of the mask, and at least ``min_precision`` of the mask voxels nearest to it lie within
        ``tolerance`` voxels of an envelope.

    Returns
    -------
    list of dict
        Per counted nucleus: ``label``, ``group`` ("interphase", "far" or "mitotic"), ``coverage``,
        ``precision``, ``found``.
    """
    agreement = object_agreement(mask, truth, tolerance=tolerance)
    rows = []
    for nucleus in nuclei:
        if not nucleus.in_field:
            continue
        coverage, precision = agreement.get(nucleus.label, (0.0, 1.0))
        rows.append({"label": nucleus.label, "group": _group(nucleus), "coverage": round(coverage, 4),
                     "precision": round(precision, 4),
                     "found": bool(coverage >= min_coverage and precision >= min_precision)})
    return rows


def summarize(fields: dict[str, list[dict]]) -> dict:
    """The paper's measures over a set of scored fields.

    Parameters
    ----------
    fields : dict
        Field name -> the rows of :func:`score_field`.

    Returns
    -------
    dict
        ``<group>_found`` and ``<group>_total`` per group; ``interphase_recall`` (near and far interphase
        nuclei together), ``mitotic_recall``, ``recall`` (every nucleus); ``fields_all_found`` (the fraction
        of fields where every counted nucleus is found, of ``fields``: ``fields_complete``),
        ``fields_interphase_all_found`` (the same over the ``interphase_fields`` without a mitotic nucleus:
        ``interphase_fields_complete``).
    """
    summary: dict = {}
    rows = [row for field in fields.values() for row in field]
    for group in GROUPS:
        members = [row for row in rows if row["group"] == group]
        summary[f"{group}_found"] = sum(row["found"] for row in members)
        summary[f"{group}_total"] = len(members)

    def fraction(found, total):
        return float(found / total) if total else float("nan")

    interphase_found = summary["interphase_found"] + summary["far_found"]
    interphase_total = summary["interphase_total"] + summary["far_total"]
    summary["interphase_recall"] = fraction(interphase_found, interphase_total)
    summary["mitotic_recall"] = fraction(summary["mitotic_found"], summary["mitotic_total"])
    summary["recall"] = fraction(sum(row["found"] for row in rows), len(rows))
    counted = [field for field in fields.values() if field]
    interphase_fields = [field for field in counted if all(row["group"] != "mitotic" for row in field)]
    summary["fields"] = len(counted)
    summary["fields_complete"] = sum(all(r["found"] for r in f) for f in counted)
    summary["fields_all_found"] = fraction(summary["fields_complete"], len(counted))
    summary["interphase_fields"] = len(interphase_fields)
    summary["interphase_fields_complete"] = sum(all(r["found"] for r in f) for f in interphase_fields)
    summary["fields_interphase_all_found"] = fraction(summary["interphase_fields_complete"], len(interphase_fields))
    return summary


def format_summary(name: str, summary: dict) -> str:
    """One line for a person: e.g. ``classic: interphase nuclei 7/8 (88 %), ...``."""
    def part(label, found, total):
        return f"{label} {found}/{total} ({100 * found / total:.0f} %)" if total else f"{label} -"
    interphase = summary["interphase_found"] + summary["far_found"]
    total = summary["interphase_total"] + summary["far_total"]
    return (f"{name}: {part('interphase nuclei', interphase, total)} [far {summary['far_found']}/{summary['far_total']}], "
            f"{part('mitotic', summary['mitotic_found'], summary['mitotic_total'])}, "
            f"{part('fields with every nucleus found', summary['fields_complete'], summary['fields'])}")


def coverage_table(fields: dict[str, list[dict]]) -> list[dict]:
    """Flat rows (field, label, group, coverage, precision, found) for a CSV or a printed table."""
    return [{"field": name, **row} for name, rows in fields.items() for row in rows]


def score_folder(masks_folder, lamin_folder) -> dict[str, list[dict]]:
    """Score the masks a batch wrote for the fields of a lamin B1 set (``NAME_seg.ome.tif`` per field).

    Returns field name -> the rows of :func:`score_field`. Fields without a mask are refused with a
    message (a missing mask would otherwise count as "nothing found").
    """
    from ..batch import output_paths
    from ..io import read_image

    lamin_folder = Path(lamin_folder)
    nuclei = read_nuclei(lamin_folder)
    scores = {}
    for name in sorted(nuclei):
        mask_path = output_paths(lamin_folder / name, masks_folder)[0]
        if not mask_path.exists():
            raise FileNotFoundError(f"No mask for {name} in {masks_folder} ({mask_path.name}); segment every field first.")
        truth = read_image(lamin_folder / name.replace(".ome.tif", "_truth.ome.tif")).data
        scores[name] = score_field(read_image(mask_path).data > 0, truth, nuclei[name])
    return scores


def score_fields(segment, fields) -> dict[str, list[dict]]:
    """Score a segmentation function on fields held in memory (e.g. a fresh set from ``make_lamin_set``).

    Parameters
    ----------
    segment : callable
        (Z, Y, X) image -> (Z, Y, X) bool mask.
    fields : sequence of LaminField

    Returns
    -------
    dict
        ``"field_01"``, ``"field_02"``, ... -> the rows of :func:`score_field`.
    """
    return {f"field_{i:02d}": score_field(segment(field.image), field.truth, field.nuclei)
            for i, field in enumerate(fields, start=1)}


def summary_table(summaries: dict[str, dict]) -> str:
    """A Markdown table of several summaries (e.g. one per iteration), for a notebook or a results file."""
    def cell(found, total):
        return f"{found}/{total} ({100 * found / total:.0f} %)" if total else "-"
    lines = ["| segmentation | interphase nuclei found | of them far from the middle | mitotic found | "
             "fields with every nucleus found | interphase-only fields all found |",
             "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {cell(s['interphase_found'] + s['far_found'], s['interphase_total'] + s['far_total'])} | "
            f"{cell(s['far_found'], s['far_total'])} | {cell(s['mitotic_found'], s['mitotic_total'])} | "
            f"{cell(s['fields_complete'], s['fields'])} | "
            f"{cell(s['interphase_fields_complete'], s['interphase_fields'])} |")
    return "\n".join(lines)
