"""I2M2Classifier: the scikit-learn estimator around the product-of-experts net."""

import copy
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ._calibration import fit_temperature
from ._dataset import Batch
from ._explain import explain_predictions
from ._fusion import BaseFusion, ConcatFusion
from ._loss import row_weights
from ._net import check_process_group, prediction_batch_size
from ._sklearn_experts import SklearnExperts, learn_expert_weights
from ._splitter import ModalitySplitter, check_modality_spec, check_X, modality_block
from ._training import count_members, train_members, train_one
from ._typing import MatrixLike, VectorLike
from .product import FUSION, ProductEnsemble, build_product

#: Prediction preprocesses and forwards X this many prediction batches at a time:
#: its preprocessed copy and tensors are then held for one chunk only, so that the
#: memory of prediction does not grow with the number of rows, while the per-call
#: cost of the splitter and of the scikit-learn experts is shared by many batches.
_PREDICT_CHUNK_BATCHES = 16

#: Everything fit sets (see ``I2M2Classifier._set_fitted``).
_FITTED_ATTRIBUTES = ("classes_", "n_features_in_", "feature_names_in_", "splitter_",
                      "sklearn_experts_", "net_", "history_", "temperature_", "n_bags_",
                      "oof_proba_", "oof_score_")


def _encode_labels(X, y):
    """Checked labels, their codes ``0 .. n_classes - 1``, and the classes."""
    y = column_or_1d(y, warn=True)
    unlabelled = np.flatnonzero(pd.isna(y))
    if len(unlabelled):
        raise ValueError(
            f"y has {len(unlabelled)} missing label(s), at rows "
            f"{unlabelled[:10].tolist()}; drop those rows or label them."
        )
    check_classification_targets(y)
    check_consistent_length(X, y)
    if len(y) < 2:
        raise ValueError(f"n_samples={len(y)}: a classifier needs at least 2 samples.")
    encoder = LabelEncoder()
    y_encoded = encoder.fit_transform(y)
    if len(encoder.classes_) < 2:
        raise ValueError(
            f"y has a single class ({encoder.classes_[0]!r}); a classifier needs at "
            "least two. Check the labels or the rows selected."
        )
    return y, y_encoded, encoder.classes_


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _draw_seed(random_state):
    """An int seed for torch, drawn without touching numpy's global random state."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(random_state.randint(np.iinfo(np.int32).max))


class _PrivateTorchRandomness:
    """Seed torch for the duration of a fit, then give back its global state."""

    def __init__(self, seed, device):
        on_cuda = torch.device(device).type == "cuda"
        self._devices = list(range(torch.cuda.device_count())) if on_cuda else []
        self._fork = torch.random.fork_rng(devices=self._devices)
        self._seed = seed

    def __enter__(self):
        self._fork.__enter__()
        torch.random.default_generator.manual_seed(self._seed)
        if self._devices:
            torch.cuda.manual_seed_all(self._seed)

    def __exit__(self, *exc_info):
        return self._fork.__exit__(*exc_info)


def _check_same_fit(previous, splitter, X, classes, estimator):
    """A warm start's data and modalities must be those of the fitted model."""
    if not np.array_equal(classes, previous["classes_"]):
        raise ValueError(
            f"warm_start=True continues a model fitted on classes "
            f"{previous['classes_'].tolist()}, but y has classes {classes.tolist()}. "
            "Give rows of the same classes, or set warm_start=False to fit anew."
        )
    fitted = [(name, columns) for name, _, columns in splitter.modalities_]
    current = ModalitySplitter(estimator.modalities,
                               remainder=estimator.remainder)._resolve_columns(X)
    current = [(name, columns) for name, _, columns in current]
    if current != fitted:
        raise ValueError(
            "warm_start=True keeps the fitted preprocessing, but the modalities "
            f"changed since the last fit: fitted (name, column positions) {fitted}, now "
            f"{current}. Give the modalities of the last fit, or set warm_start=False "
            "to fit anew."
        )


