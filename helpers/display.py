"""Quick 2D looks at 3D images for the notebooks: maximum projections side by side.

The interactive 3D viewer comes separately; this is the lightweight first look that works in any
notebook, in exported HTML and on a headless machine.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_image, check_mask

__all__ = ["show_projections"]


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
