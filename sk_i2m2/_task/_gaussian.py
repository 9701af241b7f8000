"""Regression: a product of Gaussian experts, trained on the Gaussian likelihood.

Each expert ``e`` gives a Gaussian of the standardised target, a mean ``m_e`` and a
log-variance (its head has two outputs). Their product is again Gaussian, with the
summed precision and the precision-weighted mean::

    1 / v = sum_e 1 / v_e,        m = v * sum_e m_e / v_e,

so an expert counts by how sure it is, row by row. Joint training minimises the
Gaussian negative log-likelihood of that product.

A cross-fitted ensemble is a mixture of its members: the mean of their means, and the
mean of their variances plus the variance of their means. Calibration scales the
variance by one factor fitted on held-out rows (the regression analogue of the
temperature), in closed form.

A scikit-learn regressor as an expert gives a mean; its variance is the mean squared
error of its out-of-fold predictions.
"""

import math

import numpy as np
import torch
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, RepeatedKFold, train_test_split
from sklearn.utils import check_array
from sklearn.utils.validation import column_or_1d

from ._base import Task
from ._scoring import FixedPredictionRegressor

#: Bounds of every log-variance, in standardised units (variances from 6e-6 to 1.6e5):
#: a head that drifts to a near-zero variance would otherwise outvote every other
#: expert and make the likelihood's gradients explode.
LOG_VARIANCE_BOUNDS = (-12.0, 12.0)
_LOG_2PI = math.log(2 * math.pi)


def _split(prediction):
    """``(mean, log-variance)`` of ``(n, 2)`` outputs, the log-variance bounded."""
    return prediction[:, 0], prediction[:, 1].clamp(*LOG_VARIANCE_BOUNDS)


def gaussian_nll(prediction, target):
    """The negative log-likelihood of each row under ``(n, 2)`` Gaussian outputs."""
    mean, log_variance = _split(prediction)
    target = target.to(mean.dtype)
    return 0.5 * (_LOG_2PI + log_variance + (target - mean) ** 2 * torch.exp(-log_variance))


