"""Metrics that scikit-learn does not have: the calibration error of probabilistic
classifiers, and the concordance index of time-to-event (survival) predictions."""

import numpy as np
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    column_or_1d,
)

from ._typing import VectorLike

__all__ = ["concordance_index", "expected_calibration_error"]

#: Risk scores this close (absolute difference) count as tied, as in scikit-survival.
_TIED_RISK_TOL = 1e-8
#: Pairs compared at once by :func:`concordance_index` (bounds its memory: a few
#: arrays of this many elements).
_PAIRS_PER_BLOCK = 2**20


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


def concordance_index(y_true: np.ndarray, risk_score: VectorLike,
                      sample_weight: VectorLike | None = None) -> float:
    """Harrell's concordance index of risk scores against censored times to event.

    A pair of rows ``(i, j)`` is *comparable* when the row with the shorter time had
    the event: ``event[i]`` and either ``time[i] < time[j]``, or ``time[i] == time[j]``
    and row ``j`` was censored (a censored row is known to outlive an event at the
    same time; two events at the same time are not comparable, nor are two censored
    rows). A comparable pair is *concordant* when the row with the event has the
    higher risk (``risk_score[i] > risk_score[j]``), and counts 0.5 when the risks
    are tied (within ``1e-8`` of each other). The index is the concordant share of
    the comparable pairs: 1 orders every pair right, 0.5 is chance.

    This is ``sksurv.metrics.concordance_index_censored(event, time,
    risk_score)[0]`` (same comparable pairs, same ties), computed with numpy only:
    scikit-survival is not needed. It compares pairs block by block, in bounded
    memory; the time grows with the number of events times the number of rows.

    Parameters
    ----------
    y_true : structured ndarray of shape (n_samples,)
        The observed outcome, in scikit-survival's form: a boolean event field (True:
        the event happened at that time; False: censored then) then a numeric time
        field, in that order, any names. Build it with
        ``sksurv.util.Surv.from_arrays(event=..., time=...)`` or
        ``np.array(list(zip(event, time)), dtype=[('event', bool), ('time', float)])``.
    risk_score : array-like of shape (n_samples,)
        Predicted risk: higher means an earlier event (a log-risk, a log hazard ratio,
        minus a predicted time, ...).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative row weights. Each comparable pair is weighted by the weight of
        its row with the event (the earlier row ``i``), in both the count of
        concordant pairs and the count of comparable pairs, as scikit-survival
        weighs pairs in its inverse-probability-of-censoring weighted estimator.
        None weighs every pair 1.

    Returns
    -------
    float
        The concordance index, in [0, 1].

    Raises
    ------
    ValueError
        If ``y_true`` is not such a structured array, holds a time that is negative
        or not finite, or no event; if ``risk_score`` is not finite or not of the
        same length; or if there is no comparable pair (or, with ``sample_weight``,
        all comparable pairs weigh 0): the index is then undefined. (scikit-survival
        raises there too, except when every event ties in time with every row not
        before it, where it returns NaN.)

    See Also
    --------
    sksurv.metrics.concordance_index_censored : The same index in scikit-survival.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_i2m2.metrics import concordance_index
    >>> y = np.array([(True, 1.0), (False, 2.0), (True, 3.0), (True, 4.0)],
    ...              dtype=[("event", bool), ("time", float)])
    >>> concordance_index(y, [4.0, 3.0, 1.0, 2.0])
    0.75
    """
    # Imported here: importing sk_i2m2._task runs its __init__, whose survival task
    # imports this module back.
    from ._task._survival_target import check_survival_target

    event, time = check_survival_target(y_true, input_name="y_true")
    risk = column_or_1d(check_array(risk_score, ensure_2d=False, dtype=np.float64,
                                    input_name="risk_score"))
    check_consistent_length(time, risk)
    weight = (None if sample_weight is None
              else _check_sample_weight(sample_weight, risk, ensure_non_negative=True))

    # Sorted by time, the rows comparable to an event are all at or after its own
    # time: each block of events is compared with the rows from its earliest time on.
    order = np.argsort(time, kind="stable")
    time, event, risk = time[order], event[order], risk[order]
    weight = None if weight is None else weight[order]
    events = np.flatnonzero(event)
    n_rows = len(time)
    step = max(1, _PAIRS_PER_BLOCK // n_rows)
    n_comparable = n_concordant = n_tied = 0
    numerator = denominator = 0.0
    for start in range(0, len(events), step):
        rows = events[start:start + step]
        first = np.searchsorted(time, time[rows[0]], side="left")
        time_i, risk_i = time[rows, None], risk[rows, None]
        time_j, event_j, risk_j = time[first:], event[first:], risk[first:]
        comparable = (time_j > time_i) | ((time_j == time_i) & ~event_j)
        tied = np.abs(risk_j - risk_i) <= _TIED_RISK_TOL
        concordant = comparable & (risk_j < risk_i) & ~tied
        tied &= comparable
        if weight is None:
            n_comparable += int(comparable.sum())
            n_concordant += int(concordant.sum())
            n_tied += int(tied.sum())
        else:
            w = weight[rows]
            numerator += float(w @ (concordant.sum(axis=1) + 0.5 * tied.sum(axis=1)))
            denominator += float(w @ comparable.sum(axis=1))
            n_comparable += int(comparable.sum())
    if n_comparable == 0:
        raise ValueError(
            "y_true has no comparable pair (a pair whose shorter time is an event, the "
            "other row's time longer, or equal and censored): the concordance index is "
            f"undefined ({int(event.sum())} events among {n_rows} rows).")
    if weight is None:
        return (n_concordant + 0.5 * n_tied) / n_comparable
    if denominator == 0:
        raise ValueError("Every comparable pair of y_true has weight 0 (the weight of its "
                         "row with the event): the concordance index is undefined.")
    return numerator / denominator
