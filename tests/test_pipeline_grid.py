"""The pipeline grid (OpSeF): variants, run_grid, the figure, judgements and the judging widget."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helpers import metrics, workflow
from helpers.analysis import grid_figure, grid_judgements
from helpers.analysis import pipeline_grid as grid
from helpers.io import read_image

N_BLOBS = 6


def _blobs(seed=0, shape=(12, 48, 48)):
    """A float image (intensities ~100 to ~1000, not normalized) with N_BLOBS bright balls, and their truth."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    truth = np.zeros(shape, bool)
    centres = [(6, 10, 10), (6, 10, 36), (5, 24, 24), (7, 37, 10), (6, 37, 37), (4, 24, 40)]
    for cz, cy, cx in centres[:N_BLOBS]:
        truth |= ((zz - cz) / 2.5) ** 2 + ((yy - cy) / 4.0) ** 2 + ((xx - cx) / 4.0) ** 2 <= 1
    image = 100 + 800 * truth + rng.normal(0, 40, shape)
    return image.astype(np.float32), truth


THRESHOLDS = {"Otsu": {"kind": "threshold", "method": "otsu", "min_size": 5},
              "Triangle": {"kind": "threshold", "method": "triangle"}}
SMOOTHED = {"normalization": {"algorithm": "auto_contrast", "parameters": {"lower_sd": 2, "upper_sd": 10}},
            "smoothing": {"algorithm": "gaussian_smooth_3d", "parameters": {"sigma": 1.0}}}
@pytest.fixture(scope="module")
def blob_grid():
    image, truth = _blobs()
    pre = {"none": {"normalization": None, "smoothing": None}, "smoothed": SMOOTHED}
    return grid.run_grid(image, pre, THRESHOLDS, workers=1, truth=truth, voxel_size=(0.3, 0.1, 0.1), source="blobs")


# ---------------------------------------------------------------------------------------------- variants

def test_variants_are_filled_in_and_the_input_is_not_changed():
    given = {"AC": {"normalization": {"algorithm": "auto_contrast", "parameters": {"lower_sd": 1}}, "smoothing": None}}
    copy = json.loads(json.dumps(given))
    checked = grid.check_preprocessings(given)
    assert given == copy
    assert checked["AC"]["normalization"] == {"algorithm": "auto_contrast",
                                              "parameters": {"lower_sd": 1.0, "upper_sd": 10.0}}
    defaults = grid.default_preprocessings(sigma=2)
    assert list(defaults) == ["min-max", "auto-contrast", "auto-contrast + Gaussian", "auto-contrast + edge-preserving"]
    assert defaults["auto-contrast + Gaussian"]["smoothing"]["parameters"] == {"sigma": 2.0}
    assert grid.workflow_preprocessing("lamp1") == {
        "normalization": {"algorithm": "auto_contrast", "parameters": {"lower_sd": 3.0, "upper_sd": 19.0}},
        "smoothing": {"algorithm": "gaussian_smooth_2d", "parameters": {"sigma": 1.0}}}


def test_a_workflows_own_preprocessing_is_replaced_role_for_role(tmp_path):
    saved = workflow.load_preset("dsp").save(tmp_path / "my_dsp.json")
    record = grid.check_segmenters({"dsp": {"kind": "workflow", "workflow": str(saved)}})["dsp"]
    assert record["workflow"] == str(saved)
    assert record["replaced_normalization_steps"] == ["normalized"]
    assert record["replaced_smoothing_steps"] == ["smoothed"]
    assert record["definition"] == workflow.load_preset("dsp").to_dict()
    replaced = grid._as_workflow_with(record["definition"], SMOOTHED, ["normalized"], ["smoothed"])
    inputs = {step.id: step.inputs for step in replaced.steps}
    assert "normalized" not in inputs and "smoothed" not in inputs
    assert inputs["spots"]["image"] == "grid_smoothed"  # used the smoothed image: gets the variant's
    assert inputs["seeds"]["image"] == "grid_normalized"  # used the normalized image directly: still unsmoothed
    assert inputs["grid_smoothed"]["image"] == "grid_normalized"


