"""I2M2Classifier: the classification face of the product of experts."""


import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import HasMethods, StrOptions

from ._attribution import column_table
from ._base import BaseI2M2, calibration_value
from ._explain import explain_predictions
from ._fusion import BaseFusion
from ._task import ClassificationTask
from ._typing import MatrixLike


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
    dependencies : {"both", "intra", "inter"}, default="both"
        ``"both"`` is I2M2 (unimodal experts times the fusion expert); ``"intra"``
        keeps the unimodal experts only (late fusion); ``"inter"`` the fusion
        expert only (intermediate fusion).
    remainder : "drop", "passthrough" or expert, default="drop"
        What becomes of columns no modality selects (see ``ModalitySplitter``).
    modality_dropout : float, default=0.0
        During training, the probability that a row loses each of its modalities
        (never all of them), so that the product learns to predict without it.
        Rows whose columns of a modality are all missing drop that modality's
        factors, in training and prediction alike, whatever this value.
    expert_weights : "auto", "learn" or None, default="auto"
        None multiplies the experts as they are, as I2M2 does. ``"learn"`` turns the
        product into a log-linear pool, ``p(y | x) ∝ Π_k q_k(y | x) ** w_k``, with one
        weight ``w_k >= 0`` per expert (and a bias per class), fitted after training
        on rows the experts did not train on: the cross-fitted ensemble's
        out-of-fold rows, a single product's held-out rows, or the scikit-learn
        experts' out-of-fold outputs. It turns down an expert that only adds noise,
        and lets two experts reading the same evidence share it. The fitted weights
        are ``expert_weights_``. ``"auto"``: ``"learn"`` for a cross-fitted ensemble
        (``n_bags_ > 1``), else None.
    max_epochs : int, default=200
        Epochs of joint training on the product's cross-entropy, at most: early
        stopping (on by default, see ``n_bags`` and ``early_stopping``) usually ends
        training well before.
    pretrain_epochs : int, default=0
        Epochs before the joint stage where each expert is trained on its own
        cross-entropy (skipped when there is a single expert; no early stopping).
    batch_size : int, default=64
        Training batch size.
    lr : float, default=1e-3
        Learning rate of the AdamW optimizer.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimizer.
    early_stopping : "auto" or bool, default="auto"
        Stop the joint stage when the validation loss has not improved for
        ``n_iter_no_change`` epochs, and restore the best weights. The members of a
        cross-fitted ensemble (``n_bags``) each stop on their own held-out fold
        unless this is False. A single product (``n_bags=1``) holds out
        ``validation_fraction`` for it; ``"auto"`` turns that on above 10 000 rows.
    validation_fraction : float, default=0.1
        Stratified share of the rows held out for early stopping.
    n_iter_no_change : int or "auto", default="auto"
        Patience of early stopping, in epochs. ``"auto"``: about 120 optimizer
        steps, between 10 and 30 epochs (30 epochs up to 256 training rows at
        ``batch_size=64``, 10 from 1 537). Products whose signal lies in
        interactions between modalities sit on a plateau for over 100 steps before
        they learn: 10 epochs of 4 steps stopped them there, while on larger
        tables 10 epochs are already hundreds of steps.
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
    predict_batch_size : int or "auto", default="auto"
        Batch size of prediction and validation passes. ``"auto"``: 4096 rows when
        every modality is a table; with images or series, rows holding about 65 536
        input values of the widest of them, between 64 and 4096 (1 024 rows of 8x8
        images, 64 of 32x32). A convolution's activations are many times its input:
        larger batches outgrow the CPU's caches and ran up to 1.7x slower per row.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation split.
        Runs on the CPU with the same seed give identical models. The global
        random states of torch and numpy are left untouched.
    verbose : int, default=0
        0 is silent. 1 shows progress on stderr: in a terminal, bars over the
        epochs of each training (with the last losses), over the batches of each
        epoch, and over the cross-fitting of scikit-learn experts; written to a file
        or a pipe, plain lines instead (each training's start, its losses every 10
        epochs, its end with the best validation loss; each expert's
        cross-fitting), without carriage returns or escape sequences. 2 or more
        prints skorch's per-epoch table instead.
    device : str, default="auto"
        Torch device; ``"auto"`` picks CUDA when available.
    num_workers : int, default=0
        Worker processes of the torch DataLoader that reads images from files
        (experts with a ``loader``), so that reading overlaps training; 0 reads in
        the main process. Without images from files, data is sliced from memory
        and this has no effect.
    callbacks : list of skorch callbacks or None, default=None
        Passed to the skorch net (copied, never modified).
    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the
        fitted networks (each member of an ensemble on its own folds of the new
        rows) instead of starting anew, for up to ``max_epochs`` more epochs, with
        a fresh optimizer and no pretraining, as
        :class:`~sklearn.neural_network.MLPClassifier` does. The fitted
        preprocessing is kept (the new rows are transformed, not refitted), the
        temperature is fitted again and scikit-learn experts are fitted again.
        The modalities, the experts' networks and the classes must be those of
        the fitted model; a change raises an error. ``history_`` covers the last
        fit only.
    distributed : bool, default=False
        Train one model data-parallel over the processes of an initialised
        ``torch.distributed`` process group (launched with ``torchrun``), with
        :class:`~torch.nn.parallel.DistributedDataParallel`. Every process calls
        ``fit`` with the same rows and ``random_state``; each step splits its
        ``batch_size`` rows among the processes and averages their gradients, so
        the fit follows the one of a single process (up to dropout draws and
        rounding). Each process should use its own device (``device="cuda:<local
        rank>"``), or the CPU with the gloo backend. Every process ends with the
        same model. See ``examples/distributed_training.py``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.
    splitter_ : ModalitySplitter
        The fitted splitter.
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
    n_bags_ : int
        Members of the ensemble (1: a single product), ``n_bags`` resolved. With
        more, ``net_.module_`` is a :class:`~sk_i2m2.product.ProductEnsemble` of
        :class:`ProductOfExperts`.
    early_stopping_ : bool
        Whether training stopped early on held-out rows (``early_stopping`` resolved).
    n_iter_no_change_ : int
        The patience of early stopping, in epochs (``n_iter_no_change`` resolved).
    calibrate_ : "temperature" or None
        The calibration fitted (``calibrate`` resolved).
    device_ : str
        The device trained on (``device`` resolved).
    predict_batch_size_ : int
        Rows per prediction batch (``predict_batch_size`` resolved).
    expert_weights_ : dict of str to float
        Each expert's weight in the pool (see ``expert_weights``), in the product's
        order; every weight is 1 when the experts are multiplied as they are.
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
        self.class_weight = class_weight
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
        return ClassificationTask()

    def _row_weights(self, task, y, sample_weight):
        return task.row_weights(y, sample_weight, self.class_weight)

    def _out_of_fold(self, task, held_out, net):
        log_proba, y = held_out.prediction, held_out.y
        # Divided by the temperature as the product does.
        oof_proba = torch.softmax((log_proba / calibration_value(net)).double(),
                                  dim=1).numpy()
        return {"oof_proba_": oof_proba,
                "oof_score_": float(np.mean(oof_proba.argmax(axis=1) == y))}

    def _set_task_attributes(self):
        self.classes_ = self.task_.classes
        self.temperature_ = calibration_value(self.net_)

    def _attribution_target(self, combined):
        return combined.argmax(dim=1)

    def _attribution_label(self, combined, target):
        return self.classes_[target.cpu().numpy()]

    def _contribution(self, outputs, available, name, target):
        """The expert's contribution to the class ``target``, as :meth:`explain` has it."""
        log_proba = torch.stack([torch.log_softmax(member[name], dim=1) for member in outputs])
        mean = torch.logsumexp(log_proba, dim=0) - np.log(len(outputs))
        weight = float(self.net_.module_.term_weights()[
            list(self.net_.module_.expert_names).index(name)])
        chosen = mean.gather(1, target.view(-1, 1))[:, 0]
        return weight * (chosen - mean.mean(dim=1))

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

