"""The sorting widget works in a real browser: JupyterLab on localhost, headless Chromium clicking and drawing.

A temporary notebook makes three tiny images with candidates, a ``Sorter`` and a ``SortingWidget``. In the
page the test clicks **Accept** (the log on disk gets a row with score 1 and the progress line changes),
then draws a triangle on the ipympl canvas (three clicks, and a fourth on the first corner to close it)
and accepts again: the regions file on disk holds that triangle, where it was clicked. As in
tests/test_browser.py, the page must log no console error and no request may leave the machine.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from _lab import TIMEOUT_MS, jupyterlab, notebook_page, sync_playwright  # noqa: F401 (fixtures)

SIZE = 64  # the images are SIZE x SIZE pixels (6 slices); the canvas shows them at 384 x 384 screen pixels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAKE_DATA = f"""
import numpy as np
from helpers import io, curation
from helpers.curation.widgets import SortingWidget

rng = np.random.default_rng(0)
for index in range(3):
    image = rng.normal(100, 5, (6, {SIZE}, {SIZE})).astype(np.float32)
    image[:, 20:40, 20:44] += 80
    io.write_image(f"raw/cell_{{index}}.ome.tif", image, voxel_size=(0.5, 0.1, 0.1), overwrite=True)
    io.write_mask(f"seg/cell_{{index}}_seg.ome.tif", image > 140, overwrite=True)
sorter = curation.Sorter(curation.match_candidates("raw", "seg"), "cur/sorting.csv", training_folder="train")
"""


@pytest.fixture
def workspace(tmp_path):
    """A folder with the notebook (and empty raw/ and seg/ folders it fills)."""
    for name in ("raw", "seg"):
        (tmp_path / name).mkdir()
    notebook = new_notebook(cells=[new_code_cell(MAKE_DATA.strip()), new_code_cell("widget = SortingWidget(sorter)\nwidget")])
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(notebook, tmp_path / "sorting.ipynb")
    return tmp_path, "sorting.ipynb"


def _log_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _wait_for(condition, what: str, timeout: float = TIMEOUT_MS / 1000):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_accept_and_draw_a_region_in_jupyterlab(sync_playwright, jupyterlab, tmp_path):
    root = Path(jupyterlab["root"])
    log = root / "cur" / "sorting.csv"
    with notebook_page(sync_playwright, jupyterlab, tmp_path) as page:
        # -- Accept: a row with score 1 in the log on disk, and the progress line moves on
        widget = page.locator(".segmenter-curation").first
        widget.scroll_into_view_if_needed()
        progress = widget.locator(".segmenter-curation-progress").first
        status = widget.locator(".segmenter-curation-status").first
        progress.get_by_text("image 1 of 3").wait_for()
        assert "0 accepted, 0 rejected, 3 to do" in progress.inner_text()
        widget.locator(".segmenter-curation-accept").first.click()
        progress.get_by_text("1 accepted, 0 rejected, 2 to do").wait_for()
        status.get_by_text("Accepted cell_0.ome.tif.").wait_for()
        assert "image 2 of 3" in progress.inner_text()
        rows = _wait_for(lambda: _log_rows(log), "the log's first row")
        assert [(Path(r["raw"]).name, r["score"], r["mask"]) for r in rows] == [("cell_0.ome.tif", "1", "")]

        # -- draw a triangle on the ipympl canvas: three corners, then the first corner again
        canvas = widget.locator(".segmenter-curation-canvas canvas").last  # the top canvas takes the mouse
        canvas.scroll_into_view_if_needed()
        canvas.wait_for()
        page.wait_for_function("c => c.getBoundingClientRect().width > 100", arg=canvas.element_handle())
        box = canvas.bounding_box()
        # a false start, abandoned with Escape (the widget's help says so)
        for fx, fy in [(0.9, 0.9), (0.95, 0.6)]:
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=3)
            page.wait_for_timeout(200)
            page.mouse.down()
            page.mouse.up()
        page.wait_for_timeout(300)
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        corners = [(0.2, 0.25), (0.75, 0.25), (0.5, 0.8), (0.2, 0.25)]  # fractions of the width, height
        for fx, fy in corners:
            x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
            page.mouse.move(x - 3, y - 3)
            page.mouse.move(x, y, steps=3)
            page.wait_for_timeout(300)  # the kernel places the pending vertex (snaps to the first one)
            page.mouse.down()
            page.mouse.up()
            page.wait_for_timeout(300)
        status.get_by_text("Added region 1 (3 vertices)").wait_for()
        page.screenshot(path=str(tmp_path / "drawn.png"))
        widget.locator(".segmenter-curation-accept").first.click()
        progress.get_by_text("2 accepted, 0 rejected, 1 to do").wait_for()
        status.get_by_text("Accepted cell_1.ome.tif with 1 region.").wait_for()
        rows = _wait_for(lambda: [r for r in _log_rows(log) if r["mask"]], "the second image's row with its regions")
        assert Path(rows[0]["raw"]).name == "cell_1.ome.tif" and rows[0]["score"] == "1"
        regions = json.loads((log.parent / rows[0]["mask"]).read_text())
        assert regions["shape"] == [6, SIZE, SIZE] and len(regions["polygons"]) == 1
        vertices = regions["polygons"][0]["vertices"]
        assert len(vertices) in (3, 4)
        expected = [(fy * SIZE - 0.5, fx * SIZE - 0.5) for fx, fy in corners[:3]]  # (y, x) pixels
        for (y, x), (ey, ex) in zip(vertices, expected):
            assert abs(y - ey) < 1.5 and abs(x - ex) < 1.5, (vertices, expected)
        page.wait_for_timeout(500)  # the canvas' redraw for the next image (an image message from the kernel)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
