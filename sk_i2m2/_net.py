"""The skorch net that trains every expert of the product in one pass per epoch.

It runs skorch's own fit loop; what it adds are small hooks:

* the stage, kept in ``stage_`` and recorded in the history every epoch:
  ``"pretrain"`` for the first ``pretrain_epochs`` (the loss is the sum of each
  expert's own loss: the experts share no weights, so this trains each of them
  separately, in one pass), then ``"joint"`` (the loss of the product);
* the data path: batches of :class:`~sk_i2m2._dataset.Batch` sliced from tensors
  built once per fit (:mod:`sk_i2m2._dataset`);
* the loss: a per-row criterion (``reduction="none"``) averaged with the rows'
  weights (:mod:`sk_i2m2._loss`).

Stopping early, keeping finite weights and progress bars are callbacks
(:mod:`sk_i2m2._callbacks`).

With ``distributed=True`` the net trains data-parallel, with torch's
:class:`~torch.nn.parallel.DistributedDataParallel`, across the processes of an
initialised process group (started by ``torchrun``): each process trains on its
shard of every batch, the gradients are averaged, and validation and prediction
run on every process over all their rows, so every process ends with the same model.

Per-batch overhead is kept to what a hand-written loop pays: the train/eval mode is
set once per epoch rather than once per batch, callbacks are only called for the
hooks they define, and prediction uses its own large batches.
"""


import torch
import torch.distributed as dist
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import is_dataset

from ._callbacks import JOINT, PRETRAIN
from ._dataset import TensorBatches, TensorDictDataset, image_batches
from ._loss import row_losses, weighted_mean