def test_a_preset_with_its_own_preprocessing_reproduces_the_engine():
    image = read_image("data_samples/lamp1.ome.tif").data[14:26, 60:124, 60:124]
    result = grid.run_grid(image, {"own": grid.workflow_preprocessing("lamp1")},
                           {"lamp1": {"kind": "workflow", "workflow": "lamp1"}}, workers=1)
    expected = workflow.run(workflow.load_preset("lamp1"), image).mask
    assert np.array_equal(result.cell("own", "lamp1").mask, expected) and expected.any()


# ---------------------------------------------------------------------------------------------- the grid

def test_grid_has_one_cell_per_combination_with_known_answers(blob_grid):
    assert blob_grid.shape == (2, 2)
    assert blob_grid.row_names == ["none", "smoothed"] and blob_grid.column_names == ["Otsu", "Triangle"]
    assert list(blob_grid.cells) == [("none", "Otsu"), ("none", "Triangle"), ("smoothed", "Otsu"),
                                     ("smoothed", "Triangle")]
    for cell in blob_grid.cells.values():
        assert cell.ok and cell.mask.shape == blob_grid.image.shape and cell.mask.dtype == bool
        assert cell.dice == metrics.dice(cell.mask, blob_grid.truth)
        assert cell.iou == metrics.iou(cell.mask, blob_grid.truth)
        assert cell.seconds >= 0
    best = blob_grid.cell("smoothed", "Otsu")
    assert best.objects == N_BLOBS and best.dice > 0.85
    assert blob_grid.preprocessed["none"] is blob_grid.image  # no pre-processing: the raw image
    table = blob_grid.table(sort_by="dice")
    assert list(table["dice"]) == sorted(table["dice"], reverse=True) and len(table) == 4
    with pytest.raises(ValueError, match="No cell"):
        blob_grid.cell("smoothed", "Yen")


def test_failures_become_error_cells_and_the_grid_goes_on():
    image, truth = _blobs(seed=1)
    pre = {"none": {"normalization": None, "smoothing": None},
           "empty window": {"normalization": {"algorithm": "auto_contrast_in_range", "parameters": {
               "lower_intensity": 60000, "upper_intensity": 65535}}, "smoothing": None},
           "smoothed": SMOOTHED}
    segmenters = {"npm1": {"kind": "workflow", "workflow": "npm1"}, "Otsu": THRESHOLDS["Otsu"]}
    result = grid.run_grid(image, pre, segmenters, workers=1, truth=truth)
    failed = result.cell("none", "npm1")  # npm1 inverts its smoothed image, which must lie in [0, 1]
    assert not failed.ok and failed.mask is None and "invert" in failed.error and failed.dice is None
    assert result.cell("none", "Otsu").ok and result.cell("smoothed", "npm1").ok
    assert "empty window" in result.preprocessing_errors and result.preprocessed["empty window"] is None
    for name in segmenters:
        error = result.cell("empty window", name).error
        assert error.startswith("pre-processing failed: ValueError") and "No voxel lies between" in error
    figure = grid_figure.plot_grid(result, z=6)
    assert len(figure.axes) == 6 and "failed" in [ax.get_title() for ax in figure.axes]


@pytest.mark.slow
def test_parallel_run_gives_the_serial_results():
    image, truth = _blobs()
    pre = {"none": {"normalization": None, "smoothing": None}, "smoothed": SMOOTHED}
    segmenters = dict(THRESHOLDS, npm1={"kind": "workflow", "workflow": "npm1"})  # fails without pre-processing
    parallel = grid.run_grid(image, pre, segmenters, workers=2, truth=truth, voxel_size=(0.3, 0.1, 0.1))
    serial = grid.run_grid(image, pre, segmenters, workers=1, truth=truth, voxel_size=(0.3, 0.1, 0.1))
    assert list(parallel.cells) == list(serial.cells)
    for key, cell in serial.cells.items():
        other = parallel.cells[key]
        assert cell.error == other.error
        if cell.ok:
            assert np.array_equal(cell.mask, other.mask) and cell.objects == other.objects and cell.dice == other.dice
    assert not serial.cell("none", "npm1").ok and serial.cell("smoothed", "npm1").ok
    for name in pre:
        assert np.array_equal(parallel.preprocessed[name], serial.preprocessed[name])


