"""The interface every task implements (see :mod:`sk_i2m2._task`)."""

import math

import numpy as np
import torch
from sklearn.base import is_classifier, is_regressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, check_cv
from sklearn.pipeline import make_pipeline


class Task:
    """What the product of experts, its training and its experts ask of a task.

    A task is fitted on the target (:meth:`fit_target`) and then holds what it
    learnt from it (the classes, or the target's location and scale). Every other
    method is a pure function of its arguments and of that state, so the same task
    object serves the torch module, the training functions and the scikit-learn
    experts, and is saved with the model.

    Subclasses set the class attributes and implement the methods that raise
    :class:`NotImplementedError`.
    """

    #: ``"classifier"`` or ``"regressor"``: the kind of scikit-learn estimator that
    #: may serve as an expert, and how ``cv`` ints are turned into folds.
    estimator_type = None
    #: The name of the calibration :meth:`fit_calibration` fits (the value of the
    #: estimators' ``calibrate`` parameter that asks for it).
    calibration = None
    #: The torch loss class: ``criterion(prediction, target)`` with
    #: ``reduction="none"`` gives one loss per row, of the product's prediction
    #: (:meth:`combine`) and of an expert's raw output alike.
    criterion = None

    # ------------------------------------------------------------------ target

    def fit_target(self, y):
        """Check ``y``, learn what the task needs from it, return it encoded.

        Returns
        -------
        ndarray of shape (n_samples,)
            What the losses compare predictions with (class codes, or the
            standardised target).
        """
        raise NotImplementedError

    def continue_from(self, previous, y):
        """A warm start: ``y`` (encoded by this task) as ``previous`` encodes targets.

        The fitted networks learnt ``previous``'s encoding, so a warm start keeps it
        (as it keeps the fitted preprocessing); raise when ``y`` cannot be so encoded.
        Returns the encoded target and leaves this task in ``previous``'s state.
        """
        return y

    def row_weights(self, y_encoded, sample_weight=None, class_weight=None):
        """Each row's weight in every loss, or None when every row weighs 1."""
        if class_weight is not None:
            raise ValueError("class_weight applies to classification only.")
        return None if sample_weight is None else np.asarray(sample_weight, np.float32)

    # ------------------------------------------------------------------ the product

    @property
    def n_outputs(self):
        """Width of each expert's output (its head)."""
        raise NotImplementedError

    def combine(self, outputs, available=None, weights=None, bias=None, temperature=None):
        """The product of the experts' raw outputs, ``(n, n_outputs)``.

        Parameters
        ----------
        outputs : dict of str to Tensor
            ``(n, n_outputs)`` raw output of each expert.
        available : dict of str to Tensor or None
            ``(n,)`` boolean mask per expert; None: every expert sees every row.
        weights : Tensor or None
            One weight per expert, in the order of ``outputs``.
        bias : Tensor or None
            Added to the combination (classification's class biases).
        temperature : Tensor or None
            The calibration (see :meth:`temper`).
        """
        raise NotImplementedError

    def temper(self, prediction, temperature):
        """A combined prediction with the fitted calibration applied."""
        raise NotImplementedError

    def normalise(self, output):
        """An expert's raw output in the form the product's predictions take."""
        return output

    def average(self, predictions):
        """What an ensemble predicts from its members' ``predictions`` (a list).

        Each is a product's prediction, or an expert's output :meth:`normalise` d.
        """
        raise NotImplementedError

    def terms(self, outputs, available, weights=None):
        """Each expert's additive term in the prediction, or None (see explain)."""
        return None

    #: Whether the log-linear pool (:mod:`sk_i2m2._pool`) fits a bias per output
    #: beside the experts' weights.
    pool_bias = False

    def target_tensor(self, y):
        """The encoded target as the task's loss reads it (float64 here)."""
        return self._as_tensor(y)

    def sklearn_target(self, y):
        """The encoded target as a scikit-learn expert's ``fit`` takes it."""
        return y

    # ------------------------------------------------------------------ calibration

    #: Whether an ensemble's calibration also needs every member's predictions of
    #: the training rows (:meth:`fit_ensemble_calibration`).
    calibrates_on_members = False

    def fit_calibration(self, prediction, y, sample_weight=None, soften_only=True):
        """``(value, loss before, loss after)`` of the calibration on held-out rows."""
        raise NotImplementedError

    def fit_ensemble_calibration(self, out_of_fold, members, y, sample_weight=None):
        """The calibration of a cross-fitted ensemble from its out-of-fold predictions.

        ``members`` holds every member's predictions of the same rows when
        :attr:`calibrates_on_members`, else None. By default, the calibration of the
        out-of-fold predictions, unbounded.
        """
        return self.fit_calibration(out_of_fold, y, sample_weight, soften_only=False)

    #: Whether the task learns something from the fitted model's predictions of
    #: the training rows (:meth:`fit_outputs`; time to event: the baseline hazard).
    learns_from_outputs = False

    def fit_outputs(self, prediction, y, sample_weight=None):
        """Learn from the fitted model's (calibrated) predictions of the training rows."""
        return self

    # ------------------------------------------------------------------ rows

    def max_members(self, y):
        """The most members a cross-fitted ensemble of ``y`` can hold."""
        return len(y)

    def folds(self, n_splits, seed):
        """The cross-validation splitter of a cross-fitted ensemble."""
        raise NotImplementedError

    def holdout(self, y, fraction, seed, purpose, fix):
        """``(train, valid)`` row indices of a held-out ``fraction``.

        ``purpose`` says what holds the rows out and ``fix`` how to do without it,
        for the error raised when ``y`` cannot be split so.
        """
        raise NotImplementedError

    def grouped_folds(self, n_splits, seed):
        """The ensemble's splitter when rows come in groups: each group in one fold.

        Called as ``split(X, y, groups)``; shuffled by ``seed``.
        """
        return GroupKFold(n_splits, shuffle=True, random_state=seed % (2**32))

    def grouped_holdout(self, y, groups, fraction, seed, purpose, fix):
        """``(train, valid)`` row indices of a held-out ``fraction`` of the groups."""
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise ValueError(
                f"{purpose} holds out a validation_fraction of the groups, and the rows "
                f"come in {n_groups} group: give rows of several groups, or {fix}."
            )
        split = GroupShuffleSplit(n_splits=1, test_size=fraction,
                                  random_state=seed % (2**32))
        return next(split.split(np.zeros(len(y)), y, groups))

    @staticmethod
    def n_held_out(fraction, n_samples):
        """How many rows a held-out ``fraction`` of ``n_samples`` holds (as scikit-learn)."""
        return math.ceil(fraction * n_samples)

    # ------------------------------------------------------------------ scikit-learn experts

    def check_sklearn_expert(self, estimator, name):
        """Raise when ``estimator`` is not the kind of scikit-learn expert this task takes."""
        kind = {"classifier": is_classifier, "regressor": is_regressor}[self.estimator_type]
        if not kind(estimator):
            raise TypeError(
                f"Expert {name!r}: {type(estimator).__name__} is not a scikit-learn "
                f"{self.estimator_type}, and this model takes {self.estimator_type}s as "
                f"experts. Give a {self.estimator_type} (e.g. HistGradientBoosting"
                f"{'Classifier' if self.estimator_type == 'classifier' else 'Regressor'})."
            )

    #: The ``"auto"`` candidates this task makes (:meth:`sklearn_candidate`).
    AUTO_CANDIDATES = ("boosting", "linear")

    def sklearn_candidate(self, kind):
        """The scikit-learn estimator of an ``"auto"`` candidate (``"boosting"``, ``"linear"``).

        The candidates read a modality's preprocessed columns (imputed, standardised,
        one-hot encoded), so they need no preprocessing of their own.
        """
        if kind == "boosting":  # missing values (a modality the row lacks) as they are
            return self._boosting_candidate()
        if kind == "linear":
            # A row lacking one of the modalities read has NaN in its columns: 0 there
            # is the training mean of standardised columns, and no category of one-hot
            # ones.
            return make_pipeline(
                SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True),
                self._linear_candidate())
        raise ValueError(f"Unknown candidate {kind!r}; the candidates are "
                         f"{self.AUTO_CANDIDATES}.")

    def _boosting_candidate(self):
        raise NotImplementedError

    def _linear_candidate(self):
        raise NotImplementedError

    def check_cv(self, cv, y):
        """Folds of ``cv`` (an int, a splitter or an iterable) over ``y``, as this task draws them.

        An int gives scikit-learn's unshuffled default for the task's kind
        (stratified for classification); see :meth:`folds` for shuffled ones.
        """
        return check_cv(cv, y, classifier=self.estimator_type == "classifier")

    def sklearn_predict(self, fitted, X):
        """``(n, k)`` predictions of a fitted scikit-learn expert (see :meth:`sklearn_outputs`)."""
        raise NotImplementedError

    def sklearn_noise(self, out_of_fold, y, sample_weight=None):
        """What the out-of-fold predictions tell of the expert's error (None: nothing)."""
        return None

    def sklearn_outputs(self, prediction, noise):
        """``(n, n_outputs)`` float32 outputs of a scikit-learn expert, as the product reads."""
        raise NotImplementedError

    # ------------------------------------------------------------------ inspection

    #: The fitted estimator's method giving each expert's own prediction.
    expert_method = None

    def chance_estimator(self):
        """An unfitted scikit-learn estimator that predicts at chance (priors, the mean)."""
        raise NotImplementedError

    def default_scoring(self, y):
        """The scoring :func:`~sk_i2m2.inspection.dependency_report` uses by default on ``y``."""
        raise NotImplementedError

    def repeated_folds(self, n_splits, n_repeats, random_state):
        """A repeated K-fold splitter of the task's kind (stratified for classification)."""
        raise NotImplementedError

    def experts_alone(self, model, X):
        """``{name: (rows it sees, fitted stand-in)}``: each expert of ``model`` as an estimator.

        Each stand-in returns the expert's own predictions of the rows of ``X`` it
        sees, so any scorer scores an expert as it scores the whole model.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ out of fold

    def out_of_fold(self, held_out, calibration):
        """Recorded attributes of a cross-fitted ensemble's out-of-fold predictions.

        Parameters
        ----------
        held_out : HeldOut
            Every training row's prediction from the member that did not train on
            it, uncalibrated, with the encoded target and the rows' weights.
        calibration : float
            The calibration fitted since (a temperature, a variance scale; 1: none).

        Returns
        -------
        dict
            ``oof_score_`` (the estimator's ``score`` of the out-of-fold
            predictions) and the predictions themselves.
        """
        return {}

    # ------------------------------------------------------------------ explanations

    def attribution_target(self, combined):
        """What an expert's contribution is of, per row of the product's prediction
        ``combined`` (the predicted class), or None."""
        return None

    def attribution_label(self, combined, target):
        """The ``predicted`` column of ``explain(X, by="column")``."""
        raise NotImplementedError

    def contribution(self, module, outputs, available, name, target):
        """Expert ``name``'s contribution to the prediction, differentiable (``explain``).

        Parameters
        ----------
        module : ProductOfExperts or ProductEnsemble
            The fitted module (its expert weights and temperature).
        outputs : list of dict of str to Tensor
            Each member's experts' raw outputs.
        available : list of dict of str to Tensor
            Each member's masks of the rows each expert sees.
        name : str
        target : Tensor or None
            :meth:`attribution_target` of the rows.
        """
        raise NotImplementedError

    @staticmethod
    def _as_tensor(values, dtype=torch.float64):
        return torch.as_tensor(np.asarray(values), dtype=dtype).cpu()
