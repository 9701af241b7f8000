"""Plots of which expert, and which region of an image, drove the product's predictions.

Needs matplotlib, an optional dependency: ``pip install "sk-i2m2[plot]"``.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.validation import check_is_fitted

from ._typing import MatrixLike, VectorLike

__all__ = ["AttributionMapDisplay", "ExpertContributionDisplay"]

#: Axis label of each kind of score; any other ``score_name`` is used as it is.
_SCORE_LABELS = {
    "accuracy": "accuracy",
    "log_loss": "log loss (lower is better)",
    "probability": "mean probability of the predicted class",
}
_SCORES = ("accuracy", "log_loss")
#: The label of the combined bar. Only drawn, never a key, so a modality may share it.
_COMBINED = "product"


def _check_matplotlib(caller):
    # scikit-learn's own check_matplotlib_support is private and would tell the user to
    # install matplotlib alone rather than this package's extra.
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib. Install it with: pip install \"sk-i2m2[plot]\""
        ) from exc


def _two_axes(ax):
    """``ax`` as an array of two Axes, or a clear error."""
    from matplotlib.axes import Axes

    axes = np.asarray(ax, dtype=object).ravel()
    if axes.size != 2 or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(
            "ax must be a sequence of two matplotlib Axes (the scores, then the shares), "
            f"got {ax!r}.")
    return axes


def _score(score, y, proba, classes):
    if score == "accuracy":
        return accuracy_score(y, classes[np.argmax(proba, axis=1)])
    # labels= because an expert may see only some rows, and so only some classes.
    return log_loss(y, proba, labels=classes)


class ExpertContributionDisplay:
    """Each expert's score beside the product's, and each expert's share of the evidence.

    Two plots side by side: a horizontal bar per expert (its score alone) and one for
    the combined product, highlighted; then a box per expert of its *share* of the
    evidence for each prediction (see :meth:`sk_i2m2.I2M2Classifier.explain`), over the
    samples the expert can see. Build it with :meth:`from_estimator` or
    :meth:`from_explanation` rather than directly.

    Parameters
    ----------
    expert_scores : dict of str to float
        Each expert's score, in the order to draw them.
    combined_score : float
        The product's score.
    shares : dict of str to ndarray of shape (n_seen,)
        Each expert's share of each prediction, values in [0, 1]; same keys as
        ``expert_scores``.
    score_name : str, default="accuracy"
        What the scores are: ``"accuracy"``, ``"log_loss"``, ``"probability"`` (the
        mean probability given to the product's predicted class) or any label.
    weights : dict of str to float, default=None
        Each expert's weight in the pool (``expert_weights_``). Unless every weight
        is 1, each expert's label shows it (``"fusion ×0.42"``).

    Attributes
    ----------
    ax_ : ndarray of shape (2,) of matplotlib Axes
        The scores, then the shares.
    figure_ : matplotlib Figure
    bars_ : matplotlib BarContainer
        One bar per expert, then the product's.
    boxes_ : dict
        What ``Axes.boxplot`` returns; ``boxes_["boxes"]`` has one box per expert.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from sk_i2m2 import I2M2Classifier
    >>> from sk_i2m2.datasets import make_multimodal_classification
    >>> from sk_i2m2.plotting import ExpertContributionDisplay
    >>> X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
    >>> clf = I2M2Classifier(modalities, max_epochs=5, random_state=0).fit(X, y)
    >>> display = ExpertContributionDisplay.from_estimator(clf, X, y)
    >>> list(display.expert_scores), len(display.bars_), len(display.boxes_["boxes"])
    (['m0', 'm1', 'fusion', 'fusion:boosting', 'fusion:linear'], 6, 5)
    >>> plt.close(display.figure_)
    """

    def __init__(self, expert_scores, combined_score, shares, *, score_name="accuracy",
                 weights=None):
        self.expert_scores = expert_scores
        self.combined_score = combined_score
        self.shares = shares
        self.score_name = score_name
        self.weights = weights

    def _labels(self, names):
        """The experts' labels: with their weights in the pool, unless all are 1."""
        weights = self.weights or {}
        if all(weights.get(name, 1.0) == 1.0 for name in names):
            return list(names)
        return [f"{name} ×{weights.get(name, 1.0):.2f}" for name in names]

    def plot(self, ax=None, *, bar_kws=None, box_kws=None):
        """Draw the scores and the shares.

        Parameters
        ----------
        ax : sequence of two matplotlib Axes, default=None
            Where to draw the scores, then the shares. None makes a new figure.
        bar_kws : dict, default=None
            Passed to ``Axes.barh``.
        box_kws : dict, default=None
            Passed to ``Axes.boxplot``.

        Returns
        -------
        self : ExpertContributionDisplay
        """
        _check_matplotlib("ExpertContributionDisplay.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        self.ax_ = _two_axes(ax)
        self.figure_ = self.ax_[0].figure
        score_ax, share_ax = self.ax_
        names = list(self.expert_scores)

        values = [*self.expert_scores.values(), self.combined_score]
        colors = ["C0"] * len(names) + ["C1"]  # the product stands out
        self.bars_ = score_ax.barh(np.arange(len(values)), values, color=colors,
                                   tick_label=[*self._labels(names), _COMBINED],
                                   **(bar_kws or {}))
        score_ax.bar_label(self.bars_, fmt="%.3g", padding=2)
        score_ax.invert_yaxis()  # experts from the top, in their order, product last
        if self.score_name in ("accuracy", "probability"):
            score_ax.set_xlim(0, 1.1)  # room for the labels of bars reaching 1
        score_ax.set_xlabel(_SCORE_LABELS.get(self.score_name, self.score_name))
        score_ax.set_title("Each expert alone and the product")

        # Vertical boxes with labels set afterwards: the keywords for horizontal boxes
        # and for box labels changed name across the matplotlib versions supported.
        self.boxes_ = share_ax.boxplot([np.asarray(self.shares[name]) for name in names],
                                       **(box_kws or {}))
        share_ax.set_xticks(np.arange(1, len(names) + 1), self._labels(names))
        share_ax.set_ylim(-0.05, 1.05)
        share_ax.set_ylabel("share of the evidence")
        share_ax.set_title("Share of each prediction")
        return self

    @classmethod
    def from_explanation(cls, table: pd.DataFrame, *, scores: dict | None = None,
                         combined_score: float | None = None, ax=None,
                         score_name: str = "score") -> "ExpertContributionDisplay":
        """Plot from a table returned by :meth:`sk_i2m2.I2M2Classifier.explain`.

        Parameters
        ----------
        table : DataFrame
            The output of ``explain``.
        scores : dict of str to float, default=None
            A score per expert (each name in ``table["expert"]``), drawn beside
            ``combined_score``. None draws instead the mean probability each expert
            gives to the product's predicted class, over the samples it can see, and
            the product's own mean probability of its prediction.
        combined_score : float, default=None
            The product's score; required with ``scores``.
        ax : sequence of two matplotlib Axes, default=None
            Where to draw the scores, then the shares. None makes a new figure.
        score_name : str, default="score"
            The name of ``scores`` (``"accuracy"``, ``"log_loss"`` or any label).

        Returns
        -------
        display : ExpertContributionDisplay
        """
        _check_matplotlib("ExpertContributionDisplay.from_explanation")
        names = list(pd.unique(table["expert"]))  # the module's order
        # A NaN log-probability marks a sample the expert cannot see: its share there
        # is 0 by construction and says nothing about the expert.
        seen = table["log_proba"].notna()
        shares = {name: table.loc[seen & (table["expert"] == name), "share"].to_numpy()
                  for name in names}
        if scores is None:
            chosen = np.exp(table["log_proba"]).groupby(table["expert"], sort=False).mean()
            scores = {name: chosen[name] for name in names}
            # Each sample has one row per expert, so this is the mean over samples.
            combined_score = table["probability"].mean()
            score_name = "probability"
        else:
            missing = [name for name in names if name not in scores]
            if missing:
                raise ValueError(f"scores lacks the expert(s) {missing}.")
            if combined_score is None:
                raise ValueError("combined_score is required with scores.")
            scores = {name: scores[name] for name in names}
        weights = None
        if "expert_weight" in table:
            weights = table.groupby("expert", sort=False)["expert_weight"].first().to_dict()
        display = cls(scores, combined_score, shares, score_name=score_name, weights=weights)
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X: MatrixLike, y: VectorLike | None = None, *,
                       score: str = "accuracy", ax=None) -> "ExpertContributionDisplay":
        """Plot for a fitted :class:`sk_i2m2.I2M2Classifier` on ``X``.

        Parameters
        ----------
        estimator : I2M2Classifier
            Fitted.
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            True labels. With them, each expert is scored alone (the argmax of its
            own ``expert_proba``, on the samples it can see) beside the product;
            without them, the scores are the mean probability each expert gives to
            the product's predicted class.
        score : {"accuracy", "log_loss"}, default="accuracy"
            The score used with ``y``.
        ax : sequence of two matplotlib Axes, default=None
            Where to draw the scores, then the shares. None makes a new figure.

        Returns
        -------
        display : ExpertContributionDisplay
        """
        _check_matplotlib("ExpertContributionDisplay.from_estimator")
        if score not in _SCORES:
            raise ValueError(f"score must be one of {_SCORES}, got {score!r}.")
        check_is_fitted(estimator)
        table = estimator.explain(X)
        if y is None:
            return cls.from_explanation(table, ax=ax)

        y = column_or_1d(y)
        check_consistent_length(X, y)
        classes = estimator.classes_
        scores = {}
        for name, proba in estimator.expert_proba(X).items():
            seen = ~np.isnan(proba).any(axis=1)
            scores[name] = (_score(score, y[seen], proba[seen], classes) if seen.any()
                            else np.nan)
        combined = _score(score, y, estimator.predict_proba(X), classes)
        return cls.from_explanation(table, scores=scores, combined_score=combined, ax=ax,
                                    score_name=score)


def _as_picture(values):
    """A 2-D picture of one row: the channels summed (or the first), the middle slice
    of a volume, a series' channels as rows."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 4:  # (C, D, H, W): the middle slice
        values = values[:, values.shape[1] // 2]
    if values.ndim == 3:
        return values
    if values.ndim == 2:  # (C, T): a series, its channels as rows
        return values[:, None, :][:, 0][None]
    return values.reshape(1, 1, -1)


class AttributionMapDisplay:
    """Attribution maps over the images they explain, one panel per row.

    Each panel shows the image (its channels averaged; the middle slice of a
    volume) in grey, and the attribution (summed over channels) over it in a
    diverging colour map: red where the pixels pushed the expert's contribution up,
    blue where they pushed it down, from the baseline (see
    :meth:`sk_i2m2.I2M2Classifier.attribution_maps`). Build it with
    :meth:`from_estimator`.

    Parameters
    ----------
    maps : ndarray
        Attribution maps, one per row, of the modality's sample shape.
    images : ndarray
        The preprocessed images they explain, of the same shape.
    titles : list of str or None, default=None
        One per panel.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from sk_i2m2.plotting import AttributionMapDisplay
    >>> maps, images = np.random.randn(2, 1, 8, 8), np.random.randn(2, 1, 8, 8)
    >>> display = AttributionMapDisplay(maps, images).plot()
    >>> plt.close(display.figure_)
    """

    def __init__(self, maps, images, *, titles=None):
        self.maps = maps
        self.images = images
        self.titles = titles

    def plot(self, ax=None, *, alpha=0.5, cmap="RdBu_r"):
        """Draw the panels.

        Parameters
        ----------
        ax : array of matplotlib Axes or None, default=None
            One per row; None makes a row of them.
        alpha : float, default=0.5
            Opacity of the attributions over the image.
        cmap : str, default="RdBu_r"
            A diverging colour map, centred at zero.

        Returns
        -------
        self
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        n_rows = len(self.maps)
        if ax is None:
            _, ax = plt.subplots(1, n_rows, figsize=(2.2 * n_rows, 2.4), squeeze=False)
        axes = np.asarray(ax, dtype=object).ravel()
        if len(axes) != n_rows:
            raise ValueError(f"ax must hold one Axes per row ({n_rows}), got {len(axes)}.")
        for k, axis in enumerate(axes):
            image = _as_picture(self.images[k]).mean(axis=0)
            attribution = _as_picture(self.maps[k]).sum(axis=0)
            bound = np.nanmax(np.abs(attribution)) or 1.0
            axis.imshow(image, cmap="gray")
            axis.imshow(attribution, cmap=cmap, alpha=alpha, vmin=-bound, vmax=bound)
            axis.set_axis_off()
            if self.titles is not None:
                axis.set_title(self.titles[k], fontsize=9)
        self.ax_ = axes
        self.figure_ = axes[0].figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X: MatrixLike, modality: str, *, expert=None,
                       steps=64, ax=None, **kwargs):
        """Compute the maps of ``X``'s rows (a few) and plot them.

        Parameters
        ----------
        estimator : fitted I2M2Classifier or I2M2Regressor
        X : DataFrame or array-like
            The rows to show (one panel each).
        modality : str
            An image (or volume, or series) modality.
        expert : str or None, default=None
            See :meth:`~sk_i2m2.I2M2Classifier.attribution_maps`.
        steps : int, default=64
        ax : array of matplotlib Axes or None, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        AttributionMapDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        maps = estimator.attribution_maps(X, modality, expert=expert, steps=steps)
        images = np.concatenate([np.asarray(batch.modalities[modality])
                                 for batch in estimator._batches(X)])
        predicted = estimator.predict(X)
        titles = [f"predicted {value:.3g}" if np.issubdtype(np.asarray(predicted).dtype,
                                                            np.floating)
                  else f"predicted {value}" for value in predicted]
        return cls(maps, images, titles=titles).plot(ax=ax, **kwargs)
