"""Which dependencies does the data need, and which modalities does a model use?

:func:`dependency_report` answers the first with cross-validation: it fits the
estimator with ``dependencies="intra"``, ``"inter"`` and ``"both"`` on the same folds,
scores each expert of the ``"both"`` model on its own, and picks the smallest set of
dependencies whose score is within one standard error of the best (see
:class:`DependencyReport`). :func:`modality_importance` answers the second for a
fitted model: how much its score drops when a whole modality is shuffled.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.utils import Bunch, _safe_indexing, check_random_state, indexable
from sklearn.utils.parallel import Parallel, delayed

from .plotting import _check_matplotlib

__all__ = ["dependency_report", "DependencyReport", "DependencyReportDisplay",
           "modality_importance"]

#: The variants, from the fewest dependencies to the most: the verdict prefers the first
#: one within one standard error of the best.
_VARIANTS = ("intra", "inter", "both")
_CHANCE = "chance"
#: Level of the one-sided paired t-test of the best variant against chance.
_CHANCE_LEVEL = 0.05
_EXPERT = "expert: "
#: The paired differences reported; the first term of each is the one that should win.
_DIFFERENCES = (("both", "intra"), ("both", "inter"), ("inter", "intra"),
                ("intra", _CHANCE), ("inter", _CHANCE), ("both", _CHANCE))


def _fit_and_score(estimator, task, dependencies, X, y, train, test, scorer, fold,
                   groups=None):
    """Rows ``(model, kind, fold, score)`` of one variant (or the chance predictor) on
    one fold; the ``"both"`` variant adds one row per expert."""
    X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
    y_train, y_test = _safe_indexing(y, train), _safe_indexing(y, test)
    if dependencies == _CHANCE:
        # The chance level of this scorer on this fold: the class priors (or the
        # mean target) of the training rows, scored like the models (0.5 for ROC
        # AUC, the majority rate for accuracy, about 0 for R²).
        dummy = task.chance_estimator().fit(X_train, y_train)
        return [(_CHANCE, _CHANCE, fold, float(scorer(dummy, X_test, y_test)))]
    # The training rows' groups go to fit too: its own inner splits keep them whole.
    fit_params = {} if groups is None else {"groups": _safe_indexing(groups, train)}
    model = clone(estimator).set_params(dependencies=dependencies).fit(X_train, y_train,
                                                                       **fit_params)
    rows = [(dependencies, "variant", fold, float(scorer(model, X_test, y_test)))]
    if dependencies == "both":
        # A row whose modality is missing is NaN under that expert: the expert says
        # nothing there, so it is scored without it.
        for name, (seen, expert) in task.experts_alone(model, X_test).items():
            score = scorer(expert, _safe_indexing(X_test, seen), _safe_indexing(y_test, seen))
            rows.append((_EXPERT + name, "expert", fold, float(score)))
    return rows


def _summary(values):
    values = np.asarray(values, dtype=float)
    n = len(values)
    se = values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return {"mean": values.mean(), "se": se, "n_folds": n}


class DependencyReport:
    """What :func:`dependency_report` found: scores per fold, their summary, the paired
    differences between the variants, and a verdict.

    Attributes
    ----------
    scores : DataFrame
        Long format, one row per model and fold, columns ``model``, ``kind``,
        ``fold`` and ``score``. ``model`` is a variant (``"intra"``, ``"inter"``,
        ``"both"``), ``"expert: <name>"`` for each expert of the ``"both"`` model
        scored alone (its modality's name, or ``"fusion"``), or ``"chance"``; ``kind``
        is ``"variant"``, ``"expert"`` or ``"chance"``.
    table : DataFrame
        Indexed by ``model``, in the order above, columns ``kind``, ``mean``, ``se``
        (the standard error of the mean over the folds, ``std(ddof=1) /
        sqrt(n_folds)``) and ``n_folds``.
    differences : DataFrame
        Paired differences over the folds, indexed by ``"both - intra"``, ``"both -
        inter"``, ``"inter - intra"``, ``"intra - chance"``, ``"inter - chance"`` and
        ``"both - chance"``, columns ``mean``, ``se`` and ``n_folds``.
    verdict : {"intra", "inter", "both", "none"}
        The smallest set of dependencies the data needs; see the Notes.
    best : str
        The variant with the highest mean score.
    scoring : str or callable
        The scoring the scores are in (greater is better).

    Notes
    -----
    The verdict is ``"none"`` when the best variant does not beat chance, by a
    one-sided paired t-test at level 0.05 over the folds: when ``mean(best - chance)
    <= t * se(best - chance)``, with ``t`` the 0.95 quantile of Student's t with
    ``n_folds - 1`` degrees of freedom (2.92 for 3 folds, 2.13 for 5, 1.83 for 10).
    A test, not one standard error, because the best of three variants is the one
    picked for its high score, so its margin over chance is biased upward: on labels
    drawn at random, one standard error let a variant "beat chance" in about half of
    the seeds tried. Otherwise it is the first of ``"intra"``, ``"inter"``, ``"both"`` whose
    mean is within one standard error of the best's: ``mean(best - v) <= se(best -
    v)``. The standard error is that of the *paired* differences over the folds
    (every variant is fitted on the same folds), not that of the best's own scores:
    the fold-to-fold variation that all variants share cancels out of a difference,
    so this compares the variants as precisely as the folds allow.

    With ``n_repeats > 1`` the folds of different repeats share their rows, so the
    standard errors, computed as if the folds were independent, are somewhat too
    small; the verdict is then a little quicker to prefer a richer variant.
    """

    def __init__(self, scores: pd.DataFrame, *, scoring: Any = "roc_auc") -> None:
        self.scores = scores
        self.scoring = scoring
        order = [*_VARIANTS, *pd.unique(scores.loc[scores["kind"] == "expert", "model"]),
                 _CHANCE]
        order = [model for model in order if model in set(scores["model"])]
        kinds = scores.groupby("model", sort=False)["kind"].first()
        self.table = pd.DataFrame(
            [{"kind": kinds[model],
              **_summary(scores.loc[scores["model"] == model, "score"])}
             for model in order],
            index=pd.Index(order, name="model"))
        wide = scores.pivot(index="fold", columns="model", values="score")
        self._wide = wide
        self.differences = pd.DataFrame(
            [_summary(wide[a] - wide[b]) for a, b in _DIFFERENCES],
            index=pd.Index([f"{a} - {b}" for a, b in _DIFFERENCES], name="difference"))
        self.best = str(self.table.loc[list(_VARIANTS), "mean"].idxmax())
        self.verdict = self._verdict()

    def _within_se(self, a, b, n_se=1):
        """Whether ``mean(a - b) <= n_se * se(a - b)`` over the paired folds."""
        summary = _summary(self._wide[a] - self._wide[b])
        # One fold has no standard error: only a tie (or a loss) is then within it.
        se = 0.0 if np.isnan(summary["se"]) else summary["se"]
        return summary["mean"] <= n_se * se

    def _verdict(self):
        n_folds = len(self._wide)
        t = stats.t.ppf(1 - _CHANCE_LEVEL, n_folds - 1) if n_folds > 1 else 0.0
        if self._within_se(self.best, _CHANCE, n_se=t):
            return "none"
        for variant in _VARIANTS:
            if self._within_se(self.best, variant):
                return variant
        return self.best  # not reached: the best is within one SE of itself

    def plot(self, ax: Any = None) -> DependencyReportDisplay:
        """Draw the report; see :class:`DependencyReportDisplay`.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.

        Returns
        -------
        display : DependencyReportDisplay
        """
        return DependencyReportDisplay(self).plot(ax=ax)

    def __str__(self) -> str:
        scoring = self.scoring if isinstance(self.scoring, str) else "score"
        with pd.option_context("display.float_format", "{:.4f}".format):
            return (f"Dependency report ({scoring}, mean and standard error over the "
                    f"folds)\n{self.table}\n\n{self.differences}\n\nverdict: {self.verdict}")

    def __repr__(self) -> str:
        return (f"DependencyReport(verdict={self.verdict!r}, best={self.best!r}, "
                f"n_folds={int(self.table['n_folds'].iloc[0])})")


def _check_estimator(estimator):
    """The estimator's task (what it predicts: its folds, chance level and scoring)."""
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "dependencies" not in params or not hasattr(estimator, "_get_task"):
        raise TypeError(
            "dependency_report compares dependencies='intra', 'inter' and 'both', so "
            "the estimator needs a 'dependencies' parameter (an I2M2Classifier); got "
            f"{type(estimator).__name__}.")
    task = estimator._get_task()
    if not hasattr(estimator, task.expert_method):
        raise TypeError(f"{type(estimator).__name__} has no {task.expert_method} method, "
                        "needed to score each expert on its own.")
    return task


