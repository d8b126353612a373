"""The watershed cut (WCUT) of a whole volume block by block (helpers.chunked.watershed_cut) equals
cut_touching_objects in memory voxel for voxel, including where cutting region by region does not."""

import numpy as np
import pytest
from scipy import ndimage

from helpers.chunked.arrays import InMemoryArray, create_zarr
from helpers.chunked.blocks import BlockGrid
from helpers.chunked.executor import BlockExecutor
from helpers.chunked.labels import run_object_local
from helpers.chunked.steps import Context
from helpers.chunked import watershed_cut
from helpers.chunked.watershed_cut import cut_touching_objects_blocks
from helpers.io import read_image
from helpers.watershed import (cut_touching_objects, find_local_maxima, wcut_distances, wcut_flood_sparse,
                               wcut_markers_sparse)
from helpers.workflow import load_preset, run

EVERYTHING = (slice(None),) * 3
SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "data_samples"


def _context(tmp_path, shape, *, chunks=(4, 16, 16), block_kb=2048, memory_mb=512):
    return Context(shape=shape, executor=BlockExecutor(workers=1), work=tmp_path, block_bytes=block_kb * 2**10,
                   chunks=chunks, memory_bytes=memory_mb * 2**20)


def _cut_blocks(tmp_path, mask, seeds, min_size=0, **options):
    context = _context(tmp_path, mask.shape, **options)
    out = create_zarr(tmp_path / "cut.zarr", shape=mask.shape, dtype=bool, chunks=context.chunks)
    done = cut_touching_objects_blocks(InMemoryArray(mask), InMemoryArray(seeds), out, min_size=min_size,
                                       context=context)
    return done, out.read(EVERYTHING)


@pytest.fixture(scope="module")
def cetn2_objects():
    """The CETN2 preset's mask and seeds before its cut, on a crop of the shipped sample."""
    image = read_image(SAMPLES / "cetn2.ome.tif").data[:24, :96, :96]
    images = run(load_preset("cetn2"), np.ascontiguousarray(image), keep_intermediates=True).images
    return images["large_spots"] > 0, images["seeds"] > 0


def test_cetn2_cut_equals_memory_where_cutting_region_by_region_does_not(tmp_path, cetn2_objects):
    mask, seeds = cetn2_objects
    expected = cut_touching_objects(mask, seeds, min_size=3)

    # Why one flood: cut region by region (each region holding whole objects), ties between markers of
    # equal value leave the queue in another order and a few watershed-line voxels move.
    objects = ndimage.binary_dilation(mask, np.ones((5, 5, 5), dtype=bool))
    regional = create_zarr(tmp_path / "regional.zarr", shape=mask.shape, dtype=bool, chunks=(4, 16, 16))
    run_object_local(cut_touching_objects, {"mask": InMemoryArray(mask), "seeds": InMemoryArray(seeds)}, regional,
                     objects=InMemoryArray(objects), reach=3, grid=BlockGrid(mask.shape, (8, 32, 32)),
                     executor=BlockExecutor(workers=1), work_folder=tmp_path / "work", parameters={"min_size": 3},
                     max_region_voxels=10**6)
    assert np.sum(regional.read(EVERYTHING) != expected) > 0

    done, got = _cut_blocks(tmp_path / "blocks", mask, seeds, min_size=3)
    assert done
    assert np.array_equal(got, expected), f"{np.sum(got != expected)} voxels differ of {expected.sum()}"


@pytest.mark.parametrize("seed, chunks, min_size", [(1, (4, 16, 16), 0), (2, (3, 8, 8), 6), (3, (5, 16, 8), 1)])
def test_random_objects_equal_memory_on_any_grid(tmp_path, seed, chunks, min_size):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random((14, 40, 36)), 1.2)
    mask = smooth > np.quantile(smooth, 0.8)
    seeds = find_local_maxima(smooth.astype(np.float32), mask, min_distance=1)
    seeds |= (rng.random(mask.shape) < 0.002)  # stray seeds outside the objects, as a user may pass
    expected = cut_touching_objects(mask, seeds, min_size=min_size)
    assert expected.any()
    done, got = _cut_blocks(tmp_path, mask, seeds, min_size=min_size, chunks=chunks, block_kb=512)
    assert done
    np.testing.assert_array_equal(got, expected)


