"""Time to event: a product of hazards, trained on the Cox partial likelihood.

Each expert ``e`` gives a log-risk ``eta_e(x)`` (its head has one output). Hazards
that multiply make one proportional-hazards model::

    h(t | x) = h0(t) * exp(sum_e w_e * eta_e(x)),

so the product's log-risk is the (pool-weighted) sum of the experts' log-risks of the
experts that see the row, as I2M2's logits add for classes. Training minimises the
negative Cox partial log-likelihood of that sum, per event, with Efron's handling of
tied event times (Breslow's as an option), over each batch's own risk sets.

After training, the Breslow estimator of the baseline cumulative hazard ``H0`` is
fitted on the training rows' log-risks (out of fold for a cross-fitted ensemble), so
that survival curves ``S(t | x) = exp(-H0(t) exp(eta(x)))`` follow. An ensemble
averages its members' log-risks; calibration divides the log-risk by a temperature
fitted on held-out partial likelihood.

The encoded target is a float array of shape ``(n, 2)``: the time, then the event
(1.0) or censoring (0.0). Folds and held-out splits are stratified on the event.
"""

import functools
from numbers import Integral

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    check_cv,
    train_test_split,
)

from .._loss import row_losses, weighted_mean
from ..metrics import concordance_index
from ._base import Task
from ._scoring import FixedPredictionRegressor
from ._survival_target import SURVIVAL_TARGET_HINT, check_survival_target, survival_target

TIES = ("efron", "breslow")


def _event_of(y):
    """The event indicator of a structured survival ``y`` or of the encoded ``(n, 2)``."""
    y = np.asarray(y)
    if y.dtype.names:
        return np.asarray(y[y.dtype.names[0]], dtype=bool)
    return np.asarray(y[:, 1], dtype=bool)


def _decoded(y):
    """The encoded ``(n, 2)`` time and event back as a survival ``y``."""
    y = np.asarray(y)
    return survival_target(y[:, 1] > 0.5, y[:, 0])


def cox_row_losses(log_risk, time, event, weights=None, ties="efron"):
    """Per-row losses whose weighted mean is the negative Cox partial log-likelihood.

    With row weights ``w``, the loss is ``sum_i w_i d_i l_i / sum_i w_i d_i`` (``d_i``
    the event indicator, ``l_i = A(t_i) - eta_i``), where ``A(t)`` is the log of the
    risk set's weighted sum of ``exp(eta)`` at ``t`` (Breslow) or, for ``d`` tied
    events, the mean over ``r = 0 .. d-1`` of ``log(D - r/d * E)`` with ``E`` their
    own sum (Efron; weighted as statsmodels does). Row ``i`` gets
    ``d_i * l_i * sum(w) / sum(w * d)`` so that the caller's weighted mean
    (:func:`~sk_i2m2._loss.weighted_mean`) is that loss. Rows of weight 0 are in no
    risk set; without any (weighted) event the loss is 0, with a zero gradient.

    Parameters
    ----------
    log_risk : Tensor of shape (n,)
    time, event : Tensor of shape (n,)
    weights : Tensor of shape (n,) or None
    ties : {"efron", "breslow"}
    """
    dtype = log_risk.dtype
    weights = (torch.ones_like(log_risk) if weights is None
               else weights.to(device=log_risk.device, dtype=dtype))
    event = event.to(dtype)
    weighted_events = (weights * event).sum()
    if float(weighted_events) <= 0:
        return log_risk * 0.0
    order = torch.argsort(time, descending=True, stable=True)
    t, eta, w, d = time[order], log_risk[order], weights[order], event[order]
    d = d * (w > 0)  # an event of weight 0 is in no risk set and counts for nothing
    shift = eta.detach().max()
    risk = w * torch.exp(eta - shift)
    _, group, counts = torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0) - 1
    # Every row whose time is >= the group's (clamped: a group of rows of weight 0
    # alone has an empty risk set, and no event that counts).
    at_risk = torch.cumsum(risk, 0)[ends].clamp_min(torch.finfo(dtype).tiny)
    if ties == "breslow":
        log_denominator = torch.log(at_risk)
    else:
        n_groups = len(counts)
        tied = torch.zeros(n_groups, dtype=dtype, device=eta.device).index_add(0, group, d)
        tied_risk = torch.zeros(n_groups, dtype=dtype, device=eta.device).index_add(
            0, group, risk * d)
        steps = torch.arange(int(tied.max()), dtype=dtype, device=eta.device)
        fraction = steps.unsqueeze(0) / tied.clamp_min(1.0).unsqueeze(1)
        counted = steps.unsqueeze(0) < tied.unsqueeze(1)
        terms = torch.log((at_risk.unsqueeze(1) - fraction * tied_risk.unsqueeze(1))
                          .clamp_min(torch.finfo(dtype).tiny))
        log_denominator = torch.where(
            tied > 1, (terms * counted).sum(dim=1) / tied.clamp_min(1.0), torch.log(at_risk))
    row_loss = d * (log_denominator[group] + shift - eta)
    scaled = torch.empty_like(row_loss).index_copy(0, order, row_loss)
    return scaled * (weights.sum() / weighted_events)


