"""Tests for helpers.viewer: the k3d 3D viewer and the matplotlib slice views."""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest

pytest.importorskip("k3d")
pytest.importorskip("ipywidgets")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers import viewer  # noqa: E402

VOXEL_SIZE = (0.29, 0.108, 0.108)
SHAPE = (12, 48, 48)


@pytest.fixture
def image():
    rng = np.random.default_rng(5)
    return rng.integers(0, 4000, size=SHAPE).astype(np.uint16)


@pytest.fixture
def mask():
    mask = np.zeros(SHAPE, dtype=bool)
    mask[4:8, 10:20, 30:40] = True
    return mask


def _expected_bounds(shape, voxel_size):
    (z, y, x), (vz, vy, vx) = shape, voxel_size
    return [0.0, x * vx, 0.0, y * vy, 0.0, z * vz]


# --------------------------------------------------------------------------- 3D viewer


def test_bounds_are_anisotropic_extents_in_micrometres(image, mask):
    view = viewer.view3d(image, mask, voxel_size=VOXEL_SIZE)
    expected = _expected_bounds(SHAPE, VOXEL_SIZE)
    np.testing.assert_allclose(view.volume.get_bounding_box(), expected, rtol=1e-6)
    np.testing.assert_allclose(view.voxels.get_bounding_box(), expected, rtol=1e-6)
    # z extent 12 * 0.29 = 3.48 um, x extent 48 * 0.108 = 5.184 um
    assert view.volume.get_bounding_box()[5] == pytest.approx(3.48, rel=1e-6)
    assert view.plot.objects == [view.volume, view.voxels]


def test_image_is_scaled_for_display_and_mask_is_coloured(image, mask):
    view = viewer.view3d(image, mask * np.uint8(255), voxel_size=VOXEL_SIZE, mask_color=0x00FF00)
    data = view.volume.volume
    assert data.dtype == np.float32 and data.shape == SHAPE
    assert data.min() == 0.0 and data.max() == 1.0
    low, high = np.percentile(image, viewer.DISPLAY_PERCENTILES)
    expected = np.clip((image[3, 4, 5] - low) / (high - low), 0, 1)
    assert data[3, 4, 5] == pytest.approx(expected, rel=1e-4)
    np.testing.assert_array_equal(view.voxels.voxels, mask.astype(np.uint8))
    assert list(view.voxels.color_map) == [0x00FF00]
    assert view.voxels.opacity == pytest.approx(0.5)


def test_label_image_mask_counts_nonzero_as_on(image):
    labels = np.zeros(SHAPE, dtype=np.int32)
    labels[1, 1, 1] = 7
    labels[2, 2, 2] = 300
    view = viewer.view3d(image, labels)
    assert view.voxels.voxels.sum() == 2
    assert view.voxels.voxels.max() == 1


def test_input_arrays_are_not_modified(image, mask):
    image_before, mask_before = image.copy(), mask.copy()
    view = viewer.view3d(image, mask, voxel_size=VOXEL_SIZE, max_voxels=1000)
    view.update(image=image, mask=mask)
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(mask, mask_before)


