"""Regions drawn in 2D and used in 3D: polygons on a maximum projection, extended through z.

A person curating a 3D result marks a region on the maximum projection of the image: a polygon of
(y, x) vertices in pixels. The region in 3D is the polygon's footprint through every slice (or a range
of slices). Regions are stored in a small JSON file (a *regions file*) that a person can read and edit;
a mask drawn elsewhere (Fiji: *Edit > Selection > Create Mask*, saved as TIFF; napari: a Labels layer
saved as TIFF or ``.npy``) is read the same way, so the curation works with either.

Regions file::

    {"format": "segmenter-regions", "version": 1, "shape": [Z, Y, X],
     "polygons": [{"vertices": [[y, x], [y, x], ...], "z": null}, ...]}

``"z": [first, stop]`` limits a polygon to slices first .. stop - 1; ``null`` means every slice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skimage.draw import polygon2mask

from .._atomic import atomic_path, check_target
from .._checks import check_shape

__all__ = ["Polygon", "check_polygon", "polygon_mask", "regions_mask", "save_regions", "load_regions",
           "read_region_mask", "REGIONS_FORMAT"]

REGIONS_FORMAT = "segmenter-regions"


class Polygon:
    """A polygon on the (Y, X) plane, in pixels, optionally limited to a range of slices.

    Parameters
    ----------
    vertices : (N, 2) array-like of (y, x)
        At least three vertices, in pixel coordinates of the maximum projection (row, column). The
        polygon closes itself (the last vertex joins the first).
    z : (first, stop) ints, optional
        The slices the region covers (``first`` to ``stop - 1``); every slice when None.
    """

    def __init__(self, vertices, z=None):
        self.vertices = check_polygon(vertices)
        if z is not None:
            first, stop = (int(v) for v in z)
            if first < 0 or stop <= first:
                raise ValueError(f"`z` must be (first, stop) with 0 <= first < stop; got {tuple(z)}.")
            z = (first, stop)
        self.z = z

    def to_dict(self) -> dict:
        return {"vertices": [[round(float(y), 3), round(float(x), 3)] for y, x in self.vertices],
                "z": list(self.z) if self.z is not None else None}

    @classmethod
    def from_dict(cls, entry) -> "Polygon":
        if isinstance(entry, dict):
            return cls(entry.get("vertices"), entry.get("z"))
        return cls(entry)

    def __repr__(self) -> str:
        where = "every slice" if self.z is None else f"slices {self.z[0]}..{self.z[1] - 1}"
        return f"Polygon({len(self.vertices)} vertices, {where})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, Polygon) and self.z == other.z
                and np.array_equal(self.vertices, other.vertices))


def check_polygon(vertices) -> np.ndarray:
    """(N, 2) float array of (y, x) vertices, N >= 3, finite; a ValueError that says what is wrong."""
    if isinstance(vertices, Polygon):
        return vertices.vertices
    try:
        array = np.asarray(vertices, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"A polygon must be a list of (y, x) pixel positions; got {vertices!r} ({error}).") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"A polygon must be a list of (y, x) pixel positions (shape (N, 2)); got shape {array.shape}.")
    if len(array) < 3:
        raise ValueError(f"A polygon needs at least 3 vertices to enclose a region; got {len(array)}.")
    if not np.isfinite(array).all():
        raise ValueError("A polygon's vertices must be finite numbers (no NaN or infinity).")
    return array.copy()


def _as_polygon(value) -> Polygon:
    return value if isinstance(value, Polygon) else Polygon.from_dict(value)


def polygon_mask(vertices, shape) -> np.ndarray:
    """The pixels of the (Y, X) plane inside a polygon (its edges included).

    Parameters
    ----------
    vertices : (N, 2) array-like of (y, x)
        The polygon, in pixels. Vertices may lie outside the plane; the region is clipped to it.
    shape : (Y, X) ints
        The plane's size.

    Returns
    -------
    (Y, X) bool
    """
    shape = check_shape(shape, "shape", ndim=2, axes="(Y, X)")
    return polygon2mask(shape, check_polygon(vertices))


def regions_mask(polygons, shape) -> np.ndarray:
    """The union of polygons drawn on the maximum projection, extended through z.

    Parameters
    ----------
    polygons : sequence of Polygon or (N, 2) vertex arrays
        Each covers every slice unless it has a ``z`` range.
    shape : (Z, Y, X) ints
        The image's size.

    Returns
    -------
    (Z, Y, X) bool
        True inside any region. No polygons give an all-False mask.
    """
    shape = check_shape(shape, "shape", axes="(Z, Y, X)")
    mask = np.zeros(shape, dtype=bool)
    for polygon in polygons:
        polygon = _as_polygon(polygon)
        footprint = polygon_mask(polygon.vertices, shape[1:])
        first, stop = polygon.z if polygon.z is not None else (0, shape[0])
        mask[first:min(stop, shape[0])] |= footprint
    return mask


def save_regions(path, polygons, shape, *, overwrite: bool = False) -> Path:
    """Write polygons to a regions file (JSON, atomically). Nothing is replaced unless ``overwrite``."""
    path = Path(path)
    shape = check_shape(shape, "shape", axes="(Z, Y, X)")
    polygons = [_as_polygon(p) for p in polygons]
    check_target(path, overwrite=overwrite)
    lines = ",\n".join("    " + json.dumps(p.to_dict()) for p in polygons)  # one polygon per line
    text = (f'{{"format": "{REGIONS_FORMAT}", "version": 1, "shape": {json.dumps(list(shape))},\n'
            f' "polygons": [\n{lines}\n ]}}\n' if polygons else
            f'{{"format": "{REGIONS_FORMAT}", "version": 1, "shape": {json.dumps(list(shape))}, "polygons": []}}\n')
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
    return path


def load_regions(path) -> tuple[list[Polygon], tuple[int, int, int]]:
    """Read a regions file: its polygons and the (Z, Y, X) shape they were drawn for."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No regions file at {path}. Check the path, or draw the regions again.")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable regions file ({error}). It may be damaged; draw the "
                         "regions again or fix the JSON by hand.") from None
    if not isinstance(content, dict) or content.get("format") != REGIONS_FORMAT:
        raise ValueError(f"{path} is not a regions file (expected a JSON object with \"format\": "
                         f"\"{REGIONS_FORMAT}\").")
    try:
        shape = check_shape(content["shape"], "shape", axes="(Z, Y, X)")
        polygons = [Polygon.from_dict(entry) for entry in content["polygons"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is a damaged regions file: {error}") from None
    return polygons, shape


def read_region_mask(path, shape) -> np.ndarray:
    """A region mask for an image of ``shape``, from a regions file or a mask drawn in another program.

    Parameters
    ----------
    path : str or os.PathLike
        A regions file (``.json``), a TIFF mask (``.tif``, ``.tiff``, ``.ome.tif``: from Fiji, napari or
        this package) or a NumPy ``.npy`` file. Non-zero pixels are inside. A 2D mask (Y, X), drawn on
        the maximum projection, is extended through every slice; a 3D mask must have the image's shape.
    shape : (Z, Y, X) ints
        The image's size.

    Returns
    -------
    (Z, Y, X) bool
    """
    from ..io import read_image

    path = Path(path)
    shape = check_shape(shape, "shape", axes="(Z, Y, X)")
    if not path.exists():
        raise FileNotFoundError(f"No mask file at {path}. Check the path (relative paths start at {Path.cwd()}).")
    name = path.name.lower()
    if name.endswith(".json"):
        polygons, drawn_for = load_regions(path)
        if drawn_for[1:] != shape[1:]:
            raise ValueError(f"The regions in {path} were drawn on a {drawn_for[1]} x {drawn_for[2]} image, but "
                             f"this image is {shape[1]} x {shape[2]} (Y x X): they belong to another image.")
        return regions_mask(polygons, shape)
    if name.endswith(".npy"):
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"Could not read {path} as a NumPy array ({error}).") from None
    elif name.endswith((".tif", ".tiff")):
        data = read_image(path, promote_2d=True).data
        if data.shape[0] == 1 and shape[0] != 1:
            data = data[0]
    else:
        raise ValueError(f"{path} is not a mask file this package reads: use a regions file (.json), a TIFF "
                         "(.tif, .tiff; in Fiji: Edit > Selection > Create Mask, then File > Save As > Tiff) "
                         "or a NumPy file (.npy).")
    data = np.asarray(data)
    if data.ndim == 2 and data.shape == shape[1:]:
        return np.broadcast_to(data != 0, shape).copy()
    if data.shape == shape:
        return data != 0
    raise ValueError(f"The mask in {path} has shape {data.shape}, but the image is {shape} (Z, Y, X): draw it "
                     f"on the image itself, as a 2D mask of {shape[1]} x {shape[2]} or a 3D mask of the same size.")
