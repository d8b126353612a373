"""The curation widgets (helpers.curation.widgets), driven from code as a person's clicks would drive them."""

from __future__ import annotations

import csv
import io as _io
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import io, training_data
from helpers.curation import Merger, Sorter, load_regions, match_candidates
from helpers.curation import widgets as curation_widgets
from helpers.curation.widgets import A_RGB, B_RGB, REGION_RGB, MergingWidget, SortingWidget

SHAPE = (6, 40, 50)  # (Z, Y, X)
VOXEL_SIZE = (0.5, 0.1, 0.1)  # z stretched x5 in the XZ panel


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def data(tmp_path):
    """Three raw images, candidate A (a box) and candidate B (the box moved 5 pixels in x)."""
    rng = np.random.default_rng(0)
    for name in ("raw", "seg", "segb"):
        (tmp_path / name).mkdir()
    for index in range(3):
        image = rng.normal(100, 5, SHAPE).astype(np.float32)
        image[:, 10:20, 10:30] += 60
        io.write_image(tmp_path / "raw" / f"cell_{index}.ome.tif", image, voxel_size=VOXEL_SIZE)
        box = np.zeros(SHAPE, bool)
        box[:, 10:20, 10:30] = True
        io.write_mask(tmp_path / "seg" / f"cell_{index}_seg.ome.tif", box)
        io.write_mask(tmp_path / "segb" / f"cell_{index}_seg.ome.tif", np.roll(box, 5, axis=2))
    return tmp_path


@pytest.fixture
def sorting(data):
    sorter = Sorter(match_candidates(data / "raw", data / "seg"), data / "cur" / "sorting.csv",
                    training_folder=data / "train")
    return SortingWidget(sorter)


def _status(widget) -> str:
    return widget._status.value


def _is_error(widget) -> bool:
    return "#b00020" in widget._status.value


def _png(widget) -> np.ndarray:
    return np.asarray(Image.open(_io.BytesIO(widget._preview.value)).convert("RGB"))


def test_buttons_update_the_session_the_log_and_the_progress_line(sorting, data):
    log = data / "cur" / "sorting.csv"
    assert sorting._progress.value == "<b>image 1 of 3 · 0 accepted, 0 rejected, 3 to do</b>"
    assert "cell_0.ome.tif" in sorting._name_line.value
    sorting._buttons["accept"].click()
    assert sorting.session.index == 1
    assert [(r["raw"].split("/")[-1], r["score"], r["mask"]) for r in _rows(log)] == [("cell_0.ome.tif", "1", "")]
    assert "image 2 of 3 · 1 accepted, 0 rejected, 2 to do" in sorting._progress.value
    assert "Accepted cell_0.ome.tif" in _status(sorting) and not _is_error(sorting)
    sorting._buttons["skip"].click()
    assert sorting.session.index == 2 and "Skipped cell_1.ome.tif" in _status(sorting)
    sorting._buttons["reject"].click()  # cell_2 rejected; back to the skipped cell_1
    assert sorting.session.index == 1
    assert {r["raw"].split("/")[-1]: r["score"] for r in _rows(log)} == {"cell_0.ome.tif": "1", "cell_2.ome.tif": "0"}
    assert "image 2 of 3 · 1 accepted, 1 rejected, 1 to do" in sorting._progress.value
    sorting._buttons["back"].click()
    assert sorting.session.index == 0 and "already accepted" in sorting._name_line.value
    assert sorting._buttons["back"].disabled  # nothing before the first image
    assert [e.name for e in training_data.find_training_images(data / "train")] == ["img_001"]


def test_methods_do_what_the_buttons_do_and_the_end_says_what_next(sorting, data):
    sorting.accept()
    sorting.reject()
    sorting.accept()
    assert sorting.session.index is None and sorting.session.done
    assert "all images decided · 2 accepted, 1 rejected, 0 to do" in sorting._progress.value
    status = _status(sorting)
    assert "Every image has a decision" in status and str(data / "train") in status and "3_training" in status
    assert all(b.disabled for k, b in sorting._buttons.items() if k != "back")
    assert not sorting._buttons["back"].disabled and sorting._preview.layout.display == "none"
    assert [t.get_text() for t in sorting._axes.texts] == ["every image has a decision"]
    sorting._buttons["accept"].click()  # nothing left: said in red, not raised
    assert _is_error(sorting) and "Every image has a decision" in _status(sorting)
    sorting.back()
    assert sorting.session.index == 2 and not sorting._buttons["accept"].disabled
    assert sorting._preview.layout.display is None
    sorting.reject()  # a decision changed from the end
    assert sorting.session.counts() == {"accepted": 1, "rejected": 2, "undecided": 0, "total": 3}
    assert len(training_data.find_training_images(data / "train")) == 1


