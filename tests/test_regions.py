"""Preview regions, halos and crops (helpers.regions), and the engine's region runs and step cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import io, regions, workflow

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample():
    return io.read_image(ROOT / "data_samples" / "sec61b.ome.tif").data


def test_small_images_are_previewed_whole():
    assert regions.preview_region((40, 192, 192)) == regions.whole((40, 192, 192))


@given(st.integers(1, 300), st.integers(1, 3000), st.integers(1, 3000), st.integers(100_000, 5_000_000))
@settings(max_examples=200, deadline=None)
def test_preview_region_is_centred_inside_and_within_budget(z, y, x, budget):
    shape = (z, y, x)
    region = regions.preview_region(shape, max_voxels=budget)
    assert regions.check_region(region, shape) == region
    computed = regions.expand(region, shape, regions.DEFAULT_HALO)
    sizes = regions.region_shape(region)
    if math.prod(shape) > budget:
        assert sizes[0] == min(z, regions.MIN_PREVIEW_SLICES) or sizes[1:] == (y, x)
        if sizes[1:] != (y, x):
            assert math.prod(regions.region_shape(computed)) <= budget or min(sizes[1:]) <= 2
    for piece, size, length in zip(region, shape, sizes):  # centred to within one voxel
        assert abs(piece.start - (size - piece.stop)) <= 1 and length >= 1


def test_large_fields_keep_the_whole_field_of_view_when_a_slab_fits():
    region = regions.preview_region((65, 300, 400), max_voxels=3_000_000)
    assert region[1:] == (slice(0, 300), slice(0, 400))
    assert 8 <= region[0].stop - region[0].start < 65
    assert math.prod(regions.region_shape(regions.expand(region, (65, 300, 400)))) <= 3_000_000


def test_expand_clips_to_the_image_and_relative_inverts_it():
    shape = (20, 50, 60)
    region = (slice(2, 10), slice(20, 30), slice(50, 60))
    grown = regions.expand(region, shape, (4, 16, 16))
    assert grown == (slice(0, 14), slice(4, 46), slice(34, 60))
    image = np.arange(math.prod(shape)).reshape(shape)
    assert np.array_equal(image[grown][regions.relative(region, grown)], image[region])
    with pytest.raises(ValueError, match="not inside"):
        regions.relative(grown, region)


def test_center_crop_is_a_centred_view():
    image = np.arange(10 * 20 * 30).reshape(10, 20, 30)
    crop = regions.center_crop(image, (4, 10, 100))
    assert crop.shape == (4, 10, 30) and np.shares_memory(crop, image)
    assert crop[0, 0, 0] == image[3, 5, 0]


@pytest.mark.parametrize("bad, match", [
    ((slice(0, 5), slice(0, 5)), "three slices"),
    ((slice(5, 5), slice(None), slice(None)), "selects nothing"),
    ((slice(0, 5, 2), slice(None), slice(None)), "selects nothing"),
    ("z 0-5", "three slices"),
])
def test_bad_regions_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        regions.check_region(bad, (10, 20, 30))


@pytest.mark.parametrize("call, match", [
    (lambda: regions.preview_region((10, 20)), "3 whole numbers >= 1"),
    (lambda: regions.preview_region((10, 0, 5)), "3 whole numbers >= 1"),
    (lambda: regions.preview_region((10, 20, 30), max_voxels=0), "max_voxels"),
    (lambda: regions.expand((slice(None),) * 3, (4, 4, 4), halo=(1, -1, 1)), "halo"),
    (lambda: regions.center_crop(np.zeros((4, 4)), (2, 2, 2)), "select one channel"),
])
def test_bad_arguments_say_what_to_do(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_region_run_normalizes_with_whole_image_statistics(sample):
    preset = workflow.load_preset("sec61b")
    full = workflow.run(preset, sample)
    region = (slice(10, 30), slice(30, 150), slice(0, 192))
    part = workflow.run(preset, sample, region=region)
    assert part.mask.shape == (20, 120, 192) and part.region == region
    assert np.array_equal(part.images["normalized"], full.images["normalized"][region])
    # away from the region's faces the filters see the same neighbourhood: the masks agree
    inner = (slice(4, 16), slice(16, 104), slice(16, 176))
    assert (part.mask[inner] == full.mask[region][inner]).mean() > 0.97


def test_the_whole_image_region_gives_the_full_result(sample):
    preset = workflow.load_preset("gja1")
    full = workflow.run(preset, sample)
    part = workflow.run(preset, sample, region=regions.whole(sample.shape))
    assert np.array_equal(part.mask, full.mask)


def test_changing_the_region_reuses_the_whole_image_steps_only(sample):
    preset = workflow.load_preset("sec61b")
    first = workflow.run(preset, sample, region=(slice(10, 30), slice(None), slice(None)))
    moved = workflow.run(preset, sample, region=(slice(5, 25), slice(None), slice(None)), previous=first)
    assert moved.reused == {"normalized"}
    again = workflow.run(preset.with_parameters("filaments", scales=[[1, 0.1]]), sample,
                         region=(slice(5, 25), slice(None), slice(None)), previous=moved)
    assert again.recomputed == ["filaments", "large", "per_slice", "mask"]


def test_the_step_cache_brings_back_earlier_values_and_respects_its_budget(sample):
    preset = workflow.load_preset("tomm20")
    cache = workflow.StepCache(max_bytes=64 * 1024**2)
    workflow.run(preset, sample, cache=cache)
    tuned = preset.with_parameters("normalized", lower_sd=2.0)
    workflow.run(tuned, sample, cache=cache)
    back = workflow.run(preset, sample, cache=cache)
    assert back.recomputed == [] and back.reused == {s.id for s in preset.steps}
    small = workflow.StepCache(max_bytes=sample.size * 4 + 10)
    workflow.run(preset, sample, cache=small)
    assert small.nbytes <= small.max_bytes and len(small) >= 1
    with pytest.raises(ValueError, match="max_bytes"):
        workflow.StepCache(max_bytes=-1)


def test_from_dict_validates_like_a_file():
    data = workflow.load_preset("gja1").to_dict()
    assert workflow.from_dict(data).to_dict() == data
    data["steps"][0]["parameters"]["lower_sd"] = 99
    with pytest.raises(ValueError, match="out of range"):
        workflow.from_dict(data)
