"""Tiny image files in the microscope formats, written by us, with the arrays they hold (not a test module).

Each writer returns the pixel data it wrote as a dict ``{(scene, time, channel): (Z, Y, X) array}``
so that tests can compare ``ImageFile.read`` with exactly what is in the file. The values are
deterministic (a seeded generator) and differ between every stack, so a stack read from the wrong
scene, time point or channel never matches by accident.

ND2 (Nikon) and LIF (Leica) files cannot be written from Python (their writers are the vendors'
acquisition software), so those formats are tested only for the message when their reader is
missing. pylibCZIrw writes CZI files with channels, time points, Z and scaling, but its scenes are
not recorded in a way bioio-czi reads back, so the CZI file here has one scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

VOXEL = (0.29, 0.108, 0.108)
CHANNELS = ("DNA", "Membrane")


def stacks(scenes: int, times: int, channels: int, shape=(4, 8, 10), seed: int = 0) -> dict:
    """``{(s, t, c): uint16 (Z, Y, X)}``, every stack different (its own offset plus noise)."""
    rng = np.random.default_rng(seed)
    return {(s, t, c): (rng.integers(0, 1000, shape) + 1000 * (s * times * channels + t * channels + c))
            .astype(np.uint16)
            for s in range(scenes) for t in range(times) for c in range(channels)}


def _block(data: dict, scene: int, times: int, channels: int) -> np.ndarray:
    """One scene as (T, C, Z, Y, X)."""
    return np.stack([np.stack([data[scene, t, c] for c in range(channels)]) for t in range(times)])


def write_ome_tiff(path: Path, *, scenes: int = 2, times: int = 3, channels: int = 2, shape=(4, 8, 10)) -> dict:
    """A multi-scene OME-TIFF (one OME Image per scene, axes TCZYX) with channel names and voxel size."""
    data = stacks(scenes, times, channels, shape)
    with tifffile.TiffWriter(path, ome=True) as writer:
        for s in range(scenes):
            writer.write(_block(data, s, times, channels), photometric="minisblack", metadata={
                "axes": "TCZYX", "Name": f"position {s}", "Channel": {"Name": list(CHANNELS[:channels])},
                "PhysicalSizeZ": VOXEL[0], "PhysicalSizeY": VOXEL[1], "PhysicalSizeX": VOXEL[2],
                "PhysicalSizeZUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeXUnit": "µm"})
    return data


def write_ome_zarr(path: Path, *, times: int = 3, channels: int = 2, shape=(4, 8, 10), chunks=(1, 1, 2, 8, 10)) -> dict:
    """A one-scene OME-Zarr folder (NGFF 0.4, zarr format 2, axes t, c, z, y, x), scale = voxel size."""
    import zarr

    data = stacks(1, times, channels, shape, seed=1)
    block = _block(data, 0, times, channels)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = root.create_array("0", shape=block.shape, dtype=block.dtype, chunks=chunks)
    array[...] = block
    space = {"type": "space", "unit": "micrometer"}
    root.attrs["multiscales"] = [{
        "version": "0.4", "name": Path(path).name,
        "axes": [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
                 {"name": "z", **space}, {"name": "y", **space}, {"name": "x", **space}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, *VOXEL]}]}],
    }]
    root.attrs["omero"] = {"version": "0.4", "channels": [
        {"label": name, "color": "FFFFFF", "active": True,
         "window": {"start": 0, "end": 65535, "min": 0, "max": 65535}} for name in CHANNELS[:channels]]}
    return data


def write_imagej_tiff(path: Path, *, times: int = 2, channels: int = 3, shape=(4, 8, 10)) -> dict:
    """An ImageJ hyperstack (axes TZCYX, as Fiji stores them) with z spacing and pixel size in um."""
    data = stacks(1, times, channels, shape, seed=2)
    block = _block(data, 0, times, channels).transpose(0, 2, 1, 3, 4)  # (T, Z, C, Y, X)
    tifffile.imwrite(path, block, imagej=True, resolution=(1 / VOXEL[2], 1 / VOXEL[1]),
                     metadata={"axes": "TZCYX", "spacing": VOXEL[0], "unit": "um"})
    return data


def write_plain_2d_tiff(path: Path, *, shape=(8, 10)) -> dict:
    """A single 2D plane in a plain TIFF (no metadata)."""
    plane = stacks(1, 1, 1, (1, *shape), seed=3)[0, 0, 0]
    tifffile.imwrite(path, plane[0])
    return {(0, 0, 0): plane}


def write_czi(path: Path, *, times: int = 2, channels: int = 2, shape=(3, 8, 10)) -> dict:
    """A one-scene CZI with time points, named channels, a Z stack and scaling (pylibCZIrw)."""
    from pylibCZIrw import czi as pyczi

    data = stacks(1, times, channels, shape, seed=4)
    with pyczi.create_czi(str(path), exist_ok=False) as writer:
        for t in range(times):
            for c in range(channels):
                for z in range(shape[0]):
                    writer.write(data[0, t, c][z], plane={"T": t, "C": c, "Z": z}, scene=0)
        writer.write_metadata(document_name=Path(path).stem, channel_names=dict(enumerate(CHANNELS[:channels])),
                              scale_x=VOXEL[2] * 1e-6, scale_y=VOXEL[1] * 1e-6, scale_z=VOXEL[0] * 1e-6)
    return data
