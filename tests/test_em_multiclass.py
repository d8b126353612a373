"""The multi-class EM path: the FIB-SEM-like generator, per-class clean-up and objects, ignore_class training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from helpers import losses, multiclass, training, training_data
from helpers.synthetic import em_nucleus

SMALL = (24, 64, 64)


@pytest.fixture(scope="module")
def volume():
    return em_nucleus.make_volume(seed=0)


# --------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------

def test_volume_shapes_dtypes_and_classes(volume):
    assert volume.image.shape == volume.labels.shape == volume.chromosomes.shape == (48, 128, 128)
    assert volume.image.dtype == np.uint8 and volume.labels.dtype == np.uint8 and volume.chromosomes.dtype == np.int32
    assert volume.voxel_size == em_nucleus.DEFAULT_VOXEL_SIZE
    assert set(np.unique(volume.labels).tolist()) == {0, 1, 2, 3, 4}
    assert len(em_nucleus.CLASS_NAMES) == 5 and em_nucleus.CLASS_NAMES[em_nucleus.IGNORE_CLASS] == "outside nucleus"
    # most of the field is nucleus, but a real share of it is outside (the class the loss ignores)
    outside = np.mean(volume.labels == em_nucleus.IGNORE_CLASS)
    assert 0.05 < outside < 0.5


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_chromosome_instances_are_the_26_connected_components(seed):
    volume = em_nucleus.make_volume(shape=(40, 112, 112), seed=seed)
    assert np.array_equal(volume.chromosomes > 0, volume.labels == em_nucleus.CHROMOSOME_CLASS)
    count = volume.chromosome_count
    assert count >= 3
    assert set(np.unique(volume.chromosomes).tolist()) == set(range(count + 1))
    _, found = ndimage.label(volume.labels == 2, structure=np.ones((3, 3, 3)))
    assert found == count
    # each instance is one component on its own
    for number in range(1, count + 1):
        assert ndimage.label(volume.chromosomes == number, structure=np.ones((3, 3, 3)))[1] == 1


def test_same_seed_same_volume_and_other_seed_another():
    a = em_nucleus.make_volume(shape=SMALL, seed=5)
    b = em_nucleus.make_volume(shape=SMALL, seed=5)
    c = em_nucleus.make_volume(shape=SMALL, seed=6)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.chromosomes, b.chromosomes)
    assert not np.array_equal(a.labels, c.labels)


def test_dense_structures_are_dark_on_lighter_nucleoplasm(volume):
    mean = {c: volume.image[volume.labels == c].mean() for c in range(5)}
    for dense in (1, 2, 3):
        assert mean[dense] < mean[0] - 40, (dense, mean)
    assert mean[3] < mean[2]  # the synaptonemal complex is the densest line along a chromosome


def test_brightness_drifts_along_z(volume):
    nucleoplasm = volume.labels == 0
    first = volume.image[:8][nucleoplasm[:8]].mean()
    last = volume.image[-8:][nucleoplasm[-8:]].mean()
    assert first > last + 5


def test_contrast_changes_grey_levels_only(volume):
    changed = em_nucleus.make_volume(seed=0, contrast={"gamma": 1.8, "gain": 0.8, "offset": 0.1})
    assert np.array_equal(changed.labels, volume.labels)
    assert np.abs(changed.image.astype(int) - volume.image).mean() > 20
    # a monotone change: the order of the classes' mean grey levels is kept
    order = np.argsort([volume.image[volume.labels == c].mean() for c in range(5)])
    assert np.array_equal(order, np.argsort([changed.image[changed.labels == c].mean() for c in range(5)]))
    assert changed.contrast == em_nucleus.Contrast(gamma=1.8, gain=0.8, offset=0.1)


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": (10, 64, 64)}, "at least"),
    ({"shape": (24, 64)}, "shape"),
    ({"contrast": {"gama": 2}}, "unknown key"),
    ({"contrast": {"gamma": 0}}, "gamma"),
    ({"contrast": "dark"}, "Contrast"),
    ({"voxel_size": (0, 0.05, 0.05)}, "voxel_size"),
    ({"noise_sd": -1}, "noise_sd"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_generator_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        em_nucleus.make_volume(**kwargs)


# --------------------------------------------------------------------------------------------
# per-class small-object removal, components, summary, figure
# --------------------------------------------------------------------------------------------

def _known_objects():
    labels = np.zeros((10, 20, 20), np.uint8)
    labels[1, 1, 1:6] = 1           # class 1: 5 voxels
    labels[4:6, 2:4, 10:15] = 1     # class 1: 20 voxels
    labels[8, 15, 15:18] = 2        # class 2: 3 voxels
    labels[7:9, 1:6, 15] = 2        # class 2: 10 voxels
    labels[1, 18, 18] = 3           # class 3: 1 voxel, not named: untouched
    return labels


def test_remove_small_per_class_keeps_what_is_large_enough():
    labels = _known_objects()
    before = labels.copy()
    cleaned = multiclass.remove_small_per_class(labels, {1: 10, 2: 5})
    assert np.array_equal(labels, before)  # input untouched
    assert cleaned.dtype == labels.dtype
    assert (cleaned == 1).sum() == 20 and (cleaned == 2).sum() == 10 and (cleaned == 3).sum() == 1
    assert (cleaned == 0).sum() == (labels == 0).sum() + 5 + 3
    assert np.array_equal(multiclass.remove_small_per_class(labels, {1: 0, 2: 0}), labels)
    # an object exactly as large as the size is kept
    assert (multiclass.remove_small_per_class(labels, {1: 20}) == 1).sum() == 20


def test_removed_objects_take_a_given_class_or_their_surroundings():
    labels = np.zeros((9, 9, 9), np.uint8)
    labels[1:8, 1:8, 1:8] = 1  # a nucleolus
    labels[4, 4, 4] = 2        # a speck of chromosome inside it
    labels[0, 0, 8] = 2        # a speck in the nucleoplasm
    filled = multiclass.remove_small_per_class(labels, {2: 2}, fill_with="surrounding")
    assert filled[4, 4, 4] == 1 and filled[0, 0, 8] == 0 and (filled == 2).sum() == 0
    assert multiclass.remove_small_per_class(labels, {2: 2}, fill_with=3)[4, 4, 4] == 3


def test_26_and_6_connectivity_on_a_diagonal_pair():
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[1, 1, 1] = labels[2, 2, 2] = 2  # touching only at a corner
    assert multiclass.components(labels, 2).max() == 1
    assert multiclass.components(labels, 2, connectivity=6).max() == 2
    assert multiclass.components(labels, 2, connectivity=18).max() == 2
    assert (multiclass.remove_small_per_class(labels, {2: 2}) == 2).sum() == 2
    assert (multiclass.remove_small_per_class(labels, {2: 2}, connectivity=6) == 2).sum() == 0


def test_components_of_a_union_of_classes():
    labels = np.zeros((3, 3, 9), np.uint8)
    labels[1, 1, 1:4] = 2
    labels[1, 1, 4] = 3  # links the two chromosome pieces
    labels[1, 1, 5:8] = 2
    assert multiclass.components(labels, 2).max() == 2
    joined = multiclass.components(labels, (2, 3))
    assert joined.max() == 1 and joined.dtype == np.int32 and (joined > 0).sum() == 7


def test_components_count_the_generated_chromosomes(volume):
    assert multiclass.components(volume.labels, 2).max() == volume.chromosome_count


@pytest.mark.parametrize("call, message", [
    (lambda l: multiclass.remove_small_per_class(l, {1: -1}), "min_sizes"),
    (lambda l: multiclass.remove_small_per_class(l, {-1: 10}), "class ids"),
    (lambda l: multiclass.remove_small_per_class(l, {}), "non-empty dict"),
    (lambda l: multiclass.remove_small_per_class(l, [1000]), "dict"),
    (lambda l: multiclass.remove_small_per_class(l, {1: 10}, fill_with="nearest"), "surrounding"),
    (lambda l: multiclass.remove_small_per_class(l, {1: 10}, fill_with=300), "dtype"),
    (lambda l: multiclass.remove_small_per_class(l, {1: 10}, connectivity=8), "6, 18 or 26"),
    (lambda l: multiclass.remove_small_per_class(l.astype(float), {1: 10}), "integers"),
    (lambda l: multiclass.components(l, 1.5), "class ids"),
    (lambda l: multiclass.components(l, []), "empty"),
    (lambda l: multiclass.components(l[0], 1), "3D"),
])
def test_bad_multiclass_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(_known_objects())


def test_class_summary_counts_voxels_and_objects():
    labels = _known_objects()
    table = multiclass.class_summary(labels, ["nucleoplasm", "nucleolus", "chromosome", "complex", "outside"],
                                     voxel_size=(0.1, 0.1, 0.1))
    rows = table.set_index("class")
    assert list(rows.index) == [0, 1, 2, 3, 4]  # every named class, present or not
    assert rows.loc[1, "voxels"] == 25 and rows.loc[1, "objects"] == 2 and rows.loc[1, "name"] == "nucleolus"
    assert rows.loc[2, "voxels"] == 13 and rows.loc[3, "objects"] == 1 and rows.loc[4, "voxels"] == 0
    assert rows["fraction"].sum() == pytest.approx(1.0)
    assert rows.loc[1, "volume_um3"] == pytest.approx(0.025)
    ignored = multiclass.class_summary(labels, ignore=0).set_index("class")
    assert 0 not in ignored.index and ignored.loc[1, "fraction"] == pytest.approx(25 / 39)
    assert ignored.loc[2, "name"] == "class 2"


def test_class_slice_figure_has_a_panel_per_image_and_a_legend(volume):
    figure = multiclass.class_slice_figure(volume.image, {"truth": volume.labels, "again": volume.labels},
                                           names=em_nucleus.CLASS_NAMES, z=10)
    assert len(figure.axes) == 3 and figure.axes[0].get_title() == "image, z = 10"
    assert [t.get_text() for t in figure.legends[0].get_texts()][2] == "2: chromosome"
    with pytest.raises(ValueError, match="name every class"):
        multiclass.class_slice_figure(volume.image, {"truth": volume.labels}, names=["a", "b"])


# --------------------------------------------------------------------------------------------
# the ignored class in the loss and in training
# --------------------------------------------------------------------------------------------

def test_loss_does_not_see_the_truth_of_voxels_with_cost_zero():
    torch.manual_seed(0)
    log_p = torch.log_softmax(torch.randn(1, 5, 4, 6, 6), dim=1)
    target = torch.randint(0, 5, (1, 4, 6, 6))
    ignored = target == 4
    cost = (~ignored).float()
    other = target.clone()
    other[ignored] = 1  # change only the ignored voxels' truth
    a = losses.weighted_cross_entropy(log_p, target, cost)
    b = losses.weighted_cross_entropy(log_p, other, cost)
    assert torch.equal(a, b)
    assert not torch.equal(losses.weighted_cross_entropy(log_p, target), losses.weighted_cross_entropy(log_p, other))


def _em_folder(folder, with_cost: bool):
    for index in range(2):
        v = em_nucleus.make_volume(shape=SMALL, seed=10 + index)
        cost = (v.labels != em_nucleus.IGNORE_CLASS).astype(np.float32) if with_cost else None
        training_data.write_training_example(folder, f"img_{index + 1:03d}", v.image, v.labels, cost=cost,
                                             voxel_size=v.voxel_size)
    return folder


@pytest.mark.slow
def test_ignore_class_equals_a_zero_cost_map_and_changes_the_loss(tmp_path):
    torch.set_num_threads(1)

    def run(folder, output, ignore_class):
        config = training.TrainingConfig(
            training_folder=str(folder), output_folder=str(tmp_path / output),
            network={"name": "unet3d", "depth": 2, "base_channels": 4, "n_classes": 5, "pooling": [1, 2, 2]},
            patch_shape=[8, 64, 64], batch_size=1, iterations=2, learning_rate=1e-3, validate_every=2,
            validation_patches=1, validation_fraction=0.5, augmentation={"rotate": False, "flip": False},
            device="cpu", ignore_class=ignore_class, seed=0)
        return training.train(config, progress=False).history[-1]

    plain = _em_folder(tmp_path / "plain", with_cost=False)
    costed = _em_folder(tmp_path / "costed", with_cost=True)
    ignoring = run(plain, "ignoring", em_nucleus.IGNORE_CLASS)
    emulated = run(costed, "emulated", None)
    counting = run(plain, "counting", None)
    assert ignoring["train_loss"] == pytest.approx(emulated["train_loss"], rel=1e-5)
    assert ignoring["validation_loss"] == pytest.approx(emulated["validation_loss"], rel=1e-5)
    assert ignoring["train_loss"] != pytest.approx(counting["train_loss"], rel=1e-3)
