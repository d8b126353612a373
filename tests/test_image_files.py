"""open_image: every format we can write, read back stack by stack; lazy reads; clear messages."""

from __future__ import annotations

import sys

import dask.array as da
import numpy as np
import pytest
import tifffile

import format_files
from format_files import CHANNELS, VOXEL
from helpers import image_files, io
from helpers.image_files import IndexChoice, MissingReaderError, StackIndex, open_image


def assert_every_stack(image_file, data, *, promote_2d=False):
    for (s, t, c), expected in data.items():
        image = image_file.read(scene=s, time=t, channel=c, promote_2d=promote_2d)
        assert image.data.dtype == expected.dtype
        np.testing.assert_array_equal(image.data, expected)
        np.testing.assert_array_equal(np.asarray(image_file.lazy(scene=s, time=t, channel=c)), expected)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("formats")


def test_ome_tiff_with_two_scenes_three_time_points_two_channels(folder):
    data = format_files.write_ome_tiff(folder / "cells.ome.tif")
    image_file = open_image(folder / "cells.ome.tif")
    assert image_file.format == "OME-TIFF" and image_file.reader == "bioio-ome-tiff"
    assert image_file.scenes == ("Image:0", "Image:1")
    assert image_file.shape == {"T": 3, "C": 2, "Z": 4, "Y": 8, "X": 10}
    assert image_file.channel_names == CHANNELS and image_file.time_points == 3
    assert image_file.voxel_size == pytest.approx(VOXEL) and image_file.dtype == np.uint16
    assert image_file.scene_info(1).shape == image_file.shape
    assert_every_stack(image_file, data)
    source = image_file.read(scene=1, time=2, channel=1).source
    assert "scene 1" in source and "time 2" in source and "Membrane" in source


def test_ome_tiff_without_bioio_reads_the_same_through_tifffile(folder, monkeypatch):
    data = format_files.write_ome_tiff(folder / "plain_reader.ome.tif")
    monkeypatch.setitem(sys.modules, "bioio_ome_tiff", None)  # as if not installed
    image_file = open_image(folder / "plain_reader.ome.tif")
    assert image_file.reader == "tifffile (built in)" and image_file.format == "OME-TIFF"
    assert image_file.scenes == ("Image:0", "Image:1") and image_file.channel_names == CHANNELS
    assert image_file.voxel_size == pytest.approx(VOXEL) and image_file.time_points == 3
    assert_every_stack(image_file, data)


def test_ome_zarr_reads_every_stack_and_lazy_keeps_the_chunks(folder):
    path = folder / "cells.ome.zarr"
    data = format_files.write_ome_zarr(path)
    image_file = open_image(path)
    assert image_file.format == "OME-Zarr" and image_file.reader == "bioio-ome-zarr"
    assert len(image_file.scenes) == 1 and image_file.time_points == 3
    assert image_file.channel_names == CHANNELS and image_file.voxel_size == pytest.approx(VOXEL)
    assert_every_stack(image_file, data)
    lazy = image_file.lazy(time=1, channel=0)
    assert isinstance(lazy, da.Array) and lazy.chunks == ((2, 2), (8,), (10,))


def test_lazy_reads_nothing_until_computed(folder):
    path = folder / "changing.ome.zarr"
    format_files.write_ome_zarr(path)
    lazy = open_image(path).lazy(time=0, channel=0)
    import zarr

    zarr.open_array(str(path / "0"), mode="r+")[0, 0] = 7  # change the file after lazy() returned
    assert np.all(np.asarray(lazy) == 7)


