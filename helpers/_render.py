"""2D planes to display pixels: contrast, colour overlays, resizing and PNG bytes.

Shared by the tuning panel's preview and the thumbnails. Every function takes plain 2D arrays and
returns new arrays (uint8 RGB, shape (Y, X, 3)) or bytes; nothing here validates user input, the
public callers do.
"""

from __future__ import annotations

import io

import numpy as np

#: Colour of mask overlays (a red that reads on grey and is distinguishable for most colour-blind readers).
MASK_RGB = (232, 65, 60)


def contrast_limits(values, percentiles=(0.5, 99.8)) -> tuple[float, float]:
    """Display limits from percentiles of the finite values (a bool or 0/1 image gets (0, 1))."""
    values = np.asarray(values)
    if values.dtype == bool:
        return 0.0, 1.0
    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values.ravel()
    if finite.size == 0:
        return 0.0, 1.0
    if finite.size > 4_000_000:  # a regular subsample is plenty for two percentiles
        finite = finite[:: finite.size // 4_000_000 + 1]
    low, high = np.percentile(finite, percentiles)
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def to_gray(plane, limits) -> np.ndarray:
    """A 2D plane as uint8 grey levels, ``limits`` mapped to 0 and 255 (clipped)."""
    low, high = limits
    scaled = (np.asarray(plane, dtype=np.float32) - low) * (255.0 / (high - low))
    return np.rint(np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255)).astype(np.uint8)


def gray_rgb(gray) -> np.ndarray:
    """A uint8 grey plane as RGB."""
    return np.repeat(gray[..., None], 3, axis=2)


def overlay(gray, mask, *, color=MASK_RGB, alpha: float = 0.55) -> np.ndarray:
    """RGB of a grey plane with the mask's pixels tinted in ``color`` (``alpha`` of the colour)."""
    rgb = gray_rgb(gray).astype(np.float32)
    on = np.asarray(mask, dtype=bool)
    rgb[on] = (1 - alpha) * rgb[on] + alpha * np.asarray(color, dtype=np.float32)
    return rgb.astype(np.uint8)


def outline(mask) -> np.ndarray:
    """The boundary pixels of a 2D mask (on, with an off 4-neighbour; the border counts as off)."""
    on = np.asarray(mask, dtype=bool)
    padded = np.pad(on, 1, constant_values=False)
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return on & ~interior


def resize(rgb, scale: float) -> np.ndarray:
    """RGB resized by ``scale`` (nearest neighbour when enlarging, so pixels stay crisp)."""
    from PIL import Image

    if scale == 1:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(rgb).resize(size, method))


def side_by_side(panels, gap: int = 4, background: int = 255) -> np.ndarray:
    """RGB panels of equal height joined left to right with a ``gap`` of background between them."""
    height = max(p.shape[0] for p in panels)
    pieces = []
    for index, panel in enumerate(panels):
        if panel.shape[0] < height:
            panel = np.pad(panel, ((0, height - panel.shape[0]), (0, 0), (0, 0)), constant_values=background)
        pieces.append(panel)
        if index < len(panels) - 1:
            pieces.append(np.full((height, gap, 3), background, dtype=np.uint8))
    return np.concatenate(pieces, axis=1)


def png_bytes(rgb, *, compress_level: int = 1) -> bytes:
    """PNG-encoded bytes of an RGB (or grey) uint8 image; level 1 favours speed over size."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def notebook_figure(**kwargs):
    """A matplotlib Figure made without pyplot that shows itself as a PNG in any notebook.

    Figures made this way are never left open in ``matplotlib.pyplot`` (no leaks, no duplicate
    display), and they render in headless runs too (``MPLBACKEND=Agg``, nbclient), where a plain
    Figure would show only as text. ``kwargs`` go to ``Figure`` (e.g. ``figsize``, ``layout``).
    """
    return _figure_class()(**kwargs)


_FIGURE_CLASS = None


def _figure_class():
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            """A Figure with an Agg canvas that displays itself as PNG."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                FigureCanvasAgg(self)

            def _repr_png_(self):
                buffer = io.BytesIO()
                self.savefig(buffer, format="png", dpi=100)
                return buffer.getvalue()

        _FIGURE_CLASS = NotebookFigure
    return _FIGURE_CLASS
