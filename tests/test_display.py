"""Tests for helpers.display.save_thumbnail: size, contrast, outline, no overwrite, bad input."""

import numpy as np
import pytest
from PIL import Image

from helpers.display import save_thumbnail


def _stack(shape=(5, 40, 80)):
    image = np.full(shape, 100, dtype=np.uint16)
    image[2, 10:30, 20:40] = 1000  # one bright block, visible only in slice 2
    return image


def test_writes_png_with_long_side_equal_to_size(tmp_path):
    path = save_thumbnail(_stack(), tmp_path / "thumb.png", size=64)
    assert path == tmp_path / "thumb.png"
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        assert picture.size == (64, 32)  # (width, height): aspect ratio 80:40 kept
        assert picture.mode == "L"
        pixels = np.asarray(picture)
    # The maximum projection shows the block bright and the background dark.
    assert pixels[16, 24] == 255
    assert pixels[2, 2] == 0


def test_mask_outline_is_drawn_in_colour(tmp_path):
    image = _stack()
    mask = np.zeros(image.shape, dtype=bool)
    mask[2, 10:30, 20:40] = True
    mask_before = mask.copy()
    path = save_thumbnail(image, tmp_path / "outlined.png", mask=mask, size=80, color=(255, 0, 255))
    with Image.open(path) as picture:
        assert picture.mode == "RGB"
        pixels = np.asarray(picture)
    magenta = np.all(pixels == (255, 0, 255), axis=2)
    assert magenta[10, 20] and magenta[29, 39]  # corners of the block's outline
    assert not magenta[20, 30]  # inside the block: not outlined
    assert not magenta[0, 0]
    assert np.array_equal(mask, mask_before)  # the mask is not modified


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "thumb.png"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_thumbnail(_stack(), path)
    assert path.read_bytes() == b"keep me"
    save_thumbnail(_stack(), path, overwrite=True, size=20)
    with Image.open(path) as picture:
        assert picture.size == (20, 10)


def test_does_not_modify_the_input(tmp_path):
    image = _stack()
    before = image.copy()
    save_thumbnail(image, tmp_path / "t.png")
    assert np.array_equal(image, before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image": np.zeros((40, 80))}, "3D"),
        ({"image": np.zeros((2, 4, 4), dtype=bool)}, "boolean"),
        ({"image": np.full((2, 4, 4), np.nan)}, "NaN"),
        ({"mask": np.zeros((5, 40, 81), dtype=bool)}, "shape"),
        ({"mask": np.zeros((5, 40, 80), dtype=np.float32)}, "binary mask"),
        ({"size": 8}, "size"),
        ({"size": 100.5}, "whole number"),
        ({"percentiles": (99, 1)}, "increasing"),
        ({"percentiles": (1,)}, "pair"),
        ({"color": (255, 0)}, "color"),
        ({"path_name": "thumb.jpg"}, ".png"),
    ],
)
def test_rejects_bad_input(tmp_path, kwargs, message):
    kwargs = dict(kwargs)
    image = kwargs.pop("image", _stack())
    path = tmp_path / kwargs.pop("path_name", "thumb.png")
    with pytest.raises(ValueError, match=message):
        save_thumbnail(image, path, **kwargs)
    assert not path.exists()


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="create it first"):
        save_thumbnail(_stack(), tmp_path / "no_such_folder" / "thumb.png")