def test_objects_on_the_volume_faces_and_a_mask_without_background(tmp_path):
    mask = np.zeros((6, 20, 20), dtype=bool)
    mask[:, :9, :] = True  # a slab on three faces, cut by two seeds
    seeds = np.zeros_like(mask)
    seeds[3, 2, 3] = seeds[3, 6, 16] = True
    done, got = _cut_blocks(tmp_path / "faces", mask, seeds, chunks=(2, 4, 4), block_kb=128)
    assert done
    np.testing.assert_array_equal(got, cut_touching_objects(mask, seeds))

    full = np.ones((6, 12, 12), dtype=bool)
    done, got = _cut_blocks(tmp_path / "full", full, seeds[:, :12, :12], chunks=(2, 4, 4), block_kb=128)
    assert done
    np.testing.assert_array_equal(got, cut_touching_objects(full, seeds[:, :12, :12]))


def test_no_seeds_or_no_objects_give_an_empty_mask(tmp_path):
    mask = np.zeros((4, 16, 16), dtype=bool)
    mask[1:3, 4:9, 4:9] = True
    empty = np.zeros_like(mask)
    assert not _cut_blocks(tmp_path / "a", mask, empty)[1].any()
    assert not _cut_blocks(tmp_path / "b", empty, mask)[1].any()


def test_too_little_memory_declines_and_writes_nothing(tmp_path, cetn2_objects, monkeypatch):
    mask, seeds = cetn2_objects
    monkeypatch.setattr(watershed_cut, "BYTES_PER_VOXEL", 10**9)
    done, got = _cut_blocks(tmp_path, mask, seeds)
    assert not done and not got.any()
    assert not any(tmp_path.glob("*wcut*")), "scratch space is left behind"


def test_sparse_pieces_equal_the_in_memory_cut(cetn2_objects):
    mask, seeds = cetn2_objects
    flat = np.flatnonzero(mask)
    grown = ndimage.binary_dilation(seeds, ndimage.generate_binary_structure(3, 1))
    expected_markers, count = ndimage.label(grown, structure=np.ones((3, 3, 3)))

    marker_flat, labels = wcut_markers_sparse(np.flatnonzero(seeds)[::-1], mask.shape)  # any order
    np.testing.assert_array_equal(marker_flat, np.flatnonzero(grown))
    assert labels.max() == count
    pairs = np.unique(np.column_stack([labels, expected_markers.ravel()[marker_flat]]), axis=0)
    assert len(pairs) == count, "the same components, numbered differently"

    markers = np.zeros(mask.size, dtype=np.int32)
    markers[marker_flat] = labels
    keep = wcut_flood_sparse(flat, mask.shape, wcut_distances(mask).ravel()[flat], markers[flat], min_size=3)
    got = np.zeros(mask.size, dtype=bool)
    got[flat[keep]] = True
    np.testing.assert_array_equal(got.reshape(mask.shape), cut_touching_objects(mask, seeds, min_size=3))
    distances = wcut_distances(mask)
    assert np.all(distances[~mask] == 0) and np.all(distances[mask] <= -1)
    np.testing.assert_array_equal(distances, -ndimage.distance_transform_edt(mask))


def test_markers_of_seeds_on_the_volume_faces():
    flat, labels = wcut_markers_sparse(np.array([0, 2]), (3, 3, 3))  # (0,0,0) and (0,0,2): crosses touch
    assert flat.tolist() == [0, 1, 2, 3, 5, 9, 11] and set(labels.tolist()) == {1}
    flat, labels = wcut_markers_sparse(np.zeros(0, dtype=np.int64), (3, 3, 3))
    assert flat.size == 0 and labels.size == 0


def test_sparse_flood_rejects_unsorted_positions():
    with pytest.raises(ValueError, match="strictly increasing"):
        wcut_flood_sparse(np.array([5, 3]), (2, 2, 2), np.zeros(2), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="one entry per voxel"):
        wcut_flood_sparse(np.array([3, 5]), (2, 2, 2), np.zeros(3), np.zeros(2, dtype=int))