def test_a_polygon_added_through_the_widget_reaches_the_regions_file_and_the_cost_map(sorting, data):
    polygon = sorting.add_polygon([(0, 0), (0, 20), (30, 20), (30, 0)])
    assert sorting.session.polygons == [polygon]
    assert len(sorting._axes.patches) == 1  # drawn on the canvas
    assert not sorting._buttons["undo"].disabled and not sorting._buttons["clear"].disabled
    sorting.accept()
    row = _rows(data / "cur" / "sorting.csv")[0]
    assert row["score"] == "1" and row["mask"].endswith("cell_0_exclusion.json")
    polygons, shape = load_regions(data / "cur" / row["mask"])
    assert shape == SHAPE and len(polygons) == 1
    assert np.array_equal(polygons[0].vertices, [[0, 0], [0, 20], [30, 20], [30, 0]])
    cost = io.read_image(training_data.find_training_images(data / "train")[0].cost).data
    assert cost[:, 5, 5].max() == 0 and cost[:, 35, 40].min() == 1  # 0 inside the region, 1 outside
    assert len(sorting._axes.patches) == 0  # the next image starts without regions


def test_undo_and_clear_remove_regions(sorting):
    sorting.add_polygon([(0, 0), (0, 10), (10, 10)])
    sorting.add_polygon([(20, 20), (20, 30), (30, 30)])
    sorting.undo()
    assert len(sorting.session.polygons) == 1 and len(sorting._axes.patches) == 1
    assert "1 left" in _status(sorting)
    sorting.clear()
    assert sorting.session.polygons == [] and len(sorting._axes.patches) == 0
    assert sorting._buttons["undo"].disabled and sorting._buttons["clear"].disabled


def test_the_selector_callback_adds_a_y_x_polygon_and_resets_for_the_next(sorting):
    first = sorting.selector
    sorting.selector.onselect([(5.0, 1.0), (25.0, 1.0), (25.0, 12.0)])  # matplotlib's (x, y) order
    assert np.array_equal(sorting.session.polygons[0].vertices, [[1, 5], [1, 25], [12, 25]])
    assert sorting.selector is not first and sorting.selector is not None  # a fresh selector for the next one
    assert len(sorting._axes.patches) == 1
    patch = sorting._axes.patches[0].get_xy()
    assert np.allclose(patch[:3], [[5, 1], [25, 1], [25, 12]])  # drawn where it was clicked (x, y)
    region = sorting.session.region_mask()
    assert region[:, 5, 20].all() and not region[:, 30, 20].any()


def _click(canvas, axes, x, y, kind="button_press_event"):
    from matplotlib.backend_bases import MouseEvent

    px, py = axes.transData.transform((x, y))
    MouseEvent(kind, canvas, px, py, button=1 if kind != "motion_notify_event" else None)._process()


def test_mouse_clicks_on_the_canvas_draw_a_polygon(sorting):
    """The PolygonSelector itself: clicks at three corners, then on the first one, close the polygon."""
    canvas, axes = sorting.canvas, sorting._axes
    for x, y in [(4, 4), (30, 4), (30, 20), (4, 4)]:
        _click(canvas, axes, x, y, "motion_notify_event")
        _click(canvas, axes, x, y, "button_press_event")
        _click(canvas, axes, x, y, "button_release_event")
    assert len(sorting.session.polygons) == 1
    assert np.allclose(sorting.session.polygons[0].vertices, [[4, 4], [4, 30], [20, 30]], atol=0.01)
    for x, y in [(40, 30), (45, 30), (45, 36), (40, 30)]:  # the reset selector draws a second one
        _click(canvas, axes, x, y, "motion_notify_event")
        _click(canvas, axes, x, y, "button_press_event")
        _click(canvas, axes, x, y, "button_release_event")
    assert len(sorting.session.polygons) == 2


