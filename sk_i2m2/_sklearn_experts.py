"""Scikit-learn estimators as experts: their outputs enter the product.

A scikit-learn expert (:class:`~sk_i2m2.experts.SklearnExpert`) is fitted before the
neural experts train. For the training rows its predictions are out-of-fold
(cross-fitted), for prediction it is refitted on all training rows. A modality's
expert reads that modality's raw columns; a scikit-learn fusion expert reads every
modality's preprocessed columns side by side.

What a prediction becomes in the product is the task's (:mod:`sk_i2m2._task`): a
classifier's probabilities become log-probabilities; a regressor's prediction
becomes a Gaussian's mean, with the variance of its out-of-fold errors.
"""

import time
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import tqdm
from sklearn.utils.parallel import Parallel, delayed

from ._callbacks import log_line, progress_to_terminal
from ._names import FUSION
from ._task import as_task
from ._weighted_fit import check_takes_weights, fit_clone
from .experts import AutoExpert, SklearnExpert, is_sklearn_estimator


def _fusion_features(modalities):
    """Every modality's preprocessed columns side by side (NaN where a row lacks one)."""
    # A classifier needs all its rows at once: images read from files are read in
    # full here (np.asarray of the lazy images).
    return np.hstack([np.asarray(values).reshape(len(values), -1)
                      for values in modalities.values()])


def _full_rows(values, n_rows, rows):
    """``values`` of ``rows`` placed among ``n_rows`` rows, NaN elsewhere."""
    full = np.full((n_rows, values.shape[1]), np.nan)
    full[rows] = values
    return full


def _take(features, rows):
    return features.iloc[rows] if hasattr(features, "iloc") else features[rows]


def _grouped_splits(n_splits, groups, name):
    """Folds of the cross-fitting when rows come in groups: no more than the groups."""
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(
            f"Expert {name!r}: cross-fitting needs rows of at least 2 groups, and the "
            f"rows it sees come in {n_groups}. Give rows of several groups.")
    return min(n_splits, n_groups)


def _fit_predict(task, estimator, features, target, train, test, sample_weight):
    """One fold of the cross-fitting: fit on ``train``, predictions of ``test``."""
    weights = None if sample_weight is None else sample_weight[train]
    fitted = fit_clone(estimator, _take(features, train), target[train], weights)
    return test, task.sklearn_predict(fitted, _take(features, test))


