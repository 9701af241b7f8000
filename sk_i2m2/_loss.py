"""The one weighted cross-entropy: every loss of the package is a weighted mean.

Training (both stages), early stopping's validation loss, the temperature fit and the
learnt expert weights all minimise ``sum_i w_i * loss_i / sum_i w_i``, as torch's
``CrossEntropyLoss(weight=...)`` averages. The row weights ``w`` are the user's
``sample_weight`` times the class weight of each row's label, folded together once,
at ``fit`` (:func:`row_weights`), as scikit-learn's HistGradientBoosting does.

To train on another loss, give the net a criterion that returns one loss per row
(``reduction="none"``); the weighting stays here.
"""

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight


def weighted_mean(losses, weights):
    """``sum(w * loss) / sum(w)``; rows of weight 0 do not count.

    Parameters
    ----------
    losses : Tensor of shape (n,)
    weights : Tensor of shape (n,) or None
        None weighs every row alike.
    """
    if weights is None:
        return losses.mean()
    weights = weights.to(losses.dtype)
    # A batch in which no row counts (all weights 0) has loss 0, not NaN.
    return (losses * weights).sum() / weights.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def row_losses(criterion, prediction, target, weights=None):
    """One loss per row of ``criterion``, whose :func:`weighted_mean` is the loss.

    A criterion whose rows' losses depend on the other rows and their weights (the
    Cox partial likelihood: a row's risk set) says so with ``weighs_rows = True``
    and is given the weights.
    """
    if getattr(criterion, "weighs_rows", False):
        return criterion(prediction, target, weights)
    return criterion(prediction, target)


def weighted_cross_entropy(logits, target, weights=None):
    """The weighted mean of the rows' cross-entropies of ``softmax(logits)``."""
    losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    return weighted_mean(losses, weights)


def row_weights(y, y_encoded, classes, class_weight=None, sample_weight=None):
    """Each row's weight in every loss: its class weight times its sample weight.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        The labels as given.
    y_encoded : ndarray of int of shape (n_samples,)
        Their positions in ``classes``.
    classes : ndarray of shape (n_classes,)
    class_weight : "balanced", dict or None
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    ndarray of float32, or None when every row weighs 1.
    """
    if class_weight is None and sample_weight is None:
        return None
    weights = np.ones(len(y))
    if class_weight is not None:
        weights = compute_class_weight(class_weight, classes=classes, y=y)[y_encoded]
    if sample_weight is not None:
        weights = weights * sample_weight
    return weights.astype(np.float32)
