"""Estimators that return given predictions: an expert scored as a whole model is.

:func:`~sk_i2m2.inspection.dependency_report` scores each expert of a fitted model
on its own; the task wraps the expert's outputs in one of these (see
:meth:`~sk_i2m2._task.Task.experts_alone`), so that any scikit-learn scorer reads
them as it reads the model's.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin


class FixedProbaClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier that returns given probabilities."""

    def __init__(self, proba=None, classes=None):
        self.proba = proba
        self.classes = classes

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict_proba(self, X):
        if len(X) != len(self.proba):
            raise ValueError(f"Holds probabilities for {len(self.proba)} rows, asked for "
                             f"{len(X)}.")
        return self.proba

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class FixedPredictionRegressor(RegressorMixin, BaseEstimator):
    """A fitted regressor that returns given predictions."""

    def __init__(self, prediction=None):
        self.prediction = prediction

    def fit(self, X=None, y=None):
        self.n_features_in_ = 1
        return self

    def predict(self, X):
        if len(X) != len(self.prediction):
            raise ValueError(f"Holds predictions for {len(self.prediction)} rows, asked "
                             f"for {len(X)}.")
        return self.prediction
