"""Multi-class label images: per-class clean-up, per-class objects, a summary table and a slice panel.

A multi-class network (one class per voxel: e.g. nucleoplasm, nucleolus, chromosome, synaptonemal
complex) gives a label image whose classes need their own post-processing. The FIB-SEM study of
sub-nuclear structures (NETWORKS.md) removes small objects per class (1000, 2000 and 3000 voxels for
its classes) and pulls out individual chromosomes as the 26-connected components of the chromosome
class; :func:`remove_small_per_class` and :func:`components` do these two steps on any label image,
:func:`class_summary` counts voxels and objects per class, and :func:`class_slice_figure` draws
slices of an image beside label images with one colour per class and a legend.

Connectivity in 3D: 6 (faces), 18 (faces and edges) or 26 (faces, edges and corners). Two voxels
that touch only at a corner are one object under 26-connectivity and two under 6.
"""

from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage

from ._checks import check_image, check_labels, check_number

__all__ = ["remove_small_per_class", "components", "class_summary", "class_slice_figure", "CLASS_COLORS"]

#: Colours of classes 0, 1, 2 ... in :func:`class_slice_figure` (colour-blind-safe Okabe-Ito order;
#: class 0 light grey so that the structures stand out).
CLASS_COLORS = ("#dddddd", "#e69f00", "#0072b2", "#d55e00", "#555555", "#009e73", "#cc79a7", "#56b4e9",
                "#f0e442", "#000000")

_CONNECTIVITY = {6: 1, 18: 2, 26: 3}


def _structure(connectivity) -> np.ndarray:
    if isinstance(connectivity, bool) or connectivity not in _CONNECTIVITY:
        raise ValueError(f"`connectivity` must be 6, 18 or 26 (neighbours in 3D: faces; faces and edges; faces, "
                         f"edges and corners), got {connectivity!r}.")
    return ndimage.generate_binary_structure(3, _CONNECTIVITY[connectivity])


def _class_id(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"`{name}` must hold class ids: whole numbers >= 0 (e.g. 2 for the chromosome class); "
                         f"got {value!r}.")
    return int(value)


def remove_small_per_class(labels, min_sizes: Mapping[int, int], *, fill_with=0, connectivity: int = 26) -> np.ndarray:
    """Remove the objects of each class that are smaller than that class's size.

    Parameters
    ----------
    labels : array_like of int, shape (Z, Y, X)
        A class per voxel (0, 1, 2, ...), e.g. the most probable class of a network's output.
    min_sizes : dict of {class id: int}
        Per class, the smallest object (in voxels) to keep; objects with fewer voxels go. 0 keeps all.
        Classes not named are left alone; a named class that does not occur has nothing to remove.
    fill_with : int or "surrounding"
        What a removed object becomes: a class id (default 0, the background), or ``"surrounding"``:
        the class most of its outside neighbours have (a speck of chromosome inside a nucleolus
        becomes nucleolus; ties go to the smaller class id). Neighbours are taken from the input,
        so the result does not depend on the order of the classes.
    connectivity : {6, 18, 26}
        Which voxels touch (26: faces, edges and corners, as in the FIB-SEM study).

    Returns
    -------
    numpy.ndarray, shape (Z, Y, X)
        A new label image of the input's dtype.

    Raises
    ------
    ValueError
        For a label image that is not 3D non-negative integers, a bad class id or size, an unknown
        ``fill_with`` or ``connectivity``.

    Examples
    --------
    >>> labels = np.zeros((5, 5, 5), np.uint8); labels[0, 0, 4] = 2; labels[2:4, 2:4, 2:4] = 2
    >>> int((remove_small_per_class(labels, {2: 2}) == 2).sum())
    8
    """
    labels = check_labels(labels)
    structure = _structure(connectivity)
    if not isinstance(min_sizes, Mapping) or not min_sizes:
        raise ValueError("`min_sizes` must be a non-empty dict {class id: smallest object in voxels}, "
                         f"e.g. {{1: 1000, 2: 2000, 3: 3000}}; got {min_sizes!r}.")
    sizes = {}
    for class_id, size in min_sizes.items():
        class_id = _class_id(class_id, "min_sizes")
        sizes[class_id] = check_number(size, f"min_sizes[{class_id}]", minimum=0, integer=True,
                                       hint="Give the smallest object to keep, in voxels.")
    surrounding = isinstance(fill_with, str)
    if surrounding and fill_with != "surrounding":
        raise ValueError(f"`fill_with` must be a class id or 'surrounding', got {fill_with!r}.")
    if not surrounding:
        fill_with = _class_id(fill_with, "fill_with")
        if fill_with > np.iinfo(labels.dtype).max:
            raise ValueError(f"`fill_with` = {fill_with} does not fit the labels' dtype {labels.dtype}.")
    result = labels.copy()
    for class_id, size in sizes.items():
        if size == 0:
            continue
        objects, count = ndimage.label(labels == class_id, structure=structure)
        if count == 0:
            continue
        voxels = np.bincount(objects.ravel(), minlength=count + 1)
        small = np.flatnonzero(voxels < size)
        small = small[small > 0]
        if not surrounding:
            result[np.isin(objects, small)] = fill_with
            continue
        boxes = ndimage.find_objects(objects)
        for number in small:
            box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in boxes[number - 1])
            inside = objects[box] == number
            ring = ndimage.binary_dilation(inside, structure=structure) & ~inside
            around = labels[box][ring]
            around = around[around != class_id]
            new = int(np.bincount(around).argmax()) if around.size else 0
            result[box][inside] = new
    return result


