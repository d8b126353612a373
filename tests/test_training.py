"""Losses, training data, checkpoints, the training loop, and training / prediction from the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from helpers import checkpoints, cli, io, losses, nets, training, training_data
from helpers.batch import run_batch
from helpers.prediction import ModelSegmenter

TINY_NET = {"name": "unet3d", "depth": 2, "base_channels": 4}


class Payload:
    """An arbitrary Python object: unpickling such objects could run code, so checkpoints refuse them."""


def _blobs(shape, seed):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    truth = np.zeros(shape, bool)
    for _ in range(6):
        centre = [rng.uniform(2, n - 2) for n in shape]
        radius = rng.uniform(2.5, 4.5)
        truth |= ((z - centre[0]) / 0.7) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 < radius ** 2
    image = 400 + 300 * truth + rng.normal(0, 25, shape)
    return image.astype(np.uint16), truth


def _training_folder(folder, count=2, shape=(16, 32, 32), cost=False):
    if folder.exists():  # made already by an earlier step of the same test
        return folder
    folder.mkdir(parents=True)
    for index in range(count):
        image, truth = _blobs(shape, index)
        io.write_image(folder / f"img_{index:03d}.ome.tif", image, voxel_size=(0.29, 0.108, 0.108))
        io.write_mask(folder / f"img_{index:03d}_GT.ome.tif", truth)
        if cost:
            weights = np.ones(shape, np.float32)
            weights[:, :, : shape[2] // 4] = 0  # a strip the curator excluded
            io.write_image(folder / f"img_{index:03d}_CM.ome.tif", weights)
    return folder


# ---------------------------------------------------------------------------------------------- losses

def test_weighted_cross_entropy_by_hand():
    probabilities = torch.tensor([[0.9, 0.2, 0.5], [0.1, 0.8, 0.5]]).reshape(1, 2, 1, 1, 3)
    log_p = probabilities.log()
    target = torch.tensor([0, 1, 1]).reshape(1, 1, 1, 3)
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3
    assert float(losses.weighted_cross_entropy(log_p, target)) == pytest.approx(expected, rel=1e-6)
    cost = torch.tensor([2.0, 0.0, 1.0]).reshape(1, 1, 1, 3)  # the second voxel excluded, the first counts twice
    expected = -(2 * math.log(0.9) + math.log(0.5)) / 3
    assert float(losses.weighted_cross_entropy(log_p, target, cost)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.weighted_cross_entropy(log_p, target, torch.zeros_like(cost))) == 0.0
    total = losses.deep_supervision_loss([log_p, log_p], target, cost, weights=[1.0, 0.5])
    assert float(total) == pytest.approx(1.5 * expected, rel=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda lp, t: losses.weighted_cross_entropy(lp, t[..., :2]), "target"),
    (lambda lp, t: losses.weighted_cross_entropy(lp, t + 5), "classes"),
    (lambda lp, t: losses.weighted_cross_entropy(lp, t, torch.ones(1, 1, 1, 2)), "cost_map"),
    (lambda lp, t: losses.deep_supervision_loss([lp, lp], t, weights=[1]), "one per output"),
    (lambda lp, t: losses.deep_supervision_loss([], t), "empty"),
])
def test_loss_arguments_are_checked(call, match):
    log_p = torch.log_softmax(torch.zeros(1, 2, 1, 1, 3), dim=1)
    with pytest.raises(ValueError, match=match):
        call(log_p, torch.zeros(1, 1, 1, 3, dtype=torch.long))


# ---------------------------------------------------------------------------------------------- data

def test_the_training_folder_is_read_in_the_reference_convention(tmp_path):
    folder = _training_folder(tmp_path / "train", count=2, cost=True)
    items = training_data.find_training_images(folder)
    assert [i.name for i in items] == ["img_000", "img_001"] and all(i.cost is not None for i in items)
    image, classes, cost = training_data.load_training_image(items[0])
    assert image.dtype == np.float32 and classes.dtype == np.int64 and set(np.unique(classes)) == {0, 1}
    assert cost[:, :, :8].max() == 0 and cost[:, :, 8:].min() == 1


@pytest.mark.parametrize("mess, match", [
    (lambda f: (f / "img_001_GT.ome.tif").unlink(), "without a ground truth"),
    (lambda f: (f / "img_001.ome.tif").unlink(), "without their image"),
    (lambda f: [p.unlink() for p in f.iterdir()], "holds no image"),
])
def test_incomplete_training_folders_are_explained(tmp_path, mess, match):
    folder = _training_folder(tmp_path / "train")
    mess(folder)
    with pytest.raises(ValueError, match=match):
        training_data.find_training_images(folder)
    with pytest.raises(FileNotFoundError):
        training_data.find_training_images(tmp_path / "nowhere")


def test_truth_of_another_shape_and_negative_costs_are_refused(tmp_path):
    folder = _training_folder(tmp_path / "train", count=1)
    io.write_mask(folder / "img_000_GT.ome.tif", np.zeros((4, 32, 32), bool), overwrite=True)
    with pytest.raises(ValueError, match="voxel for voxel"):
        training_data.load_training_image(training_data.find_training_images(folder)[0])
    folder = _training_folder(tmp_path / "train2", count=1)
    io.write_image(folder / "img_000_CM.ome.tif", -np.ones((16, 32, 32), np.float32))
    with pytest.raises(ValueError, match=">= 0"):
        training_data.load_training_image(training_data.find_training_images(folder)[0])


def test_validation_split_is_reproducible():
    items = list(range(10))
    first = training_data.split_validation(items, 0.2, seed=3)
    assert first == training_data.split_validation(items, 0.2, seed=3)
    assert len(first[1]) == 2 and sorted(first[0] + first[1]) == items
    assert training_data.split_validation([1], 0.5, seed=0) == ([1], [])
    with pytest.raises(ValueError, match="validation_fraction"):
        training_data.split_validation(items, 1.0, seed=0)


def test_patches_keep_image_truth_and_cost_aligned_and_exclude_padding():
    image = np.zeros((6, 20, 20), np.float32)
    image[:, 5:9, 10:16] = 1
    classes = (image > 0).astype(np.int64)
    cost = np.ones_like(image)
    # an unpadded-network-like output (margin 4 per axis) and an input larger than the image in z
    sampler = training_data.PatchSampler([(image, classes, cost)], (10, 16, 16), (6, 12, 12),
                                         augmentation=training_data.Augmentation(rotate=False, flip=True), seed=1)
    for _ in range(20):
        images, targets, costs = sampler.batch(2)
        assert images.shape == (2, 1, 10, 16, 16) and targets.shape == costs.shape == (2, 6, 12, 12)
        centre = images[:, 0, 2:-2, 2:-2, 2:-2]
        inside = costs > 0
        assert np.array_equal(centre[inside] > 0.5, targets[inside] == 1)  # truth aligned with the image
    rotated = training_data.PatchSampler([(image, classes, cost)], (6, 16, 16), (6, 16, 16),
                                         augmentation=training_data.Augmentation(), seed=2)
    for _ in range(10):
        _, targets, costs = rotated.batch(1)
        assert set(np.unique(targets)) <= {0, 1} and set(np.unique(costs)) <= {0.0, 1.0}


# ---------------------------------------------------------------------------------------------- checkpoints

def test_checkpoints_round_trip_and_unsafe_files_are_refused(tmp_path):
    model = nets.build(TINY_NET)
    path = checkpoints.save_checkpoint(tmp_path / "model.pt", model, normalization=training_data.DEFAULT_NORMALIZATION,
                                       iteration=7, info={"note": "test"})
    loaded = checkpoints.load_checkpoint(path, device="cpu")
    assert loaded.iteration == 7 and loaded.network == model.config and loaded.info["note"] == "test"
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)

    torch.save({"format": checkpoints.FORMAT, "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused"):
        checkpoints.load_checkpoint(tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a helpers checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        checkpoints.load_checkpoint(tmp_path / "broken.pt")
    with pytest.raises(FileNotFoundError):
        checkpoints.load_checkpoint(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------- training

def _config(tmp_path, **changes):
    settings = dict(training_folder=str(_training_folder(tmp_path / "train")), output_folder=str(tmp_path / "model"),
                    network=TINY_NET, patch_shape=[8, 16, 16], batch_size=4, iterations=120, learning_rate=0.02,
                    weight_decay=0.0, validation_fraction=0.0, validate_every=40, validation_patches=4,
                    augmentation={"rotate": False, "flip": True}, seed=0)
    settings.update(changes)
    return training.TrainingConfig(**settings)


def test_a_small_network_learns_a_tiny_synthetic_set(tmp_path):
    torch.set_num_threads(2)
    config = _config(tmp_path)
    result = training.train(config, progress=False)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < 0.5 * first["train_loss"]  # the loss falls
    assert last["validation_dice"] > 0.9  # and it fits the set it saw
    for name in ("checkpoint_last.pt", "checkpoint_best.pt", "history.csv", "curves.png", "config.json"):
        assert (result.output_folder / name).stat().st_size > 0
    assert len((result.output_folder / "history.csv").read_text().splitlines()) == 1 + len(result.history)
    # the best checkpoint predicts the training image well through the tiled prediction
    loaded = checkpoints.load_checkpoint(result.best_checkpoint, device="cpu")
    image, truth = _blobs((16, 32, 32), 0)
    segmenter = ModelSegmenter(result.best_checkpoint)
    mask, _, extra = segmenter.segment(image)
    overlap = (mask & truth).sum() * 2 / (mask.sum() + truth.sum())
    assert overlap > 0.85 and extra["prob"].shape == image.shape and loaded.iteration == 120
    # an earlier training's outputs are never overwritten by accident
    with pytest.raises(FileExistsError, match="left untouched"):
        training.train(_config(tmp_path), progress=False)


def test_training_resumes_from_a_checkpoint(tmp_path):
    config = _config(tmp_path, iterations=20, validate_every=10)
    first = training.train(config, progress=False)
    resumed = training.train(_config(tmp_path, iterations=30, validate_every=10, resume=str(first.last_checkpoint)),
                             progress=False)
    assert [row["iteration"] for row in resumed.history] == [10, 20, 30]
    assert checkpoints.load_checkpoint(resumed.last_checkpoint).iteration == 30


@pytest.mark.parametrize("changes, match", [
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 2.0}, "learning_rate"),
    ({"network": {"depth": 2}}, "name"),
    ({"patch_shape": [8, 16]}, "patch_shape"),
    ({"device": "tpu"}, "device"),
    ({"ignore_class": -1}, "ignore_class"),
    ({"ignore_class": 2}, "ignored class must be one of them"),
    ({"weighting": {"floor": -1}}, "floor"),
    ({"weighting": {"sharpness": 1}}, "Unknown weighting"),
    ({"augmentation": {"noise_mean": 5.0}}, "noise_mean"),
])
def test_bad_settings_are_named(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        training.train(_config(tmp_path, **changes), progress=False)


def _multiclass_folder(folder, *, band):
    """Two examples with classes 0..2 and a band of rows 24.. whose truth is `band` ("ignored": class 4;
    "noise": random classes 0..3, excluded by a cost map of 0 instead)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(2):
        image, blobs = _blobs((16, 32, 32), index)
        truth = blobs.astype(np.uint8)
        truth[:, :, 16:][blobs[:, :, 16:]] = 2
        if band == "ignored":
            truth[:, 24:, :] = 4
        else:
            truth[:, 24:, :] = rng.integers(0, 4, (16, 8, 32))
            cost = np.ones(truth.shape, np.float32)
            cost[:, 24:, :] = 0
            io.write_image(folder / f"img_{index:03d}_CM.ome.tif", cost)
        io.write_image(folder / f"img_{index:03d}.ome.tif", image)
        io.write_image(folder / f"img_{index:03d}_GT.ome.tif", truth)
    return folder


