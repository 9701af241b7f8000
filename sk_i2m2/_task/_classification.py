"""Classification: a product of categorical experts, trained on the cross-entropy.

    p(y | x, x') ∝ q_x(y | x) · q_x'(y | x') · q_xx'(y | x, x')

Each expert gives logits over the classes; the product's log-probability is the
renormalised sum of the experts' ``log_softmax``. An ensemble predicts the mean of
its members' probabilities; calibration is a temperature dividing the combined
log-probabilities (:mod:`sk_i2m2._calibration`).
"""

import numpy as np
import pandas as pd
import torch
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from .._calibration import fit_temperature
from .._loss import row_weights
from ._base import Task
from ._scoring import FixedProbaClassifier

#: Probabilities of scikit-learn experts are clipped here before the log: a
#: classifier's hard 0 would veto a class for the whole product.
MIN_PROBA = 1e-6


def combine_log_proba(expert_logits, available=None, weights=None, bias=None,
                      temperature=None):
    """Renormalised sum of the log-probabilities of the experts available per row.

    Parameters
    ----------
    expert_logits : dict of str to Tensor
        ``(n, n_classes)`` logits of each expert.
    available : dict of str to Tensor or None
        ``(n,)`` boolean mask per expert; None means every expert sees every row.
    weights : Tensor or None
        One weight per expert, in the order of ``expert_logits`` (I2M2 itself:
        None, every weight 1).
    bias : Tensor or None
        ``(n_classes,)`` added to the sum (I2M2 itself: None).
    temperature : Tensor or None
        Scalar dividing the sum before it is renormalised (``calibrate="temperature"``).

    Returns
    -------
    Tensor
        ``(n, n_classes)`` normalised log-probabilities of the product.
    """
    total = None
    for k, (name, logits) in enumerate(expert_logits.items()):
        log_proba = torch.log_softmax(logits, dim=1)
        if available is not None:
            log_proba = log_proba * available[name].unsqueeze(1)
        if weights is not None:
            log_proba = log_proba * weights[k]
        total = log_proba if total is None else total + log_proba
    if bias is not None:
        total = total + bias
    if temperature is not None:
        total = total / temperature
    return torch.log_softmax(total, dim=1)


def _log_mean_exp(log_values):
    stacked = torch.stack(log_values)
    return torch.logsumexp(stacked, dim=0) - torch.log(
        torch.tensor(float(len(log_values)), dtype=stacked.dtype, device=stacked.device))


