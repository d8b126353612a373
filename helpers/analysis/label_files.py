"""Label images out to Fiji (or napari) for correction, and back in, with a summary of the edits.

A segmentation is rarely perfect: the user opens the label image in Fiji or napari, deletes false
objects, joins pieces, splits merged neighbours, paints missed ones, saves, and the analysis goes on
with the corrected labels (the OpSeF round trip).

- :func:`write_labels_for_fiji`: an ImageJ hyperstack TIFF that Fiji opens as a calibrated Z stack
  (voxel size in microns, axes Z, Y, X), in a pixel type Fiji handles.
- :func:`read_edited_labels`: the edited file (ImageJ TIFF, OME-TIFF, plain TIFF or napari's ``.npy``)
  back as a checked label image.
- :func:`compare_labels`: which objects the edit added, removed, merged, split or reshaped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_path, check_target
from .._checks import check_labels, check_number, check_shape, check_voxel_size

__all__ = ["write_labels_for_fiji", "read_edited_labels", "compare_labels", "LabelChanges"]

#: Largest label a float32 stack stores exactly (2**24); ImageJ has no 32-bit integer type.
_FLOAT32_EXACT = 2 ** 24


def write_labels_for_fiji(path, labels, *, voxel_size, overwrite: bool = False) -> Path:
    """Save a label image as an ImageJ hyperstack TIFF that Fiji opens as a calibrated stack.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.tif`` file to write.
    labels : array_like of int or bool, shape (Z, Y, X)
        The label image (0 = background).
    voxel_size : sequence of 3 float or None
        (z, y, x) voxel size in micrometres; stored as ImageJ's calibration (pixel width and height,
        voxel depth, unit "micron"). None writes an uncalibrated stack (with a warning).
    overwrite : bool
        Replace an existing file; without it an existing file raises FileExistsError.

    Returns
    -------
    pathlib.Path
        The written file (written atomically: complete or absent).

    Notes
    -----
    ImageJ images are 8-bit, 16-bit or 32-bit float (it has no 32-bit integer type). Labels up to
    65535 are written as 16-bit (what Fiji's label tools, e.g. MorphoLibJ, expect); more objects need
    32-bit float, which stores whole numbers exactly up to 16,777,216 (larger labels raise). The display
    range is set to 0..largest label; in Fiji, Image > Lookup Tables > glasbey_on_dark colours the
    objects apart. Axes are written as Z, Y, X (one channel, one time point).
    """
    import tifffile

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"{path} does not end in .tif; ImageJ TIFF files need a .tif name, e.g. 'labels.tif'.")
    array = check_labels(labels)
    sizes = check_voxel_size(voxel_size)
    check_target(path, overwrite=overwrite)
    largest = int(array.max()) if array.size else 0
    if largest <= np.iinfo(np.uint16).max:
        data = array.astype(np.uint16)
    elif largest <= _FLOAT32_EXACT:
        data = array.astype(np.float32)
    else:
        raise ValueError(f"The largest label is {largest}, above what an ImageJ file stores exactly "
                         f"({_FLOAT32_EXACT}, as 32-bit float). Renumber the labels 1..n first, e.g. with "
                         "`skimage.segmentation.relabel_sequential(labels)[0]`.")
    metadata = {"axes": "ZYX", "min": 0.0, "max": float(max(largest, 1))}
    options = {}
    if sizes is None:
        warnings.warn("No voxel size given: Fiji will show the stack in pixels. Pass `voxel_size=image.voxel_size` "
                      "to calibrate it.", UserWarning, stacklevel=2)
    else:
        z, y, x = sizes
        metadata.update(spacing=z, unit="micron")
        options["resolution"] = (1.0 / x, 1.0 / y)
    with atomic_path(path) as temporary:
        tifffile.imwrite(temporary, data, imagej=True, metadata=metadata, **options)
    return path


def read_edited_labels(path, *, reference_shape=None, relabel: bool = True) -> np.ndarray:
    """Read a label image edited in Fiji or napari and check it.

    Parameters
    ----------
    path : str or os.PathLike
        An ImageJ TIFF (Fiji: File > Save As > Tiff), an OME-TIFF, a plain TIFF, or a ``.npy`` file
        (napari: save the Labels layer, or ``np.save(path, layer.data)``).
    reference_shape : sequence of 3 int, optional
        The (Z, Y, X) shape the labels must have (the image they belong to); a mismatch raises.
    relabel : bool
        Renumber the objects 1..n in the order of their old labels (edits leave gaps and high
        numbers); False keeps the labels as saved.

    Returns
    -------
    numpy.ndarray of int32 (int64 for labels above 2**31 - 1), shape (Z, Y, X)
        The labels; 0 is background.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file cannot be read, is not a (Z, Y, X) stack of the reference shape, or holds
        negative or fractional values (an image rather than labels).
    """
    from .. import io

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}. Check the path (relative paths start at {Path.cwd()}).")
    reference = None if reference_shape is None else check_shape(reference_shape, "reference_shape")
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"Could not read {path} as a NumPy array ({error}); save it again with "
                             "`np.save(path, labels)` or as TIFF.") from error
        if data.ndim == 2:
            data = data[np.newaxis]
    else:
        try:
            data = io.read_image(path, promote_2d=True).data
        except ValueError as error:
            raise ValueError(f"{error} For a label image, save a single-channel Z stack: in Fiji, Image > "
                             "Properties with channels = 1, frames = 1 and slices = the number of planes, then "
                             "File > Save As > Tiff.") from error
    if data.ndim != 3:
        raise ValueError(f"{path} holds an array of shape {data.shape}; a (Z, Y, X) label stack is needed.")
    if reference is not None and tuple(data.shape) != reference:
        hint = ""
        if data.shape[0] == 1 and reference[0] > 1:
            hint = " The file holds a single plane: save the whole stack, not the current slice."
        elif sorted(data.shape) == sorted(reference):
            hint = " The axes look reordered: save the stack with Z as slices (Image > Properties in Fiji)."
        raise ValueError(f"{path} has shape {tuple(data.shape)} but the labels must have shape {reference}.{hint}")
    if data.dtype == bool:
        data = data.astype(np.int32)
    if np.issubdtype(data.dtype, np.floating):
        if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
            raise ValueError(f"{path} holds fractional or NaN values: it looks like an intensity image, not labels. "
                             "Save the label image (in Fiji, the label stack; in napari, the Labels layer).")
    elif not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"{path} has pixel type {data.dtype}; a label image of whole numbers is needed.")
    if data.size and data.min() < 0:
        raise ValueError(f"{path} holds negative values; labels must be 0 (background) or positive.")
    largest = int(data.max()) if data.size else 0
    labels = data.astype(np.int32 if largest <= np.iinfo(np.int32).max else np.int64)
    if relabel:
        values = np.unique(labels)
        values = values[values > 0]
        lookup_needed = values.size and (values[-1] != values.size)
        if lookup_needed:
            labels = (np.searchsorted(values, labels) + 1).astype(labels.dtype) * (labels > 0)
    return labels


@dataclass(frozen=True)
class LabelChanges:
    """What an edit did to a label image, object by object (labels compared by overlap, not by number).

    Attributes
    ----------
    added : tuple of int
        Labels (after) of objects that overlap no object before: painted in.
    removed : tuple of int
        Labels (before) of objects that overlap no object after: deleted.
    merged : tuple of (tuple of int, int)
        (labels before, label after): several objects joined into one.
    split : tuple of (int, tuple of int)
        (label before, labels after): one object cut into several.
    changed : tuple of (int, int, float)
        (label before, label after, IoU): the same object with voxels added or erased.
    regrouped : tuple of (tuple of int, tuple of int)
        Several objects before and after linked together (a mix of merges and splits).
    unchanged : int
        Objects with exactly the same voxels (whatever their numbers).
    """

    added: tuple = ()
    removed: tuple = ()
    merged: tuple = ()
    split: tuple = ()
    changed: tuple = ()
    regrouped: tuple = ()
    unchanged: int = 0

    def summary(self) -> str:
        """One line per kind of change, e.g. "removed 1 object: 7"."""
        def plural(count, word="object"):
            return f"{count} {word}{'' if count == 1 else 's'}"

        def listed(values, limit=8):
            values = list(values)
            text = ", ".join(str(v) for v in values[:limit])
            return text + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")

        lines = [f"unchanged: {plural(self.unchanged)}"]
        if self.removed:
            lines.append(f"removed: {plural(len(self.removed))} (before: {listed(self.removed)})")
        if self.added:
            lines.append(f"added: {plural(len(self.added))} (after: {listed(self.added)})")
        if self.merged:
            lines.append(f"merged: {plural(len(self.merged), 'group')} ("
                         + listed(f"{'+'.join(map(str, before))} -> {after}" for before, after in self.merged) + ")")
        if self.split:
            lines.append(f"split: {plural(len(self.split))} ("
                         + listed(f"{before} -> {'+'.join(map(str, after))}" for before, after in self.split) + ")")
        if self.changed:
            lines.append(f"reshaped: {plural(len(self.changed))} ("
                         + listed(f"{before} -> {after} (IoU {iou:.2f})" for before, after, iou in self.changed) + ")")
        if self.regrouped:
            lines.append(f"regrouped: {plural(len(self.regrouped), 'group')} ("
                         + listed(f"{'+'.join(map(str, b))} -> {'+'.join(map(str, a))}" for b, a in self.regrouped)
                         + ")")
        return "\n".join(lines)

    def table(self) -> pd.DataFrame:
        """The changes as a table: ``change``, ``before`` and ``after`` (lists of labels)."""
        rows = [("removed", [b], []) for b in self.removed] + [("added", [], [a]) for a in self.added]
        rows += [("merged", list(b), [a]) for b, a in self.merged] + [("split", [b], list(a)) for b, a in self.split]
        rows += [("reshaped", [b], [a]) for b, a, _ in self.changed]
        rows += [("regrouped", list(b), list(a)) for b, a in self.regrouped]
        return pd.DataFrame(rows, columns=["change", "before", "after"])

    def __str__(self) -> str:
        return self.summary()


def compare_labels(before, after, *, min_overlap: float = 0.5) -> LabelChanges:
    """Which objects an edit added, removed, merged, split or reshaped.

    Objects are linked by overlap, not by their numbers (an editor may renumber everything): an object
    before and one after are linked when their shared voxels make up at least ``min_overlap`` of either
    of them. Groups of linked objects then say what happened: one before and none after = removed, none
    before and one after = added, several before and one after = merged, one before and several after =
    split, one and one = unchanged (same voxels) or reshaped.

    Parameters
    ----------
    before, after : array_like of int, shape (Z, Y, X)
        Label images before and after the edit (0 = background).
    min_overlap : float
        In (0, 1]: the fraction of an object that must be shared to link it.

    Returns
    -------
    LabelChanges
        Print it (or call ``.summary()``) for a readable list; ``.table()`` for a DataFrame.
    """
    first = check_labels(before, name="before")
    second = check_labels(after, name="after", like=first)
    threshold = check_number(min_overlap, "min_overlap", minimum=0, maximum=1, min_inclusive=False,
                             hint="0.5 links objects that share most of their voxels.")
    ids_before, sizes_before = np.unique(first[first > 0], return_counts=True)
    ids_after, sizes_after = np.unique(second[second > 0], return_counts=True)
    both = (first > 0) & (second > 0)
    base = int(second.max()) + 1
    codes, shared = np.unique(first[both].astype(np.int64) * base + second[both], return_counts=True)
    pair_before, pair_after = codes // base, codes % base
    size_b = dict(zip(ids_before.tolist(), sizes_before.tolist()))
    size_a = dict(zip(ids_after.tolist(), sizes_after.tolist()))

    # Union-find over the nodes ("b", label) and ("a", label) joined by the links.
    parent = {("b", b): ("b", b) for b in size_b} | {("a", a): ("a", a) for a in size_a}

    def root(node):
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    overlap = {}
    for b, a, count in zip(pair_before.tolist(), pair_after.tolist(), shared.tolist()):
        overlap[(b, a)] = count
        if count >= threshold * size_b[b] or count >= threshold * size_a[a]:
            parent[root(("b", b))] = root(("a", a))
    groups: dict = {}
    for node in parent:
        groups.setdefault(root(node), ([], []))[0 if node[0] == "b" else 1].append(node[1])

    added, removed, merged, split, changed, regrouped, unchanged = [], [], [], [], [], [], 0
    for olds, news in groups.values():
        olds, news = sorted(olds), sorted(news)
        if not news:
            removed.extend(olds)
        elif not olds:
            added.extend(news)
        elif len(olds) == 1 and len(news) == 1:
            b, a = olds[0], news[0]
            common = overlap.get((b, a), 0)
            if common == size_b[b] == size_a[a]:
                unchanged += 1
            else:
                changed.append((b, a, common / (size_b[b] + size_a[a] - common)))
        elif len(news) == 1:
            merged.append((tuple(olds), news[0]))
        elif len(olds) == 1:
            split.append((olds[0], tuple(news)))
        else:
            regrouped.append((tuple(olds), tuple(news)))
    return LabelChanges(added=tuple(sorted(added)), removed=tuple(sorted(removed)), merged=tuple(sorted(merged)),
                        split=tuple(sorted(split)), changed=tuple(sorted(changed)),
                        regrouped=tuple(sorted(regrouped)), unchanged=unchanged)