def test_the_ignored_class_is_a_cost_of_zero_and_validation_scores_each_class(tmp_path):
    torch.set_num_threads(2)
    runs = []
    for band, ignore in (("ignored", 4), ("noise", None)):
        config = _config(tmp_path, training_folder=str(_multiclass_folder(tmp_path / band, band=band)),
                         output_folder=str(tmp_path / f"model_{band}"), network=dict(TINY_NET, n_classes=5),
                         iterations=6, validate_every=3, ignore_class=ignore)
        runs.append(training.train(config, progress=False))
    # whatever the truth under the ignored class, training is the same as with that band excluded
    assert [r["train_loss"] for r in runs[0].history] == pytest.approx([r["train_loss"] for r in runs[1].history],
                                                                        rel=1e-5)
    info = checkpoints.load_checkpoint(runs[0].last_checkpoint).info
    per_class = info["validation_dice_per_class"]
    assert per_class and set(per_class) <= {"1", "2", "3"}  # class 4 is never scored
    assert info["history"][-1]["validation_dice"] == pytest.approx(np.mean(list(per_class.values())))


def test_error_weighting_scales_the_training_loss_but_not_validation(tmp_path):
    plain = training.train(_config(tmp_path, output_folder=str(tmp_path / "plain"), iterations=2, validate_every=2),
                           progress=False)
    weighted = training.train(_config(tmp_path, output_folder=str(tmp_path / "weighted"), iterations=2, validate_every=2,
                                      weighting={"floor": 0.1, "class_balance": True, "edge_weight": 5.0}),
                              progress=False)
    # the same first step: identical weights at the start, a different loss because voxels weigh differently
    assert weighted.history[0]["train_loss"] != pytest.approx(plain.history[0]["train_loss"], rel=1e-3)
    assert json.loads((weighted.output_folder / "config.json").read_text())["weighting"]["edge_weight"] == 5.0


