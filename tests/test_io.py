"""Reading and writing images: voxel size kept, explicit channel/time choice, safe writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from helpers import io

VOXEL = (0.29, 0.108, 0.108)


def stack(shape=(5, 12, 16), dtype=np.uint16):
    return (np.arange(np.prod(shape)) % 4000).reshape(shape).astype(dtype)


def test_ome_round_trip_keeps_data_and_voxel_size(tmp_path):
    data = stack()
    path = io.write_image(tmp_path / "a.ome.tif", data, voxel_size=VOXEL)
    image = io.read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == np.uint16
    assert image.voxel_size == pytest.approx(VOXEL)
    assert image.shape == data.shape and str(path) in image.source


def test_mask_is_written_as_uint8_0_255(tmp_path):
    mask = stack() > 500
    io.write_mask(tmp_path / "m.ome.tif", mask, voxel_size=VOXEL)
    written = io.read_image(tmp_path / "m.ome.tif")
    assert written.data.dtype == np.uint8
    assert set(np.unique(written.data)) == {0, 255}
    np.testing.assert_array_equal(written.data > 0, mask)
    assert written.voxel_size == pytest.approx(VOXEL)


def test_imagej_hyperstack_needs_channel_and_time(tmp_path):
    data = np.stack([np.stack([stack() + 100 * (t * 2 + c) for c in range(2)], axis=1) for t in range(3)])
    assert data.shape == (3, 5, 2, 12, 16)  # T, Z, C, Y, X as ImageJ orders them
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX", "spacing": 0.29, "unit": "um"},
                     resolution=(1 / 0.108, 1 / 0.108))
    with pytest.raises(ValueError, match="time"):
        io.read_image(path, channel=0)
    with pytest.raises(ValueError, match="channel"):
        io.read_image(path, time=0)
    image = io.read_image(path, channel=1, time=2)
    np.testing.assert_array_equal(image.data, data[2, :, 1])
    assert image.voxel_size == pytest.approx(VOXEL, rel=1e-4)
    assert "channel 1" in image.source and "time 2" in image.source
    with pytest.raises(ValueError, match="out of range"):
        io.read_image(path, channel=5, time=0)


def test_two_dimensional_files_need_explicit_promotion(tmp_path):
    path = tmp_path / "plane.tif"
    tifffile.imwrite(path, stack()[0])
    with pytest.raises(ValueError, match="promote_2d=True"):
        io.read_image(path)
    image = io.read_image(path, promote_2d=True)
    assert image.data.shape == (1, 12, 16)


def test_plain_tiff_without_metadata_has_no_voxel_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack())
    image = io.read_image(path)
    assert image.voxel_size is None
    assert image.data.shape == (5, 12, 16)


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        io.read_image(tmp_path / "nope.tif")
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="corrupt"):
        io.read_image(corrupt)
    truncated = tmp_path / "truncated.tif"
    io.write_image(tmp_path / "whole.tif", stack(), compression=None)
    truncated.write_bytes((tmp_path / "whole.tif").read_bytes()[:300])
    with pytest.raises(ValueError, match="Could not read"):
        io.read_image(truncated)
    with pytest.raises(ValueError, match="folder"):
        io.read_image(tmp_path)


def test_existing_files_are_never_overwritten_by_default(tmp_path):
    path = tmp_path / "keep.ome.tif"
    io.write_image(path, stack(), voxel_size=VOXEL)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        io.write_image(path, stack() * 0)
    assert path.read_bytes() == before
    io.write_image(path, stack() * 0, overwrite=True)
    assert io.read_image(path).data.max() == 0


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        with open(args[0], "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        io.write_image(tmp_path / "x.ome.tif", stack())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("voxel_size", [(1, 2), (0, 1, 1), (-1, 1, 1), ("a", 1, 1), (np.nan, 1, 1)])
def test_bad_voxel_size_is_refused(tmp_path, voxel_size):
    with pytest.raises(ValueError, match="voxel_size"):
        io.write_image(tmp_path / "v.ome.tif", stack(), voxel_size=voxel_size)


def test_write_refuses_wrong_dimensions_and_missing_folders(tmp_path):
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        io.write_image(tmp_path / "flat.ome.tif", stack()[0])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.write_image(tmp_path / "no" / "such" / "dir.ome.tif", stack())
    with pytest.raises(ValueError, match="threshold"):
        io.write_mask(tmp_path / "f.ome.tif", stack().astype(np.float32))
