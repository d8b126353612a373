"""Viewers for the notebooks: an interactive 3D view and orthogonal slices.

Two ways to look at a (Z, Y, X) image and, optionally, its segmentation mask:

:func:`view3d`
    An embedded 3D viewer built on k3d. The image is drawn by volume rendering (scaled to its
    0.5-99.8 percentiles so dim structures show), the mask as a translucent coloured voxel overlay
    that stays visible inside the rendered volume. Both are placed in micrometres, so a stack with
    0.29 um steps in z and 0.108 um pixels is shown with its true proportions. Large images are
    block-averaged before they are sent to the browser (the mask is block-maxed, so a one-voxel
    object never disappears). Under the plot a slider sets the mask opacity and two check boxes
    show or hide the mask and the image. The returned :class:`Viewer3D` shows itself when it is
    the last line of a cell and can be refreshed in place with :meth:`Viewer3D.update`.
    k3d works offline: its JavaScript ships with the Python package. ``backend="itkwidgets"``
    uses itkwidgets (1.0 or newer) instead when it is installed and its viewer can be downloaded;
    otherwise it warns why and falls back to k3d.

:func:`view_slices` and :func:`slices_figure`
    Matplotlib panels for quick looks and static exports: the XY, XZ and YZ slices through a
    point (top row) and the three maximum projections (bottom row), with z stretched by the voxel
    anisotropy and the mask drawn as a translucent colour overlay. ``view_slices`` adds a z slider
    when ipywidgets is available; the picture is re-rendered as a PNG, so it also works headless
    (nbclient, ``MPLBACKEND=Agg``) and in exported notebooks.

Figures are created without pyplot, so nothing is left open in ``matplotlib.pyplot``, and they
show themselves as PNG in any notebook, whatever the matplotlib backend.
"""

from __future__ import annotations

import io as _io
import socket
import warnings
from urllib.parse import urlparse

import numpy as np

from . import _render
from ._checks import check_choice, check_image, check_mask, check_number, check_voxel_size

__all__ = ["Viewer3D", "view3d", "view_slices", "slices_figure"]

#: Percentiles of the image mapped to black and white (volume rendering and slices).
DISPLAY_PERCENTILES = (0.5, 99.8)

#: Where itkwidgets 1.x downloads its viewer from when its own configuration cannot be read
#: (``itkwidgets.viewer_config.ITK_VIEWER_SRC``), plus the CDN of its user-interface modules.
_ITKWIDGETS_FALLBACK_HOSTS = ("cdn.jsdelivr.net",)

_BACKENDS = ("k3d", "itkwidgets")


# --------------------------------------------------------------------------------------------
# shared input checks and helpers
# --------------------------------------------------------------------------------------------


def _check_voxel_size(voxel_size) -> tuple[float, float, float]:
    """The voxel size, isotropic (1, 1, 1) when unknown (None)."""
    return check_voxel_size(voxel_size, unknown=(1.0, 1.0, 1.0))


def _check_image_and_mask(image, mask):
    image = check_image(image, name="image")
    if mask is not None:
        mask = check_mask(mask, name="mask", like=image)
    return image, mask


def _display_range(image: np.ndarray) -> tuple[float, float]:
    """The intensities mapped to black and white: the 0.5 and 99.8 percentiles."""
    return _render.contrast_limits(image, DISPLAY_PERCENTILES)


