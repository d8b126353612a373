"""The tuning panel (helpers.widgets): controls from the registry, partial recompute, preview, buttons."""

from __future__ import annotations

import json

import ipywidgets
import numpy as np
import pytest

from helpers import io, regions, widgets, workflow
from helpers.registry import get_algorithm

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    """The SEC61B sample cropped to keep the panel tests fast."""
    return regions.center_crop(io.read_image(ROOT / "data_samples" / "sec61b.ome.tif").data, (16, 96, 96)).copy()


def _sliders(panel):
    return {(step, name): control for step, controls in panel._controls.items() for name, control in controls.items()}


@pytest.mark.parametrize("name", workflow.preset_names())
def test_every_parameter_of_every_preset_gets_a_control_with_the_registry_range(name, small):
    panel = widgets.TuningPanel(name, small)
    preset = workflow.load_preset(name)
    expected = {(s.id, p) for s in preset.steps for p in get_algorithm(s.algorithm).parameters}
    assert set(_sliders(panel)) == expected
    for (step_id, parameter), control in _sliders(panel).items():
        spec = get_algorithm(preset.step(step_id).algorithm).parameters[parameter]
        assert control.get() == preset.step(step_id).parameters[parameter]  # shows the preset's value
        for part in control._parts:
            if isinstance(part, (ipywidgets.FloatSlider, ipywidgets.IntSlider)) and spec.kind != "scales":
                assert (part.min, part.max, part.step) == (spec.minimum, spec.maximum, spec.step)
                assert part.continuous_update is False
    titles = panel._accordion.titles
    assert titles[-1] == "preview region" and set(titles[:-1]) <= {"pre-processing", "core", "post-processing"}
    assert panel.preview.mask.shape == small.shape  # a small image is previewed whole
    assert np.array_equal(panel.preview.mask, workflow.run(preset, small).mask)
    assert bytes(panel._preview_image.value).startswith(b"\x89PNG")


def test_moving_a_slider_recomputes_that_step_and_what_follows_and_redraws(small):
    panel = widgets.TuningPanel("sec61b", small)
    before_png, before_mask = bytes(panel._preview_image.value), panel.preview.mask.copy()
    cutoff = panel._controls["filaments"]["scales"]._parts[1]
    cutoff.value = 0.05  # what the browser does when the slider is released
    assert panel.preview.recomputed == ["filaments", "large", "per_slice", "mask"]
    assert panel.workflow.step("filaments").parameters["scales"] == [[1.0, 0.05]]
    assert panel.preview.mask.sum() > before_mask.sum()  # a lower cutoff keeps more
    assert bytes(panel._preview_image.value) != before_png
    assert "recomputed: filaments, large, per_slice, mask" in panel._status.value
    panel._controls["mask"]["min_size"]._parts[0].value = 40
    assert panel.preview.recomputed == ["mask"]


def test_set_changes_controls_and_refuses_bad_values_without_changing_anything(small):
    panel = widgets.TuningPanel("sec61b", small)
    panel.set("normalized", lower_sd=1.5, upper_sd=9.0)
    assert panel._controls["normalized"]["lower_sd"].get() == 1.5
    assert panel.changes() == {"normalized": {"lower_sd": 1.5, "upper_sd": 9.0}}
    tuned = panel.workflow
    with pytest.raises(ValueError, match="out of range"):
        panel.set("normalized", lower_sd=500)
    with pytest.raises(ValueError, match="has no step"):
        panel.set("filamnets", scales=[[1, 0.1]])
    with pytest.raises(ValueError, match="sigma"):
        panel.set("filaments", scales=[[0, 0.1]])
    assert panel.workflow is tuned and panel._controls["normalized"]["lower_sd"].get() == 1.5


def test_scales_can_be_added_and_removed(small):
    panel = widgets.TuningPanel("sec61b", small)
    control = panel._controls["filaments"]["scales"]
    add, remove = control._scale_buttons.children
    assert remove.disabled  # one pair: nothing to remove
    add.click()
    assert panel.workflow.step("filaments").parameters["scales"] == [[1.0, 0.15], [2.0, 0.15]]
    assert len(control._parts) == 4 and panel.preview.recomputed[0] == "filaments"
    control._parts[3].value = 0.1  # the new pair's cutoff slider is live
    assert panel.workflow.step("filaments").parameters["scales"] == [[1.0, 0.15], [2.0, 0.1]]
    remove.click()
    assert panel.workflow.step("filaments").parameters["scales"] == [[1.0, 0.15]]
    panel.set("filaments", scales=[[1, 0.1], [2, 0.1], [3, 0.1]])
    assert len(control._parts) == 6 and control.get() == [[1.0, 0.1], [2.0, 0.1], [3.0, 0.1]]