class GaussianNLLLoss(torch.nn.Module):
    """The Gaussian negative log-likelihood of ``(n, 2)`` outputs (mean, log-variance).

    Parameters
    ----------
    reduction : {"none", "mean", "sum"}, default="mean"
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, prediction, target):
        losses = gaussian_nll(prediction, target)
        if self.reduction == "none":
            return losses
        return losses.sum() if self.reduction == "sum" else losses.mean()


class GaussianTask(Task):
    """Gaussian experts of a standardised target; the product's output is ``(n, 2)``.

    The output's columns are the mean and the log-variance of the standardised
    target; :meth:`to_target_units` turns them into a mean and a standard deviation
    in the target's units.

    Parameters
    ----------
    location, scale : float or None, default=None
        The target's mean and standard deviation, once known (:meth:`fit_target`).
    """

    estimator_type = "regressor"
    calibration = "variance"
    calibrates_on_members = True
    criterion = GaussianNLLLoss

    def __init__(self, location=None, scale=None):
        self.location = location
        self.scale = scale

    # ------------------------------------------------------------------ target

    def fit_target(self, y):
        """Check a continuous target; learn its location and scale; return it standardised."""
        shape = np.asarray(y).shape
        if len(shape) == 2 and shape[1] > 1:
            raise ValueError(
                f"y has shape {shape}: this regressor predicts one target. Fit one "
                "per target, e.g. with sklearn.multioutput.MultiOutputRegressor."
            )
        values = column_or_1d(y, warn=True)
        try:
            values = check_array(values, ensure_2d=False, dtype=np.float64,
                                 ensure_all_finite=False, input_name="y")
        except (TypeError, ValueError) as error:
            raise ValueError(f"y must be numeric for regression: {error}") from error
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise ValueError(
                f"y has {len(bad)} missing or infinite value(s), at rows "
                f"{bad[:10].tolist()}; drop those rows or fill them in."
            )
        if len(values) < 2:
            raise ValueError(f"n_samples={len(values)}: a regressor needs at least 2 samples.")
        self.location = float(values.mean())
        spread = float(values.std())
        # A constant target: predictions are that constant, in any unit.
        self.scale = spread if spread > 0 else 1.0
        return ((values - self.location) / self.scale).astype(np.float32)

    def continue_from(self, previous, y):
        """The target standardised as the fitted model's was (its location and scale)."""
        values = np.asarray(y, np.float64) * self.scale + self.location
        self.location, self.scale = previous.location, previous.scale
        return ((values - self.location) / self.scale).astype(np.float32)

    def to_target_units(self, prediction):
        """``(mean, std)`` ndarrays in the target's units, from ``(n, 2)`` outputs."""
        mean, log_variance = _split(torch.as_tensor(prediction).double())
        return (mean.numpy() * self.scale + self.location,
                torch.exp(0.5 * log_variance).numpy() * self.scale)

    # ------------------------------------------------------------------ the product

    @property
    def n_outputs(self):
        return 2

    @staticmethod
    def _precisions(outputs, available, weights):
        """Each expert's ``(mean, precision)``, the precision 0 where it does not count."""
        for k, (name, prediction) in enumerate(outputs.items()):
            mean, log_variance = _split(prediction)
            precision = torch.exp(-log_variance)
            if weights is not None:
                precision = precision * weights[k]
            if available is not None:
                seen = available[name]
                # Rows an expert cannot see may hold anything (even NaN): masked out.
                precision = torch.where(seen, precision, 0.0)
                mean = torch.where(seen, mean, 0.0)
            yield name, mean, precision

    def combine(self, outputs, available=None, weights=None, bias=None, temperature=None):
        """The precision-weighted product: ``(n, 2)`` mean and log-variance."""
        weighted_sum = total_precision = 0.0
        for _, mean, precision in self._precisions(outputs, available, weights):
            weighted_sum = weighted_sum + precision * mean
            total_precision = total_precision + precision
        total_precision = total_precision.clamp_min(torch.finfo(total_precision.dtype).tiny)
        combined = torch.stack([weighted_sum / total_precision, -torch.log(total_precision)],
                               dim=1)
        return combined if temperature is None else self.temper(combined, temperature)

    def temper(self, prediction, temperature):
        """The variance scaled by ``temperature`` (the fitted variance scale)."""
        return torch.stack([prediction[:, 0], prediction[:, 1] + torch.log(temperature)],
                           dim=1)

    def average(self, predictions):
        """The mixture's mean and variance (mean of variances + variance of means)."""
        means = torch.stack([prediction[:, 0] for prediction in predictions])
        variances = torch.stack([torch.exp(_split(prediction)[1])
                                 for prediction in predictions])
        variance = variances.mean(dim=0) + means.var(dim=0, unbiased=False)
        return torch.stack([means.mean(dim=0), torch.log(variance)], dim=1)

    def terms(self, outputs, available, weights=None):
        """Each expert's weight and term in the mean: ``{name: (n, 2)}``.

        The product's mean is ``sum_e (p_e / P) m_e`` (``p_e`` the expert's precision,
        ``P`` their sum): column 0 is the expert's weight ``p_e / P`` (a row's weights
        sum to one), column 1 its term ``(p_e / P) m_e`` (a row's terms sum to the
        mean), in standardised units.
        """
        parts = list(self._precisions(outputs, available, weights))
        total = sum(precision for _, _, precision in parts)
        total = total.clamp_min(torch.finfo(total.dtype).tiny)
        return {name: torch.stack([precision / total, precision / total * mean], dim=1)
                for name, mean, precision in parts}

    def out_of_fold(self, held_out, calibration):
        mean, _ = self.to_target_units(held_out.prediction)
        y_true = np.asarray(held_out.y, np.float64) * self.scale + self.location
        return {"oof_prediction_": mean,
                "oof_score_": float(r2_score(y_true, mean,
                                             sample_weight=held_out.sample_weight))}

    # ------------------------------------------------------------------ explanations

    def attribution_label(self, combined, target):
        return self.to_target_units(combined)[0]

    def contribution(self, module, outputs, available, name, target):
        """The expert's contribution to the mean, in the target's units (``explain``)."""
        weights = getattr(module, "members", [module])[0].expert_weights
        weights = None if weights is None else weights.double()
        terms = [self.terms(member, seen, weights)[name][:, 1]
                 for member, seen in zip(outputs, available, strict=True)]
        return torch.stack(terms).mean(dim=0) * self.scale

    # ------------------------------------------------------------------ calibration

    def fit_calibration(self, prediction, y, sample_weight=None, soften_only=True):
        """The variance scale ``s`` minimising the held-out negative log-likelihood.

        In closed form: the (weighted) mean of the squared standardised residuals.
        Scaled both ways (``soften_only`` does not apply): one factor on a
        continuous likelihood cannot overfit a few held-out rows as a temperature
        sharpening near-certain classes can.
        """
        prediction = self._as_tensor(prediction)
        target = self._as_tensor(y)
        weights = (torch.ones_like(target) if sample_weight is None
                   else self._as_tensor(sample_weight))
        mean, log_variance = _split(prediction)
        ratio = (target - mean) ** 2 * torch.exp(-log_variance)
        scale = float((weights * ratio).sum() / weights.sum().clamp_min(1e-300))
        scale = min(max(scale, 1e-3), 1e3)

        def loss(values):
            return float((weights * gaussian_nll(values, target)).sum()
                         / weights.sum().clamp_min(1e-300))

        before = loss(prediction)
        after = loss(self.temper(prediction, torch.tensor(scale, dtype=torch.float64)))
        if not after <= before:
            return 1.0, before, before
        return scale, before, after

    def fit_ensemble_calibration(self, out_of_fold, members, y, sample_weight=None):
        """The variance scale of a cross-fitted ensemble's mixture.

        The out-of-fold rows give each member's error on rows it did not see; the
        ensemble's mean errs less than its members, by their spread (the ambiguity
        decomposition, exact per row: ``(y - mean of m_k)^2 = mean of (y - m_k)^2 -
        variance of the m_k``), while its mixture variance adds that spread. So the
        scale compares each row's out-of-fold squared error minus the members'
        spread there with the mixture's variance there: fitted on the members'
        errors alone, the mixture's intervals were too wide (90% intervals covered
        94 to 97% of new rows; 90 to 91% with the spread accounted for).

        Parameters
        ----------
        out_of_fold : Tensor of shape (n, 2)
            Each row's Gaussian from the member that did not train on it.
        members : list of Tensor of shape (n, 2)
            Every member's Gaussian of the same rows.
        y : array-like of shape (n,)
            The standardised target.
        sample_weight : array-like of shape (n,) or None

        Returns
        -------
        scale, loss before, loss after : float
            The scale, and the estimated negative log-likelihood of new rows under
            the mixture before and after it.
        """
        out_of_fold = self._as_tensor(out_of_fold)
        target = self._as_tensor(y)
        weights = (torch.ones_like(target) if sample_weight is None
                   else self._as_tensor(sample_weight))
        members = [self._as_tensor(member) for member in members]
        spread = torch.stack([member[:, 0] for member in members]).var(dim=0, unbiased=False)
        variance = torch.exp(self.average(members)[:, 1])
        squared_error = (target - out_of_fold[:, 0]) ** 2 - spread
        total = weights.sum().clamp_min(1e-300)
        scale = float((weights * squared_error / variance).sum() / total)
        scale = min(max(scale, 1e-3), 1e3)

        def loss(factor):
            return float((weights * 0.5 * (_LOG_2PI + torch.log(factor * variance)
                                           + squared_error / (factor * variance))).sum()
                         / total)

        return scale, loss(1.0), loss(scale)

    # ------------------------------------------------------------------ rows

    def folds(self, n_splits, seed):
        return KFold(n_splits, shuffle=True, random_state=seed % (2**32))

    def holdout(self, y, fraction, seed, purpose, fix):
        n_valid = self.n_held_out(fraction, len(y))
        if len(y) - n_valid < 1:
            raise ValueError(
                f"{purpose} holds out validation_fraction={fraction} of {len(y)} rows, "
                f"leaving none to train on. Lower validation_fraction, or {fix}."
            )
        return train_test_split(np.arange(len(y)), test_size=fraction,
                                random_state=seed % (2**32))

    # ------------------------------------------------------------------ scikit-learn experts

    expert_method = "expert_predict"

    def chance_estimator(self):
        return DummyRegressor(strategy="mean")

    def default_scoring(self, y):
        return "r2"

    def repeated_folds(self, n_splits, n_repeats, random_state):
        return RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats,
                             random_state=random_state)

    def experts_alone(self, model, X):
        return {name: (np.flatnonzero(~np.isnan(mean)),
                       FixedPredictionRegressor(mean[~np.isnan(mean)]).fit())
                for name, mean in model.expert_predict(X).items()}

    def _boosting_candidate(self):
        return HistGradientBoostingRegressor(random_state=0)

    def _linear_candidate(self):
        return RidgeCV()

    def sklearn_predict(self, fitted, X):
        return np.asarray(fitted.predict(X), dtype=np.float64).reshape(-1, 1)

    def sklearn_noise(self, out_of_fold, y, sample_weight=None):
        """The expert's variance: the mean squared error of its out-of-fold predictions."""
        residuals = (np.asarray(y, np.float64) - out_of_fold[:, 0]) ** 2
        variance = float(np.average(residuals, weights=sample_weight))
        return max(variance, math.exp(LOG_VARIANCE_BOUNDS[0]))

    def sklearn_outputs(self, prediction, noise):
        """``(n, 2)``: the regressor's mean and the log of its out-of-fold variance."""
        log_variance = np.full(len(prediction), math.log(noise))
        log_variance[np.isnan(prediction[:, 0])] = np.nan
        return np.column_stack([prediction[:, 0], log_variance]).astype(np.float32)