def components(labels, class_id, *, connectivity: int = 26) -> np.ndarray:
    """Individual objects of one class (or of a union of classes): connected components, numbered.

    Parameters
    ----------
    labels : array_like of int, shape (Z, Y, X)
        A class per voxel.
    class_id : int or sequence of int
        The class whose objects are wanted, e.g. 2 for chromosomes; several ids take their union
        (e.g. ``(2, 3)``: chromosomes with the synaptonemal complex inside them).
    connectivity : {6, 18, 26}
        Which voxels touch (26 in the FIB-SEM study).

    Returns
    -------
    numpy.ndarray of int32, shape (Z, Y, X)
        0 outside the class, 1..n for the n objects (in raster order of their first voxel).

    Raises
    ------
    ValueError
        For a bad label image, class id or connectivity.
    """
    labels = check_labels(labels)
    structure = _structure(connectivity)
    ids = [class_id] if not isinstance(class_id, (Sequence, np.ndarray)) or isinstance(class_id, str) else list(class_id)
    if not ids:
        raise ValueError("`class_id` is empty; name at least one class, e.g. 2.")
    ids = [_class_id(value, "class_id") for value in ids]
    objects, _ = ndimage.label(np.isin(labels, ids), structure=structure)
    return objects.astype(np.int32, copy=False)


