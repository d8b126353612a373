"""The paper's threshold-baseline protocol: slab projection, scoring, tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import baselines
from helpers.histogram_thresholds import GLOBAL_THRESHOLD_METHODS
from helpers.local_thresholds import LOCAL_RADII, LOCAL_THRESHOLD_METHODS


def _bright_blobs(seed=0):
    """Bright blocks on a dark noisy background in slices 4-6 (median 5): every sane threshold finds them."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((10, 64, 64), bool)
    for y, x in [(10, 10), (10, 40), (40, 20), (45, 50)]:
        truth[4:7, y:y + 8, x:x + 8] = True
    image = (100 + rng.normal(0, 3, truth.shape) + 400 * truth).astype(np.uint16)
    return image, truth


def test_choose_slice_and_slab_projection():
    volume = np.zeros((5, 3, 3), np.uint16)
    volume[1, 0, 0], volume[2, 1, 1], volume[3, 2, 2], volume[4, 0, 1] = 5, 6, 7, 9
    np.testing.assert_array_equal(baselines.slab_projection(volume, 2), [[5, 0, 0], [0, 6, 0], [0, 0, 7]])
    assert baselines.slab_projection(volume, 4)[0, 1] == 9  # clipped at the top of the stack
    assert baselines.slab_projection(volume, 0, half_width=0)[0, 0] == 0
    truth = volume > 0
    truth[3] = True
    assert baselines.choose_slice(truth) == 3
    with pytest.raises(ValueError, match="z"):
        baselines.slab_projection(volume, 7)
    with pytest.raises(ValueError, match="empty"):
        baselines.choose_slice(np.zeros((3, 4, 4), bool))


def test_every_method_and_radius_is_scored():
    image, truth = _bright_blobs()
    comparison = baselines.compare_thresholds(image, truth, workflow_mask=truth)
    assert comparison.z == 5 and comparison.half_width == 1
    assert len(comparison.scores) == len(GLOBAL_THRESHOLD_METHODS) + len(LOCAL_THRESHOLD_METHODS) * len(LOCAL_RADII)
    assert len(comparison.per_method()) == 22
    assert comparison.workflow_dice_2d == 1.0 and comparison.workflow_dice_3d == 1.0
    best = comparison.best("global")
    assert best.dice > 0.99 and best.agreement == pytest.approx(best.dice)  # the workflow mask is the truth
    assert comparison.best("local").dice > 0.9
    assert comparison.winners() == []  # nothing beats a perfect workflow
    for score in comparison.scores:
        assert math.isnan(score.dice) == (score.error is not None)


def test_a_threshold_can_win_and_is_reported():
    image, truth = _bright_blobs()
    poor = np.zeros_like(truth)
    poor[4:7, 10:18, 10:18] = True  # finds one blob of four
    comparison = baselines.compare_thresholds(image, truth, workflow_mask=poor)
    assert comparison.workflow_dice_2d == pytest.approx(2 * 64 / (64 + 256))
    assert comparison.winners()
    row = baselines.summary_rows({"blobs": comparison})[0]
    assert row["winner"] in ("global", "local") and row["workflow_2d"] == comparison.workflow_dice_2d
    table = baselines.markdown_table([row])
    assert table.splitlines()[0].startswith("| structure") and "| blobs |" in table


def test_method_mask_reproduces_the_score():
    image, truth = _bright_blobs(1)
    comparison = baselines.compare_thresholds(image, truth)
    best = comparison.best("local")
    mask = baselines.method_mask(image, best, z=comparison.z)
    projected = baselines.slab_projection(truth, comparison.z)
    assert 2 * (mask & projected).sum() / (mask.sum() + projected.sum()) == pytest.approx(best.dice)


def test_text_table_and_csv(tmp_path):
    image, truth = _bright_blobs()
    comparison = baselines.compare_thresholds(image, truth, workflow_mask=truth, radii=(8,))
    text = comparison.to_text(workflow="test")
    assert "workflow test" in text and "otsu (global)" in text and "sauvola r=8 (local)" in text
    path = tmp_path / "scores.csv"
    comparison.write_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("method,kind,radius,dice") and len(lines) == 1 + 14 + 8
    with pytest.raises(FileExistsError, match="left untouched"):
        comparison.write_csv(path)
    comparison.write_csv(path, overwrite=True)


def test_bad_input():
    image, truth = _bright_blobs()
    with pytest.raises(ValueError, match="shape"):
        baselines.compare_thresholds(image, truth[:, :10])
    with pytest.raises(ValueError, match="3D"):
        baselines.compare_thresholds(image[0], truth[0])
    with pytest.raises(ValueError, match="empty"):
        baselines.compare_thresholds(image, np.zeros_like(truth))
