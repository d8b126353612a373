"""Every notebook runs top to bottom, headless, and is committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT / "notebooks"))


def _quick(notebook) -> None:
    """Set ``QUICK = True`` in the cell tagged "parameters" (the papermill convention), if it has one."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            if "QUICK" in cell.source:
                lines = cell.source.splitlines()
                cell.source = "\n".join("QUICK = True  # set by tests/test_notebooks.py" if line.startswith("QUICK =")
                                        else line for line in lines)


#: Notebooks that use what an earlier notebook of the same folder writes (run first, in the same folder).
EARLIER_STAGES = {"4_prediction.ipynb": ("3_training.ipynb",)}
#: Folders of shipped data that notebooks read beside themselves (linked into the temporary copy).
SHIPPED_BESIDE = ("lamin_b1_curation",)


def _execute(path: Path, work: Path):
    notebook = nbformat.read(path, as_version=4)
    _quick(notebook)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()
    return notebook


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs: strip them"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    # A copy of the layout (notebooks/ beside data_samples/) so that the notebook's relative paths work
    # and whatever it saves lands in the temporary folder, never in the user's notebooks/results.
    work = tmp_path / path.parent.relative_to(ROOT)
    work.mkdir(parents=True)
    os.symlink(ROOT / "data_samples", tmp_path / "data_samples")
    for name in SHIPPED_BESIDE:
        if (path.parent / name).is_dir():
            os.symlink(path.parent / name, work / name)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits the environment
    for earlier in EARLIER_STAGES.get(path.name, ()):  # e.g. prediction needs the model training made
        _execute(path.parent / earlier, work)
    notebook = _execute(path, work)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    if path.name == "threshold_baselines.ipynb":
        shown = "".join(str(o.get("data", {})) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        assert "| structure |" in shown
        assert "beats the preset on" in text and "presets: mean Dice" in text
    if path.name == "00_building_blocks.ipynb":
        assert "saved" in text and list((work / "results").glob("*_seg.ome.tif"))
    if path.parent.name == "structures":
        _check_structure_outputs(notebook, text, work)
    if path.name == "3_training.ipynb":
        assert "examples in training/lamin_b1" in text and list((work / "models").glob("lamin_b1*/checkpoint_best.pt"))
    if path.name == "0_iterative_loop.ipynb":
        _check_loop_outputs(text, work)
    if path.name in ("1_sorting.ipynb", "2_merging.ipynb"):
        _check_curation_outputs(path.name, notebook, text, work)
    if path.name == "4_prediction.ipynb":
        assert "best Dice" in text and "done: field_12.ome.tif" in text
        assert (work / "results" / "predicted" / "field_12_prob.ome.tif").exists()
    if path.parent.name == "analysis" and path.name in ANALYSIS_CHECKS:
        ANALYSIS_CHECKS[path.name](notebook, text, work)


def _check_pipeline_grid(notebook, text, work):
    """A 3 x 3 grid ran on two workers, was judged from code, and the judgements were saved with their record."""
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert "3 x 3 grid in" in text and "workers; 0 failed" in text and "best: " in text
    assert "{'correct': 1," in text and "judgements: results/pipeline_grid/judgements_quick.csv" in text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    for suffix in (".csv", ".json"):
        assert (work / "results" / "pipeline_grid" / f"judgements_quick{suffix}").exists()


def _check_measurements(notebook, text, work):
    """Objects measured, filtered, classified, embedded, exported for Fiji, an edit re-imported and compared."""
    assert "objects measured; median volume" in text and "match a true peroxisome with IoU >= 0.5" in text
    assert "kept after filtering" in text and "inside the region" in text and "PCA: pc1 keeps" in text
    assert "removed: 1 object (before: 1)" in text and "merged: 1 group" in text
    out = work / "results" / "measurements"
    for name in ("peroxisomes.csv", "peroxisomes.json", "peroxisome_labels.tif"):
        assert (out / name).exists()


def _check_membranes(notebook, text, work):
    """Scaled, trained with noise, predicted with overlapping tiles, swept, ECDF, cells back from membranes."""
    assert "2 examples in results/membranes/quick/training" in text
    assert "grey levels used:" in text and "membrane voxels in the test volume:" in text
    assert "overlap 10: Dice" in text and "overlap 0: Dice" in text and "best IoU" in text and "cells:" in text
    out = work / "results" / "membranes" / "quick"
    assert (out / "test_membrane_probability.ome.tif").exists() and (out / "model" / "checkpoint_best.pt").exists()


def _check_em_multiclass(notebook, text, work):
    """Trained with the ignored class, cleaned per class, scored, chromosomes counted, contrast matched."""
    assert "micro-F1 on the test volume after clean-up:" in text and "chromosomes found:" in text
    assert "micro-F1 on the new-contrast volume with histogram matching:" in text
    assert list((work / "results").glob("em_multiclass*/scores.csv"))


def _check_ensembles(notebook, text, work):
    """Two architectures over two seeds with error weighting, then a top-2 ensemble against the best single one."""
    assert "over 2 seeds" in text and "best single network: mean IoU all classes" in text
    assert "top-2 ensemble: mean IoU all classes" in text


#: Checks of what each analysis notebook printed and wrote, by file name.
ANALYSIS_CHECKS = {"pipeline_grid.ipynb": _check_pipeline_grid, "measurements.ipynb": _check_measurements,
                   "membranes.ipynb": _check_membranes, "em_multiclass.ipynb": _check_em_multiclass,
                   "ensembles.ipynb": _check_ensembles}


def _check_loop_outputs(text, work):
    """The loop replayed the recorded decisions, trained two models and scored three iterations."""
    import json

    assert "all images decided · 11 accepted, 1 rejected" in text and "12 merged examples" in text
    assert "classic, training fields: interphase nuclei 7/8 (88 %)" in text
    scores = json.loads((work / "loop" / "scores.json").read_text())
    assert scores["quick"] is True and list(scores["scores"]) == ["classic", "model 1", "model 2"]
    for name in ("model_1", "model_2"):
        assert (work / "loop" / name / "checkpoint_best.pt").exists()
    assert len(list((work / "loop" / "training_2").glob("img_*_GT.ome.tif"))) == 12


def _check_curation_outputs(name, notebook, text, work):
    """Quick mode curates 3 fields by replaying the recorded decisions, with the widget displayed."""
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    if name == "1_sorting.ipynb":
        assert "applied 3 recorded decisions from lamin_b1_curation/sorting.csv" in text
        assert "all images decided · 3 accepted, 0 rejected, 0 to do" in text
        assert "3 training examples in training/sorted" in text
        assert len(list((work / "curation" / "sorting_regions").glob("*_exclusion.json"))) == 2  # fields 01, 03
        assert (work / "training" / "sorted" / "img_003_CM.ome.tif").exists()
    else:
        assert "applied 3 recorded merges from lamin_b1_curation/merging.csv" in text
        assert "3 merged, 0 rejected, 0 to do" in text and "took all 3 images into training/take_all" in text
        assert (work / "curation" / "merging_regions" / "field_03_merge.json").exists()
        assert (work / "training" / "merged" / "img_003_GT.ome.tif").exists()
        assert any("image/png" in o.get("data", {}) for o in outputs)


def _check_structure_outputs(notebook, text, work):
    """The panel and the 3D view were displayed as widgets, the workflow saved and run on the image."""
    widget_outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_outputs) >= 3  # the slice viewer, the tuning panel, the 3D view
    assert "saved the tuned workflow to" in text and "done: " in text
    saved = list((work / "results").glob("*_tuned.json"))
    assert len(saved) == 1 and list((work / "results" / saved[0].stem).glob("*_seg.ome.tif"))