def test_reset_returns_to_the_preset_and_reuses_earlier_work(small):
    panel = widgets.TuningPanel("tomm20", small)
    first_png = bytes(panel._preview_image.value)
    panel.set("normalized", lower_sd=1.0)
    panel.reset()
    assert panel.workflow.to_dict() == workflow.load_preset("tomm20").to_dict()
    assert panel.preview.recomputed == []  # everything came back from the step cache
    assert bytes(panel._preview_image.value) == first_png
    assert panel._controls["normalized"]["lower_sd"].get() == 3.5


def test_optional_parameters_can_be_switched_off(small):
    panel = widgets.TuningPanel("lmnb1_mitotic", small)
    control = panel._controls["normalized"]["upper_bound"]
    assert control.get() == 4000
    control._none.value = True
    assert panel.workflow.step("normalized").parameters["upper_bound"] is None
    assert control._parts[0].disabled
    panel.set("normalized", upper_bound=3000)
    assert control.get() == 3000 and not control._parts[0].disabled


def test_a_large_image_is_previewed_on_a_slab_and_the_region_can_be_moved():
    rng = np.random.default_rng(0)
    image = rng.poisson(100, size=(30, 80, 80)).astype(np.uint16)
    panel = widgets.TuningPanel("gja1", image, max_preview_voxels=60_000)
    z = panel.region[0]
    assert z.stop - z.start == 8 and panel.region[1:] != (slice(0, 80), slice(0, 80))
    shown = regions.region_shape(panel.region)
    panel._region_z.value = (2, 5)
    assert panel.region[0] == slice(2, 6)
    assert panel.preview.reused == {"normalized"}  # the whole-image normalization is kept
    assert regions.region_shape(panel.region) == (4, *shown[1:])
    assert panel._z.max == 3


def test_the_preview_choices_draw_different_images(small):
    panel = widgets.TuningPanel("sec61b", small)
    assert panel._show.value == "smoothed"  # the image the core filter works on
    pictures = {bytes(panel._preview_image.value)}
    panel._show.value = "raw"
    pictures.add(bytes(panel._preview_image.value))
    panel._view.value = "max projection"
    pictures.add(bytes(panel._preview_image.value))
    panel._z.value = 0
    assert len(pictures) == 3 and "max projection" in panel._captions.value


def test_run_full_matches_the_engine(small):
    panel = widgets.TuningPanel("sec61b", small)
    panel.set("filaments", scales=[[1.5, 0.1]])
    result = panel.run_full()
    expected = workflow.run(workflow.load_preset("sec61b").with_parameters("filaments", scales=[[1.5, 0.1]]), small)
    assert np.array_equal(result.mask, expected.mask)
    assert "Whole image done" in panel._status.value and panel.result is result
    assert set(result.images) == {s.id for s in panel.workflow.steps}
    lean = panel.run_full(keep_intermediates=False)
    assert set(lean.images) == {"mask"} and np.array_equal(lean.mask, expected.mask)


def test_save_never_overwrites_unless_asked(small, tmp_path):
    panel = widgets.TuningPanel("sec61b", small)
    panel.set("filaments", scales=[[1, 0.1]])
    path = panel.save(tmp_path / "out" / "tuned.json")
    assert workflow.load_preset(path).to_dict() == panel.workflow.to_dict()
    with pytest.raises(FileExistsError, match="left untouched"):
        panel.save(path)
    assert panel.save(path, if_exists="rename") == tmp_path / "out" / "tuned-2.json"
    panel.set("filaments", scales=[[1, 0.2]])
    panel.save(path, if_exists="overwrite")
    assert json.loads(path.read_text())["steps"][2]["parameters"]["scales"] == [[1.0, 0.2]]
    with pytest.raises(ValueError, match=".json"):
        panel.save(tmp_path / "tuned.txt")
    with pytest.raises(ValueError, match="if_exists"):
        panel.save(path, if_exists="replace")


