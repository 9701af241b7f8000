"""Temperature scaling: one scalar that tempers the product's over-confidence.

A product of experts multiplies probabilities that are each fitted to be confident,
so its own tend to be too close to 0 and 1. Dividing the combined log-probabilities
by a temperature ``T > 1`` softens them without changing any prediction (Guo et al.,
"On Calibration of Modern Neural Networks", ICML 2017). ``T`` minimises the
cross-entropy on rows held out from training.

On a single product's held-out split only softening is allowed (``T >= 1``). A model
that is right on nearly every held-out row makes the cross-entropy fall as ``T``
falls below 1, down to the few errors it happens to hold; the sharpened
probabilities then pay dearly for every error on new rows. The cross-entropy is
convex in ``1 / T``, so the best ``T >= 1`` is the unconstrained best, or 1 when that
is below 1.

A cross-fitted ensemble fits ``T`` on the out-of-fold predictions of every training
row, unbounded. Those come from single members, and the ensemble's mean of its
members' probabilities is softer than any member: a ``T`` fitted on members errs
towards softening the ensemble, and when even the members are under-confident (near
separable classes, e.g. 32 leaf species), ``T < 1`` is fitted. It is no cure for a
row that one expert rules out: sharpening costs more there
(``benchmarks/results/temperature_leaf.txt``).
"""

import torch

from ._loss import weighted_cross_entropy


def fit_temperature(log_proba, y, sample_weight=None, soften_only=True):
    """The temperature minimising the held-out cross-entropy of ``log_proba / T``.

    Parameters
    ----------
    log_proba : Tensor of shape (n_samples, n_classes)
        The product's log-probabilities (any logits, up to a constant per row).
    y : Tensor of shape (n_samples,)
        Encoded labels.
    sample_weight : Tensor of shape (n_samples,) or None
        Per-row weights of the cross-entropy.
    soften_only : bool, default=True
        Fit ``T >= 1`` (see the module docstring for when not to).

    Returns
    -------
    temperature : float
        At least 1 when ``soften_only``.
    log_loss_before, log_loss_after : float
        The (weighted) cross-entropy at ``T = 1`` and at the fitted ``T``.
    """
    log_proba = torch.as_tensor(log_proba, dtype=torch.float64).cpu()
    target = torch.as_tensor(y, dtype=torch.long).cpu()
    weights = (None if sample_weight is None
               else torch.as_tensor(sample_weight, dtype=torch.float64).cpu())
    # Optimised on the log scale, so T stays positive.
    log_temperature = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], max_iter=100,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = weighted_cross_entropy(log_proba / log_temperature.exp(), target, weights)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_temperature.detach().exp())
    if soften_only:
        temperature = max(temperature, 1.0)
    with torch.no_grad():
        before = float(weighted_cross_entropy(log_proba, target, weights))
        after = float(weighted_cross_entropy(log_proba / temperature, target, weights))
    if not after <= before:  # LBFGS never should, but T = 1 is always available
        return 1.0, before, before
    return temperature, before, after