class ClassificationTask(Task):
    """Categorical experts; the product's output is ``(n, n_classes)`` log-probabilities.

    Parameters
    ----------
    classes : array-like or None, default=None
        The classes, once known (:meth:`fit_target` sets them).
    """

    estimator_type = "classifier"
    calibration = "temperature"
    criterion = torch.nn.CrossEntropyLoss

    def __init__(self, classes=None):
        self.classes = None if classes is None else np.asarray(classes)

    # ------------------------------------------------------------------ target

    def fit_target(self, y):
        """Check the labels; learn the classes; return their codes ``0 .. n_classes - 1``."""
        y = column_or_1d(y, warn=True)
        unlabelled = np.flatnonzero(pd.isna(y))
        if len(unlabelled):
            raise ValueError(
                f"y has {len(unlabelled)} missing label(s), at rows "
                f"{unlabelled[:10].tolist()}; drop those rows or label them."
            )
        check_classification_targets(y)
        if len(y) < 2:
            raise ValueError(f"n_samples={len(y)}: a classifier needs at least 2 samples.")
        encoder = LabelEncoder()
        y_encoded = encoder.fit_transform(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                f"y has a single class ({encoder.classes_[0]!r}); a classifier needs at "
                "least two. Check the labels or the rows selected."
            )
        self.classes = encoder.classes_
        return y_encoded

    def continue_from(self, previous, y):
        if not np.array_equal(self.classes, previous.classes):
            raise ValueError(
                f"warm_start=True continues a model fitted on classes "
                f"{previous.classes.tolist()}, but y has classes {self.classes.tolist()}. "
                "Give rows of the same classes, or set warm_start=False to fit anew."
            )
        return y

    def row_weights(self, y_encoded, sample_weight=None, class_weight=None):
        """Each row's weight: its class weight times its sample weight (None: all 1)."""
        return row_weights(self.classes[y_encoded], y_encoded, self.classes, class_weight,
                           sample_weight)

    def check_sklearn_expert(self, estimator, name):
        super().check_sklearn_expert(estimator, name)
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(
                f"Expert {name!r}: {type(estimator).__name__} has no predict_proba, and a "
                "classifier's expert gives probabilities. Give a classifier that has it "
                "(e.g. SVC(probability=True)), or wrap it in CalibratedClassifierCV."
            )

    def _boosting_candidate(self):
        return HistGradientBoostingClassifier(random_state=0)

    def _linear_candidate(self):
        return LogisticRegression(max_iter=2000)

    # ------------------------------------------------------------------ inspection

    expert_method = "expert_proba"

    def chance_estimator(self):
        return DummyClassifier(strategy="prior")

    def default_scoring(self, y):
        # "roc_auc" is binary only; one-vs-rest is its usual multiclass reading, and
        # the default should work on any classification target.
        return "roc_auc_ovr" if type_of_target(y) == "multiclass" else "roc_auc"

    def repeated_folds(self, n_splits, n_repeats, random_state):
        return RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                       random_state=random_state)

    def experts_alone(self, model, X):
        experts = {}
        for name, proba in model.expert_proba(X).items():
            # A row whose modality is missing has NaN probabilities under that expert.
            seen = np.flatnonzero(~np.isnan(proba).any(axis=1))
            experts[name] = seen, FixedProbaClassifier(proba[seen], model.classes_).fit()
        return experts

    def out_of_fold(self, held_out, calibration):
        log_proba, y = held_out.prediction, held_out.y
        # Divided by the temperature as the product does.
        oof_proba = torch.softmax((log_proba / calibration).double(), dim=1).numpy()
        return {"oof_proba_": oof_proba,
                "oof_score_": float(np.mean(oof_proba.argmax(axis=1) == y))}

    # ------------------------------------------------------------------ explanations

    def attribution_target(self, combined):
        return combined.argmax(dim=1)

    def attribution_label(self, combined, target):
        return self.classes[target.cpu().numpy()]

    def contribution(self, module, outputs, available, name, target):
        """The expert's evidence for the class ``target``, in nats, as ``explain`` has it."""
        log_proba = torch.stack([torch.log_softmax(member[name], dim=1) for member in outputs])
        mean = torch.logsumexp(log_proba, dim=0) - np.log(len(outputs))
        weight = float(module.term_weights()[list(module.expert_names).index(name)])
        chosen = mean.gather(1, target.view(-1, 1))[:, 0]
        return weight * (chosen - mean.mean(dim=1))

    # ------------------------------------------------------------------ the product

    @property
    def n_outputs(self):
        return len(self.classes)

    def combine(self, outputs, available=None, weights=None, bias=None, temperature=None):
        return combine_log_proba(outputs, available, weights, bias, temperature)

    def temper(self, prediction, temperature):
        return torch.log_softmax(prediction / temperature, dim=1)

    #: No bias per class in the pool: on ten classes and 240 out-of-fold rows, the
    #: biases fitted noise (log loss 0.152 against 0.114 without the pool, 0.108
    #: with weights alone; ``benchmarks/experts.py``).
    pool_bias = False

    def target_tensor(self, y):
        return self._as_tensor(y, torch.long)

    def normalise(self, output):
        """An expert's log-probabilities, from its logits."""
        return torch.log_softmax(output, dim=1)

    def average(self, predictions):
        """Log of the mean of the members' probabilities (``predictions``: normalised)."""
        return _log_mean_exp(predictions)

    # ------------------------------------------------------------------ calibration

    def fit_calibration(self, prediction, y, sample_weight=None, soften_only=True):
        """The temperature (see :func:`~sk_i2m2._calibration.fit_temperature`)."""
        return fit_temperature(prediction, y, sample_weight, soften_only)

    # ------------------------------------------------------------------ rows

    def max_members(self, y):
        # Each member holds out a stratified fold: every class needs a row in each.
        return int(np.bincount(y).min())

    def folds(self, n_splits, seed):
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed % (2**32))

    def grouped_folds(self, n_splits, seed):
        return StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed % (2**32))

    def holdout(self, y, fraction, seed, purpose, fix):
        counts = np.bincount(y)
        if counts.min() < 2:
            raise ValueError(
                f"{purpose} holds out a stratified validation_fraction, which needs at "
                f"least 2 rows of every class; class "
                f"{self.classes.tolist()[counts.argmin()]!r} has 1. "
                f"{fix[0].upper() + fix[1:]}, or gather more rows of that class."
            )
        n_valid = self.n_held_out(fraction, len(y))
        if n_valid < len(self.classes):
            raise ValueError(
                f"{purpose} holds out validation_fraction={fraction} of {len(y)} rows, "
                f"{n_valid} row(s): too few to hold each of the {len(self.classes)} "
                f"classes. Raise validation_fraction, or {fix}."
            )
        return train_test_split(np.arange(len(y)), test_size=fraction, stratify=y,
                                random_state=seed % (2**32))

    # ------------------------------------------------------------------ scikit-learn experts

    def sklearn_predict(self, fitted, X):
        """Probabilities over every class; a class the classifier never saw gets 0."""
        proba = np.zeros((len(X) if hasattr(X, "__len__") else X.shape[0], self.n_outputs))
        if proba.shape[0]:
            proba[:, fitted.classes_] = fitted.predict_proba(X)
        return proba

    def sklearn_outputs(self, prediction, noise):
        """Log-probabilities, clipped at :data:`MIN_PROBA` (NaN rows stay NaN)."""
        with np.errstate(invalid="ignore"):
            return np.log(np.clip(prediction, MIN_PROBA, 1.0)).astype(np.float32)
