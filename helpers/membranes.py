"""Cell membranes and cells: the ground truth of a membrane network, and cells back from its output.

The lattice light-sheet 3D U-Net is trained on cell *membranes*: a binary mask made from a label image
of the cells (:func:`labels_to_membranes`). Its predicted membrane probability is turned back into
cells by a seeded watershed (:func:`membrane_to_cells`): every region far enough from any membrane
seeds one cell, and the cells grow until they meet on the membranes.

Typical use::

    truth = labels_to_membranes(cell_labels)              # training target, (Z, Y, X) bool
    probability = predict(model, image)[1]                # the network's membrane probability
    cells = membrane_to_cells(probability, threshold=0.5)  # (Z, Y, X) int32 cell labels
    matches = metrics.match_objects(cells, cell_labels)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._checks import check_image, check_labels, check_number, check_probability

__all__ = ["labels_to_membranes", "membrane_to_cells"]


def labels_to_membranes(labels, *, thickness: int = 1, include_background_border: bool = True) -> np.ndarray:
    """The membrane voxels of a cell label image: where one cell touches another (or the medium).

    The rule, exactly:

    1. A voxel of a cell (label > 0) is a *border voxel* when at least one of its 6 face neighbours
       holds a different label. A background neighbour (label 0) counts only when
       ``include_background_border`` is True. Background voxels are never membrane, and the edge of
       the field is not a border (a cell cut by the field's edge gets no membrane there).
       So a contact between two cells is 2 voxels wide (one voxel of each cell) and a cell's
       surface towards the medium 1 voxel wide (inside the cell).
    2. With ``thickness`` t > 1, every voxel of a cell whose centre lies within t - 1 voxels
       (Euclidean distance in voxel units, whatever the voxel size) of a border voxel is membrane
       too: a contact between two cells becomes 2 t voxels wide, a surface towards the medium t.

    Parameters
    ----------
    labels : array_like of int, shape (Z, Y, X)
        Cell labels (1, 2, ...), 0 for the background (medium); a bool mask is one cell.
    thickness : int
        Width of the membrane on each side of a contact, in voxels (>= 1).
    include_background_border : bool
        Whether a cell's surface towards the background (label 0) is membrane (a colony's free
        surface is stained too); False keeps only cell-cell contacts.

    Returns
    -------
    numpy.ndarray of bool, shape (Z, Y, X)
        True on membrane voxels. The input is not modified.

    Raises
    ------
    ValueError
        For an array that is not 3D, a float array, negative labels, or a thickness that is not a
        whole number >= 1.

    Examples
    --------
    >>> labels = np.zeros((1, 1, 6), int); labels[0, 0, :3] = 1; labels[0, 0, 3:5] = 2
    >>> labels_to_membranes(labels).astype(int).tolist()
    [[[0, 0, 1, 1, 1, 0]]]
    >>> labels_to_membranes(labels, include_background_border=False).astype(int).tolist()
    [[[0, 0, 1, 1, 0, 0]]]
    >>> labels_to_membranes(labels, thickness=2).astype(int).tolist()
    [[[0, 1, 1, 1, 1, 0]]]
    """
    work = check_labels(labels)
    thickness = check_number(thickness, "thickness", minimum=1, integer=True,
                             hint="1 gives one voxel on each side of a contact between two cells.")
    if not isinstance(include_background_border, (bool, np.bool_)):
        raise ValueError(f"`include_background_border` must be True or False, got {include_background_border!r}.")
    inside = work > 0
    border = np.zeros(work.shape, dtype=bool)
    for axis in range(3):
        before = [slice(None)] * 3
        after = [slice(None)] * 3
        before[axis], after[axis] = slice(None, -1), slice(1, None)
        before, after = tuple(before), tuple(after)
        differ = work[before] != work[after]
        if not include_background_border:
            differ &= inside[before] & inside[after]
        border[before] |= differ & inside[before]
        border[after] |= differ & inside[after]
    if thickness > 1 and border.any():
        near = ndimage.distance_transform_edt(~border) <= thickness - 1
        border = near & inside
    return border


def membrane_to_cells(membrane, *, threshold: float = 0.5, seed_distance: float = 3.0,
                      min_seed_size: int = 20) -> np.ndarray:
    """Cells from a membrane probability (or mask) by a seeded watershed.

    1. Membrane = ``membrane > threshold`` (a mask is used as it is); the rest is cell interior.
    2. Seeds: the connected regions (face connectivity) of interior voxels farther than
       ``seed_distance`` voxels from every membrane voxel (Euclidean, in voxel units), each of at
       least ``min_seed_size`` voxels. The distance splits cells that touch through a small gap in
       the predicted membrane: the gap's neck is too close to the membrane to seed.
    3. Every voxel is flooded from the seeds in order of increasing membrane probability (the mask
       as 0/1 for a mask), so neighbouring cells meet on the membrane's ridge
       (:func:`helpers.watershed.seeded_watershed`, no watershed lines).

    Parameters
    ----------
    membrane : array_like, shape (Z, Y, X)
        Membrane probability in [0, 1] (e.g. ``helpers.inference.predict(model, image)[1]``), or a
        bool / 0-1 integer membrane mask.
    threshold : float
        Probability above which a voxel is membrane, in (0, 1); ignored for a mask.
    seed_distance : float
        Distance (voxels) from the nearest membrane a voxel needs to seed a cell, >= 0. Larger
        values split cells joined by wider gaps but may lose small or thin cells.
    min_seed_size : int
        Seeds of fewer voxels are dropped (noise between membranes), >= 1.

    Returns
    -------
    numpy.ndarray of int32, shape (Z, Y, X)
        Cell labels 1..n (numbered in raster order of their seeds), 0 only where no seed reaches
        (no seed at all: all zeros).

    Raises
    ------
    ValueError
        For an array that is not 3D, probabilities outside [0, 1], or parameters out of range.

    See Also
    --------
    labels_to_membranes : the opposite direction, for the ground truth.
    helpers.metrics.match_objects : score the cells against true cell labels.
    """
    from .watershed import seeded_watershed

    array = np.asarray(membrane)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        if array.ndim == 3 and array.size and (array.min() < 0 or array.max() > 1):
            raise ValueError("An integer `membrane` must be a 0/1 mask; pass a probability in [0, 1] as floats.")
        landscape = check_image(array.astype(np.float32), name="membrane")
        is_membrane = landscape > 0.5
    else:
        landscape = check_probability(array, name="membrane", ndims=(3,))
        threshold = check_number(threshold, "threshold", minimum=0, maximum=1, min_inclusive=False,
                                 max_inclusive=False, hint="0.5, or the best threshold of a sweep.")
        is_membrane = landscape > threshold
    seed_distance = check_number(seed_distance, "seed_distance", minimum=0,
                                 hint="About a third of the smallest cell's radius, in voxels.")
    min_seed_size = check_number(min_seed_size, "min_seed_size", minimum=1, integer=True)
    if is_membrane.any():
        distance = ndimage.distance_transform_edt(~is_membrane)
    else:
        distance = np.full(is_membrane.shape, np.inf)
    seeds, count = ndimage.label(distance > seed_distance)
    if count == 0:
        return np.zeros(landscape.shape, dtype=np.int32)
    sizes = np.bincount(seeds.ravel(), minlength=count + 1)
    keep = sizes >= min_seed_size
    keep[0] = False
    renumber = np.zeros(count + 1, dtype=np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    seeds = renumber[seeds]
    if not keep.any():
        return np.zeros(landscape.shape, dtype=np.int32)
    return seeded_watershed(landscape, seeds, watershed_line=False).astype(np.int32, copy=False)