def _generator(seed):
    """A private CPU generator seeded with ``seed`` (None: from the operating system)."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def learning_rate_scales(module):
    """``{parameter name: scale}`` for the parameters of submodules with ``lr_scale != 1``.

    An expert marks a submodule that should learn more slowly (e.g. a pretrained
    backbone, ``PretrainedExpert(backbone_lr_scale=0.1)``) with an ``lr_scale``
    attribute; the innermost marked submodule decides.
    """
    scales = {}
    for prefix, submodule in module.named_modules():
        scale = getattr(submodule, "lr_scale", None)
        if scale is None:
            continue
        for name, _ in submodule.named_parameters(prefix=prefix):
            scales[name] = float(scale)
    return {name: scale for name, scale in scales.items() if scale != 1.0}


class ProductOfExpertsNet(NeuralNet):
    """A skorch :class:`~skorch.NeuralNet` around a :class:`~sk_i2m2.product.ProductOfExperts`.

    ``X`` is a :class:`~sk_i2m2._dataset.Batch` (or a dict of modality arrays).

    Parameters
    ----------
    module : ProductOfExperts
        The initialised module.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        The task's loss (:attr:`~sk_i2m2._task.Task.criterion`), called as
        ``criterion(prediction, y)`` and returning one loss per row
        (``reduction="none"``, set by default for the cross-entropy): the net weighs
        and averages them (:func:`~sk_i2m2._loss.weighted_mean`). The joint stage
        gives it the product's prediction, pretraining each expert's raw output.
    pretrain_epochs : int, default=0
        The first epochs train each expert on its own loss; the remaining
        ``max_epochs - pretrain_epochs`` train the product.
    predict_batch_size : int or None, default=None
        Batch size of validation and prediction passes (the fit plan's, resolved
        from the estimator's ``predict_batch_size``); None: ``batch_size``.
    shuffle_seed : int or None, default=None
        Seed of the private generator that shuffles the training rows.
    num_workers : int, default=0
        DataLoader worker processes that read images from files (only used when a
        modality is read from files).
    distributed : bool, default=False
        Train data-parallel across the processes of the initialised default
        process group: ``batch_size`` rows per step in all, split among them.
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, criterion=torch.nn.CrossEntropyLoss, *args,
                 pretrain_epochs=0, predict_batch_size=None, shuffle_seed=None,
                 num_workers=0, distributed=False, **kwargs):
        if criterion is torch.nn.CrossEntropyLoss:
            kwargs.setdefault("criterion__reduction", "none")
        super().__init__(module, criterion, *args, **kwargs)
        self.pretrain_epochs = pretrain_epochs
        self.predict_batch_size = predict_batch_size
        self.shuffle_seed = shuffle_seed
        self.num_workers = num_workers
        self.distributed = distributed

    def initialize(self):
        super().initialize()
        # The module is given as an instance, so the ``module`` parameter is the
        # trained module itself: skorch maps ``module_`` to the CPU when a pickle made
        # on a GPU loads without one, and must map that parameter alike.
        if "module" not in self.cuda_dependent_attributes_:
            self.cuda_dependent_attributes_ = [*self.cuda_dependent_attributes_, "module"]
        self.stage_ = JOINT  # as a fitted or loaded net predicts
        self.shuffle_generator_ = None
        self.augment_generator_ = None
        self._set_data_parallel(None)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        # A product of fitted classifiers alone has nothing to train.
        if not self.module_.trainable:
            self.optimizer_ = None
            return self
        scales = learning_rate_scales(self.module_)
        if not scales:
            return super().initialize_optimizer(*args, **kwargs)
        # Submodules with an ``lr_scale`` (a pretrained backbone being fine-tuned)
        # learn at that fraction of the learning rate: one parameter group per scale.
        named = list(self.get_all_learnable_params())
        _, optimizer_kwargs = self.get_params_for_optimizer("optimizer", iter(named))
        lr = optimizer_kwargs.get("lr", self.lr)
        groups = {}
        for name, parameter in named:
            scale = scales.get(name, 1.0)
            groups.setdefault(scale, []).append(parameter)
        self.optimizer_ = self.optimizer(
            [{"params": params, "lr": lr * scale} for scale, params in groups.items()],
            **optimizer_kwargs)
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

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self.stage_ = PRETRAIN if len(self.history) <= self.pretrain_epochs else JOINT
        self.history.record("stage", self.stage_)

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        if self.distributed and self.module_.trainable:
            self._set_data_parallel(_data_parallel(self.module_, self.device))

    def _set_data_parallel(self, wrapper):
        # The DistributedDataParallel wrapper lives only while training: set past
        # skorch's __setattr__, which would register it as a component of the net.
        object.__setattr__(self, "_data_parallel_wrapper", wrapper)

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        # The wrapper holds the process group, which neither pickles nor outlives it.
        self._set_data_parallel(None)
        self.module_.eval()  # a fitted net predicts

    # ------------------------------------------------------------------ data

    def get_dataset(self, X, y=None):
        if is_dataset(X):
            return X
        return TensorDictDataset(X, y, device=self.device)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, TensorDictDataset):
            return super().get_iterator(dataset, training=training)
        batch_size = (self.batch_size if training or self.predict_batch_size is None
                      else self.predict_batch_size)
        generator = self._shuffle_generator() if training else None
        # Only training is split among processes: every process validates on all the
        # validation rows, so early stopping decides alike everywhere.
        shard = check_process_group() if training and self.distributed else None
        # A loss over the batch's risk sets learns nothing from a batch of one row:
        # a last batch smaller than the criterion's ``min_batch_rows`` joins the one
        # before it.
        min_rows = getattr(self.criterion_, "min_batch_rows", 1) if training else 1
        if dataset.lazy:
            return image_batches(
                dataset, batch_size, shuffle=training, generator=generator,
                num_workers=self.num_workers, worker_seed=self.shuffle_seed or 0,
                pin_memory=torch.device(self.device).type == "cuda", shard=shard,
                min_rows=min_rows,
            )
        return TensorBatches(dataset, batch_size, shuffle=training, generator=generator,
                             shard=shard, min_rows=min_rows)

    def _shuffle_generator(self):
        if self.shuffle_generator_ is None:
            self.shuffle_generator_ = _generator(self.shuffle_seed)
        return self.shuffle_generator_

    def augment_batch(self, Xi):
        """A training batch with each augmented modality randomly transformed.

        The module's ``augmenters`` (one per modality whose expert has ``augment``)
        draw from a generator of their own, seeded as the shuffling is, so that a
        seeded fit is repeatable; in data-parallel training each process draws for
        its own shard.
        """
        augmenters = getattr(self.module_, "augmenters", None)
        if not augmenters:
            return Xi
        if self.augment_generator_ is None:
            rank = dist.get_rank() if self._data_parallel_wrapper is not None else 0
            self.augment_generator_ = _generator(
                None if self.shuffle_seed is None else self.shuffle_seed + 1 + rank)
        return Xi._replace(modalities={
            name: augmenters[name](values, self.augment_generator_) if name in augmenters
            else values for name, values in Xi.modalities.items()})

    def _on_device(self, Xi):
        # A no-op for tensors already there; batches of images read from files are
        # put together on the CPU.
        return Xi.map(lambda values: values.to(self.device, non_blocking=True))

    # ------------------------------------------------------------------ forward

    def infer(self, x, **fit_params):
        # x: a Batch, as the iterators give them.
        x = self._on_device(x)
        return self.module_(x.modalities, x.sklearn_outputs)

    def forward_experts(self, X, with_terms=False):
        """Each expert's raw outputs and the product's prediction, in one pass.

        Returns
        -------
        logits : dict of str to Tensor
            ``{name: (n, n_outputs)}`` of each expert in eval mode; rows an expert
            cannot see (its modality is missing) are NaN.
        combined : Tensor
            ``(n, n_outputs)`` prediction of the product, as :meth:`forward` gives.
        terms : dict of str to Tensor
            Only with ``with_terms``: ``{name: (n,)}`` each expert's additive term
            in the prediction (tasks with such terms: regression's mean).
        """
        dataset = self.get_dataset(X)
        self.module_.eval()
        chunks, combined, terms = {}, [], {}
        with torch.no_grad():
            for Xi, _ in self.get_iterator(dataset, training=False):
                Xi = self._on_device(Xi)
                outputs, product, *batch_terms = self.module_.forward_experts(
                    Xi.modalities, Xi.sklearn_outputs, with_terms=with_terms)
                combined.append(product.cpu())
                for name, values in outputs.logits.items():
                    masked = torch.where(outputs.available[name].unsqueeze(1), values,
                                         torch.nan)
                    chunks.setdefault(name, []).append(masked.cpu())
                for name, values in ((batch_terms or [None])[0] or {}).items():
                    terms.setdefault(name, []).append(values.cpu())
        result = ({name: torch.cat(parts) for name, parts in chunks.items()},
                  torch.cat(combined))
        if with_terms:
            result += ({name: torch.cat(parts) for name, parts in terms.items()},)
        return result

    # ------------------------------------------------------------------ loss

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The product's loss: ``y_pred`` is its prediction (e.g. log-probabilities).

        Rows count by ``X.sample_weight`` when ``X`` (a batch) has weights.
        """
        weights = None if X is None else X.sample_weight
        return self._mean(row_losses(self.criterion_, y_pred, y_true, weights), weights,
                          training)

    def get_pretrain_loss(self, outputs, y_true, X=None, training=False):
        """The sum of each expert's own loss over the rows it sees.

        Parameters
        ----------
        outputs : ExpertOutputs
            Each expert's logits and the rows it sees.
        y_true : Tensor
        X : Batch or None
            Its ``sample_weight`` weighs the rows.
        training : bool, default=False
        """
        weights = None if X is None else X.sample_weight
        total = 0
        for name, logits in outputs.logits.items():
            seen = outputs.available[name].to(logits.dtype)
            weights_seen = seen if weights is None else seen * weights
            total = total + self._mean(row_losses(self.criterion_, logits, y_true,
                                                  weights_seen),
                                       weights_seen, training)
        return total

    def _mean(self, losses, weights, training):
        """The weighted mean of the rows' losses: over the batch, not this shard of it.

        In data-parallel training each process holds a shard of the batch and the
        gradients are averaged over processes; scaling each shard's weighted sum by
        ``world_size / (sum of the batch's weights)`` makes that average the gradient
        of the batch's own weighted mean, however unevenly the weight is spread.
        """
        if not (training and self._data_parallel_wrapper is not None):
            return weighted_mean(losses, weights)
        weights = (torch.ones_like(losses) if weights is None
                   else weights.to(losses.dtype))
        total_weight = weights.sum().detach().clone()
        dist.all_reduce(total_weight)
        scale = dist.get_world_size() / total_weight.clamp_min(
            torch.finfo(losses.dtype).tiny)
        return (losses * weights).sum() * scale

    def _step(self, batch, training):
        Xi, yi = batch
        Xi, yi = self._on_device(Xi), yi.to(self.device, non_blocking=True)
        if training:
            Xi = self.augment_batch(Xi)
        # Through the data-parallel wrapper when training with one, so that the
        # backward pass averages the gradients; it calls the same forward_experts.
        forward_experts = (self._data_parallel_wrapper
                           if training and self._data_parallel_wrapper is not None
                           else self.module_.forward_experts)
        outputs, y_pred = forward_experts(Xi.modalities, Xi.sklearn_outputs)
        if self.stage_ == PRETRAIN:
            loss = self.get_pretrain_loss(outputs, yi, X=Xi, training=training)
        else:
            loss = self.get_loss(y_pred, yi, X=Xi, training=training)
        return loss, y_pred

    def train_step_single(self, batch, **fit_params):
        loss, y_pred = self._step(batch, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        with torch.no_grad():
            loss, y_pred = self._step(batch, training=False)
        return {"loss": loss, "y_pred": y_pred}

    # ------------------------------------------------------------------ loop

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # As skorch's, but the module's mode is set once here, not once per batch.
        if iterator is None:
            return
        self.module_.train(training)
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            self.history.record_batch(prefix + "_loss", step["loss"].item())
            self.history.record_batch(prefix + "_batch_size", len(batch[1]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)


# ---------------------------------------------------------------------- data parallel


def check_process_group():
    """``(rank, world_size)`` of this process in the default process group."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "distributed=True trains across the processes of a torch.distributed "
            "process group, and none is initialised. Launch with torchrun and call "
            "torch.distributed.init_process_group() before fit (see "
            "examples/distributed_training.py), or set distributed=False."
        )
    return dist.get_rank(), dist.get_world_size()


class _ExpertsAndProduct(torch.nn.Module):
    """The product's ``forward_experts`` as a ``forward``, for DistributedDataParallel.

    The wrapper synchronises gradients of what its ``forward`` computes; the net
    needs each expert's outputs (pretraining) besides the product, in one pass.
    """

    def __init__(self, product):
        super().__init__()
        self.product = product

    def forward(self, modalities, sklearn_outputs):
        return self.product.forward_experts(modalities, sklearn_outputs)


def _data_parallel(module, device):
    check_process_group()  # a clear error without a process group
    device = torch.device(device)
    # Constructing the wrapper broadcasts rank 0's weights, so every process starts
    # from the same model even if their seeds differed.
    return torch.nn.parallel.DistributedDataParallel(
        _ExpertsAndProduct(module),
        device_ids=[device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda" else None,
    )
