"""The skorch net that trains every expert of the product in one pass per epoch.

Two stages share one net and one optimizer:

* ``"pretrain"``: the loss is the sum of each expert's own cross-entropy. The experts
  share no weights, so this is training each of them separately, in one pass.
* ``"joint"``: the loss is the cross-entropy of the product.

Per-batch overhead is kept to what a hand-written loop pays: batches are sliced from
tensors built once per fit (no per-item collation), the train/eval mode is set once
per epoch rather than once per batch, and prediction uses its own large batches.
Modalities read from image files are the exception: their batches are read by a torch
DataLoader (in worker processes with ``num_workers``), over the same rows in the same
order.
"""

import copy
import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.utils import is_dataset
from torch.utils.data import DataLoader, Dataset

from ._lazy import LazyImages
from ._module import combine_log_proba

PRETRAIN, JOINT = "pretrain", "joint"
#: Key of the per-row loss weights in a batch (modality names never contain "__").
SAMPLE_WEIGHT = "__sample_weight"


def _module_inputs(X):
    """A batch without its per-row loss weights: what the module takes."""
    return {name: values for name, values in X.items() if name != SAMPLE_WEIGHT}


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
        ``{modality: (n, ...)}`` arrays, converted to float32 tensors once, or
        :class:`~sk_i2m2._lazy.LazyImages`, read batch by batch.
    y : array-like of int or None
        Encoded labels.
    device : str or torch.device, default="cpu"
        Where the tensors live; on a GPU the whole set is moved there once. With
        images read from files, batches are put together on the CPU (possibly in
        DataLoader workers) and moved one by one.

    Per-row weights of the loss travel in ``X`` as one more float array, under the
    key ``SAMPLE_WEIGHT``, so that every split and batch of the rows carries them.
    """

    def __init__(self, X, y=None, device="cpu"):
        self.lazy = {name for name, values in X.items() if isinstance(values, LazyImages)}
        if self.lazy:
            device = "cpu"
        self.X = {name: values if name in self.lazy else _tensor(values, torch.float32,
                                                                   device)
                  for name, values in X.items()}
        self.y = None if y is None else _tensor(y, torch.long, device)
        lengths = {len(values) for values in self.X.values()}
        if len(lengths) != 1:
            raise ValueError(f"Modalities have different numbers of rows: {lengths}.")
        (self.n_rows,) = lengths

    def __len__(self):
        return self.n_rows

    def __getitem__(self, index):
        # Row access keeps the dataset usable with a plain torch DataLoader.
        Xi, yi = self.batch(torch.as_tensor([index]))
        return {name: values[0] for name, values in Xi.items()}, (
            yi[0] if yi is not None else torch.zeros((), dtype=torch.long))

    def batch(self, index):
        """``(X_batch, y_batch)`` of the rows ``index`` (a slice or an index tensor)."""
        Xi = {}
        for name, values in self.X.items():  # modality order is kept: it seeds dropout
            if name in self.lazy:
                rows = np.arange(self.n_rows)[index] if isinstance(index, slice) else index
                Xi[name] = torch.from_numpy(values.load(np.asarray(rows)))
            else:
                Xi[name] = values[index]
        return Xi, None if self.y is None else self.y[index]


class _BatchesOf(Dataset):
    """A dataset whose items are whole batches, for a DataLoader over batch indices."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, rows):
        return self.dataset.batch(rows)


class RowBatches:
    """The rows of each batch: slices in order, or a fresh shuffle every epoch.

    Parameters
    ----------
    n_rows : int
    batch_size : int
    shuffle : bool, default=False
        Draw a new row order every epoch (each ``iter`` call): one ``randperm``.
    generator : torch.Generator or None
        Source of the shuffling, so a seeded fit never touches torch's global state.
    device : str or torch.device, default="cpu"
        Where the shuffled indices go (where the data is).
    """

    def __init__(self, n_rows, batch_size, shuffle=False, generator=None, device="cpu"):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = device

    def __len__(self):
        return math.ceil(self.n_rows / self.batch_size)

    def __iter__(self):
        if not self.shuffle:
            for start in range(0, self.n_rows, self.batch_size):
                yield slice(start, start + self.batch_size)
            return
        order = torch.randperm(self.n_rows, generator=self.generator).to(self.device)
        for start in range(0, self.n_rows, self.batch_size):
            yield order[start:start + self.batch_size]


