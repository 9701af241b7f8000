"""BaseI2M2: what every I2M2 estimator shares, whatever it predicts.

:class:`~sk_i2m2.I2M2Classifier` and :class:`~sk_i2m2.I2M2Regressor` are thin faces
over this base, as skorch's ``NeuralNetClassifier`` and ``NeuralNetRegressor`` are
over ``NeuralNet``: a face names its task (:meth:`BaseI2M2._get_task`, as
scikit-learn's histogram gradient boosting names its loss with ``_get_loss``) and
turns the product's output into its predictions. ``fit`` is a chain of named steps:

1. :meth:`~BaseI2M2._validate`: the rows, the target (fitting the task on it) and
   the sample weights;
2. :meth:`~BaseI2M2._preprocess`: fit the modality splitter, or (warm start) check
   that the data and modalities are the fitted model's; then
   :meth:`~BaseI2M2._attribution_baselines`, the typical training row each
   attribution starts from;
3. the fit plan (:func:`~sk_i2m2._plan.resolve_plan`): every ``"auto"`` parameter
   resolved once, before any expert is fitted; the steps below read the plan;
4. :meth:`~BaseI2M2._cross_fit_sklearn_experts`: the scikit-learn experts' out-of-fold
   outputs, and the rows' loss weights;
5. :meth:`~BaseI2M2._train`: build the products and train them;
6. :meth:`~BaseI2M2._weigh_experts`: fit the log-linear pool's weights on held-out
   rows (:mod:`sk_i2m2._pool`), when the plan says so;
7. :meth:`~BaseI2M2._calibrate`: fit the task's calibration on held-out rows;
8. :meth:`~BaseI2M2._set_fitted`: record the fitted state, one record that ``save``
   writes and ``load`` reads back.
"""

import copy
import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import _fit_context
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, check_is_fitted

from ._attribution import attribution_baselines, expert_attributions
from ._callbacks import log_line
from ._data_report import (
    as_frame,
    as_record,
    closing_line,
    data_report,
    header_lines,
    warn_unusable_files,
)
from ._dataset import Batch
from ._input_profile import warn_unseen
from ._names import FUSION
from ._net import check_process_group
from ._plan import RESOLVED, resolve_fusion, resolve_plan
from ._pool import fit_pool
from ._sklearn_experts import SklearnExperts
from ._splitter import ModalitySplitter, check_modality_spec, check_X, modality_block
from ._training import HeldOut, predict_held_out, train
from .imaging._read_log import ReadLog, reading_into
from .product import ProductEnsemble, build_product

#: Prediction preprocesses and forwards X this many prediction batches at a time:
#: its preprocessed copy and tensors are then held for one chunk only, so that the
#: memory of prediction does not grow with the number of rows, while the per-call
#: cost of the splitter and of the scikit-learn experts is shared by many batches.
_PREDICT_CHUNK_BATCHES = 16

#: The fitted state every I2M2 estimator records (faces add their own): what
#: ``save`` writes and ``load`` gives back to :meth:`BaseI2M2._set_fitted`. The
#: net is not in it: it is rebuilt from these and the saved weights.
RECORDED = ("task_", "splitter_", "attribution_baselines_", "sklearn_experts_",
            "data_report_", *(name + "_" for name in RESOLVED))
#: What ``_set_fitted`` derives from the record and the net.
DERIVED = ("n_features_in_", "feature_names_in_", "net_", "history_", "expert_weights_")


def _concatenate_padded(arrays):
    """Rows of arrays whose second axis may differ (histories of a chunk are as long
    as its longest), padded with NaN to the longest."""
    if len({array.shape[1:] for array in arrays}) <= 1:
        return np.concatenate(arrays)
    longest = max(array.shape[1] for array in arrays)
    return np.concatenate([
        np.pad(array, [(0, 0), (0, longest - array.shape[1])]
               + [(0, 0)] * (array.ndim - 2), constant_values=np.nan)
        for array in arrays])


