"""Open microscope image files of every common format and choose (Z, Y, X) stacks from them.

``open_image(path)`` reads only the metadata of a file: its format, scenes, dimensions (T, C, Z, Y, X),
channel names, time points, voxel size and dtype. The pixels of one stack are read with
``ImageFile.read(channel=, scene=, time=)`` (a NumPy array, as :func:`helpers.io.read_image` gives) or
left on disk with ``ImageFile.lazy(...)`` (a Dask array, read chunk by chunk when computed).

Formats and the readers used for them:

=============  ===========================  =========================================================
format         file name                    reader
=============  ===========================  =========================================================
TIFF           ``.tif``, ``.tiff``          tifffile (built in, always available)
ImageJ TIFF    ``.tif``, ``.tiff``          tifffile (built in); hyperstacks with T, Z, C
OME-TIFF       ``.ome.tif``, ``.ome.tiff``  bioio-ome-tiff when installed, else tifffile (built in)
OME-Zarr       ``.ome.zarr``, ``.zarr``     bioio-ome-zarr (a folder, not a file)
CZI (Zeiss)    ``.czi``                     bioio-czi
ND2 (Nikon)    ``.nd2``                     bioio-nd2
LIF (Leica)    ``.lif``                     bioio-lif
=============  ===========================  =========================================================

The readers beyond tifffile come with ``pip install "helpers[formats]"`` (``pip install ".[formats]"``
in the project folder). A format whose reader is missing raises :class:`MissingReaderError` naming the
package to install.

Every file is seen as scenes (positions, series), each a (T, C, Z, Y, X) block. A choice along an axis
may be left out only when the file has exactly one there; otherwise the error says how many there
are and how to choose, in Python (``channel=1``) and on the command line (``--channel 1``).
"""

from __future__ import annotations

import hashlib
import numbers
import os
import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tifffile

# helpers.io re-exports open_image, so this module imports helpers.io only inside functions.

__all__ = [
    "open_image",
    "ImageFile",
    "SceneInfo",
    "StackIndex",
    "IndexChoice",
    "MissingReaderError",
    "IMAGE_SUFFIXES",
    "image_stem",
    "is_image_path",
    "input_checksum",
]

#: The install command named in every missing-reader message.
INSTALL_HINT = 'pip install "helpers[formats]" (or pip install ".[formats]" in the project folder)'

#: File (or folder) name endings recognised as images, longest first, with their format.
_FORMATS_BY_SUFFIX = (
    (".ome.tiff", "OME-TIFF"), (".ome.tif", "OME-TIFF"), (".ome.zarr", "OME-Zarr"),
    (".tiff", "TIFF"), (".tif", "TIFF"), (".zarr", "OME-Zarr"),
    (".czi", "CZI"), (".nd2", "ND2"), (".lif", "LIF"),
)
IMAGE_SUFFIXES = tuple(suffix for suffix, _ in _FORMATS_BY_SUFFIX)
_FOLDER_FORMATS = ("OME-Zarr",)

#: bioio plugin (module, distribution) per format; OME-TIFF falls back to tifffile without it.
_PLUGINS = {
    "OME-TIFF": ("bioio_ome_tiff", "bioio-ome-tiff"),
    "OME-Zarr": ("bioio_ome_zarr", "bioio-ome-zarr"),
    "CZI": ("bioio_czi", "bioio-czi"),
    "ND2": ("bioio_nd2", "bioio-nd2"),
    "LIF": ("bioio_lif", "bioio-lif"),
}
_BUILT_IN = "tifffile (built in)"
_AXES = "TCZYX"
#: Target size of one chunk of a lazily read TIFF (bytes); chunks are whole planes.
_TIFF_CHUNK_BYTES = 64 * 1024 * 1024


class MissingReaderError(ImportError, ValueError):
    """A file's format needs a reader package that is not installed (the message names it)."""


# ----------------------------------------------------------------------------------------------
# names and checksums
# ----------------------------------------------------------------------------------------------

def _suffix_format(path: Path) -> tuple[str, str] | None:
    lower = path.name.lower()
    for suffix, name in _FORMATS_BY_SUFFIX:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix, name
    return None