def test_the_save_button_reports_instead_of_overwriting(small, tmp_path):
    panel = widgets.TuningPanel("sec61b", small)
    target = tmp_path / "mine.json"
    target.write_text("precious")
    panel._save_name.value = str(target)
    panel._save_clicked_safely = lambda: panel._safely(panel._save_clicked)
    panel._save_clicked_safely()
    assert target.read_text() == "precious" and "already exists" in panel._status.value
    panel._overwrite.value = True
    panel._save_clicked_safely()
    assert workflow.load_preset(target).name == "sec61b" and "segmenter run" in panel._status.value


def test_code_rebuilds_the_tuned_workflow(small):
    panel = widgets.TuningPanel("ctnnb1", small)
    assert "no parameter differs" in panel.code()
    panel.set("spots", scales=[[2.0, 0.02]])
    panel.set("mask", min_size=12)
    namespace = {}
    exec(panel.code(), namespace)
    assert namespace["tuned"].to_dict() == panel.workflow.to_dict()
    panel._code_toggle.value = True
    assert "with_parameters(&#x27;spots&#x27;" in panel._code.value and panel._code.layout.display is None


def test_a_workflow_object_or_file_is_accepted_and_rebuilt_by_code(small, tmp_path):
    custom = workflow.load_preset("gja1").with_parameters("spots", scales=[[1.5, 0.05]])
    panel = widgets.TuningPanel(custom, small)
    namespace = {}
    exec(panel.code(), namespace)
    assert namespace["tuned"].to_dict() == custom.to_dict()
    saved = custom.save(tmp_path / "custom.json")
    panel = widgets.TuningPanel(str(saved), small)
    assert repr(str(saved)) in panel.code()


def test_errors_in_a_callback_are_shown_not_lost(small):
    panel = widgets.TuningPanel("lmnb1_interphase", small)
    panel._controls["seeds"]["min_area"]._parts[0].value = 1000
    panel._controls["seeds"]["max_area"]._parts[0].value = 500  # min_area > max_area: the step refuses
    assert "b00020" in panel._status.value and "min_area" in panel._status.value


def test_an_io_image_gives_its_voxel_size(small):
    image = io.Image(data=small, voxel_size=(0.3, 0.1, 0.1), source="test")
    assert widgets.TuningPanel("gja1", image).voxel_size == (0.3, 0.1, 0.1)


@pytest.mark.parametrize("image, kwargs, match", [
    (np.zeros((32, 32)), {}, "3D"),
    (np.full((4, 16, 16), np.nan), {}, "NaN"),
    (np.full((4, 16, 16), 7, dtype=np.uint16), {}, "constant"),
    (None, {"voxel_size": (0, 1, 1)}, "voxel_size"),
    (None, {"voxel_size": (1, 1)}, "voxel_size"),
    (None, {"region": (slice(0, 0), slice(None), slice(None))}, "selects nothing"),
    (None, {"panel_size": 10}, "panel_size"),
])
def test_bad_input_is_refused_with_a_clear_message(image, kwargs, match, small):
    with pytest.raises(ValueError, match=match):
        widgets.TuningPanel("gja1", small if image is None else image, **kwargs)


def test_unknown_presets_get_suggestions(small):
    with pytest.raises(ValueError, match="Did you mean sec61b"):
        widgets.TuningPanel("sec61", small)


def test_next_free_path(tmp_path):
    target = tmp_path / "a.json"
    assert io.next_free_path(target) == target
    target.write_text("{}")
    (tmp_path / "a-2.json").write_text("{}")
    assert io.next_free_path(target) == tmp_path / "a-3.json"


def test_the_3d_view_shows_the_last_whole_image_mask_and_follows_new_runs(small):
    panel = widgets.TuningPanel("sec61b", small, voxel_size=(0.29, 0.108, 0.108))
    panel.run_full()
    view = panel.viewer3d
    assert view is panel.viewer3d and view.voxels is not None
    before = np.asarray(view.voxels.voxels).copy()
    assert before.astype(bool).sum() == panel.result.mask.sum()  # small image: no downsampling
    panel.set("filaments", scales=[[1, 0.05]])
    panel._run_button.click()  # the button refreshes the same view in place
    after = np.asarray(view.voxels.voxels)
    assert after.astype(bool).sum() == panel.result.mask.sum() > before.astype(bool).sum()