class SklearnExperts(Mapping):
    """The scikit-learn estimators among a product's experts.

    Once fitted, it maps each expert's name to its estimator refitted on every
    training row that it can see. An expert's name is its modality's (an estimator
    given as a modality's expert), ``"fusion"`` (an estimator given as ``fusion``),
    or ``"<modality>:<kind>"`` and ``"fusion:<kind>"`` (the candidates of
    ``"auto"`` experts, :class:`~sk_i2m2.experts.AutoExpert`).

    Parameters
    ----------
    specs : dict of str to SklearnExpert
        In the product's order: modalities first, then ``"fusion"``.
    task : Task or None, default=None
        What the estimators predict and how it enters the product; None:
        classification. :meth:`fit` sets the fitted task.
    sources : dict of str to tuple of str, or None, default=None
        The modalities whose preprocessed columns each expert reads, side by side
        (``"fusion"``: every modality). An expert not in it (an estimator given as a
        modality's expert) reads its own modality's raw columns.
    """

    #: Models saved before ``sources`` existed had estimators on raw columns and a
    #: fusion estimator only.
    sources = {FUSION: FUSION}

    def __init__(self, specs, task=None, sources=None):
        self.specs = dict(specs)
        self.task = as_task(task)
        self.sources = {FUSION: FUSION} if sources is None else dict(sources)
        self.fitted_ = {}
        self.noise_ = {}

    @classmethod
    def from_spec(cls, modalities, dependencies, plan):
        """The scikit-learn experts of a product.

        Parameters
        ----------
        modalities : list of (str, expert, columns)
            The fitted splitter's ``modalities_``.
        dependencies : {"both", "intra", "inter"}
        plan : FitPlan
            The fit plan: its task (each estimator must be of its kind), its
            resolved fusion expert, and whether the pool will weigh the experts.
            Without the pool, the ``"auto"`` experts' candidates are left out (a
            product would count each of them in full), except those of an
            :class:`~sk_i2m2.experts.AutoExpert` without ``"mlp"``, which are all
            its modality has.
        """
        task, pool, fusion = plan.task, plan.pool, plan.fusion
        specs, sources = {}, {}
        names = tuple(name for name, _, _ in modalities)
        # The "auto" fusion candidates read the tables only: images and series
        # would be read whole into memory, and are the networks' to learn from.
        tables = tuple(name for name, expert, _ in modalities if expert.tabular)
        if dependencies in ("intra", "both"):
            for name, expert, _ in modalities:
                if isinstance(expert, SklearnExpert):
                    specs[name] = expert
                elif isinstance(expert, AutoExpert) and (pool or not expert.neural):
                    for kind, spec in expert.companions(task).items():
                        specs[f"{name}:{kind}"] = spec
                        sources[f"{name}:{kind}"] = (name,)
        if dependencies in ("inter", "both"):
            if is_sklearn_estimator(fusion):
                specs[FUSION] = SklearnExpert(fusion)
                sources[FUSION] = names
            elif plan.fusion_candidates and tables:
                for kind, spec in AutoExpert().companions(task).items():
                    specs[f"{FUSION}:{kind}"] = spec
                    sources[f"{FUSION}:{kind}"] = tables
        for name, spec in specs.items():
            task.check_sklearn_expert(spec.estimator, name)
        return cls(specs, task, sources)

    def source(self, name):
        """The modalities an expert reads (``"fusion"``: every modality)."""
        source = self.sources.get(name, (name,))
        return source if isinstance(source, tuple) else (source,)

    @property
    def names(self):
        """The experts' names, in the product's order."""
        return tuple(self.specs)

    @property
    def candidates(self):
        """The names of the ``"auto"`` experts' scikit-learn candidates."""
        return tuple(name for name in self.specs if name in self.sources and name != FUSION)

    def product_sources(self):
        """``{name: source}`` of every expert, as the product takes them."""
        return {name: self.source(name) for name in self.specs}

    # Mapping: name -> fitted classifier.
    def __getitem__(self, name):
        return self.fitted_[name]

    def __iter__(self):
        return iter(self.fitted_)

    def __len__(self):
        return len(self.fitted_)

    def __repr__(self):
        return f"SklearnExperts({self.fitted_ or self.specs!r})"

    # ------------------------------------------------------------------ fit

    def _inputs(self, name, modalities, raw):
        """What an expert reads, and the rows where it can read it."""
        if name in self.sources:  # preprocessed columns
            source = self.source(name)
            features = _fusion_features(modalities if source == (FUSION,)
                                        else {each: modalities[each] for each in source})
            rows = np.flatnonzero(~np.isnan(features).all(axis=1))
            return _take(features, rows), rows
        block, missing = raw[name]
        rows = np.flatnonzero(~missing)
        return _take(block, rows), rows

    def _raw_columns(self, splitter, X):
        # X is checked once for all the experts that read raw columns.
        names = [name for name in self.specs if name not in self.sources]
        return splitter.raw_columns(X, names) if names else {}

    def fit(self, splitter, X, modalities, y, task, seed, sample_weight=None, verbose=0,
            groups=None):
        """Cross-fit then refit every expert; return its out-of-fold outputs.

        Parameters
        ----------
        splitter : ModalitySplitter
            Fitted; selects the raw columns of the modality experts.
        X : DataFrame or ndarray
            The training data, as given to ``fit``.
        modalities : dict of str to array
            ``splitter.transform(X)``, for a scikit-learn fusion expert.
        y : ndarray
            The encoded target (class codes, or the standardised target).
        task : Task
            The fitted task: what each prediction becomes in the product.
        seed : int
            Shuffles the folds given as an int ``cv``.
        sample_weight : ndarray or None
            Passed to every estimator's ``fit`` (the weights are I2M2's to give, so
            no metadata request is needed on the estimator).
        verbose : int, default=0
            1 shows a progress bar over each expert's folds as they finish.
        groups : ndarray or None, default=None
            The rows' groups: each group's rows fall in one fold.

        Returns
        -------
        dict of str to ndarray
            ``(n, n_outputs)`` out-of-fold outputs per expert (for classification,
            log-probabilities), NaN in the rows it cannot see.
        """
        self.task, self.fitted_, self.noise_ = task, {}, {}
        outputs = {}
        raw = self._raw_columns(splitter, X)
        for name, spec in self.specs.items():
            features, rows = self._inputs(name, modalities, raw)
            target = y[rows]
            estimator_target = task.sklearn_target(target)  # what the estimator fits
            weights = None if sample_weight is None else sample_weight[rows]
            row_groups = None if groups is None else groups[rows]
            if weights is not None:
                check_takes_weights(spec.estimator, name)
            cv = spec.cv
            if isinstance(cv, Integral):
                # Shuffled (stratified for classifiers): cross_val_predict's default
                # would not shuffle.
                if row_groups is None:
                    cv = task.folds(cv, seed)
                else:  # no more folds than groups
                    cv = task.grouped_folds(_grouped_splits(cv, row_groups, name), seed)
            cv = task.check_cv(cv, estimator_target)
            start = time.perf_counter()
            bar = verbose == 1 and progress_to_terminal()
            try:
                # As a generator, so that the bar moves as folds finish.
                folds = Parallel(n_jobs=spec.n_jobs, return_as="generator")(
                    delayed(_fit_predict)(task, spec.estimator, features, estimator_target,
                                          train, test, weights)
                    for train, test in cv.split(features, estimator_target, row_groups))
                folds = list(tqdm.tqdm(folds, total=cv.get_n_splits(features,
                                                                     estimator_target,
                                                                     row_groups),
                                       desc=f"cross-fitting {name!r}", unit="fold",
                                       disable=not bar))
            except ValueError as error:
                raise ValueError(f"Expert {name!r}: cross-fitting failed: {error}") from error
            if verbose == 1 and not bar:  # a log file: one plain line
                log_line(f"cross-fitting {name!r}: {len(folds)} folds in "
                         f"{time.perf_counter() - start:.1f} s")
            out_of_fold = None
            for test, prediction in folds:
                if out_of_fold is None:
                    out_of_fold = np.zeros((len(rows), prediction.shape[1]))
                out_of_fold[test] = prediction
            self.noise_[name] = task.sklearn_noise(out_of_fold, target, weights)
            outputs[name] = task.sklearn_outputs(_full_rows(out_of_fold, len(y), rows),
                                                 self.noise_[name])
            self.fitted_[name] = fit_clone(spec.estimator, features, estimator_target, weights)
        return outputs

    def outputs(self, splitter, X, modalities):
        """``{name: (n, n_outputs)}`` outputs of the refitted experts (NaN where unseen)."""
        n_rows = len(next(iter(modalities.values())))
        outputs = {}
        raw = self._raw_columns(splitter, X)
        for name, estimator in self.fitted_.items():
            features, rows = self._inputs(name, modalities, raw)
            prediction = (self.task.sklearn_predict(estimator, features) if len(rows)
                          else np.empty((0, self.task.n_outputs)))
            outputs[name] = self.task.sklearn_outputs(
                _full_rows(prediction, n_rows, rows), self.noise_.get(name))
        return outputs