def image_stem(path) -> str | None:
    """The name of an image without its format ending (``cell.ome.tif`` -> ``cell``); None if not an image name."""
    path = Path(path)
    found = _suffix_format(path)
    return None if found is None else path.name[: -len(found[0])]


def is_image_path(path) -> bool:
    """True for an existing image: a file with an image ending, or an ``.ome.zarr`` / ``.zarr`` folder."""
    path = Path(path)
    found = _suffix_format(path)
    if found is None or path.name.startswith("."):
        return False
    return path.is_dir() if found[1] in _FOLDER_FORMATS else path.is_file()


def input_checksum(path, *, chunk_bytes: int = 1 << 22) -> str:
    """A SHA-256 that changes when an image changes (64 hexadecimal digits).

    For a file: the SHA-256 of its bytes. For a folder image (OME-Zarr), hashing every chunk would
    read the whole volume, so the digest covers the bytes of its metadata files (``.zattrs``,
    ``.zarray``, ``.zgroup``, ``zarr.json``) and the relative path, size and modification time of
    every other file: a rewritten chunk changes its size or time, an edited attribute its bytes.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if not path.is_dir():
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(chunk_bytes), b""):
                digest.update(chunk)
        return digest.hexdigest()
    metadata_names = {".zattrs", ".zarray", ".zgroup", "zarr.json"}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        digest.update(relative.encode() + b"\0")
        if file.name in metadata_names:
            digest.update(file.read_bytes())
        else:
            status = file.stat()
            digest.update(f"{status.st_size} {status.st_mtime_ns}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# choices along one axis
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexChoice:
    """Which indices to take along one axis (scene, time or channel): some, or all.

    Attributes
    ----------
    indices : tuple of int or None
        The chosen indices in the order given; None means every index the file has.
    """

    indices: tuple[int, ...] | None

    @classmethod
    def parse(cls, text: str, *, option: str = "--channel") -> IndexChoice:
        """Read ``"1"``, ``"0,2"`` or ``"all"`` (what ``--channel``, ``--scene``, ``--time`` take).

        Raises
        ------
        ValueError
            Naming ``option`` and the accepted forms.
        """
        cleaned = str(text).strip().lower()
        if cleaned == "all":
            return cls(None)
        parts = [part.strip() for part in cleaned.split(",")]
        if not cleaned or not all(part.isdigit() for part in parts):
            raise ValueError(
                f"{option} takes one index (e.g. {option} 1), a comma-separated list ({option} 0,2) or "
                f"`all`; got {text!r}."
            )
        return cls(tuple(dict.fromkeys(int(part) for part in parts)))

    @classmethod
    def of(cls, value, *, name: str = "channel") -> IndexChoice | None:
        """An int, a sequence of ints, ``"all"``, an IndexChoice or None (no choice) as an IndexChoice."""
        if value is None or isinstance(value, IndexChoice):
            return value
        if isinstance(value, str):
            return cls.parse(value, option=f"`{name}`")
        values = [value] if isinstance(value, numbers.Integral) else value
        try:
            values = list(values)
        except TypeError:
            values = [None]
        if not values or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in values):
            raise ValueError(
                f"`{name}` must be an index >= 0, a list of them, 'all' or None; got {value!r}."
            )
        return cls(tuple(dict.fromkeys(int(v) for v in values)))

    def __str__(self) -> str:
        return "all" if self.indices is None else ",".join(str(i) for i in self.indices)


class StackIndex(NamedTuple):
    """One (Z, Y, X) stack of a file: its scene, time point and channel indices."""

    scene: int
    time: int
    channel: int


# ----------------------------------------------------------------------------------------------
# what a scene holds
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SceneInfo:
    """The facts of one scene of an image file.

    Attributes
    ----------
    index : int
    name : str
        The scene's id in the file (``"Image:0"`` for OME files and single-scene files).
    shape : dict
        Sizes ``{"T", "C", "Z", "Y", "X"}``.
    channel_names : tuple of str
    time_points : int
    dtype : numpy.dtype
    voxel_size : tuple of float or None
        (z, y, x) in micrometres; None when the file does not record all three.
    is_2d : bool
        The scene has no Z axis (or a single plane in formats that always have one).
    """

    index: int
    name: str
    shape: dict
    channel_names: tuple[str, ...]
    time_points: int
    dtype: np.dtype
    voxel_size: tuple[float, float, float] | None
    is_2d: bool


def _voxel(z, y, x) -> tuple[float, float, float] | None:
    if any(v is None for v in (z, y, x)):
        return None
    values = (float(z), float(y), float(x))
    return values if all(np.isfinite(v) and v > 0 for v in values) else None


def _default_names(count: int) -> tuple[str, ...]:
    return tuple(f"Channel:{i}" for i in range(count))


# ----------------------------------------------------------------------------------------------
# the TIFF family through tifffile
# ----------------------------------------------------------------------------------------------

def _ome_images(ome_xml: str) -> list[dict]:
    """Per OME Image: id, channel names and voxel size (micrometres)."""
    from .io import _unit_factor

    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return []
    images = []
    for image in root:
        if not image.tag.endswith("}Image") and image.tag != "Image":
            continue
        pixels = next((child for child in image if child.tag.endswith("Pixels")), None)
        if pixels is None:
            continue
        sizes = []
        for axis in "ZYX":
            value = pixels.get(f"PhysicalSize{axis}")
            unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")
            sizes.append(float(value) * _unit_factor(unit) if value is not None else None)
        names = [channel.get("Name") for channel in pixels if channel.tag.endswith("Channel")]
        images.append({"id": image.get("ID") or f"Image:{len(images)}", "names": names, "voxel": _voxel(*sizes)})
    return images


def _tiff_axes(series) -> tuple[str, tuple[int, ...]]:
    """The series' axes in TCZYX letters (I/Q read as Z, samples S as C), checked against its shape."""
    axes, shape = series.axes.upper(), tuple(series.shape)
    for other in "IQ":
        if "Z" not in axes:
            axes = axes.replace(other, "Z")
    if "S" in axes and "C" not in axes:
        axes = axes.replace("S", "C")
    if len(axes) != len(shape) or len(set(axes)) != len(axes):
        axes = "ZYX"[-len(shape):] if len(shape) <= 3 else "TCZYX"[-len(shape):]
    return axes, shape