def test_errors_show_in_the_status_line_in_red(sorting, data, monkeypatch):
    sorting._buttons["load_mask"].click()  # empty field
    assert _is_error(sorting) and "Type the path of a mask file" in _status(sorting)
    sorting._mask_path.value = str(data / "missing.tif")
    sorting._buttons["load_mask"].click()
    assert _is_error(sorting) and "No mask file" in _status(sorting)
    sorting._polygon_drawn([(1.0, 1.0), (5.0, 5.0)])  # two vertices enclose nothing
    assert _is_error(sorting) and "at least 3 vertices" in _status(sorting)
    assert sorting.session.polygons == []

    def broken():
        raise KeyError("boom")

    monkeypatch.setattr(sorting.session, "reject", broken)
    sorting._buttons["reject"].click()
    assert _is_error(sorting) and "Unexpected error (KeyError" in _status(sorting)
    sorting._buttons["accept"].click()  # the widget is still usable after it
    assert not _is_error(sorting) and sorting.session.counts()["accepted"] == 1


def test_a_mask_drawn_elsewhere_is_loaded_from_the_text_field(sorting, data):
    drawn = np.zeros(SHAPE[1:], np.uint8)
    drawn[25:35, 30:45] = 255  # a 2D mask, as Fiji's Create Mask saves it
    np.save(data / "fiji_mask.npy", drawn)
    sorting._mask_path.value = str(data / "fiji_mask.npy")
    sorting._buttons["load_mask"].click()
    assert not _is_error(sorting) and "fiji_mask.npy" in _status(sorting)
    assert sorting.session.mask_file == (data / "fiji_mask.npy").resolve()
    assert np.array_equal(sorting.session.region_mask(), np.broadcast_to(drawn > 0, SHAPE))
    assert not sorting._buttons["clear"].disabled
    sorting.accept()
    assert _rows(data / "cur" / "sorting.csv")[0]["mask"].endswith("fiji_mask.npy")


def test_the_preview_shows_the_candidate_the_regions_and_a_stretched_xz_projection(sorting):
    before = _png(sorting)
    scale = sorting.panel_size / 50  # the XY panels' longest side is panel_size
    xy_rows, xz_rows = round(40 * scale), round(6 * 5 * 40 * scale / 40)
    assert before.shape == (max(xy_rows, xz_rows), 3 * round(50 * scale) + 2 * 4, 3)  # three panels, 4 px gaps
    red = np.all(before == np.asarray(A_RGB), axis=-1) | (
        (before[..., 0] > before[..., 1] + 40) & (before[..., 0] > before[..., 2] + 40))
    middle = before[:, : round(50 * scale)]
    assert red[:xy_rows, : round(50 * scale)].sum() > 0.8 * (10 * 20 * scale**2)  # the candidate box, tinted
    assert not np.any(np.all(middle == np.asarray(REGION_RGB), axis=-1))  # no region yet
    sorting.add_polygon([(0, 0), (0, 20), (30, 20), (30, 0)])
    after = _png(sorting)
    amber = np.all(after == np.asarray(REGION_RGB), axis=-1)
    assert amber[:, : round(50 * scale)].any() and amber[:, round(50 * scale) + 4: 2 * round(50 * scale) + 4].any()
    assert "XZ maximum projection, z stretched x5.0" in sorting._captions.value


