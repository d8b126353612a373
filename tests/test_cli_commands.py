"""The `segmenter presets / show / run / cluster` commands: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from batch_inputs import VOXEL, field, write_inputs
from helpers import cli, io, workflow

PRESET = "gja1"


@pytest.fixture
def inputs(tmp_path):
    return write_inputs(tmp_path, 2, ".tif")


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.startswith("segmenter: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_presets_lists_one_line_per_preset(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    presets = workflow.list_presets()
    assert len(lines) == len(presets) >= 20
    gja1 = next(line for line in lines if line.startswith("gja1 "))
    preset = workflow.load_preset("gja1")
    for text in (preset.gene, preset.structure, preset.pattern, preset.description):
        assert text in gja1


def test_show_prints_steps_and_parameters(capsys, tmp_path):
    assert cli.main(["show", "GJA1"]) == 0
    out = capsys.readouterr().out
    preset = workflow.load_preset("gja1")
    for step in preset.steps:
        assert step.id in out and step.algorithm in out
        for name in step.parameters:
            assert f"{name}=" in out
    preset.save(tmp_path / "mine.json")
    assert cli.main(["show", str(tmp_path / "mine.json")]) == 0
    assert capsys.readouterr().out == out


def test_unknown_preset_suggests_the_closest(capsys, inputs, tmp_path):
    assert cli.main(["show", "gja"]) == 2
    one_line_error(capsys, "gja1")
    assert cli.main(["run", "sec61", str(inputs), "-o", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "sec61b")
    assert not (tmp_path / "out").exists()


def test_malformed_workflow_file_names_file_step_and_field(capsys, inputs, tmp_path):
    data = workflow.load_preset(PRESET).to_dict()
    step = data["steps"][-1]
    step["parameters"]["min_size"] = "many"
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(data))
    assert cli.main(["run", str(path), str(inputs), "-o", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "tuned.json", step["id"], "min_size")
    (tmp_path / "broken.json").write_text("{not json")
    assert cli.main(["show", str(tmp_path / "broken.json")]) == 2
    one_line_error(capsys, "broken.json")


def test_run_writes_masks_and_then_skips(capsys, inputs, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", PRESET, str(inputs), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2 done, 0 skipped (already done), 0 failed, of 2 files" in captured.out
    assert "segmenting" in captured.err  # the progress bar goes to stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "cell0_seg.json", "cell0_seg.ome.tif", "cell1_seg.json", "cell1_seg.ome.tif"]
    mask = io.read_image(out / "cell0_seg.ome.tif")
    assert mask.data.dtype == np.uint8 and mask.voxel_size == pytest.approx(VOXEL)
    assert cli.main(["run", PRESET, str(inputs / "*.tif"), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "0 done, 2 skipped" in captured.out and captured.err == ""


def test_run_reports_failed_files_and_exits_non_zero(capsys, inputs, tmp_path):
    (inputs / "corrupt.tif").write_bytes(b"II*\x00" + bytes(50))
    out = tmp_path / "out"
    assert cli.main(["run", PRESET, str(inputs), "-o", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "2 done, 0 skipped (already done), 1 failed, of 3 files" in printed
    failed = [line for line in printed.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "corrupt.tif" in failed[0]
    assert (out / "cell1_seg.json").exists() and not (out / "corrupt_seg.json").exists()


def test_run_channel_of_a_multichannel_file(capsys, tmp_path):
    data = np.stack([field(1), field(2)], axis=1)  # (Z, C, Y, X)
    tifffile.imwrite(tmp_path / "two.tif", data, imagej=True, metadata={"axes": "ZCYX"})
    out = tmp_path / "out"
    assert cli.main(["run", PRESET, str(tmp_path / "two.tif"), "-o", str(out), "--no-progress"]) == 1
    assert "channel" in capsys.readouterr().out
    assert cli.main(["run", PRESET, str(tmp_path / "two.tif"), "-o", str(out), "--channel", "0",
                     "--no-progress"]) == 0
    expected = workflow.run(workflow.load_preset(PRESET), field(1)).mask
    np.testing.assert_array_equal(io.read_image(out / "two_c0_seg.ome.tif").data > 0, expected)


@pytest.mark.parametrize("arguments, fragments", [
    (["run", PRESET, "IN"], ["-o/--output"]),
    (["run", PRESET, "IN", "-o", "OUT", "--workers", "0"], ["--workers", "at least 1"]),
    (["run", PRESET, "-o", "OUT"], ["INPUT"]),
    (["run", PRESET, "IN", "-o", "OUT", "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], ["--workers"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_usage_errors_are_one_line_with_exit_code_2(capsys, inputs, tmp_path, arguments, fragments):
    arguments = [str(inputs) if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in arguments]
    assert cli.main(arguments) == 2
    one_line_error(capsys, *fragments)


def test_input_and_output_errors(capsys, inputs, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli.main(["run", PRESET, str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "has no image files")
    assert cli.main(["run", PRESET, str(tmp_path / "nowhere" / "*.tif"), "-o", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "No files match")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli.main(["run", PRESET, str(inputs), "-o", str(blocker)]) == 2
    one_line_error(capsys, "is an existing file")
    assert cli.main(["run", PRESET, str(inputs), "-o", str(blocker / "masks")]) == 2
    one_line_error(capsys, "Cannot create the output folder")
    io.write_image(inputs / "cell0_seg.ome.tif", field(3))  # an input named like cell0's output
    assert cli.main(["run", PRESET, str(inputs / "cell0.tif"), str(inputs / "cell0_seg.ome.tif"),
                     "-o", str(inputs)]) == 2
    one_line_error(capsys, "one of the inputs")


@pytest.mark.slow  # worker processes start and import the package (and the format readers)
def test_two_workers_match_one(capsys, inputs, tmp_path):
    assert cli.main(["run", PRESET, str(inputs), "-o", str(tmp_path / "one"), "--no-progress"]) == 0
    assert cli.main(["run", PRESET, str(inputs), "-o", str(tmp_path / "two"), "--workers", "2",
                     "--no-progress"]) == 0
    for name in ("cell0_seg.ome.tif", "cell1_seg.ome.tif"):
        np.testing.assert_array_equal(io.read_image(tmp_path / "one" / name).data,
                                      io.read_image(tmp_path / "two" / name).data)


def _cluster_that_never_stops(stop_seconds: int) -> subprocess.Popen:
    """`segmenter cluster` whose cluster's close never returns (a stuck worker), as a child process."""
    code = "\n".join([
        "import sys, time",
        "from helpers import batch, cli",
        f"cli.CLUSTER_STOP_SECONDS = {stop_seconds}",
        "class Hanging:",
        "    scheduler_address = 'tcp://127.0.0.1:1'",
        "    def close(self, timeout=None):",
        "        time.sleep(600)",
        "batch.start_local_cluster = lambda **options: Hanging()",
        "sys.exit(cli.main(['cluster', '--workers', '1']))",
    ])
    # SIGINT ignored on start, as for a job a script puts in the background
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cluster_stop_ends_even_when_the_cluster_hangs(stop):
    server = _cluster_that_never_stops(stop_seconds=2)
    try:
        assert server.stdout.readline().startswith("Dask scheduler at tcp://127.0.0.1:1")
        server.send_signal(stop)
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0
    assert "did not stop in time" in stderr

