"""I2M2Classifier: the classification face of the product of experts."""


import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._attribution import column_table
from ._base import BaseI2M2, calibration_value
from ._docstrings import fill_doc
from ._explain import explain_predictions
from ._task import ClassificationTask
from ._typing import MatrixLike
from .experts import BaseFusion


@fill_doc
class I2M2Classifier(ClassifierMixin, BaseI2M2):
    """Product-of-experts classifier over several modalities (I2M2).

    ``p(y | x, x') ∝ q_x(y | x) · q_x'(y | x') · q_xx'(y | x, x')``: one expert per
    modality models intra-modality dependencies, one fusion expert over all
    modalities models inter-modality dependencies, and one cross-entropy on their
    renormalised product trains them jointly.

    Parameters
    ----------
    modalities : list of (str, expert, columns) tuples or None, default=None
        As in :class:`~sk_i2m2.ModalitySplitter`: a unique name (not ``"fusion"``,
        without ``"__"``), an expert from :mod:`sk_i2m2.experts`, and the columns in
        any form :class:`~sklearn.compose.ColumnTransformer` accepts. None treats all
        columns as one tabular modality named ``"tabular"``.
    fusion : BaseFusion, classifier, "auto" or None, default="auto"
        The inter-modality expert: a :class:`~sk_i2m2.experts.BaseFusion` (e.g.
        :class:`~sk_i2m2.experts.AttentionFusion`) or a scikit-learn classifier
        (cross-fitted on every modality's preprocessed columns); None means
        :class:`~sk_i2m2.experts.ConcatFusion`. ``"auto"``: a ``ConcatFusion`` and,
        beside it, the scikit-learn candidates of
        :class:`~sk_i2m2.experts.AutoExpert` on the preprocessed columns of every
        table modality (``"fusion:boosting"``, ``"fusion:linear"``; images and
        series are left to the networks), weighed as ``expert_weights`` says.
        Ignored when ``dependencies="intra"``.
    %(dependencies_parameters)s
    expert_weights : "auto", "learn" or None, default="auto"
        None multiplies the experts as they are, as I2M2 does. ``"learn"`` turns the
        product into a log-linear pool, ``p(y | x) ∝ Π_k q_k(y | x) ** w_k``, with one
        weight ``w_k >= 0`` per expert, fitted after training
        %(pool_weights)s
    max_epochs : int, default=200
        Epochs of joint training on the product's cross-entropy, at most: early
        stopping (on by default, see ``n_bags`` and ``early_stopping``) usually ends
        training well before.
    pretrain_epochs : int, default=0
        Epochs before the joint stage where each expert is trained on its own
        cross-entropy (skipped when there is a single expert; no early stopping).
    batch_size : int, default=64
        Training batch size.
    %(optimizer_parameters)s
    %(stopping_parameters)s
    class_weight : "balanced", dict or None, default=None
        Weights of the classes. Folded into one weight per row at ``fit`` (times
        ``sample_weight``), which counts in every loss: both stages, the
        early-stopping validation loss, the temperature and learnt expert weights.
    calibrate : None, "auto" or "temperature", default="auto"
        ``"temperature"`` fits one temperature ``T`` after training, on rows the
        model did not train on: the out-of-fold rows of a cross-fitted ensemble
        (``n_bags``), else the early-stopping rows, else a ``validation_fraction``
        held out for it. The combined log-probabilities are divided by ``T``,
        which tempers a product's over-confidence without changing any prediction.
        ``"auto"`` does so only when such rows exist anyway (an ensemble, or early
        stopping), so that calibration costs no training rows.
        On a single product's held-out rows only softening is fitted (``T >= 1``):
        sharpening, fitted on few held-out rows the model mostly gets right, made
        the log loss on new rows worse. On an ensemble's out-of-fold predictions
        (every training row) ``T`` is unbounded: they come from single members,
        softer still once averaged, so ``T < 1`` is fitted only where the members
        themselves are under-confident.
        For other calibration methods use
        :class:`~sklearn.calibration.CalibratedClassifierCV` around the classifier.
    n_bags : int or "auto", default="auto"
        Members of a cross-fitted ensemble. With ``n_bags=K > 1`` the rows are cut
        into ``K`` stratified folds; member ``k`` trains on the other folds and is
        early-stopped on fold ``k`` (unless ``early_stopping=False``), so every row
        serves both training and stopping. Predictions are the mean of the members'
        probabilities; ``expert_proba`` and ``explain`` average over the members.
        The out-of-fold predictions are kept (``oof_proba_``, ``oof_score_``) and
        fit the temperature. ``"auto"``: 5 members up to 10 000 rows (fewer when a
        class has fewer than 5 rows), a single product above.
    %(runtime_parameters)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    %(input_attributes)s
    sklearn_experts_ : mapping of str to classifier
        The scikit-learn experts (modality name, or ``"fusion"``), each refitted on
        every training row it can see; empty without them.
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the product-of-experts module, whose
        ``forward(**modalities)`` returns the combined log-probabilities.
    history_ : skorch.History
        Per-epoch losses and timings; the ``stage`` key says which training stage.
        With ``calibrate="temperature"``, the last epoch also records
        ``temperature`` and the validation log loss before and after it
        (``valid_log_loss_uncalibrated``, ``valid_log_loss_calibrated``).
    temperature_ : float
        The fitted temperature; 1.0 when none was fitted.
    %(plan_attributes)s
    oof_proba_ : ndarray of shape (n_samples, n_classes)
        With ``n_bags_ > 1``: each training row's probabilities from the member that
        did not train on it (temperature applied), in ``classes_`` order.
    oof_score_ : float
        With ``n_bags_ > 1``: the accuracy of ``oof_proba_``, an honest estimate.

    Examples
    --------
    >>> from sk_i2m2 import I2M2Classifier
    >>> from sk_i2m2.datasets import make_multimodal_classification
    >>> X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
    >>> clf = I2M2Classifier(modalities, max_epochs=5, random_state=0).fit(X, y)
    >>> sorted(clf.expert_proba(X))
    ['fusion', 'fusion:boosting', 'fusion:linear', 'm0', 'm1']
    """

    _parameter_constraints = {
        **BaseI2M2._parameter_constraints,
        "fusion": [BaseFusion, HasMethods(["fit", "predict_proba"]), StrOptions({"auto"}), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "calibrate": [StrOptions({"auto", "temperature"}), None],
    }
    _recorded = (*BaseI2M2._recorded, "oof_proba_", "oof_score_")
    _derived = (*BaseI2M2._derived, "classes_", "temperature_")
    _calibration_keys = ("temperature", "valid_log_loss_uncalibrated",
                         "valid_log_loss_calibrated")

    def __init__(self, modalities=None, *, fusion="auto", dependencies="both",
                 remainder="drop", modality_dropout=0.0, expert_weights="auto",
                 max_epochs=200, pretrain_epochs=0,
                 batch_size=64, lr=1e-3, weight_decay=1e-2, early_stopping="auto",
                 validation_fraction=0.1, n_iter_no_change="auto", class_weight=None,
                 calibrate="auto", n_bags="auto", predict_batch_size="auto", random_state=None,
                 verbose=0, device="auto", num_workers=0, callbacks=None, warm_start=False,
                 distributed=False):
        self._store_init_params(locals())

    # ------------------------------------------------------------------ task hooks

    def _get_task(self):
        return ClassificationTask()

    def _row_weights(self, task, y, sample_weight):
        return task.row_weights(y, sample_weight, self.class_weight)

    def _set_task_attributes(self):
        self.classes_ = self.task_.classes
        self.temperature_ = calibration_value(self.net_)

    # ------------------------------------------------------------------ predict

    def _combined_log_proba(self, X):
        # Renormalise in float64 so rows sum to one at numpy's usual precision.
        return torch.log_softmax(self._forward(X), dim=1).numpy()


    def predict_log_proba(self, X: MatrixLike) -> np.ndarray:
        """Log-probability of each class under the product of experts.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._combined_log_proba(X)

    def predict_proba(self, X: MatrixLike) -> np.ndarray:
        """Probability of each class under the product of experts.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return np.exp(self._combined_log_proba(X))

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Most probable class under the product of experts.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        log_proba = self._combined_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    def expert_proba(self, X: MatrixLike) -> dict[str, np.ndarray]:
        """Each expert's own class probabilities.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        dict of str to ndarray of shape (n_samples, n_classes)
            Keyed by modality name for the unimodal experts and ``"fusion"`` for the
            inter-modality expert; columns follow ``classes_``. The combined
            probability is the renormalised product of the experts available in each
            row; a unimodal expert whose modality a row lacks gives NaN there.
        """
        logits, _ = self._forward_experts(X)
        return {name: torch.softmax(value.double(), dim=1).numpy()
                for name, value in logits.items()}

    @fill_doc
    def explain(self, X: MatrixLike, by: str = "expert", steps: int = 64) -> pd.DataFrame:
        """Which expert drove each prediction, as a long table (one row per expert).

        The product scores class ``k`` by the sum of the experts' log-probabilities
        of ``k``. Each expert's *contribution* to the predicted class ``c`` is its
        log-probability of ``c`` minus its mean log-probability over the classes
        (times its weight in the pool, ``expert_weights_``): the evidence, in nats,
        it gives ``c`` over an average class; negative when it argues against ``c``.
        Its *share* is the size of its contribution over the sum of the sizes in the
        row, so the shares of a sample sum to one.

        Parameters
        ----------
        %(explain_parameters)s
        Returns
        -------
        DataFrame
            ``n_samples * n_experts`` rows, sample by sample, with columns:

            - ``sample``: the label of the row in ``X`` (its index, or position);
            - ``predicted``: the product's predicted class;
            - ``probability``: the product's probability of that class;
            - ``expert``: a modality name, or ``"fusion"`` (or, for ``"auto"``
              experts, ``"<modality>:<candidate>"``);
            - ``expert_weight``: the expert's weight in the pool
              (``expert_weights_``; 1 unless learnt);
            - ``log_proba``: the expert's own log-probability of the predicted
              class (NaN when the sample lacks the expert's modality);
            - ``contribution``: as above (0 when the expert cannot see the sample);
            - ``share``: as above, in [0, 1];
            - ``agrees``: whether the expert's own most probable class is the
              prediction (NA when it cannot see the sample);
            - ``fusion_agrees``: ``agrees`` of the fusion expert, repeated on each
              row of the sample (NA without a fusion expert).

            With ``by="column"``, see Notes.

        Notes
        -----
        %(by_column_notes)s

        Examples
        --------
        >>> from sk_i2m2 import I2M2Classifier
        >>> from sk_i2m2.datasets import make_multimodal_classification
        >>> X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
        >>> clf = I2M2Classifier(modalities, max_epochs=5, random_state=0).fit(X, y)
        >>> table = clf.explain(X.head(2))
        >>> table.loc[table["sample"] == 0, "expert"].tolist()
        ['m0', 'm1', 'fusion', 'fusion:boosting', 'fusion:linear']
        >>> table.groupby("sample")["share"].sum().round(6).tolist()
        [1.0, 1.0]
        """
        if self._check_by(by) == "column":
            return column_table(self, X, steps)
        # One pass: images read from files are read once.
        logits, combined = self._forward_experts(X)
        expert_log_proba = {name: torch.log_softmax(value.double(), dim=1).numpy()
                            for name, value in logits.items()}
        combined = torch.log_softmax(combined.double(), dim=1).numpy()
        # Each expert's term in the product: learnt weights and temperature included.
        weights = self.net_.module_.term_weights().numpy()
        index = X.index if hasattr(X, "iloc") else np.arange(len(combined))
        return explain_predictions(expert_log_proba, combined, self.classes_, index,
                                   weights=weights,
                                   expert_weights=[self.expert_weights_[name]
                                                   for name in expert_log_proba])

