"""The log-linear pool: the product of experts with one weight per factor.

    p(y | x) ∝ Π_k q_k(y | x) ** w_k,    w_k >= 0

I2M2's product is every ``w_k = 1``. The weights are fitted on the
experts' outputs for rows that no factor trained on: the out-of-fold rows of a
cross-fitted ensemble (every training row), the held-out rows of a single product,
or the out-of-fold outputs of cross-fitted scikit-learn experts. So a factor that
only adds noise is turned down, and two factors that read the same evidence (two
experts of one modality) share it rather than count it twice.

How weights enter is the task's :meth:`~sk_i2m2._task.Task.combine`: a
classification weight multiplies an expert's log-probabilities; a Gaussian weight
multiplies an expert's precision. A task may add a bias per output
(``Task.pool_bias``); neither does: a bias per class fitted noise on ten classes.
The fit minimises the task's own loss of the combined
prediction (the cross-entropy, the Gaussian negative log-likelihood), weighted by
the rows' weights, plus a shrinkage of the weights towards the product as trained,
by L-BFGS-B from that product, the weights bounded below by zero. It is convex for
classification (a ridge-penalised multinomial logistic regression on the experts'
log-probabilities).
"""

import numpy as np
import torch
from scipy.optimize import minimize

from ._loss import row_losses, weighted_mean

__all__ = ["fit_pool"]


def _as_tensors(outputs, available):
    outputs = {name: torch.nan_to_num(torch.as_tensor(value, dtype=torch.float64), nan=0.0)
               for name, value in outputs.items()}
    available = {name: torch.as_tensor(available[name], dtype=torch.bool) for name in outputs}
    return outputs, available


def pool_loss(task, outputs, available, y, sample_weight, weights, bias=None):
    """The weighted mean loss of the pool with ``weights`` (and ``bias``): a tensor."""
    combined = task.combine(outputs, available, weights=weights, bias=bias)
    row_weights = None if sample_weight is None else torch.as_tensor(sample_weight)
    losses = row_losses(task.criterion(reduction="none"), combined, task.target_tensor(y),
                        row_weights)
    return weighted_mean(losses, row_weights)


#: The pool's shrinkage of the weights towards the product as trained (see
#: :func:`fit_pool`): ``SHRINKAGE / (2 n)`` times the squared distance, over ``n``
#: held-out rows, a prior worth ten rows. Chosen on the benchmark suite
#: (``benchmarks/experts.py``): on 126 rows, unshrunk weights fitted noise; from
#: 300 rows, 3, 10 or 30 made no difference that the folds could tell.
SHRINKAGE = 10.0


def fit_pool(task, outputs, available, y, sample_weight=None, start=None,
             shrinkage=SHRINKAGE):
    """Non-negative weights (and biases) of the pool, fitted on held-out outputs.

    Parameters
    ----------
    task : Task
        The fitted task: how outputs combine, and the loss.
    outputs : dict of str to array-like of shape (n_samples, n_outputs)
        Each expert's outputs (logits, or a Gaussian's mean and log-variance) for
        rows it did not train on, in the product's expert order; anything (NaN
        included) where it cannot see the row.
    available : dict of str to array-like of shape (n_samples,)
        Which rows each expert sees.
    y : ndarray
        The encoded target of those rows.
    sample_weight : ndarray of shape (n_samples,) or None
        Each row's weight in the loss.
    start : array-like of shape (n_experts,) or None
        The weights the product trained with (None: all 1, I2M2's product): where
        the search starts, and what the weights are shrunk towards.
    shrinkage : float, default=SHRINKAGE
        Adds ``shrinkage / (2 n) * sum((w - start) ** 2)`` to the mean loss over the
        ``n`` rows: a prior that the product as trained is right, worth
        ``shrinkage`` rows, so that few rows cannot move the weights far.

    Returns
    -------
    weights : ndarray of shape (n_experts,)
        One weight per expert, ``>= 0``, in the order of ``outputs``.
    bias : ndarray of shape (n_outputs,) or None
        The classification pool's bias per class; None for a task without one.
    """
    outputs, available = _as_tensors(outputs, available)
    n_experts = len(outputs)
    n_bias = task.n_outputs if task.pool_bias else 0

    def split(theta):
        theta = torch.as_tensor(theta, dtype=torch.float64).requires_grad_(True)
        return theta, theta[:n_experts], (theta[n_experts:] if n_bias else None)

    prior = torch.ones(n_experts, dtype=torch.float64) if start is None else (
        torch.as_tensor(np.asarray(start, dtype=np.float64)))
    penalty = shrinkage / (2 * max(len(y), 1))

    def loss_and_gradient(theta):
        theta, weights, bias = split(theta)
        loss = pool_loss(task, outputs, available, y, sample_weight, weights, bias)
        loss = loss + penalty * ((weights - prior) ** 2).sum()
        loss.backward()
        return float(loss.detach()), theta.grad.numpy().copy()

    start = np.concatenate([prior.numpy(), np.zeros(n_bias)])
    bounds = [(0.0, None)] * n_experts + [(None, None)] * n_bias
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 500})
    theta = result.x if np.all(np.isfinite(result.x)) else start
    # The product as trained is a valid answer too: keep whichever is better, so
    # that a failed search never leaves the pool worse than where it started.
    if loss_and_gradient(theta)[0] > loss_and_gradient(start)[0]:
        theta = start
    weights = np.maximum(theta[:n_experts], 0.0)
    return weights, (theta[n_experts:].copy() if n_bias else None)
