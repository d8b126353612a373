"""A person's judgement of every pipeline-grid cell, saved at once with a record of every parameter.

OpSeF's four categories (:data:`JUDGEMENTS`): correct, under-segmented, over-segmented, failed.
:class:`GridJudgements` keeps one row per judged cell in a CSV (:data:`CSV_COLUMNS`) and writes beside it a
JSON record of the grid (image, every variant's settings, timings, the slice, the counts), so that the
notebook documents how the choice was made; a session resumes from the files, and files that are not
ours, or judgements made on another image or under other settings, are refused and left untouched.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

from .._atomic import atomic_path, write_json
from .grid_figure import slice_index
from .pipeline_grid import RECORD_KIND, GridResult

__all__ = ["CORRECT", "UNDER_SEGMENTED", "OVER_SEGMENTED", "FAILED", "JUDGEMENTS", "CSV_COLUMNS", "GridJudgements"]

#: The four judgements of a grid cell (OpSeF's categories).
CORRECT = "correct"
UNDER_SEGMENTED = "under-segmented"
OVER_SEGMENTED = "over-segmented"
FAILED = "failed"
JUDGEMENTS = (CORRECT, UNDER_SEGMENTED, OVER_SEGMENTED, FAILED)

#: Columns of a judgements CSV, in order (a CSV with other columns is not ours and is refused).
CSV_COLUMNS = ("preprocessing", "segmenter", "judgement", "z", "objects", "dice", "iou", "seconds", "error")



class GridJudgements:
    """A person's judgement of each grid cell, saved at once to a CSV beside a JSON record of every parameter.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (``.csv``); the record goes beside it with the suffix ``.json``. An existing CSV
        of ours is read and continued (a session resumes where it stopped); a file that is not ours,
        or judgements made on another image or under other settings of the same variant names, are
        refused and left untouched. The folder is created at the first save.
    result : GridResult
        The grid being judged.

    Attributes
    ----------
    path, record_path : pathlib.Path
    labels : dict of (str, str) to str
        The judgement of each judged cell (also rows of earlier grids kept in the file).
    """

    def __init__(self, path, result: GridResult):
        if not isinstance(result, GridResult):
            raise ValueError("`result` must be the GridResult that run_grid returned.")
        self.path = Path(path)
        if self.path.suffix.lower() != ".csv":
            raise ValueError(f"The judgements file must end in .csv, got {self.path.name!r}; e.g. "
                             "'results/grid_judgements.csv' (the parameter record goes beside it as .json).")
        self.record_path = self.path.with_suffix(".json")
        self.result = result
        self._rows: dict[tuple[str, str], dict] = {}
        self.slice = result.default_slice()
        self._check_record()
        if self.path.exists():
            self._read()

    # -- reading ------------------------------------------------------------------------------------

    def _refuse(self, why: str):
        raise ValueError(f"{why} Choose another file name for the judgements (the existing files were left "
                         "untouched).")

    def _check_record(self) -> None:
        if not self.record_path.exists():
            return
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict) or record.get("kind") != RECORD_KIND:
            self._refuse(f"{self.record_path} exists and is not a pipeline-grid record.")
        mine = self.result.record()
        if record.get("image", {}).get("fingerprint") != mine["image"]["fingerprint"]:
            self._refuse(f"The judgements in {self.path.name} were made on another image (shape "
                         f"{record.get('image', {}).get('shape')}, not {mine['image']['shape']}).")
        for group in ("preprocessings", "segmenters"):
            for name, settings in record.get(group, {}).items():
                if name in mine[group] and json.loads(json.dumps(mine[group][name])) != settings:
                    self._refuse(f"The judgements in {self.path.name} were made with other settings for "
                                 f"{group[:-1]} {name!r}.")
        if isinstance(record.get("slice"), int):
            self.slice = record["slice"]

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self._refuse(f"{self.path} cannot be read as text ({error}).")
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            self._refuse(f"{self.path} is not a pipeline-grid judgements file: its columns are "
                         f"{reader.fieldnames}, expected {list(CSV_COLUMNS)}.")
        for number, row in enumerate(reader, start=2):
            if row["judgement"] not in JUDGEMENTS or not row["preprocessing"] or not row["segmenter"]:
                self._refuse(f"{self.path}, line {number}: {row['judgement']!r} is not one of "
                             f"{', '.join(JUDGEMENTS)} (or a name is empty).")
            self._rows[(row["preprocessing"], row["segmenter"])] = dict(row)

    # -- changing -----------------------------------------------------------------------------------

    def set(self, preprocessing: str, segmenter: str, judgement: str, *, z: int | None = None) -> None:
        """Record the judgement of one cell (seen on slice ``z``) and save both files at once."""
        cell = self.result.cell(preprocessing, segmenter)
        if judgement not in JUDGEMENTS:
            raise ValueError(f"`judgement` = {judgement!r} is not allowed; choose one of {', '.join(JUDGEMENTS)} "
                             "(the constants CORRECT, UNDER_SEGMENTED, OVER_SEGMENTED, FAILED).")
        if z is not None:
            self.slice = slice_index(self.result, z)
        summary = cell.summary()
        self._rows[(preprocessing, segmenter)] = {
            "preprocessing": preprocessing, "segmenter": segmenter, "judgement": judgement, "z": str(self.slice),
            **{key: "" if summary[key] is None else str(summary[key]) for key in ("objects", "dice", "iou", "seconds",
                                                                                 "error")}}
        self.save()

    def remove(self, preprocessing: str, segmenter: str) -> None:
        """Forget the judgement of one cell (saved at once)."""
        self.result.cell(preprocessing, segmenter)
        if self._rows.pop((preprocessing, segmenter), None) is not None:
            self.save()

    def get(self, preprocessing: str, segmenter: str) -> str | None:
        """The judgement of one cell, or None."""
        row = self._rows.get((preprocessing, segmenter))
        return None if row is None else row["judgement"]

    @property
    def labels(self) -> dict:
        return {key: row["judgement"] for key, row in self._rows.items()}

    def counts(self) -> dict[str, int]:
        """How many cells of this grid have each judgement, and how many are still to judge."""
        counts = {label: 0 for label in JUDGEMENTS}
        for key in self.result.cells:
            label = self.get(*key)
            if label is not None:
                counts[label] += 1
        counts["to judge"] = len(self.result.cells) - sum(counts.values())
        return counts

    def record(self) -> dict:
        """The JSON record: the grid's parameters and numbers, the slice, the judgements file."""
        record = self.result.record()
        record.update({"saved": datetime.now(timezone.utc).isoformat(timespec="seconds"), "slice": self.slice,
                       "judgements_file": self.path.name, "judgement_counts": self.counts()})
        return record

    def save(self) -> None:
        """Write the CSV and the record (atomically; the folder is created if needed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self._rows.values():
            writer.writerow(row)
        with atomic_path(self.path) as temporary:
            with open(temporary, "w", encoding="utf-8", newline="") as stream:
                stream.write(buffer.getvalue())
        write_json(self.record_path, self.record())

    def __len__(self) -> int:
        return len(self._rows)
