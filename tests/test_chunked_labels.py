"""Connected components and object steps block by block (helpers.chunked.labels) against the
in-memory functions: scipy.ndimage.label, remove_small_objects, fill_holes, find_local_maxima and
cut_touching_objects must be reproduced voxel for voxel, whatever the block grid."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from helpers.chunked.arrays import InMemoryArray, ZarrArray, create_zarr
from helpers.chunked.blocks import BlockGrid
from helpers.chunked.executor import BlockExecutor
from helpers.chunked.labels import (Components, connected_components, fill_holes_blocks,
                                    remove_small_objects_blocks, run_object_local)
from helpers.morphology import fill_holes, remove_small_objects
from helpers.watershed import cut_touching_objects, find_local_maxima

EVERYTHING = (slice(None),) * 3
SERIAL = BlockExecutor(workers=1)


def _structure(connectivity, per_slice):
    structure = ndimage.generate_binary_structure(3, connectivity).copy()
    if per_slice:
        structure[[0, 2]] = False
    return structure


def _random_mask(seed, shape, level=0.5):
    """Smoothed noise: blobs a few voxels wide that cross block boundaries, plus thin bridges."""
    noise = np.random.default_rng(seed).random(shape)
    return ndimage.gaussian_filter(noise, 0.8) > level


def _components(mask, grid, tmp_path, **options):
    return connected_components(InMemoryArray(mask), grid=BlockGrid(mask.shape, grid), executor=SERIAL,
                                work_folder=tmp_path, **options)


def _assert_like_scipy(result: Components, target, structure):
    expected, count = ndimage.label(target, structure=structure)
    assert result.count == count
    np.testing.assert_array_equal(result.labels.read(EVERYTHING), expected)
    np.testing.assert_array_equal(result.sizes, np.bincount(expected.ravel(), minlength=count + 1) * (
        np.arange(count + 1) > 0))
    boxes = np.zeros((count + 1, 6), dtype=np.int64)
    for index, box in enumerate(ndimage.find_objects(expected), start=1):
        boxes[index] = [s.start for s in box] + [s.stop for s in box]
    np.testing.assert_array_equal(result.boxes, boxes)


# --------------------------------------------------------------------------------------------------
# Connected components: hand-made cases with known answers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("connectivity, expected", [(1, 4), (2, 4), (3, 1)])
def test_a_diagonal_through_the_corner_of_eight_blocks_joins_only_with_26_neighbours(tmp_path, connectivity,
                                                                                      expected):
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]] = True  # (1,1,1)-(2,2,2) crosses the corner at (2, 2, 2)
    result = _components(mask, (2, 2, 2), tmp_path, connectivity=connectivity)
    assert result.count == expected
    _assert_like_scipy(result, mask, _structure(connectivity, False))


def test_an_edge_diagonal_across_two_block_boundaries_needs_18_neighbours(tmp_path):
    mask = np.zeros((2, 4, 4), dtype=bool)
    mask[0, 1, 1] = mask[0, 2, 2] = True  # in-plane diagonal, in blocks (0,0,0) and (0,1,1)
    assert _components(mask, (1, 2, 2), tmp_path, connectivity=1).count == 2
    assert _components(mask, (1, 2, 2), tmp_path, connectivity=2).count == 1
    assert _components(mask, (1, 2, 2), tmp_path, connectivity=2, per_slice=True).count == 1
    assert _components(mask, (1, 2, 2), tmp_path, connectivity=1, per_slice=True).count == 2


def test_a_ring_over_four_blocks_is_one_object_around_one_hole(tmp_path):
    yy, xx = np.mgrid[:11, :11]
    radius = np.hypot(yy - 5, xx - 5)
    mask = np.broadcast_to((radius >= 3) & (radius < 4.5), (2, 11, 11)).copy()
    objects = _components(mask, (1, 4, 4), tmp_path, connectivity=1, per_slice=True)
    assert objects.count == 2  # one ring per slice
    background = _components(mask, (1, 4, 4), tmp_path, connectivity=1, per_slice=True, background=True)
    assert background.count == 4  # inside and outside, in each slice
    inside = background.labels.read((0, 5, 5))
    assert not background.touches_border[inside] and background.touches_border[background.labels.read((0, 0, 0))]
    _assert_like_scipy(background, ~mask, _structure(1, True))


def test_slices_are_never_joined_per_slice_and_touch_the_border_only_at_y_and_x(tmp_path):
    mask = np.zeros((3, 5, 5), dtype=bool)
    mask[:, 2, 2] = True  # a column along z, inside every slice
    per_slice = _components(mask, (1, 2, 2), tmp_path, per_slice=True)
    assert per_slice.count == 3 and not per_slice.touches_border[1:].any()
    whole = _components(mask, (1, 2, 2), tmp_path)
    assert whole.count == 1 and whole.touches_border[1]  # it reaches the first and last slice


def test_an_object_touching_the_volume_border_but_not_block_borders(tmp_path):
    mask = np.zeros((6, 6, 6), dtype=bool)
    mask[2:4, 2:4, 2:4] = True  # crosses the boundaries of all 8 blocks, far from the volume faces
    mask[5, 0, 3] = True
    result = _components(mask, (3, 3, 3), tmp_path)
    assert result.count == 2
    assert result.touches_border.tolist() == [False, False, True]
    assert result.sizes.tolist() == [0, 8, 1]
    assert result.boxes[1].tolist() == [2, 2, 2, 4, 4, 4]


@pytest.mark.parametrize("fill", [False, True])
def test_an_empty_and_a_full_mask(tmp_path, fill):
    mask = np.full((3, 4, 5), fill)
    result = _components(mask, (2, 3, 2), tmp_path)
    assert result.count == int(fill)
    assert result.labels.dtype == np.uint32
    np.testing.assert_array_equal(result.labels.read(EVERYTHING), mask.astype(np.uint32))
    background = _components(mask, (2, 3, 2), tmp_path, background=True, per_slice=True)
    assert background.count == (0 if fill else 3)


# --------------------------------------------------------------------------------------------------
# Connected components: random masks, many grids
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, core", [
    ((2, 3, 4), (1, 1, 1)),      # one voxel per block
    ((7, 9, 8), (2, 4, 3)),      # uneven last blocks on every axis
    ((6, 10, 9), (6, 3, 9)),     # cut along y only
    ((9, 7, 11), (4, 7, 5)),     # cut along z and x
])
@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_labels_equal_scipy_on_random_masks(tmp_path, shape, core, connectivity):
    for seed, (per_slice, background) in enumerate([(False, False), (True, False), (False, True)]):
        mask = _random_mask(seed + 10 * connectivity, shape)
        result = _components(mask, core, tmp_path, connectivity=connectivity, per_slice=per_slice,
                             background=background)
        _assert_like_scipy(result, ~mask if background else mask, _structure(connectivity, per_slice))
        axes = (1, 2) if per_slice else (0, 1, 2)
        border = np.zeros(result.count + 1, dtype=bool)
        for axis in axes:
            labels = result.labels.read(EVERYTHING)
            border[np.unique(np.take(labels, [0, shape[axis] - 1], axis=axis))] = True
        border[0] = False
        np.testing.assert_array_equal(result.touches_border, border)


def test_integer_masks_and_zarr_inputs_are_read_like_booleans(tmp_path):
    mask = _random_mask(3, (5, 6, 7))
    stored = create_zarr(tmp_path / "mask", shape=mask.shape, dtype="uint8", chunks=(2, 2, 2))
    stored.write(EVERYTHING, mask.astype(np.uint8) * 255)
    result = connected_components(stored, grid=BlockGrid(mask.shape, (2, 3, 4)), executor=SERIAL,
                                  work_folder=tmp_path / "work")
    _assert_like_scipy(result, mask, _structure(3, False))
    np.testing.assert_array_equal(stored.read(EVERYTHING), mask.astype(np.uint8) * 255)  # input untouched


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_any_grid_gives_scipy_labels(tmp_path_factory, data):
    shape = tuple(data.draw(st.integers(1, 6), label="size") for _ in range(3))
    core = tuple(data.draw(st.integers(1, size), label="core") for size in shape)
    bits = data.draw(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    mask = np.array(bits, dtype=bool).reshape(shape)
    connectivity = data.draw(st.integers(1, 3), label="connectivity")
    per_slice = data.draw(st.booleans(), label="per_slice")
    result = _components(mask, core, tmp_path_factory.mktemp("work"), connectivity=connectivity,
                         per_slice=per_slice)
    _assert_like_scipy(result, mask, _structure(connectivity, per_slice))


# --------------------------------------------------------------------------------------------------
# SIZE and HOLES
# --------------------------------------------------------------------------------------------------


def _run_into_zarr(step, mask, core, tmp_path, dtype=bool, executor=SERIAL, **parameters):
    grid = BlockGrid(mask.shape, core)
    out = create_zarr(tmp_path / f"out-{step.__name__}", shape=mask.shape, dtype=dtype, chunks=core)
    reference = mask if isinstance(mask, ZarrArray) else InMemoryArray(mask)
    step(reference, out, grid=grid, executor=executor, work_folder=tmp_path / "work", **parameters)
    return out.read(EVERYTHING)


@pytest.mark.parametrize("core", [(2, 4, 3), (3, 4, 5), (6, 3, 10)])
@pytest.mark.parametrize("per_slice", [False, True])
def test_remove_small_objects_equals_memory(tmp_path, core, per_slice):
    mask = _random_mask(5, (6, 9, 10), level=0.52)
    for min_size in (0, 3, 12):
        expected = remove_small_objects(mask, min_size=min_size, per_slice=per_slice)
        got = _run_into_zarr(remove_small_objects_blocks, mask, core, tmp_path, min_size=min_size,
                             per_slice=per_slice)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("core", [(2, 4, 3), (3, 4, 5), (6, 3, 10)])
@pytest.mark.parametrize("per_slice", [False, True])
def test_fill_holes_equals_memory(tmp_path, core, per_slice):
    mask = _random_mask(6, (6, 9, 10), level=0.45)
    for min_size, max_size in ((0, 3), (2, 40), (0, 10_000)):  # the last fills the outside too
        expected = fill_holes(mask, min_size=min_size, max_size=max_size, per_slice=per_slice)
        got = _run_into_zarr(fill_holes_blocks, mask, core, tmp_path, dtype="uint8", min_size=min_size,
                             max_size=max_size, per_slice=per_slice)
        np.testing.assert_array_equal(got, expected)


def test_a_hole_whose_object_spans_four_blocks_is_filled(tmp_path):
    mask = np.zeros((3, 8, 8), dtype=bool)
    mask[:, 1:7, 1:7] = True
    hole = np.zeros_like(mask)
    hole[1, 3:5, 3:5] = True  # 2 x 2 voxels at the corner shared by the four (y, x) blocks
    for per_slice in (False, True):
        got = _run_into_zarr(fill_holes_blocks, mask & ~hole, (3, 4, 4), tmp_path, min_size=4, max_size=4,
                             per_slice=per_slice)
        np.testing.assert_array_equal(got, mask)


def test_an_empty_mask_is_one_background_component_per_slice(tmp_path):
    mask = np.zeros((2, 3, 4), dtype=bool)
    assert _run_into_zarr(fill_holes_blocks, mask, (1, 2, 2), tmp_path, min_size=12, max_size=12,
                          per_slice=True).all()
    assert not _run_into_zarr(fill_holes_blocks, mask, (1, 2, 2), tmp_path, min_size=12, max_size=12,
                              per_slice=False).any()


@pytest.mark.slow
def test_worker_processes_give_the_same_results(tmp_path):
    """Everything a task needs pickles: the same run in two worker processes."""
    image, mask = _blobs(7, (10, 12, 12))
    stored = create_zarr(tmp_path / "mask", shape=mask.shape, dtype=bool, chunks=(4, 5, 5))
    stored.write(EVERYTHING, mask)
    grid = BlockGrid(mask.shape, (4, 5, 5))
    seeds = find_local_maxima(image, mask, min_distance=2)
    assert seeds.sum() > 3
    objects = InMemoryArray(ndimage.binary_dilation(mask, np.ones((3, 3, 3))))
    with BlockExecutor(workers=2) as executor:
        result = connected_components(stored, grid=grid, executor=executor, work_folder=tmp_path / "work",
                                      connectivity=1)
        _assert_like_scipy(result, mask, _structure(1, False))
        got = _run_into_zarr(remove_small_objects_blocks, stored, (4, 5, 5), tmp_path, executor=executor,
                             min_size=6, per_slice=False)
        np.testing.assert_array_equal(got, remove_small_objects(mask, min_size=6))
        cut = create_zarr(tmp_path / "cut", shape=mask.shape, dtype=bool, chunks=(4, 5, 5))
        run_object_local(cut_touching_objects, {"mask": stored, "seeds": InMemoryArray(seeds)}, cut,
                         objects=objects, reach=1, grid=grid, executor=executor, work_folder=tmp_path / "work",
                         parameters={"min_size": 5}, max_region_voxels=10 ** 6)
        np.testing.assert_array_equal(cut.read(EVERYTHING), cut_touching_objects(mask, seeds, min_size=5))


# --------------------------------------------------------------------------------------------------
# Object-local steps: MAXIMA and WCUT
# --------------------------------------------------------------------------------------------------


def _blobs(seed, shape):
    image = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.0).astype(np.float32)
    mask = image > np.quantile(image, 0.6)
    # MAXIMA compares seeds with the minimum of the whole image; zeros on a sparse lattice put that
    # minimum into every region a block reads, so the in-memory answer is reachable block by block.
    image[::2, ::2, ::2] = 0
    return image, mask


@pytest.mark.parametrize("shape, core", [((12, 15, 14), (5, 6, 7)), ((10, 16, 13), (10, 4, 13)),
                                         ((9, 11, 10), (3, 3, 3))])
def test_object_local_maxima_and_cuts_equal_memory(tmp_path, shape, core):
    image, mask = _blobs(sum(shape), shape)
    grid = BlockGrid(shape, core)
    for min_distance in (1, 2, 3):
        seeds_out = create_zarr(tmp_path / f"seeds{min_distance}", shape=shape, dtype=bool, chunks=core)
        run_object_local(find_local_maxima, {"image": InMemoryArray(image), "mask": InMemoryArray(mask)},
                         seeds_out, objects=InMemoryArray(mask), reach=min_distance, grid=grid, executor=SERIAL,
                         work_folder=tmp_path / "work", parameters={"min_distance": min_distance},
                         max_region_voxels=10 ** 6)
        seeds = find_local_maxima(image, mask, min_distance=min_distance)
        np.testing.assert_array_equal(seeds_out.read(EVERYTHING), seeds)

    # Seed crosses of neighbouring objects may join across a one-voxel gap: objects grown by one
    # voxel keep every marker inside one object.
    objects = ndimage.binary_dilation(mask, np.ones((3, 3, 3)))
    for min_size in (0, 12):
        cut = create_zarr(tmp_path / f"cut{min_size}", shape=shape, dtype=bool, chunks=core)
        run_object_local(cut_touching_objects, {"mask": InMemoryArray(mask), "seeds": InMemoryArray(seeds)}, cut,
                         objects=InMemoryArray(objects), reach=1, grid=grid, executor=SERIAL,
                         work_folder=tmp_path / "work", parameters={"min_size": min_size},
                         max_region_voxels=10 ** 6)
        np.testing.assert_array_equal(cut.read(EVERYTHING), cut_touching_objects(mask, seeds, min_size=min_size))


def test_object_local_regions_hold_whole_objects(tmp_path):
    mask = np.zeros((4, 20, 6), dtype=bool)
    mask[1:3, 1:19, 2:4] = True  # one long object over five blocks along y
    out = create_zarr(tmp_path / "out", shape=mask.shape, dtype="int32", chunks=(4, 4, 6))
    run_object_local(_object_size_at_each_voxel, {"mask": InMemoryArray(mask)}, out, objects=InMemoryArray(mask),
                     reach=0, grid=BlockGrid(mask.shape, (4, 4, 6)), executor=SERIAL, work_folder=tmp_path / "w",
                     parameters={}, max_region_voxels=10 ** 6)
    np.testing.assert_array_equal(out.read(EVERYTHING), np.where(mask, mask.sum(), 0))


def _object_size_at_each_voxel(mask):
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    return np.bincount(labels.ravel())[labels] * (labels > 0)


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def test_a_float_mask_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"dtype float32.*Threshold it first"):
        _components(np.zeros((2, 3, 4), dtype=np.float32), (1, 2, 2), tmp_path)


def test_bad_parameters_are_refused(tmp_path):
    mask = np.zeros((2, 3, 4), dtype=bool)
    with pytest.raises(ValueError, match="connectivity"):
        _components(mask, (1, 2, 2), tmp_path, connectivity=4)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 5\).*grid covers \(2, 3, 4\)"):
        connected_components(InMemoryArray(np.zeros((2, 3, 5), bool)), grid=BlockGrid((2, 3, 4), (1, 2, 2)),
                             executor=SERIAL, work_folder=tmp_path)
    with pytest.raises(ValueError, match="swap them"):
        _run_into_zarr(fill_holes_blocks, mask, (1, 2, 2), tmp_path, min_size=5, max_size=2, per_slice=True)
    out = create_zarr(tmp_path / "odd", shape=mask.shape, dtype=bool, chunks=(1, 3, 3))
    with pytest.raises(ValueError, match="do not divide the block cores"):
        remove_small_objects_blocks(InMemoryArray(mask), out, min_size=2, per_slice=False,
                                    grid=BlockGrid(mask.shape, (1, 2, 2)), executor=SERIAL, work_folder=tmp_path)


def test_a_region_too_large_names_the_object_and_what_to_do(tmp_path):
    mask = np.zeros((4, 20, 6), dtype=bool)
    mask[1:3, 1:19, 2:4] = True
    out = create_zarr(tmp_path / "out", shape=mask.shape, dtype=bool, chunks=(4, 4, 6))
    with pytest.raises(ValueError, match=r"object of 72 voxels spans 2 x 18 x 2.*smaller objects.*more memory"):
        run_object_local(find_local_maxima, {"image": InMemoryArray(mask.astype(np.float32)),
                                             "mask": InMemoryArray(mask)}, out, objects=InMemoryArray(mask),
                         reach=2, grid=BlockGrid(mask.shape, (4, 4, 6)), executor=SERIAL, work_folder=tmp_path,
                         parameters={"min_distance": 2}, max_region_voxels=200)
    assert not out.read(EVERYTHING).any()  # refused before any block was written
