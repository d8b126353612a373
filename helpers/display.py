"""Quick 2D looks at 3D images for the notebooks: maximum projections side by side, and thumbnails.

The interactive 3D viewer comes separately; this is the lightweight first look that works in any
notebook, in exported HTML and on a headless machine. :func:`save_thumbnail` writes the small PNG
pictures of the notebooks' README, one per structure, so that a user can compare patterns at a glance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _render
from ._atomic import atomic_path, check_target
from ._checks import check_image, check_mask, check_number

__all__ = ["show_projections", "save_thumbnail"]


def _projection(array) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer) and array.max(initial=0) <= 1:
        return check_mask(array, name="image").max(axis=0)
    return check_image(array, name="image").max(axis=0)


def show_projections(*images, titles=None, size: float = 4.0, cmap: str = "gray"):
    """Show the maximum z-projection of each (Z, Y, X) image side by side.

    Parameters
    ----------
    *images : array_like, shape (Z, Y, X)
        Intensity images or masks (masks are drawn white on black).
    titles : list of str, optional
        One title per image.
    size : float
        Height of each panel in inches.
    cmap : str
        Matplotlib colour map for intensity images.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not images:
        raise ValueError("Pass at least one image to show.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(titles)} titles for {len(images)} images; give one title per image.")
    figure, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for index, (axis, image) in enumerate(zip(axes[0], images)):
        axis.imshow(_projection(image), cmap=cmap, interpolation="nearest")
        axis.set_axis_off()
        if titles is not None:
            axis.set_title(titles[index])
    figure.tight_layout()
    return figure


def save_thumbnail(image, path, *, mask=None, size: int = 160, overwrite: bool = False,
                   percentiles=(0.5, 99.8), color=(255, 0, 255)) -> Path:
    """Write a small PNG picture of a (Z, Y, X) image: its maximum z-projection, optionally outlined.

    The projection's contrast is stretched between two percentiles of its pixel values (so a few hot
    pixels do not make the picture dark), then it is resized so that its longer side is ``size``
    pixels, keeping the aspect ratio. With a mask, the outline of the mask's maximum projection is drawn
    on top in ``color``. The file is written atomically; an existing file is kept unless
    ``overwrite=True``.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensity image (any integer or float dtype). It is not modified.
    path : str or os.PathLike
        Destination file; must end in ``.png`` and its folder must exist.
    mask : array_like, shape (Z, Y, X), optional
        Binary mask (bool, or integers where > 0 is foreground) of the same shape as ``image``.
    size : int
        Length of the picture's longer side in pixels, 16 to 2048.
    overwrite : bool
        Replace an existing file. Off by default so nothing is lost.
    percentiles : tuple of 2 floats
        Lower and upper percentiles of the projection mapped to black and white, 0 <= low < high <= 100.
    color : tuple of 3 ints
        RGB colour (0-255) of the mask outline.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        For an image that is not 3D, empty or not real-valued, a mask of another shape or a float
        mask, a size out of range, bad percentiles or colour, or a path not ending in ``.png``.
    FileExistsError
        When ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        When the destination folder does not exist.

    Examples
    --------
    >>> from helpers import io, display
    >>> sample = io.read_image("data_samples/sec61b.ome.tif")              # doctest: +SKIP
    >>> display.save_thumbnail(sample.data, "notebooks/images/sec61b.png")  # doctest: +SKIP
    """
    from PIL import Image as PillowImage

    array = check_image(image, name="image")
    outline_of = None if mask is None else check_mask(mask, name="mask", like=array)
    size = check_number(size, "size", minimum=16, maximum=2048, integer=True,
                        hint="It is the length of the thumbnail's longer side in pixels, e.g. 160.")
    if (not isinstance(percentiles, (tuple, list)) or len(percentiles) != 2):
        raise ValueError(f"`percentiles` must be a pair (low, high), e.g. (0.5, 99.8); got {percentiles!r}.")
    low_percentile = check_number(percentiles[0], "percentiles[0]", minimum=0, maximum=100)
    high_percentile = check_number(percentiles[1], "percentiles[1]", minimum=0, maximum=100)
    if low_percentile >= high_percentile:
        raise ValueError(f"`percentiles` = {tuple(percentiles)} must be increasing (low < high), e.g. (0.5, 99.8).")
    if (not isinstance(color, (tuple, list)) or len(color) != 3
            or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255
                       for c in color)):
        raise ValueError(f"`color` must be three whole numbers from 0 to 255 (red, green, blue); got {color!r}.")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"The thumbnail is written as PNG; give a path ending in .png, got {path.name!r}.")
    check_target(path, overwrite=overwrite)

    projection = array.max(axis=0)
    limits = _render.contrast_limits(projection, (low_percentile, high_percentile))
    grey = PillowImage.fromarray(_render.to_gray(projection, limits))
    height, width = projection.shape
    scale = size / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow wants (width, height)
    grey = grey.resize(new_size, PillowImage.Resampling.LANCZOS)
    if outline_of is None:
        picture = grey
    else:
        flat = PillowImage.fromarray(outline_of.max(axis=0).astype(np.uint8) * np.uint8(255))
        flat = np.asarray(flat.resize(new_size, PillowImage.Resampling.NEAREST)) > 0
        rgb = np.repeat(np.asarray(grey)[:, :, np.newaxis], 3, axis=2).copy()
        rgb[_render.outline(flat)] = np.asarray(color, dtype=np.uint8)
        picture = PillowImage.fromarray(rgb)
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG", optimize=True)
    return path