def _check_scoring(estimator, task, scoring, y):
    from sklearn.metrics import check_scoring

    if scoring is None:
        scoring = task.default_scoring(y)
    return scoring, check_scoring(estimator, scoring=scoring)


def dependency_report(estimator: Any, X: Any, y: Any, *, groups: Any = None,
                      cv: Any = 5, scoring: Any = None, n_repeats: int = 1,
                      n_jobs: int | None = None,
                      random_state: Any = None) -> DependencyReport:
    """Cross-validate the intra-, inter- and both-dependency variants of an estimator.

    Clones of ``estimator`` with ``dependencies`` set to ``"intra"`` (the unimodal
    experts alone), ``"inter"`` (the fusion expert alone) and ``"both"`` (I2M2) are fitted
    on the same folds and scored on the held-out rows; so is each expert of the
    ``"both"`` model on its own, and a predictor of the training class priors (the
    chance level). The verdict names the smallest set of dependencies whose model is
    within one standard error of the best, or ``"none"`` when no variant beats
    chance; see :class:`DependencyReport` for the exact rule.

    Parameters
    ----------
    estimator : I2M2Classifier or I2M2Regressor
        Any estimator with a ``dependencies`` parameter and an ``expert_proba``
        method (a classifier) or ``expert_predict`` method (a regressor). Not
        fitted: clones are.
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,), default=None
        Group labels, for a group-aware ``cv`` splitter; each fit is also given
        its training rows' groups (``fit(..., groups=)``), so that its own inner
        splits keep them whole. An int ``cv`` is not group-aware: give a
        splitter such as :class:`~sklearn.model_selection.StratifiedGroupKFold`.
    cv : int, cross-validation splitter or iterable, default=5
        An int ``k``: ``k``-fold with shuffling (stratified for a classifier),
        repeated ``n_repeats`` times with different shuffles
        (:class:`~sklearn.model_selection.RepeatedStratifiedKFold`,
        :class:`~sklearn.model_selection.RepeatedKFold`). Anything else as in
        :func:`~sklearn.model_selection.check_cv`.
    scoring : str, callable or None, default=None
        A scikit-learn scoring (greater is better); None is ``"roc_auc"`` for a
        classifier and ``"r2"`` for a regressor. ``"roc_auc"`` on a multiclass
        target is read as ``"roc_auc_ovr"``. The experts are scored with the same
        scorer, through an estimator that returns the expert's probabilities (or
        means); rows whose modality is missing (NaN) are left out of an expert's
        score.
    n_repeats : int, default=1
        Repeats of the ``k``-fold split when ``cv`` is an int; otherwise must be 1.
    n_jobs : int, default=None
        Fits run in parallel (one per variant and fold) with joblib; None means 1
        unless in a :func:`joblib.parallel_backend` context, -1 all processors.
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds when ``cv`` is an int. When the estimator's own
        ``random_state`` is None, also seeds every fit, with one seed for all
        variants and folds so that the variants differ only in their dependencies
        and results do not depend on ``n_jobs``.

    Returns
    -------
    report : DependencyReport

    Examples
    --------
    >>> from sk_i2m2 import I2M2Classifier
    >>> from sk_i2m2.datasets import make_multimodal_classification
    >>> from sk_i2m2.inspection import dependency_report
    >>> X, y, modalities = make_multimodal_classification(
    ...     300, dependency="inter", random_state=0)
    >>> clf = I2M2Classifier(modalities, max_epochs=40, n_bags=1, calibrate=None)
    >>> report = dependency_report(clf, X, y, cv=3, random_state=0)  # doctest: +SKIP
    >>> report.verdict  # doctest: +SKIP
    'inter'
    """
    task = _check_estimator(estimator)
    if not isinstance(n_repeats, Integral) or isinstance(n_repeats, bool) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an int >= 1, got {n_repeats!r}.")
    X, y, groups = indexable(X, y, groups)
    y = np.asarray(y)
    if isinstance(cv, Integral) and not isinstance(cv, bool):
        if cv < 2:
            raise ValueError(f"cv must be at least 2 folds, got {cv}.")
        cv = task.repeated_folds(cv, n_repeats, random_state)
    elif n_repeats != 1:
        raise ValueError("n_repeats applies to an int cv only; repeat the splitter "
                         f"itself instead (got cv={cv!r}, n_repeats={n_repeats}).")
    else:
        cv = task.check_cv(cv, y)
    scoring, scorer = _check_scoring(estimator, task, scoring, y)

    if estimator.get_params(deep=False).get("random_state", 0) is None \
            and random_state is not None:
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        estimator = clone(estimator).set_params(random_state=seed)

    splits = list(cv.split(X, y, groups))
    if len(splits) < 2:
        raise ValueError("dependency_report needs at least 2 folds for standard errors, "
                         f"got {len(splits)}.")
    tasks = [(variant, fold, train, test) for fold, (train, test) in enumerate(splits)
             for variant in (*_VARIANTS, _CHANCE)]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(estimator, task, variant, X, y, train, test, scorer, fold,
                                groups)
        for variant, fold, train, test in tasks)
    scores = pd.DataFrame([row for rows in results for row in rows],
                          columns=["model", "kind", "fold", "score"])
    return DependencyReport(scores, scoring=scoring)


