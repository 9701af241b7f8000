"""Per-row explanations: how much each expert pushed the product to its prediction.

The product's score of class ``k`` is, up to a constant per row, the sum over the
experts of ``w_e * log q_e(k | x)`` (``w_e = 1`` in I2M2). Subtracting each expert's
mean over the classes changes no prediction and makes each term comparable: the
*contribution* of expert ``e`` to the predicted class ``c`` is

    w_e * (log q_e(c | x) - mean_k log q_e(k | x)),

the evidence, in nats, that the expert gives ``c`` over an average class. The
contributions of a row sum to the combined score's own margin of ``c`` over the
average class, which is never negative. An expert arguing against ``c`` has a negative
contribution. Its *share* is ``|contribution| / sum of |contributions|`` over the
experts of the row, so the shares of a row are in [0, 1] and sum to one.
"""

import numpy as np
import pandas as pd

from ._names import FUSION

COLUMNS = ["sample", "predicted", "probability", "expert", "expert_weight", "log_proba",
           "contribution", "share", "agrees", "fusion_agrees"]


def explain_predictions(expert_log_proba, combined_log_proba, classes, index,
                        weights=None, expert_weights=None):
    """A long table with one row per (sample, expert).

    Parameters
    ----------
    expert_log_proba : dict of str to ndarray of shape (n_samples, n_classes)
        Each expert's log-probabilities; NaN rows where it cannot see the sample.
    combined_log_proba : ndarray of shape (n_samples, n_classes)
        The product's normalised log-probabilities.
    classes : ndarray of shape (n_classes,)
    index : array-like of shape (n_samples,)
        Labels of the samples (the index of ``X``).
    weights : array-like of shape (n_experts,) or None
        Per-expert multipliers of the log-probabilities in the product (the pool's
        weights divided by the temperature), in the order of ``expert_log_proba``.
    expert_weights : array-like of shape (n_experts,) or None
        The pool's weights, as reported (None: all 1).

    Returns
    -------
    DataFrame
        See :meth:`sk_i2m2.I2M2Classifier.explain`.
    """
    names = list(expert_log_proba)
    n_samples = len(combined_log_proba)
    predicted = np.argmax(combined_log_proba, axis=1)
    rows = np.arange(n_samples)
    stacked = np.stack([expert_log_proba[name] for name in names])  # (E, n, C)
    available = ~np.isnan(stacked[:, :, 0])
    centred = stacked - stacked.mean(axis=2, keepdims=True)
    if weights is not None:
        centred = centred * np.asarray(weights, dtype=float)[:, None, None]
    contribution = np.where(available, centred[:, rows, predicted], 0.0)
    magnitude = np.abs(contribution)
    total = magnitude.sum(axis=0)
    # A row where no expert prefers any class (all contributions 0) is split evenly
    # among the experts that see it.
    even = available / np.maximum(available.sum(axis=0), 1)
    share = np.where(total > 0, magnitude / np.where(total > 0, total, 1.0), even)
    own_choice = np.argmax(np.nan_to_num(stacked, nan=-np.inf), axis=2)
    # Whether each expert's own most probable class is the prediction; unknown (NA)
    # where the expert cannot see the sample.
    agrees = np.where(available, own_choice == predicted, None).astype(object)
    agrees[~available] = pd.NA

    n_experts = len(names)
    fusion_agrees = (agrees[names.index(FUSION)] if FUSION in names
                     else np.full(n_samples, pd.NA, dtype=object))
    table = pd.DataFrame({
        "sample": np.tile(np.asarray(index, dtype=object), n_experts),
        "predicted": np.tile(classes[predicted], n_experts),
        "probability": np.tile(np.exp(combined_log_proba[rows, predicted]), n_experts),
        "expert": np.repeat(np.asarray(names, dtype=object), n_samples),
        "expert_weight": np.repeat(np.ones(n_experts) if expert_weights is None
                                   else np.asarray(expert_weights, dtype=float), n_samples),
        "log_proba": stacked[:, rows, predicted].ravel(),
        "contribution": contribution.ravel(),
        "share": share.ravel(),
        "agrees": pd.array(agrees.ravel(), dtype="boolean"),
        "fusion_agrees": pd.array(np.tile(fusion_agrees, n_experts), dtype="boolean"),
    }, columns=COLUMNS)
    # Sample by sample, experts in the module's order: easiest to read per patient.
    order = np.arange(n_experts * n_samples).reshape(n_experts, n_samples).T.ravel()
    return table.iloc[order].reset_index(drop=True)