def test_imagej_hyperstack_without_bioio(folder, monkeypatch):
    data = format_files.write_imagej_tiff(folder / "hyper.tif")
    monkeypatch.setitem(sys.modules, "bioio", None)  # plain and ImageJ TIFF never need bioio
    image_file = open_image(folder / "hyper.tif")
    assert (image_file.format, image_file.reader) == ("ImageJ TIFF", "tifffile (built in)")
    assert image_file.shape == {"T": 2, "C": 3, "Z": 4, "Y": 8, "X": 10} and image_file.scenes == ("Image:0",)
    assert image_file.voxel_size == pytest.approx(VOXEL) and image_file.time_points == 2
    assert_every_stack(image_file, data)
    for t, c in ((0, 2), (1, 1)):  # the same stack as helpers.io.read_image gives
        np.testing.assert_array_equal(image_file.read(time=t, channel=c).data,
                                      io.read_image(folder / "hyper.tif", time=t, channel=c).data)


def test_compressed_tiff_is_read_lazily_through_tifffile_store(folder):
    stack = format_files.stacks(1, 1, 1, (5, 8, 10))[0, 0, 0]
    tifffile.imwrite(folder / "zlib.tif", stack, compression="zlib")
    tifffile.imwrite(folder / "raw.tif", stack)
    for name in ("zlib.tif", "raw.tif"):
        lazy = open_image(folder / name).lazy()
        assert isinstance(lazy, da.Array) and lazy.shape == (5, 8, 10)
        np.testing.assert_array_equal(np.asarray(lazy), stack)
    image = open_image(folder / "raw.tif").read()
    assert image.data.flags.writeable and image.data.flags.owndata  # a copy, not the memory map


def test_czi_with_time_points_and_channels(folder):
    pytest.importorskip("pylibCZIrw")
    data = format_files.write_czi(folder / "cells.czi")
    image_file = open_image(folder / "cells.czi")
    assert (image_file.format, image_file.reader) == ("CZI", "bioio-czi")
    assert image_file.shape == {"T": 2, "C": 2, "Z": 3, "Y": 8, "X": 10}
    assert image_file.channel_names == CHANNELS and image_file.voxel_size == pytest.approx(VOXEL)
    assert_every_stack(image_file, data)


def test_2d_image_needs_promote_2d(folder):
    data = format_files.write_plain_2d_tiff(folder / "flat.tif")
    image_file = open_image(folder / "flat.tif")
    with pytest.raises(ValueError, match=r"2D image.*promote_2d=True.*--promote-2d"):
        image_file.read()
    assert image_file.read(promote_2d=True).shape == (1, 8, 10)
    assert_every_stack(image_file, data, promote_2d=True)
    assert "--promote-2d" in image_file.describe()


def test_choices_are_required_and_checked(folder):
    format_files.write_ome_tiff(folder / "choose.ome.tif")
    image_file = open_image(folder / "choose.ome.tif")
    with pytest.raises(ValueError, match=r"2 channels \(0: DNA, 1: Membrane\).*`channel=1`.*--channel all"):
        image_file.read(scene=0, time=0)
    with pytest.raises(ValueError, match=r"3 time points.*--time 1"):
        image_file.read(scene=0, channel=0)
    with pytest.raises(ValueError, match=r"2 scenes.*--scene"):
        image_file.read(time=0, channel=0)
    with pytest.raises(ValueError, match=r"`channel=2` is out of range.*valid indices are 0 to 1"):
        image_file.read(scene=0, time=0, channel=2)
    with pytest.raises(ValueError, match=r"`scene=5` is out of range.*2 scenes"):
        image_file.lazy(scene=5, time=0, channel=0)
    assert "--scene (0 to 1), --time (0 to 2), --channel (0 to 1)" in image_file.describe()


def test_stacks_expand_lists_and_all(folder):
    format_files.write_ome_tiff(folder / "many.ome.tif")
    image_file = open_image(folder / "many.ome.tif")
    assert image_file.stacks(scene=1, time=2, channel=0) == [StackIndex(1, 2, 0)]
    everything = image_file.stacks(scene="all", time="all", channel="all")
    assert len(everything) == 2 * 3 * 2 and everything[0] == (0, 0, 0) and everything[-1] == (1, 2, 1)
    assert image_file.stacks(scene=[1, 0], time="1", channel=IndexChoice.parse("1,0")) == [
        (1, 1, 1), (1, 1, 0), (0, 1, 1), (0, 1, 0)]
    with pytest.raises(ValueError, match="out of range"):
        image_file.stacks(scene="all", time="all", channel=[0, 3])


