"""Every one of the 20 presets gives the published reference's mask on stored goldens.

The goldens (tests/goldens/workflows.npz) were made by tests/goldens/make_workflow_goldens.py: one
small synthetic uint16 image per structure kind (filaments, curvilinear tubes, nuclear shells,
junction lines, dots, lysosome rings, nucleoli, Golgi clusters) and, for each preset, the mask of the
reference's Python workflow ``Workflow_<name>(image.astype(float32), output_type="array") > 0``
(aicssegmentation 0.5.3). Each test runs our engine, ``helpers.workflow.run(load_preset(name),
image)``, on the same image and compares the masks voxel for voxel: the Dice coefficient must be at
least 0.99, and the number of differing voxels must not exceed the one recorded below (0 for the
presets measured exact).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.workflow import load_preset, run

GOLDENS = Path(__file__).parent / "goldens" / "workflows.npz"

#: The 20 lookup-table presets (the reference's structure_wrapper names).
PRESETS = ["sec61b", "tomm20", "lmnb1_mitotic", "tuba1b", "actb", "myh10", "actn1", "tjp1",
           "cardio_tnni1", "cardio_ttn", "dsp", "cetn2", "slc25a17", "gja1", "ctnnb1", "lamp1",
           "fbl", "npm1", "st6gal1", "lmnb1_interphase"]

#: Differing voxels allowed per preset (measured); presets not listed must be exact (0).
MAX_DIFFERING: dict[str, int] = {}

MIN_DICE = 0.99


@functools.lru_cache(maxsize=1)
def _goldens():
    with np.load(GOLDENS) as data:
        arrays = {key: data[key] for key in data.files}
    manifest = json.loads(str(arrays.pop("manifest")))["presets"]
    return manifest, arrays


def _golden(name: str):
    manifest, arrays = _goldens()
    entry = manifest[name]
    shape = tuple(entry["shape"])
    mask = np.unpackbits(arrays[f"mask_{name}"], count=int(np.prod(shape))).reshape(shape).astype(bool)
    return arrays[entry["input"]], mask


def test_goldens_cover_every_preset():
    manifest, _ = _goldens()
    assert sorted(manifest) == sorted(PRESETS)
    for name in PRESETS:
        # every golden is a real segmentation: neither empty nor most of the image
        assert 0.001 <= manifest[name]["fraction"] <= 0.5, name


@pytest.mark.parametrize("name", PRESETS)
def test_preset_equals_reference(name):
    image, expected = _golden(name)
    original = image.copy()
    result = run(load_preset(name), image)
    mask = np.asarray(result.mask)
    assert mask.dtype == bool and mask.shape == expected.shape
    np.testing.assert_array_equal(image, original)  # the input is left alone
    differing = int(np.count_nonzero(mask != expected))
    dice = 2.0 * np.count_nonzero(mask & expected) / (np.count_nonzero(mask) + np.count_nonzero(expected))
    assert dice >= MIN_DICE, f"{name}: Dice {dice:.4f}, {differing} voxels differ"
    assert differing <= MAX_DIFFERING.get(name, 0), f"{name}: {differing} voxels differ (Dice {dice:.5f})"