class CoxPartialLikelihoodLoss(torch.nn.Module):
    """The negative Cox partial log-likelihood of ``(n, 1)`` log-risks, per event.

    Called as ``loss(prediction, target, weights)`` with ``target`` the encoded
    ``(n, 2)`` time and event; the row weights enter the risk sets, so it takes
    them (``weighs_rows``).

    Parameters
    ----------
    reduction : {"none", "mean"}, default="mean"
        ``"none"``: one loss per row (see :func:`cox_row_losses`).
    ties : {"efron", "breslow"}, default="efron"
    """

    weighs_rows = True
    #: A batch of one row has no other row at risk: it would train nothing, so a
    #: last batch of one row joins the batch before it.
    min_batch_rows = 2

    def __init__(self, reduction="mean", ties="efron"):
        super().__init__()
        self.reduction = reduction
        self.ties = ties

    def forward(self, prediction, target, weights=None):
        target = target.to(prediction.device)
        losses = cox_row_losses(prediction[:, 0], target[:, 0], target[:, 1], weights,
                                self.ties)
        if self.reduction == "none":
            return losses
        if weights is None:
            return losses.mean()
        weights = weights.to(losses.dtype)
        return (losses * weights).sum() / weights.sum()


class StepFunction:
    """A right-continuous step function of time: ``f(t)`` is ``y`` at the last ``x <= t``.

    As scikit-survival's: callable on times, with the steps in ``x`` and ``y``.

    Parameters
    ----------
    x : ndarray of shape (n_times,)
        The times where the function steps, increasing.
    y : ndarray of shape (n_times,)
        Its value from each of them on.
    value_before : float
        The value before ``x[0]`` (0 for a cumulative hazard, 1 for a survival).
    """

    def __init__(self, x, y, value_before):
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.value_before = float(value_before)

    def __call__(self, t):
        t = np.asarray(t, dtype=np.float64)
        index = np.searchsorted(self.x, t, side="right") - 1
        values = np.where(index >= 0, self.y[np.clip(index, 0, None)], self.value_before)
        return values if values.ndim else float(values)

    def __repr__(self):
        return f"StepFunction(x={self.x!r}, y={self.y!r})"


def concordance_scorer(estimator, X, y):
    """Harrell's concordance of ``estimator.predict(X)`` (log-risks) with ``y``."""
    return concordance_index(y, estimator.predict(X))


class _ConstantRisk(BaseEstimator):
    """Chance: the same risk for every row (a concordance of 0.5)."""

    def fit(self, X=None, y=None):
        self.n_features_in_ = 1
        return self

    def predict(self, X):
        return np.zeros(len(X))


