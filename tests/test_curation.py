"""Curation without widgets: regions drawn in 2D, the resumable log, sorting, merging, take-all, replay."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from helpers import curation, io, training_data
from helpers.curation import drawing

SHAPE = (6, 24, 32)
VOXEL = (0.29, 0.108, 0.108)


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture
def project(tmp_path):
    """Three raw images, candidate A (random) and candidate B (a block), in the batch runner's naming."""
    rng = np.random.default_rng(0)
    for folder in ("raw", "seg_a", "seg_b"):
        (tmp_path / folder).mkdir()
    for index in range(3):
        image = rng.integers(100, 1000, SHAPE).astype(np.uint16)
        io.write_image(tmp_path / "raw" / f"cell_{index}.ome.tif", image, voxel_size=VOXEL)
        io.write_mask(tmp_path / "seg_a" / f"cell_{index}_seg.ome.tif", rng.random(SHAPE) > 0.5, voxel_size=VOXEL)
        block = np.zeros(SHAPE, bool)
        block[:, 4:20, 8:28] = True
        io.write_mask(tmp_path / "seg_b" / f"cell_{index}_seg.ome.tif", block, voxel_size=VOXEL)
    return tmp_path


# ---------------------------------------------------------------------------------------------- drawing

def test_polygon_mask_is_the_filled_polygon_with_its_edges():
    square = curation.polygon_mask([(2, 3), (2, 7), (6, 7), (6, 3)], (10, 12))
    expected = np.zeros((10, 12), bool)
    expected[2:7, 3:8] = True
    assert np.array_equal(square, expected)
    triangle = curation.polygon_mask([(0, 0), (0, 10), (10, 0)], (12, 12))
    assert triangle[0, 0] and triangle[1, 1] and not triangle[9, 9]
    # vertices outside the plane: clipped, not an error
    assert curation.polygon_mask([(-5, -5), (-5, 50), (50, 50), (50, -5)], (4, 6)).all()


def test_regions_extend_through_z_or_a_slice_range():
    square = [(2, 3), (2, 7), (6, 7), (6, 3)]
    mask = curation.regions_mask([square], SHAPE)
    footprint = curation.polygon_mask(square, SHAPE[1:])
    assert mask.shape == SHAPE and all(np.array_equal(plane, footprint) for plane in mask)
    limited = curation.regions_mask([curation.Polygon(square, z=(1, 3))], SHAPE)
    assert limited[1:3].any() and not limited[0].any() and not limited[3:].any()
    assert not curation.regions_mask([], SHAPE).any()
    union = curation.regions_mask([square, [(10, 10), (10, 20), (20, 20), (20, 10)]], SHAPE)
    assert union.sum() == SHAPE[0] * (25 + 121)


@pytest.mark.parametrize("vertices, match", [
    ([(0, 0), (1, 1)], "at least 3"),
    ([(0, 0, 0), (1, 1, 1), (2, 2, 2)], r"shape \(N, 2\)"),
    ([(0, 0), (np.nan, 1), (2, 2)], "finite"),
    ("abc", "list of"),
])
def test_bad_polygons_are_explained(vertices, match):
    with pytest.raises(ValueError, match=match):
        curation.polygon_mask(vertices, (10, 10))


