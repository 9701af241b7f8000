"""The skorch net that trains every expert of the product in one pass per epoch.

Two stages share one net and one optimizer:

* ``"pretrain"``: the loss is the sum of each expert's own cross-entropy. The experts
  share no weights, so this is training each of them separately, in one pass.
* ``"joint"``: the loss is the cross-entropy of the product.

Per-batch overhead is kept to what a hand-written loop pays: batches are sliced from
tensors built once per fit (no per-item collation), the train/eval mode is set once
per epoch rather than once per batch, and prediction uses its own large batches.
"""

import copy
import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.utils import is_dataset
from torch.utils.data import Dataset

from ._module import combine_log_proba

PRETRAIN, JOINT = "pretrain", "joint"


def _tensor(values, dtype, device):
    # torch cannot share memory with a read-only array (pandas' copy-on-write hands
    # those out): copy it then, share it otherwise.
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values, dtype=dtype).to(device)


class TensorDictDataset(Dataset):
    """Modality tensors and labels, indexable per row and sliceable per batch.

    Parameters
    ----------
    X : dict of str to array-like
        ``{modality: (n, ...)}`` arrays; converted to float32 tensors once.
    y : array-like of int or None
        Encoded labels.
    device : str or torch.device, default="cpu"
        Where the tensors live; on a GPU the whole set is moved there once.
    """

    def __init__(self, X, y=None, device="cpu"):
        self.X = {name: _tensor(values, torch.float32, device) for name, values in X.items()}
        self.y = None if y is None else _tensor(y, torch.long, device)
        lengths = {len(values) for values in self.X.values()}
        if len(lengths) != 1:
            raise ValueError(f"Modalities have different numbers of rows: {lengths}.")
        (self.n_rows,) = lengths

    def __len__(self):
        return self.n_rows

    def __getitem__(self, index):
        # Row access keeps the dataset usable with a plain torch DataLoader.
        Xi = {name: values[index] for name, values in self.X.items()}
        return Xi, (self.y[index] if self.y is not None else torch.zeros((), dtype=torch.long))


class TensorBatches:
    """Iterate over ``(X_batch, y_batch)`` slices of a :class:`TensorDictDataset`.

    Parameters
    ----------
    dataset : TensorDictDataset
    batch_size : int
    shuffle : bool, default=False
        Draw a new row order every epoch (each ``iter`` call).
    generator : torch.Generator or None
        Source of the shuffling, so a seeded fit never touches torch's global state.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        n_rows, batch_size = len(self.dataset), self.batch_size
        if not self.shuffle:
            for start in range(0, n_rows, batch_size):
                stop = start + batch_size
                yield {name: v[start:stop] for name, v in X.items()}, (
                    None if y is None else y[start:stop]
                )
            return
        device = y.device if y is not None else next(iter(X.values())).device
        order = torch.randperm(n_rows, generator=self.generator).to(device)
        for start in range(0, n_rows, batch_size):
            index = order[start:start + batch_size]
            yield {name: v[index] for name, v in X.items()}, (
                None if y is None else y[index]
            )


class StopTraining(Exception):
    """Raised by a callback to end training, keeping the model usable."""


class NonFiniteLoss(Exception):
    """A training or validation loss became NaN or infinite."""


class JointStageEarlyStopping(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, watching the joint stage only.

    The pretraining loss (a sum of per-expert losses) is not the loss of the model
    being returned, so neither its value nor its weights may count as "best".
    """

    def on_epoch_end(self, net, **kwargs):
        if net.stage_ != JOINT:
            return
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            # skorch signals "stop" with KeyboardInterrupt; keep that for the user's.
            raise StopTraining from None


