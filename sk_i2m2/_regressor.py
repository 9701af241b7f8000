"""I2M2Regressor: the regression face of the product of experts (Gaussian experts)."""

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._attribution import column_table
from ._base import BaseI2M2, calibration_value
from ._docstrings import fill_doc
from ._task import GaussianTask
from ._typing import MatrixLike
from .experts import BaseFusion

#: The columns of :meth:`I2M2Regressor.explain`.
EXPLAIN_COLUMNS = ["sample", "predicted", "std", "expert", "expert_weight", "expert_mean",
                   "expert_std", "weight", "contribution"]


@fill_doc
class I2M2Regressor(RegressorMixin, BaseI2M2):
    """Product-of-experts regressor over several modalities: a product of Gaussians.

    Each expert predicts a Gaussian of the target: one expert per modality
    (intra-modality dependencies) and one fusion expert over all modalities
    (inter-modality dependencies). Their product is again Gaussian, with the summed
    precision and the precision-weighted mean of the experts' means, so each expert
    counts, row by row, by how sure it is; the experts are trained jointly on the
    product's Gaussian negative log-likelihood. Predictions come with a standard
    deviation, as :class:`~sklearn.gaussian_process.GaussianProcessRegressor`'s do.

    The target is standardised inside ``fit``; predictions are in its units.

    Parameters
    ----------
    modalities : list of (str, expert, columns) tuples or None, default=None
        As in :class:`~sk_i2m2.ModalitySplitter`: a unique name (not ``"fusion"``,
        without ``"__"``), an expert from :mod:`sk_i2m2.experts` or a scikit-learn
        regressor, and the columns in any form
        :class:`~sklearn.compose.ColumnTransformer` accepts. None treats all columns
        as one tabular modality named ``"tabular"``.
    fusion : BaseFusion, regressor, "auto" or None, default="auto"
        The inter-modality expert: a :class:`~sk_i2m2.experts.BaseFusion` or a
        scikit-learn regressor (cross-fitted on every modality's preprocessed
        columns); None means :class:`~sk_i2m2.experts.ConcatFusion`. ``"auto"``: a
        ``ConcatFusion`` beside the scikit-learn candidates of
        :class:`~sk_i2m2.experts.AutoExpert` on the preprocessed columns of every
        table modality. Ignored when ``dependencies="intra"``.
    %(dependencies_parameters)s
    expert_weights : "auto", "learn" or None, default="auto"
        None multiplies the experts as they are, as I2M2 does. ``"learn"`` turns the
        product into a log-linear pool, ``p(y | x) ∝ Π_k N(y; m_k, v_k) ** w_k``, with one
        weight ``w_k >= 0`` per expert (multiplying its precision), fitted after training
        %(pool_weights)s
    max_epochs : int, default=200
        Epochs of joint training, at most (early stopping usually ends it before).
    pretrain_epochs : int, default=0
        Epochs before the joint stage where each expert is trained on its own
        likelihood.
    batch_size : int, default=64
        Training batch size.
    %(optimizer_parameters)s
    %(stopping_parameters)s
    calibrate : None, "auto" or "variance", default="auto"
        ``"variance"`` scales the predictive variance by one factor fitted after
        training on rows the model did not train on, in closed form: on a single
        product's held-out rows, the mean squared standardised residual; on an
        ensemble's out-of-fold rows, the same with each row's squared error less
        the members' spread there (the ensemble's mean errs less than its members
        by that spread). ``"auto"`` does so when such rows exist anyway.
    n_bags : int or "auto", default="auto"
        Members of a cross-fitted ensemble, each trained on all folds but one and
        early-stopped on it. The ensemble is their mixture: the mean of the means,
        and the mean of the variances plus the variance of the means. Out-of-fold
        predictions are kept (``oof_prediction_``). ``"auto"``: 5 up to 10 000
        rows, a single product above.
    %(runtime_parameters)s

    Attributes
    ----------
    %(input_attributes)s
    sklearn_experts_ : mapping of str to regressor
        The scikit-learn experts, each refitted on every training row it can see.
    net_ : skorch.NeuralNet
        The fitted net.
    history_ : skorch.History
        Per-epoch losses (the Gaussian negative log-likelihood of the standardised
        target); with calibration, the last epoch records ``variance_scale`` and the
        held-out likelihood before and after it.
    variance_scale_ : float
        The fitted variance scale; 1.0 when none was fitted.
    %(plan_attributes)s
    oof_prediction_ : ndarray of shape (n_samples,)
        With ``n_bags_ > 1``: each training row's mean from the member that did
        not train on it.
    oof_score_ : float
        With ``n_bags_ > 1``: the R² of ``oof_prediction_``, an honest estimate.

    Examples
    --------
    >>> from sk_i2m2 import I2M2Regressor
    >>> from sk_i2m2.datasets import make_multimodal_regression
    >>> X, y, modalities = make_multimodal_regression(n_samples=200, random_state=0)
    >>> reg = I2M2Regressor(modalities, max_epochs=5, random_state=0).fit(X, y)
    >>> mean, std = reg.predict(X.head(3), return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((3,), True)
    """

    _parameter_constraints = {
        **BaseI2M2._parameter_constraints,
        "fusion": [BaseFusion, HasMethods(["fit", "predict"]), StrOptions({"auto"}), None],
        "calibrate": [StrOptions({"auto", "variance"}), None],
    }
    _recorded = (*BaseI2M2._recorded, "oof_prediction_", "oof_score_")
    _derived = (*BaseI2M2._derived, "variance_scale_")
    _calibration_keys = ("variance_scale", "valid_nll_uncalibrated", "valid_nll_calibrated")

    def __init__(self, modalities=None, *, fusion="auto", dependencies="both",
                 remainder="drop", modality_dropout=0.0, expert_weights="auto",
                 max_epochs=200, pretrain_epochs=0,
                 batch_size=64, lr=1e-3, weight_decay=1e-2, early_stopping="auto",
                 validation_fraction=0.1, n_iter_no_change="auto", calibrate="auto",
                 n_bags="auto", predict_batch_size="auto", random_state=None, verbose=0,
                 device="auto", num_workers=0, callbacks=None, warm_start=False,
                 distributed=False):
        self._store_init_params(locals())

    # ------------------------------------------------------------------ task hooks

    def _get_task(self):
        return GaussianTask()

    def _set_task_attributes(self):
        self.variance_scale_ = calibration_value(self.net_)

    # ------------------------------------------------------------------ predict

    def predict(self, X: MatrixLike, return_std: bool = False):
        """The mean of the product's Gaussian, and optionally its standard deviation.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the predictive standard deviation (calibrated).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only with ``return_std=True``.
        """
        prediction = self._forward(X)  # checks that the model is fitted, first
        mean, std = self.task_.to_target_units(prediction)
        return (mean, std) if return_std else mean

    def expert_predict(self, X: MatrixLike, return_std: bool = False) -> dict:
        """Each expert's own Gaussian: its mean (and standard deviation).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        return_std : bool, default=False

        Returns
        -------
        dict of str to ndarray of shape (n_samples,), or to (mean, std) pairs
            Keyed by modality name for the unimodal experts and ``"fusion"``; a
            unimodal expert whose modality a row lacks gives NaN there. Not
            calibrated: the variance scale applies to the product only.
        """
        outputs, _ = self._forward_experts(X)
        result = {}
        for name, values in outputs.items():
            mean, std = self.task_.to_target_units(values.double())
            result[name] = (mean, std) if return_std else mean
        return result

    @fill_doc
    def explain(self, X: MatrixLike, by: str = "expert", steps: int = 64) -> pd.DataFrame:
        """How much each expert moved each prediction, as a long table.

        The product's mean is the precision-weighted mean of the experts' means. Each
        expert's *weight* is its share of the precision in that row (the weights
        of a row sum to one) and its *contribution* is its weight times its mean's
        distance from the training target's mean, in the target's units: the
        contributions of a row sum to the prediction minus the training mean.
        An ensemble's are the means of its members'.

        Parameters
        ----------
        %(explain_parameters)s
        Returns
        -------
        DataFrame
            ``n_samples * n_experts`` rows, sample by sample, with columns
            ``sample`` (the row's label in ``X``), ``predicted`` and ``std`` (the
            product's), ``expert``, ``expert_weight`` (its weight in the pool,
            ``expert_weights_``: 1 unless learnt), ``expert_mean`` and
            ``expert_std`` (the expert's own Gaussian; NaN where it cannot see the
            sample), ``weight`` (its share of the row's precision, the pool's weight
            included) and ``contribution`` (0 where it cannot see the sample). With
            ``by="column"``, see Notes (``predicted`` is then the mean).

        Notes
        -----
        %(by_column_notes)s
        """
        if self._check_by(by) == "column":
            return column_table(self, X, steps)
        outputs, combined, terms = self._forward_experts(X, with_terms=True)
        task = self.task_
        predicted, std = task.to_target_units(combined)
        names = list(outputs)
        n_samples = len(predicted)
        expert_mean, expert_std = zip(*(task.to_target_units(outputs[name].double())
                                        for name in names), strict=True)
        seen = ~np.isnan(np.stack(expert_mean))
        weight = np.stack([terms[name][:, 0].double().numpy() for name in names])
        # Terms of the standardised mean, in the target's units around its mean.
        contribution = np.stack([terms[name][:, 1].double().numpy() for name in names]
                                ) * task.scale
        index = X.index if hasattr(X, "iloc") else np.arange(n_samples)
        table = pd.DataFrame({
            "sample": np.tile(np.asarray(index, dtype=object), len(names)),
            "predicted": np.tile(predicted, len(names)),
            "std": np.tile(std, len(names)),
            "expert": np.repeat(np.asarray(names, dtype=object), n_samples),
            "expert_weight": np.repeat([self.expert_weights_[name] for name in names],
                                       n_samples),
            "expert_mean": np.concatenate(expert_mean),
            "expert_std": np.concatenate(expert_std),
            "weight": np.where(seen, weight, 0.0).ravel(),
            "contribution": np.where(seen, contribution, 0.0).ravel(),
        }, columns=EXPLAIN_COLUMNS)
        order = np.arange(len(names) * n_samples).reshape(len(names), n_samples).T.ravel()
        return table.iloc[order].reset_index(drop=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags

