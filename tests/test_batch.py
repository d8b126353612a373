"""Batch segmentation: outputs and records, resuming, failures, parallel and Dask runs."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import tifffile

import helpers
from batch_inputs import VOXEL, field, write_inputs
from helpers import batch, io, workflow

PRESET = "gja1"  # 3D spots: a fraction of a second on 4 x 32 x 32


@pytest.fixture
def inputs(tmp_path):
    return write_inputs(tmp_path, 3, ".ome.tif")


def read_record(path):
    return json.loads(path.read_text())


def same_mask(first, second) -> bool:
    """Same pixels and voxel size (the OME-XML of two writes differs by a random UUID)."""
    a, b = io.read_image(first), io.read_image(second)
    return a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data) and a.voxel_size == b.voxel_size


def test_outputs_and_record_content(inputs, tmp_path):
    out = tmp_path / "out"
    summary = batch.run_batch(PRESET, [inputs], out)
    assert summary.ok and len(summary.done) == 3 and not summary.skipped
    preset = workflow.load_preset(PRESET)
    for i in range(3):
        source = inputs / f"cell{i}.ome.tif"
        mask_file = out / f"cell{i}_seg.ome.tif"
        mask = io.read_image(mask_file)
        assert mask.data.dtype == np.uint8 and mask.shape == (4, 32, 32)
        assert set(np.unique(mask.data)) <= {0, 255} and mask.data.max() == 255
        assert mask.voxel_size == pytest.approx(VOXEL)
        expected = workflow.run(preset, field(i)).mask
        np.testing.assert_array_equal(mask.data > 0, expected)
        record = read_record(out / f"cell{i}_seg.json")
        assert record["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert record["input"]["path"] == str(source.resolve())
        assert record["input"]["format"] == "OME-TIFF"
        assert record["input"]["scene"] == {"index": 0, "name": "Image:0"} and record["input"]["time"] == 0
        assert record["input"]["channel"]["index"] == 0  # the only channel, named as the reader names it
        assert record["helpers_version"] == helpers.__version__
        assert record["workflow"] == json.loads(json.dumps(preset.to_dict()))
        for step in preset.steps:  # every parameter of every step is recorded
            saved = next(s for s in record["workflow"]["steps"] if s["id"] == step.id)
            assert saved["parameters"] == json.loads(json.dumps(step.parameters))
            assert step.id in record["timings_s"]["steps"]
        assert record["output"]["shape"] == [4, 32, 32] and record["output"]["mask"] == mask_file.name
        assert record["output"]["voxel_size_um"] == pytest.approx(list(VOXEL))
        assert record["timings_s"]["total"] > 0 and record["date"].startswith("20")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"cell{i}_seg.ome.tif" for i in range(3)] + [f"cell{i}_seg.json" for i in range(3)])


def test_segment_file_returns_the_written_record(inputs, tmp_path):
    record = batch.segment_file(workflow.load_preset(PRESET), inputs / "cell0.ome.tif", tmp_path / "o")
    assert record == read_record(tmp_path / "o" / "cell0_seg.json")


def test_second_run_skips_and_deleted_record_is_redone(inputs, tmp_path):
    out = tmp_path / "out"
    batch.run_batch(PRESET, [inputs], out)
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = batch.run_batch(PRESET, [inputs], out)
    assert len(again.skipped) == 3 and not again.done
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == first  # nothing rewritten
    (out / "cell1_seg.json").unlink()
    third = batch.run_batch(PRESET, [inputs], out)
    assert [o.status for o in third.outcomes] == ["skipped", "done", "skipped"]
    assert (out / "cell1_seg.json").exists()


def test_partial_and_truncated_files_never_count_as_done(inputs, tmp_path):
    out = tmp_path / "out"
    batch.run_batch(PRESET, [inputs], out)
    # an interrupted run: a leftover temporary file, a truncated record, a truncated mask
    (out / "cell0_seg.json").unlink()
    (out / ".cell0_seg.json.abc123.partial").write_text('{"kind": "segmenter result", "inp')
    text = (out / "cell1_seg.json").read_text()
    (out / "cell1_seg.json").write_text(text[: len(text) // 2])
    data = (out / "cell2_seg.ome.tif").read_bytes()
    (out / "cell2_seg.ome.tif").write_bytes(data[: len(data) // 3])
    summary = batch.run_batch(PRESET, [inputs], out)
    assert [o.status for o in summary.outcomes] == ["done", "done", "done"]
    for i in range(3):
        assert read_record(out / f"cell{i}_seg.json")["output"]["shape"] == [4, 32, 32]
        assert io.read_image(out / f"cell{i}_seg.ome.tif").shape == (4, 32, 32)


def test_result_of_another_workflow_is_kept_unless_overwrite(inputs, tmp_path):
    out = tmp_path / "out"
    batch.run_batch(PRESET, [inputs / "cell0.ome.tif"], out)
    before = (out / "cell0_seg.json").read_text()
    tuned = workflow.load_preset(PRESET).with_parameters("mask", min_size=1)
    summary = batch.run_batch(tuned, [inputs / "cell0.ome.tif"], out)
    assert not summary.ok and "another workflow" in summary.failed[0].error
    assert (out / "cell0_seg.json").read_text() == before
    summary = batch.run_batch(tuned, [inputs / "cell0.ome.tif"], out, overwrite=True)
    assert len(summary.done) == 1
    assert read_record(out / "cell0_seg.json")["workflow"] == json.loads(json.dumps(tuned.to_dict()))


def test_failed_files_are_reported_and_the_batch_goes_on(inputs, tmp_path):
    (inputs / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 20)  # a TIFF header, then nothing
    (inputs / "text.tif").write_text("not an image")
    tifffile.imwrite(inputs / "flat.tif", field(5)[0])  # 2D: wrong dimensions
    out = tmp_path / "out"
    seen = []
    summary = batch.run_batch(PRESET, [inputs], out, on_outcome=seen.append)
    assert not summary.ok and len(summary.done) == 3 and len(seen) == 6
    failed = {os.path.basename(o.input): o.error for o in summary.failed}
    assert set(failed) == {"broken.tif", "text.tif", "flat.tif"}
    assert "corrupt" in failed["text.tif"] and "2D" in failed["flat.tif"]
    assert not (out / "broken_seg.json").exists() and not (out / "broken_seg.ome.tif").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_channel_of_a_multichannel_file(tmp_path):
    data = np.stack([field(1), field(2)], axis=1)  # (Z, C, Y, X)
    tifffile.imwrite(tmp_path / "two.tif", data, imagej=True,
                     metadata={"axes": "ZCYX", "spacing": 0.29, "unit": "um"}, resolution=(1 / 0.108, 1 / 0.108))
    out = tmp_path / "out"
    summary = batch.run_batch(PRESET, [tmp_path / "two.tif"], out)
    assert not summary.ok and "2 channels" in summary.failed[0].error and "--channel" in summary.failed[0].error
    summary = batch.run_batch(PRESET, [tmp_path / "two.tif"], out, channel=1)
    assert summary.ok
    expected = workflow.run(workflow.load_preset(PRESET), field(2)).mask
    mask = io.read_image(out / "two_c1_seg.ome.tif")
    np.testing.assert_array_equal(mask.data > 0, expected)
    assert mask.voxel_size == pytest.approx(VOXEL)
    assert read_record(out / "two_c1_seg.json")["input"]["channel"] == {"index": 1, "name": "Channel:1"}
    # another channel is another result, under its own name
    summary = batch.run_batch(PRESET, [tmp_path / "two.tif"], out, channel=0)
    assert summary.ok and not (out / "two_seg.ome.tif").exists()
    np.testing.assert_array_equal(io.read_image(out / "two_c0_seg.ome.tif").data > 0,
                                  workflow.run(workflow.load_preset(PRESET), field(1)).mask)
    again = batch.run_batch(PRESET, [tmp_path / "two.tif"], out, channel="all")
    assert [(o.channel, o.status) for o in again.outcomes] == [(0, "skipped"), (1, "skipped")]


def test_input_expansion(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["z.tif", "a.TIFF", "m.ome.tif", "notes.txt", ".hidden.tif"]:
        (tmp_path / "b" / name).write_bytes(b"x")
    found = batch.expand_inputs([tmp_path / "b"])
    assert [p.name for p in found] == ["a.TIFF", "m.ome.tif", "z.tif"]
    pattern = str(tmp_path / "b" / "*.tif")
    assert [p.name for p in batch.expand_inputs([pattern, tmp_path / "b" / "z.tif"])] == ["m.ome.tif", "z.tif"]
    assert batch.output_paths(tmp_path / "b" / "m.ome.tif", tmp_path / "o") == (
        tmp_path / "o" / "m_seg.ome.tif", tmp_path / "o" / "m_seg.json")
    assert batch.output_paths("a.TIFF", "o")[0].name == "a_seg.ome.tif"


def test_outputs_in_the_input_folder_are_not_taken_as_inputs(inputs):
    first = batch.run_batch(PRESET, [inputs], inputs)
    assert len(first.done) == 3
    again = batch.run_batch(PRESET, [inputs], inputs)
    assert len(again.outcomes) == 3 and len(again.skipped) == 3


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "empty", "has no image files"),
    (lambda root: str(root / "nothing" / "*.tif"), "No files match"),
])
def test_empty_folder_and_unmatched_pattern(tmp_path, make, message):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=message):
        batch.run_batch(PRESET, [make(tmp_path)], tmp_path / "out")


def test_missing_input_and_no_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file or folder"):
        batch.run_batch(PRESET, [tmp_path / "missing.tif"], tmp_path / "out")
    with pytest.raises(ValueError, match="No inputs"):
        batch.run_batch(PRESET, [], tmp_path / "out")


def test_output_that_would_replace_an_input_is_refused(tmp_path):
    io.write_image(tmp_path / "a.tif", field(0))
    io.write_image(tmp_path / "a_seg.ome.tif", field(1))  # an input that is a's output name
    before = (tmp_path / "a_seg.ome.tif").read_bytes()
    with pytest.raises(ValueError, match="one of the inputs"):
        batch.run_batch(PRESET, [tmp_path / "a.tif", tmp_path / "a_seg.ome.tif"], tmp_path)
    assert (tmp_path / "a_seg.ome.tif").read_bytes() == before


def test_two_inputs_with_one_output_name_are_refused(tmp_path):
    (tmp_path / "x").mkdir()
    io.write_image(tmp_path / "a.tif", field(0))
    io.write_image(tmp_path / "x" / "a.ome.tif", field(1))
    with pytest.raises(ValueError, match="both be written"):
        batch.run_batch(PRESET, [tmp_path / "a.tif", tmp_path / "x" / "a.ome.tif"], tmp_path / "out")


def test_unwritable_output_folder_is_refused_before_anything_runs(inputs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ValueError, match="is an existing file"):
        batch.run_batch(PRESET, [inputs], blocker)
    with pytest.raises(ValueError, match="Cannot create the output folder"):
        batch.run_batch(PRESET, [inputs], blocker / "out")  # under a file: fails even as root


def test_bad_workflow_arguments(inputs, tmp_path):
    with pytest.raises(ValueError, match="gja1"):
        batch.run_batch("gja", [inputs], tmp_path / "out")
    with pytest.raises(ValueError, match="workers"):
        batch.run_batch(PRESET, [inputs], tmp_path / "out", workers=0)
    with pytest.raises(ValueError, match="preset name"):
        batch.run_batch(42, [inputs], tmp_path / "out")


def test_saved_workflow_file_gives_the_same_result(inputs, tmp_path):
    tuned = workflow.load_preset(PRESET).with_parameters("mask", min_size=2)
    tuned.save(tmp_path / "tuned.json")
    batch.run_batch(tuned, [inputs / "cell0.ome.tif"], tmp_path / "a")
    batch.run_batch(tmp_path / "tuned.json", [inputs / "cell0.ome.tif"], tmp_path / "b")
    assert read_record(tmp_path / "a" / "cell0_seg.json")["workflow"] == \
        read_record(tmp_path / "b" / "cell0_seg.json")["workflow"]
    assert same_mask(tmp_path / "a" / "cell0_seg.ome.tif", tmp_path / "b" / "cell0_seg.ome.tif")


@pytest.mark.slow  # worker processes start and import the package (and the format readers)
@pytest.mark.parametrize("start_method", ["spawn", batch.POOL_START_METHOD])
def test_two_workers_give_the_same_outputs_as_one(inputs, tmp_path, monkeypatch, start_method):
    monkeypatch.setattr(batch, "POOL_START_METHOD", start_method)
    (inputs / "broken.tif").write_text("not an image")
    one = batch.run_batch(PRESET, [inputs], tmp_path / "one", workers=1)
    two = batch.run_batch(PRESET, [inputs], tmp_path / "two", workers=2)
    assert [os.path.basename(o.input) for o in two.outcomes] == \
        ["broken.tif", "cell0.ome.tif", "cell1.ome.tif", "cell2.ome.tif"]
    expected = ["failed", "done", "done", "done"]
    assert [o.status for o in one.outcomes] == [o.status for o in two.outcomes] == expected
    for i in range(3):
        name = f"cell{i}_seg.ome.tif"
        assert same_mask(tmp_path / "one" / name, tmp_path / "two" / name)


@pytest.mark.slow  # worker processes start and import the package (and the format readers)
def test_dask_cluster_on_loopback(inputs, tmp_path):
    distributed = pytest.importorskip("distributed")
    (inputs / "broken.tif").write_text("not an image")
    # one worker process on loopback: tasks and results really travel through the scheduler
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        summary = batch.run_batch(PRESET, [inputs], tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert [o.status for o in summary.outcomes] == ["failed", "done", "done", "done"]
    reference = batch.run_batch(PRESET, [inputs / "cell1.ome.tif"], tmp_path / "plain")
    assert reference.ok
    assert same_mask(tmp_path / "dask" / "cell1_seg.ome.tif", tmp_path / "plain" / "cell1_seg.ome.tif")


def test_unreachable_scheduler_is_a_clear_error(inputs, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(batch, "DASK_CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ValueError, match="Could not connect to the Dask scheduler"):
        batch.run_batch(PRESET, [inputs], tmp_path / "out", scheduler="tcp://127.0.0.1:9")


# ----------------------------------------------------------------------------------------------
# microscope formats: scenes, time points, channels
# ----------------------------------------------------------------------------------------------

def test_one_result_per_scene_time_and_channel_with_names_that_say_which(tmp_path):
    import format_files

    data = format_files.write_ome_tiff(tmp_path / "cells.ome.tif")  # 2 scenes x 3 times x 2 channels
    out = tmp_path / "out"
    summary = batch.run_batch(PRESET, [tmp_path / "cells.ome.tif"], out, scene="all", time=[0, 2], channel=1)
    assert summary.ok and len(summary.done) == 4
    assert [(o.scene, o.time, o.channel) for o in summary.outcomes] == [(0, 0, 1), (0, 2, 1), (1, 0, 1), (1, 2, 1)]
    preset = workflow.load_preset(PRESET)
    for s, t in ((0, 0), (0, 2), (1, 0), (1, 2)):
        mask = io.read_image(out / f"cells_s{s}_t{t}_c1_seg.ome.tif")
        np.testing.assert_array_equal(mask.data > 0, workflow.run(preset, data[s, t, 1]).mask)
        assert mask.voxel_size == pytest.approx(format_files.VOXEL)
        record = read_record(out / f"cells_s{s}_t{t}_c1_seg.json")
        assert record["input"]["scene"] == {"index": s, "name": f"Image:{s}"}
        assert record["input"]["time"] == t and record["input"]["channel"] == {"index": 1, "name": "Membrane"}
        assert record["input"]["voxel_size_um"] == pytest.approx(list(format_files.VOXEL))
    again = batch.run_batch(PRESET, [tmp_path / "cells.ome.tif"], out, scene="all", time="all", channel="1")
    assert [o.status for o in again.outcomes] == ["skipped", "done", "skipped"] * 2


def test_tags_are_zero_padded_to_the_largest_index(tmp_path):
    import format_files

    format_files.write_imagej_tiff(tmp_path / "hyper.tif", times=11, channels=1, shape=(2, 8, 10))
    summary = batch.run_batch(PRESET, [tmp_path / "hyper.tif"], tmp_path / "out", time=[3, 10])
    assert summary.ok
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ome.tif")) == [
        "hyper_t03_seg.ome.tif", "hyper_t10_seg.ome.tif"]


def test_ome_zarr_folder_is_an_input_and_its_checksum_tracks_changes(tmp_path):
    import format_files

    folder = tmp_path / "in"
    folder.mkdir()
    data = format_files.write_ome_zarr(folder / "volume.ome.zarr", times=1, channels=1)
    io.write_image(folder / "cell.tif", field(0), voxel_size=VOXEL)
    assert [p.name for p in batch.expand_inputs([folder])] == ["cell.tif", "volume.ome.zarr"]
    assert batch.expand_inputs([folder / "volume.ome.zarr"]) == [folder / "volume.ome.zarr"]
    summary = batch.run_batch(PRESET, [folder], tmp_path / "out")
    assert summary.ok and len(summary.done) == 2
    record = read_record(tmp_path / "out" / "volume_seg.json")
    assert record["input"]["format"] == "OME-Zarr" and record["input"]["checksum_of"].startswith("metadata")
    np.testing.assert_array_equal(io.read_image(tmp_path / "out" / "volume_seg.ome.tif").data > 0,
                                  workflow.run(workflow.load_preset(PRESET), data[0, 0, 0]).mask)
    assert len(batch.run_batch(PRESET, [folder], tmp_path / "out").skipped) == 2
    import zarr

    zarr.open_group(str(folder / "volume.ome.zarr"), mode="r+").attrs["edited"] = True
    changed = batch.run_batch(PRESET, [folder / "volume.ome.zarr"], tmp_path / "out")
    assert "a different version of the input" in changed.failed[0].error


@pytest.mark.parametrize("make, choice, fragments", [
    ("ome", {"time": 0, "channel": 0}, ["2 scenes", "--scene"]),
    ("ome", {"scene": 0, "channel": 0}, ["3 time points", "--time 1"]),
    ("ome", {"scene": 0, "time": 0, "channel": 5}, ["`channel=5` is out of range", "0 to 1"]),
    ("ome", {"scene": 2, "time": 0, "channel": 0}, ["`scene=2` is out of range", "0 to 1"]),
    ("flat", {}, ["2D image", "--promote-2d"]),
    ("nd2", {}, ["(ND2) needs the package bioio-nd2", "[formats]"]),
])
def test_per_input_failures_say_how_to_proceed_and_the_batch_goes_on(tmp_path, monkeypatch, make, choice,
                                                                     fragments):
    import sys

    import format_files

    folder = tmp_path / "in"
    folder.mkdir()
    io.write_image(folder / "good.tif", field(0), voxel_size=VOXEL)
    if make == "ome":
        format_files.write_ome_tiff(folder / "bad.ome.tif")
    elif make == "flat":
        format_files.write_plain_2d_tiff(folder / "bad.tif")
    else:
        (folder / "bad.nd2").write_bytes(b"not read")
        monkeypatch.setitem(sys.modules, "bioio_nd2", None)
    summary = batch.run_batch(PRESET, [folder], tmp_path / "out", **choice)
    if choice.get("channel", 0) > 0 or choice.get("scene", 0) > 0:  # out of range for good.tif too
        assert [os.path.basename(o.input) for o in summary.failed] == sorted(p.name for p in folder.iterdir())
    else:
        assert [os.path.basename(o.input) for o in summary.done] == ["good.tif"]
    failed = next(o for o in summary.failed if os.path.basename(o.input).startswith("bad"))
    for fragment in fragments:
        assert fragment in failed.error, failed.error


def test_promote_2d_segments_a_2d_image(tmp_path):
    import format_files

    format_files.write_plain_2d_tiff(tmp_path / "flat.tif")
    summary = batch.run_batch(PRESET, [tmp_path / "flat.tif"], tmp_path / "out", promote_2d=True)
    assert summary.ok and io.read_image(tmp_path / "out" / "flat_seg.ome.tif", promote_2d=True).shape == (1, 8, 10)
    again = batch.run_batch(PRESET, [tmp_path / "flat.tif"], tmp_path / "out", promote_2d=True)
    assert len(again.skipped) == 1


def test_bad_choices_are_refused_before_anything_runs(inputs, tmp_path):
    with pytest.raises(ValueError, match="--channel|`channel`"):
        batch.run_batch(PRESET, [inputs], tmp_path / "out", channel="first")
    with pytest.raises(ValueError, match="`time` must be an index"):
        batch.run_batch(PRESET, [inputs], tmp_path / "out", time=-1)
    assert not (tmp_path / "out").exists()
