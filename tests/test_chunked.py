"""The block-wise engine (helpers.chunked): the same masks as in memory, on any grid, in any process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.chunked import run_chunked
from helpers.chunked.arrays import InMemoryArray, OmeZarrOutput, ZarrArray, read_ome_zarr_voxel_size
from helpers.chunked.blocks import BlockGrid, core_shape_for
from helpers.chunked.steps import BLOCKWISE, UNSUPPORTED
from helpers.io import read_image
from helpers.registry import ALGORITHMS
from helpers.workflow import from_dict, load_preset, run

SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "data_samples"
#: Small blocks and chunks, so that every sample is cut into many blocks in every direction.
SMALL = {"chunks": (4, 32, 32), "block_mb": 8}


def _sample(name, shape=(24, 96, 96)):
    image = read_image(SAMPLES / f"{name}.ome.tif").data
    return np.ascontiguousarray(image[: shape[0], : shape[1], : shape[2]])


def _chunked(workflow, image, tmp_path, name="out", **options):
    settings = {**SMALL, **options}
    return run_chunked(workflow, image, tmp_path / f"{name}.ome.zarr", **settings)


def test_every_algorithm_is_either_block_wise_or_refused():
    assert set(BLOCKWISE) | set(UNSUPPORTED) == set(ALGORITHMS)
    assert not set(BLOCKWISE) & set(UNSUPPORTED)


@pytest.mark.parametrize("preset", ["tjp1", "gja1", "ctnnb1", "tomm20", "lamp1", "cetn2", "slc25a17"])
def test_presets_give_the_in_memory_mask_exactly(preset, tmp_path):
    workflow = load_preset(preset)
    image = _sample(preset)
    expected = run(workflow, image, keep_intermediates=False).mask
    result = _chunked(workflow, image, tmp_path)
    assert result.shape == image.shape
    got = result.read()
    assert np.array_equal(got, expected), f"{np.sum(got != expected)} voxels differ of {expected.sum()}"
    assert result.foreground_voxels == int(expected.sum()) > 0


@pytest.mark.slow
def test_iterative_smoothing_preset_matches_exactly(tmp_path):
    workflow = load_preset("sec61b")
    image = _sample("sec61b", shape=(16, 80, 80))
    expected = run(workflow, image, keep_intermediates=False).mask
    got = _chunked(workflow, image, tmp_path).read()
    assert np.array_equal(got, expected), f"{np.sum(got != expected)} voxels differ of {expected.sum()}"


def test_watershed_cut_without_memory_for_one_flood_cuts_region_by_region_and_warns(tmp_path, monkeypatch):
    # Then ties between markers of equal value may leave the queue in another order than in memory: a
    # few watershed-line voxels move (8 of 2461 for this crop when this was written).
    from helpers.chunked import watershed_cut
    from helpers.metrics import dice

    monkeypatch.setattr(watershed_cut, "BYTES_PER_VOXEL", 10**9)
    workflow = load_preset("cetn2")
    image = _sample("cetn2")
    expected = run(workflow, image, keep_intermediates=False).mask
    with pytest.warns(UserWarning, match="region by region.*--memory"):
        got = _chunked(workflow, image, tmp_path).read()
    assert dice(got, expected) >= 0.99 and np.sum(got != expected) <= 0.01 * expected.sum()


def test_grid_tiles_the_volume_and_halos_clip_at_faces():
    grid = BlockGrid((10, 7, 5), (4, 3, 5))
    covered = np.zeros((10, 7, 5), dtype=int)
    for block in grid:
        covered[block.core] += 1
        read, inner = block.with_halo((2, 1, 0))
        assert all(r.start >= 0 and r.stop <= s for r, s in zip(read, (10, 7, 5)))
        region = np.arange(350).reshape(10, 7, 5)[read][inner]
        assert np.array_equal(region, np.arange(350).reshape(10, 7, 5)[block.core])
    assert (covered == 1).all() and len(grid) == 3 * 3 * 1


def test_core_shape_respects_memory_chunks_and_whole_planes():
    core = core_shape_for((200, 2048, 2048), bytes_per_voxel=32, memory_bytes=512 * 2**20, halo=8,
                          chunks=(8, 256, 256))
    assert all(c % k == 0 for c, k in zip(core, (8, 256, 256)))
    assert np.prod([c + 16 for c in core]) * 32 <= 512 * 2**20
    planes = core_shape_for((200, 2048, 2048), bytes_per_voxel=16, memory_bytes=512 * 2**20, chunks=(8, 256, 256),
                            whole_planes=True)
    assert planes[1:] == (2048, 2048) and planes[0] % 8 == 0
    with pytest.raises(ValueError, match="more than the"):
        core_shape_for((200, 2048, 2048), bytes_per_voxel=16, memory_bytes=2**20, chunks=(8, 256, 256),
                       whole_planes=True)


def test_output_is_ome_zarr_with_voxel_size_and_record(tmp_path):
    workflow = load_preset("gja1")
    image = _sample("gja1")
    result = _chunked(workflow, image, tmp_path, voxel_size=(0.29, 0.108, 0.108))
    assert read_ome_zarr_voxel_size(result.path) == (0.29, 0.108, 0.108)
    attributes = json.loads((result.path / ".zattrs").read_text())
    assert attributes["multiscales"][0]["axes"][0]["name"] == "z"
    assert attributes["segmenter"]["workflow"]["name"] == "gja1"
    stored = ZarrArray(str(result.path / "0"))
    assert stored.dtype == np.uint8 and set(np.unique(stored.read((slice(None),) * 3))) <= {0, 255}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "scratch or partial folders left behind"


def test_lazy_zarr_input_and_worker_processes(tmp_path):
    workflow = load_preset("tjp1")
    image = _sample("tjp1")
    stored = OmeZarrOutput(tmp_path / "raw.ome.zarr", shape=image.shape, dtype=image.dtype, chunks=(8, 48, 48))
    stored.array.write((slice(None),) * 3, image)
    path = stored.finish()
    import zarr

    lazy = zarr.open_array(str(path / "0"), mode="r")
    expected = run(workflow, image, keep_intermediates=False).mask
    got = _chunked(workflow, lazy, tmp_path, name="two_workers", workers=2).read()
    assert np.array_equal(got, expected)


@pytest.mark.slow
def test_dask_distributed_cluster(tmp_path):
    from helpers.batch import start_local_cluster

    # cetn2: statistics passes, a halo'd filter, objects joined across blocks, and the watershed cut's
    # gathering and whole-mask flood, all through the cluster
    workflow = load_preset("cetn2")
    image = _sample("cetn2", shape=(16, 64, 64))
    stored = OmeZarrOutput(tmp_path / "raw.ome.zarr", shape=image.shape, dtype=image.dtype, chunks=(8, 32, 32))
    stored.array.write((slice(None),) * 3, image)
    source = ZarrArray(str(stored.finish() / "0"))
    expected = run(workflow, image, keep_intermediates=False).mask
    cluster = start_local_cluster(workers=2)
    try:
        got = _chunked(workflow, source, tmp_path, scheduler=cluster.scheduler_address).read()
    finally:
        cluster.close()
    assert expected.sum() > 100 and np.array_equal(got, expected)


def test_refuses_whole_volume_steps_before_running(tmp_path):
    with pytest.raises(ValueError, match="cannot run block by block.*in memory"):
        _chunked(load_preset("lmnb1_interphase"), _sample("lmnb1_interphase"), tmp_path)
    assert not (tmp_path / "out.ome.zarr").exists()


def test_bad_inputs(tmp_path):
    workflow = load_preset("gja1")
    with pytest.raises(ValueError, match=r"\(Z, Y, X\).*channel"):
        _chunked(workflow, np.zeros((2, 4, 16, 16), np.uint16), tmp_path)
    with pytest.raises(ValueError, match="dtype bool"):
        _chunked(workflow, np.zeros((4, 16, 16), bool), tmp_path)
    with pytest.raises(ValueError, match="constant"):
        _chunked(workflow, np.full((8, 64, 64), 7, np.uint16), tmp_path)
    image = _sample("gja1", shape=(8, 64, 64)).astype(np.float32)
    image[3, 10, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _chunked(workflow, image, tmp_path)
    (tmp_path / "taken.ome.zarr").mkdir()
    with pytest.raises(FileExistsError, match="overwrite"):
        _chunked(workflow, _sample("gja1", shape=(8, 64, 64)), tmp_path, name="taken")


def test_in_memory_array_reference_reads_regions():
    values = np.arange(60).reshape(3, 4, 5)
    reference = InMemoryArray(values)
    assert reference.shape == (3, 4, 5)
    assert np.array_equal(reference.read((slice(1, 2), slice(0, 4), slice(2, 5))), values[1:2, :, 2:5])


def test_tuned_workflow_with_custom_steps(tmp_path):
    workflow = from_dict({
        "schema": 1, "name": "custom",
        "steps": [
            {"id": "n", "algorithm": "min_max_normalize", "inputs": {"image": "raw"}, "parameters": {"upper_bound": 1000}},
            {"id": "s", "algorithm": "gaussian_smooth_3d", "inputs": {"image": "n"}, "parameters": {"sigma": 1.5}},
            {"id": "d", "algorithm": "spot_filter_2d", "inputs": {"image": "s"}, "parameters": {"scales": [[1.5, 0.02]]}},
            {"id": "i", "algorithm": "invert", "inputs": {"image": "d"}, "parameters": {}},
            {"id": "m", "algorithm": "mask_image", "inputs": {"image": "d", "mask": "i"}, "parameters": {"value": 0}},
            {"id": "h", "algorithm": "fill_holes", "inputs": {"mask": "d"},
             "parameters": {"min_size": 0, "max_size": 50, "per_slice": False}},
            {"id": "u", "algorithm": "union", "inputs": {"masks": ["m", "h"]}, "parameters": {}},
        ],
        "output": "u"})
    image = _sample("gja1")
    expected = run(workflow, image, keep_intermediates=False).mask
    got = _chunked(workflow, image, tmp_path).read()
    assert np.array_equal(got, expected)


def test_prediction_block_by_block_matches_in_memory(tmp_path):
    import torch

    from helpers import checkpoints, metrics, nets, training_data
    from helpers.chunked.prediction import predict_chunked
    from helpers.prediction import predict_image

    torch.manual_seed(0)
    model = nets.build({"name": "unet3d", "depth": 2, "base_channels": 4})
    path = checkpoints.save_checkpoint(tmp_path / "tiny.pt", model, normalization=training_data.DEFAULT_NORMALIZATION,
                                       iteration=0)
    image = _sample("gja1")
    expected = 1.0 - predict_image(checkpoints.load_checkpoint(path), image, tile_shape=(16, 64, 64))[0]
    threshold = float(np.median(expected))  # the hardest threshold: half of all voxels sit near it
    result = predict_chunked(path, image, tmp_path / "gja1_seg.ome.zarr", threshold=threshold, tile_shape=(16, 64, 64),
                             chunks=(8, 32, 32), block_mb=8, halo=(8, 16, 16))
    probability = ZarrArray(str(tmp_path / "gja1_prob.ome.zarr" / "0")).read((slice(None),) * 3)
    assert np.abs(probability - expected).max() < 1e-3
    assert metrics.dice(result.read(), expected > threshold) >= 0.995


@pytest.mark.slow
def test_command_line_runs_a_multi_time_point_ome_zarr_block_by_block(tmp_path, capsys, monkeypatch):
    import zarr

    from format_files import VOXEL, write_ome_zarr
    from helpers.cli import main

    image = _sample("gja1", shape=(16, 64, 64))
    source = tmp_path / "cells.ome.zarr"
    write_ome_zarr(source, times=2, channels=2, shape=image.shape, chunks=(1, 1, 8, 32, 32))
    stored = zarr.open_array(str(source / "0"), mode="r+")
    stored[0, 1] = image
    stored[1, 1] = image[:, ::-1, :]
    expected = run(load_preset("gja1"), image, keep_intermediates=False).mask
    out = tmp_path / "out"
    arguments = ["run", "gja1", str(source), "-o", str(out), "--channel", "1", "--time", "all", "--no-progress"]
    assert main(arguments + ["--block-wise", "--memory", "2"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cells_t0_c1_seg.json", "cells_t0_c1_seg.ome.zarr", "cells_t1_c1_seg.json", "cells_t1_c1_seg.ome.zarr"]
    first = ZarrArray(str(out / "cells_t0_c1_seg.ome.zarr" / "0")).read((slice(None),) * 3) > 0
    second = ZarrArray(str(out / "cells_t1_c1_seg.ome.zarr" / "0")).read((slice(None),) * 3) > 0
    assert np.array_equal(first, expected) and np.array_equal(second, run(
        load_preset("gja1"), np.ascontiguousarray(image[:, ::-1, :]), keep_intermediates=False).mask)
    assert read_ome_zarr_voxel_size(out / "cells_t0_c1_seg.ome.zarr") == pytest.approx(VOXEL)
    record = json.loads((out / "cells_t1_c1_seg.json").read_text())
    assert record["output"]["block_wise"] and record["input"]["time"] == 1 and record["input"]["channel"]["index"] == 1
    capsys.readouterr()
    assert main(arguments + ["--block-wise", "--memory", "2"]) == 0  # resumed: nothing to do
    assert "2 skipped" in capsys.readouterr().out
    # automatic: an image needing more than --memory runs block by block by itself (here: made to need 4 GB)
    from helpers import batch

    monkeypatch.setattr(batch, "IN_MEMORY_BYTES_PER_VOXEL", 4 * 2**30 // image.size)
    assert main(["run", "gja1", str(source), "-o", str(tmp_path / "auto"), "--channel", "1", "--time", "0",
                 "--memory", "2", "--no-progress"]) == 0
    assert (tmp_path / "auto" / "cells_t0_c1_seg.ome.zarr").is_dir()