def test_regions_file_round_trip_and_foreign_masks(tmp_path):
    polygons = [curation.Polygon([(1, 1), (1, 9), (9, 9)]), curation.Polygon([(12, 12), (12, 20), (20, 20), (20, 12)], z=(2, 5))]
    path = curation.save_regions(tmp_path / "regions.json", polygons, SHAPE)
    loaded, shape = curation.load_regions(path)
    assert loaded == polygons and shape == SHAPE
    with pytest.raises(FileExistsError):
        curation.save_regions(path, polygons, SHAPE)
    expected = curation.regions_mask(polygons, SHAPE)
    assert np.array_equal(curation.read_region_mask(path, SHAPE), expected)

    # a 2D mask drawn in Fiji (ImageJ TIFF, 0/255), a 3D one from napari, a .npy
    drawn = np.zeros(SHAPE[1:], np.uint8)
    drawn[3:8, 4:9] = 255
    tifffile.imwrite(tmp_path / "fiji.tif", drawn, imagej=True)
    from_fiji = curation.read_region_mask(tmp_path / "fiji.tif", SHAPE)
    assert from_fiji.shape == SHAPE and from_fiji[:, 3:8, 4:9].all() and from_fiji.sum() == SHAPE[0] * 25
    labels = np.zeros(SHAPE, np.uint16)
    labels[2, 5:7, 5:7] = 3
    tifffile.imwrite(tmp_path / "napari.tif", labels)
    assert curation.read_region_mask(tmp_path / "napari.tif", SHAPE).sum() == 4
    np.save(tmp_path / "mask.npy", drawn > 0)
    assert np.array_equal(curation.read_region_mask(tmp_path / "mask.npy", SHAPE), from_fiji)

    with pytest.raises(ValueError, match="drawn on a 24 x 32 image"):
        curation.read_region_mask(path, (6, 30, 30))
    with pytest.raises(ValueError, match="has shape"):
        curation.read_region_mask(tmp_path / "mask.npy", (6, 30, 30))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a mask file"):
        curation.read_region_mask(tmp_path / "notes.txt", SHAPE)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable regions file"):
        curation.read_region_mask(tmp_path / "broken.json", SHAPE)
    with pytest.raises(FileNotFoundError):
        curation.read_region_mask(tmp_path / "missing.tif", SHAPE)


# ---------------------------------------------------------------------------------------------- sorting

def test_sorting_writes_ground_truth_and_a_cost_map_zero_in_excluded_regions(project):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    sorter = curation.Sorter(items, project / "curation" / "sorting.csv", training_folder=project / "training")
    assert sorter.index == 0 and sorter.progress() == "image 1 of 3 · 0 accepted, 0 rejected, 3 to do"
    square = [(2, 3), (2, 7), (6, 7), (6, 3)]
    sorter.add_polygon(square)
    candidate = sorter.candidate()
    sorter.accept()
    assert sorter.index == 1

    example = training_data.find_training_images(project / "training")[0]
    assert example.name == "img_001"
    truth = io.read_image(example.truth).data
    cost = io.read_image(example.cost).data
    excluded = curation.regions_mask([square], SHAPE)
    assert np.array_equal(truth > 0, candidate)
    assert (cost[excluded] == 0).all() and (cost[~excluded] == 1).all()
    assert np.array_equal(io.read_image(example.image).data, io.read_image(items[0][0]).data)
    assert io.read_image(example.truth).voxel_size == pytest.approx(VOXEL)

    rows = _rows(project / "curation" / "sorting.csv")
    assert list(rows[0]) == ["raw", "seg", "score", "mask"]
    assert rows[0] == {"raw": "../raw/cell_0.ome.tif", "seg": "../seg_a/cell_0_seg.ome.tif", "score": "1",
                       "mask": "sorting_regions/cell_0_exclusion.json"}
    assert curation.load_regions(project / "curation" / "sorting_regions" / "cell_0_exclusion.json")[0] == [curation.Polygon(square)]


