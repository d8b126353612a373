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
        assert record["input"]["channel"] is None
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
    assert not summary.ok and "channel" in summary.failed[0].error
    summary = batch.run_batch(PRESET, [tmp_path / "two.tif"], out, channel=1)
    assert summary.ok
    expected = workflow.run(workflow.load_preset(PRESET), field(2)).mask
    np.testing.assert_array_equal(io.read_image(out / "two_seg.ome.tif").data > 0, expected)
    assert read_record(out / "two_seg.json")["input"]["channel"] == 1
    # another channel is another result: kept, not silently replaced
    summary = batch.run_batch(PRESET, [tmp_path / "two.tif"], out, channel=0)
    assert not summary.ok and "channel 1" in summary.failed[0].error


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
    (lambda root: root / "empty", "has no .tif/.tiff files"),
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