def _to_tczyx(array, axes: str, path: Path):
    """A NumPy or Dask array with ``axes`` as a 5D (T, C, Z, Y, X) array (a view; nothing is read)."""
    for position in reversed(range(len(axes))):
        letter = axes[position]
        if letter in _AXES:
            continue
        if array.shape[position] != 1:
            raise ValueError(
                f"{path} has an axis {letter!r} of size {array.shape[position]} (axes {axes}), which is not "
                "time, channel or Z; save it from Fiji as a hyperstack with T, C and Z axes."
            )
        array = array[(slice(None),) * position + (0,)]
        axes = axes[:position] + axes[position + 1:]
    for letter in _AXES:
        if letter not in axes:
            array = array[None]
            axes = letter + axes
    order = [axes.index(letter) for letter in _AXES]
    return array.transpose(order)


class _TiffBackend:
    reader = _BUILT_IN

    def __init__(self, path: Path, suffix_format: str):
        from .io import _imagej_voxel_size

        self.path = path
        try:
            with tifffile.TiffFile(path) as tiff:
                series_list = list(tiff.series) if tiff.is_ome else list(tiff.series[:1])
                if not series_list:
                    raise ValueError("no image data")
                ome = _ome_images(tiff.ome_metadata) if tiff.is_ome and tiff.ome_metadata else []
                self.format = "OME-TIFF" if tiff.is_ome else "ImageJ TIFF" if tiff.is_imagej else "TIFF"
                plain_voxel = None if tiff.is_ome else _voxel(*_imagej_voxel_size(tiff))
                self._series = []
                scenes = []
                for index, series in enumerate(series_list):
                    axes, shape = _tiff_axes(series)
                    sizes = {letter: 1 for letter in _AXES}
                    for letter, size in zip(axes, shape):
                        if letter in sizes:
                            sizes[letter] = int(size)
                    about = ome[index] if index < len(ome) else {}
                    names = tuple(str(name) if name else f"Channel:{i}"
                                  for i, name in enumerate((about.get("names") or [])[: sizes["C"]]))
                    names = names + _default_names(sizes["C"])[len(names):]
                    scenes.append(SceneInfo(
                        index=index, name=about.get("id", f"Image:{index}"), shape=sizes, channel_names=names,
                        time_points=sizes["T"], dtype=np.dtype(series.dtype),
                        voxel_size=about.get("voxel") if tiff.is_ome else plain_voxel, is_2d="Z" not in axes))
                    self._series.append(axes)
        except (tifffile.TiffFileError, ValueError, OSError, KeyError, IndexError) as error:
            raise ValueError(
                f"Could not read {path} as a {suffix_format} image ({type(error).__name__}: {error}). The file "
                "may be corrupt, truncated or not a TIFF; open it in Fiji to check, or export it again."
            ) from error
        self.scenes = scenes

    def array(self, scene: int):
        """The scene as a lazy 5D (T, C, Z, Y, X) Dask array: a memory map, or tifffile's chunk store."""
        import dask.array as da

        axes = self._series[scene]
        info = self.scenes[scene]
        status = self.path.stat()
        identity = f"{self.path.resolve()}|{scene}|{status.st_mtime_ns}|{status.st_size}"
        name = "tiff-" + hashlib.sha1(identity.encode()).hexdigest()
        try:
            mapped = tifffile.memmap(self.path, series=scene, mode="r")
        except ValueError:  # compressed or scattered pages: read chunk by chunk through tifffile's store
            store = tifffile.imread(self.path, aszarr=True, series=scene)
            array = da.from_zarr(store, name=name)
        else:
            plane = int(np.prod([size for letter, size in zip(axes, mapped.shape) if letter in "YX"]))
            depth = max(1, _TIFF_CHUNK_BYTES // max(1, plane * mapped.dtype.itemsize))
            chunks = tuple(size if letter in "YX" else min(size, depth) if letter == "Z" else 1
                           for letter, size in zip(axes, mapped.shape))
            array = da.from_array(mapped, chunks=chunks, name=name, asarray=True,
                                  meta=np.empty((0,) * mapped.ndim, mapped.dtype))
        if array.ndim != len(axes):
            raise ValueError(f"{self.path}: the pixel data have {array.ndim} axes but the metadata name {axes}.")
        array = _to_tczyx(array, axes, self.path)
        expected = tuple(info.shape[letter] for letter in _AXES)
        if tuple(array.shape) != expected:  # pragma: no cover - tifffile's series and store agree
            raise ValueError(f"{self.path}: pixel data of shape {array.shape}, metadata {expected}.")
        return array


# ----------------------------------------------------------------------------------------------
# everything else through bioio
# ----------------------------------------------------------------------------------------------

def _plugin_reader(file_format: str, path: Path):
    module_name, distribution = _PLUGINS[file_format]
    try:
        import importlib

        importlib.import_module("bioio")
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = getattr(error, "name", None) or module_name
        package = "bioio" if missing == "bioio" else distribution
        raise MissingReaderError(
            f"Reading {path.name} ({file_format}) needs the package {package}, which is not installed "
            f"({error}). Install the microscope-format readers with: {INSTALL_HINT}."
        ) from error
    return module.Reader, distribution


class _BioioBackend:
    def __init__(self, path: Path, file_format: str):
        reader_class, self.reader = _plugin_reader(file_format, path)
        import bioio

        self.path, self.format = path, file_format
        try:
            with warnings.catch_warnings():  # readers' own deprecation notices are not the user's concern
                warnings.simplefilter("ignore", DeprecationWarning)
                self._image = bioio.BioImage(path, reader=reader_class)
            scene_ids = tuple(str(scene) for scene in self._image.scenes)
            scenes = []
            for index in range(len(scene_ids)):
                self._image.set_scene(index)
                dims = self._image.dims
                order = dims.order
                sizes = {letter: int(getattr(dims, letter)) if letter in order else 1 for letter in _AXES}
                extra = {letter: int(getattr(dims, letter)) for letter in order if letter not in _AXES}
                if extra.get("S", 1) > 1 and sizes["C"] == 1:
                    sizes["C"] = extra["S"]  # RGB samples are the channels
                names = tuple(str(name) for name in (self._image.channel_names or ())[: sizes["C"]])
                names = names + _default_names(sizes["C"])[len(names):]
                physical = self._image.physical_pixel_sizes
                scenes.append(SceneInfo(
                    index=index, name=scene_ids[index], shape=sizes, channel_names=names,
                    time_points=sizes["T"], dtype=np.dtype(self._image.dtype),
                    voxel_size=_voxel(physical.Z, physical.Y, physical.X), is_2d=sizes["Z"] == 1))
        except (MissingReaderError, FileNotFoundError):
            raise
        except Exception as error:  # readers raise many kinds for a corrupt file
            raise ValueError(
                f"Could not read {path} as a {file_format} image with {self.reader} ({type(error).__name__}: "
                f"{' '.join(str(error).split())[:300]}). The file may be corrupt or truncated; open it in the "
                "microscope software or Fiji to check, or export it again."
            ) from error
        self.scenes = scenes

    def array(self, scene: int):
        """The scene as a lazy 5D (T, C, Z, Y, X) Dask array (the reader's own chunks)."""
        self._image.set_scene(scene)
        array = self._image.dask_data
        order = self._image.dims.order
        if "S" in order and array.shape[order.index("S")] > 1 and array.shape[order.index("C")] == 1:
            array = array[tuple(0 if letter == "C" else slice(None) for letter in order)]
            order = order.replace("C", "").replace("S", "C")
        return _to_tczyx(array, order, self.path)


def _open_backend(path: Path, file_format: str):
    if file_format in ("TIFF",):
        return _TiffBackend(path, file_format)
    if file_format == "OME-TIFF":
        try:
            _plugin_reader(file_format, path)
        except MissingReaderError:
            return _TiffBackend(path, file_format)
    return _BioioBackend(path, file_format)


# ----------------------------------------------------------------------------------------------
# the public object
# ----------------------------------------------------------------------------------------------

def _check_index(value, count: int, what: str, argument: str, path: Path, names=()) -> int:
    option = f"--{argument}"
    listing = ""
    if names:
        listing = " (" + ", ".join(f"{i}: {name}" for i, name in enumerate(names)) + ")"
    if value is None:
        if count == 1:
            return 0
        raise ValueError(
            f"{path.name} has {count} {what}s{listing}; choose one with `{argument}=` (0 to {count - 1}), e.g. "
            f"`{argument}=1` in Python or `{option} 1` (or `{option} all`) on the command line."
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < count:
        valid = "0" if count == 1 else f"0 to {count - 1}"
        raise ValueError(
            f"`{argument}={value!r}` is out of range: {path.name} has {count} {what}{'s' if count != 1 else ''}"
            f"{listing}; valid indices are {valid}."
        )
    return int(value)


class ImageFile:
    """An open image file: its metadata at once, its pixels only on request.

    Use :func:`open_image` to make one. The attributes ``shape``, ``channel_names``,
    ``time_points``, ``dtype`` and ``voxel_size`` describe scene 0; :meth:`scene_info` gives them for
    any scene (scenes may differ in shape).

    Attributes
    ----------
    path : pathlib.Path
    format : str
        "TIFF", "ImageJ TIFF", "OME-TIFF", "OME-Zarr", "CZI", "ND2" or "LIF".
    reader : str
        The package reading it, e.g. "bioio-czi" or "tifffile (built in)".
    scenes : tuple of str
        The scene ids, e.g. ``("Image:0", "Image:1")``.
    """

    def __init__(self, path: Path, backend):
        self.path = path
        self.format = backend.format
        self.reader = backend.reader
        self._backend = backend
        self._infos = tuple(backend.scenes)
        self.scenes = tuple(info.name for info in self._infos)

    def __repr__(self) -> str:
        return f"<ImageFile {self.path.name}: {self.format}, {len(self.scenes)} scene(s), {self.shape}>"

    # scene 0's facts
    @property
    def shape(self) -> dict:
        return dict(self._infos[0].shape)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self._infos[0].channel_names

    @property
    def time_points(self) -> int:
        return self._infos[0].time_points

    @property
    def dtype(self) -> np.dtype:
        return self._infos[0].dtype

    @property
    def voxel_size(self) -> tuple[float, float, float] | None:
        return self._infos[0].voxel_size

    def scene_info(self, scene: int) -> SceneInfo:
        """The facts of scene ``scene`` (0 to ``len(scenes) - 1``)."""
        return self._infos[_check_index(scene, len(self._infos), "scene", "scene", self.path, self.scenes)]

    def stacks(self, *, scene=None, time=None, channel=None) -> list[StackIndex]:
        """Every (scene, time, channel) stack a choice selects, checked against the file.

        Parameters
        ----------
        scene, time, channel : int, sequence of int, "all", IndexChoice or None
            None is allowed only where the file (or the scene) has exactly one.

        Returns
        -------
        list of StackIndex
            Scene by scene, then time point, then channel, in the order given.

        Raises
        ------
        ValueError
            An index out of range, or no choice where there are several (the message lists them).
        """
        scene_choice = IndexChoice.of(scene, name="scene")
        time_choice = IndexChoice.of(time, name="time")
        channel_choice = IndexChoice.of(channel, name="channel")

        def resolve(choice, count, what, argument, names=()):
            if choice is None:
                return [_check_index(None, count, what, argument, self.path, names)]
            if choice.indices is None:
                return list(range(count))
            return [_check_index(i, count, what, argument, self.path, names) for i in choice.indices]

        selected = []
        for s in resolve(scene_choice, len(self._infos), "scene", "scene", self.scenes):
            info = self._infos[s]
            for t in resolve(time_choice, info.time_points, "time point", "time"):
                for c in resolve(channel_choice, info.shape["C"], "channel", "channel", info.channel_names):
                    selected.append(StackIndex(s, t, c))
        return selected

    def _select(self, channel, scene, time) -> tuple[StackIndex, SceneInfo]:
        s = _check_index(scene, len(self._infos), "scene", "scene", self.path, self.scenes)
        info = self._infos[s]
        t = _check_index(time, info.time_points, "time point", "time", self.path)
        c = _check_index(channel, info.shape["C"], "channel", "channel", self.path, info.channel_names)
        return StackIndex(s, t, c), info

    def lazy(self, *, channel: int | None = None, scene: int | None = None, time: int | None = None):
        """One (Z, Y, X) stack as a Dask array; nothing is read until it is computed.

        Parameters
        ----------
        channel, scene, time : int, optional
            Indices from 0; each may be left out only when the file has exactly one along that axis.

        Returns
        -------
        dask.array.Array, shape (Z, Y, X)
            Chunked as the file is stored (OME-Zarr chunks, CZI planes, TIFF planes or a memory map),
            in the file's dtype. ``numpy.asarray(image_file.lazy(...))`` equals ``read(...).data``.
        """
        index, _ = self._select(channel, scene, time)
        return self._backend.array(index.scene)[index.time, index.channel]

    def read(self, *, channel: int | None = None, scene: int | None = None, time: int | None = None,
             promote_2d: bool = False):
        """Read one (Z, Y, X) stack into memory with its voxel size.

        Parameters
        ----------
        channel, scene, time : int, optional
            Indices from 0; each may be left out only when the file has exactly one along that axis.
        promote_2d : bool
            Read a 2D image as a one-slice stack (1, Y, X). Without it a 2D image raises, because the
            workflows need a Z stack.

        Returns
        -------
        helpers.io.Image
            ``data`` (Z, Y, X) in the file's dtype (a new array), ``voxel_size`` (z, y, x) in micrometres
            or None, and ``source`` naming the file and the stack.

        Raises
        ------
        ValueError
            No choice where the file has several, an index out of range, or a 2D image without
            ``promote_2d=True``.
        """
        index, info = self._select(channel, scene, time)
        if info.is_2d and not promote_2d:
            raise ValueError(
                f"{self.path.name} is a 2D image (Y {info.shape['Y']} x X {info.shape['X']}, no Z stack), but the "
                "workflows need a 3D (Z, Y, X) stack. To treat it as one slice, read it with `promote_2d=True` "
                "(command line: --promote-2d); otherwise acquire or export a Z stack."
            )
        lazy = self._backend.array(index.scene)[index.time, index.channel]
        data = np.require(np.asarray(lazy.compute(scheduler="threads")), requirements=["C", "W", "O"])
        parts = [str(self.path)]
        if len(self._infos) > 1:
            parts.append(f"[scene {index.scene}: {info.name}]")
        if info.time_points > 1:
            parts.append(f"[time {index.time}]")
        if info.shape["C"] > 1:
            parts.append(f"[channel {index.channel}: {info.channel_names[index.channel]}]")
        from .io import Image

        return Image(data=data, voxel_size=info.voxel_size, source=" ".join(parts))

    def describe(self) -> str:
        """A few lines for people: format, reader, scenes, dimensions, channels, voxel size, what to choose."""
        lines = [f"file:        {self.path}", f"format:      {self.format} (read with {self.reader})"]
        first = self._infos[0]
        same = all(info.shape == first.shape and info.channel_names == first.channel_names
                   and info.voxel_size == first.voxel_size and info.dtype == first.dtype for info in self._infos)
        lines.append(f"scenes:      {len(self.scenes)} ({', '.join(self.scenes)})")
        for info in (self._infos[:1] if same else self._infos):
            prefix = "" if same else f"scene {info.index}: "
            dims = ", ".join(f"{letter} {info.shape[letter]}" for letter in _AXES)
            voxel = ("unknown (not recorded in the file)" if info.voxel_size is None
                     else " x ".join(f"{v:g}" for v in info.voxel_size) + " um (z, y, x)")
            lines += [
                f"{prefix}dimensions:  {dims}" + ("  (2D: read it with --promote-2d / promote_2d=True)"
                                                  if info.is_2d else ""),
                f"{prefix}channels:    " + ", ".join(f"{i} {name}" for i, name in enumerate(info.channel_names)),
                f"{prefix}time points: {info.time_points}",
                f"{prefix}voxel size:  {voxel}",
                f"{prefix}dtype:       {info.dtype}",
            ]
        needed = []
        if len(self._infos) > 1:
            needed.append(f"--scene (0 to {len(self._infos) - 1})")
        times = max(info.time_points for info in self._infos)
        if times > 1:
            needed.append(f"--time (0 to {times - 1})")
        channels = max(info.shape["C"] for info in self._infos)
        if channels > 1:
            needed.append(f"--channel (0 to {channels - 1})")
        lines.append("choose:      " + (", ".join(needed) + " (an index, a list such as 0,2, or all)"
                                        if needed else "nothing (one stack)"))
        return "\n".join(lines)


def open_image(path) -> ImageFile:
    """Open an image file (or OME-Zarr folder) and read its metadata, not its pixels.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tif``/``.tiff`` (plain, ImageJ or OME), ``.ome.tif``, ``.ome.zarr``/``.zarr`` folder,
        ``.czi``, ``.nd2`` or ``.lif`` image.

    Returns
    -------
    ImageFile
        With the format, reader, scenes, per-scene dimensions, channel names, time points, dtype and
        voxel size; ``read(...)`` and ``lazy(...)`` give one (Z, Y, X) stack.

    Raises
    ------
    FileNotFoundError
        When nothing is at ``path``.
    MissingReaderError
        (an ImportError and a ValueError) when the format's reader package is not installed; the
        message gives the install command.
    ValueError
        For an unknown file ending (the message lists the known ones), a folder that is not an
        OME-Zarr image, or a corrupt file.

    Examples
    --------
    >>> image_file = open_image("cells.czi")                        # doctest: +SKIP
    >>> image_file.channel_names                                    # doctest: +SKIP
    ('DNA', 'Membrane')
    >>> stack = image_file.read(channel=1, scene=0, time=0)         # doctest: +SKIP
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"No such file: {path}. Check the path (relative paths start at {Path.cwd()}).")
    found = _suffix_format(path)
    if found is None:
        if path.is_dir():
            raise ValueError(f"{path} is a folder; pass one image file (the command line takes folders), or an "
                             "OME-Zarr image folder named *.ome.zarr or *.zarr.")
        raise ValueError(
            f"{path.name} does not end in a known image format. Supported: {', '.join(IMAGE_SUFFIXES)} "
            "(OME-Zarr images are folders). Export it from Fiji or the microscope software as OME-TIFF."
        )
    suffix, file_format = found
    if file_format in _FOLDER_FORMATS and not path.is_dir():
        raise ValueError(f"{path} is a file, but {suffix} images are folders (OME-Zarr); pass the folder.")
    if file_format not in _FOLDER_FORMATS and path.is_dir():
        raise ValueError(f"{path} is a folder; pass one image file (the command line takes folders).")
    return ImageFile(path, _open_backend(path, file_format))