@pytest.mark.parametrize("text, indices", [("1", (1,)), ("0,2", (0, 2)), (" 2 , 0 ", (2, 0)), ("ALL", None),
                                           ("1,1", (1,))])
def test_index_choice_parses_the_command_line_forms(text, indices):
    assert IndexChoice.parse(text).indices == indices


@pytest.mark.parametrize("text", ["", "-1", "a", "1,,2", "1.5", "all,1"])
def test_index_choice_refuses_other_text(text):
    with pytest.raises(ValueError, match=r"--scene takes one index .*--scene 0,2.*`all`"):
        IndexChoice.parse(text, option="--scene")


@pytest.mark.parametrize("value", [-1, True, 1.0, [], [0, "a"]])
def test_index_choice_refuses_other_values(value):
    with pytest.raises(ValueError, match="`time` must be an index"):
        IndexChoice.of(value, name="time")


@pytest.mark.parametrize("suffix, format_name, package, module", [
    (".czi", "CZI", "bioio-czi", "bioio_czi"),
    (".nd2", "ND2", "bioio-nd2", "bioio_nd2"),
    (".lif", "LIF", "bioio-lif", "bioio_lif"),
    (".ome.zarr", "OME-Zarr", "bioio-ome-zarr", "bioio_ome_zarr"),
])
def test_missing_reader_names_the_format_the_package_and_the_fix(tmp_path, monkeypatch, suffix, format_name,
                                                                 package, module):
    path = tmp_path / f"cells{suffix}"
    path.mkdir() if suffix.endswith("zarr") else path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingReaderError, match=rf"\({format_name}\) needs the package {package}.*\[formats\]"):
        open_image(path)
    assert issubclass(MissingReaderError, ImportError) and issubclass(MissingReaderError, ValueError)


def test_missing_bioio_itself_is_named(tmp_path, monkeypatch):
    (tmp_path / "cells.nd2").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "bioio", None)
    with pytest.raises(MissingReaderError, match=r"needs the package bioio,.*pip install"):
        open_image(tmp_path / "cells.nd2")


def test_bad_paths_have_clear_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        open_image(tmp_path / "missing.czi")
    (tmp_path / "plain_folder").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        open_image(tmp_path / "plain_folder")
    (tmp_path / "notes.png").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"known image format. Supported: .ome.tiff, .ome.tif, .ome.zarr"):
        open_image(tmp_path / "notes.png")
    (tmp_path / "text.tif").write_text("not an image")
    with pytest.raises(ValueError, match="corrupt"):
        open_image(tmp_path / "text.tif")
    (tmp_path / "broken.czi").write_bytes(b"ZISRAWFILE" + bytes(40))
    with pytest.raises(ValueError, match=r"Could not read .*broken.czi as a CZI image with bioio-czi"):
        open_image(tmp_path / "broken.czi")


def test_image_names_and_checksums(tmp_path):
    assert image_files.image_stem("a/cell.ome.tif") == "cell"
    assert image_files.image_stem("cell.OME.ZARR") == "cell" and image_files.image_stem("x.czi") == "x"
    assert image_files.image_stem("notes.txt") is None
    path = tmp_path / "c.ome.zarr"
    format_files.write_ome_zarr(path)
    assert image_files.is_image_path(path) and not image_files.is_image_path(tmp_path)
    before = image_files.input_checksum(path)
    assert before == image_files.input_checksum(path) and len(before) == 64
    import zarr

    zarr.open_group(str(path), mode="r+").attrs["note"] = "edited"
    assert image_files.input_checksum(path) != before