def _fitted_members(fitted, fresh, n_members):
    """Copies of the fitted products, untempered, to continue training.

    ``fresh`` is the product the current parameters build: its weights must have
    the fitted ones' names and shapes, or the experts changed.
    """
    members = list(fitted.members) if isinstance(fitted, ProductEnsemble) else [fitted]
    if len(members) != n_members:
        raise ValueError(
            f"warm_start=True continues the {len(members)} fitted product(s), but the "
            f"parameters now ask for {n_members} (n_bags). Keep n_bags, or set "
            "warm_start=False to fit anew."
        )
    optional = ("expert_weights", "class_bias", "temperature")

    def shapes(module):
        return {key: tuple(value.shape) for key, value in module.state_dict().items()
                if key.rsplit(".", 1)[-1] not in optional}

    fitted_shapes, fresh_shapes = shapes(members[0]), shapes(fresh)
    if fitted_shapes != fresh_shapes:
        changed = sorted(key for key in fitted_shapes.keys() | fresh_shapes.keys()
                         if fitted_shapes.get(key) != fresh_shapes.get(key))
        raise ValueError(
            "warm_start=True continues the fitted networks, but the experts now build "
            f"different ones (weights that differ: {changed[:5]}): the experts, fusion "
            "or dependencies changed since the last fit. Restore them, or set "
            "warm_start=False to fit anew."
        )
    # Copies: a warm fit that fails must not have changed the model it started from.
    return [copy.deepcopy(member).set_temperature(None).to(fresh._device())
            for member in members]