def _last_value(history, key):
    """The last value of ``key`` in a skorch history, or None."""
    for row in reversed(history):
        if key in row:
            return row[key]
    return None


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


def _check_same_fit(previous, X, task, estimator):
    """A warm start's data and modalities must be those of the fitted model."""
    splitter = previous["splitter_"]
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
    """Copies of the fitted products, uncalibrated, to continue training.

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
    return [copy.deepcopy(member).set_temperature(None).set_expert_weights(None, None)
            .to(fresh._device()) for member in members]


def calibration_value(net):
    """The calibration the net's module holds (a temperature, a variance scale); 1: none."""
    temperature = net.module_.temperature
    return 1.0 if temperature is None else float(temperature)


def _products(module):
    """The products of a module: an ensemble's members, or the product itself."""
    return list(module.members) if isinstance(module, ProductEnsemble) else [module]


def _member_predictions(net, data):
    """Every member's prediction of the rows of ``data``, ``[(n, n_outputs)]`` on the CPU."""
    dataset = net.get_dataset(data)
    net.module_.eval()
    parts = []
    with torch.no_grad():
        for Xi, _ in net.get_iterator(dataset, training=False):
            Xi = net._on_device(Xi)
            parts.append([member(Xi.modalities, Xi.sklearn_outputs).cpu()
                          for member in net.module_.members])
    return [torch.cat(column) for column in zip(*parts, strict=True)]


