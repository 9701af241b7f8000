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
import torch
import tqdm
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import has_fit_parameter

from ._callbacks import log_line, progress_to_terminal
from ._loss import weighted_cross_entropy
from ._task import ClassificationTask
from .experts import SklearnExpert, is_sklearn_estimator
from .product import FUSION


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


def _fit_predict(task, estimator, features, target, train, test, sample_weight):
    """One fold of the cross-fitting: fit on ``train``, predictions of ``test``."""
    params = {} if sample_weight is None else {"sample_weight": sample_weight[train]}
    return test, task.sklearn_fit_predict(estimator, _take(features, train), target[train],
                                          _take(features, test), params)


class SklearnExperts(Mapping):
    """The scikit-learn estimators among a product's experts.

    Once fitted, it maps each expert's name (a modality name, or ``"fusion"``) to its
    estimator refitted on every training row that it can see.

    Parameters
    ----------
    specs : dict of str to SklearnExpert
        In the product's order: modalities first, then ``"fusion"``.
    task : Task or None, default=None
        What the estimators predict and how it enters the product; None:
        classification. :meth:`fit` sets the fitted task.
    """

    def __init__(self, specs, task=None):
        self.specs = dict(specs)
        self.task = ClassificationTask() if task is None else task
        self.fitted_ = {}
        self.noise_ = {}

    @classmethod
    def from_spec(cls, modalities, dependencies, fusion, task=None):
        """The scikit-learn experts of a product.

        Parameters
        ----------
        modalities : list of (str, expert, columns)
            The fitted splitter's ``modalities_``.
        dependencies : {"both", "intra", "inter"}
        fusion : the estimator's ``fusion`` parameter
        task : Task or None, default=None
            The task; each estimator must be of its kind (classifier or regressor).
        """
        task = ClassificationTask() if task is None else task
        specs = {}
        if dependencies in ("intra", "both"):
            specs = {name: expert for name, expert, _ in modalities
                     if isinstance(expert, SklearnExpert)}
        if dependencies in ("inter", "both") and is_sklearn_estimator(fusion):
            specs[FUSION] = SklearnExpert(fusion)
        for name, spec in specs.items():
            task.check_sklearn_expert(spec.estimator, name)
        return cls(specs, task)

    @property
    def names(self):
        """The experts' names, in the product's order."""
        return tuple(self.specs)

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
        if name == FUSION:
            features = _fusion_features(modalities)
            rows = np.flatnonzero(~np.isnan(features).all(axis=1))
            return _take(features, rows), rows
        block, missing = raw[name]
        rows = np.flatnonzero(~missing)
        return _take(block, rows), rows

    def _raw_columns(self, splitter, X):
        # X is checked once for all the experts that read raw columns.
        names = [name for name in self.specs if name != FUSION]
        return splitter.raw_columns(X, names) if names else {}

    def fit(self, splitter, X, modalities, y, task, seed, sample_weight=None, verbose=0):
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
            weights = None if sample_weight is None else sample_weight[rows]
            if weights is not None and not has_fit_parameter(spec.estimator, "sample_weight"):
                raise ValueError(
                    f"Expert {name!r}: {type(spec.estimator).__name__}.fit takes no "
                    "sample_weight. Use an estimator that does, or fit without "
                    "sample_weight."
                )
            cv = spec.cv
            if isinstance(cv, Integral):
                # Shuffled (stratified for classifiers): cross_val_predict's default
                # would not shuffle.
                cv = task.folds(cv, seed)
            cv = check_cv(cv, target, classifier=task.estimator_type == "classifier")
            start = time.perf_counter()
            bar = verbose == 1 and progress_to_terminal()
            try:
                # As a generator, so that the bar moves as folds finish.
                folds = Parallel(n_jobs=spec.n_jobs, return_as="generator")(
                    delayed(_fit_predict)(task, spec.estimator, features, target, train,
                                          test, weights)
                    for train, test in cv.split(features, target))
                folds = list(tqdm.tqdm(folds, total=cv.get_n_splits(features, target),
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
            params = {} if weights is None else {"sample_weight": weights}
            self.fitted_[name] = clone(spec.estimator).fit(features, target, **params)
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


def learn_expert_weights(log_proba, y, n_classes, sample_weight=None):
    """Per-expert weights and class biases of a weighted product of scikit-learn experts.

    Minimises the cross-entropy of ``log_softmax(sum_k w_k log q_k + b)`` on the
    experts' out-of-fold log-probabilities (a multinomial logistic regression with one
    coefficient per expert), by L-BFGS from the unweighted product (w = 1, b = 0).

    Parameters
    ----------
    log_proba : dict of str to ndarray
        ``(n, n_classes)`` out-of-fold log-probabilities per expert, NaN where the
        expert cannot see a row, in the module's expert order.
    y : ndarray of int
        Encoded labels.
    n_classes : int
    sample_weight : ndarray of shape (n_samples,) or None
        Per-row weights of the cross-entropy.

    Returns
    -------
    weights : Tensor of shape (n_experts,)
    bias : Tensor of shape (n_classes,)
    """
    stacked = torch.as_tensor(np.stack(list(log_proba.values()), axis=1))
    available = ~torch.isnan(stacked[:, :, 0])
    stacked = torch.log_softmax(torch.nan_to_num(stacked, nan=0.0), dim=2)
    stacked = stacked * available.unsqueeze(2)
    target = torch.as_tensor(y, dtype=torch.long)
    row_weights = None if sample_weight is None else torch.as_tensor(sample_weight)
    weights = torch.ones(stacked.shape[1], dtype=stacked.dtype, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=stacked.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = (stacked * weights[None, :, None]).sum(dim=1) + bias
        loss = weighted_cross_entropy(logits, target, row_weights)
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach(), bias.detach()
