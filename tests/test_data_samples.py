"""The shipped samples in data_samples/: complete, loadable, consistent, reproducible, small."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import io, synthetic
from helpers.synthetic.files import LAMIN_SET_FOLDER, MANIFEST, sample_paths

DATA = Path(__file__).resolve().parents[1] / "data_samples"
MANIFEST_DATA = json.loads((DATA / MANIFEST).read_text())


def test_manifest_covers_every_structure_and_the_lamin_set():
    assert sorted(MANIFEST_DATA["samples"]) == synthetic.pattern_names()
    assert MANIFEST_DATA["lamin_b1_set"]["fields"] >= 10


@pytest.mark.parametrize("name", synthetic.pattern_names())
def test_every_sample_loads_with_its_truth(name):
    entry = MANIFEST_DATA["samples"][name]
    image_path, truth_path = sample_paths(name, DATA)
    image, truth = io.read_image(image_path), io.read_image(truth_path)
    assert image.data.dtype == np.uint16 and image.shape == tuple(entry["shape"]) == truth.shape
    assert image.voxel_size == pytest.approx(tuple(entry["voxel_size_um"]))
    assert truth.voxel_size == pytest.approx(image.voxel_size)
    assert truth.data.any() and entry["truth_kind"] in ("mask", "labels")
    if entry["truth_kind"] == "mask":
        assert set(np.unique(truth.data)) == {0, 255}


@pytest.mark.parametrize("name", ["gja1", "lmnb1_interphase"])
def test_shipped_samples_are_reproduced_by_the_generator(name):
    entry = MANIFEST_DATA["samples"][name]
    sample = synthetic.make_sample(name, shape=tuple(entry["shape"]), seed=entry["seed"])
    image_path, truth_path = sample_paths(name, DATA)
    np.testing.assert_array_equal(io.read_image(image_path).data, sample.image)
    np.testing.assert_array_equal(io.read_image(truth_path).data > 0, sample.mask)


def test_lamin_set_fields_and_nuclei_table():
    folder = DATA / LAMIN_SET_FOLDER
    entry = MANIFEST_DATA["lamin_b1_set"]
    with open(folder / entry["nuclei_table"]) as stream:
        rows = list(csv.DictReader(stream))
    fields = sorted(folder.glob("field_??.ome.tif"))
    assert len(fields) == entry["fields"]
    assert {row["field"] for row in rows} <= {f.name for f in fields}
    for path in fields:
        image = io.read_image(path)
        truth = io.read_image(path.with_name(path.name.replace(".ome.tif", "_truth.ome.tif")))
        assert image.shape == truth.shape == tuple(entry["shape"])
        labels = set(np.unique(truth.data)) - {0}
        listed = {int(row["label"]) for row in rows if row["field"] == path.name}
        assert listed == labels, path.name
    states = {row["state"] for row in rows}
    assert states == {"interphase", "mitotic"}


def test_samples_stay_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total <= 40e6, f"data_samples/ holds {total / 1e6:.1f} MB; the budget is 40 MB"


def test_missing_sample_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="segmenter samples"):
        sample_paths("sec61b", tmp_path)
