"""The workflow engine: presets as data, validation with clear messages, incremental re-runs."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import io, registry, workflow

PRESETS = ["actb", "actn1", "cardio_tnni1", "cardio_ttn", "cetn2", "ctnnb1", "dsp", "fbl", "gja1", "lamp1",
           "lmnb1_interphase", "lmnb1_mitotic", "myh10", "npm1", "sec61b", "slc25a17", "st6gal1", "tjp1",
           "tomm20", "tuba1b"]


@pytest.fixture(scope="module")
def image():
    data = io.read_image(Path(__file__).resolve().parents[1] / "data_samples" / "tuba1b.ome.tif").data
    return data[14:30, 40:140, 40:140].copy()


def test_the_twenty_presets_are_shipped_and_valid():
    assert workflow.preset_names() == PRESETS
    for preset in workflow.list_presets():
        assert preset.gene and preset.structure and preset.pattern and preset.description
        assert preset.steps[-1].id == preset.output or preset.output in {s.id for s in preset.steps}
        assert preset.describe().startswith(preset.name)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs_and_returns_a_mask(name, image):
    original = image.copy()
    result = workflow.run(workflow.load_preset(name), image)
    np.testing.assert_array_equal(image, original)
    assert result.mask.dtype == bool and result.mask.shape == image.shape
    assert set(result.images) == {s.id for s in workflow.load_preset(name).steps}
    assert all(t >= 0 for t in result.timings.values())


def test_names_are_case_insensitive_and_unknown_names_get_suggestions():
    assert workflow.load_preset("SEC61B").name == "sec61b"
    with pytest.raises(ValueError, match="Did you mean sec61b"):
        workflow.load_preset("sec61")
    with pytest.raises(ValueError, match="Available presets"):
        workflow.load_preset("zzz")


def test_changing_one_parameter_recomputes_only_that_step_and_what_follows(image):
    preset = workflow.load_preset("sec61b")
    first = workflow.run(preset, image)
    all_steps = ["normalized", "smoothed", "filaments", "large", "per_slice", "mask"]
    assert first.recomputed == all_steps
    again = workflow.run(preset, image, previous=first)
    assert again.recomputed == [] and np.array_equal(again.mask, first.mask)
    tuned = preset.with_parameters("filaments", scales=[[1, 0.05]])
    second = workflow.run(tuned, image, previous=first)
    assert second.recomputed == ["filaments", "large", "per_slice", "mask"]
    assert second.images["smoothed"] is first.images["smoothed"]
    np.testing.assert_array_equal(second.mask, workflow.run(tuned, image).mask)
    assert second.mask.sum() > first.mask.sum()  # a lower cutoff keeps more
    other_image = workflow.run(preset, image[:, ::-1].copy(), previous=first)
    assert other_image.recomputed == all_steps


def test_intermediates_can_be_dropped_for_batch_runs(image):
    preset = workflow.load_preset("npm1")
    full = workflow.run(preset, image)
    lean = workflow.run(preset, image, keep_intermediates=False)
    np.testing.assert_array_equal(full.mask, lean.mask)
    assert list(lean.images) == ["mask"]


def test_saved_workflow_round_trips(tmp_path, image):
    tuned = workflow.load_preset("gja1").with_parameters("spots", scales=[[1.2, 0.02]])
    path = tuned.save(tmp_path / "my_gja1.json")
    loaded = workflow.load_preset(path)
    assert loaded.to_dict() == tuned.to_dict()
    np.testing.assert_array_equal(workflow.run(loaded, image).mask, workflow.run(tuned, image).mask)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tuned.save(path)
    tuned.save(path, overwrite=True)
    with pytest.raises(FileNotFoundError):
        workflow.load_preset(tmp_path / "missing.json")


def _write(tmp_path, mutate):
    data = workflow.load_preset("sec61b").to_dict()
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


BROKEN = {
    "unknown algorithm": (lambda d: d["steps"][2].update(algorithm="filament_filter_3"),
                          r"step 'filaments': unknown algorithm 'filament_filter_3'.*Did you mean filament_filter_3d"),
    "unknown parameter": (lambda d: d["steps"][-1]["parameters"].update(min_volume=3),
                          r"step 'mask': unknown parameter\(s\) min_volume .*allowed: min_size, per_slice"),
    "missing input": (lambda d: d["steps"][-1].update(inputs={}), r"step 'mask': missing input\(s\) mask"),
    "dangling input": (lambda d: d["steps"][-1].update(inputs={"mask": "filament"}),
                       r"step 'mask': input 'mask' refers to 'filament', which is not a step"),
    "cycle": (lambda d: d["steps"][0].update(inputs={"image": "mask"}), r"cycle \(.*->.*\)"),
    "out of range": (lambda d: d["steps"][2]["parameters"].update(scales=[[1, 0.9]]),
                     r"step 'filaments': parameter 'scales'\[0\] cutoff = 0.9 is out of range; use a value in \[0.005, 0.5\]"),
    "negative size": (lambda d: d["steps"][-1]["parameters"].update(min_size=-1), r"min_size.*out of range"),
    "wrong type": (lambda d: d["steps"][1]["parameters"].update(iterations="ten"), r"iterations.*must be a number"),
    "duplicate id": (lambda d: d["steps"][1].update(id="normalized"), r"used twice"),
    "bad output": (lambda d: d.update(output="final"), r"'output' = 'final' must be the id of a step"),
    "unknown field": (lambda d: d.update(author="me"), r"unknown field\(s\) author"),
    "no steps": (lambda d: d.update(steps=[]), r"'steps' must be a non-empty list"),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_malformed_workflow_files_name_the_file_the_step_and_the_fix(tmp_path, problem):
    mutate, message = BROKEN[problem]
    path = _write(tmp_path, mutate)
    with pytest.raises(ValueError, match=message) as error:
        workflow.load_preset(path)
    assert str(path) in str(error.value)


def test_invalid_json_is_reported(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        workflow.load_preset(path)


def test_tuning_with_a_bad_value_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        workflow.load_preset("sec61b").with_parameters("mask", min_size=10_000)
    with pytest.raises(ValueError, match="has no step 'mask2'"):
        workflow.load_preset("sec61b").with_parameters("mask2", min_size=1)


def test_step_errors_name_the_step(image):
    with pytest.raises(ValueError, match=r"Step 'normalized'.*3D"):
        workflow.run(workflow.load_preset("sec61b"), image[0])


@pytest.mark.parametrize("name", sorted(registry.ALGORITHMS))
def test_registry_matches_the_functions(name):
    algorithm = registry.ALGORITHMS[name]
    signature = inspect.signature(algorithm.function)
    for parameter, spec in algorithm.parameters.items():
        assert parameter in signature.parameters, f"{name} has no parameter {parameter}"
        if spec.default is not None and spec.kind in ("float", "int"):
            assert spec.minimum <= spec.default <= spec.maximum


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips_through_tuning_saving_and_loading(name, tmp_path):
    load_preset = workflow.load_preset
    # A union step's list input ("masks") must be written under the name a file uses.
    preset = load_preset(name)
    step = next(s for s in reversed(preset.steps) if s.parameters)
    parameter, value = next(iter(step.parameters.items()))
    tuned = preset.with_parameters(step.id, **{parameter: value})
    assert tuned.to_dict() == preset.to_dict()
    assert load_preset(tuned.save(tmp_path / f"{name}.json")).to_dict() == preset.to_dict()
    for saved_step in json.loads((tmp_path / f"{name}.json").read_text())["steps"]:
        assert not any(key.endswith("*") for key in saved_step["inputs"])
