"""I2M2SurvivalAnalysis: the time-to-event face of the product of experts (hazards)."""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._attribution import column_table
from ._base import BaseI2M2, calibration_value
from ._docstrings import fill_doc
from ._task import CoxTask, DiscreteTimeTask
from ._task._survival import TIES
from ._typing import MatrixLike
from .experts import BaseFusion
from .metrics import concordance_index

#: The columns of :meth:`I2M2SurvivalAnalysis.explain`.
EXPLAIN_COLUMNS = ["sample", "predicted", "expert", "expert_weight", "log_risk",
                   "contribution"]


@fill_doc
class I2M2SurvivalAnalysis(BaseI2M2):
    """Product-of-experts survival model over several modalities: a product of hazards.

    Each expert gives a log-risk: one expert per modality (intra-modality
    dependencies) and one fusion expert over all modalities (inter-modality
    dependencies). Hazards that multiply make one proportional-hazards model,
    ``h(t | x) = h0(t) * exp(sum_e eta_e(x))``, trained jointly on the Cox partial
    likelihood of the summed log-risk (Efron's handling of tied times). After
    training, a Breslow baseline hazard fitted on the training rows gives survival
    curves. The conventions are scikit-survival's: ``y`` is a structured array of a
    boolean event and a float time, ``predict`` gives a risk score (higher: an
    earlier event), ``score`` is Harrell's concordance index; scikit-survival is not
    needed to fit or predict.

    Parameters
    ----------
    modalities : list of (str, expert, columns) tuples or None, default=None
        As in :class:`~sk_i2m2.ModalitySplitter`: a unique name (not ``"fusion"``,
        without ``"__"``), an expert from :mod:`sk_i2m2.experts` or one of
        scikit-survival's estimators whose ``predict`` is a log-risk
        (``CoxPHSurvivalAnalysis``, ``CoxnetSurvivalAnalysis``, the gradient
        boosting ones with ``loss="coxph"``), and the columns in any form
        :class:`~sklearn.compose.ColumnTransformer` accepts.
    fusion : BaseFusion, estimator, "auto" or None, default="auto"
        The inter-modality expert: a :class:`~sk_i2m2.experts.BaseFusion` or one of
        the scikit-survival estimators above (cross-fitted on every modality's
        preprocessed columns); ``"auto"`` and None mean
        :class:`~sk_i2m2.experts.ConcatFusion` (no scikit-learn candidate serves
        time to event without scikit-survival). Ignored when
        ``dependencies="intra"``.
    %(dependencies_parameters)s
    expert_weights : "auto", "learn" or None, default="auto"
        None multiplies the experts' hazards as they are, as I2M2 does.
        ``"learn"`` turns the product into a log-linear pool,
        ``h(t | x) = h0(t) exp(sum_k w_k eta_k(x))``, with one weight ``w_k >= 0``
        per expert, fitted after training
        %(pool_weights)s
    max_epochs : int, default=200
        Epochs of joint training on the partial likelihood, at most (early stopping
        usually ends it before).
    pretrain_epochs : int, default=0
        Epochs before the joint stage where each expert is trained on its own
        partial likelihood.
    batch_size : int, default=256
        Training batch size. The Cox loss compares each event with the rows of its
        batch still at risk, so larger batches estimate the cohort's partial
        likelihood with less bias: on the benchmark's seven datasets, 256 rows were
        never behind 64 (Harrell's C +0.000 to +0.004) and matched one batch of
        every training row (see the user guide).
    %(optimizer_parameters)s
    %(stopping_parameters)s
    loss : {"cox", "discrete"}, default="cox"
        ``"cox"``: each expert gives a log-risk, the product is their sum, trained on
        the Cox partial likelihood over each batch's risk sets; a Breslow baseline
        gives the curves. ``"discrete"``: the follow-up is cut into ``n_intervals``
        at quantiles of the training event times, each expert gives one hazard
        logit per interval and the product sums them (a product of Bernoulli
        experts per interval), trained on each row's own likelihood: no risk sets,
        and hazards need not be proportional. The user guide's "Time to event"
        page compares them.
    ties : {"efron", "breslow"}, default="efron"
        With ``loss="cox"``: how tied event times enter the partial likelihood,
        Efron's approximation (as scikit-survival's ``CoxPHSurvivalAnalysis`` by
        default) or Breslow's.
    n_intervals : int, default=10
        With ``loss="discrete"``: intervals of the follow-up, at most (fewer when
        event times repeat).
    calibrate : None, "auto" or "temperature", default="auto"
        ``"temperature"`` divides the log-risk by one ``T`` fitted after training on
        rows the model did not train on (the out-of-fold rows of a cross-fitted
        ensemble, else the early-stopping rows), minimising their partial
        likelihood; the baseline hazard is fitted after it. ``"auto"`` does so when
        such rows exist anyway.
    n_bags : int or "auto", default="auto"
        Members of a cross-fitted ensemble (folds stratified on the event), each
        trained on all folds but one and early-stopped on it. The ensemble's
        log-risk is the mean of the members'; the baseline hazard is fitted on the
        out-of-fold log-risks. ``"auto"``: 5 up to 10 000 rows, a single product
        above.
    %(runtime_parameters)s

    Attributes
    ----------
    %(input_attributes)s
    sklearn_experts_ : mapping of str to estimator
        The scikit-survival experts, each refitted on every training row it can see.
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` returns the ``(n, 1)`` log-risk.
    history_ : skorch.History
        Per-epoch losses (the negative partial log-likelihood per event).
    temperature_ : float
        The fitted temperature dividing the log-risk; 1.0 when none was fitted.
    unique_times_ : ndarray
        Where the survival curves are given with ``return_array=True``: the
        training rows' distinct times, events and censorings (``loss="cox"``: the
        curves step down at event times only), or the intervals' right ends
        (``loss="discrete"``).
    cumulative_baseline_hazard_ : ndarray or None
        The Breslow baseline cumulative hazard at ``unique_times_``
        (``loss="cox"``; None with ``loss="discrete"``).
    %(plan_attributes)s
    oof_prediction_ : ndarray of shape (n_samples,)
        With ``n_bags_ > 1``: each training row's log-risk from the member that did
        not train on it (temperature applied).
    oof_score_ : float
        With ``n_bags_ > 1``: the concordance index of ``oof_prediction_``, an honest
        estimate.

    Examples
    --------
    >>> from sk_i2m2 import I2M2SurvivalAnalysis
    >>> from sk_i2m2.datasets import make_multimodal_survival
    >>> X, y, modalities = make_multimodal_survival(n_samples=200, random_state=0)
    >>> model = I2M2SurvivalAnalysis(modalities, max_epochs=5, random_state=0).fit(X, y)
    >>> curves = model.predict_survival_function(X.head(2))
    >>> len(curves), bool(curves[0](0.0) == 1.0)
    (2, True)
    """

    _parameter_constraints = {
        **BaseI2M2._parameter_constraints,
        "fusion": [BaseFusion, HasMethods(["fit", "predict"]), StrOptions({"auto"}), None],
        "loss": [StrOptions({"cox", "discrete"})],
        "ties": [StrOptions(set(TIES))],
        "n_intervals": [Interval(Integral, 1, None, closed="left")],
        "calibrate": [StrOptions({"auto", "temperature"}), None],
    }
    _recorded = (*BaseI2M2._recorded, "oof_prediction_", "oof_score_")
    _derived = (*BaseI2M2._derived, "temperature_", "unique_times_",
                "cumulative_baseline_hazard_")
    _calibration_keys = ("temperature", "valid_loss_uncalibrated", "valid_loss_calibrated")

    def __init__(self, modalities=None, *, fusion="auto", dependencies="both",
                 remainder="drop", modality_dropout=0.0, expert_weights="auto",
                 max_epochs=200, pretrain_epochs=0, batch_size=256, lr=1e-3,
                 weight_decay=1e-2, early_stopping="auto", validation_fraction=0.1,
                 n_iter_no_change="auto", loss="cox", ties="efron", n_intervals=10,
                 calibrate="auto", n_bags="auto",
                 predict_batch_size="auto", random_state=None, verbose=0, device="auto",
                 num_workers=0, callbacks=None, warm_start=False, distributed=False):
        self._store_init_params(locals())

    # ------------------------------------------------------------------ task hooks

    def _get_task(self):
        if self.loss == "discrete":
            return DiscreteTimeTask(n_intervals=self.n_intervals)
        return CoxTask(ties=self.ties)

    def _set_task_attributes(self):
        self.temperature_ = calibration_value(self.net_)
        self.unique_times_ = self.task_.event_times
        self.cumulative_baseline_hazard_ = getattr(self.task_, "cumulative_hazard", None)

    # ------------------------------------------------------------------ predict

    def predict(self, X: MatrixLike) -> np.ndarray:
        """The product's risk score: higher means an earlier event.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            ``loss="cox"``: the log-risk ``log h(t | x) - log h0(t)``;
            ``loss="discrete"``: the cumulative hazard at the end of the last
            interval. The temperature applied.
        """
        prediction = self._forward(X).numpy()  # checks that the model is fitted, first
        return self.task_.risk_score(prediction)

    def _curves(self, functions, return_array):
        if return_array:
            return np.vstack([function.y for function in functions]) if functions \
                else np.empty((0, len(self.unique_times_)))
        return np.asarray(functions, dtype=object)

    def predict_cumulative_hazard_function(self, X: MatrixLike, return_array: bool = False):
        """Each row's cumulative hazard ``H(t | x) = H0(t) exp(eta(x))``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        return_array : bool, default=False
            Return the values at ``unique_times_`` as one array instead.

        Returns
        -------
        ndarray of StepFunction of shape (n_samples,), or ndarray of shape (n_samples, n_times)
            Step functions callable on times (with the steps in ``x`` and ``y``),
            0 before the first event time.
        """
        prediction = self._forward(X).numpy()
        return self._curves(self.task_.cumulative_hazard_functions(prediction), return_array)

    def predict_survival_function(self, X: MatrixLike, return_array: bool = False):
        """Each row's survival function ``S(t | x) = exp(-H0(t) exp(eta(x)))``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        return_array : bool, default=False
            Return the values at ``unique_times_`` as one array instead.

        Returns
        -------
        ndarray of StepFunction of shape (n_samples,), or ndarray of shape (n_samples, n_times)
            Step functions callable on times (with the steps in ``x`` and ``y``),
            1 before the first event time.
        """
        prediction = self._forward(X).numpy()
        return self._curves(self.task_.survival_functions(prediction), return_array)

    def score(self, X: MatrixLike, y, sample_weight=None) -> float:
        """Harrell's concordance index of the predicted log-risks with ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : structured array of shape (n_samples,)
            A boolean event field, then a float time field.
        sample_weight : array-like of shape (n_samples,) or None, default=None

        Returns
        -------
        float
        """
        return concordance_index(y, self.predict(X), sample_weight)

    def expert_predict(self, X: MatrixLike) -> dict:
        """Each expert's own risk score (see :meth:`predict`).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        dict of str to ndarray of shape (n_samples,)
            Keyed by modality name for the unimodal experts and ``"fusion"``; NaN
            where the expert cannot see the row. Not weighted by the pool, nor
            divided by the temperature.
        """
        outputs, _ = self._forward_experts(X)
        result = {}
        for name, values in outputs.items():
            values = values.double().numpy()
            seen = ~np.isnan(values).any(axis=1)
            risk = np.full(len(values), np.nan)
            risk[seen] = self.task_.risk_score(values[seen])
            result[name] = risk
        return result

    @fill_doc
    def explain(self, X: MatrixLike, by: str = "expert", steps: int = 64) -> pd.DataFrame:
        """How much each expert moved each prediction, as a long table.

        The product's log-risk is the sum of the experts' terms: each expert's
        *contribution* is its log-risk times its weight in the pool (and divided by
        the temperature), in log-hazard units; the contributions of a row sum to its
        predicted log-risk. With ``loss="discrete"``, the same for the mean over the
        intervals of the hazard logits.

        Parameters
        ----------
        %(explain_parameters)s

        Returns
        -------
        DataFrame
            ``n_samples * n_experts`` rows, sample by sample, with columns
            ``sample`` (the row's label in ``X``), ``predicted`` (the log-risk, or
            the mean hazard logit), ``expert``, ``expert_weight`` (its weight in the
            pool, ``expert_weights_``), ``log_risk`` (the expert's own, or its mean
            hazard logit; NaN where it cannot see the sample) and ``contribution``
            (0 where it cannot). With ``by="column"``, see Notes.

        Notes
        -----
        %(by_column_notes)s
        """
        if self._check_by(by) == "column":
            return column_table(self, X, steps)
        outputs, combined = self._forward_experts(X)
        names = list(outputs)
        predicted = self.task_.additive_score(combined.double().numpy())
        n_samples = len(predicted)
        log_risk = np.stack([outputs[name].double().numpy().mean(axis=1) for name in names])
        seen = ~np.isnan(log_risk)
        weights = self.net_.module_.term_weights().double().numpy()
        contribution = np.where(seen, np.nan_to_num(log_risk) * weights[:, None], 0.0)
        index = X.index if hasattr(X, "iloc") else np.arange(n_samples)
        table = pd.DataFrame({
            "sample": np.tile(np.asarray(index, dtype=object), len(names)),
            "predicted": np.tile(predicted, len(names)),
            "expert": np.repeat(np.asarray(names, dtype=object), n_samples),
            "expert_weight": np.repeat([self.expert_weights_[name] for name in names],
                                       n_samples),
            "log_risk": log_risk.ravel(),
            "contribution": contribution.ravel(),
        }, columns=EXPLAIN_COLUMNS)
        order = np.arange(len(names) * n_samples).reshape(len(names), n_samples).T.ravel()
        return table.iloc[order].reset_index(drop=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