@pytest.mark.slow  # worker processes start and import the package (and the format readers)
def test_cluster_command_and_run_on_it(inputs, tmp_path):
    pytest.importorskip("distributed")
    segmenter = str(Path(sys.executable).with_name("segmenter"))
    server = subprocess.Popen([segmenter, "cluster", "--workers", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        first = server.stdout.readline()
        assert first.startswith("Dask scheduler at tcp://127.0.0.1:"), first
        address = first.split()[3]
        result = subprocess.run([segmenter, "run", PRESET, str(inputs), "-o", str(tmp_path / "out"),
                                 "--scheduler", address, "--no-progress"], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert "2 done" in result.stdout
        assert (tmp_path / "out" / "cell1_seg.json").exists()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=90)  # the cluster's own close is bounded at 20 s; slack for a loaded CI
        except subprocess.TimeoutExpired:  # pragma: no cover - only if the cluster hangs
            server.kill()
            server.wait()
    assert server.returncode == 0


@pytest.mark.slow  # worker processes start and import the package (and the format readers)
def test_run_with_a_local_dask_cluster(capsys, inputs, tmp_path):
    pytest.importorskip("distributed")
    started = time.perf_counter()
    assert cli.main(["run", PRESET, str(inputs), "-o", str(tmp_path / "out"), "--scheduler", "local",
                     "--workers", "1", "--no-progress"]) == 0
    assert "2 done" in capsys.readouterr().out
    assert time.perf_counter() - started < 60


def test_interrupted_run_says_how_to_resume(capsys, inputs, tmp_path, monkeypatch):
    from helpers import batch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "run_batch", interrupted)
    assert cli.main(["run", PRESET, str(inputs), "-o", str(tmp_path / "out")]) == 130
    assert "Run the same command again" in capsys.readouterr().err


def test_run_scene_time_and_channel_lists_write_one_result_per_stack(capsys, tmp_path):
    import format_files

    format_files.write_ome_tiff(tmp_path / "cells.ome.tif")  # 2 scenes x 3 times x 2 channels
    out = tmp_path / "out"
    assert cli.main(["run", PRESET, str(tmp_path / "cells.ome.tif"), "-o", str(out), "--scene", "1",
                     "--time", "0,2", "--channel", "all", "--no-progress"]) == 0
    assert "4 done, 0 skipped (already done), 0 failed, of 4 stacks from 1 file" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.ome.tif")) == [
        "cells_s1_t0_c0_seg.ome.tif", "cells_s1_t0_c1_seg.ome.tif",
        "cells_s1_t2_c0_seg.ome.tif", "cells_s1_t2_c1_seg.ome.tif"]
    assert cli.main(["run", PRESET, str(tmp_path / "cells.ome.tif"), "-o", str(out), "--scene", "1",
                     "--channel", "0", "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "3 time points" in printed and "--time" in printed


@pytest.mark.parametrize("option", ["--channel", "--scene", "--time"])
@pytest.mark.parametrize("text", ["first", "1-3", "-1"])
def test_bad_index_text_is_a_usage_error_naming_the_option(capsys, inputs, tmp_path, option, text):
    assert cli.main(["run", PRESET, str(inputs), "-o", str(tmp_path / "out"), f"{option}={text}"]) == 2
    one_line_error(capsys, option, "0,2", "all")
    assert not (tmp_path / "out").exists()


def test_predict_takes_the_same_choices():
    parser = cli.build_parser()
    args = parser.parse_args(["predict", "model.pt", "in.czi", "-o", "out", "--scene", "all", "--time", "0,1"])
    assert args.scene.indices is None and args.time.indices == (0, 1) and args.channel is None


def test_info_describes_a_file_and_gives_statistics_for_one_stack(capsys, tmp_path):
    import format_files

    format_files.write_ome_tiff(tmp_path / "cells.ome.tif")
    assert cli.main(["info", str(tmp_path / "cells.ome.tif")]) == 0
    out = capsys.readouterr().out
    for fragment in ("OME-TIFF", "scenes:      2 (Image:0, Image:1)", "0 DNA, 1 Membrane", "time points: 3",
                     "0.29 x 0.108 x 0.108 um", "--scene (0 to 1), --time (0 to 2), --channel (0 to 1)",
                     "choose one stack"):
        assert fragment in out, out
    assert "intensity" not in out
    assert cli.main(["info", str(tmp_path / "cells.ome.tif"), "--scene", "1", "--time", "2", "--channel", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 x 8 x 10 (Z, Y, X)" in out and "Membrane" in out and "suggested auto-contrast" in out
    assert cli.main(["info", str(tmp_path / "cells.ome.tif"), "--scene", "0", "--time", "0", "--channel", "2"]) == 2
    one_line_error(capsys, "`channel=2` is out of range")
    format_files.write_plain_2d_tiff(tmp_path / "flat.tif")
    assert cli.main(["info", str(tmp_path / "flat.tif")]) == 0
    assert "--promote-2d" in capsys.readouterr().out
    assert cli.main(["info", str(tmp_path / "flat.tif"), "--promote-2d"]) == 0
    assert "1 x 8 x 10 (Z, Y, X)" in capsys.readouterr().out


def test_info_names_a_missing_reader(capsys, tmp_path, monkeypatch):
    import sys as system

    (tmp_path / "cells.lif").write_bytes(b"x")
    monkeypatch.setitem(system.modules, "bioio_lif", None)
    assert cli.main(["info", str(tmp_path / "cells.lif")]) == 2
    one_line_error(capsys, "(LIF) needs the package bioio-lif", '"helpers[formats]"')
