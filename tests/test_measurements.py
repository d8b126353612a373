"""Object tables, filters, mask classification, plots, CSV export, PCA and t-SNE (helpers.analysis)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers.analysis import embedding, measurements

VOXEL = (0.5, 0.1, 0.1)


def _ball(radius, voxel_size=(1.0, 1.0, 1.0)):
    """A voxelized ball of ``radius`` (in the units of ``voxel_size``) with a margin of one voxel."""
    half = [int(np.ceil(radius / s)) + 1 for s in voxel_size]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, voxel_size)], indexing="ij")
    return sum(g ** 2 for g in grids) <= radius ** 2


@pytest.fixture
def boxes():
    labels = np.zeros((20, 40, 40), np.uint16)
    labels[2:8, 5:15, 5:15] = 1  # 600 voxels, inside
    labels[10:14, 20:30, 20:38] = 5  # 720 voxels, inside
    labels[0:3, 30:40, 0:5] = 9  # 150 voxels, on the border
    return labels


def _quiet_measure(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return measurements.measure_objects(*args, **kwargs)


# ---------------------------------------------------------------- measure_objects


def test_boxes_known_sizes_positions_and_border(boxes):
    table = measurements.measure_objects(boxes, voxel_size=VOXEL)
    assert table["label"].tolist() == [1, 5, 9]
    assert table["voxel_count"].tolist() == [600, 720, 150]
    np.testing.assert_allclose(table["volume_um3"], np.array([600, 720, 150]) * 0.005)
    np.testing.assert_allclose(table["equivalent_diameter_um"], (6 * table["volume_um3"] / np.pi) ** (1 / 3))
    np.testing.assert_allclose(table["extent"], 1.0)
    first = table.iloc[0]
    assert (first["centroid_z_um"], first["centroid_y_um"], first["centroid_x_um"]) == pytest.approx((2.25, 0.95, 0.95))
    assert [first[f"bbox_{a}_{e}"] for a in "zyx" for e in ("start", "stop")] == [2, 8, 5, 15, 5, 15]
    assert table["touches_border"].tolist() == [False, False, True]
    assert table.attrs["voxel_size"] == VOXEL and table.attrs["unit"] == "um"


def test_surface_of_box_is_close_to_its_area_and_closed_on_the_border():
    inside = np.zeros((12, 12, 12), np.uint8)
    inside[3:9, 3:9, 3:9] = 1
    on_border = np.zeros((12, 12, 12), np.uint8)
    on_border[0:6, 3:9, 3:9] = 1  # the same cube cut by nothing, but touching the z = 0 face
    a = _quiet_measure(inside)["surface_vx2"].iloc[0]
    b = _quiet_measure(on_border)["surface_vx2"].iloc[0]
    assert a == pytest.approx(b)  # padding closes the border face: same surface
    assert 0.85 * 6 * 36 < a < 6 * 36  # chamfered edges: a little below the 216 of the exact cube


@pytest.mark.parametrize("radius, voxel_size", [(8.0, (1.0, 1.0, 1.0)), (12.0, (1.0, 1.0, 1.0)),
                                                (1.0, (0.29, 0.108, 0.108)), (2.0, (0.29, 0.108, 0.108))])
def test_voxelized_ball_is_nearly_spherical(radius, voxel_size):
    ball = _ball(radius, voxel_size)
    row = measurements.measure_objects(ball, voxel_size=voxel_size).iloc[0]
    assert 0.85 <= row["sphericity"] <= 1.0  # the documented staircase bias: 0.85-0.93, never above 1
    assert row["volume_um3"] == pytest.approx(4 / 3 * np.pi * radius ** 3, rel=0.03)
    assert row["surface_um2"] == pytest.approx(4 * np.pi * radius ** 2, rel=0.16)
    assert row["surface_um2"] > 4 * np.pi * radius ** 2  # marching cubes on a mask overestimates a smooth surface
    assert row["equivalent_diameter_um"] == pytest.approx(2 * radius, rel=0.01)


def test_elongated_box_is_less_spherical_than_a_ball_and_small_objects_stay_at_most_one():
    rod = np.zeros((8, 8, 30), bool)
    rod[2:6, 2:6, 2:28] = True
    plate = np.zeros((5, 30, 30), bool)
    plate[2, 2:28, 2:28] = True
    ball = _quiet_measure(_ball(8.0))["sphericity"].iloc[0]
    rod_value = _quiet_measure(rod)["sphericity"].iloc[0]
    plate_value = _quiet_measure(plate)["sphericity"].iloc[0]
    assert rod_value < 0.7 < ball and plate_value < rod_value
    tiny = np.zeros((5, 5, 5), bool)
    tiny[2, 2, 2] = True
    assert 0 < _quiet_measure(tiny)["sphericity"].iloc[0] <= 1.0


def test_intensity_statistics_match_numpy(boxes):
    rng = np.random.default_rng(0)
    image = rng.normal(500, 40, boxes.shape).astype(np.float32)
    table = measurements.measure_objects(boxes, image, voxel_size=VOXEL)
    for _, row in table.iterrows():
        values = image[boxes == row["label"]].astype(np.float64)
        assert row["mean_intensity"] == pytest.approx(values.mean(), rel=1e-9)
        assert row["max_intensity"] == pytest.approx(values.max())
        assert row["min_intensity"] == pytest.approx(values.min())
        assert row["std_intensity"] == pytest.approx(values.std(), rel=1e-6)
        assert row["integrated_intensity"] == pytest.approx(values.sum(), rel=1e-9)


def test_mask_is_labelled_with_the_chosen_connectivity():
    mask = np.zeros((6, 6, 6), bool)
    mask[1, 1, 1] = mask[2, 2, 2] = True  # touching by a corner only
    mask[4, 4, 4] = True
    assert len(_quiet_measure(mask)) == 2  # 26-connectivity joins the corner pair
    assert len(_quiet_measure(mask, connectivity=6)) == 3
    labels = measurements.label_objects(mask, connectivity=6)
    assert labels.max() == 3 and labels[1, 1, 1] == 1 and labels[2, 2, 2] == 2 and labels[4, 4, 4] == 3
    uint8_mask = mask.astype(np.uint8) * 255  # a 0/255 mask file is a mask, not one object numbered 255
    assert _quiet_measure(uint8_mask)["label"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="6 .faces., 18"):
        measurements.measure_objects(mask, connectivity=4)


def test_without_voxel_size_units_are_voxels_and_a_warning_says_so(boxes):
    with pytest.warns(UserWarning, match="in voxels"):
        table = measurements.measure_objects(boxes)
    assert "volume_vx3" in table and "surface_vx2" in table and "centroid_z_vx" in table
    assert "volume_um3" not in table
    assert table["volume_vx3"].tolist() == [600, 720, 150]


def test_empty_label_image_gives_an_empty_table_with_the_same_columns(boxes):
    image = np.ones(boxes.shape, np.float32)
    full = measurements.measure_objects(boxes, image, voxel_size=VOXEL)
    empty = measurements.measure_objects(np.zeros_like(boxes), image, voxel_size=VOXEL)
    assert len(empty) == 0 and list(empty.columns) == list(full.columns)
    assert empty["touches_border"].dtype == bool


def test_inputs_are_not_modified_and_bad_inputs_are_explained(boxes):
    image = np.arange(boxes.size, dtype=np.float32).reshape(boxes.shape)
    copies = boxes.copy(), image.copy()
    measurements.measure_objects(boxes, image, voxel_size=VOXEL)
    assert np.array_equal(boxes, copies[0]) and np.array_equal(image, copies[1])
    with pytest.raises(ValueError, match="must match voxel for voxel"):
        measurements.measure_objects(boxes, image[:, :10], voxel_size=VOXEL)
    with pytest.raises(ValueError, match="three positive numbers"):
        measurements.measure_objects(boxes, voxel_size=(0.1, 0.1))
    with pytest.raises(ValueError, match="2D array"):
        measurements.measure_objects(boxes[0], voxel_size=VOXEL)
    with pytest.raises(ValueError, match="negative labels"):
        measurements.measure_objects(boxes.astype(np.int32) - 1, voxel_size=VOXEL)


# ---------------------------------------------------------------- filters, masks, plots, export


def test_filter_objects_ranges_values_and_errors(boxes):
    table = measurements.measure_objects(boxes, voxel_size=VOXEL)
    assert measurements.filter_objects(table, volume_um3=(1.0, None))["label"].tolist() == [1, 5]
    assert measurements.filter_objects(table, volume_um3=(None, 3.1))["label"].tolist() == [1, 9]
    assert measurements.filter_objects(table, voxel_count=(150, 600))["label"].tolist() == [1, 9]  # inclusive
    assert measurements.filter_objects(table, volume_um3=(1, None), touches_border=False,
                                       voxel_count=(650, 800))["label"].tolist() == [5]
    kept = measurements.filter_objects(table, touches_border=True)
    assert kept["label"].tolist() == [9] and kept.attrs["unit"] == "um"
    assert len(table) == 3  # the input is left alone
    with pytest.raises(ValueError, match="not a column of the table; choose from: label, voxel_count"):
        measurements.filter_objects(table, volume=(1, 2))
    with pytest.raises(ValueError, match="range for `volume_um3` is empty"):
        measurements.filter_objects(table, volume_um3=(2, 1))
    with pytest.raises(ValueError, match="not a numeric column"):
        measurements.filter_objects(table, touches_border=(0, 1))


def test_keep_labels_keeps_only_the_listed_objects(boxes):
    table = measurements.measure_objects(boxes, voxel_size=VOXEL)
    kept = measurements.keep_labels(boxes, measurements.filter_objects(table, touches_border=False))
    assert sorted(np.unique(kept).tolist()) == [0, 1, 5] and kept.dtype == boxes.dtype
    assert np.array_equal(kept[boxes == 5], boxes[boxes == 5])
    with pytest.raises(ValueError, match="not in `labels`"):
        measurements.keep_labels(boxes, pd.DataFrame({"label": [1, 4]}))


def test_classify_by_mask_uses_the_fraction_inside(boxes):
    region = np.zeros(boxes.shape, bool)
    region[:, :, :10] = True  # object 1 spans x 5..14: half inside; object 9 (x 0..4) fully inside
    result = measurements.classify_by_mask(boxes, region)
    assert result["label"].tolist() == [1, 5, 9]
    np.testing.assert_allclose(result["fraction_inside"], [0.5, 0.0, 1.0])
    assert result["location"].tolist() == ["inside", "outside", "inside"]
    assert measurements.classify_by_mask(boxes, region, min_overlap=0.6)["location"].tolist()[0] == "outside"
    with pytest.raises(ValueError, match="must match voxel for voxel"):
        measurements.classify_by_mask(boxes, region[:, :10])
    with pytest.raises(ValueError, match="min_overlap"):
        measurements.classify_by_mask(boxes, region, min_overlap=1.5)


def test_scatter_plot_axes_colours_and_errors(boxes):
    table = measurements.measure_objects(boxes, voxel_size=VOXEL)
    table = table.merge(measurements.classify_by_mask(boxes, np.ones(boxes.shape, bool)), on="label")
    figure = measurements.scatter_plot(table, "volume_um3", "sphericity", color_by="location", highlight=[1, 9],
                                       highlight_name="kept")
    axes = figure.axes[0]
    assert axes.get_xlabel() == "volume_um3" and axes.get_ylabel() == "sphericity"
    assert "kept (2)" in [t.get_text() for t in axes.get_legend().get_texts()]
    numeric = measurements.scatter_plot(table, "volume_um3", "extent", color_by="voxel_count", log_x=True)
    assert len(numeric.axes) == 2 and numeric.axes[0].get_xscale() == "log"  # plot and colour bar
    assert figure._repr_png_().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="not a column .`y`."):
        measurements.scatter_plot(table, "volume_um3", "roundness")
    with pytest.raises(ValueError, match="not a numeric column"):
        measurements.scatter_plot(table, "location", "extent")


def test_export_csv_writes_table_and_sidecar_and_never_overwrites(boxes, tmp_path):
    table = measurements.measure_objects(boxes, voxel_size=VOXEL)
    path = measurements.export_csv(table, tmp_path / "objects.csv", source="boxes.tif")
    back = pd.read_csv(path)
    assert list(back.columns) == list(table.columns)
    np.testing.assert_allclose(back["volume_um3"], table["volume_um3"])
    sidecar = json.loads((tmp_path / "objects.json").read_text())
    assert sidecar["voxel_size_um"] == list(VOXEL) and sidecar["source"] == "boxes.tif" and sidecar["rows"] == 3
    assert "um^3" in sidecar["columns"]["volume_um3"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        measurements.export_csv(table, path)
    measurements.export_csv(table.iloc[:1], path, overwrite=True)
    assert len(pd.read_csv(path)) == 1
    merged = table.merge(measurements.classify_by_mask(boxes, boxes > 0), on="label")  # pandas drops attrs here
    measurements.export_csv(merged, tmp_path / "merged.csv", voxel_size=VOXEL)
    sidecar = json.loads((tmp_path / "merged.json").read_text())
    assert sidecar["voxel_size_um"] == list(VOXEL) and sidecar["length_unit"] == "micrometre"
    assert "classify_by_mask" in sidecar["columns"]["location"] and "um^3" in sidecar["columns"]["volume_um3"]
    with pytest.raises(ValueError, match="does not end in .csv"):
        measurements.export_csv(table, tmp_path / "objects.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.csv", "merged.json", "objects.csv", "objects.json"]


# ---------------------------------------------------------------- PCA and t-SNE


def _two_populations(n=30, seed=0):
    """Small round dim objects and large elongated bright ones."""
    rng = np.random.default_rng(seed)
    small = pd.DataFrame({"volume_um3": rng.normal(0.1, 0.01, n), "sphericity": rng.normal(0.9, 0.02, n),
                          "mean_intensity": rng.normal(500, 20, n)})
    large = pd.DataFrame({"volume_um3": rng.normal(1.0, 0.1, n), "sphericity": rng.normal(0.6, 0.03, n),
                          "mean_intensity": rng.normal(900, 30, n)})
    table = pd.concat([small, large], ignore_index=True)
    table.insert(0, "label", np.arange(1, 2 * n + 1))
    table["kind"] = ["small"] * n + ["large"] * n
    return table


def test_pca_separates_two_populations_on_the_first_component():
    table = _two_populations()
    result = embedding.pca(table)
    assert result.features == ("volume_um3", "sphericity", "mean_intensity")
    assert result.coordinates["label"].tolist() == table["label"].tolist()
    first = result.coordinates["pc1"].to_numpy()
    small, large = first[:30], first[30:]
    assert small.max() < large.min() or large.max() < small.min()
    ratio = result.explained_variance_ratio
    assert ratio[0] > 0.8 and ratio.sum() <= 1 + 1e-9
    assert result.loadings.shape == (3, 2)
    assert embedding.pca(table.assign(fraction_inside=0.5)).features == result.features  # a position, not a feature


def test_pca_of_standardized_features_ignores_units():
    table = _two_populations()
    scaled = table.assign(volume_um3=table["volume_um3"] * 1e9)  # the same volumes in nm^3
    np.testing.assert_allclose(embedding.pca(table).coordinates[["pc1", "pc2"]],
                               embedding.pca(scaled).coordinates[["pc1", "pc2"]], atol=1e-9)


def test_pca_bad_arguments():
    table = _two_populations(n=3)
    with pytest.raises(ValueError, match="n_components"):
        embedding.pca(table, n_components=4)
    with pytest.raises(ValueError, match="At least 2 features"):
        embedding.pca(table, features=["volume_um3"])
    with pytest.raises(ValueError, match="not numeric"):
        embedding.pca(table, features=["volume_um3", "kind"])
    with pytest.raises(ValueError, match="NaN"):
        embedding.pca(table.assign(sphericity=np.nan))


def test_tsne_keeps_populations_apart_and_is_reproducible():
    table = _two_populations(n=20)
    first = embedding.tsne(table, perplexity=8, seed=1)
    again = embedding.tsne(table, perplexity=8, seed=1)
    np.testing.assert_allclose(first.coordinates[["tsne1", "tsne2"]], again.coordinates[["tsne1", "tsne2"]])
    points = first.coordinates[["tsne1", "tsne2"]].to_numpy()
    nearest = np.argsort(np.linalg.norm(points[:, None] - points[None], axis=2), axis=1)[:, 1]
    same_kind = (nearest < 20) == (np.arange(40) < 20)
    assert same_kind.all()  # every object's nearest neighbour in the map is of its own kind


def test_tsne_perplexity_is_checked_against_the_number_of_objects():
    table = _two_populations(n=6)
    with pytest.raises(ValueError, match=r"below the number of objects \(12\); use perplexity=4"):
        embedding.tsne(table, perplexity=30)


def test_plot_embedding_colours_by_a_table_column():
    table = _two_populations(n=10)
    result = embedding.pca(table)
    figure = embedding.plot_embedding(result, table=table, color_by="kind")
    axes = figure.axes[0]
    assert axes.get_xlabel().startswith("pc1 (") and "% of variance" in axes.get_ylabel()
    assert axes.get_title() == "PCA of 20 objects, 3 features"
    assert sorted(t.get_text() for t in axes.get_legend().get_texts()) == ["kind = large (10)", "kind = small (10)"]
    assert len(embedding.plot_embedding(result, table=table, color_by="volume_um3").axes) == 2
    with pytest.raises(ValueError, match="pass the object table"):
        embedding.plot_embedding(result, color_by="kind")
    with pytest.raises(ValueError, match="not in `table`"):
        embedding.plot_embedding(result, table=table.iloc[:5], color_by="kind")
