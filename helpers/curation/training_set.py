"""A training folder that curation fills: examples named ``img_NNN``, with a record of where each came from.

Curation writes each accepted (or merged) image as soon as it is decided, in the training folder
convention of :mod:`helpers.training_data` (``img_001.ome.tif``, ``img_001_GT.ome.tif``,
``img_001_CM.ome.tif``). ``curation_sources.csv`` in the folder records which raw image, candidate and
mask each example came from, so that deciding an image again replaces its own example (same name), a
rejected image's example is removed, and examples the folder already held (written by hand or by another
tool) are never touched: new names continue after the highest number in use.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..training_data import write_training_example
from .decisions import path_key

__all__ = ["TrainingSet", "SOURCES_FILE"]

SOURCES_FILE = "curation_sources.csv"
_COLUMNS = ("name", "raw", "seg", "mask", "origin")
_NUMBERED = re.compile(r"img_(\d+)(?:_GT|_CM)?\.ome\.tiff?$")


class TrainingSet:
    """The examples curation has written to a training folder.

    Parameters
    ----------
    folder : str or os.PathLike
        The training folder (created at the first example).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self._sources: dict[str, dict] = {}
        manifest = self.folder / SOURCES_FILE
        if manifest.exists():
            reader = csv.DictReader(io.StringIO(manifest.read_text(encoding="utf-8")))
            if tuple(reader.fieldnames or ()) != _COLUMNS:
                raise ValueError(f"{manifest} is not a curation sources file (columns {reader.fieldnames}, expected "
                                 f"{list(_COLUMNS)}); move it away or choose another training folder.")
            for row in reader:
                self._sources[path_key(self.folder / row["raw"])] = row

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in sorted(self._sources.values(), key=lambda r: r["name"]):
            writer.writerow(row)
        with atomic_path(self.folder / SOURCES_FILE) as temporary:
            Path(temporary).write_text(buffer.getvalue(), encoding="utf-8")

    def _relative(self, path) -> str:
        if not path:
            return ""
        return Path(os.path.relpath(Path(path).resolve(), self.folder.resolve())).as_posix()

    def _next_name(self) -> str:
        used = [int(m.group(1)) for p in self.folder.glob("img_*") if (m := _NUMBERED.match(p.name))]
        used += [int(row["name"][4:]) for row in self._sources.values()]
        return f"img_{max(used, default=0) + 1:03d}"

    def name_of(self, raw) -> str | None:
        """The example name written for a raw image, or None."""
        row = self._sources.get(path_key(raw))
        return row["name"] if row else None

    def add(self, raw, image, truth, *, cost=None, voxel_size=None, seg=None, mask=None, origin="sorting") -> str:
        """Write (or rewrite) the example for a raw image and record its sources; returns its name.

        Parameters
        ----------
        raw : path
            The raw image file the example comes from (its key: a second ``add`` replaces the first).
        image : (Z, Y, X) array
        truth : (Z, Y, X) bool or labels
            The ground truth (written as a 0/255 mask or as class labels).
        cost : (Z, Y, X) float, optional
            The cost map (0 excludes a voxel from training); no ``_CM`` file when None.
        voxel_size : (z, y, x) micrometres, optional
        seg, mask : path, optional
            The candidate segmentation(s) and the regions file, recorded in ``curation_sources.csv``.
        origin : str
            How the example was made: "sorting", "merging" or "take-all".
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        key = path_key(raw)
        previous = self._sources.get(key)
        name = previous["name"] if previous else self._next_name()
        if previous:
            self._delete_files(name)
        write_training_example(self.folder, name, np.asarray(image), truth, cost=cost, voxel_size=voxel_size)
        self._sources[key] = {"name": name, "raw": self._relative(raw), "seg": self._relative(seg),
                              "mask": self._relative(mask), "origin": origin}
        self._save()
        return name

    def _delete_files(self, name: str) -> None:
        for suffix in ("", "_GT", "_CM"):
            path = self.folder / f"{name}{suffix}.ome.tif"
            if path.exists():
                path.unlink()

    def remove(self, raw) -> str | None:
        """Delete the example written for a raw image (only files this class wrote); returns its name."""
        row = self._sources.pop(path_key(raw), None)
        if row is None:
            return None
        self._delete_files(row["name"])
        self._save()
        return row["name"]

    @property
    def names(self) -> list[str]:
        """The names of the examples written by curation, in order."""
        return sorted(row["name"] for row in self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)
