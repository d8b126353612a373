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
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from _lab import CHROMIUM, CHROMIUM_ARGS, _is_local, jupyterlab, sync_playwright  # noqa: F401 (fixtures)

TIMEOUT_MS = 30_000
RUN_ALL_TIMEOUT_MS = 120_000
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
    console_errors: list[str] = []
    outgoing: list[str] = []
    seen: list[str] = []
    root = Path(jupyterlab["root"])
    log = root / "cur" / "sorting.csv"

    def route(request_route):
        url = request_route.request.url
        if _is_local(url):
            request_route.continue_()
        else:
            outgoing.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
            context.route("**/*", route)
            context.route_web_socket(lambda url: not _is_local(url),
                                     lambda socket_: (outgoing.append(socket_.url), socket_.close()))
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and console_errors.append(
                f"console: {message.text} ({message.location.get('url', '')})"))
            page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
            page.on("request", lambda request: seen.append(request.url))
            page.set_default_timeout(TIMEOUT_MS)

            url = f"{jupyterlab['base']}/lab/tree/{jupyterlab['notebook']}?reset&token={jupyterlab['token']}"
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).wait_for(timeout=60_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            try:
                page.wait_for_function(
                    """() => {
                        const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'));
                        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
                    }""", timeout=RUN_ALL_TIMEOUT_MS)
            finally:
                page.screenshot(path=str(tmp_path / "after_run_all.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, f"a cell raised: {errors.first.inner_text()}"

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
        finally:
            browser.close()

    assert seen, "the page made no request at all: the request recorder is broken"
    assert not outgoing, f"the page tried to reach the internet: {outgoing}"
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)