def class_summary(labels, names: Sequence[str] | Mapping[int, str] | None = None, *, voxel_size=None,
                  connectivity: int = 26, ignore: int | None = None):
    """A table of every class: voxels, share of the volume, objects (connected components), volume.

    Parameters
    ----------
    labels : array_like of int, shape (Z, Y, X)
    names : sequence of str or dict {class id: str}, optional
        Class names (``names[c]`` for class c); default "class c".
    voxel_size : (z, y, x) floats, optional
        In micrometres; adds a ``volume_um3`` column.
    connectivity : {6, 18, 26}
        For counting objects.
    ignore : int, optional
        A class to leave out of the table (e.g. outside the nucleus); the shares are of the rest.

    Returns
    -------
    pandas.DataFrame
        One row per class present (and per named class, with zeros when absent): ``class``,
        ``name``, ``voxels``, ``fraction``, ``objects`` and, with a voxel size, ``volume_um3``.
    """
    import pandas as pd

    from ._checks import check_voxel_size

    labels = check_labels(labels)
    structure = _structure(connectivity)
    size = check_voxel_size(voxel_size)
    if names is None:
        names = {}
    elif isinstance(names, Mapping):
        names = {_class_id(k, "names"): str(v) for k, v in names.items()}
    elif isinstance(names, Sequence) and not isinstance(names, str):
        names = {i: str(v) for i, v in enumerate(names)}
    else:
        raise ValueError(f"`names` must be a list of class names (index = class id) or a dict; got {names!r}.")
    if ignore is not None:
        ignore = _class_id(ignore, "ignore")
    counts = np.bincount(labels.ravel())
    ids = sorted((set(np.flatnonzero(counts).tolist()) | set(names)) - {ignore})
    total = sum(int(counts[c]) for c in ids if c < len(counts))
    rows = []
    for c in ids:
        voxels = int(counts[c]) if c < len(counts) else 0
        objects = int(ndimage.label(labels == c, structure=structure)[1]) if voxels else 0
        row = {"class": c, "name": names.get(c, f"class {c}"), "voxels": voxels,
               "fraction": voxels / total if total else 0.0, "objects": objects}
        if size is not None:
            row["volume_um3"] = voxels * float(np.prod(size))
        rows.append(row)
    return pd.DataFrame(rows)


def class_slice_figure(image, label_images: Mapping[str, np.ndarray], *, names: Sequence[str], z: int | None = None,
                       colors: Sequence[str] = CLASS_COLORS, size: float = 3.5):
    """One z slice of an image beside the same slice of label images, one colour per class, with a legend.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        The raw volume (shown in grey, 0.5-99.8 percentile contrast).
    label_images : dict {title: (Z, Y, X) int array}
        E.g. ``{"truth": truth, "prediction": predicted}``.
    names : sequence of str
        Class names, ``names[c]`` for class c; the legend lists them.
    z : int, optional
        The slice; default the middle one.
    colors : sequence of colours
        Matplotlib colours of classes 0, 1, 2, ... (at least ``len(names)``).
    size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; it shows itself in a notebook and saves with ``savefig``.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from ._render import contrast_limits, notebook_figure

    image = check_image(image)
    if not isinstance(label_images, Mapping) or not label_images:
        raise ValueError("`label_images` must be a non-empty dict {title: label image}, e.g. {'truth': truth}.")
    checked = {str(title): check_labels(array, name=f"label_images[{title!r}]", like=image)
               for title, array in label_images.items()}
    names = [str(n) for n in names]
    if not names or len(colors) < len(names):
        raise ValueError(f"Give one name per class and at least as many colours ({len(names)} names, "
                         f"{len(colors)} colours).")
    top = max(int(a.max()) for a in checked.values())
    if top >= len(names):
        raise ValueError(f"The label images hold class {top} but only {len(names)} names were given; name every class.")
    z = image.shape[0] // 2 if z is None else int(check_number(z, "z", minimum=0, maximum=image.shape[0] - 1,
                                                               integer=True))
    cmap = ListedColormap(list(colors[:len(names)]))
    norm = BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names))
    panels = 1 + len(checked)
    figure = notebook_figure(figsize=(size * panels, size * image.shape[1] / image.shape[2] + 0.8),
                             layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    low, high = contrast_limits(image)
    axes[0].imshow(image[z], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    axes[0].set_title(f"image, z = {z}")
    for axis, (title, array) in zip(axes[1:], checked.items()):
        axis.imshow(array[z], cmap=cmap, norm=norm, interpolation="nearest")
        axis.set_title(title)
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
    handles = [Patch(facecolor=colors[c], edgecolor="0.3", label=f"{c}: {n}") for c, n in enumerate(names)]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(names), 5), fontsize="small")
    return figure
