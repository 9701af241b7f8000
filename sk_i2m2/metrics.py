"""Metrics of probabilistic classifiers that scikit-learn does not have."""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from ._typing import VectorLike

__all__ = ["expected_calibration_error"]


def expected_calibration_error(y_true: VectorLike, y_proba: np.ndarray, classes: VectorLike,
                               n_bins: int = 15) -> float:
    """Top-label expected calibration error (ECE).

    The predictions are grouped by confidence (the largest probability of each row)
    into ``n_bins`` equal-width bins; the ECE is the mean over rows of
    ``|accuracy - mean confidence|`` of their bin. 0 is perfectly calibrated.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        The labels of the columns (a classifier's ``classes_``).
    n_bins : int, default=15
        Number of confidence bins over [0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> from sk_i2m2.metrics import expected_calibration_error
    >>> expected_calibration_error([0, 1], [[0.9, 0.1], [0.9, 0.1]], classes=[0, 1])
    0.4
    """
    y_true = column_or_1d(y_true)
    y_proba = check_array(y_proba)
    classes = np.asarray(classes)
    check_consistent_length(y_true, y_proba)
    if y_proba.shape[1] != len(classes):
        raise ValueError(f"y_proba has {y_proba.shape[1]} columns for {len(classes)} "
                         "classes.")
    confidence = y_proba.max(axis=1)
    correct = classes[y_proba.argmax(axis=1)] == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return float(sum(np.mean(bins == b) * abs(correct[bins == b].mean()
                                              - confidence[bins == b].mean())
                     for b in np.unique(bins)))