class _OnEvent:
    """A splitter that stratifies ``splitter`` on the event of a survival target."""

    def __init__(self, splitter):
        self.splitter = splitter

    def split(self, X, y=None, groups=None):
        return self.splitter.split(X, _event_of(y), groups)

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.splitter.get_n_splits(X, None if y is None else _event_of(y), groups)


class CoxTask(Task):
    """Log-risk experts; the product's output is the ``(n, 1)`` summed log-risk.

    Parameters
    ----------
    ties : {"efron", "breslow"}, default="efron"
        How tied event times enter the partial likelihood.
    event_times, cumulative_hazard : ndarray or None, default=None
        The Breslow baseline: the training rows' distinct times (as
        scikit-survival's ``unique_times_``) and the baseline cumulative hazard
        there, once fitted (:meth:`fit_outputs`).
    """

    estimator_type = "survival"
    calibration = "temperature"
    #: scikit-survival's estimators whose ``predict`` is a log-risk (a linear
    #: predictor of a proportional-hazards model): the ones that may be experts.
    SKLEARN_EXPERTS = ("CoxPHSurvivalAnalysis", "CoxnetSurvivalAnalysis",
                       "GradientBoostingSurvivalAnalysis",
                       "ComponentwiseGradientBoostingSurvivalAnalysis")
    #: No scikit-learn candidate serves time to event without scikit-survival, which
    #: ``fit`` must not need: the ``"auto"`` experts are the networks alone.
    AUTO_CANDIDATES = ()
    expert_method = "expert_predict"

    def __init__(self, ties="efron", event_times=None, cumulative_hazard=None):
        self.ties = ties
        self.event_times = event_times
        self.cumulative_hazard = cumulative_hazard

    @property
    def criterion(self):
        return functools.partial(CoxPartialLikelihoodLoss, ties=self.ties)

    # ------------------------------------------------------------------ target

    def fit_target(self, y):
        """Check a survival ``y``; return it as an ``(n, 2)`` float32 time and event."""
        if y is None:
            raise ValueError(
                "This estimator requires y to be passed, but the target y is None: give "
                f"the events and times, {SURVIVAL_TARGET_HINT}.")
        event, time = check_survival_target(y)
        if len(time) < 2:
            raise ValueError(f"n_samples={len(time)}: time to event needs at least 2 rows.")
        return np.column_stack([time, event]).astype(np.float32)

    def target_tensor(self, y):
        return self._as_tensor(y)

    def sklearn_target(self, y):
        return _decoded(y)

    # ------------------------------------------------------------------ the product

    @property
    def n_outputs(self):
        return 1

    def combine(self, outputs, available=None, weights=None, bias=None, temperature=None):
        """The summed log-risk of the experts that see each row, ``(n, 1)``."""
        total = None
        for k, (name, log_risk) in enumerate(outputs.items()):
            term = log_risk
            if available is not None:
                # Rows an expert cannot see may hold anything (even NaN): masked out.
                term = torch.where(available[name].unsqueeze(1), term, 0.0)
            if weights is not None:
                term = term * weights[k]
            total = term if total is None else total + term
        return total if temperature is None else self.temper(total, temperature)

    def temper(self, prediction, temperature):
        return prediction / temperature

    def average(self, predictions):
        """The mean of the members' log-risks (the geometric mean of their hazards)."""
        return torch.stack(list(predictions)).mean(dim=0)

    def terms(self, outputs, available, weights=None):
        """Each expert's term of the summed log-risk, ``{name: (n, 1)}``."""
        result = {}
        for k, (name, log_risk) in enumerate(outputs.items()):
            term = torch.where(available[name].unsqueeze(1), log_risk, 0.0)
            result[name] = term if weights is None else term * weights[k]
        return result

    # ------------------------------------------------------------------ calibration

    def _loss(self, prediction, y, sample_weight):
        """The task's loss of a prediction of rows ``y``, a float."""
        target = self.target_tensor(y)
        weights = None if sample_weight is None else self._as_tensor(sample_weight)
        prediction = self._as_tensor(prediction).reshape(len(target), -1)
        losses = row_losses(self.criterion(reduction="none"), prediction, target, weights)
        return float(weighted_mean(losses, weights))

    def fit_calibration(self, prediction, y, sample_weight=None, soften_only=True):
        """The temperature ``T`` dividing the output, minimising the held-out loss.

        On a single product's held-out rows only softening is fitted (``T >= 1``).
        """
        before = self._loss(prediction, y, sample_weight)
        low = 0.0 if soften_only else np.log(0.05)
        result = minimize_scalar(
            lambda log_t: self._loss(self._as_tensor(prediction) / np.exp(log_t), y,
                                     sample_weight),
            bounds=(low, np.log(20.0)), method="bounded")
        temperature = float(np.exp(result.x))
        after = self._loss(self._as_tensor(prediction) / temperature, y, sample_weight)
        if after > before:
            return 1.0, before, before
        return temperature, before, after

    # ------------------------------------------------------------------ the baseline

    #: The baseline hazard is learnt from the fitted model's log-risks of the
    #: training rows (:meth:`fit_outputs`).
    learns_from_outputs = True

    def fit_outputs(self, prediction, y, sample_weight=None):
        """Fit the Breslow baseline cumulative hazard on the training rows' log-risks."""
        y = np.asarray(y, dtype=np.float64)
        time, event = y[:, 0], y[:, 1] > 0.5
        weights = (np.ones(len(time)) if sample_weight is None
                   else np.asarray(sample_weight, np.float64))
        log_risk = np.asarray(prediction, np.float64).reshape(-1)
        shift = log_risk.max()
        risk = weights * np.exp(log_risk - shift)
        # Every distinct time of the rows that count (scikit-survival's steps, flat
        # at censoring times): the events' weight there over the risk set's risk.
        times = np.unique(time[weights > 0])
        order = np.argsort(time, kind="stable")
        # Summed risk of the rows whose time is >= each time: a reversed cumulative
        # sum over the sorted rows, read where each time starts.
        tail = np.cumsum(risk[order][::-1])[::-1]
        at_risk = tail[np.searchsorted(time[order], times, side="left")]
        deaths = np.bincount(np.searchsorted(times, time[event & (weights > 0)]),
                             weights=weights[event & (weights > 0)], minlength=len(times))
        self.event_times = times
        self.cumulative_hazard = np.cumsum(deaths / np.maximum(at_risk, 1e-300)) * np.exp(-shift)
        return self

    def risk_score(self, prediction):
        """``(n,)`` risk scores of the product's predictions (higher: an earlier event)."""
        return np.asarray(prediction, np.float64).reshape(len(prediction), -1)[:, 0]

    def additive_score(self, prediction):
        """``(n,)``: what the experts' terms add up to (``explain``); the log-risk."""
        return self.risk_score(prediction)

    def cumulative_hazard_functions(self, prediction):
        """One :class:`StepFunction` of ``H(t | x) = H0(t) exp(eta)`` per row."""
        return [StepFunction(self.event_times, self.cumulative_hazard * np.exp(value), 0.0)
                for value in self.risk_score(prediction)]

    def survival_functions(self, prediction):
        """One :class:`StepFunction` of ``S(t | x) = exp(-H(t | x))`` per row."""
        return [StepFunction(self.event_times,
                             np.exp(-self.cumulative_hazard * np.exp(value)), 1.0)
                for value in self.risk_score(prediction)]

    # ------------------------------------------------------------------ rows

    def max_members(self, y):
        # Each member holds out a fold stratified on the event: both kinds of row
        # need one in each fold (all events: the events alone).
        counts = np.bincount(_event_of(y), minlength=2)
        return int(counts[counts > 0].min())

    def folds(self, n_splits, seed):
        return _OnEvent(StratifiedKFold(n_splits, shuffle=True, random_state=seed % (2**32)))

    def grouped_folds(self, n_splits, seed):
        return _OnEvent(StratifiedGroupKFold(n_splits, shuffle=True,
                                             random_state=seed % (2**32)))

    def check_cv(self, cv, y):
        if isinstance(cv, Integral):  # stratified on the event, as classifiers' on the class
            return _OnEvent(StratifiedKFold(cv))
        return check_cv(cv, None, classifier=False)

    def holdout(self, y, fraction, seed, purpose, fix):
        event = _event_of(y)
        n_valid = self.n_held_out(fraction, len(y))
        if n_valid < 2 or len(y) - n_valid < 2 or not event.any():
            raise ValueError(
                f"{purpose} holds out validation_fraction={fraction} of {len(y)} rows, "
                f"too few for a partial likelihood on both sides. Raise "
                f"validation_fraction, or {fix}."
            )
        stratify = event if np.bincount(event, minlength=2).min() >= 2 else None
        return train_test_split(np.arange(len(y)), test_size=fraction, stratify=stratify,
                                random_state=seed % (2**32))

    # ------------------------------------------------------------------ out of fold

    def out_of_fold(self, held_out, calibration):
        risk = self.risk_score(held_out.prediction.double().numpy() / calibration)
        return {"oof_prediction_": risk,
                "oof_score_": float(concordance_index(
                    _decoded(held_out.y), risk, held_out.sample_weight))}

    # ------------------------------------------------------------------ explanations

    def attribution_label(self, combined, target):
        return self.additive_score(combined.double().numpy())

    def contribution(self, module, outputs, available, name, target):
        """The expert's term of the additive score (its weight in the pool included)."""
        weight = float(module.term_weights()[list(module.expert_names).index(name)])
        terms = [torch.where(seen[name], member[name].mean(dim=1), 0.0)
                 for member, seen in zip(outputs, available, strict=True)]
        return weight * torch.stack(terms).mean(dim=0)

    # ------------------------------------------------------------------ inspection

    def chance_estimator(self):
        return _ConstantRisk()

    def default_scoring(self, y):
        return concordance_scorer

    def repeated_folds(self, n_splits, n_repeats, random_state):
        return _OnEvent(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats,
                                                random_state=random_state))

    def experts_alone(self, model, X):
        return {name: (np.flatnonzero(~np.isnan(risk)),
                       FixedPredictionRegressor(risk[~np.isnan(risk)]).fit())
                for name, risk in model.expert_predict(X).items()}

    # ------------------------------------------------------------------ scikit-learn experts

    def check_sklearn_expert(self, estimator, name):
        kind = type(estimator).__name__
        loss = getattr(estimator, "loss", "coxph")
        if kind not in self.SKLEARN_EXPERTS or loss != "coxph":
            raise TypeError(
                f"Expert {name!r}: {kind} does not predict a log-risk, and the experts "
                "of a product of hazards add log-risks. Give one of scikit-survival's "
                f"{', '.join(self.SKLEARN_EXPERTS)} (the boosting ones with "
                "loss='coxph'), or a neural expert."
            )

    def sklearn_predict(self, fitted, X):
        return np.asarray(fitted.predict(X), dtype=np.float64).reshape(-1, 1)

    def sklearn_outputs(self, prediction, noise):
        return np.asarray(prediction, dtype=np.float32)