class ProductOfExpertsNet(NeuralNet):
    """A skorch :class:`~skorch.NeuralNet` around a :class:`ProductOfExperts`.

    Parameters
    ----------
    module : ProductOfExperts
        The initialised module.
    predict_batch_size : int, default=4096
        Batch size of validation and prediction passes.
    shuffle_seed : int or None, default=None
        Seed of the private generator that shuffles the training rows.
    class_weight : array-like of shape (n_classes,) or None, default=None
        Weight of each encoded class in every loss. The criterion must return
        per-row losses (``reduction="none"``).
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *args, predict_batch_size=4096, shuffle_seed=None,
                 class_weight=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.predict_batch_size = predict_batch_size
        self.shuffle_seed = shuffle_seed
        self.class_weight = class_weight

    def initialize_optimizer(self, *args, **kwargs):
        # A product of fitted classifiers alone has nothing to train.
        if not self.module_.trainable:
            self.optimizer_ = None
            return self
        return super().initialize_optimizer(*args, **kwargs)

    def initialize_criterion(self):
        super().initialize_criterion()
        # The criterion gives per-row losses; get_loss weighs and averages them.
        if self.class_weight is not None:
            self.class_weight_ = torch.as_tensor(self.class_weight,
                                                 dtype=torch.float32).to(self.device)
        return self

    # ------------------------------------------------------------------ callbacks

    def initialize_callbacks(self):
        super().initialize_callbacks()
        self.listeners_ = {}  # method name -> the callbacks that implement it
        return self

    def notify(self, method_name, **cb_kwargs):
        # skorch calls every callback's method, most of them no-ops, three times a
        # batch; calling only the callbacks that override the method gives the same
        # result at a fraction of the per-batch cost.
        listeners = self.listeners_.get(method_name)
        if listeners is None:
            base = getattr(Callback, method_name)
            listeners = [self] + [
                callback for _, callback in self.callbacks_
                if getattr(type(callback), method_name, base) is not base
                or method_name in vars(callback)
            ]
            self.listeners_[method_name] = listeners
        for listener in listeners:
            getattr(listener, method_name)(self, **cb_kwargs)

    # ------------------------------------------------------------------ data

    def get_dataset(self, X, y=None):
        if is_dataset(X):
            return X
        return TensorDictDataset(X, y, device=self.device)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, TensorDictDataset):
            return super().get_iterator(dataset, training=training)
        if training:
            return TensorBatches(dataset, self.batch_size, shuffle=True,
                                 generator=self._shuffle_generator())
        return TensorBatches(dataset, self.predict_batch_size)

    def _shuffle_generator(self):
        generator = getattr(self, "shuffle_generator_", None)
        if generator is None:
            generator = torch.Generator()
            if self.shuffle_seed is None:
                generator.seed()
            else:
                generator.manual_seed(self.shuffle_seed)
            self.shuffle_generator_ = generator
        return generator

    # ------------------------------------------------------------------ loss

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Loss of the current stage.

        ``y_pred`` is the product's combined log-probabilities (joint stage: their
        cross-entropy), or during pretraining a dict of each expert's
        ``(logits, available)`` (the sum of each expert's own cross-entropy over the
        rows it sees).
        """
        if isinstance(y_pred, dict):
            return sum(self._mean_loss(logits, y_true, rows)
                       for logits, rows in y_pred.values())
        return self._mean_loss(y_pred, y_true)

    def _mean_loss(self, logits, y_true, rows=None):
        # Weighted mean as torch's CrossEntropyLoss(weight=...) takes it, over the
        # rows given: sum(w_i * loss_i) / sum(w_i).
        losses = self.criterion_(logits, y_true)
        weights = None if self.class_weight is None else self.class_weight_[y_true]
        if rows is not None:
            weights = rows.to(losses.dtype) if weights is None else weights * rows
        if weights is None:
            return losses.mean()
        return (losses * weights).sum() / weights.sum().clamp_min(torch.finfo(
            losses.dtype).tiny)

    def _expert_step(self, batch):
        Xi, yi = batch
        logits, available = self.module_.expert_outputs(**Xi)
        y_pred = combine_log_proba(logits, available)
        if self.stage_ == PRETRAIN:
            stage_output = {name: (logits[name], available[name]) for name in logits}
        else:
            stage_output = y_pred
        loss = self.get_loss(stage_output, yi, X=Xi, training=self.module_.training)
        return loss, y_pred

    def train_step_single(self, batch, **fit_params):
        loss, y_pred = self._expert_step(batch)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        with torch.no_grad():
            loss, y_pred = self._expert_step(batch)
        return {"loss": loss, "y_pred": y_pred}

    def forward_experts(self, X):
        """Each expert's logits on ``X`` in eval mode, ``{name: (n, C) tensor}``.

        Rows an expert cannot see (its modality is missing) are NaN.
        """
        dataset = self.get_dataset(X)
        self._set_training(False)
        chunks = {}
        with torch.no_grad():
            for Xi, _ in self.get_iterator(dataset, training=False):
                logits, available = self.module_.expert_outputs(**Xi)
                for name, values in logits.items():
                    masked = torch.where(available[name].unsqueeze(1), values, torch.nan)
                    chunks.setdefault(name, []).append(masked.cpu())
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    # ------------------------------------------------------------------ loops

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # As skorch's, but the module's mode is set once here, not once per batch.
        if iterator is None:
            return
        self._set_training(training)
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss = step["loss"].item()
            self.history.record_batch(prefix + "_loss", loss)
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"{prefix} loss {loss}")
            self.history.record_batch(prefix + "_batch_size", len(batch[1]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)

    def fit_stages(self, X, y, stages, valid=None):
        """Initialise, then train through ``stages`` over one train/valid split.

        Parameters
        ----------
        X : dict of str to array-like
            Training modalities.
        y : array-like of int
            Encoded training labels.
        stages : list of (str, int)
            ``(stage, epochs)`` pairs, run in order.
        valid : tuple (X_valid, y_valid) or None
            Validation data, scored after every epoch.
        """
        self.initialize()
        dataset_train = self.get_dataset(X, y)
        dataset_valid = None if valid is None else self.get_dataset(*valid)
        iterator_train = self.get_iterator(dataset_train, training=True)
        iterator_valid = (None if dataset_valid is None
                          else self.get_iterator(dataset_valid, training=False))
        epoch_kwargs = {"dataset_train": dataset_train, "dataset_valid": dataset_valid}

        self.stage_ = stages[0][0] if stages else JOINT
        finite_weights, epochs_done = copy.deepcopy(self.module_.state_dict()), 0
        self.notify("on_train_begin", X=X, y=y)
        try:
            for stage, epochs in stages:
                self.stage_ = stage
                for _ in range(epochs):
                    self.notify("on_epoch_begin", **epoch_kwargs)
                    self.history.record("stage", stage)
                    self.run_single_epoch(iterator_train, training=True, prefix="train",
                                          step_fn=self.train_step)
                    self.run_single_epoch(iterator_valid, training=False,
                                          prefix="valid", step_fn=self.validation_step)
                    self.notify("on_epoch_end", **epoch_kwargs)
                    finite_weights = copy.deepcopy(self.module_.state_dict())
                    epochs_done += 1
        except StopTraining:
            pass
        except NonFiniteLoss as diverged:
            if not epochs_done:
                raise ValueError(
                    f"Training diverged in its first epoch ({diverged}): there are no "
                    "weights worth keeping. Lower lr, or check the inputs for extreme "
                    "values."
                ) from None
            self.module_.load_state_dict(finite_weights)
            warnings.warn(
                f"The {diverged} in epoch {epochs_done + 1} ({self.stage_} stage); "
                f"training stopped there and the model keeps the weights of epoch "
                f"{epochs_done}, the last with finite losses. Lower lr to train further.",
                RuntimeWarning, stacklevel=3,
            )
        except KeyboardInterrupt:
            self.module_.load_state_dict(finite_weights)
            warnings.warn(
                f"Training was interrupted in epoch {epochs_done + 1} ({self.stage_} "
                f"stage). The model is usable: it keeps the weights of the last complete "
                f"epoch ({epochs_done}), or the best ones early stopping saw.",
                UserWarning, stacklevel=3,
            )
        # As in skorch: early stopping restores its best weights here.
        self.notify("on_train_end", X=X, y=y)
        self._set_training(False)
        return self
