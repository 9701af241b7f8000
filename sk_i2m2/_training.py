"""Training: one product, or a cross-fitted ensemble of them, on a batch of rows.

The fit plan (:class:`~sk_i2m2._plan.FitPlan`) says what to train; these functions
train it and return the fitted net with the rows it did not train on, for the
calibration:

* :func:`train_one`: one product, early-stopped on a ``validation_fraction`` when
  the plan says so;
* :func:`train_members`: ``n_bags`` products, each trained on all folds but its own
  and early-stopped on it; their :class:`~sk_i2m2.product.ProductEnsemble`.

What differs between tasks (stratified folds or not, the loss) is the plan's task's.
"""

import copy
from typing import NamedTuple

import numpy as np
import torch
from skorch.helper import predefined_split
from skorch.history import History

from ._callbacks import (
    BatchProgress,
    EpochLog,
    EpochProgress,
    JointStageEarlyStopping,
    LastFiniteWeights,
    OneCycle,
    progress_to_terminal,
)
from ._dataset import TensorDictDataset
from ._net import ProductOfExpertsNet
from ._plan import ONE_CYCLE_PEAK
from .product import ExpertOutputs, ProductEnsemble


class HeldOut(NamedTuple):
    """Rows the product (or each member) did not train on, and what it said of them.

    Attributes
    ----------
    prediction : Tensor
        ``(n, n_outputs)`` the product's prediction, before any calibration.
    y : ndarray
        The rows' encoded target.
    sample_weight : ndarray or None
        The rows' weights in every loss.
    experts : ExpertOutputs
        Each expert's raw outputs of the rows and which rows it sees: what the
        log-linear pool is fitted on (:mod:`sk_i2m2._pool`).
    """

    prediction: torch.Tensor
    y: np.ndarray
    sample_weight: np.ndarray | None
    experts: ExpertOutputs


def predict_held_out(net, data):
    """``(prediction, ExpertOutputs)`` of the rows of ``data`` (a Batch), on the CPU."""
    module = net.module_
    module.eval()
    predictions, logits, available = [], {}, {}
    with torch.no_grad():
        for Xi, _ in net.get_iterator(net.get_dataset(data), training=False):
            Xi = net._on_device(Xi)
            outputs, prediction = module.forward_experts(Xi.modalities, Xi.sklearn_outputs)
            predictions.append(prediction.cpu())
            for name, value in outputs.logits.items():
                logits.setdefault(name, []).append(value.cpu())
                available.setdefault(name, []).append(outputs.available[name].cpu())
    return torch.cat(predictions), ExpertOutputs(
        {name: torch.cat(parts) for name, parts in logits.items()},
        {name: torch.cat(parts) for name, parts in available.items()})


def train(plan, member, data, y, seed, warm=False, groups=None):
    """The net of the plan's products, and its :class:`HeldOut` rows.

    ``member(k)`` gives the module of member ``k`` (the first, or the only one); the
    held-out rows are None when no row was held out. With ``groups``, every split
    keeps a group's rows on one side.
    """
    if plan.n_bags == 1:
        return train_one(plan, member(0), data, y, seed, warm=warm, groups=groups)
    return train_members(plan, member, data, y, seed, warm=warm, groups=groups)


def train_one(plan, module, data, y, seed, warm=False, groups=None):
    """One product, and its :class:`HeldOut` rows when rows were held out (else None).

    ``warm``: the module was trained by an earlier fit and continues (no pretraining).
    """
    train, valid = train_valid_split(plan, data, y, seed, groups)
    net = make_net(plan, module, seed, valid, early_stopping=plan.early_stopping,
                   description="training", warm=warm)
    net.fit(*train)
    if valid is None:
        return net, None
    prediction, experts = predict_held_out(net, valid[0])
    return net, HeldOut(prediction, valid[1], valid[0].sample_weight, experts)


def train_members(plan, member, data, y, seed, warm=False, groups=None):
    """A cross-fitted ensemble: each member trains on all folds but its own.

    Each member is early-stopped on its held-out fold, so every row serves once
    for stopping and ``n_bags - 1`` times for training. ``member(k)`` gives the
    module of member ``k``: a new one, or (``warm``) one an earlier fit trained.
    Returns the net of the ensemble and the out-of-fold :class:`HeldOut` rows (every
    row, each predicted by the member that did not train on it).
    """
    folds = (plan.task.folds(plan.n_bags, seed) if groups is None
             else plan.task.grouped_folds(plan.n_bags, seed))
    members, out_of_fold, experts = [], None, None
    for k, (train, valid) in enumerate(folds.split(np.zeros(len(y)), y, groups)):
        held_out = data.take(valid), y[valid]
        net = make_net(plan, member(k), seed + k, held_out,
                       early_stopping=plan.early_stopping,
                       description=f"member {k + 1}/{plan.n_bags}", warm=warm)
        net.fit(data.take(train), y[train])
        prediction, outputs = predict_held_out(net, held_out[0])
        if out_of_fold is None:
            out_of_fold = torch.empty(len(y), prediction.shape[1], dtype=prediction.dtype)
            experts = ExpertOutputs(
                {name: torch.empty(len(y), *value.shape[1:], dtype=value.dtype)
                 for name, value in outputs.logits.items()},
                {name: torch.empty(len(y), dtype=torch.bool) for name in outputs.available})
        out_of_fold[valid] = prediction
        for name in experts.logits:
            experts.logits[name][valid] = outputs.logits[name]
            experts.available[name][valid] = outputs.available[name]
        members.append(net)
    net = make_net(plan, ProductEnsemble([member.module_ for member in members]),
                   seed).initialize()
    net.history = History([{**epoch, "member": k} for k, member in enumerate(members)
                           for epoch in member.history])
    return net, HeldOut(out_of_fold, y, data.sample_weight, experts)