def test_a_sorting_session_resumes_where_it_stopped(project, monkeypatch):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    log = project / "sorting.csv"
    first = curation.Sorter(items, log, training_folder=project / "training")
    first.accept()
    first.reject()
    # the session is interrupted while the third decision is being saved (e.g. the kernel dies)
    monkeypatch.setattr(curation.training_set, "write_training_example",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        first.accept()
    monkeypatch.undo()
    del first

    again = curation.Sorter(items, log, training_folder=project / "training")
    assert again.index == 2 and again.counts() == {"accepted": 1, "rejected": 1, "undecided": 1, "total": 3}
    assert [r["score"] for r in _rows(log)] == ["1", "0"]
    again.accept()
    assert again.done and again.index is None and again.progress().startswith("all images decided")
    assert [e.name for e in training_data.find_training_images(project / "training")] == ["img_001", "img_002"]
    with pytest.raises(RuntimeError, match="Every image has a decision"):
        again.accept()


def test_changing_a_decision_replaces_or_removes_the_example(project):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    sorter = curation.Sorter(items, project / "sorting.csv", training_folder=project / "training")
    sorter.accept()
    sorter.accept()
    sorter.back()
    assert sorter.index == 1
    sorter.back()
    sorter.back()
    assert sorter.index == 0  # nothing before the first image
    sorter.reject()  # changed my mind: cell_0 is not usable
    names = [e.name for e in training_data.find_training_images(project / "training")]
    assert names == ["img_002"]
    assert sorter.index == 2  # the next undecided image
    sorter.go_to(1)
    sorter.add_polygon([(0, 0), (0, 5), (5, 5)])
    sorter.accept()  # rewritten under its own name, now with a cost map zero in the region
    cost = io.read_image(project / "training" / "img_002_CM.ome.tif").data
    assert cost[:, 0, 0].tolist() == [0] * SHAPE[0] and cost.min() == 0
    sources = _rows(project / "training" / "curation_sources.csv")
    assert [(r["name"], r["raw"], r["origin"]) for r in sources] == [("img_002", "../raw/cell_1.ome.tif", "sorting")]


def test_skip_leaves_an_image_for_later_and_back_shows_its_regions(project):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    sorter = curation.Sorter(items, project / "sorting.csv")
    sorter.skip()
    assert sorter.index == 1
    sorter.add_polygon([(1, 1), (1, 6), (6, 6)])
    sorter.accept()
    assert sorter.index == 2
    sorter.reject()
    assert sorter.index == 0  # wraps round to the skipped image
    sorter.skip()
    assert sorter.index == 0  # the only one left
    sorter.go_to(1)
    assert len(sorter.polygons) == 1  # its exclusion region, shown again
    sorter.remove_last_polygon()
    assert sorter.polygons == []
    with pytest.raises(ValueError, match="from 0 to 2"):
        sorter.go_to(3)


def test_new_examples_never_touch_what_the_training_folder_already_holds(project):
    folder = project / "training"
    mine = training_data.write_training_example(folder, "img_001", np.ones(SHAPE, np.uint16), np.zeros(SHAPE, bool))
    before = mine.image.read_bytes()
    sorter = curation.Sorter(curation.match_candidates(project / "raw", project / "seg_a"), project / "sorting.csv",
                             training_folder=folder)
    sorter.accept()
    sorter.back()
    sorter.reject()
    sorter.accept()
    assert mine.image.read_bytes() == before
    assert [e.name for e in training_data.find_training_images(folder)] == ["img_001", "img_002"]
    assert [(r["name"], r["raw"]) for r in _rows(folder / "curation_sources.csv")] == [("img_002", "../raw/cell_1.ome.tif")]


def test_take_all_puts_every_pair_in_the_training_folder(project):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    assert curation.take_all(items, project / "all") == ["img_001", "img_002", "img_003"]
    assert curation.take_all(items, project / "all") == ["img_001", "img_002", "img_003"]  # again: the same names
    examples = training_data.find_training_images(project / "all")
    assert len(examples) == 3
    assert np.array_equal(io.read_image(examples[2].truth).data > 0, io.read_image(items[2][1]).data > 0)
    assert (io.read_image(examples[0].cost).data == 1).all()


def test_logs_and_candidates_that_do_not_fit_are_explained(project):
    foreign = project / "notes.csv"
    foreign.write_text("name,value\na,1\n")
    items = curation.match_candidates(project / "raw", project / "seg_a")
    with pytest.raises(ValueError, match="not a curation log"):
        curation.Sorter(items, foreign)
    assert foreign.read_text() == "name,value\na,1\n"
    (project / "seg_a" / "cell_2_seg.ome.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 3 images have no candidate .*cell_2_seg"):
        curation.match_candidates(project / "raw", project / "seg_a")
    with pytest.raises(ValueError, match="no images to curate"):
        curation.Sorter([], project / "log.csv")
    with pytest.raises(ValueError, match="appears twice"):
        curation.Sorter([items[0], items[0]], project / "log.csv")
    small = np.zeros((6, 10, 10), bool)
    io.write_mask(project / "seg_a" / "cell_0_seg.ome.tif", small, overwrite=True)
    sorter = curation.Sorter(items[:1], project / "log.csv")
    with pytest.raises(ValueError, match="made from another image"):
        sorter.candidate()


def test_replay_applies_recorded_decisions_by_file_name(project, tmp_path_factory):
    items = curation.match_candidates(project / "raw", project / "seg_a")
    recorded = curation.Sorter(items, project / "recorded" / "sorting.csv")
    recorded.add_polygon([(2, 2), (2, 9), (9, 9)])
    recorded.accept()
    recorded.reject()
    # the same images elsewhere (another person's copy of the data)
    elsewhere = tmp_path_factory.mktemp("copy")
    for index in range(3):
        for folder, suffix in (("raw", ""), ("seg_a", "_seg")):
            (elsewhere / folder).mkdir(exist_ok=True)
            source = project / folder / f"cell_{index}{suffix}.ome.tif"
            (elsewhere / folder / source.name).write_bytes(source.read_bytes())
    sorter = curation.Sorter(curation.match_candidates(elsewhere / "raw", elsewhere / "seg_a"), elsewhere / "sorting.csv",
                             training_folder=elsewhere / "training")
    assert sorter.replay(project / "recorded" / "sorting.csv") == 2
    assert sorter.counts() == {"accepted": 1, "rejected": 1, "undecided": 1, "total": 3} and sorter.index == 2
    cost = io.read_image(elsewhere / "training" / "img_001_CM.ome.tif").data
    assert cost.min() == 0 and cost[:, 5, 8].tolist() == [0] * SHAPE[0]
    with pytest.raises(FileNotFoundError, match="No recorded decisions"):
        sorter.replay(project / "nowhere.csv")


# ---------------------------------------------------------------------------------------------- merging

def test_merged_truth_is_a_outside_and_b_inside_the_regions(project):
    items = curation.match_candidates(project / "raw", project / "seg_a", project / "seg_b")
    merger = curation.Merger(items, project / "merging.csv", training_folder=project / "training")
    a, b = merger.candidates()
    assert np.array_equal(merger.merged(), a)  # no regions yet: A everywhere
    polygon = [(0, 0), (0, 15), (11, 15), (11, 0)]
    merger.add_polygon(polygon)
    inside = curation.regions_mask([polygon], SHAPE)
    merged = merger.merged()
    assert np.array_equal(merged[inside], b[inside]) and np.array_equal(merged[~inside], a[~inside])
    assert inside.any() and (~inside).any() and not np.array_equal(merged, a) and not np.array_equal(merged, b)
    merger.accept()
    example = training_data.find_training_images(project / "training")[0]
    assert np.array_equal(io.read_image(example.truth).data > 0, merged)
    assert (io.read_image(example.cost).data == 1).all()
    row = _rows(project / "merging.csv")[0]
    assert row == {"raw": "raw/cell_0.ome.tif", "seg_a": "seg_a/cell_0_seg.ome.tif", "seg_b": "seg_b/cell_0_seg.ome.tif",
                   "mask": "merging_regions/cell_0_merge.json", "score": "1"}

    # a region drawn in Fiji, for the next image, together with a polygon: the union is used
    fiji = np.zeros(SHAPE[1:], np.uint8)
    fiji[15:20, 20:30] = 255
    tifffile.imwrite(project / "fiji_mask.tif", fiji, imagej=True)
    merger.load_mask(project / "fiji_mask.tif")
    merger.add_polygon(polygon)
    a, b = merger.candidates()
    regions = curation.regions_mask([polygon], SHAPE) | (fiji > 0)
    assert np.array_equal(merger.merged(), np.where(regions, b, a))
    merger.accept()
    saved = _rows(project / "merging.csv")[1]["mask"]
    assert saved.endswith("cell_1_merge.ome.tif")  # polygons and a mask file together: saved as one mask
    assert np.array_equal(curation.read_region_mask(project / saved, SHAPE), regions)
    with pytest.raises(ValueError, match="has shape"):
        np.save(project / "wrong.npy", np.zeros((3, 3), bool))
        merger.load_mask(project / "wrong.npy")

    resumed = curation.Merger(items, project / "merging.csv", training_folder=project / "training")
    assert resumed.index == 2 and resumed.counts()["accepted"] == 2


def test_merge_masks_checks_its_inputs():
    a = np.zeros((2, 3, 3), bool)
    with pytest.raises(ValueError, match="shape"):
        curation.merge_masks(a, np.zeros((2, 3, 4), bool), a)
    with pytest.raises(ValueError, match="dtype"):
        curation.merge_masks(a, a, np.zeros((2, 3, 3), float))
    assert np.array_equal(curation.merge_masks(a, ~a, np.ones_like(a)), ~a)


def test_a_regions_file_is_readable_by_a_person(tmp_path):
    path = drawing.save_regions(tmp_path / "r.json", [[(1, 2), (3, 4), (5, 6)]], (2, 8, 8))
    lines = path.read_text().splitlines()
    assert lines[0].startswith('{"format": "segmenter-regions"') and len(lines) == 4
    assert '"vertices": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]' in lines[2]