def test_without_ipympl_the_widget_says_how_to_draw_and_still_takes_polygons(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipympl.backend_nbagg", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "ipympl", None)
    sorter = Sorter(match_candidates(data / "raw", data / "seg"), data / "cur" / "sorting.csv")
    widget = SortingWidget(sorter)
    assert widget.canvas is None and widget.selector is None and widget.figure is None
    notes = [c for c in widget.widget.children if "segmenter-curation-canvas-note" in c._dom_classes]
    assert len(notes) == 1 and "Install ipympl to draw" in notes[0].value and "add_polygon" in notes[0].value
    widget.add_polygon([(0, 0), (0, 10), (10, 10)])
    widget.accept()
    assert _rows(data / "cur" / "sorting.csv")[0]["mask"].endswith("cell_0_exclusion.json")
    widget.reject()
    widget.reject()
    assert "No training folder was given" in _status(widget)


def test_show_3d_builds_a_viewer_of_the_image_and_its_candidate(sorting):
    from helpers.viewer import Viewer3D

    assert sorting.viewer3d is None and sorting._view3d_box.children == ()
    viewer = sorting._buttons["show_3d"].click() or sorting.viewer3d
    assert isinstance(viewer, Viewer3D) and sorting._view3d_box.children == (viewer.widget,)
    assert viewer.voxel_size == VOXEL_SIZE
    assert viewer.voxels is not None  # the candidate is drawn as a mask
    sorting.skip()  # a 3D view of another image is not left on show
    assert sorting.viewer3d is None and sorting._view3d_box.children == ()


def test_the_widget_has_the_css_classes_the_browser_test_uses(sorting):
    assert "segmenter-curation" in sorting.widget._dom_classes
    assert "segmenter-curation-canvas" in sorting.canvas._dom_classes
    assert "segmenter-curation-status" in sorting._status._dom_classes
    for key in ("accept", "reject", "skip", "back", "undo", "clear", "show-3d", "load-mask"):
        button = sorting._buttons[key.replace("-", "_")]
        assert f"segmenter-curation-{key}" in button._dom_classes


def test_merging_widget_saves_b_inside_the_regions_and_a_outside(data):
    merger = Merger(match_candidates(data / "raw", data / "seg", data / "segb"), data / "cur" / "merging.csv",
                    training_folder=data / "merged")
    widget = MergingWidget(merger)
    assert widget._buttons["accept"].description == "Save merged"
    before = _png(widget)
    assert before.shape[1] == 3 * widget.panel_size + 2 * 4
    widget.selector.onselect([(20.0, 0.0), (49.0, 0.0), (49.0, 39.0), (20.0, 39.0)])  # x >= 20: B
    panels = _png(widget)
    merged_panel = panels[:, 2 * (widget.panel_size + 4):]
    blue = np.abs(merged_panel.astype(int) - (np.asarray(B_RGB) * 0.5 + 100 * 0.5)).sum(axis=-1) < 120
    assert blue.any()  # part of the merge comes from B
    widget._buttons["accept"].click()
    assert "Saved the merge of cell_0.ome.tif with 1 region" in _status(widget)
    row = _rows(data / "cur" / "merging.csv")[0]
    assert row["score"] == "1" and row["mask"].endswith("cell_0_merge.json")
    truth = io.read_image(training_data.find_training_images(data / "merged")[0].truth).data > 0
    a = np.zeros(SHAPE, bool)
    a[:, 10:20, 10:30] = True
    b = np.roll(a, 5, axis=2)
    inside = np.zeros(SHAPE, bool)
    inside[:, :, 20:] = True
    assert np.array_equal(truth, np.where(inside, b, a))
    assert truth[:, 15, 32].all() and not a[:, 15, 32].any()  # B's right end, which A lacks, is kept


def test_wrong_arguments_are_refused_with_a_clear_message(data):
    sorter = Sorter(match_candidates(data / "raw", data / "seg"), data / "cur" / "sorting.csv")
    with pytest.raises(ValueError, match="MergingWidget shows a Merger"):
        MergingWidget(sorter)
    with pytest.raises(ValueError, match="panel_size"):
        SortingWidget(sorter, panel_size=10)
    assert curation_widgets.__all__ == ["SortingWidget", "MergingWidget", "merge_figure"]


def test_a_widget_on_a_finished_log_says_so_at_once(data):
    items = match_candidates(data / "raw", data / "seg")
    sorter = Sorter(items, data / "cur" / "sorting.csv", training_folder=data / "train")
    for _ in items:
        sorter.accept()
    widget = SortingWidget(Sorter(items, data / "cur" / "sorting.csv", training_folder=data / "train"))
    assert widget.session.index is None and "Every image has a decision" in _status(widget)
    assert widget._buttons["accept"].disabled


def test_merge_figure_shows_a_b_and_the_merge_as_decided(data):
    from helpers.curation.widgets import merge_figure

    merger = Merger(match_candidates(data / "raw", data / "seg", data / "segb"), data / "cur" / "merging.csv")
    merger.add_polygon([(0, 20), (0, 49), (39, 49), (39, 20)])
    merger.accept()
    figure = merge_figure(merger, 0)
    axes = figure.get_axes()
    assert [a.get_title() for a in axes] == ["A", "B", "merged (saved): B inside the amber regions"]
    merged = axes[2].get_images()[0].get_array()
    a_tint, b_tint = merged[15, 12].astype(int), merged[15, 32].astype(int)
    assert a_tint[0] > a_tint[2] and b_tint[2] > b_tint[0]  # left end from A (red), right end from B (blue)
    assert merge_figure(merger, 1).get_axes()[2].get_title().startswith("merged (not decided yet)")
    assert figure._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="`index`"):
        merge_figure(merger, 3)
