"""Every building block equals the published reference (aicssegmentation 0.5.3) on stored goldens.

The goldens (tests/goldens/*.npz) were made by tests/goldens/make_goldens.py in the reference's own
environment. Each case feeds our function the same stored input the reference got and compares:

* float outputs: |ours - reference| <= 1e-6 * max|reference| at every voxel (the issue asks for
  1e-4; measured: 0 for most blocks, 1.2e-7 for the vesselness responses, whose last bits depend
  on the order of float32 operations);
* binary outputs and label images: identical, voxel for voxel;
* scalars (thresholds, suggested parameters): equal to 1e-6 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import filaments, morphology, normalization, smoothing, spots, thresholds, watershed

GOLDENS = Path(__file__).parent / "goldens"
#: The building-block goldens (workflows.npz holds the whole presets' goldens, see test_preset_parity.py).
KINDS = ("dots", "filaments", "nucleoli", "shells")

#: Relative tolerance (to max |reference|) for float outputs.
FLOAT_TOLERANCE = 1e-6


def _scales(params):
    return [tuple(pair) for pair in params["scales"]]


def run_ours(block: str, params: dict, x: list):
    """Our function for each reference block, with the same parameters."""
    p = params
    if block == "min_max":
        return normalization.min_max_normalize(x[0], upper_bound=p.get("upper_bound"))
    if block == "auto_contrast":
        return normalization.auto_contrast(x[0], lower_sd=p["lower_sd"], upper_sd=p["upper_sd"])
    if block == "auto_contrast_in_range":
        return normalization.auto_contrast_in_range(
            x[0], lower_sd=p["lower_sd"], upper_sd=p["upper_sd"],
            lower_intensity=p["lower_intensity"], upper_intensity=p["upper_intensity"])
    if block == "suggest_auto_contrast":
        return np.array(normalization.suggest_auto_contrast(x[0]))
    if block == "gaussian_3d":
        return smoothing.gaussian_smooth_3d(x[0], sigma=p["sigma"])
    if block == "gaussian_2d":
        return smoothing.gaussian_smooth_2d(x[0], sigma=p["sigma"])
    if block == "edge_preserving":
        return smoothing.edge_preserving_smooth(x[0])
    if block == "hessian_eigenvalues_3d":
        return filaments.hessian_eigenvalues_3d(x[0], sigma=p["sigma"])
    if block == "filament_response_3d":
        return filaments.filament_response_3d(x[0], sigma=p["sigma"])
    if block == "filament_filter_3d":
        return filaments.filament_filter_3d(x[0], scales=_scales(p))
    if block == "filament_response_2d":
        return filaments.filament_response_2d(x[0], sigma=p["sigma"])
    if block == "filament_filter_2d":
        return filaments.filament_filter_2d(x[0], scales=_scales(p))
    if block == "spot_response_3d":
        return spots.spot_response_3d(x[0], sigma=p["sigma"])
    if block == "spot_filter_3d":
        return spots.spot_filter_3d(x[0], scales=_scales(p))
    if block == "spot_response_2d":
        return spots.spot_response_2d(x[0], sigma=p["sigma"])
    if block == "spot_filter_2d":
        return spots.spot_filter_2d(x[0], scales=_scales(p))
    if block == "global_threshold":
        return np.array(thresholds.global_threshold(x[0], method=p["method"]))
    if block == "masked_object_threshold_low":
        return thresholds.masked_object_threshold_low(x[0], method=p["method"], min_size=p["min_size"],
                                                      dilate=p["dilate"])
    if block == "masked_object_threshold_high":
        return thresholds.masked_object_threshold_high(x[0], x[1], local_adjust=p["local_adjust"],
                                                       extra_criteria=p["extra_criteria"])
    if block == "remove_small_objects":
        return morphology.remove_small_objects(x[0], min_size=p["min_size"],
                                               per_slice=p.get("per_slice", False))
    if block == "fill_holes":
        return morphology.fill_holes(x[0], min_size=p["min_size"], max_size=p["max_size"],
                                     per_slice=p["per_slice"])
    if block == "thin":
        return morphology.thin(x[0], min_thickness=p["min_thickness"], thin=p["thin"])
    if block == "find_local_maxima":
        return watershed.find_local_maxima(x[0], x[1], min_distance=p["min_distance"])
    if block == "cut_touching_objects":
        return watershed.cut_touching_objects(x[0], x[1])
    if block == "shell_seeds":
        return watershed.shell_seeds(x[0], scales=_scales(p), min_area=p["min_area"],
                                     max_area=p["max_area"], background_seed=p["background_seed"])
    if block == "seeded_watershed":
        return watershed.seeded_watershed(x[0], x[1], watershed_line=True)
    if block == "object_boundaries":
        return watershed.object_boundaries(watershed.drop_background_object(x[0]))
    raise KeyError(f"no mapping for reference block {block!r}")


def _load(path: Path):
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))
    for case in manifest["cases"]:
        if case["type"] == "bool":
            name = case["output"]
            shape = tuple(arrays.pop(name + "__shape"))
            arrays[name] = np.unpackbits(arrays[name], count=int(np.prod(shape))).reshape(shape).astype(bool)
    return manifest["cases"], arrays


def _cases():
    params = []
    for path in (GOLDENS / f"{kind}.npz" for kind in KINDS):
        cases, _ = _load(path)
        for case in cases:
            params.append(pytest.param(path, case["output"], id=f"{path.stem}-{case['output']}-{case['block']}"))
    return params


_CACHE: dict = {}


def _golden(path: Path):
    if path not in _CACHE:
        _CACHE[path] = _load(path)
    return _CACHE[path]


def test_goldens_exist_for_every_kind():
    assert all((GOLDENS / f"{kind}.npz").exists() for kind in KINDS)


@pytest.mark.parametrize("path, output", _cases())
def test_block_equals_reference(path, output):
    cases, arrays = _golden(path)
    case = next(c for c in cases if c["output"] == output)
    inputs = [arrays[name].copy() for name in case["inputs"]]
    before = [a.copy() for a in inputs]
    ours = np.asarray(run_ours(case["block"], case["params"], inputs))
    expected = arrays[output]
    for original, passed in zip(before, inputs):  # inputs are never modified
        np.testing.assert_array_equal(original, passed)
    assert ours.shape == expected.shape, f"shape {ours.shape} != reference {expected.shape}"
    kind = case["type"]
    if kind == "float":
        assert ours.dtype == np.float32
        scale = float(np.abs(expected).max()) or 1.0
        worst = float(np.abs(ours.astype(np.float64) - expected).max()) / scale
        assert worst <= FLOAT_TOLERANCE, f"max relative difference {worst:.2e} > {FLOAT_TOLERANCE:.0e}"
    elif kind == "bool":
        assert ours.dtype == bool
        np.testing.assert_array_equal(ours, expected)
    elif kind == "labels":
        np.testing.assert_array_equal(ours, expected)
    else:
        np.testing.assert_allclose(ours.astype(np.float64), expected, rtol=1e-6, atol=0)
