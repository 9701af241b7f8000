"""Fixed experts: scikit-learn classifiers whose log-probabilities enter the product.

A fixed expert is fitted before the neural experts train. For the training rows its
log-probabilities are out-of-fold (cross-fitted), for prediction it is refitted on all
training rows. A modality's fixed expert reads that modality's raw columns; a fixed
fusion expert reads every modality's preprocessed columns side by side.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_predict
from sklearn.utils.validation import has_fit_parameter

from ._module import FIXED, FUSION
from .experts import SklearnExpert, _is_classifier

#: Probabilities are clipped here before the log: a classifier's hard 0 would veto a
#: class for the whole product.
MIN_PROBA = 1e-6


def fixed_expert_specs(splitter, dependencies, fusion):
    """``{name: SklearnExpert}`` of the experts that are fitted, not trained."""
    specs = {}
    if dependencies in ("intra", "both"):
        specs = {name: expert for name, expert, _ in splitter.modalities_
                 if isinstance(expert, SklearnExpert)}
    if dependencies in ("inter", "both") and _is_classifier(fusion):
        specs[FUSION] = SklearnExpert(fusion)
    return specs


def _fusion_features(modalities):
    """Every modality's preprocessed columns side by side (NaN where a row lacks one)."""
    # Images read from files are read in full here: a classifier needs them all.
    return np.hstack([np.asarray(values).reshape(len(values), -1)
                      for values in modalities.values()])


def _full_log_proba(proba, classes, n_classes, n_rows, rows):
    """Log-probabilities over all classes, for ``rows`` of ``n_rows``; NaN elsewhere."""
    full = np.full((n_rows, n_classes), MIN_PROBA)
    full[np.ix_(rows, classes)] = np.clip(proba, MIN_PROBA, 1.0)
    log_proba = np.log(full)
    log_proba[np.setdiff1d(np.arange(n_rows), rows)] = np.nan
    return log_proba.astype(np.float32)


def _raw_blocks(names, splitter, X):
    """Raw columns of the fixed modality experts, X checked once for all of them."""
    modality_names = [name for name in names if name != FUSION]
    return splitter.raw_columns(X, modality_names) if modality_names else {}


def _inputs(name, blocks, modalities):
    """What a fixed expert reads, and the rows where it can read it."""
    if name == FUSION:
        features = _fusion_features(modalities)
        rows = np.flatnonzero(~np.isnan(features).all(axis=1))
        return features[rows], rows
    block, missing = blocks[name]
    rows = np.flatnonzero(~missing)
    return (block.iloc[rows] if hasattr(block, "iloc") else block[rows]), rows


def _weight_params(name, estimator, sample_weight, rows):
    """``{"sample_weight": ...}`` for the rows, when there are weights to pass."""
    if sample_weight is None:
        return {}
    if not has_fit_parameter(estimator, "sample_weight"):
        raise ValueError(
            f"Expert {name!r}: {type(estimator).__name__}.fit takes no sample_weight. "
            "Use a classifier that does, or fit without sample_weight."
        )
    return {"sample_weight": sample_weight[rows]}


def fit_fixed_experts(specs, splitter, X, modalities, y, n_classes, seed,
                      sample_weight=None):
    """Cross-fit and refit every fixed expert.

    ``sample_weight`` (one weight per row, or None) is passed to every classifier's
    ``fit``.

    Returns
    -------
    fitted : dict of str to classifier
        Each expert refitted on every training row that holds its modality.
    log_proba : dict of str to ndarray
        ``{"<name>__log_proba": (n, n_classes)}`` out-of-fold log-probabilities.
    """
    fitted, log_proba = {}, {}
    blocks = _raw_blocks(specs, splitter, X)
    for name, spec in specs.items():
        features, rows = _inputs(name, blocks, modalities)
        target = y[rows]
        cv = spec.cv
        if isinstance(cv, Integral):
            # Stratified and shuffled: cross_val_predict's default would not shuffle.
            cv = StratifiedKFold(cv, shuffle=True, random_state=seed % (2**32))
        cv = check_cv(cv, target, classifier=True)
        params = _weight_params(name, spec.estimator, sample_weight, rows)
        try:
            proba = cross_val_predict(clone(spec.estimator), features, target, cv=cv,
                                      method="predict_proba", n_jobs=spec.n_jobs,
                                      params=params)
        except ValueError as error:
            raise ValueError(f"Expert {name!r}: cross-fitting failed: {error}") from error
        log_proba[name + FIXED] = _full_log_proba(proba, np.unique(target), n_classes,
                                                  len(y), rows)
        fitted[name] = clone(spec.estimator).fit(features, target, **params)
    return fitted, log_proba


def predict_fixed_log_proba(fitted, splitter, X, modalities, n_classes):
    """``{"<name>__log_proba": (n, n_classes)}`` from the refitted fixed experts."""
    n_rows = len(next(iter(modalities.values())))
    log_proba = {}
    blocks = _raw_blocks(fitted, splitter, X)
    for name, estimator in fitted.items():
        features, rows = _inputs(name, blocks, modalities)
        proba = estimator.predict_proba(features) if len(rows) else np.empty((0, 0))
        log_proba[name + FIXED] = _full_log_proba(proba, estimator.classes_, n_classes,
                                                  n_rows, rows)
    return log_proba


def learn_expert_weights(log_proba, y, n_classes, sample_weight=None):
    """Per-expert weights and class biases of a weighted product of fixed experts.

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
    row_weights = (torch.ones(len(target), dtype=stacked.dtype) if sample_weight is None
                   else torch.as_tensor(sample_weight, dtype=stacked.dtype))
    weights = torch.ones(stacked.shape[1], dtype=stacked.dtype, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=stacked.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], max_iter=200,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = (stacked * weights[None, :, None]).sum(dim=1) + bias
        losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        loss = (losses * row_weights).sum() / row_weights.sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach(), bias.detach()
