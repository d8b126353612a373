"""Label images to Fiji and back, and the summary of what an edit changed (helpers.analysis.label_files)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from helpers import io
from helpers.analysis import label_files

VOXEL = (0.29, 0.108, 0.108)


@pytest.fixture
def labels():
    image = np.zeros((6, 30, 40), np.int32)
    image[1:4, 2:8, 2:8] = 1
    image[1:4, 2:8, 10:16] = 2  # beside 1 (a gap of two voxels)
    image[2:5, 15:25, 20:30] = 3
    image[0:2, 20:28, 2:10] = 4
    return image


def test_fiji_file_is_a_calibrated_zyx_hyperstack(labels, tmp_path):
    path = label_files.write_labels_for_fiji(tmp_path / "labels.tif", labels, voxel_size=VOXEL)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_imagej
        metadata = tiff.imagej_metadata
        assert metadata["spacing"] == pytest.approx(0.29) and metadata["unit"] == "micron"
        assert metadata["slices"] == 6 and metadata["images"] == 6 and metadata["max"] == 4
        assert tiff.series[0].axes == "ZYX"
        numerator, denominator = tiff.pages[0].tags["XResolution"].value
        assert denominator / numerator == pytest.approx(0.108, rel=1e-6)
        numerator, denominator = tiff.pages[0].tags["YResolution"].value
        assert denominator / numerator == pytest.approx(0.108, rel=1e-6)
        data = tiff.asarray()
    assert data.dtype == np.uint16 and np.array_equal(data, labels)
    image = io.read_image(path)  # our own reader sees the same calibration
    assert image.voxel_size == pytest.approx(VOXEL)


def test_many_labels_go_to_float32_exactly_and_too_many_are_refused(tmp_path):
    image = np.zeros((2, 4, 4), np.int64)
    image[0, 0, 0], image[1, 3, 3] = 70_000, 16_777_216
    path = label_files.write_labels_for_fiji(tmp_path / "big.tif", image, voxel_size=VOXEL)
    data = tifffile.imread(path)
    assert data.dtype == np.float32 and np.array_equal(data.astype(np.int64), image)
    image[1, 3, 3] = 16_777_217
    with pytest.raises(ValueError, match="relabel_sequential"):
        label_files.write_labels_for_fiji(tmp_path / "bigger.tif", image, voxel_size=VOXEL)


def test_fiji_file_is_never_overwritten_unless_asked(labels, tmp_path):
    path = label_files.write_labels_for_fiji(tmp_path / "labels.tif", labels, voxel_size=VOXEL)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        label_files.write_labels_for_fiji(path, labels, voxel_size=VOXEL)
    label_files.write_labels_for_fiji(path, labels * 0, voxel_size=VOXEL, overwrite=True)
    assert tifffile.imread(path).max() == 0
    with pytest.raises(ValueError, match="end in .tif"):
        label_files.write_labels_for_fiji(tmp_path / "labels.png", labels, voxel_size=VOXEL)
    with pytest.warns(UserWarning, match="in pixels"):
        label_files.write_labels_for_fiji(tmp_path / "plain.tif", labels, voxel_size=None)


@pytest.mark.parametrize("kind", ["imagej", "ome", "plain", "npy", "float32"])
def test_edited_labels_are_read_from_every_format(labels, tmp_path, kind):
    gappy = np.where(labels > 0, labels * 10, 0)  # labels 10, 20, 30, 40 as an editor may leave them
    if kind == "imagej":
        path = label_files.write_labels_for_fiji(tmp_path / "edit.tif", gappy, voxel_size=VOXEL)
    elif kind == "ome":
        path = io.write_image(tmp_path / "edit.ome.tif", gappy.astype(np.uint16), voxel_size=VOXEL)
    elif kind == "plain":
        path = tmp_path / "edit.tif"
        tifffile.imwrite(path, gappy.astype(np.int32))
    elif kind == "npy":
        path = tmp_path / "edit.npy"
        np.save(path, gappy.astype(np.int64))
    else:
        path = tmp_path / "edit.tif"
        tifffile.imwrite(path, gappy.astype(np.float32), imagej=True, metadata={"axes": "ZYX"})  # Fiji's 32-bit
    renumbered = label_files.read_edited_labels(path, reference_shape=labels.shape)
    assert renumbered.dtype == np.int32 and np.array_equal(renumbered, labels)
    kept = label_files.read_edited_labels(path, relabel=False)
    assert np.array_equal(kept, gappy)


def test_reading_explains_wrong_files(labels, tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        label_files.read_edited_labels(tmp_path / "missing.tif")
    np.save(tmp_path / "slice.npy", labels[2])
    with pytest.raises(ValueError, match="single plane: save the whole stack"):
        label_files.read_edited_labels(tmp_path / "slice.npy", reference_shape=labels.shape)
    np.save(tmp_path / "swapped.npy", labels.transpose(2, 1, 0))
    with pytest.raises(ValueError, match="axes look reordered"):
        label_files.read_edited_labels(tmp_path / "swapped.npy", reference_shape=labels.shape)
    np.save(tmp_path / "intensities.npy", labels * 0.5)
    with pytest.raises(ValueError, match="intensity image, not labels"):
        label_files.read_edited_labels(tmp_path / "intensities.npy")
    np.save(tmp_path / "negative.npy", labels - 1)
    with pytest.raises(ValueError, match="negative"):
        label_files.read_edited_labels(tmp_path / "negative.npy")
    tifffile.imwrite(tmp_path / "channels.tif", np.stack([labels, labels], axis=1).astype(np.uint16), imagej=True,
                     metadata={"axes": "ZCYX"})
    with pytest.raises(ValueError, match="Image > Properties"):
        label_files.read_edited_labels(tmp_path / "channels.tif")


def test_compare_identical_and_renumbered_labels_finds_nothing(labels):
    assert label_files.compare_labels(labels, labels).unchanged == 4
    shuffled = np.choose(labels, [0, 7, 3, 9, 1])  # the same objects under other numbers
    changes = label_files.compare_labels(labels, shuffled)
    assert changes.unchanged == 4 and not (changes.added or changes.removed or changes.merged or changes.changed)
    assert changes.summary() == "unchanged: 4 objects"


def test_compare_finds_each_simulated_edit(labels):
    edited = labels.copy()
    edited[labels == 4] = 0  # delete object 4
    edited[1:4, 2:8, 8:10] = 1  # bridge the gap and paint 2 with 1's label: merge 1 and 2
    edited[labels == 2] = 1
    edited[2:5, 15:25, 25:30] = 8  # cut 3 in two halves: 3 (x 20..24) and 8 (x 25..29)
    edited[4:6, 0:3, 35:40] = 6  # paint a new object
    changes = label_files.compare_labels(labels, edited)
    assert changes.removed == (4,)
    assert changes.added == (6,)
    assert changes.merged == (((1, 2), 1),)
    assert changes.split == ((3, (3, 8)),)
    assert changes.unchanged == 0 and not changes.changed
    text = changes.summary()
    assert "removed: 1 object (before: 4)" in text and "merged: 1 group (1+2 -> 1)" in text
    assert "split: 1 object (3 -> 3+8)" in text and "added: 1 object (after: 6)" in text
    assert sorted(changes.table()["change"]) == ["added", "merged", "removed", "split"]


def test_compare_reports_reshaped_objects_with_their_overlap(labels):
    edited = labels.copy()
    edited[1:4, 2:8, 2:5] = 0  # erase half of object 1 (108 of 108 -> 54 voxels)
    changes = label_files.compare_labels(labels, edited)
    assert changes.unchanged == 3
    (before, after, iou), = changes.changed
    assert (before, after) == (1, 1) and iou == pytest.approx(0.5)
    with pytest.raises(ValueError, match="must match voxel for voxel"):
        label_files.compare_labels(labels, labels[:, :10])


def test_round_trip_through_a_fiji_file_with_an_edit(labels, tmp_path):
    path = label_files.write_labels_for_fiji(tmp_path / "labels.tif", labels, voxel_size=VOXEL)
    in_fiji = tifffile.imread(path)  # what Fiji opened ...
    in_fiji[in_fiji == 2] = 0  # ... the user deletes object 2 and saves as ImageJ TIFF again
    tifffile.imwrite(tmp_path / "labels_edited.tif", in_fiji, imagej=True, resolution=(1 / VOXEL[2], 1 / VOXEL[1]),
                     metadata={"spacing": VOXEL[0], "unit": "micron", "axes": "ZYX"})
    edited = label_files.read_edited_labels(tmp_path / "labels_edited.tif", reference_shape=labels.shape)
    assert sorted(np.unique(edited).tolist()) == [0, 1, 2, 3]  # renumbered 1..3
    changes = label_files.compare_labels(labels, edited)
    assert changes.removed == (2,) and changes.unchanged == 3
