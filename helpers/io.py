"""Reading and writing 3D images: TIFF, ImageJ hyperstacks and OME-TIFF, with the voxel size.

Every image leaves this module as a (Z, Y, X) array plus its voxel size in micrometres. Files with
channels or time points need an explicit choice (``channel=``, ``time=``); a 2D file needs an explicit
``promote_2d=True``. Writes are atomic (a temporary file renamed into place), so an interrupted
write never leaves a truncated file, and an existing file is never overwritten unless asked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from ._atomic import atomic_path, check_target
from ._checks import check_voxel_size

__all__ = ["Image", "ImageFile", "open_image", "read_image", "write_image", "write_mask", "next_free_path"]

_UNIT_TO_MICROMETRE = {
    "m": 1e6, "mm": 1e3, "cm": 1e4, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0,
    "micrometer": 1.0, "micrometre": 1.0, "\\u00B5m": 1.0, "nm": 1e-3, "pm": 1e-6, "å": 1e-4,
    "angstrom": 1e-4, "inch": 25400.0, "in": 25400.0,
}


@dataclass(frozen=True)
class Image:
    """A 3D image as read from a file.

    Attributes
    ----------
    data : numpy.ndarray, shape (Z, Y, X)
        The pixel data in the file's own dtype.
    voxel_size : tuple of float or None
        (z, y, x) voxel size in micrometres, or None when the file does not record it.
    source : str
        Where the data came from (a file path) and which channel/time point was selected.
    """

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)


def _unit_factor(unit: str | None, default: float = 1.0) -> float:
    if not unit:
        return default
    key = str(unit).strip().lower()
    return _UNIT_TO_MICROMETRE.get(key, _UNIT_TO_MICROMETRE.get(str(unit).strip(), default))


def _ome_voxel_size(ome_xml: str) -> tuple[float | None, float | None, float | None]:
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return (None, None, None)
    for element in root.iter():
        if element.tag.endswith("Pixels"):
            sizes = []
            for axis in "ZYX":
                value = element.get(f"PhysicalSize{axis}")
                unit = element.get(f"PhysicalSize{axis}Unit", "µm")
                sizes.append(float(value) * _unit_factor(unit) if value is not None else None)
            return tuple(sizes)
    return (None, None, None)


def _resolution_to_size(tag_value, unit_factor: float) -> float | None:
    try:
        numerator, denominator = tag_value
    except (TypeError, ValueError):
        return None
    if not numerator:
        return None
    return float(denominator) / float(numerator) * unit_factor


def _imagej_voxel_size(tiff: tifffile.TiffFile) -> tuple[float | None, float | None, float | None]:
    page = tiff.pages.first if hasattr(tiff.pages, "first") else tiff.pages[0]
    metadata = tiff.imagej_metadata or {}
    unit = metadata.get("unit")
    factor = _unit_factor(unit, default=1.0)
    x_tag = page.tags.get("XResolution")
    y_tag = page.tags.get("YResolution")
    x = _resolution_to_size(x_tag.value, factor) if x_tag is not None else None
    y = _resolution_to_size(y_tag.value, factor) if y_tag is not None else None
    z = metadata.get("spacing")
    z = float(z) * factor if z is not None else None
    if not tiff.is_imagej:
        # Plain TIFF: resolution unit 2 = inch, 3 = centimetre; 1 = none (no physical size).
        unit_tag = page.tags.get("ResolutionUnit")
        code = int(unit_tag.value) if unit_tag is not None else 2
        plain = {2: 25400.0, 3: 10000.0}.get(code)
        if plain is None:
            return (None, None, None)
        x = _resolution_to_size(x_tag.value, plain) if x_tag is not None else None
        y = _resolution_to_size(y_tag.value, plain) if y_tag is not None else None
        # 72 dpi and 1 pixel per unit are writers' defaults, not measurements.
        if x is not None and (abs(x - 25400.0 / 72.0) < 1e-6 or x in (25400.0, 10000.0)):
            x = y = None
    return (z, y, x)


def _select_axis(data: np.ndarray, axes: str, letter: str, index, what: str, argument: str, path) -> tuple[np.ndarray, str]:
    position = axes.index(letter)
    size = data.shape[position]
    if index is None:
        if size == 1:
            return np.take(data, 0, axis=position), axes.replace(letter, "")
        raise ValueError(
            f"{path} has {size} {what}s (axes {axes}, shape {data.shape}); choose one with "
            f"`{argument}=` (0 to {size - 1}), e.g. `read_image(path, {argument}=0)`."
        )
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -size <= index < size:
        raise ValueError(
            f"`{argument}={index!r}` is out of range: {path} has {size} {what}s (0 to {size - 1})."
        )
    return np.take(data, int(index), axis=position), axes.replace(letter, "")


def read_image(path, *, channel: int | None = None, time: int | None = None, promote_2d: bool = False) -> Image:
    """Read a TIFF / OME-TIFF / ImageJ TIFF file as a (Z, Y, X) image with its voxel size.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    channel : int, optional
        Channel to select in a multichannel file. Required when the file has more than one.
    time : int, optional
        Time point to select in a time series. Required when the file has more than one.
    promote_2d : bool
        Read a single 2D image as a one-slice stack of shape (1, Y, X). Without it a 2D file raises.

    Returns
    -------
    Image
        ``data`` of shape (Z, Y, X) in the file's dtype and ``voxel_size`` (z, y, x) in micrometres
        (None when the file does not record it; a missing z spacing alone gives None too).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is not a readable TIFF, has several channels or time points and none was
        chosen, or is 2D without ``promote_2d=True``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass one image file (the command line takes folders).")
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            data = series.asarray()
            axes = series.axes.upper()
            if tiff.is_ome and tiff.ome_metadata:
                sizes = _ome_voxel_size(tiff.ome_metadata)
            else:
                sizes = _imagej_voxel_size(tiff)
    except (tifffile.TiffFileError, ValueError, OSError, KeyError, IndexError) as error:
        raise ValueError(
            f"Could not read {path} as a TIFF image ({type(error).__name__}: {error}). The file may be "
            "corrupt, truncated or not a TIFF; open it in Fiji to check, or export it again as TIFF."
        ) from error

    axes = axes.replace("I", "Z") if "Z" not in axes else axes
    axes = axes.replace("Q", "Z") if "Z" not in axes else axes
    if "S" in axes and "C" not in axes:
        axes = axes.replace("S", "C")
    if len(axes) != data.ndim:  # unexpected metadata: fall back to trailing (Z, )Y, X
        axes = "ZYX"[-data.ndim:] if data.ndim <= 3 else "TCZYX"[-data.ndim:]
    for letter, index, what, argument in (("T", time, "time point", "time"), ("C", channel, "channel", "channel")):
        if letter in axes:
            data, axes = _select_axis(data, axes, letter, index, what, argument, path)
        elif index not in (None, 0):
            raise ValueError(f"`{argument}={index}` was given but {path} has no {what}s.")
    # Any other leftover singleton axes (e.g. ImageJ's extra dimensions) are dropped.
    while len(axes) > 3 and any(data.shape[i] == 1 and axes[i] not in "ZYX" for i in range(len(axes))):
        i = next(i for i in range(len(axes)) if data.shape[i] == 1 and axes[i] not in "ZYX")
        data, axes = np.take(data, 0, axis=i), axes[:i] + axes[i + 1:]
    if data.ndim == 2:
        if not promote_2d:
            raise ValueError(
                f"{path} is a 2D image of shape {data.shape}, but the workflows need a 3D (Z, Y, X) "
                "stack. Read it with `read_image(path, promote_2d=True)` to treat it as one slice."
            )
        data = data[np.newaxis]
        axes = "ZYX"
    if data.ndim != 3:
        raise ValueError(
            f"{path} has axes {axes} and shape {data.shape} after selection; expected (Z, Y, X). "
            "Select a channel and time point, or save the stack from Fiji as a plain Z stack."
        )
    z, y, x = sizes
    voxel_size = (float(z), float(y), float(x)) if None not in (z, y, x) else None
    description = str(path)
    if channel is not None:
        description += f" [channel {channel}]"
    if time is not None:
        description += f" [time {time}]"
    return Image(data=np.ascontiguousarray(data), voxel_size=voxel_size, source=description)