def train_valid_split(plan, data, y, seed, groups=None):
    """``(train, valid)``: ``(Batch, target)`` pairs; valid is None unless needed."""
    if not plan.held_out_for_single_product():
        return (data, y), None
    # (what holds the rows out, how to do without it)
    users = [user for user, used in (
        (("Early stopping", "early_stopping=False"), plan.early_stopping),
        ((f"calibrate={plan.calibrate!r}", "calibrate=None"),
         plan.calibrate is not None and not plan.early_stopping),
    ) if used]
    purpose = " and ".join(what for what, _ in users)
    fix = "set " + " and ".join(setting for _, setting in users)
    if groups is None:
        train, valid = plan.task.holdout(y, plan.validation_fraction, seed, purpose, fix)
    else:
        train, valid = plan.task.grouped_holdout(y, groups, plan.validation_fraction, seed,
                                                 purpose, fix)
    return (data.take(train), y[train]), (data.take(valid), y[valid])


def epoch_counts(plan, module, warm=False):
    """``(pretrain_epochs, max_epochs)`` of the net: the pretraining ones included."""
    if not module.trainable:
        return 0, 0  # every expert is a fitted scikit-learn estimator: nothing to train
    # Pretraining each expert alone only differs from joint training when there
    # is more than one expert, and a warm start continues experts already trained.
    pretrain = plan.pretrain_epochs if len(module.expert_names) > 1 and not warm else 0
    return pretrain, pretrain + (plan.one_cycle_epochs or plan.max_epochs)


def make_net(plan, module, seed, valid=None, early_stopping=False, description=None,
             warm=False):
    """The skorch net.

    ``valid``, a ``(Batch, target)`` pair, is scored every epoch; with
    ``early_stopping``, training stops on it after ``plan.n_iter_no_change`` epochs
    without improvement. ``description`` names the training in progress bars
    (``verbose=1``); ``warm`` skips pretraining (see :func:`epoch_counts`).
    """
    callbacks = [("last_finite_weights", LastFiniteWeights())]
    if plan.one_cycle_epochs:
        callbacks.append(("one_cycle", OneCycle(peak=ONE_CYCLE_PEAK)))
    if early_stopping and valid is not None:
        callbacks.append(("early_stopping", JointStageEarlyStopping(
            monitor="valid_loss", patience=plan.n_iter_no_change, load_best=True,
        )))
    if plan.verbose == 1 and module.trainable:
        # Bars in a terminal; in a log file, plain lines (bars would fill it with
        # carriage returns and escape sequences).
        callbacks += ([("epoch_progress", EpochProgress(description)),
                       ("batch_progress", BatchProgress())] if progress_to_terminal()
                      else [("epoch_log", EpochLog(description))])
    callbacks += copy.deepcopy(plan.callbacks) if plan.callbacks else []
    # A product of fitted scikit-learn estimators alone gets no optimizer (see the net).
    optimizer_params = ({"optimizer__weight_decay": plan.weight_decay}
                        if module.trainable else {})
    pretrain_epochs, max_epochs = epoch_counts(plan, module, warm)
    return ProductOfExpertsNet(
        module,
        criterion=plan.task.criterion,
        criterion__reduction="none",
        optimizer=torch.optim.AdamW,
        lr=plan.lr,
        **optimizer_params,
        batch_size=plan.batch_size,
        max_epochs=max_epochs,
        pretrain_epochs=pretrain_epochs,
        train_split=(None if valid is None
                     else predefined_split(TensorDictDataset(*valid, device=plan.device))),
        callbacks=callbacks,
        device=plan.device,
        # skorch's per-epoch table from verbose=2; verbose=1 shows progress bars instead.
        verbose=int(plan.verbose >= 2),
        predict_batch_size=plan.predict_batch_size,
        shuffle_seed=seed,
        num_workers=plan.num_workers,
        distributed=plan.distributed,
    )
