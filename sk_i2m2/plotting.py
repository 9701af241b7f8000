"""Plots of which expert, and which region of an image, drove the product's predictions,
and of predicted survival curves beside the observed ones.

:class:`ExpertContributionDisplay` and :class:`AttributionMapDisplay` explain a
classifier or a regressor; :class:`SurvivalCurveDisplay` draws the survival curves of
an :class:`~sk_i2m2.I2M2SurvivalAnalysis`, of chosen rows or of groups of predicted
risk beside their Kaplan–Meier estimates (a visual check of calibration).

Needs matplotlib, an optional dependency: ``pip install "sk-i2m2[plot]"``.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss
from sklearn.utils import _safe_indexing, check_consistent_length, column_or_1d
from sklearn.utils.validation import check_is_fitted

from ._task._survival_target import check_survival_target
from ._typing import MatrixLike, VectorLike

__all__ = ["AttributionMapDisplay", "ExpertContributionDisplay", "SurvivalCurveDisplay"]

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


def _kaplan_meier(event, time):
    """The Kaplan–Meier estimate of the survival function, with numpy only.

    As scikit-survival's ``kaplan_meier_estimator(event, time)``.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        True where the event was observed, False where the row was censored.
    time : array-like of shape (n_samples,)
        The time of the event or of the censoring.

    Returns
    -------
    times : ndarray of shape (n_times,)
        The distinct times (of events and of censorings), increasing.
    survival : ndarray of shape (n_times,)
        ``S(t)`` from each of them on: the product, over the event times ``u <= t``,
        of ``1 - d(u) / n(u)``, with ``d(u)`` the events at ``u`` and ``n(u)`` the rows
        still at risk then (their time is ``u`` or later).
    """
    event = np.asarray(event, dtype=bool).ravel()
    time = np.asarray(time, dtype=np.float64).ravel()
    times, inverse, counts = np.unique(time, return_inverse=True, return_counts=True)
    events = np.bincount(inverse.ravel(), weights=event, minlength=len(times))
    at_risk = len(time) - np.concatenate([[0], np.cumsum(counts)[:-1]])
    return times, np.cumprod(1.0 - events / at_risk)


def _from_start(times, values):
    """A step line that starts at 1 at time 0 (or at its first time, if earlier)."""
    times = np.asarray(times, dtype=np.float64)
    start = min(0.0, times[0]) if len(times) else 0.0
    return np.concatenate([[start], times]), np.concatenate([[1.0], values])


def _row_positions(X, rows):
    """The positions in ``X`` of ``rows`` and the label of each, or a clear error.

    ``rows`` are labels of a DataFrame's index, or positions: of an array, or of a
    DataFrame whose index is not of integers when they are all integers.
    """
    if not isinstance(rows, list | tuple | np.ndarray | pd.Index | pd.Series):
        rows = [rows]
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: give at least one label of X's index or position.")
    if any(isinstance(row, bool | np.bool_) for row in rows):
        raise ValueError(f"rows must be labels of X's index or positions, not booleans "
                         f"(a mask), got {rows[:5]}.")
    n_samples = X.shape[0] if hasattr(X, "shape") else len(X)
    integers = all(isinstance(row, Integral) for row in rows)
    index = X.index if isinstance(X, pd.DataFrame) else None
    if index is not None and not (integers and not pd.api.types.is_integer_dtype(index)):
        if not index.is_unique:
            raise ValueError("X's index has duplicate labels, so rows cannot name them; "
                             "reset it (X.reset_index(drop=True)) and pass positions.")
        positions = index.get_indexer(rows)
        missing = [row for row, position in zip(rows, positions, strict=True)
                   if position < 0]
        if missing:
            hint = (" (X's index is of integers, so rows are read as its labels, not as "
                    "positions)" if integers else "")
            raise ValueError(
                f"rows {missing} are not in X: not labels of its index{hint}; X has "
                f"{n_samples} rows, its index starts {list(index[:3])}.")
        return positions, list(index[positions])
    if not integers:
        wrong = [row for row in rows if not isinstance(row, Integral)]
        raise ValueError(f"rows must be positions (integers) when X has no index (X is "
                         f"a {type(X).__name__}), got {wrong}.")
    outside = [row for row in rows if not -n_samples <= row < n_samples]
    if outside:
        raise ValueError(f"rows {outside} are not in X: not positions of its {n_samples} "
                         f"rows.")
    positions = np.asarray(rows, dtype=np.intp) % n_samples
    return positions, list(index[positions]) if index is not None else rows


def _group_label(k, n_groups, size):
    if n_groups == 1:
        name = "all rows"
    elif k == 0:
        name = "low risk"
    elif k == n_groups - 1:
        name = "high risk"
    elif n_groups == 3:
        name = "medium risk"
    else:
        name = f"risk group {k + 1} of {n_groups}"
    return f"{name} (n={size})"


def _check_n_groups(n_groups, n_samples):
    if (not isinstance(n_groups, Integral) or isinstance(n_groups, bool)
            or not 1 <= n_groups <= n_samples):
        raise ValueError(f"n_groups must be an integer from 1 to the number of rows "
                         f"({n_samples}), got {n_groups!r}.")


class SurvivalCurveDisplay:
    """Survival curves: predicted ones of chosen rows, or by group of predicted risk
    beside the observed ones.

    One step line per curve, the survival probability from each time on (and 1 from
    time 0 to the first time). With ``kaplan_meier``, each curve is drawn dashed
    beside the Kaplan–Meier estimate it is compared with, a solid step line of the
    same colour: where a group's mean predicted curve follows its Kaplan–Meier
    estimate, the model's survival is calibrated on those rows. Build it with
    :meth:`from_estimator` or :meth:`from_predictions` rather than directly.

    Parameters
    ----------
    times : ndarray of shape (n_times,)
        The increasing times where the curves are given (``unique_times_``).
    curves : ndarray of shape (n_curves, n_times)
        Each curve's survival probability from each time on.
    labels : list of str
        One per curve, for the legend.
    kaplan_meier : list of (ndarray, ndarray) or None, default=None
        One ``(times, survival)`` pair per curve, as scikit-survival's
        ``kaplan_meier_estimator`` returns them: the observed survival that curve is
        compared with.
    groups : list of ndarray or None, default=None
        When each curve is a group's mean: the positions of the group's rows.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : list of matplotlib Line2D
        One per curve, in the order of ``curves``.
    kaplan_meier_lines_ : list of matplotlib Line2D or None
        One per curve with ``kaplan_meier``, else None.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from sk_i2m2 import I2M2SurvivalAnalysis
    >>> from sk_i2m2.datasets import make_multimodal_survival
    >>> from sk_i2m2.plotting import SurvivalCurveDisplay
    >>> X, y, modalities = make_multimodal_survival(n_samples=300, random_state=0)
    >>> model = I2M2SurvivalAnalysis(modalities, max_epochs=5, n_bags=1, calibrate=None,
    ...                              random_state=0).fit(X, y)

    Observed and predicted survival of three groups of predicted risk:

    >>> display = SurvivalCurveDisplay.from_estimator(model, X, y)
    >>> [len(rows) for rows in display.groups], len(display.kaplan_meier_lines_)
    ([100, 100, 100], 3)
    >>> display.labels
    ['low risk (n=100)', 'medium risk (n=100)', 'high risk (n=100)']

    The predicted curves of two rows:

    >>> display = SurvivalCurveDisplay.from_estimator(model, X, rows=[0, 5])
    >>> [line.get_label() for line in display.lines_]
    ['0', '5']
    >>> plt.close("all")
    """

    def __init__(self, times, curves, labels, *, kaplan_meier=None, groups=None):
        self.times = times
        self.curves = curves
        self.labels = labels
        self.kaplan_meier = kaplan_meier
        self.groups = groups

    def plot(self, ax=None, *, curve_kws=None, kaplan_meier_kws=None):
        """Draw the curves, and the Kaplan–Meier estimates when there are.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.
        curve_kws : dict, default=None
            Passed to ``Axes.step`` for each curve.
        kaplan_meier_kws : dict, default=None
            Passed to ``Axes.step`` for each Kaplan–Meier estimate.

        Returns
        -------
        self : SurvivalCurveDisplay
        """
        _check_matplotlib(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes

        times = np.asarray(self.times, dtype=np.float64)
        curves = np.atleast_2d(np.asarray(self.curves, dtype=np.float64))
        if times.ndim != 1 or curves.ndim != 2 or curves.shape[1] != len(times):
            raise ValueError(f"curves must be of shape (n_curves, len(times)) = "
                             f"(n_curves, {len(times)}), got {curves.shape}.")
        if len(self.labels) != len(curves):
            raise ValueError(f"labels must hold one label per curve ({len(curves)}), got "
                             f"{len(self.labels)}.")
        if self.kaplan_meier is not None and len(self.kaplan_meier) != len(curves):
            raise ValueError(f"kaplan_meier must hold one (times, survival) pair per curve "
                             f"({len(curves)}), got {len(self.kaplan_meier)}.")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        elif not isinstance(ax, Axes):
            raise ValueError(f"ax must be a matplotlib Axes, got {ax!r}.")

        compared = self.kaplan_meier is not None
        self.lines_, self.kaplan_meier_lines_ = [], [] if compared else None
        for k, (curve, label) in enumerate(zip(curves, self.labels, strict=True)):
            color = f"C{k % 10}"
            if compared:
                km_times, km_survival = self.kaplan_meier[k]
                (line,) = ax.step(*_from_start(km_times, km_survival), where="post",
                                  **{"color": color, "label": f"{label}: Kaplan–Meier",
                                     **(kaplan_meier_kws or {})})
                self.kaplan_meier_lines_.append(line)
            style = {"color": color, "linestyle": "--" if compared else "-",
                     "label": f"{label}: predicted" if compared else str(label)}
            (line,) = ax.step(*_from_start(times, curve), where="post",
                              **{**style, **(curve_kws or {})})
            self.lines_.append(line)

        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("time")
        ax.set_ylabel("survival probability")
        if compared:
            title = "Observed (Kaplan–Meier) and predicted survival"
        elif self.groups is not None:
            title = "Mean predicted survival by risk group"
        else:
            title = "Predicted survival"
        ax.set_title(title)
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(cls, y, risk: VectorLike, survival, *, times=None,
                         n_groups: int = 3, ax=None) -> "SurvivalCurveDisplay":
        """Plot groups of predicted risk: their mean predicted survival, beside their
        Kaplan–Meier estimates with ``y``.

        The rows are sorted by ``risk`` and cut into ``n_groups`` groups of equal
        sizes (to one row; tied risks are cut in the rows' order), from the lowest
        risk to the highest: each group's predicted survival curves are averaged, and
        with ``y``, the group's Kaplan–Meier estimate is drawn beside.

        Parameters
        ----------
        y : structured ndarray of shape (n_samples,) or None
            The observed survival: a boolean event field then a float time field, as
            ``sksurv.util.Surv.from_arrays(event, time)`` makes. None draws the
            predicted curves alone.
        risk : array-like of shape (n_samples,)
            The predicted risk: higher means an earlier event (``predict``).
        survival : ndarray of shape (n_samples, n_times), or sequence of step functions
            Each row's predicted survival at ``times``
            (``predict_survival_function(X, return_array=True)``), or the step
            functions ``predict_survival_function(X)`` returns.
        times : ndarray of shape (n_times,), default=None
            Where ``survival`` is given; required with an array. With step
            functions, None evaluates them at all the times where they step.
        n_groups : int, default=3
            The number of groups.
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.

        Returns
        -------
        display : SurvivalCurveDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_predictions")
        risk = column_or_1d(risk).astype(np.float64)
        if not np.isfinite(risk).all():
            raise ValueError("risk must be finite.")
        if y is not None:
            event, time = check_survival_target(y)
            check_consistent_length(y, risk)
        survival, times = _survival_array(survival, times)
        if len(survival) != len(risk):
            raise ValueError(f"survival must hold one curve per row of risk ({len(risk)}), "
                             f"got {len(survival)}.")
        _check_n_groups(n_groups, len(risk))

        order = np.argsort(risk, kind="stable")
        groups = [np.sort(part) for part in np.array_split(order, n_groups)]
        curves = np.vstack([survival[rows].mean(axis=0) for rows in groups])
        labels = [_group_label(k, n_groups, len(rows)) for k, rows in enumerate(groups)]
        kaplan_meier = None
        if y is not None:
            kaplan_meier = [_kaplan_meier(event[rows], time[rows]) for rows in groups]
        display = cls(times, curves, labels, kaplan_meier=kaplan_meier, groups=groups)
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, X: MatrixLike, y=None, *, rows=None,
                       n_groups: int = 3, ax=None) -> "SurvivalCurveDisplay":
        """Plot the survival curves of a fitted :class:`sk_i2m2.I2M2SurvivalAnalysis`.

        With ``rows``, the predicted survival curve of each of those rows of ``X``.
        Without, the rows of ``X`` in ``n_groups`` groups of predicted risk, each
        group's mean predicted curve beside, with ``y``, its Kaplan–Meier estimate
        (see :meth:`from_predictions`): a visual check of calibration.

        Parameters
        ----------
        estimator : I2M2SurvivalAnalysis
            Fitted; or any estimator with ``predict`` (a risk),
            ``predict_survival_function(X, return_array=True)`` and ``unique_times_``,
            as scikit-survival's Cox models.
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : structured ndarray of shape (n_samples,), default=None
            The observed survival of ``X``'s rows: a boolean event field then a float
            time field. Not with ``rows``.
        rows : label, position or list of them, default=None
            Rows of ``X`` whose curves to draw, one line each labelled by the row's
            label: labels of a DataFrame's index, or positions (of an array, or of a
            DataFrame whose index is not of integers).
        n_groups : int, default=3
            The number of groups of predicted risk, without ``rows``.
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.

        Returns
        -------
        display : SurvivalCurveDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if rows is not None:
            if y is not None:
                raise ValueError("Give rows (to draw those rows' predicted curves) or y "
                                 "(to compare groups of risk with their Kaplan–Meier "
                                 "estimates), not both.")
            positions, labels = _row_positions(X, rows)
            curves = estimator.predict_survival_function(_safe_indexing(X, positions),
                                                         return_array=True)
            display = cls(estimator.unique_times_, curves, [str(label) for label in labels])
            return display.plot(ax=ax)

        if y is not None:  # before predicting: a wrong y fails fast
            check_survival_target(y)
            check_consistent_length(X, y)
        return cls.from_predictions(
            y, estimator.predict(X), estimator.predict_survival_function(X, return_array=True),
            times=estimator.unique_times_, n_groups=n_groups, ax=ax)


def _survival_array(survival, times):
    """``survival`` as an array of shape (n_samples, n_times), and its times."""
    if len(survival) and callable(survival[0]):
        if times is None:
            times = np.unique(np.concatenate([np.asarray(f.x, dtype=np.float64)
                                              for f in survival]))
        times = np.asarray(times, dtype=np.float64)
        return np.vstack([np.asarray(f(times), dtype=np.float64) for f in survival]), times
    if times is None:
        raise ValueError("times is required with survival given as an array (the times "
                         "of its columns, e.g. the estimator's unique_times_).")
    times = column_or_1d(times).astype(np.float64)
    survival = np.asarray(survival, dtype=np.float64)
    if survival.ndim != 2 or survival.shape[1] != len(times):
        raise ValueError(f"survival must be of shape (n_samples, len(times)) = (n_samples, "
                         f"{len(times)}), got {survival.shape}.")
    return survival, times