STRUCTURES = sorted((ROOT / "notebooks" / "structures").glob("*.ipynb"))


def _parameters(path: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    return namespace


def test_the_structure_notebooks_follow_the_lookup_table():
    from helpers import workflow

    assert len(STRUCTURES) == 20
    assert [p.name[:2] for p in STRUCTURES] == [f"{n:02d}" for n in range(1, 21)]
    presets = [_parameters(p)["PRESET"] for p in STRUCTURES]
    assert sorted(presets) == workflow.preset_names()
    readme = (ROOT / "notebooks" / "README.md").read_text()
    for path, preset in zip(STRUCTURES, presets):
        parameters = _parameters(path)
        assert (path.parent / parameters["DATA"]).resolve() == (ROOT / "data_samples" / f"{preset}.ome.tif")
        assert parameters["QUICK"] is False and parameters["CHANNEL"] is None
        assert f"structures/{path.name}" in readme and f"images/{preset}.png" in readme
        assert (ROOT / "notebooks" / "images" / f"{preset}.png").exists()
        notebook = nbformat.read(path, as_version=4)
        markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        assert "## Checklist" in markdown and f"preset `{preset}`" in markdown
        for step in workflow.load_preset(preset).steps:  # the introduction names every step
            assert f"`{step.id}`" in markdown, (path.name, step.id)


@pytest.mark.slow
def test_a_copied_structure_notebook_runs_unchanged_on_another_file(tmp_path, monkeypatch):
    """A user copies a notebook elsewhere and points DATA at their own file (here without a voxel size)."""
    from helpers import io, regions

    source = next(p for p in STRUCTURES if p.name.startswith("04_"))
    image = io.read_image(ROOT / "data_samples" / "tuba1b.ome.tif").data
    mine = tmp_path / "my data" / "cells.tif"
    mine.parent.mkdir()
    import tifffile

    tifffile.imwrite(mine, regions.center_crop(image, (20, 100, 120)))  # plain TIFF: no voxel size recorded
    work = tmp_path / "analysis"
    work.mkdir()
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace('"../../data_samples/tuba1b.ome.tif"', repr(str(mine)))
            assert repr(str(mine)) in cell.source
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "(20, 100, 120) (Z, Y, X)" in text and "voxel size None" in text
    assert (work / "results" / "tuba1b_tuned" / "cells_seg.ome.tif").exists()
    assert mine.exists() and np.array_equal(tifffile.imread(mine), regions.center_crop(image, (20, 100, 120)))