def _scale_for_display(image: np.ndarray) -> np.ndarray:
    low, high = _display_range(image)
    scaled = (image.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def _downsampling_factors(shape, voxel_size, max_voxels: int) -> tuple[int, int, int]:
    """Integer factors per axis so that the reduced stack has at most ``max_voxels`` voxels.

    The axis whose (reduced) voxel is currently the smallest in micrometres is reduced first
    (axes tied for the smallest together, so y and x keep square pixels): the fine x and y
    sampling of a typical confocal stack is reduced before the coarse z steps and the reduced
    voxels become closer to cubes.
    """
    factors = [1, 1, 1]

    def reduced_size() -> int:
        return int(np.prod([-(-n // f) for n, f in zip(shape, factors)]))

    while reduced_size() > max_voxels:
        candidates = [axis for axis in range(3) if factors[axis] < shape[axis]]
        steps = {axis: voxel_size[axis] * factors[axis] for axis in candidates}
        finest = min(steps.values())
        for axis in candidates:  # axes with the same step (usually y and x) are reduced together
            if steps[axis] <= finest * (1 + 1e-9):
                factors[axis] += 1
    return tuple(factors)


def _block_reduce(array: np.ndarray, factors, reducer: str) -> np.ndarray:
    """Block mean (``"mean"``) or block maximum (``"max"``), padding the edges as needed."""
    if tuple(factors) == (1, 1, 1):
        return array
    padding = [(0, (-n) % f) for n, f in zip(array.shape, factors)]
    if any(after for _, after in padding):
        mode = "edge" if reducer == "mean" else "constant"
        array = np.pad(array, padding, mode=mode)
    (fz, fy, fx) = factors
    z, y, x = (n // f for n, f in zip(array.shape, factors))
    blocks = array.reshape(z, fz, y, fy, x, fx)
    if reducer == "mean":
        return blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    return blocks.max(axis=(1, 3, 5))


def _bounds(shape, voxel_size) -> list[float]:
    """k3d bounds [x0, x1, y0, y1, z0, z1] in micrometres of a (Z, Y, X) stack."""
    (z, y, x), (vz, vy, vx) = shape, voxel_size
    return [0.0, x * vx, 0.0, y * vy, 0.0, z * vz]


# --------------------------------------------------------------------------------------------
# 3D viewer (k3d)
# --------------------------------------------------------------------------------------------

_GREY_COLOR_MAP = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], dtype=np.float32)


class Viewer3D:
    """An embedded k3d 3D view of an image and an optional mask, with controls underneath.

    Create it with :func:`view3d`. It displays itself when it is the last line of a notebook cell.

    Attributes
    ----------
    plot : k3d.plot.Plot
        The k3d canvas.
    volume : k3d.objects.Volume
        The volume-rendered image (values scaled to [0, 1]).
    voxels : k3d.objects.Voxels or None
        The mask overlay (None until a mask is given).
    widget : ipywidgets.VBox
        The plot and its controls (CSS class ``segmenter-view3d``).
    opacity_slider, show_mask_checkbox, show_image_checkbox : ipywidgets widgets
        The controls under the plot.
    image_shape : tuple of int
        (Z, Y, X) shape of the full-resolution image.
    display_shape : tuple of int
        (Z, Y, X) shape of the stack actually sent to the browser.
    downsampling : tuple of int
        Integer reduction factor per (Z, Y, X) axis (1 = full resolution).
    voxel_size : tuple of float
        (z, y, x) voxel size in micrometres.
    """

    def __init__(self, image, mask=None, *, voxel_size=(1.0, 1.0, 1.0), mask_opacity=0.5,
                 mask_color=0xE8413C, max_voxels=8_000_000, height=480):
        import ipywidgets
        import k3d

        image, mask = _check_image_and_mask(image, mask)
        self.voxel_size = _check_voxel_size(voxel_size)
        mask_opacity = check_number(
            mask_opacity, "mask_opacity", minimum=0.0, maximum=1.0,
            hint="0 hides the mask overlay, 1 makes it opaque; 0.5 is a good start.",
        )
        self.mask_color = int(check_number(
            mask_color, "mask_color", minimum=0, maximum=0xFFFFFF, integer=True,
            hint="Give a packed RGB colour such as 0xE8413C (red) or 0x00FF00 (green).",
        ))
        self.max_voxels = int(check_number(
            max_voxels, "max_voxels", minimum=1, integer=True,
            hint="About 8_000_000 keeps the browser responsive.",
        ))
        height = int(check_number(height, "height", minimum=100, integer=True,
                                  hint="The height of the 3D view in pixels, e.g. 480."))

        self.plot = k3d.plot(
            height=height,
            axes=["x (µm)", "y (µm)", "z (µm)"],
            menu_visibility=True,
            camera_auto_fit=True,
            grid_auto_fit=True,
        )
        self._set_image_geometry(image.shape)
        self.volume = k3d.volume(
            self._prepare_image(image),
            color_map=_GREY_COLOR_MAP,
            color_range=[0.0, 1.0],
            bounds=_bounds(self.image_shape, self.voxel_size),
            name="image",
        )
        self.plot += self.volume
        self.voxels = None

        self.opacity_slider = ipywidgets.FloatSlider(
            value=mask_opacity, min=0.0, max=1.0, step=0.05, description="mask opacity",
            continuous_update=True, readout_format=".2f",
        )
        self.show_mask_checkbox = ipywidgets.Checkbox(value=True, description="show mask", indent=False)
        self.show_image_checkbox = ipywidgets.Checkbox(value=True, description="show image", indent=False)
        self.opacity_slider.observe(self._on_opacity, names="value")
        self.show_mask_checkbox.observe(self._on_show_mask, names="value")
        self.show_image_checkbox.observe(self._on_show_image, names="value")
        controls = ipywidgets.HBox(
            [self.show_image_checkbox, self.show_mask_checkbox, self.opacity_slider]
        )
        self.widget = ipywidgets.VBox([self.plot, controls])
        self.widget.add_class("segmenter-view3d")

        if mask is not None:
            self._set_mask(mask)
        self._update_mask_controls()

    # -- data -------------------------------------------------------------------------------

    def _set_image_geometry(self, shape) -> None:
        self.image_shape = tuple(int(n) for n in shape)
        self.downsampling = _downsampling_factors(self.image_shape, self.voxel_size, self.max_voxels)
        self.display_shape = tuple(-(-n // f) for n, f in zip(self.image_shape, self.downsampling))

    def _prepare_image(self, image: np.ndarray) -> np.ndarray:
        reduced = _block_reduce(image.astype(np.float32, copy=False), self.downsampling, "mean")
        return np.ascontiguousarray(_scale_for_display(reduced), dtype=np.float32)

    def _prepare_mask(self, mask: np.ndarray) -> np.ndarray:
        reduced = _block_reduce(mask, self.downsampling, "max")
        return np.ascontiguousarray(reduced, dtype=np.uint8)

    def _set_mask(self, mask: np.ndarray) -> None:
        import k3d

        data = self._prepare_mask(mask)
        if self.voxels is None:
            self.voxels = k3d.voxels(
                data,
                color_map=[self.mask_color],
                opacity=float(self.opacity_slider.value),
                outlines=False,
                bounds=_bounds(self.image_shape, self.voxel_size),
                name="mask",
                visible=bool(self.show_mask_checkbox.value),
            )
            self.plot += self.voxels
        else:
            self.voxels.voxels = data

    def _set_bounds(self) -> None:
        bounds = _bounds(self.image_shape, self.voxel_size)
        for drawable in (self.volume, self.voxels):
            if drawable is not None:
                drawable.transform.bounds = bounds

    def update(self, image=None, mask=None, voxel_size=None) -> None:
        """Replace the image, the mask and/or the voxel size in the existing 3D view.

        The plot and its objects are kept (only their data changes), so the view already shown
        in the notebook refreshes without a new cell.

        Parameters
        ----------
        image : array_like, shape (Z, Y, X), optional
            The new image. When its shape changes, pass a matching ``mask`` too (if a mask is
            shown).
        mask : array_like of bool or int, shape (Z, Y, X), optional
            The new mask (nonzero = on); adds the overlay when the view had none.
        voxel_size : tuple of 3 float, optional
            New (z, y, x) voxel size in micrometres.

        Raises
        ------
        ValueError
            For invalid arrays, a mask whose shape differs from the image, or a bad voxel size.
        """
        new_voxel_size = self.voxel_size if voxel_size is None else _check_voxel_size(voxel_size)
        if image is not None:
            image = check_image(image, name="image")
            shape = image.shape
        else:
            shape = self.image_shape
        if mask is not None:
            mask = check_mask(mask, name="mask")
            if mask.shape != tuple(shape):
                raise ValueError(
                    f"`mask` has shape {tuple(mask.shape)} but the image has shape {tuple(shape)}; "
                    "they must match voxel for voxel. Pass the matching image as well: "
                    "`viewer.update(image=..., mask=...)`."
                )
        elif image is not None and self.voxels is not None and tuple(shape) != self.image_shape:
            raise ValueError(
                f"The new image has shape {tuple(shape)} but the mask shown has shape "
                f"{self.image_shape}; pass a matching mask too: `viewer.update(image=..., mask=...)`."
            )

        geometry_changed = tuple(shape) != self.image_shape or new_voxel_size != self.voxel_size
        self.voxel_size = new_voxel_size
        if geometry_changed:
            self._set_image_geometry(shape)
        if image is not None:
            self.volume.volume = self._prepare_image(image)
        if mask is not None:
            self._set_mask(mask)
        if geometry_changed:
            self._set_bounds()
        self._update_mask_controls()

    # -- controls ---------------------------------------------------------------------------

    def _update_mask_controls(self) -> None:
        has_mask = self.voxels is not None
        self.opacity_slider.disabled = not has_mask
        self.show_mask_checkbox.disabled = not has_mask

    def _on_opacity(self, change) -> None:
        if self.voxels is not None:
            self.voxels.opacity = float(change["new"])

    def _on_show_mask(self, change) -> None:
        if self.voxels is not None:
            self.voxels.visible = bool(change["new"])

    def _on_show_image(self, change) -> None:
        self.volume.visible = bool(change["new"])

    # -- display ----------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        mask = "with mask" if self.voxels is not None else "no mask"
        return (
            f"Viewer3D(image {self.image_shape}, voxel size {self.voxel_size} µm, {mask}, "
            f"downsampling {self.downsampling})"
        )


# --------------------------------------------------------------------------------------------
# 3D viewer (itkwidgets, online only)
# --------------------------------------------------------------------------------------------


def _host_reachable(host: str, port: int = 443, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _itkwidgets_hosts() -> tuple[str, ...]:
    """The hosts itkwidgets 1.x downloads its browser viewer from."""
    hosts = []
    try:
        from itkwidgets.viewer_config import ITK_VIEWER_SRC  # type: ignore[import-not-found]

        host = urlparse(ITK_VIEWER_SRC).hostname
        if host:
            hosts.append(host)
    except Exception:  # pragma: no cover - depends on the itkwidgets version
        pass
    hosts.extend(h for h in _ITKWIDGETS_FALLBACK_HOSTS if h not in hosts)
    return tuple(hosts)


def _major_version(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def _itkwidgets_problem():
    """Return (module, None) when itkwidgets can be used, else (None, reason)."""
    try:
        import itkwidgets  # type: ignore[import-not-found]
    except ImportError:
        return None, (
            "itkwidgets is not installed. Install it with `pip install 'itkwidgets[notebook]>=1.0'` "
            "(it needs internet access in the browser), or keep the built-in k3d viewer"
        )
    version = getattr(itkwidgets, "__version__", "0")
    if _major_version(version) < 1:
        return None, (
            f"itkwidgets {version} is installed, but version 1.0 or newer is needed (older "
            "versions have no JupyterLab 4 extension). Upgrade with "
            "`pip install -U 'itkwidgets[notebook]>=1.0'`"
        )
    unreachable = [host for host in _itkwidgets_hosts() if not _host_reachable(host)]
    if unreachable:
        return None, (
            f"itkwidgets loads its viewer from {', '.join(unreachable)}, which cannot be reached "
            "from here (offline?), so its view would stay blank. Connect to the internet, or keep "
            "the built-in k3d viewer, which works offline"
        )
    return itkwidgets, None


class _ItkWidgetsViewer:
    """A thin wrapper around an itkwidgets 1.x viewer with the :class:`Viewer3D` update API."""

    def __init__(self, itkwidgets_module, image, mask, voxel_size):
        self._itkwidgets = itkwidgets_module
        self.voxel_size = voxel_size
        self.image_shape = tuple(image.shape)
        kwargs = {"image": self._with_spacing(image)}
        if mask is not None:
            kwargs["label_image"] = self._with_spacing(mask.astype(np.uint8))
        self.viewer = itkwidgets_module.view(**kwargs)
        self.widget = self.viewer

    def _with_spacing(self, array):
        try:
            from ngff_zarr import to_ngff_image  # type: ignore[import-not-found]
        except ImportError:  # pragma: no cover - shipped with itkwidgets 1.x
            return array
        vz, vy, vx = self.voxel_size
        return to_ngff_image(array, dims=("z", "y", "x"), scale={"z": vz, "y": vy, "x": vx})

    def update(self, image=None, mask=None, voxel_size=None) -> None:
        """Replace the image and/or mask (same arguments as :meth:`Viewer3D.update`)."""
        if voxel_size is not None:
            self.voxel_size = _check_voxel_size(voxel_size)
        if image is not None:
            image = check_image(image, name="image")
            self.image_shape = tuple(image.shape)
        if mask is not None:
            mask = check_mask(mask, name="mask")
            if tuple(mask.shape) != self.image_shape:
                raise ValueError(
                    f"`mask` has shape {tuple(mask.shape)} but the image has shape "
                    f"{self.image_shape}; they must match voxel for voxel."
                )
        for array, method in ((image, "set_image"), (mask, "set_label_image")):
            if array is None:
                continue
            setter = getattr(self.viewer, method, None)
            if setter is None:
                raise ValueError(
                    f"This itkwidgets version cannot replace data in place (no `{method}`); "
                    "create a new viewer with `viewer.view3d(...)`, or use backend='k3d'."
                )
            if array.dtype == bool:
                array = array.astype(np.uint8)
            setter(self._with_spacing(array))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.viewer)


# --------------------------------------------------------------------------------------------
# public 3D entry point
# --------------------------------------------------------------------------------------------


def view3d(image, mask=None, *, voxel_size=(1.0, 1.0, 1.0), mask_opacity=0.5, mask_color=0xE8413C,
           backend="k3d", max_voxels=8_000_000, height=480):
    """Show a (Z, Y, X) image in 3D, with an optional mask as a translucent coloured overlay.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensity image (any real dtype, no NaN or infinite values). It is scaled to its
        0.5-99.8 percentiles for display.
    mask : array_like, shape (Z, Y, X), optional
        Segmentation to overlay: bool, 0/1 or 0/255 integers, or a label image (nonzero = on).
    voxel_size : tuple of 3 float
        (z, y, x) voxel size in micrometres; the view is drawn in micrometres, so z is stretched
        by the anisotropy.
    mask_opacity : float in [0, 1]
        Initial opacity of the mask overlay (the slider under the plot changes it).
    mask_color : int
        Packed RGB colour of the mask, e.g. 0xE8413C (red).
    backend : {"k3d", "itkwidgets"}
        ``"k3d"`` works offline. ``"itkwidgets"`` needs itkwidgets >= 1.0 and internet access;
        when either is missing a UserWarning says why and the k3d viewer is returned.
    max_voxels : int
        Larger images are reduced by integer factors (block mean for the image, block maximum for
        the mask) to at most this many voxels before being sent to the browser.
    height : int
        Height of the 3D view in pixels.

    Returns
    -------
    Viewer3D
        Displays itself as the last line of a cell; ``viewer.update(image=..., mask=...)``
        refreshes it in place. (With ``backend="itkwidgets"`` available: a wrapper around the
        itkwidgets viewer with the same ``update`` method.)

    Raises
    ------
    ValueError
        If the image is not 3D or contains NaN, the mask shape differs from the image, the voxel
        size is not three positive numbers, ``mask_opacity`` is outside [0, 1] or the backend is
        unknown.

    See Also
    --------
    view_slices : 2D slices and projections, for quick looks and static exports.
    """
    backend = check_choice(backend, "backend", _BACKENDS)
    if backend == "itkwidgets":
        image_checked, mask_checked = _check_image_and_mask(image, mask)
        size = _check_voxel_size(voxel_size)
        check_number(mask_opacity, "mask_opacity", minimum=0.0, maximum=1.0)
        module, problem = _itkwidgets_problem()
        if module is not None:
            return _ItkWidgetsViewer(module, image_checked, mask_checked, size)
        warnings.warn(f"{problem}. Showing the k3d viewer instead.", UserWarning, stacklevel=2)
    return Viewer3D(
        image, mask, voxel_size=voxel_size, mask_opacity=mask_opacity, mask_color=mask_color,
        max_voxels=max_voxels, height=height,
    )


# --------------------------------------------------------------------------------------------
# orthogonal slices (matplotlib)
# --------------------------------------------------------------------------------------------

_MASK_RGBA = (0.91, 0.25, 0.24, 0.45)  # the red of the 3D overlay, translucent


def _check_position(value, name: str, size: int) -> int:
    if value is None:
        return size // 2
    return int(check_number(
        value, name, minimum=0, maximum=size - 1, integer=True,
        hint=f"Pick a slice index between 0 and {size - 1}, or None for the centre.",
    ))


def _overlay(mask_plane: np.ndarray) -> np.ndarray:
    rgba = np.zeros(mask_plane.shape + (4,), dtype=np.float32)
    rgba[mask_plane] = _MASK_RGBA
    return rgba


def _draw_slices(figure, image, mask, voxel_size, z, y, x, display_ranges, projections):
    vz, vy, vx = voxel_size
    Z, Y, X = image.shape
    panels = [
        (f"XY slice, z = {z}", image[z], None if mask is None else mask[z], vy / vx, "x", "y"),
        (f"XZ slice, y = {y}", image[:, y, :], None if mask is None else mask[:, y, :], vz / vx, "x", "z"),
        (f"YZ slice, x = {x}", image[:, :, x], None if mask is None else mask[:, :, x], vz / vy, "y", "z"),
    ]
    panels += [
        (title, projections[0][i], projections[1][i], panels[i][3], panels[i][4], panels[i][5])
        for i, title in enumerate(
            ("maximum projection along z", "maximum projection along y", "maximum projection along x")
        )
    ]
    axes = figure.subplots(2, 3)
    for index, (axis, panel) in enumerate(zip(axes.ravel(), panels)):
        title, plane, mask_plane, aspect, horizontal, vertical = panel
        low, high = display_ranges[index // 3]  # slices, then projections
        axis.imshow(plane, cmap="gray", vmin=low, vmax=high, interpolation="nearest", aspect=aspect)
        if mask_plane is not None:
            axis.imshow(_overlay(mask_plane), interpolation="nearest", aspect=aspect)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(horizontal, fontsize=8)
        axis.set_ylabel(vertical, fontsize=8)
        axis.tick_params(labelsize=7)
    # mark the slice positions on the XY slice
    axes[0, 0].axhline(y, color="yellow", linewidth=0.6, alpha=0.6)
    axes[0, 0].axvline(x, color="yellow", linewidth=0.6, alpha=0.6)
    axes[0, 1].axhline(z, color="yellow", linewidth=0.6, alpha=0.6)
    axes[0, 2].axhline(z, color="yellow", linewidth=0.6, alpha=0.6)
    figure.suptitle(
        f"image {Z} × {Y} × {X} (z, y, x), voxel {vz:g} × {vy:g} × {vx:g} µm", fontsize=10
    )
    return figure


def _figure_png(figure, dpi: int = 80) -> bytes:
    buffer = _io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class _SliceData:
    """Validated arrays, display range and projections, computed once for redraws."""

    def __init__(self, image, mask, voxel_size):
        self.image, self.mask = _check_image_and_mask(image, mask)
        self.voxel_size = _check_voxel_size(voxel_size)
        # axis 1 and 2 projections have shape (Z, X) and (Z, Y): z vertical, like the slices
        image_projections = tuple(self.image.max(axis=axis) for axis in range(3))
        # projections are brighter than slices, so they get their own display range
        self.display_ranges = (_display_range(self.image), _display_range(image_projections[0]))
        if self.mask is None:
            mask_projections = (None, None, None)
        else:
            mask_projections = tuple(self.mask.max(axis=axis) for axis in range(3))
        self.projections = (image_projections, mask_projections)

    def figure(self, z=None, y=None, x=None):
        Z, Y, X = self.image.shape
        z = _check_position(z, "z", Z)
        y = _check_position(y, "y", Y)
        x = _check_position(x, "x", X)
        figure = _render.notebook_figure(figsize=(12, 7), layout="constrained")
        return _draw_slices(figure, self.image, self.mask, self.voxel_size, z, y, x,
                            self.display_ranges, self.projections)


def slices_figure(image, mask=None, *, voxel_size=(1.0, 1.0, 1.0), z=None, y=None, x=None):
    """Orthogonal slices (top) and maximum projections (bottom) of a (Z, Y, X) image.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensity image; shown between its 0.5 and 99.8 percentiles.
    mask : array_like, shape (Z, Y, X), optional
        Segmentation drawn as a translucent red overlay (nonzero = on).
    voxel_size : tuple of 3 float
        (z, y, x) voxel size in micrometres; the XZ and YZ panels are stretched by vz / vx and
        vz / vy so structures keep their true proportions.
    z, y, x : int, optional
        Slice positions (voxel indices); the centre of the image by default.

    Returns
    -------
    matplotlib.figure.Figure
        Six axes: XY, XZ and YZ slices, then the maximum projections along z, y and x. The figure
        is not registered with pyplot (nothing to close); it shows itself in a notebook and can be
        saved with ``figure.savefig(path)``.

    Raises
    ------
    ValueError
        For an invalid image or mask, mismatched shapes, a bad voxel size or a position outside
        the image.
    """
    return _SliceData(image, mask, voxel_size).figure(z=z, y=y, x=x)


def view_slices(image, mask=None, *, voxel_size=(1.0, 1.0, 1.0), z=None, interactive=True):
    """Quick look: orthogonal slices and maximum projections, with a z slider.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensity image.
    mask : array_like, shape (Z, Y, X), optional
        Segmentation drawn as a translucent red overlay (nonzero = on).
    voxel_size : tuple of 3 float
        (z, y, x) voxel size in micrometres (stretches the XZ and YZ panels).
    z : int, optional
        Initial z slice; the middle one by default.
    interactive : bool
        With True (and ipywidgets installed) return a widget with a z slider that redraws the
        panels; with False return the static figure of :func:`slices_figure`.

    Returns
    -------
    ipywidgets.VBox or matplotlib.figure.Figure
        The widget holds ``children[0]``, the z ``IntSlider`` (0 .. Z-1), and ``children[1]``, an
        ``ipywidgets.Image`` with the panels as PNG, updated when the slider moves.
    """
    data = _SliceData(image, mask, voxel_size)
    Z = data.image.shape[0]
    z = _check_position(z, "z", Z)
    if not interactive:
        return data.figure(z=z)
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is a dependency of the project
        return data.figure(z=z)

    slider = ipywidgets.IntSlider(value=z, min=0, max=Z - 1, step=1, description="z slice",
                                  continuous_update=False)
    picture = ipywidgets.Image(value=_figure_png(data.figure(z=z)), format="png")
    picture.layout.max_width = "100%"

    def redraw(change) -> None:
        picture.value = _figure_png(data.figure(z=int(change["new"])))

    slider.observe(redraw, names="value")
    box = ipywidgets.VBox([slider, picture])
    box.add_class("segmenter-slices")
    return box
