"""A table of object properties, filters on it, classification by a user mask, plots and CSV export.

After a segmentation, every analysis starts from a table with one row per object: its size and shape in
physical units, where it is, and how bright it is. :func:`measure_objects` makes that table (a pandas
DataFrame); :func:`filter_objects` keeps the rows inside ranges of any columns (the region-property
filters of OpSeF), :func:`keep_labels` turns the kept rows back into a label image,
:func:`classify_by_mask` says which objects lie inside a region you drew (or inside a nucleus mask),
:func:`scatter_plot` shows two properties against each other and :func:`export_csv` saves the table
with a sidecar JSON that records the units, the voxel size and where the data came from.

Units are part of the column names: ``volume_um3``, ``surface_um2``, ``centroid_z_um`` ... With no voxel
size the lengths are in voxels and the names say so (``volume_vx3``, ``surface_vx2``, ``centroid_z_vx``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from .. import _render
from .._atomic import atomic_path, check_target
from .._checks import check_image, check_labels, check_mask, check_number, check_voxel_size

__all__ = [
    "label_objects",
    "measure_objects",
    "filter_objects",
    "keep_labels",
    "classify_by_mask",
    "scatter_plot",
    "export_csv",
    "feature_columns",
]

_CONNECTIVITY = {6: 1, 18: 2, 26: 3}
_INTENSITY_COLUMNS = ("mean_intensity", "max_intensity", "min_intensity", "std_intensity", "integrated_intensity")


def _columns(unit: str, with_intensity: bool) -> dict[str, str]:
    """Column name -> description (with its unit), in table order."""
    length = "um" if unit == "um" else "voxels"
    columns = {
        "label": "object label in the label image (0 is background)",
        "voxel_count": "number of voxels in the object",
        f"volume_{unit}3": f"voxel count times the volume of one voxel ({length}^3)",
        f"surface_{unit}2": (f"area of the marching-cubes mesh around the object ({length}^2); follows the voxel "
                             "staircase, so it overestimates a smooth surface by about 5-15 %"),
        "sphericity": ("pi^(1/3) (6 V)^(2/3) / A of the mesh (its own volume V and area A): 1 for a perfect ball, "
                       "about 0.85-0.93 for a voxelized ball, lower for elongated or irregular objects"),
        f"equivalent_diameter_{unit}": f"diameter of the ball with the object's volume ({length})",
        f"major_axis_{unit}": f"length of the longest axis of the ellipsoid with the same second moments ({length})",
        f"minor_axis_{unit}": f"length of the shortest axis of that ellipsoid ({length})",
        "extent": "voxel count divided by the voxel count of the bounding box (1 for a box)",
    }
    for axis in "zyx":
        columns[f"centroid_{axis}_{unit}"] = (f"centre of mass along {axis} ({length}; 0 is the centre of the "
                                              "first voxel)")
    for axis in "zyx":
        columns[f"bbox_{axis}_start"] = f"first voxel index of the bounding box along {axis}"
        columns[f"bbox_{axis}_stop"] = f"last voxel index + 1 of the bounding box along {axis}"
    if with_intensity:
        columns.update({
            "mean_intensity": "mean intensity of the object's voxels (the image's units)",
            "max_intensity": "brightest voxel",
            "min_intensity": "dimmest voxel",
            "std_intensity": "standard deviation of the voxel intensities",
            "integrated_intensity": "sum of the voxel intensities",
        })
    columns["touches_border"] = "True when the object has a voxel on any face of the image (it may be cut)"
    return columns


def _check_connectivity(connectivity) -> int:
    if connectivity not in _CONNECTIVITY:
        raise ValueError(f"`connectivity` = {connectivity!r} is not a 3D neighbourhood; use 6 (faces), 18 (faces "
                         "and edges) or 26 (faces, edges and corners; the usual choice).")
    return _CONNECTIVITY[connectivity]


def _as_labels(labels, connectivity: int, name: str = "labels") -> np.ndarray:
    """A label image; a mask (bool, or integers with one non-zero value such as 0/255) is labelled first."""
    rank = _check_connectivity(connectivity)
    array = np.asarray(labels)
    if array.dtype != bool:
        array = check_labels(array, name=name)
        foreground = array[array > 0]
        if foreground.size and (foreground != foreground[0]).any():  # more than one label: a label image
            return array
    return ndi.label(check_mask(array, name=name), structure=ndi.generate_binary_structure(3, rank))[0]


def label_objects(mask, *, connectivity: int = 26) -> np.ndarray:
    """Split a binary mask into objects: connected components numbered 1..n.

    This is how :func:`measure_objects`, :func:`keep_labels` and :func:`classify_by_mask` label a mask
    they are given, so the numbers here are the ``label`` column of their tables.

    Parameters
    ----------
    mask : array_like of bool or int, shape (Z, Y, X)
        Foreground True (or > 0), e.g. ``result.mask`` of :func:`helpers.workflow.run`.
    connectivity : {6, 18, 26}
        Which neighbours join voxels: 6 (faces), 18 (faces and edges) or 26 (faces, edges and corners).

    Returns
    -------
    numpy.ndarray of int32, shape (Z, Y, X)
        0 for background, objects numbered in scan order (z, then y, then x).
    """
    rank = _check_connectivity(connectivity)
    region = check_mask(mask, name="mask")
    return ndi.label(region, structure=ndi.generate_binary_structure(3, rank))[0]


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The columns that describe an object (size, shape, intensity), for PCA, t-SNE or classifiers.

    Everything numeric except the label, the position (centroid, bounding box, ``fraction_inside`` a
    region) and yes/no flags.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"`table` must be a pandas DataFrame from `measure_objects`, got {type(table).__name__}.")
    skip = ("label", "bbox_", "centroid_", "fraction_inside")
    return [c for c in table.columns
            if not c.startswith(skip) and pd.api.types.is_numeric_dtype(table[c]) and not
            pd.api.types.is_bool_dtype(table[c])]


def _mesh_area_and_volume(crop: np.ndarray, spacing) -> tuple[float, float]:
    """Marching-cubes mesh (level 0.5) of a binary crop padded by one voxel: area and enclosed volume."""
    from skimage.measure import marching_cubes, mesh_surface_area

    padded = np.pad(crop, 1).astype(np.float32)
    vertices, faces, _, _ = marching_cubes(padded, 0.5, spacing=spacing)
    area = float(mesh_surface_area(vertices, faces))
    corners = vertices[faces]
    volume = abs(float(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum())) / 6
    return area, volume


def measure_objects(labels, intensity=None, *, voxel_size=None, connectivity: int = 26) -> pd.DataFrame:
    """One row per object: size, shape, position and intensities, in physical units.

    Parameters
    ----------
    labels : array_like of int or bool, shape (Z, Y, X)
        A label image (0 = background, every other value is one object), or a binary mask (bool, or
        integers with a single non-zero value such as a 0/255 mask file), which is split into connected
        objects first with ``connectivity``.
    intensity : array_like, shape (Z, Y, X), optional
        The image to measure intensities in (raw counts are best: means and sums keep their meaning).
    voxel_size : sequence of 3 float, optional
        (z, y, x) voxel size in micrometres, e.g. ``image.voxel_size`` from :func:`helpers.io.read_image`.
        Without it every length is in voxels, the columns say so (``volume_vx3`` instead of
        ``volume_um3``) and a warning is given.
    connectivity : {6, 18, 26}
        Which neighbours join voxels into one object when a mask is labelled (26: faces, edges and
        corners, as in the FIB-SEM paper's connected components).

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``voxel_count``, ``volume_um3``, ``surface_um2``, ``sphericity``,
        ``equivalent_diameter_um``, ``major_axis_um``, ``minor_axis_um``, ``extent``,
        ``centroid_{z,y,x}_um``, ``bbox_{z,y,x}_start`` / ``_stop`` (voxel indices), with an intensity
        image ``mean_intensity``, ``max_intensity``, ``min_intensity``, ``std_intensity``,
        ``integrated_intensity``, and ``touches_border``. Rows are sorted by label. ``table.attrs`` holds
        ``voxel_size``, ``unit`` ("um" or "vx") and ``columns`` (a description of every column with its
        unit), which :func:`export_csv` writes beside the CSV. An image without objects gives an empty
        table with the same columns.

    Notes
    -----
    The surface is the area of a marching-cubes mesh (scikit-image, level 0.5) of each object's binary
    mask, padded by one empty voxel so that objects cut by the image border get a closed surface (the cut
    face counts as surface), with the voxel size as spacing. A mesh on a binary mask follows the voxel
    staircase: it overestimates the area of a smooth surface by about 5-15 % (more for small objects),
    and the sphericity of a voxelized ball is about 0.85-0.93, not 1. Sphericity uses the mesh's own
    volume with its area, so it never exceeds 1; the voxel-count volume with the mesh area would, for
    objects of a few voxels. Objects a voxel or two thick (common along z) are measured coarsely: compare
    shapes between objects of similar size.

    Examples
    --------
    >>> labels = np.zeros((10, 20, 20), np.uint16); labels[2:8, 5:15, 5:15] = 1
    >>> table = measure_objects(labels, voxel_size=(0.5, 0.25, 0.25))
    >>> float(table.loc[0, "volume_um3"])  # 6 x 10 x 10 voxels of 0.03125 um^3
    18.75
    """
    from skimage.measure import regionprops_table

    label_image = _as_labels(labels, connectivity)
    sizes = check_voxel_size(voxel_size)
    if sizes is None:
        warnings.warn("No voxel size given: lengths, surfaces and volumes are in voxels (columns ending in _vx, "
                      "_vx2, _vx3). Pass `voxel_size=image.voxel_size` for micrometres.", UserWarning, stacklevel=2)
        unit, spacing = "vx", (1.0, 1.0, 1.0)
    else:
        unit, spacing = "um", sizes
    image = None
    if intensity is not None:
        image = check_image(intensity, name="intensity", dtype=np.float64)
        if image.shape != label_image.shape:
            raise ValueError(f"`intensity` has shape {image.shape} but `labels` has shape {label_image.shape}; "
                             "they must match voxel for voxel (measure in the image that was segmented).")
    columns = _columns(unit, image is not None)

    properties = ["label", "num_pixels", "area", "centroid", "bbox", "axis_major_length", "axis_minor_length",
                  "extent"]
    if image is not None:
        properties += ["intensity_mean", "intensity_max", "intensity_min", "intensity_std"]
    if label_image.max() == 0:
        table = pd.DataFrame({c: pd.Series(dtype=bool if c == "touches_border" else
                                           np.int64 if c == "label" or c.startswith(("bbox_", "voxel_")) else
                                           np.float64) for c in columns})
        table.attrs.update(voxel_size=sizes, unit=unit, columns=columns)
        return table
    props = regionprops_table(label_image, intensity_image=image, properties=properties, spacing=spacing)

    data = {
        "label": props["label"].astype(np.int64),
        "voxel_count": props["num_pixels"].astype(np.int64),
        f"volume_{unit}3": props["area"].astype(np.float64),  # the voxel count times the voxel volume
    }
    areas, mesh_volumes = [], []
    slices = ndi.find_objects(label_image)
    for value in data["label"]:
        crop = label_image[slices[value - 1]] == value
        area, volume = _mesh_area_and_volume(crop, spacing)
        areas.append(area)
        mesh_volumes.append(volume)
    areas, mesh_volumes = np.asarray(areas), np.asarray(mesh_volumes)
    data[f"surface_{unit}2"] = areas
    data["sphericity"] = np.minimum(np.pi ** (1 / 3) * (6 * mesh_volumes) ** (2 / 3) / areas, 1.0)
    data[f"equivalent_diameter_{unit}"] = (6 * data[f"volume_{unit}3"] / np.pi) ** (1 / 3)
    data[f"major_axis_{unit}"] = props["axis_major_length"]
    data[f"minor_axis_{unit}"] = props["axis_minor_length"]
    data["extent"] = props["extent"]
    for index, axis in enumerate("zyx"):
        data[f"centroid_{axis}_{unit}"] = props[f"centroid-{index}"]
    for index, axis in enumerate("zyx"):
        data[f"bbox_{axis}_start"] = props[f"bbox-{index}"].astype(np.int64)
        data[f"bbox_{axis}_stop"] = props[f"bbox-{index + 3}"].astype(np.int64)
    if image is not None:
        data["mean_intensity"] = props["intensity_mean"]
        data["max_intensity"] = props["intensity_max"]
        data["min_intensity"] = props["intensity_min"]
        data["std_intensity"] = props["intensity_std"]
        data["integrated_intensity"] = props["intensity_mean"] * data["voxel_count"]
    shape = label_image.shape
    data["touches_border"] = np.zeros(len(data["label"]), dtype=bool)
    for index, axis in enumerate("zyx"):
        data["touches_border"] |= (data[f"bbox_{axis}_start"] == 0) | (data[f"bbox_{axis}_stop"] == shape[index])
    table = pd.DataFrame(data, columns=list(columns))
    table.attrs.update(voxel_size=sizes, unit=unit, columns=columns)
    return table


def _check_table(table, name: str = "table") -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"`{name}` must be a pandas DataFrame (the output of `measure_objects`), got "
                         f"{type(table).__name__}.")
    return table


def _unknown_column(column, table, what: str = "column") -> ValueError:
    return ValueError(f"{column!r} is not a {what} of the table; choose from: {', '.join(map(str, table.columns))}.")


def filter_objects(table: pd.DataFrame, **ranges) -> pd.DataFrame:
    """The rows whose values lie inside the given ranges (all of them), as a new table.

    Parameters
    ----------
    table : pandas.DataFrame
        An object table, e.g. from :func:`measure_objects`.
    **ranges
        ``column=(low, high)``: keep ``low <= value <= high``; None for an open end, e.g.
        ``volume_um3=(0.1, None), sphericity=(0.6, 1)``. ``column=value`` (a single value, for yes/no
        or text columns): keep rows equal to it, e.g. ``touches_border=False, location="inside"``.

    Returns
    -------
    pandas.DataFrame
        The kept rows in their original order, with the original index and ``attrs``.

    Raises
    ------
    ValueError
        For a column the table does not have (the message lists them), a range on a non-numeric column,
        or a low end above the high end.
    """
    table = _check_table(table)
    keep = np.ones(len(table), dtype=bool)
    for column, condition in ranges.items():
        if column not in table.columns:
            raise _unknown_column(column, table)
        values = table[column]
        if isinstance(condition, (tuple, list)):
            if len(condition) != 2:
                raise ValueError(f"`{column}` must be a (low, high) pair (None for an open end), got {condition!r}.")
            if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                raise ValueError(f"`{column}` is not a numeric column; give one value to keep instead, e.g. "
                                 f"`{column}={values.iloc[0]!r}`." if len(values) else
                                 f"`{column}` is not a numeric column; give one value to keep instead.")
            low, high = condition
            low = -np.inf if low is None else check_number(low, f"{column} low end")
            high = np.inf if high is None else check_number(high, f"{column} high end")
            if low > high:
                raise ValueError(f"The range for `{column}` is empty: low end {low:g} is above high end {high:g}.")
            keep &= ((values >= low) & (values <= high)).to_numpy()
        else:
            keep &= (values == condition).to_numpy()
    result = table.loc[keep].copy()
    result.attrs = dict(table.attrs)
    return result


def keep_labels(labels, table: pd.DataFrame, *, connectivity: int = 26) -> np.ndarray:
    """The label image with only the objects listed in ``table["label"]`` (all others set to 0).

    Parameters
    ----------
    labels : array_like of int or bool, shape (Z, Y, X)
        The label image (or mask) the table was measured from; a mask is labelled exactly as
        :func:`measure_objects` labels it (same ``connectivity``).
    table : pandas.DataFrame
        A table with a ``label`` column, typically the output of :func:`filter_objects`.
    connectivity : {6, 18, 26}
        As in :func:`measure_objects` (used only for a mask).

    Returns
    -------
    numpy.ndarray, shape (Z, Y, X)
        A new label image; the kept objects keep their labels.
    """
    label_image = _as_labels(labels, connectivity)
    table = _check_table(table)
    if "label" not in table.columns:
        raise ValueError("`table` has no 'label' column; pass a table from `measure_objects` (or filtered from it).")
    wanted = np.asarray(table["label"], dtype=np.int64)
    missing = np.setdiff1d(wanted, np.unique(label_image))
    if missing.size:
        raise ValueError(f"The table lists labels that are not in `labels` (e.g. {missing[:5].tolist()}); was it "
                         "measured from this label image?")
    return np.where(np.isin(label_image, wanted), label_image, 0).astype(label_image.dtype, copy=False)


def classify_by_mask(labels, mask, *, min_overlap: float = 0.5, connectivity: int = 26) -> pd.DataFrame:
    """Say for each object whether it lies inside a region (a drawn area, a nucleus mask, a cell).

    Parameters
    ----------
    labels : array_like of int or bool, shape (Z, Y, X)
        Label image (or mask, labelled as in :func:`measure_objects`).
    mask : array_like of bool or int, shape (Z, Y, X)
        The region: True (or > 0) inside. Draw one in code (e.g. a box), paint it in napari (a Labels
        layer, then ``layer.data > 0``) or segment it (e.g. nuclei).
    min_overlap : float
        In [0, 1]: an object whose fraction of voxels inside the region is at least this is "inside".
    connectivity : {6, 18, 26}
        As in :func:`measure_objects` (used only for a mask).

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``fraction_inside`` (0 to 1) and ``location`` ("inside" or "outside"), one
        row per object sorted by label; join it to a table with ``table.merge(result, on="label")``.
    """
    label_image = _as_labels(labels, connectivity)
    region = check_mask(mask, name="mask", like=label_image)
    threshold = check_number(min_overlap, "min_overlap", minimum=0, maximum=1,
                             hint="0.5 calls an object inside when most of it is.")
    values, counts = np.unique(label_image[label_image > 0], return_counts=True)
    inside = ndi.sum_labels(region, label_image, values) if values.size else np.zeros(0)
    fraction = np.asarray(inside, dtype=np.float64) / np.maximum(counts, 1)
    return pd.DataFrame({
        "label": values.astype(np.int64),
        "fraction_inside": fraction,
        "location": np.where(fraction >= threshold, "inside", "outside"),
    })


def _highlight_rows(table: pd.DataFrame, highlight) -> np.ndarray:
    if highlight is None:
        return np.zeros(len(table), dtype=bool)
    if isinstance(highlight, pd.DataFrame):
        highlight = highlight["label"] if "label" in highlight.columns else None
        if highlight is None:
            raise ValueError("`highlight` is a table without a 'label' column; pass a filtered object table.")
        return table["label"].isin(highlight).to_numpy()
    values = np.asarray(highlight)
    if values.dtype == bool:
        if values.shape != (len(table),):
            raise ValueError(f"`highlight` as yes/no values needs one per row ({len(table)}), got {values.shape}.")
        return values
    return table["label"].isin(values.ravel()).to_numpy()


def scatter_plot(table: pd.DataFrame, x: str, y: str, *, color_by: str | None = None, highlight=None,
                 highlight_name: str = "highlighted", log_x: bool = False, log_y: bool = False, title: str = ""):
    """Two object properties against each other, one point per object.

    Parameters
    ----------
    table : pandas.DataFrame
        An object table.
    x, y : str
        Column names for the axes, e.g. ``"volume_um3"`` and ``"sphericity"``.
    color_by : str, optional
        A column to colour the points by: numbers get a colour scale, text or yes/no values a legend.
    highlight : pandas.DataFrame, sequence of int or sequence of bool, optional
        Objects to ring in black: a filtered table (its labels), a list of labels, or one yes/no per row
        (e.g. the objects a filter keeps).
    highlight_name : str
        What the ringed objects are, for the legend (e.g. "kept").
    log_x, log_y : bool
        Logarithmic axes (volumes often span orders of magnitude).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot (nothing to close); it shows itself in a notebook and can be saved
        with ``figure.savefig(path)``.
    """
    table = _check_table(table)
    for name, column in (("x", x), ("y", y)) + ((("color_by", color_by),) if color_by is not None else ()):
        if column not in table.columns:
            raise _unknown_column(column, table, f"column (`{name}`)")
        if name != "color_by" and not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(f"`{name}` = {column!r} is not a numeric column; choose a measured property.")
    ringed = _highlight_rows(table, highlight)
    figure = _render.notebook_figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    xs, ys = table[x].to_numpy(), table[y].to_numpy()
    if color_by is None:
        axes.scatter(xs, ys, s=18, color="tab:blue", alpha=0.75, linewidths=0)
    elif pd.api.types.is_numeric_dtype(table[color_by]) and not pd.api.types.is_bool_dtype(table[color_by]):
        points = axes.scatter(xs, ys, s=18, c=table[color_by].to_numpy(), cmap="viridis", alpha=0.85, linewidths=0)
        figure.colorbar(points, ax=axes, label=color_by)
    else:
        groups = table[color_by].astype(str).to_numpy()
        for index, group in enumerate(sorted(set(groups))):
            chosen = groups == group
            axes.scatter(xs[chosen], ys[chosen], s=18, color=f"C{index}", alpha=0.8, linewidths=0,
                         label=f"{color_by} = {group} ({int(chosen.sum())})")
        axes.legend(fontsize="small")
    if ringed.any():
        axes.scatter(xs[ringed], ys[ringed], s=46, facecolors="none", edgecolors="black", linewidths=0.9,
                     label=f"{highlight_name} ({int(ringed.sum())})")
        axes.legend(fontsize="small")
    if log_x:
        axes.set_xscale("log")
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(title or f"{len(table)} objects", fontsize="medium")
    axes.grid(alpha=0.3)
    return figure


def _known_columns() -> dict[str, str]:
    known = {**_columns("vx", True), **_columns("um", True)}
    known["fraction_inside"] = "fraction of the object's voxels inside the region (from classify_by_mask)"
    known["location"] = "'inside' or 'outside' the region (from classify_by_mask)"
    return known


def export_csv(table: pd.DataFrame, path, *, voxel_size=None, source: str = "", overwrite: bool = False) -> Path:
    """Save the table as CSV, with a sidecar JSON giving units, voxel size and source.

    Parameters
    ----------
    table : pandas.DataFrame
        An object table (from :func:`measure_objects`, filtered or extended).
    path : str or os.PathLike
        The CSV file to write (should end in ``.csv``). The sidecar goes beside it with ``.json``
        instead (``objects.csv`` -> ``objects.json``).
    voxel_size : sequence of 3 float, optional
        (z, y, x) in micrometres, recorded in the sidecar. Default: the one :func:`measure_objects`
        stored in ``table.attrs`` (pandas drops ``attrs`` in ``merge``; then pass it here).
    source : str
        Where the objects come from (image file, preset, notes), recorded in the sidecar.
    overwrite : bool
        Replace existing files; without it an existing CSV or sidecar raises FileExistsError.

    Returns
    -------
    pathlib.Path
        The CSV path. Both files are written atomically (complete or absent).
    """
    table = _check_table(table)
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path} does not end in .csv; name the table file e.g. 'objects.csv'.")
    sizes = check_voxel_size(voxel_size) if voxel_size is not None else table.attrs.get("voxel_size")
    sidecar = path.with_suffix(".json")
    check_target(path, overwrite=overwrite)
    check_target(sidecar, overwrite=overwrite)
    described = {**_known_columns(), **table.attrs.get("columns", {})}
    names = set(map(str, table.columns))
    unit = "micrometre" if any(n.endswith(("_um", "_um2", "_um3")) for n in names) else (
        "voxel" if any(n.endswith(("_vx", "_vx2", "_vx3")) for n in names) else "see column names")
    metadata = {
        "table": path.name,
        "rows": int(len(table)),
        "source": str(source),
        "voxel_size_um": None if sizes is None else [float(v) for v in sizes],
        "length_unit": unit,
        "columns": {str(c): described.get(c, "") for c in table.columns},
        "made_by": "helpers.analysis.measurements.export_csv",
    }
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    with atomic_path(sidecar) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(metadata, stream, indent=2)
            stream.write("\n")
    return path
