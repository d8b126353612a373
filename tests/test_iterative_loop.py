"""The pieces of the iterative loop: found nuclei, the scripted curator, its recorded decisions, resumable training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from helpers import curation, io, metrics, training
from helpers.synthetic import curator, lamin_scores
from helpers.synthetic.lamin_set import Nucleus

ROOT = Path(__file__).resolve().parents[1]
LAMIN_SET = ROOT / "data_samples" / "lamin_b1_set"
RECORDED = ROOT / "notebooks" / "deep_learning" / "lamin_b1_curation"


def _shell(shape, centre, radius, thickness=1.0):
    z, y, x = np.indices(shape)
    distance = np.sqrt(((z - centre[0]) * 2) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
    return np.abs(distance - radius) <= thickness


def _field():
    shape = (12, 40, 60)
    truth = np.zeros(shape, np.int32)
    truth[_shell(shape, (6, 20, 15), 9)] = 1
    truth[_shell(shape, (6, 20, 45), 9)] = 2
    nuclei = [Nucleus(1, "interphase", 6.0, False, True, True), Nucleus(2, "mitotic", 6.0, False, True, True)]
    return truth, nuclei


# ---------------------------------------------------------------------------------------------- measures

def test_object_agreement_known_answers():
    truth, _ = _field()
    exact = metrics.object_agreement(truth > 0, truth, tolerance=0)
    assert exact == {1: (1.0, 1.0), 2: (1.0, 1.0)}
    thinner = _shell(truth.shape, (6, 20, 15), 9, thickness=0.5)  # a thinner shell: covered within a voxel
    agreement = metrics.object_agreement(thinner, truth, tolerance=1)
    assert agreement[1].coverage > 0.95 and agreement[1].precision == 1.0 and agreement[2] == (0.0, 1.0)
    assert metrics.object_agreement(thinner, truth, tolerance=0)[1].coverage < 0.9
    blob = np.zeros(truth.shape, bool)
    blob[:, 8:33, 3:28] = True  # a filled block where the first envelope is: covers it, mostly wrong
    coverage, precision = metrics.object_agreement(blob, truth, tolerance=1)[1]
    assert coverage > 0.5 and precision < 0.5
    assert metrics.object_agreement(np.zeros(truth.shape, bool), truth) == {1: (0.0, 1.0), 2: (0.0, 1.0)}
    with pytest.raises(ValueError, match="shape"):
        metrics.object_agreement(blob[:-1], truth)


def test_found_nuclei_and_the_summary():
    truth, nuclei = _field()
    only_first = truth == 1
    rows = lamin_scores.score_field(only_first, truth, nuclei)
    assert [(r["label"], r["group"], r["found"]) for r in rows] == [(1, "interphase", True), (2, "mitotic", False)]
    outside = nuclei + [Nucleus(3, "interphase", 6.0, True, False, False)]  # centre outside the field: not counted
    assert len(lamin_scores.score_field(only_first, truth, outside)) == 2
    far_rows = [{"label": 1, "group": "far", "coverage": 1.0, "precision": 1.0, "found": True}]
    summary = lamin_scores.summarize({"a": rows, "b": far_rows, "c": []})
    assert summary["interphase_found"] == 1 and summary["far_found"] == 1 and summary["mitotic_total"] == 1
    assert summary["interphase_recall"] == 1.0 and summary["mitotic_recall"] == 0.0 and summary["recall"] == 2 / 3
    assert summary["fields"] == 2 and summary["fields_all_found"] == 0.5
    assert summary["interphase_fields"] == 1 and summary["fields_interphase_all_found"] == 1.0
    line = lamin_scores.format_summary("x", summary)
    assert "interphase nuclei 2/2 (100 %)" in line and "mitotic 0/1 (0 %)" in line and "1/2 (50 %)" in line
    table = lamin_scores.summary_table({"x": summary})
    assert "| x | 2/2 (100 %) | 1/1 (100 %) | 0/1 (0 %) | 1/2 (50 %) | 1/1 (100 %) |" in table


def test_the_classic_workflow_on_the_shipped_set_scores_as_recorded():
    """The numbers the notebooks and the results file start from (iteration 0)."""
    from helpers import workflow

    preset = workflow.load_preset("lmnb1_interphase")
    nuclei = lamin_scores.read_nuclei(LAMIN_SET)
    scored = {}
    for name in sorted(nuclei):
        image = io.read_image(LAMIN_SET / name).data
        truth = io.read_image(LAMIN_SET / name.replace(".ome.tif", "_truth.ome.tif")).data
        scored[name] = lamin_scores.score_field(workflow.run(preset, image).mask, truth, nuclei[name])
    summary = lamin_scores.summarize(scored)
    assert (summary["interphase_found"] + summary["far_found"], summary["interphase_total"] + summary["far_total"]) == (7, 8)
    assert summary["far_found"] == 4 and summary["mitotic_found"] == 2 and summary["fields"] == 12
    assert not scored["field_08.ome.tif"][0]["found"]  # the far nucleus the workflow seeds wrongly


# ---------------------------------------------------------------------------------------------- the curator

def test_hull_polygon_surrounds_its_footprint_with_a_margin():
    footprint = np.zeros((40, 40), bool)
    footprint[10:20, 12:30] = True
    polygon = curator.hull_polygon(footprint, margin=3)
    region = curation.polygon_mask(polygon, footprint.shape)
    assert region[footprint].all()
    widened = np.zeros_like(footprint)
    widened[7:23, 9:33] = True
    assert region.sum() <= widened.sum() and region[7, 15] and region[22, 20] and not region[5, 15]
    single = np.zeros((10, 10), bool)
    single[4, 4] = True
    assert curation.polygon_mask(curator.hull_polygon(single), single.shape)[4, 4]
    with pytest.raises(ValueError, match="empty"):
        curator.hull_polygon(np.zeros((5, 5), bool))


def test_the_curator_rejects_a_missed_nucleus_and_excludes_mitotic_cells():
    truth, nuclei = _field()
    accept, polygons = curator.sorting_decision(truth > 0, truth, nuclei)
    assert accept and len(polygons) == 1  # the mitotic cell is excluded even when found
    assert curation.regions_mask(polygons, truth.shape)[truth == 2].all()
    accept, polygons = curator.sorting_decision(truth == 2, truth, nuclei)
    assert not accept and polygons == []  # the interphase nucleus is missing
    wrong = (truth == 1).copy()
    wrong[2:6, 30:38, 2:10] = True  # a sizeable piece on no envelope
    accept, polygons = curator.sorting_decision(wrong, truth, nuclei)
    assert accept and len(polygons) == 2
    assert curation.regions_mask(polygons, truth.shape)[2:6, 30:38, 2:10].all()
    regions = curator.merging_regions(truth, nuclei)
    assert len(regions) == 1 and curation.regions_mask(regions, truth.shape)[truth == 2].all()


@pytest.mark.slow
def test_the_shipped_recorded_decisions_are_what_the_curator_decides_today(tmp_path):
    """notebooks/deep_learning/lamin_b1_curation was written by record_lamin_decisions; presets or the
    samples changing would make it stale (re-record it then: see its README)."""
    curator.record_lamin_decisions(LAMIN_SET, tmp_path)
    for name in ("sorting.csv", "merging.csv"):
        assert (tmp_path / name).read_text() == (RECORDED / name).read_text(), name
    for folder in ("sorting_regions", "merging_regions"):
        fresh = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert fresh == sorted(p.name for p in (RECORDED / folder).iterdir())
        for name in fresh:
            assert (tmp_path / folder / name).read_text() == (RECORDED / folder / name).read_text(), name
    with open(RECORDED / "sorting.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["raw"] for r in rows if r["score"] == "0"] == ["field_08.ome.tif"]
    with pytest.raises(FileExistsError):
        curator.record_lamin_decisions(LAMIN_SET, tmp_path)


# ---------------------------------------------------------------------------------------------- training

def _tiny_folder(folder):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for index in range(2):
        truth = np.zeros((8, 32, 32), bool)
        truth[2:6, 8:20, 8:20] = True
        image = (300 + 400 * truth + rng.normal(0, 20, truth.shape)).astype(np.uint16)
        io.write_image(folder / f"img_{index:03d}.ome.tif", image)
        io.write_mask(folder / f"img_{index:03d}_GT.ome.tif", truth)
    return folder


def test_train_or_continue_trains_resumes_and_reuses(tmp_path):
    folder = _tiny_folder(tmp_path / "train")
    settings = dict(training_folder=str(folder), output_folder=str(tmp_path / "model"),
                    network={"name": "unet3d", "depth": 2, "base_channels": 2}, patch_shape=[8, 16, 16], batch_size=1,
                    validate_every=2, validation_patches=1, seed=0)
    best = training.train_or_continue(training.TrainingConfig(iterations=2, **settings), progress=False)
    assert best == tmp_path / "model" / "checkpoint_best.pt" and best.exists()
    stamp = (tmp_path / "model" / "checkpoint_last.pt").stat().st_mtime_ns
    again = training.train_or_continue(training.TrainingConfig(iterations=2, **settings), progress=False)
    assert again == best and (tmp_path / "model" / "checkpoint_last.pt").stat().st_mtime_ns == stamp  # reused
    training.train_or_continue(training.TrainingConfig(iterations=4, **settings), progress=False)  # continued
    from helpers import checkpoints

    last = checkpoints.load_checkpoint(tmp_path / "model" / "checkpoint_last.pt")
    assert last.iteration == 4 and [row["iteration"] for row in last.info["history"]] == [2, 4]
    other = dict(settings, network={"name": "unet3d", "depth": 2, "base_channels": 4})
    with pytest.raises(ValueError, match="another network"):
        training.train_or_continue(training.TrainingConfig(iterations=4, **other), progress=False)
