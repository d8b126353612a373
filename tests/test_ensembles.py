"""Top-k ensembles (known answers with constant networks), ranking, seed comparison, the EM generator."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from helpers import ensembles, training, training_data
from helpers.checkpoints import save_checkpoint
from helpers.inference import predict
from helpers.nets import MSDNet, UNet3D
from helpers.synthetic import em_cells

torch.set_num_threads(1)

NORMALIZATION = training_data.check_normalization(None)
OTHER_NORMALIZATION = training_data.check_normalization({"algorithm": "min_max_normalize"})


def _constant_network(probabilities):
    """A network whose output is ``probabilities`` (one per class) in every voxel, whatever the input."""
    net = MSDNet(depth=1, max_dilation=1, n_classes=len(probabilities))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        net.head.bias.copy_(torch.log(torch.tensor(probabilities, dtype=torch.float32)))
    return net


def _save(path, net, *, dice, loss=0.5, normalization=NORMALIZATION):
    info = {"best_validation_dice": dice,
            "history": [{"iteration": 3, "train_loss": 1.0, "validation_loss": loss, "validation_dice": dice}]}
    return save_checkpoint(path, net, normalization=normalization, iteration=3, info=info)


@pytest.fixture
def constant_checkpoints(tmp_path):
    """Three constant two-class networks: (p0, p1) and their validation Dice and loss."""
    made = {}
    for name, p, dice, loss in [("a", (0.2, 0.8), 0.5, 0.2), ("b", (0.6, 0.4), 0.9, 0.4), ("c", (0.9, 0.1), 0.7, 0.3)]:
        made[name] = _save(tmp_path / f"{name}.pt", _constant_network(p), dice=dice, loss=loss)
    return made


IMAGE = np.random.default_rng(0).uniform(0, 1000, (4, 12, 10)).astype(np.float32)


# ------------------------------------------------------------------------------------- ranking

def test_ranking_order_by_each_score(constant_checkpoints, tmp_path):
    paths = [constant_checkpoints[n] for n in "abc"]
    ranked = ensembles.rank_checkpoints(paths)
    assert [r.path.name for r in ranked] == ["b.pt", "c.pt", "a.pt"]
    assert [r.score for r in ranked] == [0.9, 0.7, 0.5]
    assert ranked[0].network == "msdnet" and ranked[0].iteration == 3
    by_loss = ensembles.rank_checkpoints(paths, by="validation_loss")  # smaller is better
    assert [r.path.name for r in by_loss] == ["a.pt", "c.pt", "b.pt"]
    # a training folder stands for its checkpoint_best.pt
    folder = tmp_path / "training"
    folder.mkdir()
    shutil.copy(constant_checkpoints["c"], folder / "checkpoint_best.pt")
    assert ensembles.rank_checkpoints(folder)[0].path == folder / "checkpoint_best.pt"


def test_ranking_refuses_what_it_cannot_rank(constant_checkpoints, tmp_path):
    with pytest.raises(ValueError, match="`by` must be one of"):
        ensembles.rank_checkpoints([constant_checkpoints["a"]], by="accuracy")
    with pytest.raises(FileNotFoundError, match="without checkpoint_best.pt"):
        ensembles.rank_checkpoints([tmp_path])
    with pytest.raises(FileNotFoundError, match="No checkpoint file"):
        ensembles.rank_checkpoints([tmp_path / "missing.pt"])
    with pytest.raises(ValueError, match="empty"):
        ensembles.rank_checkpoints([])
    untrained = save_checkpoint(tmp_path / "untrained.pt", _constant_network((0.5, 0.5)), normalization=NORMALIZATION,
                                iteration=0)
    with pytest.raises(ValueError, match="holds no 'best_validation_dice'"):
        ensembles.rank_checkpoints([untrained])


# ------------------------------------------------------------------------------------- ensembles

def test_top_k_averages_the_probabilities_of_the_k_best(constant_checkpoints):
    paths = [constant_checkpoints[n] for n in "abc"]
    ensemble = ensembles.TopKEnsemble(paths, k=2)  # b (0.6, 0.4) and c (0.9, 0.1)
    assert ensemble.k == 2 and [p.name for p in ensemble.paths] == ["b.pt", "c.pt"]
    assert ensemble.scores == [0.9, 0.7] and ensemble.normalization == NORMALIZATION
    probabilities = predict(ensemble, training_data.normalize(IMAGE, ensemble.normalization), device="cpu")
    assert probabilities.shape == (2, *IMAGE.shape)
    assert np.allclose(probabilities[0], 0.75, atol=1e-6) and np.allclose(probabilities[1], 0.25, atol=1e-6)
    # not the mean of the log-probabilities (a geometric mean: 0.735 / 0.265 once renormalized)
    geometric = math.sqrt(0.6 * 0.9) / (math.sqrt(0.6 * 0.9) + math.sqrt(0.4 * 0.1))
    assert abs(probabilities[0].mean() - geometric) > 0.01
    # all three, and the member-by-member function, agree
    every = ensembles.predict_ensemble(paths, IMAGE, device="cpu")
    assert np.allclose(every[1], (0.8 + 0.4 + 0.1) / 3, atol=1e-6)
    assert np.allclose(ensembles.predict_ensemble(paths, IMAGE, k=2, device="cpu"), probabilities, atol=1e-6)


def test_ensemble_of_identical_networks_is_the_single_network(tmp_path):
    torch.manual_seed(1)
    net = UNet3D(depth=2, base_channels=3, n_classes=3, pooling=(1, 2, 2)).eval()
    first = _save(tmp_path / "one.pt", net, dice=0.8)
    second = shutil.copy(first, tmp_path / "two.pt")
    normalized = training_data.normalize(IMAGE, NORMALIZATION)
    single = predict(net, normalized, tile_shape=(4, 8, 8), device="cpu")
    ensemble = ensembles.TopKEnsemble([first, second])
    assert ensemble.valid_input_shape((3, 7, 9)) == (3, 8, 10) and ensemble.margin == (0, 0, 0)
    together = predict(ensemble, normalized, tile_shape=(4, 8, 8), device="cpu")
    assert np.allclose(together, single, atol=1e-5)
    one_by_one = ensembles.predict_ensemble([first, second], IMAGE, tile_shape=(4, 8, 8), device="cpu")
    assert np.allclose(one_by_one, single, atol=1e-5)
    assert not np.allclose(single[0], single[0].mean())  # a real, varying prediction


def test_bad_ensembles_are_refused(constant_checkpoints, tmp_path):
    paths = [constant_checkpoints[n] for n in "abc"]
    with pytest.raises(ValueError, match="`k` = 4 but only 3 checkpoint"):
        ensembles.TopKEnsemble(paths, k=4)
    with pytest.raises(ValueError, match="`k` must be a whole number >= 1"):
        ensembles.TopKEnsemble(paths, k=0)
    with pytest.raises(ValueError, match="`k` = 5 but only 3"):
        ensembles.predict_ensemble(paths, IMAGE, k=5)
    other = _save(tmp_path / "other.pt", _constant_network((0.5, 0.5)), dice=0.95, normalization=OTHER_NORMALIZATION)
    with pytest.raises(ValueError, match="normalize images differently"):
        ensembles.TopKEnsemble([*paths, other])
    with pytest.raises(ValueError, match="normalize images differently"):
        ensembles.predict_ensemble([*paths, other], IMAGE, device="cpu")
    three = _save(tmp_path / "three.pt", _constant_network((0.2, 0.3, 0.5)), dice=0.95)
    with pytest.raises(ValueError, match="different numbers of classes"):
        ensembles.TopKEnsemble([paths[0], three])


# ------------------------------------------------------------------------------------- seeds

def _em_training_folder(folder):
    for index in range(3):
        volume = em_cells.make_volume(shape=(8, 32, 32), seed=index)
        training_data.write_training_example(folder, f"img_{index:03d}", volume.image, volume.labels,
                                             voxel_size=volume.voxel_size)
    return folder


@pytest.mark.slow
def test_compare_seeds_trains_each_seed_once_and_summarises(tmp_path):
    folder = _em_training_folder(tmp_path / "data")
    config = training.TrainingConfig(
        training_folder=str(folder), output_folder=str(tmp_path / "models" / "msd"),
        network={"name": "msdnet", "depth": 2, "max_dilation": 2, "n_classes": 5}, patch_shape=[4, 16, 16],
        batch_size=1, iterations=2, validate_every=2, validation_patches=1, learning_rate=1e-3,
        augmentation={}, weighting={"floor": 0.1}, device="cpu",
    )
    seen = []

    def evaluate(path):
        seen.append(path)
        return {"score": 1.0 if path.parent.name == "seed_3" else 3.0}

    comparison = ensembles.compare_seeds(config, (3, 5), evaluate=evaluate)
    runs = comparison.runs
    assert list(runs["seed"]) == [3, 5] and list(runs["architecture"]) == ["msdnet", "msdnet"]
    assert [p.parent.name for p in seen] == ["seed_3", "seed_5"]
    assert all(p.name == "checkpoint_best.pt" and p.is_file() for p in seen)
    assert runs["best_validation_dice"].between(0, 1).all()
    assert comparison.summary.loc["msdnet", ("score", "mean")] == pytest.approx(2.0)
    assert comparison.summary.loc["msdnet", ("score", "sd")] == pytest.approx(math.sqrt(2.0))
    assert comparison.summary.loc["msdnet", ("seeds", "count")] == 2
    assert comparison.scores() == ["best_validation_dice", "score"]
    # the two seeds start from different weights
    from helpers.checkpoints import load_checkpoint
    weights = [load_checkpoint(p, device="cpu").model.head.weight for p in seen]
    assert not torch.equal(*weights)
    # a second run reuses the finished trainings
    stamps = [p.stat().st_mtime_ns for p in seen]
    again = ensembles.compare_seeds({"msd": config}, [3, 5], evaluate=lambda path: {"score": 0.0})
    assert [p.stat().st_mtime_ns for p in seen] == stamps
    assert list(again.summary.index) == ["msd"]
    figure = ensembles.plot_seed_comparison(comparison, "score")
    assert figure.axes[0].get_ylabel() == "score"
    with pytest.raises(ValueError, match="not a score of this comparison"):
        ensembles.plot_seed_comparison(comparison, "accuracy")
    # the ensemble of the two seeds works on raw images
    probabilities = ensembles.predict_ensemble(seen, em_cells.make_volume((8, 32, 32), seed=9).image, k=2,
                                               device="cpu")
    assert probabilities.shape == (5, 8, 32, 32)
    assert np.allclose(probabilities.sum(axis=0), 1, atol=1e-5)


@pytest.mark.parametrize("arguments, match", [
    ({"seeds": []}, "distinct whole numbers"),
    ({"seeds": [1, 1]}, "distinct whole numbers"),
    ({"seeds": [-1]}, "distinct whole numbers"),
    ({"evaluate": None}, "`evaluate` must be a function"),
    ({"config": "config.json"}, "must be a TrainingConfig"),
])
def test_compare_seeds_checks_its_arguments(arguments, match, tmp_path):
    config = training.TrainingConfig(training_folder=str(tmp_path), output_folder=str(tmp_path / "out"))
    call = {"config": config, "seeds": [0], "evaluate": lambda path: {}}
    call.update(arguments)
    with pytest.raises(ValueError, match=match):
        ensembles.compare_seeds(call.pop("config"), call.pop("seeds"), **call)
    assert not (tmp_path / "out").exists()  # nothing trained


# ------------------------------------------------------------------------------------- EM volumes

def test_em_volume_is_deterministic_with_the_documented_classes():
    first = em_cells.make_volume(shape=(12, 40, 48), seed=4)
    second = em_cells.make_volume(shape=(12, 40, 48), seed=4)
    other = em_cells.make_volume(shape=(12, 40, 48), seed=5)
    assert np.array_equal(first.image, second.image) and np.array_equal(first.labels, second.labels)
    assert not np.array_equal(first.labels, other.labels)
    assert first.image.dtype == np.uint8 and first.labels.dtype == np.uint8
    assert first.image.shape == first.labels.shape == (12, 40, 48)
    assert first.voxel_size == em_cells.VOXEL_SIZE
    big = em_cells.make_volume()
    assert set(np.unique(big.labels).tolist()) == set(em_cells.CLASS_NAMES) == {0, 1, 2, 3, 4}
    assert set(em_cells.ORGANELLE_CLASSES) < set(em_cells.CLASS_NAMES)
    # EM contrast: membranes and mitochondria dark, extracellular space and cytoplasm light
    means = {c: big.image[big.labels == c].mean() for c in em_cells.CLASS_NAMES}
    assert means[2] < means[1] and means[4] < means[1] < means[0]
    # cytoplasm fills most of a cell; membranes, nuclei and mitochondria are smaller shares
    shares = np.bincount(big.labels.ravel(), minlength=5) / big.labels.size
    assert shares.argmax() == 1 and 0.05 < shares[2] < 0.3
    assert all(0.01 < shares[c] < 0.15 for c in em_cells.ORGANELLE_CLASSES)


@pytest.mark.parametrize("arguments, match", [
    ({"shape": (4, 32, 32)}, "at least"),
    ({"shape": (16, 48)}, "shape"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
])
def test_em_volume_bad_arguments(arguments, match):
    with pytest.raises(ValueError, match=match):
        em_cells.make_volume(**arguments)