def test_a_model_checkpoint_is_a_segmenter(tmp_path):
    from helpers import checkpoints, nets, training_data

    model = nets.build({"name": "unet3d", "depth": 2, "base_channels": 4})
    path = checkpoints.save_checkpoint(tmp_path / "tiny.pt", model, normalization=training_data.DEFAULT_NORMALIZATION,
                                       iteration=0)
    image, truth = _blobs(shape=(8, 32, 32))
    result = grid.run_grid(image, {"smoothed": SMOOTHED}, {"net": {"kind": "model", "checkpoint": str(path)}},
                           workers=1, truth=truth)
    cell = result.cell("smoothed", "net")
    assert cell.ok and cell.mask.shape == image.shape and cell.dice == metrics.dice(cell.mask, truth)
    settings = result.segmenters["net"]
    assert settings["checkpoint_sha256"] and settings["threshold"] == 0.5 and settings["network"]["name"] == "unet3d"


@pytest.mark.parametrize("arguments, error, match", [
    (dict(image=np.zeros((8, 8))), ValueError, "3D"),
    (dict(preprocessings={}), ValueError, "non-empty dict"),
    (dict(segmenters={}), ValueError, "non-empty dict"),
    (dict(segmenters={"x": {"kind": "workflow", "workflow": "lamp"}}), ValueError, "Unknown preset"),
    (dict(segmenters={"x": {"kind": "workflow", "workflow": "missing/file.json"}}), FileNotFoundError, "file.json"),
    (dict(segmenters={"x": {"kind": "threshold", "method": "median"}}), ValueError, "global threshold method"),
    (dict(segmenters={"x": {"kind": "cellpose"}}), ValueError, "'kind' is one of"),
    (dict(segmenters={"x": {"kind": "model", "checkpoint": "no_such.pt"}}), FileNotFoundError, "no_such.pt"),
    (dict(preprocessings={"x": {"normalization": {"algorithm": "gaussian_smooth_3d"}, "smoothing": None}}),
     ValueError, "normalization algorithm"),
    (dict(preprocessings={"x": {"normalization": None, "smoothing": {"algorithm": "gaussian_smooth_3d",
                                                                     "parameters": {"sigma": 99}}}}),
     ValueError, "out of range"),
    (dict(truth=np.zeros((4, 4, 4), bool)), ValueError, "shape"),
    (dict(workers=0), ValueError, "workers"),
])
def test_bad_inputs_are_refused_with_a_clear_message(arguments, error, match):
    image, _ = _blobs(shape=(6, 16, 16))
    call = dict(image=image, preprocessings={"none": {"normalization": None, "smoothing": None}},
                segmenters=THRESHOLDS, workers=1)
    call.update(arguments)
    with pytest.raises(error, match=match):
        grid.run_grid(call.pop("image"), call.pop("preprocessings"), call.pop("segmenters"), **call)


# ---------------------------------------------------------------------------------------------- figure

def test_plot_grid_has_one_panel_per_cell_titled_with_count_and_dice(blob_grid):
    figure = grid_figure.plot_grid(blob_grid)
    titles = [ax.get_title() for ax in figure.axes]
    assert len(titles) == 4
    assert titles[2] == f"{N_BLOBS} objects · Dice {blob_grid.cell('smoothed', 'Otsu').dice:.2f}"
    rgb = grid_figure.panel_image(blob_grid, "smoothed", "Otsu", z=6)
    assert rgb.shape == (48, 48, 3) and (rgb == grid_figure._render.MASK_RGB).all(axis=2).any()
    with pytest.raises(ValueError, match="slices"):
        grid_figure.plot_grid(blob_grid, z=12)


# ---------------------------------------------------------------------------------------------- judgements