def test_downsampling_respects_max_voxels_keeps_bounds_and_single_voxel(image):
    one_voxel = np.zeros(SHAPE, dtype=bool)
    one_voxel[7, 33, 21] = True
    view = viewer.view3d(image, one_voxel, voxel_size=VOXEL_SIZE, max_voxels=2_000)
    assert view.volume.volume.size <= 2_000
    assert view.downsampling != (1, 1, 1)
    assert view.volume.volume.shape == view.display_shape == view.voxels.voxels.shape
    # block maximum: the one-voxel object survives, in the block that holds it
    assert view.voxels.voxels.sum() == 1
    fz, fy, fx = view.downsampling
    assert view.voxels.voxels[7 // fz, 33 // fy, 21 // fx] == 1
    # the fine x/y sampling is reduced at least as much as the coarse z steps
    assert fy >= fz and fx >= fz
    expected = _expected_bounds(SHAPE, VOXEL_SIZE)
    np.testing.assert_allclose(view.volume.get_bounding_box(), expected, rtol=1e-6)
    np.testing.assert_allclose(view.voxels.get_bounding_box(), expected, rtol=1e-6)


def test_downsampling_is_a_block_mean():
    image = np.arange(4 * 4 * 4, dtype=np.float32).reshape(4, 4, 4)
    reduced = viewer._block_reduce(image, (2, 2, 2), "mean")
    assert reduced.shape == (2, 2, 2)
    assert reduced[0, 0, 0] == pytest.approx(image[:2, :2, :2].mean())
    assert reduced[1, 1, 1] == pytest.approx(image[2:, 2:, 2:].mean())


def test_no_downsampling_below_max_voxels(image):
    view = viewer.view3d(image, max_voxels=int(np.prod(SHAPE)))
    assert view.downsampling == (1, 1, 1)
    assert view.volume.volume.shape == SHAPE


def test_update_replaces_data_on_the_same_objects(image, mask):
    view = viewer.view3d(image, mask, voxel_size=VOXEL_SIZE)
    plot, volume, voxels = view.plot, view.volume, view.voxels
    new_mask = np.zeros(SHAPE, dtype=np.uint8)
    new_mask[0, 0, 0] = 1
    view.update(image=image[::-1].copy(), mask=new_mask)
    assert view.plot is plot and view.volume is volume and view.voxels is voxels
    assert plot.objects == [volume, voxels]
    assert voxels.voxels.sum() == 1 and voxels.voxels[0, 0, 0] == 1
    np.testing.assert_allclose(volume.volume[0], viewer._scale_for_display(image)[-1], rtol=1e-5)


def test_update_voxel_size_and_shape_changes_bounds(image, mask):
    view = viewer.view3d(image, mask, voxel_size=VOXEL_SIZE)
    view.update(voxel_size=(1.0, 0.5, 0.25))
    expected = _expected_bounds(SHAPE, (1.0, 0.5, 0.25))
    np.testing.assert_allclose(view.volume.get_bounding_box(), expected, rtol=1e-6)
    np.testing.assert_allclose(view.voxels.get_bounding_box(), expected, rtol=1e-6)
    small = image[:6, :20, :30]
    view.update(image=small, mask=mask[:6, :20, :30])
    assert view.volume.volume.shape == (6, 20, 30)
    np.testing.assert_allclose(
        view.voxels.get_bounding_box(), _expected_bounds((6, 20, 30), (1.0, 0.5, 0.25)), rtol=1e-6
    )


def test_image_only_then_update_with_mask(image, mask):
    view = viewer.view3d(image, voxel_size=VOXEL_SIZE)
    assert view.voxels is None
    assert view.plot.objects == [view.volume]
    assert view.opacity_slider.disabled and view.show_mask_checkbox.disabled
    view.update(mask=mask)
    assert view.voxels is not None
    assert view.plot.objects == [view.volume, view.voxels]
    np.testing.assert_array_equal(view.voxels.voxels, mask.astype(np.uint8))
    np.testing.assert_allclose(
        view.voxels.get_bounding_box(), _expected_bounds(SHAPE, VOXEL_SIZE), rtol=1e-6
    )
    assert not view.opacity_slider.disabled


def test_controls_drive_the_plot_objects(image, mask):
    view = viewer.view3d(image, mask, mask_opacity=0.3)
    assert view.opacity_slider.value == pytest.approx(0.3)
    view.opacity_slider.value = 0.8
    assert view.voxels.opacity == pytest.approx(0.8)
    view.show_mask_checkbox.value = False
    assert view.voxels.visible is False
    view.show_image_checkbox.value = False
    assert view.volume.visible is False
    view.show_image_checkbox.value = True
    assert view.volume.visible is True


def test_widget_holds_plot_and_displays(image, mask):
    view = viewer.view3d(image, mask)
    assert "segmenter-view3d" in view.widget._dom_classes
    assert view.widget.children[0] is view.plot
    bundle = view._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id


def test_itkwidgets_missing_warns_and_returns_k3d(image, mask, monkeypatch):
    monkeypatch.setitem(sys.modules, "itkwidgets", None)  # import fails
    with pytest.warns(UserWarning, match="itkwidgets is not installed.*k3d"):
        view = viewer.view3d(image, mask, backend="itkwidgets")
    assert isinstance(view, viewer.Viewer3D)


def test_itkwidgets_too_old_or_offline_warns(image, monkeypatch):
    old = types.ModuleType("itkwidgets")
    old.__version__ = "0.32.6"
    monkeypatch.setitem(sys.modules, "itkwidgets", old)
    with pytest.warns(UserWarning, match="1.0 or newer"):
        assert isinstance(viewer.view3d(image, backend="itkwidgets"), viewer.Viewer3D)

    new = types.ModuleType("itkwidgets")
    new.__version__ = "1.0.0"
    monkeypatch.setitem(sys.modules, "itkwidgets", new)
    monkeypatch.setattr(viewer, "_host_reachable", lambda host, port=443, timeout=1.0: False)
    with pytest.warns(UserWarning, match="cannot be reached"):
        assert isinstance(viewer.view3d(image, backend="itkwidgets"), viewer.Viewer3D)


def test_itkwidgets_online_wraps_its_viewer(image, mask, monkeypatch):
    calls = {}

    class FakeViewer:
        def set_image(self, data):
            calls["set_image"] = data

        def set_label_image(self, data):
            calls["set_label_image"] = data

    def view(**kwargs):
        calls["view"] = kwargs
        return FakeViewer()

    fake = types.ModuleType("itkwidgets")
    fake.__version__ = "1.0.1"
    fake.view = view
    monkeypatch.setitem(sys.modules, "itkwidgets", fake)
    monkeypatch.setitem(sys.modules, "ngff_zarr", None)  # plain arrays
    monkeypatch.setattr(viewer, "_host_reachable", lambda host, port=443, timeout=1.0: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrapped = viewer.view3d(image, mask, backend="itkwidgets")
    assert not isinstance(wrapped, viewer.Viewer3D)
    assert set(calls["view"]) == {"image", "label_image"}
    wrapped.update(mask=mask[::-1])
    np.testing.assert_array_equal(calls["set_label_image"], mask[::-1].astype(np.uint8))
    with pytest.raises(ValueError, match="must match"):
        wrapped.update(mask=mask[:3])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(image=np.zeros((48, 48))), "3D"),
        (dict(image=np.full(SHAPE, np.nan, dtype=np.float32)), "NaN"),
        (dict(mask=np.zeros((12, 48, 47), dtype=bool)), "match voxel for voxel"),
        (dict(voxel_size=(0.29, 0.0, 0.108)), "three positive numbers"),
        (dict(voxel_size=(0.1, 0.1)), "three positive numbers"),
        (dict(voxel_size="big"), "three positive numbers"),
        (dict(backend="napari"), "choose one of: k3d, itkwidgets"),
        (dict(backend="itkwidgets", mask_opacity=2.0), r"\[0, 1\]"),
        (dict(mask_opacity=-0.1), r"mask_opacity.*\[0, 1\]"),
        (dict(max_voxels=0), "max_voxels"),
        (dict(mask=np.zeros(SHAPE, dtype=np.float32)), "Threshold it first"),
    ],
)
def test_view3d_bad_input_raises_helpful_error(image, arguments, message):
    arguments = {"image": image, **arguments}
    with pytest.raises(ValueError, match=message):
        viewer.view3d(**arguments)