class I2M2Classifier(ClassifierMixin, _BaseComposition):
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
    fusion : BaseFusion, classifier or None, default=None
        The inter-modality expert: a :class:`~sk_i2m2.experts.BaseFusion` (e.g.
        :class:`~sk_i2m2.experts.AttentionFusion`) or a scikit-learn classifier
        (cross-fitted on every modality's preprocessed columns); None means
        :class:`~sk_i2m2.experts.ConcatFusion`.
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
    expert_weights : None or "learn", default=None
        None multiplies the experts as they are, as I2M2 does. ``"learn"`` fits one
        weight per expert and a bias per class on the experts' out-of-fold
        log-probabilities (a weighted product); it needs every expert to be a
        scikit-learn classifier (see :class:`~sk_i2m2.experts.SklearnExpert`).
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
        0 is silent. 1 shows progress bars (on stderr): over the epochs of each
        training, with the last losses, over the batches of each epoch, and over
        the cross-fitting of scikit-learn experts. 2 or more prints skorch's
        per-epoch table instead of the bars.
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
        Members of the ensemble (1: a single product). ``net_.module_`` is then a
        :class:`~sk_i2m2.product.ProductEnsemble` of :class:`ProductOfExperts`.
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
    ['fusion', 'm0', 'm1']
    """

    _parameter_constraints = {
        "modalities": [list, None],
        "fusion": [BaseFusion, HasMethods(["fit", "predict_proba"]), None],
        "dependencies": [StrOptions({"both", "intra", "inter"})],
        "remainder": [StrOptions({"drop", "passthrough"}), HasMethods(["build"])],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "expert_weights": [StrOptions({"learn"}), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(RealNotInt, 0, 1, closed="neither")],
        "n_iter_no_change": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "calibrate": [StrOptions({"auto", "temperature"}), None],
        "n_bags": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "predict_batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str, torch.device],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "distributed": ["boolean"],
    }

    def __init__(self, modalities=None, *, fusion=None, dependencies="both",
                 remainder="drop", modality_dropout=0.0, expert_weights=None,
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

    # Nested parameters ``<modality>__<param>`` work as in ModalitySplitter (and
    # ColumnTransformer); ``fusion__<param>`` comes from BaseEstimator since ``fusion``
    # is a parameter itself.
    _modalities = ModalitySplitter._modalities

    def get_params(self, deep=True):
        return self._get_params("_modalities", deep=deep)

    def set_params(self, **params):
        self._set_params("_modalities", **params)
        return self

    def _sk_visual_block_(self):
        # As ColumnTransformer's: a box per modality with its expert and columns, and
        # the fusion expert beside them when the product holds one.
        splitter = getattr(self, "splitter_", None) or ModalitySplitter(
            self.modalities, remainder=self.remainder)
        fusion = []
        if self.dependencies != "intra":
            fusion = [(FUSION, ConcatFusion() if self.fusion is None else self.fusion,
                       "every modality")]
        return modality_block(splitter, fusion)

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: VectorLike,
            sample_weight: VectorLike | None = None) -> "I2M2Classifier":
        """Fit every expert of the product.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training data; columns are routed to modalities by ``modalities``.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in every loss (times its class weight), in the
            temperature fit, and in the fit of scikit-learn experts.

        Returns
        -------
        self
        """
        previous = self._previous_fit() if self.warm_start else None
        # A fit that raises must not leave the previous (or a partial) fit behind.
        for attribute in _FITTED_ATTRIBUTES:
            self.__dict__.pop(attribute, None)

        X = check_X(X)
        y, y_encoded, classes = _encode_labels(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        if self.distributed:
            check_process_group()
        if self.modalities is not None:  # names become this estimator's parameters too
            check_modality_spec(self.modalities, self)
        if previous is None:
            splitter = ModalitySplitter(self.modalities, remainder=self.remainder)
            modalities = splitter.fit_transform(X)
        else:  # keep the fitted preprocessing
            splitter = previous["splitter_"]
            _check_same_fit(previous, splitter, X, classes, self)
            modalities = splitter.transform(X)
        device = _resolve_device(self.device)
        seed = _draw_seed(self.random_state)
        sklearn_experts = SklearnExperts.from_spec(splitter.modalities_, self.dependencies,
                                                   self.fusion)
        data = Batch(
            modalities,
            sklearn_experts.fit(splitter, X, modalities, y_encoded, len(classes), seed,
                                sample_weight, verbose=self.verbose),
            row_weights(y, y_encoded, classes, self.class_weight, sample_weight),
        )

        def build():
            return build_product(splitter, self.dependencies, self.fusion, len(classes),
                                 self.modality_dropout, sklearn_experts.names)

        with _PrivateTorchRandomness(seed, device):
            module = build()
            if self.expert_weights == "learn":
                self._learn_expert_weights(module, data, y_encoded, len(classes))
            n_members = count_members(self, module, y_encoded)
            members = [module]
            warm = previous is not None and module.trainable
            if warm:  # continue the fitted networks
                members = _fitted_members(previous["net_"].module_, module, n_members)
            if n_members == 1:
                net, held_out = train_one(self, members[0], data, y_encoded, classes, seed,
                                          device, warm=warm)
            else:
                net, held_out = train_members(
                    self, lambda k: members[k] if k < len(members) else build(), n_members,
                    data, y_encoded, seed, device, warm=warm)
            if held_out is not None and self.calibrate is not None:
                # Out-of-fold rows (every row) may sharpen; a held-out split only softens.
                self._fit_temperature(net, *held_out, soften_only=n_members == 1)
        self._set_fitted(classes, splitter, sklearn_experts, net)
        if n_members > 1:  # every row's probabilities from the member that did not see it
            # held_out was predicted before the temperature was fitted: divide as the
            # product does.
            oof_proba = torch.softmax((held_out[0] / self.temperature_).double(),
                                      dim=1).numpy()
            self.oof_proba_ = oof_proba
            self.oof_score_ = float(np.mean(oof_proba.argmax(axis=1) == y_encoded))
        return self

    def _previous_fit(self):
        """The fitted attributes a warm start continues from; None when unfitted."""
        if not hasattr(self, "net_"):
            return None
        return {attribute: getattr(self, attribute) for attribute in _FITTED_ATTRIBUTES
                if hasattr(self, attribute)}

    def _set_fitted(self, classes, splitter, sklearn_experts, net, oof_proba=None,
                    oof_score=None):
        """Set every fitted attribute, from a fit or from a saved model."""
        self.classes_ = classes
        self.splitter_ = splitter
        self.sklearn_experts_ = sklearn_experts
        self.n_features_in_ = splitter.n_features_in_
        if hasattr(splitter, "feature_names_in_"):
            self.feature_names_in_ = splitter.feature_names_in_
        self.net_ = net
        self.history_ = net.history
        temperature = net.module_.temperature
        self.temperature_ = 1.0 if temperature is None else float(temperature)
        module = net.module_
        self.n_bags_ = len(module.members) if isinstance(module, ProductEnsemble) else 1
        if oof_proba is not None:
            self.oof_proba_, self.oof_score_ = oof_proba, oof_score
        return self

    @staticmethod
    def _fit_temperature(net, log_proba, y, sample_weight, soften_only=True):
        """Fit the product's temperature on held-out rows and put it in the module.

        ``log_proba`` are the product's log-probabilities of rows it did not train on.
        """
        temperature, before, after = fit_temperature(log_proba, y, sample_weight,
                                                      soften_only)
        net.module_.set_temperature(temperature)
        for key, value in (("temperature", float(net.module_.temperature)),  # as stored
                           ("valid_log_loss_uncalibrated", before),
                           ("valid_log_loss_calibrated", after)):
            net.history.record(key, value)

    def _learn_expert_weights(self, module, data, y, n_classes):
        if module.trainable:
            raise ValueError(
                "expert_weights='learn' weighs fitted classifiers by their out-of-fold "
                "predictions, which neural experts do not have: make every expert a "
                "scikit-learn classifier (and the fusion expert too, or "
                "dependencies='intra'), or leave expert_weights=None."
            )
        ordered = {name: data.sklearn_log_proba[name] for name in module.expert_names}
        module.set_expert_weights(*learn_expert_weights(ordered, y, n_classes,
                                                        data.sample_weight))

    # ------------------------------------------------------------------ predict

    def _batches(self, X):
        """What the product reads for ``X``, one chunk of rows at a time.

        Yields a :class:`Batch` (modality arrays and scikit-learn experts' output) of
        each chunk of ``_PREDICT_CHUNK_BATCHES`` prediction batches, so that
        prediction holds the preprocessed copy of one chunk, never of all ``X``.
        """
        check_is_fitted(self)
        # Once for all the chunks: the column checks, and the warning about the
        # names of X's columns (after which the splitter and the experts reading raw
        # columns see chunks whose names match the fit).
        X = self.splitter_.check_input(X)
        size = _PREDICT_CHUNK_BATCHES * prediction_batch_size(
            self.predict_batch_size, self.splitter_.sample_shapes_.values())
        for start in range(0, len(X), size):
            chunk = _safe_indexing(X, slice(start, start + size))
            modalities = self.splitter_.transform_checked(chunk, first_row=start)
            yield Batch(modalities,
                        self.sklearn_experts_.log_proba(self.splitter_, chunk, modalities))

    def _forward_experts(self, X):
        """``net_.forward_experts`` of ``X``, chunk by chunk: the experts' logits, the product."""
        chunks = [self.net_.forward_experts(batch) for batch in self._batches(X)]
        logits = {name: torch.cat([chunk_logits[name] for chunk_logits, _ in chunks])
                  for name in chunks[0][0]}
        return logits, torch.cat([combined for _, combined in chunks])

    def _combined_log_proba(self, X):
        # Renormalise in float64 so rows sum to one at numpy's usual precision.
        return np.concatenate([torch.log_softmax(self.net_.forward(batch).double(), dim=1)
                               .numpy() for batch in self._batches(X)])

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

    def explain(self, X: MatrixLike) -> pd.DataFrame:
        """Which expert drove each prediction, as a long table (one row per expert).

        The product scores class ``k`` by the sum of the experts' log-probabilities
        of ``k``. Each expert's *contribution* to the predicted class ``c`` is its
        log-probability of ``c`` minus its mean log-probability over the classes
        (times its weight when ``expert_weights="learn"``): the evidence, in nats,
        it gives ``c`` over an average class; negative when it argues against ``c``.
        Its *share* is the size of its contribution over the sum of the sizes in the
        row, so the shares of a sample sum to one.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        DataFrame
            ``n_samples * n_experts`` rows, sample by sample, with columns:

            - ``sample``: the label of the row in ``X`` (its index, or position);
            - ``predicted``: the product's predicted class;
            - ``probability``: the product's probability of that class;
            - ``expert``: a modality name, or ``"fusion"``;
            - ``log_proba``: the expert's own log-probability of the predicted
              class (NaN when the sample lacks the expert's modality);
            - ``contribution``: as above (0 when the expert cannot see the sample);
            - ``share``: as above, in [0, 1];
            - ``agrees``: whether the expert's own most probable class is the
              prediction (NA when it cannot see the sample);
            - ``fusion_agrees``: ``agrees`` of the fusion expert, repeated on each
              row of the sample (NA without a fusion expert).

        Examples
        --------
        >>> from sk_i2m2 import I2M2Classifier
        >>> from sk_i2m2.datasets import make_multimodal_classification
        >>> X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
        >>> clf = I2M2Classifier(modalities, max_epochs=5, random_state=0).fit(X, y)
        >>> table = clf.explain(X.head(2))
        >>> table[["sample", "expert"]].values.tolist()
        [[0, 'm0'], [0, 'm1'], [0, 'fusion'], [1, 'm0'], [1, 'm1'], [1, 'fusion']]
        >>> table.groupby("sample")["share"].sum().round(6).tolist()
        [1.0, 1.0]
        """
        # One pass: images read from files are read once.
        logits, combined = self._forward_experts(X)
        expert_log_proba = {name: torch.log_softmax(value.double(), dim=1).numpy()
                            for name, value in logits.items()}
        combined = torch.log_softmax(combined.double(), dim=1).numpy()
        # Each expert's term in the product: learnt weights and temperature included.
        weights = self.net_.module_.term_weights().numpy()
        index = X.index if hasattr(X, "iloc") else np.arange(len(combined))
        return explain_predictions(expert_log_proba, combined, self.classes_, index,
                                   weights=weights)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = self.random_state is None
        return tags