class TensorBatches:
    """Iterate over ``(X_batch, y_batch)`` slices of a :class:`TensorDictDataset`.

    The rows of each batch come from :class:`RowBatches` (same ``batch_size``,
    ``shuffle`` and ``generator``), on the dataset's device.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None):
        self.dataset = dataset
        device = (dataset.y.device if dataset.y is not None
                  else next(iter(dataset.X.values())).device)
        self.rows = RowBatches(len(dataset), batch_size, shuffle, generator, device)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        for rows in self.rows:
            yield self.dataset.batch(rows)


def image_batches(dataset, batch_size, shuffle=False, generator=None, num_workers=0,
                  worker_seed=0, pin_memory=False):
    """A torch DataLoader of whole batches, for datasets with images read from files.

    The batches hold the same rows as :class:`TensorBatches` would; with
    ``num_workers`` processes reading the next batches while the model trains on
    this one.
    """
    # The loader's own generator seeds its workers; without one it would draw from
    # torch's global generator.
    worker_generator = torch.Generator().manual_seed(worker_seed)
    return DataLoader(
        _BatchesOf(dataset), batch_size=None,
        sampler=RowBatches(len(dataset), batch_size, shuffle, generator),
        num_workers=num_workers, persistent_workers=num_workers > 0,
        pin_memory=pin_memory, generator=worker_generator,
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
        per-row losses (``reduction="none"``); per-row weights, when the data has
        them (``SAMPLE_WEIGHT``), multiply these.
    num_workers : int, default=0
        DataLoader worker processes that read images from files (only used when a
        modality is read from files).
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *args, predict_batch_size=4096, shuffle_seed=None,
                 class_weight=None, num_workers=0, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.predict_batch_size = predict_batch_size
        self.shuffle_seed = shuffle_seed
        self.class_weight = class_weight
        self.num_workers = num_workers

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
        batch_size = self.batch_size if training else self.predict_batch_size
        generator = self._shuffle_generator() if training else None
        if dataset.lazy:
            return image_batches(
                dataset, batch_size, shuffle=training, generator=generator,
                num_workers=self.num_workers, worker_seed=self.shuffle_seed or 0,
                pin_memory=torch.device(self.device).type == "cuda",
            )
        return TensorBatches(dataset, batch_size, shuffle=training, generator=generator)

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

    def infer(self, x, **fit_params):
        if isinstance(x, dict):
            x = _module_inputs(x)
        return super().infer(x, **fit_params)

    # ------------------------------------------------------------------ loss

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Loss of the current stage.

        ``y_pred`` is the product's combined log-probabilities (joint stage: their
        cross-entropy), or during pretraining a dict of each expert's
        ``(logits, available)`` (the sum of each expert's own cross-entropy over the
        rows it sees).
        """
        sample_weight = None if X is None else X.get(SAMPLE_WEIGHT)
        if isinstance(y_pred, dict):
            return sum(self._mean_loss(logits, y_true, rows, sample_weight)
                       for logits, rows in y_pred.values())
        return self._mean_loss(y_pred, y_true, sample_weight=sample_weight)

    def _mean_loss(self, logits, y_true, rows=None, sample_weight=None):
        # Weighted mean as torch's CrossEntropyLoss(weight=...) takes it, over the
        # rows given: sum(w_i * loss_i) / sum(w_i).
        losses = self.criterion_(logits, y_true)
        weights = None if self.class_weight is None else self.class_weight_[y_true]
        if sample_weight is not None:
            weights = sample_weight if weights is None else weights * sample_weight
        if rows is not None:
            weights = rows.to(losses.dtype) if weights is None else weights * rows
        if weights is None:
            return losses.mean()
        return (losses * weights).sum() / weights.sum().clamp_min(torch.finfo(
            losses.dtype).tiny)

    def _on_device(self, Xi):
        # A no-op for tensors already there; batches of images read from files are
        # put together on the CPU.
        return {name: values.to(self.device, non_blocking=True)
                for name, values in Xi.items()}

    def _expert_step(self, batch):
        Xi, yi = batch
        Xi, yi = self._on_device(Xi), yi.to(self.device, non_blocking=True)
        logits, available = self.module_.expert_outputs(**_module_inputs(Xi))
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
        """Each expert's logits and the product's log-probabilities, in one pass.

        Returns
        -------
        logits : dict of str to Tensor
            ``{name: (n, C)}`` of each expert in eval mode; rows an expert cannot
            see (its modality is missing) are NaN.
        combined : Tensor
            ``(n, C)`` log-probabilities of the product, as :meth:`forward` gives.
        """
        dataset = self.get_dataset(X)
        self._set_training(False)
        chunks, combined = {}, []
        with torch.no_grad():
            for Xi, _ in self.get_iterator(dataset, training=False):
                logits, available = self.module_.expert_outputs(
                    **_module_inputs(self._on_device(Xi)))
                combined.append(self.module_.combine(logits, available).cpu())
                for name, values in logits.items():
                    masked = torch.where(available[name].unsqueeze(1), values, torch.nan)
                    chunks.setdefault(name, []).append(masked.cpu())
        return ({name: torch.cat(parts) for name, parts in chunks.items()},
                torch.cat(combined))

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