class DependencyReportDisplay:
    """Mean score and standard error of each variant and expert, against chance.

    One horizontal error bar (mean ± one standard error over the folds) per variant
    (``"intra"``, ``"inter"``, ``"both"``, the verdict's highlighted) and per expert of
    the ``"both"`` model, a dashed line at the chance level, and the verdict in the
    title. Build it with :meth:`from_estimator` or :meth:`DependencyReport.plot`.

    Parameters
    ----------
    report : DependencyReport

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    errorbars_ : list of matplotlib ErrorbarContainer
        One per row drawn, from the top.
    chance_line_ : matplotlib Line2D

    Examples
    --------
    >>> from sk_i2m2.inspection import DependencyReportDisplay
    >>> display = DependencyReportDisplay.from_estimator(
    ...     clf, X, y, cv=3, random_state=0)  # doctest: +SKIP
    >>> display.ax_.get_title()  # doctest: +SKIP
    'Dependencies needed: inter'
    """

    def __init__(self, report: DependencyReport) -> None:
        self.report = report

    def plot(self, ax: Any = None) -> DependencyReportDisplay:
        """Draw the report.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.

        Returns
        -------
        self : DependencyReportDisplay
        """
        _check_matplotlib("DependencyReportDisplay.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        self.ax_, self.figure_ = ax, ax.figure
        report = self.report
        table = report.table[report.table["kind"] != _CHANCE]
        self.errorbars_ = []
        for position, (model, row) in enumerate(table.iterrows()):
            if model == report.verdict:
                color = "C1"  # the verdict stands out
            else:
                color = "C0" if row["kind"] == "variant" else "C7"
            self.errorbars_.append(ax.errorbar(row["mean"], position, xerr=row["se"],
                                               fmt="o", color=color, capsize=4))
        ax.set_yticks(np.arange(len(table)), list(table.index))
        ax.invert_yaxis()  # the variants from the top, then the experts
        chance = report.table.loc[_CHANCE, "mean"] if _CHANCE in report.table.index \
            else np.nan
        self.chance_line_ = ax.axvline(chance, linestyle="--", color="k", label="chance")
        ax.legend(loc="best")
        scoring = report.scoring if isinstance(report.scoring, str) else "score"
        ax.set_xlabel(f"{scoring} (mean ± standard error over the folds)")
        ax.set_title(f"Dependencies needed: {report.verdict}")
        return self

    @classmethod
    def from_estimator(cls, estimator: Any, X: Any, y: Any, *, ax: Any = None,
                       **kwargs: Any) -> DependencyReportDisplay:
        """Run :func:`dependency_report` and plot its report.

        Parameters
        ----------
        estimator : I2M2Classifier
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        ax : matplotlib Axes, default=None
            Where to draw. None makes a new figure.
        **kwargs
            Passed to :func:`dependency_report` (``cv``, ``scoring``, ...).

        Returns
        -------
        display : DependencyReportDisplay
        """
        _check_matplotlib("DependencyReportDisplay.from_estimator")
        return cls(dependency_report(estimator, X, y, **kwargs)).plot(ax=ax)


def _permuted(X, positions, order):
    """``X`` with the columns at ``positions`` taken from the rows ``order``, together."""
    if hasattr(X, "iloc"):
        shuffled = X.copy()
        for position in positions:
            column = X.columns[position]
            shuffled[column] = X[column].to_numpy()[order]
        return shuffled
    shuffled = np.array(X, copy=True)
    shuffled[:, positions] = np.asarray(X)[order][:, positions]
    return shuffled


def modality_importance(estimator: Any, X: Any, y: Any, *, scoring: Any = None,
                        n_repeats: int = 5, random_state: Any = None,
                        sample_weight: Any = None) -> Bunch:
    """Permutation importance of whole modalities for a fitted estimator.

    As :func:`sklearn.inspection.permutation_importance`, but every column of a
    modality is shuffled together (the same row order for all of them), so that the
    modality's own structure (an image's pixels, a panel's correlated markers) is
    kept while its link to the target and to the other modalities is broken. The
    importance is the drop of the score. Score on rows the model did not train on:
    on its training rows a model's importances show what it memorised.

    Parameters
    ----------
    estimator : fitted I2M2Classifier or I2M2Regressor
    X : DataFrame or array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    scoring : str, callable or None, default=None
        A scikit-learn scoring; None is the estimator's ``score`` (accuracy, R²).
    n_repeats : int, default=5
        Shuffles per modality.
    random_state : int, RandomState instance or None, default=None
        Draws the shuffles.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Passed to the scorer.

    Returns
    -------
    Bunch
        ``importances_mean`` and ``importances_std`` (Series indexed by modality),
        ``importances`` (DataFrame, one row per modality, one column per repeat),
        and ``baseline_score``, the unshuffled score.

    Examples
    --------
    >>> from sk_i2m2 import I2M2Classifier
    >>> from sk_i2m2.datasets import make_multimodal_classification
    >>> from sk_i2m2.inspection import modality_importance
    >>> X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
    >>> clf = I2M2Classifier(modalities, max_epochs=5, random_state=0).fit(X, y)
    >>> result = modality_importance(clf, X, y, n_repeats=2, random_state=0)
    >>> list(result.importances_mean.index)
    ['m0', 'm1']
    """
    from sklearn.metrics import check_scoring
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    if not isinstance(n_repeats, Integral) or isinstance(n_repeats, bool) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an int >= 1, got {n_repeats!r}.")
    scorer = check_scoring(estimator, scoring=scoring)
    params = {} if sample_weight is None else {"sample_weight": sample_weight}
    baseline = float(scorer(estimator, X, y, **params))
    rng = check_random_state(random_state)
    n_samples = len(X)
    drops = {}
    for name, _, positions in estimator.splitter_.modalities_:
        drops[name] = [baseline - float(scorer(
            estimator, _permuted(X, list(positions), rng.permutation(n_samples)), y,
            **params)) for _ in range(n_repeats)]
    importances = pd.DataFrame.from_dict(drops, orient="index",
                                         columns=[f"repeat_{k}" for k in range(n_repeats)])
    return Bunch(importances_mean=importances.mean(axis=1),
                 importances_std=importances.std(axis=1, ddof=0),
                 importances=importances, baseline_score=baseline)
