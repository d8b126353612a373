"""PCA and t-SNE of an object table: every object as one point in a 2D map of its features.

Objects with similar size, shape and brightness land close together, so groups (single and merged
objects, dots and vesicles, bright and dim cells) show up as clusters, the OpSeF way of looking at a
segmentation. Features are standardized first (each column to mean 0 and standard deviation 1), so
that a volume in um^3 and an intensity in thousands of counts weigh the same.

- :func:`pca`: a linear projection; its axes are combinations of features (``loadings``) and
  ``explained_variance_ratio`` says how much of the spread each keeps. Deterministic.
- :func:`tsne`: a non-linear map (scikit-learn) that keeps neighbours together; distances between
  clusters and cluster sizes mean little, and the picture depends on ``perplexity`` and ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _render
from .._checks import check_number
from .measurements import feature_columns

__all__ = ["Embedding", "pca", "tsne", "plot_embedding"]

#: t-SNE of fewer objects than this runs on one thread (threads cost more than they save there).
_ONE_THREAD_BELOW = 5000


@dataclass(frozen=True)
class Embedding:
    """Objects placed in a low-dimensional map.

    Attributes
    ----------
    coordinates : pandas.DataFrame
        One row per object: ``label`` and one column per component (``pc1``, ``pc2`` ... or
        ``tsne1``, ``tsne2``), in the order of the input table.
    features : tuple of str
        The table columns used.
    method : str
        "pca" or "tsne".
    explained_variance_ratio : numpy.ndarray or None
        PCA only: the fraction of the total (standardized) variance each component keeps.
    loadings : pandas.DataFrame or None
        PCA only: the weight of each feature (rows) in each component (columns).
    """

    coordinates: pd.DataFrame
    features: tuple[str, ...]
    method: str
    explained_variance_ratio: np.ndarray | None = None
    loadings: pd.DataFrame | None = None

    @property
    def axes(self) -> list[str]:
        """The component column names."""
        return [c for c in self.coordinates.columns if c != "label"]


def _standardized(table, features) -> tuple[np.ndarray, tuple[str, ...]]:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"`table` must be a pandas DataFrame (the output of `measure_objects`), got "
                         f"{type(table).__name__}.")
    if features is None:
        features = feature_columns(table)
    elif isinstance(features, str):
        features = [features]
    features = tuple(features)
    for name in features:
        if name not in table.columns:
            raise ValueError(f"{name!r} is not a column of the table; choose from: "
                             f"{', '.join(map(str, table.columns))}.")
        if not pd.api.types.is_numeric_dtype(table[name]):
            raise ValueError(f"Feature {name!r} is not numeric; leave it out of `features`.")
    if len(features) < 2:
        raise ValueError(f"At least 2 features are needed for a map, got {list(features)}; pass more columns "
                         "(or features=None for every size, shape and intensity column).")
    if "label" not in table.columns:
        raise ValueError("`table` has no 'label' column; pass a table from `measure_objects`.")
    values = table.loc[:, list(features)].to_numpy(dtype=np.float64)
    bad = [name for name, column in zip(features, values.T) if not np.isfinite(column).all()]
    if bad:
        raise ValueError(f"Features {bad} contain NaN or infinite values; drop those rows "
                         "(`table.dropna()`) or leave those columns out of `features`.")
    spread = values.std(axis=0)
    scaled = (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1.0)  # constant columns become 0
    return scaled, features


def pca(table: pd.DataFrame, features=None, *, n_components: int = 2) -> Embedding:
    """Principal component analysis of standardized object features.

    Parameters
    ----------
    table : pandas.DataFrame
        An object table, e.g. from :func:`helpers.analysis.measurements.measure_objects`.
    features : sequence of str, optional
        Columns to use; default every size, shape and intensity column
        (:func:`~helpers.analysis.measurements.feature_columns`: not the label, position or flags).
    n_components : int
        Number of components, at most the number of features and of objects.

    Returns
    -------
    Embedding
        ``coordinates`` (``label``, ``pc1`` ...), ``explained_variance_ratio`` and ``loadings``.
        Component signs are fixed so that each component's largest loading is positive (the result
        does not flip between runs or library versions).
    """
    from sklearn.decomposition import PCA

    scaled, features = _standardized(table, features)
    most = min(len(features), len(scaled))
    count = check_number(n_components, "n_components", minimum=1, maximum=max(most, 1), integer=True,
                         hint=f"The table has {len(scaled)} objects and {len(features)} features.")
    if len(scaled) < 2:
        raise ValueError(f"PCA needs at least 2 objects; the table has {len(scaled)}.")
    model = PCA(n_components=count, svd_solver="full")
    coordinates = model.fit_transform(scaled)
    components = model.components_.copy()
    signs = np.sign(components[np.arange(count), np.abs(components).argmax(axis=1)])
    signs[signs == 0] = 1
    coordinates, components = coordinates * signs, components * signs[:, None]
    names = [f"pc{i + 1}" for i in range(count)]
    frame = pd.DataFrame(coordinates, columns=names)
    frame.insert(0, "label", table["label"].to_numpy())
    loadings = pd.DataFrame(components.T, index=list(features), columns=names)
    return Embedding(coordinates=frame, features=features, method="pca",
                     explained_variance_ratio=model.explained_variance_ratio_.copy(), loadings=loadings)


def tsne(table: pd.DataFrame, features=None, *, perplexity: float = 30.0, seed: int = 0) -> Embedding:
    """t-SNE map (2D) of standardized object features.

    Parameters
    ----------
    table : pandas.DataFrame
        An object table.
    features : sequence of str, optional
        Columns to use; default as in :func:`pca`.
    perplexity : float
        Roughly the number of neighbours each object keeps close (typically 5-50). It must be below
        the number of objects; about a third of the objects suits small tables.
    seed : int
        Random seed: the same seed gives the same map.

    Returns
    -------
    Embedding
        ``coordinates`` (``label``, ``tsne1``, ``tsne2``).

    Notes
    -----
    Initialized by PCA with scikit-learn's automatic learning rate. Only neighbourhoods are
    meaningful: do not read distances between clusters or their sizes. Tables of fewer than
    5000 objects are mapped on one thread: for them, scikit-learn's parallel threads cost more than
    they save (tens of times slower on a busy machine).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    scaled, features = _standardized(table, features)
    count = len(scaled)
    if count < 4:
        raise ValueError(f"t-SNE needs at least 4 objects; the table has {count}. Use `pca` for so few.")
    value = check_number(perplexity, "perplexity", minimum=1, hint="Typical values are 5-50.")
    if value >= count:
        raise ValueError(f"`perplexity` = {perplexity!r} must be below the number of objects ({count}); use "
                         f"perplexity={max(1, count // 3)} (about a third of the objects) or measure more objects.")
    seed = int(check_number(seed, "seed", minimum=0, integer=True))
    model = TSNE(n_components=2, perplexity=value, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(limits=1 if count < _ONE_THREAD_BELOW else None):
        coordinates = model.fit_transform(scaled)
    frame = pd.DataFrame(coordinates, columns=["tsne1", "tsne2"])
    frame.insert(0, "label", table["label"].to_numpy())
    return Embedding(coordinates=frame, features=features, method="tsne")


def plot_embedding(embedding: Embedding, *, table: pd.DataFrame | None = None, color_by=None, title: str = ""):
    """The embedding's first two axes as a scatter plot, coloured by a property.

    Parameters
    ----------
    embedding : Embedding
        Output of :func:`pca` or :func:`tsne`.
    table : pandas.DataFrame, optional
        An object table to take ``color_by`` from (rows matched by ``label``).
    color_by : str or array_like, optional
        A column of ``table`` (numbers get a colour scale, text or yes/no values a legend), or one value
        per object in the embedding's order.
    title : str
        Figure title (default: the method, and for PCA the variance kept).

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; it shows itself in a notebook.
    """
    if not isinstance(embedding, Embedding):
        raise ValueError(f"`embedding` must be the output of `pca` or `tsne`, got {type(embedding).__name__}.")
    axes_names = embedding.axes
    if len(axes_names) < 2:
        raise ValueError("The embedding has one component; compute it with n_components=2 or more to plot it.")
    frame = embedding.coordinates
    values, label = None, ""
    if isinstance(color_by, str):
        if table is None or not isinstance(table, pd.DataFrame):
            raise ValueError(f"`color_by` = {color_by!r} names a column: pass the object table as `table=`.")
        if color_by not in table.columns:
            raise ValueError(f"{color_by!r} is not a column of the table; choose from: "
                             f"{', '.join(map(str, table.columns))}.")
        lookup = table.set_index("label")[color_by]
        missing = ~frame["label"].isin(lookup.index)
        if missing.any():
            raise ValueError(f"{int(missing.sum())} objects of the embedding are not in `table` (e.g. label "
                             f"{int(frame['label'][missing].iloc[0])}); pass the table the embedding was made from.")
        values, label = lookup.loc[frame["label"]].to_numpy(), color_by
    elif color_by is not None:
        values = np.asarray(color_by)
        if values.shape != (len(frame),):
            raise ValueError(f"`color_by` needs one value per object ({len(frame)}), got shape {values.shape}.")
    figure = _render.notebook_figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    xs, ys = frame[axes_names[0]].to_numpy(), frame[axes_names[1]].to_numpy()
    if values is None:
        axes.scatter(xs, ys, s=18, color="tab:blue", alpha=0.8, linewidths=0)
    elif np.issubdtype(values.dtype, np.number) and values.dtype != bool:
        points = axes.scatter(xs, ys, s=18, c=values, cmap="viridis", alpha=0.85, linewidths=0)
        figure.colorbar(points, ax=axes, label=label)
    else:
        groups = values.astype(str)
        for index, group in enumerate(sorted(set(groups))):
            chosen = groups == group
            axes.scatter(xs[chosen], ys[chosen], s=18, color=f"C{index}", alpha=0.8, linewidths=0,
                         label=f"{label + ' = ' if label else ''}{group} ({int(chosen.sum())})")
        axes.legend(fontsize="small")
    names = list(axes_names[:2])
    if embedding.explained_variance_ratio is not None:
        names = [f"{n} ({100 * r:.0f} % of variance)" for n, r in zip(names, embedding.explained_variance_ratio)]
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    method = {"pca": "PCA", "tsne": "t-SNE"}.get(embedding.method, embedding.method)
    default = f"{method} of {len(frame)} objects, {len(embedding.features)} features"
    axes.set_title(title or default, fontsize="medium")
    axes.grid(alpha=0.3)
    return figure