def test_judgements_round_trip_resume_and_record(blob_grid, tmp_path):
    path = tmp_path / "results" / "judged.csv"
    judgements = grid_judgements.GridJudgements(path, blob_grid)
    judgements.set("smoothed", "Otsu", grid_judgements.CORRECT, z=5)
    judgements.set("none", "Triangle", grid_judgements.OVER_SEGMENTED)
    judgements.set("none", "Triangle", grid_judgements.UNDER_SEGMENTED)  # changed mind: replaced, not added
    rows = list(csv.DictReader(path.open()))
    assert [(r["preprocessing"], r["segmenter"], r["judgement"], r["z"]) for r in rows] == [
        ("smoothed", "Otsu", "correct", "5"), ("none", "Triangle", "under-segmented", "5")]
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["kind"] == grid.RECORD_KIND and record["slice"] == 5 and record["image"]["source"] == "blobs"
    assert record["image"]["shape"] == [12, 48, 48] and record["image"]["voxel_size_um"] == [0.3, 0.1, 0.1]
    assert record["preprocessings"]["smoothed"]["smoothing"] == SMOOTHED["smoothing"]
    assert record["segmenters"]["Otsu"] == {"kind": "threshold", "method": "otsu", "bins": 256, "min_size": 5}
    assert "helpers_version" in record and len(record["cells"]) == 4
    assert record["judgement_counts"] == {"correct": 1, "under-segmented": 1, "over-segmented": 0, "failed": 0,
                                          "to judge": 2}

    resumed = grid_judgements.GridJudgements(path, blob_grid)
    assert resumed.labels == {("smoothed", "Otsu"): "correct", ("none", "Triangle"): "under-segmented"}
    assert resumed.slice == 5
    resumed.remove("none", "Triangle")
    assert grid_judgements.GridJudgements(path, blob_grid).labels == {("smoothed", "Otsu"): "correct"}
    with pytest.raises(ValueError, match="not allowed"):
        resumed.set("none", "Otsu", "good")


def test_judgements_refuse_files_that_are_not_theirs(blob_grid, tmp_path):
    foreign = tmp_path / "other.csv"
    foreign.write_text("raw,seg,score,mask\na.tif,b.tif,1,\n")
    with pytest.raises(ValueError, match="not a pipeline-grid judgements file"):
        grid_judgements.GridJudgements(foreign, blob_grid)
    assert foreign.read_text() == "raw,seg,score,mask\na.tif,b.tif,1,\n"
    (tmp_path / "notes.json").write_text('{"my": "notes"}')
    with pytest.raises(ValueError, match="not a pipeline-grid record"):
        grid_judgements.GridJudgements(tmp_path / "notes.csv", blob_grid)
    with pytest.raises(ValueError, match=r"\.csv"):
        grid_judgements.GridJudgements(tmp_path / "judged.txt", blob_grid)
    grid_judgements.GridJudgements(tmp_path / "judged.csv", blob_grid).set("none", "Otsu", grid_judgements.FAILED)
    image, truth = _blobs(seed=5)
    other = grid.run_grid(image, {"none": {"normalization": None, "smoothing": None}}, THRESHOLDS, workers=1)
    with pytest.raises(ValueError, match="another image"):
        grid_judgements.GridJudgements(tmp_path / "judged.csv", other)


# ---------------------------------------------------------------------------------------------- widget

def test_widget_saves_each_judgement_and_resumes(blob_grid, tmp_path):
    from helpers.analysis.grid_widget import GridWidget

    path = tmp_path / "widget.csv"
    widget = GridWidget(blob_grid, path, panel_size=96)
    assert "segmenter-grid" in widget.widget._dom_classes
    widget.judge("smoothed", "Otsu", grid_judgements.CORRECT)
    assert widget._buttons[("smoothed", "Otsu")].value == "correct"
    widget._buttons[("none", "Triangle")].value = grid_judgements.OVER_SEGMENTED  # a click
    assert grid_judgements.GridJudgements(path, blob_grid).labels == {("smoothed", "Otsu"): "correct",
                                                            ("none", "Triangle"): "over-segmented"}
    assert "2 of 4 to judge" in widget._status.value
    before = widget._images[("smoothed", "Otsu")].value
    widget.show_slice(0)
    assert widget._slider.value == 0 and widget._images[("smoothed", "Otsu")].value != before
    widget.clear("none", "Triangle")
    assert widget._buttons[("none", "Triangle")].value is None
    again = GridWidget(blob_grid, path, panel_size=96)
    assert again._buttons[("smoothed", "Otsu")].value == "correct"
    assert again._buttons[("none", "Triangle")].value is None
    with pytest.raises(ValueError, match="not allowed"):
        again.judge("none", "Otsu", "perfect")
    again._slider.value = 3
    assert again.z == 3