def test_update_bad_input_raises_helpful_error(image, mask):
    view = viewer.view3d(image, mask)
    with pytest.raises(ValueError, match="pass a matching mask"):
        view.update(image=image[:5])
    with pytest.raises(ValueError, match="must match"):
        view.update(mask=mask[:, :10])
    with pytest.raises(ValueError, match="three positive numbers"):
        view.update(voxel_size=(-1, 1, 1))
    assert view.image_shape == SHAPE  # nothing changed


# --------------------------------------------------------------------------- slices


def test_slices_figure_panels_aspect_and_overlay(image, mask):
    before = plt.get_fignums()
    figure = viewer.slices_figure(image, mask, voxel_size=VOXEL_SIZE, z=5)
    assert len(figure.axes) == 6
    xy, xz, yz, mip_z, mip_y, mip_x = figure.axes
    assert xz.get_aspect() == pytest.approx(0.29 / 0.108)
    assert yz.get_aspect() == pytest.approx(0.29 / 0.108)
    assert xy.get_aspect() == pytest.approx(1.0)
    assert "z = 5" in xy.get_title()
    np.testing.assert_array_equal(xy.images[0].get_array(), image[5].astype(np.float32))
    assert xz.images[0].get_array().shape == (12, 48)  # z vertical
    np.testing.assert_array_equal(mip_z.images[0].get_array(), image.max(axis=0).astype(np.float32))
    # the overlay: a second image, opaque exactly where the mask is
    overlay = np.asarray(xy.images[1].get_array())
    assert overlay.shape == (48, 48, 4)
    np.testing.assert_array_equal(overlay[..., 3] > 0, mask[5])
    assert (np.asarray(mip_y.images[1].get_array())[..., 3] > 0).sum() == mask.max(axis=1).sum()
    assert plt.get_fignums() == before  # not registered with pyplot: nothing leaks


