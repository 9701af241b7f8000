"""I2M2Regressor: the regression face of the product of experts (Gaussian experts)."""

import numpy as np
import pandas as pd
import torch
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._attribution import column_table
from ._base import BaseI2M2, _products, calibration_value
from ._fusion import BaseFusion
from ._task import GaussianTask
from ._typing import MatrixLike

#: The columns of :meth:`I2M2Regressor.explain`.
EXPLAIN_COLUMNS = ["sample", "predicted", "std", "expert", "expert_weight", "expert_mean",
                   "expert_std", "weight", "contribution"]


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
    dependencies : {"both", "intra", "inter"}, default="both"
        ``"both"`` is I2M2 (unimodal experts times the fusion expert); ``"intra"``
        keeps the unimodal experts only; ``"inter"`` the fusion expert only.
    remainder : "drop", "passthrough" or expert, default="drop"
        What becomes of columns no modality selects (see ``ModalitySplitter``).
    modality_dropout : float, default=0.0
        During training, the probability that a row loses each of its modalities
        (never all of them). Rows whose columns of a modality are all missing drop
        that modality's factors, in training and prediction alike.
    expert_weights : "auto", "learn" or None, default="auto"
        None multiplies the experts as they are, as I2M2 does. ``"learn"`` turns the
        product into a log-linear pool, ``p(y | x) ∝ Π_k N(y; m_k, v_k) ** w_k``, with one
        weight ``w_k >= 0`` per expert (multiplying its precision), fitted after training
        on rows the experts did not train on: the cross-fitted ensemble's
        out-of-fold rows, a single product's held-out rows, or the scikit-learn
        experts' out-of-fold outputs. It turns down an expert that only adds noise,
        and lets two experts reading the same evidence share it. The fitted weights
        are ``expert_weights_``. ``"auto"``: ``"learn"`` for a cross-fitted ensemble
        (``n_bags_ > 1``), else None.
    max_epochs : int, default=200
        Epochs of joint training, at most (early stopping usually ends it before).
    pretrain_epochs : int, default=0
        Epochs before the joint stage where each expert is trained on its own
        likelihood.
    batch_size : int, default=64
        Training batch size.
    lr : float, default=1e-3
        Learning rate of the AdamW optimizer.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimizer.
    early_stopping : "auto" or bool, default="auto"
        As :class:`~sk_i2m2.I2M2Classifier`'s: members of an ensemble stop on their
        own fold unless False; a single product holds out ``validation_fraction``
        (``"auto"``: above 10 000 rows).
    validation_fraction : float, default=0.1
        Share of the rows held out by a single product.
    n_iter_no_change : int or "auto", default="auto"
        Patience of early stopping, in epochs; ``"auto"``: about 120 optimizer steps,
        between 10 and 30 epochs.
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
    predict_batch_size : int or "auto", default="auto"
        Batch size of prediction passes (see :class:`~sk_i2m2.I2M2Classifier`).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, dropout, shuffling and folds; torch's and numpy's global
        random states are left untouched.
    verbose : int, default=0
        0 is silent; 1 shows progress on stderr (bars in a terminal, plain lines in
        a file or pipe, as :class:`~sk_i2m2.I2M2Classifier`); 2 prints skorch's
        per-epoch table.
    device : str, default="auto"
        Torch device; ``"auto"`` picks CUDA when available.
    num_workers : int, default=0
        DataLoader worker processes reading images from files.
    callbacks : list of skorch callbacks or None, default=None
        Passed to the skorch net (copied, never modified).
    warm_start : bool, default=False
        Continue training the fitted networks on the next ``fit`` (see
        :class:`~sk_i2m2.I2M2Classifier`).
    distributed : bool, default=False
        Train data-parallel over an initialised ``torch.distributed`` process group.

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.
    splitter_ : ModalitySplitter
        The fitted splitter.
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
    n_bags_, early_stopping_, n_iter_no_change_, calibrate_, device_, predict_batch_size_
        The fit plan: the parameters of the same names, resolved.
    expert_weights_ : dict of str to float
        Each expert's weight in the pool (see ``expert_weights``), in the product's
        order; every weight is 1 when the experts are multiplied as they are.
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
        self.modalities = modalities
        self.fusion = fusion
        self.dependencies = dependencies
        self.remainder = remainder
        self.modality_dropout = modality_dropout
        self.expert_weights = expert_weights
        self.max_epochs = max_epochs
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.calibrate = calibrate
        self.n_bags = n_bags
        self.predict_batch_size = predict_batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.num_workers = num_workers
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.distributed = distributed

    # ------------------------------------------------------------------ task hooks

    def _get_task(self):
        return GaussianTask()

    def _out_of_fold(self, task, held_out, net):
        prediction, y, sample_weight = held_out.prediction, held_out.y, held_out.sample_weight
        mean, _ = task.to_target_units(prediction)
        y_true = np.asarray(y, np.float64) * task.scale + task.location
        return {"oof_prediction_": mean,
                "oof_score_": float(r2_score(y_true, mean, sample_weight=sample_weight))}

    def _set_task_attributes(self):
        self.variance_scale_ = calibration_value(self.net_)

    def _attribution_target(self, combined):
        return None

    def _attribution_label(self, combined, target):
        return self.task_.to_target_units(combined)[0]

    def _contribution(self, outputs, available, name, target):
        """The expert's contribution to the mean, in the target's units (:meth:`explain`)."""
        weights = _products(self.net_.module_)[0].expert_weights
        weights = None if weights is None else weights.double()
        terms = [self.task_.terms(member, seen, weights)[name][:, 1]
                 for member, seen in zip(outputs, available, strict=True)]
        return torch.stack(terms).mean(dim=0) * self.task_.scale

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
        X : DataFrame or array-like of shape (n_samples, n_features)
        by : {"expert", "column"}, default="expert"
            ``"column"`` splits each neural expert's contribution among the input
            columns it reads (see Notes) and returns one row per (sample, expert,
            column) instead.
        steps : int, default=64
            With ``by="column"``: intervals of the integration path.

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
        ``by="column"`` attributes each neural expert's contribution to its input
        columns by integrated gradients, from a baseline input: a typical training
        row (each numeric column's median and each categorical column's most
        frequent category, over up to 10 000 training rows, after preprocessing;
        zeros, the training mean, for images and series). One-hot and other expanded
        features are summed back to the column they come from; images read from a
        path column get one row, for that column (see :meth:`attribution_maps` for
        their pixels). The table has columns ``sample``, ``predicted``, ``expert``,
        ``modality``, ``column``, ``attribution``, ``contribution`` (the expert's
        contribution, as in the default table) and ``baseline_contribution`` (its
        contribution at the baseline). Completeness: the attributions of a (sample,
        expert) sum to ``contribution - baseline_contribution``, up to the
        quadrature's error: within 0.05 (nats, or the target's units) or 5% of that
        difference, whichever is larger, at ``steps=64`` on the package's tests
        (ReLU networks have kinks along the path, where the error falls only as
        ``1 / steps``; raise ``steps`` to shrink it). The fusion expert's
        attributions cover every modality's columns; those of a modality a row lacks
        are NaN, as are a unimodal expert's on rows lacking its modality.
        Scikit-learn experts have no gradients: their rows have NaN attributions.
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