# ---------------------------------------------------------------------- discrete time


def _interval_of(time, cuts):
    """Index of the interval ``(cuts[k-1], cuts[k]]`` holding each time (len(cuts): after)."""
    return torch.searchsorted(cuts.contiguous(), time.contiguous(), right=False)


def discrete_hazard_row_losses(logits, time, event, cuts):
    """Each row's negative log-likelihood under per-interval hazard logits.

    A row whose time falls in interval ``j`` survived the intervals before ``j``
    (label 0 there) and, with an event, had it in ``j`` (label 1); censored, it
    counts in the intervals before ``j`` only. A product of Bernoulli experts per
    interval: the logits add.
    """
    interval = _interval_of(time.to(cuts.dtype), cuts)
    steps = torch.arange(logits.shape[1], device=logits.device).unsqueeze(0)
    before = steps < interval.unsqueeze(1)
    at_event = (steps == interval.unsqueeze(1)) & (event.unsqueeze(1) > 0.5)
    labels = at_event.to(logits.dtype)
    counted = (before | at_event).to(logits.dtype)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels,
                                                               reduction="none")
    return (bce * counted).sum(dim=1)


class DiscreteHazardLoss(torch.nn.Module):
    """The negative log-likelihood of per-interval hazard logits (logistic hazard).

    Parameters
    ----------
    cuts : Tensor of shape (n_intervals,)
        The intervals' right ends.
    reduction : {"none", "mean"}, default="mean"
    """

    def __init__(self, cuts, reduction="mean"):
        super().__init__()
        self.register_buffer("cuts", torch.as_tensor(cuts, dtype=torch.float64))
        self.reduction = reduction

    def forward(self, prediction, target):
        target = target.to(prediction.device)
        losses = discrete_hazard_row_losses(prediction, target[:, 0], target[:, 1],
                                            self.cuts.to(prediction.device))
        return losses if self.reduction == "none" else losses.mean()


