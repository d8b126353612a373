"""What sorting and merging share: stepping through images, drawn regions, a resumable log.

A session holds a list of items (a raw image and its candidate masks), the index of the image on show,
the regions drawn on it, a :class:`~.decisions.DecisionLog` and, optionally, a
:class:`~.training_set.TrainingSet` that every decision updates at once. Decided images are skipped when
a session starts again with the same log; :meth:`back` returns to any image to change its decision.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..batch import _image_stem
from ..io import Image, read_image, write_mask
from .candidates import read_candidate
from .decisions import DecisionLog, path_key
from .drawing import Polygon, load_regions, read_region_mask, regions_mask, save_regions
from .training_set import TrainingSet

__all__ = ["CurationSession"]


class CurationSession(ABC):
    """Base of :class:`~.sorting.Sorter` and :class:`~.merging.Merger` (not used directly)."""

    #: log columns, the candidate columns after ``raw``, the regions file's suffix and the origin name
    columns: tuple = ()
    candidate_columns: tuple = ()
    regions_suffix = "regions"
    origin = ""

    def __init__(self, items, log, *, training_folder=None):
        items = [tuple(Path(p) for p in item) for item in items]
        width = 1 + len(self.candidate_columns)
        if not items:
            raise ValueError("There are no images to curate: pass a non-empty list (see `match_candidates`).")
        for item in items:
            if len(item) != width:
                raise ValueError(f"Each item must be (raw, {', '.join(self.candidate_columns)}): {width} paths; got {item}.")
            for path in item:
                if not path.exists():
                    raise FileNotFoundError(f"No such file: {path}. Check the list of images and candidates.")
        keys = [path_key(item[0]) for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError("A raw image appears twice in the list; give each image once.")
        self.items = items
        self.log = DecisionLog(log, self.columns)
        self.training = TrainingSet(training_folder) if training_folder is not None else None
        self.regions_folder = self.log.path.parent / f"{self.log.path.stem}_regions"
        stems = [_image_stem(item[0]) or item[0].name for item in items]
        self._names = [stem if stems.count(stem) == 1 else f"{stem}_{hashlib.sha1(key.encode()).hexdigest()[:6]}"
                       for stem, key in zip(stems, keys)]
        self.polygons: list[Polygon] = []
        self.mask_file: Path | None = None
        self._loaded: tuple[int, tuple] | None = None
        self.index: int | None = None
        self._go(self._next_undecided(-1))

    # -- navigation -------------------------------------------------------------------------------

    def decided(self, index: int) -> dict | None:
        """The logged decision for item ``index`` (a row of the log), or None."""
        return self.log.get(self.items[index][0])

    def _next_undecided(self, after: int) -> int | None:
        count = len(self.items)
        for step in range(1, count + 1):
            candidate = (after + step) % count
            if candidate != after and self.decided(candidate) is None:
                return candidate
        return None

    def _go(self, index: int | None) -> None:
        self.index = index
        self.polygons, self.mask_file = [], None
        if index is None:
            return
        row = self.decided(index)
        if row and row.get("mask"):  # revisiting a decided image: show its regions again
            mask = Path(row["mask"])
            if mask.suffix == ".json" and mask.parent == self.regions_folder.resolve() and mask.exists():
                self.polygons = load_regions(mask)[0]
            elif mask.exists():
                self.mask_file = mask

    @property
    def current(self) -> tuple[Path, ...] | None:
        """The item on show: (raw, candidate paths...), or None when every image is decided."""
        return self.items[self.index] if self.index is not None else None

    @property
    def done(self) -> bool:
        """True when every image has a decision."""
        return all(self.decided(i) is not None for i in range(len(self.items)))

    def skip(self) -> None:
        """Leave the image undecided for now and show the next undecided one."""
        self._require_current()
        following = self._next_undecided(self.index)
        self._go(following if following is not None else self.index)

    def back(self) -> None:
        """Show the previous image (decided or not), to look again or change its decision."""
        if self.index is None:
            self._go(len(self.items) - 1)
        elif self.index > 0:
            self._go(self.index - 1)

    def go_to(self, index: int) -> None:
        """Show image ``index`` (0-based), decided or not."""
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.items):
            raise ValueError(f"`index` must be a whole number from 0 to {len(self.items) - 1}; got {index!r}.")
        self._go(int(index))

    def _require_current(self) -> None:
        if self.index is None:
            raise RuntimeError("Every image has a decision; use back() or go_to(i) to change one.")

    # -- images -----------------------------------------------------------------------------------

    def load(self) -> tuple:
        """The image on show and its candidates: ``(Image, mask, ...)`` (masks (Z, Y, X) bool)."""
        self._require_current()
        if self._loaded is None or self._loaded[0] != self.index:
            raw, *candidates = self.items[self.index]
            image = read_image(raw, promote_2d=True)
            self._loaded = (self.index, (image, *(read_candidate(c, image.shape) for c in candidates)))
        return self._loaded[1]

    @property
    def image(self) -> Image:
        return self.load()[0]

    # -- regions ----------------------------------------------------------------------------------

    def add_polygon(self, vertices, *, z=None) -> Polygon:
        """Add a region drawn on the maximum projection: (y, x) vertices in pixels, through every slice
        (or slices ``z = (first, stop)``)."""
        self._require_current()
        polygon = Polygon(vertices, z)
        self.polygons.append(polygon)
        return polygon

    def remove_last_polygon(self) -> None:
        """Undo the last polygon."""
        if self.polygons:
            self.polygons.pop()

    def clear_regions(self) -> None:
        """Remove every region of the image on show (polygons and a loaded mask file)."""
        self.polygons, self.mask_file = [], None

    def load_mask(self, path) -> None:
        """Use a mask drawn in another program (Fiji, napari: a 2D or 3D TIFF or .npy; or a regions file)
        as this image's regions, in addition to any polygons."""
        self._require_current()
        read_region_mask(path, self.image.shape)  # checks it now, with a clear message
        self.mask_file = Path(path).resolve()

    def region_mask(self) -> np.ndarray:
        """(Z, Y, X) bool: the regions of the image on show (polygons and mask file together)."""
        shape = self.image.shape
        mask = regions_mask(self.polygons, shape)
        if self.mask_file is not None:
            mask |= read_region_mask(self.mask_file, shape)
        return mask

    def _save_regions(self) -> Path | None:
        """Keep the regions of the image on show in a file (None when there are none)."""
        if not self.polygons and self.mask_file is None:
            return None
        if not self.polygons:
            return self.mask_file
        self.regions_folder.mkdir(parents=True, exist_ok=True)
        name = self._names[self.index]
        if self.mask_file is None:
            return save_regions(self.regions_folder / f"{name}_{self.regions_suffix}.json", self.polygons,
                                self.image.shape, overwrite=True)
        return write_mask(self.regions_folder / f"{name}_{self.regions_suffix}.ome.tif", self.region_mask(),
                          voxel_size=self.image.voxel_size, overwrite=True)

    # -- decisions --------------------------------------------------------------------------------

    def _record(self, score: int, truth=None, cost=None) -> None:
        raw, *candidates = self.items[self.index]
        mask = self._save_regions() if score else None
        if self.training is not None:
            if score:
                self.training.add(raw, self.image.data, truth, cost=cost, voxel_size=self.image.voxel_size,
                                  seg=candidates[-1], mask=mask, origin=self.origin)
            else:
                self.training.remove(raw)
        self.log.set(raw, **dict(zip(self.candidate_columns, candidates)), score=score, mask=mask)
        self._go(self._next_undecided(self.index))

    def reject(self) -> None:
        """The image is not usable: logged with score 0, its training example (if any) removed."""
        self._require_current()
        self._record(0)

    def replay(self, decisions) -> int:
        """Apply the decisions of another log of the same kind (e.g. decisions recorded earlier, or made
        by someone else on a copy of the data), matched by the raw image's file name.

        Regions files and masks named in it are read relative to that log's folder. Images without a
        decision there stay undecided. Returns the number of decisions applied.
        """
        if not Path(decisions).is_file():
            raise FileNotFoundError(f"No recorded decisions at {decisions}. Check the path (relative paths start at "
                                    f"{Path.cwd()}).")
        other = DecisionLog(decisions, self.columns)
        by_name = {Path(row["raw"]).name: row for row in other.rows}
        applied = 0
        for index, item in enumerate(self.items):
            row = by_name.get(item[0].name)
            if row is None:
                continue
            self._go(index)
            if row.get("mask"):
                mask = Path(row["mask"])
                if mask.suffix == ".json":
                    polygons, drawn_for = load_regions(mask)
                    if drawn_for[1:] != self.image.shape[1:]:
                        raise ValueError(f"{mask} was drawn on a {drawn_for[1]} x {drawn_for[2]} image, but "
                                         f"{item[0].name} is {self.image.shape[1]} x {self.image.shape[2]}.")
                    self.polygons = polygons
                else:
                    self.load_mask(mask)
            if row.get("score") == "1":
                self.accept()
            elif row.get("score") == "0":
                self.reject()
            else:
                raise ValueError(f"{decisions}: the score of {item[0].name} is {row.get('score')!r}; expected 1 or 0.")
            applied += 1
        self._go(self._next_undecided(-1))
        return applied

    def counts(self) -> dict:
        """How many images are accepted, rejected and still undecided."""
        scores = [(self.decided(i) or {}).get("score") for i in range(len(self.items))]
        return {"accepted": scores.count("1"), "rejected": scores.count("0"), "undecided": scores.count(None),
                "total": len(self.items)}

    def progress(self) -> str:
        """One line for a person: where they are and what is decided."""
        c = self.counts()
        where = "all images decided" if self.index is None else f"image {self.index + 1} of {c['total']}"
        return f"{where} · {c['accepted']} accepted, {c['rejected']} rejected, {c['undecided']} to do"

    @abstractmethod
    def accept(self) -> None:
        """Accept the image on show (each kind of session says what that writes)."""
