"""A structure notebook works in a real browser: JupyterLab 4 served on localhost, driven by headless Chromium.

What it checks, on the notebook's tuning panel (the CSS classes ``helpers.widgets.TuningPanel`` adds):
moving a ``segmenter-parameter`` slider re-renders the ``segmenter-preview`` image and the
``segmenter-status`` text; the ``segmenter-view3d`` box draws a non-empty k3d canvas; the page logs no
console error; and no request leaves the machine (anything not to 127.0.0.1 / localhost is aborted and
counted as a failure).

It drives the system Chromium (``apt-get install chromium``) through the ``playwright`` Python package and
never downloads a browser. Without them it skips, unless ``SEGMENTER_REQUIRE_BROWSER=1`` is set, then it fails.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from _lab import TIMEOUT_MS, _quick, jupyterlab, notebook_page, sync_playwright  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]

# The notebook the test opens (relative to the repository root).
NOTEBOOK = "notebooks/structures/04_tuba1b_microtubules.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def workspace(tmp_path):
    """notebooks/structures/<notebook> (QUICK = True) beside a data_samples link, as in the repository."""
    source = ROOT / NOTEBOOK
    folder = tmp_path / "notebooks" / "structures"
    folder.mkdir(parents=True)
    os.symlink(ROOT / "data_samples", tmp_path / "data_samples")
    notebook = nbformat.read(source, as_version=4)
    _quick(notebook)
    nbformat.write(notebook, folder / source.name)
    return tmp_path, f"notebooks/structures/{source.name}"


def _canvas_is_drawn(png: Path) -> tuple[bool, str]:
    """Whether a screenshot shows a picture rather than one flat colour (an empty or failed WebGL canvas)."""
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    spread = float(pixels.std())
    return spread > 5.0 and colours > 50, f"pixel std {spread:.1f}, {colours} distinct colours"


def test_tuning_panel_and_3d_view_work_in_jupyterlab(sync_playwright, jupyterlab, tmp_path):
    # Nothing is ignored: any console error or uncaught exception in the page fails the test.
    with notebook_page(sync_playwright, jupyterlab, tmp_path) as page:
        # -- the tuning panel: a slider's change re-renders the preview and the status line
        panel = page.locator(".segmenter-panel").first
        panel.scroll_into_view_if_needed()
        preview = panel.locator("img.segmenter-preview").first
        status = panel.locator(".segmenter-status").first
        page.wait_for_function("e => (e.getAttribute('src') || '').length > 0", arg=preview.element_handle())
        src_before, status_before = preview.get_attribute("src"), status.inner_text()
        assert status_before.strip(), "the status line is empty"
        page.screenshot(path=str(tmp_path / "panel_before.png"))

        # The first visible, enabled slider; noUiSlider's handle takes arrow keys (one step each) and
        # reports the change when the key is released, so continuous_update=False sliders fire too.
        handle = panel.locator(".segmenter-parameter .noUi-target:not([disabled]) .noUi-handle").locator(
            "visible=true").first
        at_maximum = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        for _ in range(5):
            handle.press("ArrowLeft" if at_maximum else "ArrowRight")
        page.wait_for_function(
            "([e, before]) => e.getAttribute('src') !== before",
            arg=[preview.element_handle(), src_before], timeout=TIMEOUT_MS)
        page.wait_for_function(
            "([e, before]) => e.innerText !== before",
            arg=[status.element_handle(), status_before], timeout=TIMEOUT_MS)
        assert preview.get_attribute("src") != src_before
        assert status.inner_text() != status_before
        page.screenshot(path=str(tmp_path / "panel_after.png"))

        # -- the 3D view draws something: k3d's WebGL canvas (the largest one in the box), shot with the
        # HTML drawn over it (control panel, colour bar, axis labels) hidden, so that only WebGL counts.
        view3d = page.locator(".segmenter-view3d").last
        view3d.scroll_into_view_if_needed()
        view3d.locator("canvas").first.wait_for()
        page.evaluate("""box => {
            const canvases = Array.from(box.querySelectorAll('canvas'));
            const area = c => c.getBoundingClientRect().width * c.getBoundingClientRect().height;
            canvases.sort((a, b) => area(b) - area(a));
            canvases[0].setAttribute('data-segmenter-webgl', '');
        }""", view3d.element_handle())
        canvas = view3d.locator("canvas[data-segmenter-webgl]")
        only_webgl = (".segmenter-view3d * { visibility: hidden !important; } "
                      ".segmenter-view3d canvas[data-segmenter-webgl] { visibility: visible !important; }")
        shot = tmp_path / "view3d.png"
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            canvas.screenshot(path=str(shot), style=only_webgl)
            drawn, summary = _canvas_is_drawn(shot)
            if drawn or time.monotonic() > deadline:
                break
            page.wait_for_timeout(500)
        assert drawn, f"the 3D view's canvas looks empty ({summary}); see {shot}"
        view3d.screenshot(path=str(tmp_path / "view3d_with_controls.png"))
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
