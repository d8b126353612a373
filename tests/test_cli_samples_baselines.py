"""`segmenter samples` and `segmenter baselines`: files, manifest, tables, nothing overwritten."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import cli, io, synthetic


def test_samples_writes_images_truth_and_manifest(capsys, tmp_path):
    out = tmp_path / "samples"
    assert cli.main(["samples", str(out), "--only", "gja1", "dsp", "--no-lamin-set", "--seed", "2",
                     "--shape", "16", "64", "64"]) == 0
    assert "wrote 5 files" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["samples"]) == {"gja1", "dsp"} and manifest["seed"] == 2
    image = io.read_image(out / "gja1.ome.tif")
    truth = io.read_image(out / manifest["samples"]["gja1"]["truth"])
    expected = synthetic.make_sample("gja1", shape=image.shape, seed=2)
    np.testing.assert_array_equal(image.data, expected.image)
    np.testing.assert_array_equal(truth.data > 0, expected.mask)
    assert image.voxel_size == pytest.approx(expected.voxel_size) and truth.voxel_size == image.voxel_size


def test_samples_never_overwrites(capsys, tmp_path):
    out = tmp_path / "samples"
    out.mkdir()
    (out / "gja1.ome.tif").write_bytes(b"mine")
    assert cli.main(["samples", str(out), "--only", "gja1", "--no-lamin-set"]) == 2
    err = capsys.readouterr().err
    assert "left untouched" in err and "--overwrite" in err
    assert (out / "gja1.ome.tif").read_bytes() == b"mine" and not (out / "gja1_truth.ome.tif").exists()
    assert cli.main(["samples", str(out), "--only", "nonexistent"]) == 2
    assert "Choose from" in capsys.readouterr().err


def test_baselines_command(capsys, tmp_path):
    sample = synthetic.make_sample("gja1", shape=(20, 80, 80), seed=1)
    io.write_image(tmp_path / "raw.tif", sample.image, voxel_size=sample.voxel_size)
    io.write_mask(tmp_path / "truth.tif", sample.mask, voxel_size=sample.voxel_size)
    csv = tmp_path / "scores.csv"
    assert cli.main(["baselines", str(tmp_path / "raw.tif"), "--truth", str(tmp_path / "truth.tif"),
                     "--workflow", "gja1", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "workflow gja1" in out and "3D Dice" in out and "yen (global)" in out and "niblack r=" in out
    assert len(out.splitlines()) == 2 + 1 + 22 + 1
    assert len(csv.read_text().splitlines()) == 1 + 14 + 8 * 4
    assert cli.main(["baselines", str(tmp_path / "raw.tif"), "--truth", str(tmp_path / "truth.tif"),
                     "--csv", str(csv)]) == 2
    assert "left untouched" in capsys.readouterr().err


def test_baselines_shape_mismatch(capsys, tmp_path):
    io.write_image(tmp_path / "raw.tif", np.ones((4, 20, 20), np.uint16))
    io.write_mask(tmp_path / "truth.tif", np.ones((4, 10, 20), bool))
    assert cli.main(["baselines", str(tmp_path / "raw.tif"), "--truth", str(tmp_path / "truth.tif")]) == 2
    assert "must match" in capsys.readouterr().err