def write_image(path, data, *, voxel_size=None, overwrite: bool = False, compression: str = "zlib") -> Path:
    """Write a (Z, Y, X) array as an OME-TIFF file, atomically, keeping the voxel size.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; ``.ome.tif`` is recommended.
    data : numpy.ndarray, shape (Z, Y, X)
        Image to write (bool is written as uint8 0/255).
    voxel_size : tuple of 3 floats, optional
        (z, y, x) voxel size in micrometres.
    overwrite : bool
        Replace an existing file. Off by default so nothing a user has is lost.
    compression : str
        TIFF compression ("zlib" by default; None for none).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    array = np.asarray(data)
    if array.ndim != 3:
        raise ValueError(
            f"Only (Z, Y, X) stacks are written; got a {array.ndim}D array of shape {array.shape}. "
            "Use `data[np.newaxis]` for a single slice."
        )
    if array.dtype == bool:
        array = array.astype(np.uint8) * np.uint8(255)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"Cannot write dtype {array.dtype}; convert to an integer or float type.")
    voxel_size = check_voxel_size(voxel_size)
    check_target(path, overwrite=overwrite)
    metadata = {"axes": "ZYX"}
    if voxel_size is not None:
        z, y, x = voxel_size
        metadata.update(
            PhysicalSizeZ=z, PhysicalSizeY=y, PhysicalSizeX=x,
            PhysicalSizeZUnit="µm", PhysicalSizeYUnit="µm", PhysicalSizeXUnit="µm",
        )
    with atomic_path(path) as temporary:
        tifffile.imwrite(temporary, array, ome=True, metadata=metadata, compression=compression,
                         photometric="minisblack")
    return path


def write_mask(path, mask, *, voxel_size=None, overwrite: bool = False) -> Path:
    """Write a binary mask as uint8 0/255 OME-TIFF (the segmenter's output format).

    Parameters
    ----------
    path : str or os.PathLike
    mask : numpy.ndarray, shape (Z, Y, X)
        Boolean or integer array; voxels > 0 are foreground.
    voxel_size : tuple of 3 floats, optional
        (z, y, x) in micrometres, normally the input image's.
    overwrite : bool
        Replace an existing file.
    """
    array = np.asarray(mask)
    if array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"A mask must be boolean or integer, got dtype {array.dtype}; threshold it first.")
    return write_image(path, (array > 0).astype(np.uint8) * np.uint8(255), voxel_size=voxel_size,
                       overwrite=overwrite)


def next_free_path(path) -> Path:
    """``path`` if nothing is there, else the first free ``name-2.ext``, ``name-3.ext``, ... (files or folders).

    Notebooks save under such names so that running them again never replaces an earlier result.
    """
    path = Path(path)
    if not path.exists():
        return path
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)]
    number = 2
    while (candidate := path.with_name(f"{stem}-{number}{suffix}")).exists():
        number += 1
    return candidate

from .image_files import ImageFile, open_image  # noqa: E402  (helpers.io.open_image: every format)