class DiscreteTimeTask(CoxTask):
    """Per-interval hazard logits; the product's output is their ``(n, n_intervals)`` sum.

    The follow-up is cut into intervals at quantiles of the training event times;
    each expert gives one hazard logit per interval and the product sums them. No
    risk set: each row's likelihood is its own, so small batches train as large
    ones, and hazards need not be proportional.

    Parameters
    ----------
    n_intervals : int, default=10
        Intervals of the follow-up, at most (fewer when event times repeat).
    cuts : ndarray or None, default=None
        The intervals' right ends, once fitted (:meth:`fit_target`).
    """

    AUTO_CANDIDATES = ()
    learns_from_outputs = False

    def __init__(self, n_intervals=10, cuts=None):
        self.n_intervals = n_intervals
        self.cuts = cuts

    @property
    def criterion(self):
        return functools.partial(DiscreteHazardLoss, self.cuts)

    @property
    def event_times(self):
        return self.cuts

    def fit_target(self, y):
        encoded = super().fit_target(y)
        event_times = encoded[encoded[:, 1] > 0.5, 0].astype(np.float64)
        quantiles = np.linspace(0.0, 1.0, self.n_intervals + 1)[1:]
        self.cuts = np.unique(np.quantile(event_times, quantiles))
        return encoded

    def continue_from(self, previous, y):
        self.cuts = previous.cuts
        return y

    @property
    def n_outputs(self):
        return len(self.cuts)

    def _cumulative_hazards(self, prediction):
        logits = torch.as_tensor(np.asarray(prediction, np.float64))
        # -log(1 - sigmoid(z)) = softplus(z): each interval's hazard, added up.
        return torch.cumsum(torch.nn.functional.softplus(logits), dim=1).numpy()

    def risk_score(self, prediction):
        """The cumulative hazard at the end of the last interval."""
        return self._cumulative_hazards(prediction)[:, -1]

    def additive_score(self, prediction):
        """The mean over the intervals of the summed hazard logits."""
        return np.asarray(prediction, np.float64).mean(axis=1)

    def cumulative_hazard_functions(self, prediction):
        return [StepFunction(self.cuts, values, 0.0)
                for values in self._cumulative_hazards(prediction)]

    def survival_functions(self, prediction):
        return [StepFunction(self.cuts, np.exp(-values), 1.0)
                for values in self._cumulative_hazards(prediction)]

    def check_sklearn_expert(self, estimator, name):
        raise TypeError(
            f"Expert {name!r}: {type(estimator).__name__} gives one risk score, and "
            "loss='discrete' sums one hazard logit per interval. Use loss='cox' to "
            "have scikit-survival's Cox models as experts, or a neural expert."
        )