class BaseI2M2(_BaseComposition):
    """The product-of-experts estimator, whatever the task (see the module docstring).

    Faces implement :meth:`_get_task` and their predictions; they may extend the
    hooks :meth:`_row_weights` and :meth:`_set_task_attributes`, and ``_recorded`` /
    ``_derived`` with the fitted attributes they add. Everything else that depends
    on what is predicted is the task's (:mod:`sk_i2m2._task`).
    """

    #: Parameters every face has; a face adds its own.
    _parameter_constraints = {
        "modalities": [list, None],
        "dependencies": [StrOptions({"both", "intra", "inter"})],
        "remainder": [StrOptions({"drop", "passthrough"}), HasMethods(["build"])],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "expert_weights": [StrOptions({"auto", "learn"}), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(RealNotInt, 0, 1, closed="neither")],
        "n_iter_no_change": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
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

    #: Fitted attributes recorded (saved and loaded) and derived; faces extend them.
    _recorded = RECORDED
    _derived = DERIVED
    #: History keys of the calibration: its value, the held-out loss before and after.
    _calibration_keys = ("temperature", "valid_loss_uncalibrated", "valid_loss_calibrated")

    # ------------------------------------------------------------------ task hooks

    def _get_task(self):
        """A new, unfitted task (:mod:`sk_i2m2._task`) of this estimator."""
        raise NotImplementedError

    def _row_weights(self, task, y, sample_weight):
        """Each row's weight in every loss (None: all 1)."""
        return task.row_weights(y, sample_weight)

    def _set_task_attributes(self):
        """Set the face's own fitted attributes derived from the record (e.g. ``classes_``)."""

    # ------------------------------------------------------------------ parameters

    def _store_init_params(self, arguments):
        """Store each ``__init__`` argument unchanged, under its own name.

        A face's ``__init__`` names its parameters (scikit-learn reads them from
        the signature) and passes ``locals()`` here.
        """
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

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
            fusion = [(FUSION, resolve_fusion(self.fusion, self.dependencies),
                       "every modality")]
        return modality_block(splitter, fusion)

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Fit every expert of the product.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Training data; columns are routed to modalities by ``modalities``.
        y : array-like of shape (n_samples,)
            The target: class labels of any type scikit-learn accepts (classifier),
            or numbers (regressor).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weight of each row in every loss (times its class weight, for a
            classifier), in the calibration, and in the fit of scikit-learn experts.
        groups : array-like of shape (n_samples,) or None, default=None
            The group of each row (a patient's visits, a site's scans): every split
            inside ``fit`` (the ensemble's members, hence the out-of-fold
            calibration and pool; a single product's validation rows; the
            scikit-learn experts' cross-fitting) keeps a group's rows on one side,
            so that the out-of-fold estimates stay honest. Routed like
            scikit-learn's ``groups`` (``set_fit_request(groups=True)`` with
            metadata routing on).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        previous = self._previous_fit() if self.warm_start else None
        # A fit that raises must not leave the previous (or a partial) fit behind.
        self._forget_fit()
        X, y, sample_weight, task = self._validate(X, y, sample_weight)
        groups = self._validate_groups(X, groups)
        if previous is not None:  # the fitted model's encoding of the target
            y = task.continue_from(previous["task_"], y)
        # Image files are read once here, before training; what that met goes to log.
        with reading_into(ReadLog()) as log:
            splitter, modalities = self._preprocess(X, task, previous)
        report = data_report(splitter, modalities, log)
        if self.verbose:
            for line in header_lines(report, type(self).__name__):
                log_line(line)
        baselines = self._attribution_baselines(splitter, modalities, previous)
        plan = resolve_plan(self.get_params(deep=False), task, y, splitter.modalities_,
                            splitter.sample_shapes_.values(), groups)
        seed = _draw_seed(self.random_state)
        sklearn_experts, data = self._cross_fit_sklearn_experts(
            splitter, X, modalities, y, plan, seed, sample_weight, groups)
        with _PrivateTorchRandomness(seed, plan.device):
            net, held_out = self._train(splitter, sklearn_experts, data, y, plan, seed,
                                        previous, groups)
            if plan.pool:
                held_out = self._weigh_experts(net, plan, held_out, data, y)
            if held_out is not None and plan.calibrate is not None:
                self._calibrate(net, plan, held_out, data)
            if task.learns_from_outputs:
                self._fit_task_outputs(net, plan, held_out, data, y)
        if previous is not None:  # a warm start's files are first read by training
            report = data_report(splitter, modalities, log)
        record = {"task_": task, "splitter_": splitter, "attribution_baselines_": baselines,
                  "sklearn_experts_": sklearn_experts, "data_report_": report,
                  **plan.resolved()}
        if plan.n_bags > 1:  # every row's prediction from the member that did not see it
            # held_out was predicted before the calibration was fitted; net holds it.
            record.update(task.out_of_fold(held_out, calibration_value(net)))
        self._set_fitted(record, net)
        warn_unusable_files(log, report["modality"], "fit", "See data_report_.")
        if self.verbose:
            log_line(closing_line(type(self).__name__, self.history_, plan.n_bags,
                                  _last_value(self.history_, "temperature"),
                                  self.expert_weights_, time.perf_counter() - start))
        return self

    def _forget_fit(self):
        for attribute in (*self._recorded, *self._derived):
            self.__dict__.pop(attribute, None)

    def _validate(self, X, y, sample_weight):
        """Step 1: ``(X, encoded y, sample_weight, fitted task)``, all checked."""
        X = check_X(X)
        task = self._get_task()
        if y is not None:
            check_consistent_length(X, y)
        y = task.fit_target(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        if self.distributed:
            check_process_group()
        if self.modalities is not None:  # names become this estimator's parameters too
            check_modality_spec(self.modalities, self)
        return X, y, sample_weight, task

    @staticmethod
    def _validate_groups(X, groups):
        """Step 1b: the rows' groups as an array of one label a row, or None."""
        if groups is None:
            return None
        groups = np.asarray(groups)
        if groups.ndim != 1:
            raise ValueError(f"groups must hold one label a row, got shape {groups.shape}.")
        check_consistent_length(X, groups)
        return groups

    def _preprocess(self, X, task, previous):
        """Step 2: the splitter and the modality arrays of ``X``."""
        if previous is None:
            splitter = ModalitySplitter(self.modalities, remainder=self.remainder)
            return splitter, splitter.fit_transform(X)
        # Keep the fitted preprocessing.
        _check_same_fit(previous, X, task, self)
        return previous["splitter_"], previous["splitter_"].transform(X)

    def _attribution_baselines(self, splitter, modalities, previous):
        """Step 2b: the typical training row of each modality, from which ``explain``
        and ``attribution_maps`` integrate (a warm start keeps the fitted ones, as it
        keeps the fitted preprocessing)."""
        if previous is not None:
            return previous["attribution_baselines_"]
        return attribution_baselines(splitter, modalities)

    def _cross_fit_sklearn_experts(self, splitter, X, modalities, y, plan, seed,
                                   sample_weight, groups=None):
        """Step 4: the fitted scikit-learn experts and the :class:`Batch` of every row."""
        task = plan.task
        sklearn_experts = SklearnExperts.from_spec(splitter.modalities_, self.dependencies,
                                                   plan)
        outputs = sklearn_experts.fit(splitter, X, modalities, y, task, seed, sample_weight,
                                      verbose=self.verbose, groups=groups)
        return sklearn_experts, Batch(modalities, outputs,
                                      self._row_weights(task, y, sample_weight))

    def _build_product(self, splitter, sklearn_experts, plan):
        return build_product(splitter, self.dependencies, plan.fusion, plan.task,
                             self.modality_dropout, sklearn_experts.product_sources())

    def _train(self, splitter, sklearn_experts, data, y, plan, seed, previous, groups=None):
        """Step 5: ``(net, held-out rows)``: build the products and train them."""
        module = self._build_product(splitter, sklearn_experts, plan)
        members = [module]
        warm = previous is not None and module.trainable
        if warm:  # continue the fitted networks
            members = _fitted_members(previous["net_"].module_, module, plan.n_bags)
        # The "auto" experts' candidates wait out of the product while it trains
        # (their weight 0) when the pool is to weigh them: the neural experts learn
        # as they would without them, and the pool, fitted on the held-out rows,
        # decides how much each factor counts.
        waiting = sklearn_experts.candidates if plan.pool else ()

        def member(k):
            product = (members[k] if k < len(members)
                       else self._build_product(splitter, sklearn_experts, plan))
            if waiting:
                product.set_expert_weights(torch.tensor(
                    [0.0 if name in waiting else 1.0 for name in product.expert_names]), None)
            return product

        net, held_out = train(plan, member, data, y, seed, warm=warm, groups=groups)
        return net, held_out

    def _weigh_experts(self, net, plan, held_out, data, y):
        """Step 6: fit the pool's weights on held-out rows; the held-out rows, pooled.

        Without neural experts nothing was held out, but the scikit-learn experts'
        outputs of the training rows are out of fold: the weights are fitted on them.
        """
        if held_out is None:
            prediction, experts = predict_held_out(net, data)
            held_out = HeldOut(prediction, y, data.sample_weight, experts)
        task, experts = plan.task, held_out.experts
        products = _products(net.module_)
        trained = products[0].expert_weights  # None: every expert counted once
        weights, bias = fit_pool(task, experts.logits, experts.available, held_out.y,
                                 held_out.sample_weight,
                                 start=None if trained is None else trained.cpu().numpy())
        # As the products hold them (float32), so that the pooled held-out rows are
        # what the products now predict of them.
        weights = torch.as_tensor(weights, dtype=torch.float32)
        bias = None if bias is None else torch.as_tensor(bias, dtype=torch.float32)
        for product in products:
            product.set_expert_weights(weights, bias)
        logits = {name: torch.nan_to_num(value.double(), nan=0.0)
                  for name, value in experts.logits.items()}
        pooled = task.combine(logits, experts.available, weights=weights.double(),
                              bias=None if bias is None else bias.double())
        return held_out._replace(prediction=pooled.to(held_out.prediction.dtype))

    def _calibrate(self, net, plan, held_out, data):
        """Step 7: fit the task's calibration on held-out rows, put it in the module.

        A cross-fitted ensemble's out-of-fold rows (every row) may sharpen; a single
        product's held-out split only softens (see :mod:`sk_i2m2._calibration`).
        """
        prediction, y, sample_weight = held_out.prediction, held_out.y, held_out.sample_weight
        task = plan.task
        if plan.n_bags == 1:
            value, before, after = task.fit_calibration(prediction, y, sample_weight)
        else:
            members = _member_predictions(net, data) if task.calibrates_on_members else None
            value, before, after = task.fit_ensemble_calibration(prediction, members, y,
                                                                 sample_weight)
        net.module_.set_temperature(value)
        stored = float(net.module_.temperature)  # as the module holds it
        for key, value in zip(self._calibration_keys, (stored, before, after), strict=True):
            net.history.record(key, value)

    def _fit_task_outputs(self, net, plan, held_out, data, y):
        """Step 7b: what the task learns from the fitted model's predictions of the
        training rows (time to event: the baseline hazard).

        A cross-fitted ensemble's are its out-of-fold predictions, calibrated: a
        member's prediction of rows it trained on would be over-confident.
        """
        if plan.n_bags > 1:
            prediction = held_out.prediction / calibration_value(net)
        else:
            prediction = net.forward(data).double()
        plan.task.fit_outputs(prediction, y, data.sample_weight)

    def _set_fitted(self, record, net):
        """Step 8: set every fitted attribute from a fit's record, or a saved one's."""
        for name in self._recorded:
            if name in record:
                setattr(self, name, record[name])
        if isinstance(record.get("data_report_"), dict):  # as a model file holds it
            self.data_report_ = as_frame(record["data_report_"])
        splitter = self.splitter_
        self.n_features_in_ = splitter.n_features_in_
        if hasattr(splitter, "feature_names_in_"):
            self.feature_names_in_ = splitter.feature_names_in_
        self.net_ = net
        self.history_ = net.history
        module = _products(net.module_)[0]
        weights = (np.ones(len(module.expert_names)) if module.expert_weights is None
                   else module.expert_weights.detach().cpu().double().numpy())
        self.expert_weights_ = dict(zip(module.expert_names, weights.tolist(), strict=True))
        self._set_task_attributes()
        return self

    def _fitted_record(self):
        """The record :meth:`_set_fitted` was given (what ``save`` writes)."""
        check_is_fitted(self)
        record = {name: getattr(self, name) for name in self._recorded if hasattr(self, name)}
        if isinstance(record.get("data_report_"), pd.DataFrame):
            record["data_report_"] = as_record(record["data_report_"])
        return record

    def _previous_fit(self):
        """The fitted state a warm start continues from; None when unfitted."""
        if not hasattr(self, "net_"):
            return None
        return {**self._fitted_record(), "net_": self.net_}

    # ------------------------------------------------------------------ predict

    def _batches(self, X):
        """What the product reads for ``X``, one chunk of rows at a time.

        Yields a :class:`Batch` (modality arrays and scikit-learn experts' outputs)
        of each chunk of ``_PREDICT_CHUNK_BATCHES`` prediction batches, so that
        prediction holds the preprocessed copy of one chunk, never of all ``X``.
        """
        check_is_fitted(self)
        # Once for all the chunks: the column checks, and the warning about the
        # names of X's columns (after which the splitter and the experts reading raw
        # columns see chunks whose names match the fit).
        X = self.splitter_.check_input(X)
        # What the model has not seen: one DataWarning per kind and call.
        warn_unseen(getattr(self.splitter_, "input_profile_", {}), X,
                    getattr(self.splitter_, "feature_names_in_", None))
        # Files that cannot be used, found as the chunks are transformed (a backbone's
        # features) or as their batches are read (lazy images): one DataWarning a call.
        log = ReadLog()
        size = _PREDICT_CHUNK_BATCHES * self.predict_batch_size_
        for start in range(0, len(X), size):
            chunk = _safe_indexing(X, slice(start, start + size))
            with reading_into(log):
                modalities = self.splitter_.transform_checked(chunk, first_row=start)
            yield Batch(modalities,
                        self.sklearn_experts_.outputs(self.splitter_, chunk, modalities))
        warn_unusable_files(log, [name for name, _, _ in self.splitter_.modalities_],
                            "predict")

    def _forward(self, X):
        """The product's prediction of ``X`` (``net_.forward``), in float64."""
        return torch.cat([self.net_.forward(batch).double() for batch in self._batches(X)])

    def _forward_experts(self, X, with_terms=False):
        """``net_.forward_experts`` of ``X``, chunk by chunk: the experts' outputs, the product.

        With ``with_terms``, a third item: each expert's term in the prediction.
        """
        chunks = [self.net_.forward_experts(batch, with_terms=with_terms)
                  for batch in self._batches(X)]
        logits = {name: torch.cat([chunk[0][name] for chunk in chunks])
                  for name in chunks[0][0]}
        result = (logits, torch.cat([chunk[1] for chunk in chunks]))
        if with_terms:
            result += ({name: torch.cat([chunk[2][name] for chunk in chunks])
                        for name in chunks[0][2]},)
        return result

    # ------------------------------------------------------------------ attributions

    @staticmethod
    def _check_by(by):
        if by not in ("expert", "column"):
            raise ValueError(f"by must be 'expert' or 'column', got {by!r}.")
        return by

    def attribution_maps(self, X, modality, expert=None, steps=64):
        """Integrated-gradient attributions of an expert over a modality's inputs.

        For an image or a series modality, a map of the expert's input shape per row:
        how much each pixel (voxel, time step) moved the expert's contribution to the
        prediction, from a baseline of zeros (the training mean, after the
        modality's standardisation). See ``explain(X, by="column")`` for the
        method and its completeness.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        modality : str
            The modality whose inputs are attributed.
        expert : str or None, default=None
            The expert whose contribution is attributed: the modality's own (None),
            or ``"fusion"``. Without a unimodal expert (``dependencies="inter"``),
            None means the fusion expert.
        steps : int, default=64
            The most intervals of the integration path (each row refines its own
            as far as it needs, as in ``explain(X, by="column")``).

        Returns
        -------
        ndarray
            One map per row, of the modality's preprocessed sample shape (e.g.
            ``(n_samples, C, H, W)``); NaN rows lack the modality.
        """
        check_is_fitted(self)
        names = [name for name, _, _ in self.splitter_.modalities_]
        if modality not in names:
            raise ValueError(f"Unknown modality {modality!r}; the modalities are {names}.")
        module = self.net_.module_
        fitted = set(getattr(module, "members", [module])[0].sklearn_experts)
        neural = [name for name in module.expert_names if name not in fitted]
        if expert is None:
            expert = modality if modality in neural else FUSION
        if expert not in neural or expert not in (modality, FUSION):
            raise ValueError(
                f"expert={expert!r} cannot be attributed over modality {modality!r}: give "
                f"the modality's own expert or 'fusion', among the neural experts "
                f"{neural}.")
        maps = []
        for batch in self._batches(X):
            _, _, results = expert_attributions(self, batch, [expert], steps)
            values = results[expert][0][modality].double().numpy()
            lacking = np.isnan(np.asarray(batch.modalities[modality], dtype=np.float64)
                               .reshape(len(values), -1)[:, 0])
            values[lacking] = np.nan
            maps.append(values)
        return _concatenate_padded(maps)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = self.random_state is None
        return tags
