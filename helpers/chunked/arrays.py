"""The arrays a block-wise run reads and writes.

A run passes *references* to its tasks, never pixel data: :class:`ZarrArray` (an array in a zarr
store on disk, re-opened by path in whichever process runs the task), :class:`LazyArray` (a Dask
array, e.g. a microscope file read lazily; computed block by block), :class:`InMemoryArray` (a NumPy
array, for runs in this process) and :class:`PointwiseArray` (another reference with a voxel-wise
function applied as it is read, so that e.g. a normalized image is never stored). Every reference has
``shape``, ``dtype`` and ``read(region)``.

Outputs are OME-Zarr (OME-NGFF 0.4, zarr format 2: what Fiji's MoBIE/n5 viewer, napari-ome-zarr and
bioio read), with the voxel size as the scale of the single resolution level; they are written into a
hidden ``.NAME.partial`` folder renamed into place when complete, so an interrupted run never leaves a
truncated result under the real name.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["ZarrArray", "LazyArray", "InMemoryArray", "PointwiseArray", "as_reference", "create_zarr",
           "OmeZarrOutput", "read_ome_zarr_voxel_size"]


@dataclass(frozen=True)
class ZarrArray:
    """A zarr array on disk, named by its folder."""

    path: str

    def _open(self):
        import zarr

        return zarr.open_array(self.path, mode="r+")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._open().shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._open().dtype)

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(self._open().chunks)

    def read(self, region) -> np.ndarray:
        return np.asarray(self._open()[tuple(region)])

    def write(self, region, values) -> None:
        self._open()[tuple(region)] = values


@dataclass(frozen=True)
class LazyArray:
    """A Dask array (read lazily from a file), computed one region at a time in the calling thread."""

    array: Any

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return np.dtype(self.array.dtype)

    @property
    def chunks(self):
        return tuple(c[0] for c in self.array.chunks)

    def read(self, region) -> np.ndarray:
        return np.asarray(self.array[tuple(region)].compute(scheduler="synchronous"))


@dataclass(frozen=True)
class InMemoryArray:
    """A NumPy array (for runs in this process, and tests)."""

    array: np.ndarray

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def chunks(self):
        return tuple(self.array.shape)

    def read(self, region) -> np.ndarray:
        return np.asarray(self.array[tuple(region)])


@dataclass(frozen=True)
class PointwiseArray:
    """``function(source.read(region), **parameters)`` for a voxel-wise ``function`` (top-level, picklable)."""

    source: Any
    function: Callable
    parameters: tuple = ()
    out_dtype: str = "float32"

    @property
    def shape(self):
        return self.source.shape

    @property
    def dtype(self):
        return np.dtype(self.out_dtype)

    @property
    def chunks(self):
        return self.source.chunks

    def read(self, region) -> np.ndarray:
        return self.function(self.source.read(region), **dict(self.parameters))


def as_reference(array):
    """A reference for ``array``: references pass through, Dask arrays become :class:`LazyArray`,
    zarr arrays on disk :class:`ZarrArray`, anything else a NumPy :class:`InMemoryArray`."""
    if isinstance(array, (ZarrArray, LazyArray, InMemoryArray, PointwiseArray)):
        return array
    if type(array).__module__.startswith("dask"):
        return LazyArray(array)
    store_path = _zarr_path(array)
    if store_path is not None:
        return ZarrArray(store_path)
    return InMemoryArray(np.asarray(array))


def _zarr_path(array) -> str | None:
    if not type(array).__module__.startswith("zarr"):
        return None
    root = getattr(getattr(array, "store", None), "root", None)
    if root is None:
        return None
    path = Path(str(root))
    name = str(getattr(array, "path", "") or "")
    return str(path / name) if name else str(path)


def create_zarr(path, *, shape, dtype, chunks) -> ZarrArray:
    """A new zarr array (format 2, zstd-compressed) at ``path``, replacing whatever a run left there."""
    import zarr

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    chunks = tuple(min(int(c), int(s)) for c, s in zip(chunks, shape))
    zarr.create_array(store=str(path), shape=tuple(int(s) for s in shape), chunks=chunks, dtype=dtype,
                      zarr_format=2, fill_value=0)
    return ZarrArray(str(path))


class OmeZarrOutput:
    """An OME-Zarr image (one resolution level, axes z, y, x in micrometres) written block by block.

    Parameters
    ----------
    path : str or os.PathLike
        The ``NAME.ome.zarr`` folder to create.
    shape, dtype, chunks
        Of the (Z, Y, X) array.
    voxel_size : tuple of 3 float, optional
        (z, y, x) in micrometres, stored as the level's scale (1, 1, 1 when unknown, and the metadata says so).
    name : str
        The image name in the metadata.
    overwrite : bool
        Replace an existing ``path``; without it an existing one raises FileExistsError.

    The data goes to ``.NAME.ome.zarr.partial`` next to ``path``; :meth:`finish` renames it into place.
    """

    def __init__(self, path, *, shape, dtype, chunks, voxel_size=None, name: str = "", overwrite: bool = False):
        import zarr

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; choose another name or pass overwrite=True.")
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        group = zarr.open_group(str(self.partial), mode="w", zarr_format=2)
        scale = [float(v) for v in voxel_size] if voxel_size is not None else [1.0, 1.0, 1.0]
        group.attrs["multiscales"] = [{
            "version": "0.4",
            "name": name or self.path.name,
            "axes": [{"name": axis, "type": "space", "unit": "micrometer"} for axis in "zyx"],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        }]
        group.attrs["segmenter"] = {"voxel_size_known": voxel_size is not None}
        chunks = tuple(min(int(c), int(s)) for c, s in zip(chunks, shape))
        group.create_array("0", shape=tuple(int(s) for s in shape), chunks=chunks, dtype=dtype, fill_value=0)
        self.array = ZarrArray(str(self.partial / "0"))

    def finish(self) -> Path:
        """Rename the complete image into place and return its path."""
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.partial, self.path)
        return self.path

    def abandon(self) -> None:
        """Remove the unfinished image."""
        if self.partial.exists():
            shutil.rmtree(self.partial)


def read_ome_zarr_voxel_size(path) -> tuple[float, float, float] | None:
    """The (z, y, x) voxel size in micrometres recorded by :class:`OmeZarrOutput` (None when unknown)."""
    attributes = json.loads((Path(path) / ".zattrs").read_text(encoding="utf-8"))
    if not attributes.get("segmenter", {}).get("voxel_size_known", True):
        return None
    scale = attributes["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    return tuple(float(v) for v in scale[-3:])