def test_slices_figure_without_mask_has_no_overlay(image):
    figure = viewer.slices_figure(image, voxel_size=(1.0, 0.5, 0.5))
    assert all(len(axis.images) == 1 for axis in figure.axes)
    assert figure.axes[1].get_aspect() == pytest.approx(2.0)
    assert "z = 6" in figure.axes[0].get_title()  # centre by default


def test_view_slices_interactive_slider_redraws(image, mask):
    before = plt.get_fignums()
    box = viewer.view_slices(image, mask, voxel_size=VOXEL_SIZE)
    slider, picture = box.children
    assert (slider.min, slider.max, slider.value) == (0, SHAPE[0] - 1, SHAPE[0] // 2)
    first = picture.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 2
    assert picture.value != first and picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before


def test_view_slices_static_returns_figure(image):
    from matplotlib.figure import Figure

    figure = viewer.view_slices(image, interactive=False, z=3)
    assert isinstance(figure, Figure)
    assert "z = 3" in figure.axes[0].get_title()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(z=12), r"`z` = 12 is out of range"),
        (dict(y=-1), "out of range"),
        (dict(voxel_size=(1, 1)), "three positive numbers"),
        (dict(mask=np.ones((12, 48, 4), dtype=bool)), "match voxel for voxel"),
    ],
)
def test_slices_bad_input_raises_helpful_error(image, arguments, message):
    with pytest.raises(ValueError, match=message):
        viewer.slices_figure(image, **arguments)


def test_view_slices_bad_input_raises(image):
    with pytest.raises(ValueError, match="3D"):
        viewer.view_slices(image[0])
    with pytest.raises(ValueError, match="out of range"):
        viewer.view_slices(image, z=100)


def test_static_figure_shows_itself_as_png(image):
    figure = viewer.slices_figure(image)
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_downsampling_factors_reduce_fine_axes_first_and_keep_square_pixels():
    factors = viewer._downsampling_factors((65, 624, 924), (0.29, 0.108, 0.108), 8_000_000)
    assert factors == (1, 3, 3)
    assert viewer._downsampling_factors((10, 10, 10), (1.0, 1.0, 1.0), 1000) == (1, 1, 1)
    assert viewer._downsampling_factors((10, 10, 10), (1.0, 1.0, 1.0), 125) == (2, 2, 2)
