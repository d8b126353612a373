"""ECDF and histogram figures (helpers.distributions)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.distributions import ecdf, plot_histograms, plot_probability_ecdf


def test_ecdf_known_answer():
    values, fraction = ecdf(np.array([[0.9, 0.1], [0.5, 0.1]]))
    np.testing.assert_array_equal(values, [0.1, 0.1, 0.5, 0.9])
    np.testing.assert_array_equal(fraction, [0.25, 0.5, 0.75, 1.0])


def test_ecdf_matches_the_share_below():
    data = np.random.default_rng(0).uniform(size=1000)
    values, fraction = ecdf(data)
    for i in (0, 99, 499, 999):
        assert fraction[i] == np.mean(data <= values[i])
    assert np.all(np.diff(values) >= 0) and fraction[-1] == 1.0


def test_ecdf_does_not_modify_its_input():
    data = np.array([3.0, 1.0, 2.0])
    ecdf(data)
    np.testing.assert_array_equal(data, [3.0, 1.0, 2.0])


@pytest.mark.parametrize("bad, message", [([], "empty"), ([1.0, np.nan], "NaN"), (["a"], "real numbers")])
def test_ecdf_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        ecdf(np.array(bad))


def _decisive_probability():
    truth = np.zeros((4, 20, 20), bool)
    truth[:, :, :5] = True  # a quarter of the voxels
    probability = np.where(truth, 0.99, 0.01).astype(np.float32)
    probability[0, 0, 10] = 0.5  # one undecided voxel, outside the truth
    return probability, truth


def _curve(figure, label_start):
    line = next(l for l in figure.axes[0].get_lines() if l.get_label().startswith(label_start))
    return line.get_xdata(), line.get_ydata(), line.get_label()


def test_probability_ecdf_curves_and_decided_share():
    probability, truth = _decisive_probability()
    figure = plot_probability_ecdf(probability, truth, points=101)
    x, y, label = _curve(figure, "all voxels")
    assert "n = 1,600" in label and "99.9 % decided" in label  # 1599 of 1600 voxels
    assert y[np.searchsorted(x, 0.5)] == pytest.approx(1 - 400 / 1600)  # share <= 0.5: outside voxels
    x, y, label = _curve(figure, "inside truth")
    assert "100.0 % decided" in label and y[np.searchsorted(x, 0.98)] == 0.0 and y[-1] == 1.0
    x, y, label = _curve(figure, "outside truth")
    assert y[np.searchsorted(x, 0.02)] == pytest.approx(1199 / 1200)


def test_probability_ecdf_without_truth_draws_one_curve():
    probability, _ = _decisive_probability()
    figure = plot_probability_ecdf(probability)
    labels = [l.get_label() for l in figure.axes[0].get_lines() if not l.get_label().startswith("_")]
    assert len(labels) == 1 and labels[0].startswith("all voxels")


@pytest.mark.parametrize("kwargs, message", [
    ({"probability": np.full((2, 3, 3), 1.5)}, r"\[0, 1\]"),
    ({"probability": np.zeros(5)}, "2D"),
    ({"truth": np.zeros((2, 3, 4), bool)}, "shape"),
    ({"truth": np.zeros((2, 3, 3), bool)}, "inside and outside"),
    ({"decisive_margin": 0.5}, "decisive_margin"),
])
def test_probability_ecdf_bad_input(kwargs, message):
    arguments = {"probability": np.full((2, 3, 3), 0.3), "truth": np.eye(3, dtype=bool)[None].repeat(2, 0)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        plot_probability_ecdf(arguments.pop("probability"), **arguments)


def test_histograms_one_panel_per_entry_with_counts():
    raw = np.array([1, 1, 2, 100], dtype=np.uint16).reshape(1, 2, 2)
    figure = plot_histograms({"raw": raw, "scaled": raw / 100.0}, bins=4, log_counts=False)
    assert [a.get_title() for a in figure.axes] == ["raw", "scaled"]
    heights = figure.axes[0].patches[0].get_path().vertices[:, 1]
    assert heights.max() == 3  # 1, 1 and 2 fall in the first of 4 bins over [1, 100]


def test_histograms_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_histograms({})
    with pytest.raises(ValueError, match="bins"):
        plot_histograms({"a": np.arange(3)}, bins=1)