def test_noise_of_a_chosen_mean_and_sd_is_added_to_patches():
    image = np.full((8, 16, 16), 0.5, np.float32)
    example = (image, np.zeros(image.shape, np.int64), np.ones(image.shape, np.float32))
    augmentation = training_data.Augmentation(rotate=False, flip=False, noise_mean=0.2, noise_sd=0.05)
    sampler = training_data.PatchSampler([example], (8, 16, 16), (8, 16, 16), augmentation=augmentation, seed=0)
    images = sampler.batch(8)[0]
    assert images.mean() == pytest.approx(0.7, abs=0.005) and images.std() == pytest.approx(0.05, rel=0.05)


def test_configuration_files_resolve_relative_folders_and_reject_unknown_settings(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"training_folder": "train", "output_folder": "out"}))
    config = training.TrainingConfig.from_file(tmp_path / "cfg.json")
    assert config.training_folder == str(tmp_path / "train") and config.learning_rate == 1e-5
    (tmp_path / "bad.json").write_text(json.dumps({"training_folder": "t", "output_folder": "o", "epochs": 3}))
    with pytest.raises(ValueError, match="unknown setting"):
        training.TrainingConfig.from_file(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------------------- command line

def test_train_and_predict_from_the_command_line(tmp_path, capsys):
    config = _config(tmp_path, iterations=40, validate_every=20)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    assert cli.main(["train", str(path), "--no-progress"]) == 0
    assert "best checkpoint" in capsys.readouterr().out
    checkpoint = tmp_path / "model" / "checkpoint_best.pt"
    inputs = tmp_path / "train"
    out = tmp_path / "predicted"
    assert cli.main(["predict", str(checkpoint), str(inputs / "img_000.ome.tif"), "-o", str(out), "--no-progress"]) == 0
    assert "1 done" in capsys.readouterr().out
    record = json.loads((out / "img_000_seg.json").read_text())
    assert record["workflow"]["kind"] == "model" and record["output"]["extra"] == ["img_000_prob.ome.tif"]
    probability = io.read_image(out / "img_000_prob.ome.tif")
    assert probability.data.dtype == np.float32 and probability.voxel_size == pytest.approx((0.29, 0.108, 0.108))
    assert cli.main(["predict", str(checkpoint), str(inputs / "img_000.ome.tif"), "-o", str(out), "--no-progress"]) == 0
    assert "1 skipped" in capsys.readouterr().out
    summary = run_batch(ModelSegmenter(checkpoint, threshold=0.9), [inputs / "img_000.ome.tif"], out)
    assert summary.failed and "another workflow" in summary.failed[0].error  # a different threshold: not mixed up
    assert cli.main(["predict", str(tmp_path / "none.pt"), str(inputs), "-o", str(out)]) == 2


def test_examples_are_written_in_the_folder_convention_and_never_overwritten(tmp_path):
    image, truth = _blobs((8, 24, 24), 3)
    item = training_data.write_training_example(tmp_path / "set", "img_007", image, truth, cost=np.ones(image.shape))
    assert [p.name for p in (item.image, item.truth, item.cost)] == ["img_007.ome.tif", "img_007_GT.ome.tif",
                                                                     "img_007_CM.ome.tif"]
    assert training_data.find_training_images(tmp_path / "set") == [item]
    loaded = training_data.load_training_image(item)
    assert np.array_equal(loaded[1], truth.astype(np.int64))
    with pytest.raises(FileExistsError, match="left untouched"):
        training_data.write_training_example(tmp_path / "set", "img_007", image, truth)
    with pytest.raises(ValueError, match="plain file name"):
        training_data.write_training_example(tmp_path / "set", "img_GT", image, truth)


def test_a_2d_network_trains_and_predicts_stacks_slice_by_slice(tmp_path):
    config = _config(tmp_path, network={"name": "msdnet", "depth": 6, "max_dilation": 3, "dimensions": 2},
                     patch_shape=[1, 32, 32], iterations=30, validate_every=15, learning_rate=0.01)
    result = training.train(config, progress=False)
    assert [row["iteration"] for row in result.history] == [15, 30]
    image, _ = _blobs((16, 32, 32), 0)
    mask, _, extra = ModelSegmenter(result.best_checkpoint).segment(image)
    assert mask.shape == image.shape and 0 <= extra["prob"].min() and extra["prob"].max() <= 1
