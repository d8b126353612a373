"""The curation log: one CSV row per decided image, saved at every decision so a session can resume.

Sorting writes the reference's columns ``raw, seg, score, mask`` (score 1 = accepted, 0 = rejected;
mask = the exclusion regions file, empty when none); merging writes ``raw, seg_a, seg_b, mask, score``
(score 1 = merged, 0 = rejected). Paths are stored relative to the log's folder, so a project folder can
be moved or shared as a whole. The file is rewritten atomically after every decision: an interrupted
session (a closed browser tab, a restarted kernel, a crash) loses nothing that was decided.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .._atomic import atomic_path

__all__ = ["DecisionLog", "SORTING_COLUMNS", "MERGING_COLUMNS", "path_key"]

SORTING_COLUMNS = ("raw", "seg", "score", "mask")
MERGING_COLUMNS = ("raw", "seg_a", "seg_b", "mask", "score")
#: Columns that hold file paths (stored relative to the log's folder).
PATH_COLUMNS = ("raw", "seg", "seg_a", "seg_b", "mask")


def path_key(path) -> str:
    """How curation recognises a file again: its absolute, case-normalised path."""
    return os.path.normcase(os.path.abspath(path))


class DecisionLog:
    """Decisions keyed by raw image, kept in a CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file. An existing log is read (and continued); a missing one is created at the first
        decision (its folder too). A file that is not a log with these columns is refused, never
        overwritten.
    columns : tuple of str
        ``SORTING_COLUMNS`` or ``MERGING_COLUMNS`` (the first must be ``raw``).
    """

    def __init__(self, path, columns=SORTING_COLUMNS):
        self.path = Path(path)
        self.columns = tuple(columns)
        if not self.columns or self.columns[0] != "raw":
            raise ValueError(f"The first column of a curation log must be 'raw'; got {self.columns}.")
        self._rows: dict[str, dict] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as error:
            raise ValueError(f"Could not read the curation log {self.path} ({error}). Choose another log "
                             "file name; the file was left untouched.") from None
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != self.columns:
            raise ValueError(
                f"{self.path} is not a curation log of this kind: its columns are {reader.fieldnames}, expected "
                f"{list(self.columns)}. Choose another log file name (the file was left untouched).")
        folder = self.path.parent
        for number, row in enumerate(reader, start=2):
            if not row.get("raw"):
                raise ValueError(f"{self.path}, line {number}: the 'raw' column is empty. Fix or remove the line.")
            row = {name: (str((folder / row[name]).resolve()) if name in PATH_COLUMNS and row[name] else row[name] or "")
                   for name in self.columns}
            self._rows[path_key(row["raw"])] = row

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        folder = self.path.parent.resolve()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self._rows.values():
            writer.writerow({name: (Path(os.path.relpath(Path(row[name]).resolve(), folder)).as_posix()
                                    if name in PATH_COLUMNS and row[name] else row[name])
                             for name in self.columns})
        with atomic_path(self.path) as temporary:
            with open(temporary, "w", encoding="utf-8", newline="") as stream:
                stream.write(buffer.getvalue())

    def get(self, raw) -> dict | None:
        """The row for a raw image (paths absolute), or None when it has no decision."""
        row = self._rows.get(path_key(raw))
        return dict(row) if row is not None else None

    def set(self, raw, **fields) -> None:
        """Record (or replace) the decision for a raw image and save the log at once."""
        unknown = set(fields) - set(self.columns[1:])
        if unknown:
            raise ValueError(f"Unknown column(s) {sorted(unknown)}; a log of this kind has {list(self.columns)}.")
        row = {name: "" for name in self.columns}
        row.update({name: "" if value is None else str(value) for name, value in fields.items()})
        row["raw"] = str(Path(raw).resolve())
        self._rows[path_key(raw)] = row
        self._write()

    def remove(self, raw) -> None:
        """Forget the decision for a raw image (saved at once)."""
        if self._rows.pop(path_key(raw), None) is not None:
            self._write()

    @property
    def rows(self) -> list[dict]:
        """Every decision, in the order they were first made (paths absolute)."""
        return [dict(row) for row in self._rows.values()]

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, raw) -> bool:
        return path_key(raw) in self._rows
