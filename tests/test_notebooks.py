"""Every notebook runs top to bottom, headless, and is committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
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
    notebook = nbformat.read(path, as_version=4)
    _quick(notebook)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits the environment
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    if path.name == "threshold_baselines.ipynb":
        shown = "".join(str(o.get("data", {})) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
        assert "| structure |" in shown
        assert "beats the preset on" in text and "presets: mean Dice" in text
    if path.name == "00_building_blocks.ipynb":
        assert "saved" in text and list((work / "results").glob("*_seg.ome.tif"))
