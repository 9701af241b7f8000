"""Training: one product, or a cross-fitted ensemble of them, on a batch of rows.

The estimator says what to train (its parameters); these functions train it and
return the fitted net with the rows it did not train on, for the temperature:

* :func:`train_one`: one product, early-stopped on a ``validation_fraction`` when
  early stopping is on;
* :func:`train_members`: ``n_bags`` products, each trained on all folds but its own
  and early-stopped on it; their :class:`~sk_i2m2.product.ProductEnsemble`.
"""

import copy
import math

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from skorch.helper import predefined_split
from skorch.history import History

from ._callbacks import BatchProgress, EpochProgress, JointStageEarlyStopping, LastFiniteWeights
from ._dataset import TensorDictDataset
from ._net import ProductOfExpertsNet
from .product import ProductEnsemble

#: Above this many rows ``early_stopping="auto"`` turns early stopping on, as in
#: :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
AUTO_EARLY_STOPPING_ROWS = 10_000
#: ``n_bags="auto"``: up to this many rows, a cross-fitted ensemble of ``AUTO_BAGS``.
AUTO_BAGS_ROWS = 10_000
AUTO_BAGS = 5
#: ``n_iter_no_change="auto"``: wait this many optimizer steps without a better
#: validation loss (30 epochs of 4 steps: what interaction-only data needs at 300
#: rows, where 10 epochs stopped before it was found), as epochs, within bounds.
AUTO_PATIENCE_STEPS, AUTO_PATIENCE_EPOCHS = 120, (10, 30)


def count_members(estimator, module, y):
    """How many products the ensemble holds (1: a single product)."""
    if not module.trainable:
        return 1  # fitted classifiers alone: nothing is trained, nothing to bag
    if estimator.n_bags != "auto":
        return estimator.n_bags
    if len(y) > AUTO_BAGS_ROWS:
        return 1
    # Each member holds out a stratified fold: every class needs a row in each.
    n_members = min(AUTO_BAGS, int(np.bincount(y).min()))
    return n_members if n_members >= 2 else 1


def train_one(estimator, module, data, y, classes, seed, device, warm=False):
    """One product; the held-out ``(log_proba, y, weights)`` when rows were held out.

    ``warm``: the module was trained by an earlier fit and continues (no pretraining).
    """
    early_stopping = early_stopping_enabled(estimator, len(y))
    train, valid = train_valid_split(estimator, data, y, classes, seed, early_stopping)
    net = make_net(estimator, module, device, seed, valid,
                   patience_for(estimator, len(train[1])) if early_stopping else None,
                   description="training", warm=warm)
    net.fit(*train)
    if valid is None:
        return net, None
    return net, (net.forward(valid[0]), valid[1], valid[0].sample_weight)


def train_members(estimator, member, n_members, data, y, seed, device, warm=False):
    """A cross-fitted ensemble: each member trains on all folds but its own.

    Each member is early-stopped on its held-out fold, so every row serves once
    for stopping and ``n_members - 1`` times for training. ``member(k)`` gives the
    module of member ``k``: a new one, or (``warm``) one an earlier fit trained.
    Returns the net of the ensemble and the out-of-fold ``(log_proba, y, weights)``
    of every row.
    """
    folds = StratifiedKFold(n_members, shuffle=True, random_state=seed % (2**32))
    members, out_of_fold = [], None
    for k, (train, valid) in enumerate(folds.split(np.zeros(len(y)), y)):
        held_out = data.take(valid), y[valid]
        net = make_net(estimator, member(k), device, seed + k, held_out,
                       None if estimator.early_stopping is False
                       else patience_for(estimator, len(train)),
                       description=f"member {k + 1}/{n_members}", warm=warm)
        net.fit(data.take(train), y[train])
        log_proba = net.forward(held_out[0])
        if out_of_fold is None:
            out_of_fold = torch.empty(len(y), log_proba.shape[1], dtype=log_proba.dtype)
        out_of_fold[valid] = log_proba
        members.append(net)
    net = make_net(estimator, ProductEnsemble([member.module_ for member in members]),
                   device, seed).initialize()
    net.history = History([{**epoch, "member": k} for k, member in enumerate(members)
                           for epoch in member.history])
    return net, (out_of_fold, y, data.sample_weight)


def early_stopping_enabled(estimator, n_samples):
    """Whether a single product holds rows out to stop early."""
    if estimator.early_stopping == "auto":
        return n_samples > AUTO_EARLY_STOPPING_ROWS
    return bool(estimator.early_stopping)


def train_valid_split(estimator, data, y, classes, seed, early_stopping):
    """``(train, valid)``: ``(Batch, labels)`` pairs; valid is None unless needed."""
    n_samples = len(y)
    # (what holds the rows out, how to do without it)
    users = [user for user, used in (
        (("Early stopping", "early_stopping=False"), early_stopping),
        (("calibrate='temperature'", "calibrate=None"), estimator.calibrate == "temperature"),
    ) if used]
    if not users:
        return (data, y), None
    purpose = " and ".join(what for what, _ in users)
    fix = "set " + " and ".join(setting for _, setting in users)
    counts = np.bincount(y)
    if counts.min() < 2:
        raise ValueError(
            f"{purpose} holds out a stratified validation_fraction, which needs at "
            f"least 2 rows of every class; class {classes.tolist()[counts.argmin()]!r} "
            f"has 1. {fix[0].upper() + fix[1:]}, or gather more rows of that class."
        )
    n_valid = math.ceil(estimator.validation_fraction * n_samples)
    if n_valid < len(classes):
        raise ValueError(
            f"{purpose} holds out validation_fraction={estimator.validation_fraction} "
            f"of {n_samples} rows, {n_valid} row(s): too few to hold each of the "
            f"{len(classes)} classes. Raise validation_fraction, or {fix}."
        )
    train, valid = train_test_split(
        np.arange(n_samples), test_size=estimator.validation_fraction, stratify=y,
        random_state=seed % (2**32),
    )
    return (data.take(train), y[train]), (data.take(valid), y[valid])


def epoch_counts(estimator, module, warm=False):
    """``(pretrain_epochs, max_epochs)`` of the net: the pretraining ones included."""
    if not module.trainable:
        return 0, 0  # every expert is a fitted classifier: nothing to train
    # Pretraining each expert alone only differs from joint training when there
    # is more than one expert, and a warm start continues experts already trained.
    pretrain = estimator.pretrain_epochs if len(module.expert_names) > 1 and not warm else 0
    return pretrain, pretrain + estimator.max_epochs


def patience_for(estimator, n_train):
    """Early stopping's patience, in epochs, for a net trained on ``n_train`` rows.

    What the search needs is optimizer steps, and an epoch holds more of them the
    more rows there are: a fixed count of steps keeps small tables from stopping
    too soon and large ones from training for nothing.
    """
    if estimator.n_iter_no_change != "auto":
        return estimator.n_iter_no_change
    steps_per_epoch = math.ceil(n_train / estimator.batch_size)
    low, high = AUTO_PATIENCE_EPOCHS
    return min(high, max(low, math.ceil(AUTO_PATIENCE_STEPS / steps_per_epoch)))


def make_net(estimator, module, device, seed, valid=None, patience=None, description=None,
             warm=False):
    """The skorch net.

    ``valid``, a ``(Batch, labels)`` pair, is scored every epoch; with a
    ``patience``, training stops early on it. ``description`` names the training in
    progress bars (``verbose=1``); ``warm`` skips pretraining (see :func:`epoch_counts`).
    """
    callbacks = [("last_finite_weights", LastFiniteWeights())]
    if patience is not None:
        callbacks.append(("early_stopping", JointStageEarlyStopping(
            monitor="valid_loss", patience=patience, load_best=True,
        )))
    if estimator.verbose == 1 and module.trainable:
        callbacks += [("epoch_progress", EpochProgress(description)),
                      ("batch_progress", BatchProgress())]
    callbacks += copy.deepcopy(estimator.callbacks) if estimator.callbacks else []
    # A product of fitted classifiers alone gets no optimizer (see the net).
    optimizer_params = ({"optimizer__weight_decay": estimator.weight_decay}
                        if module.trainable else {})
    pretrain_epochs, max_epochs = epoch_counts(estimator, module, warm)
    return ProductOfExpertsNet(
        module,
        optimizer=torch.optim.AdamW,
        lr=estimator.lr,
        **optimizer_params,
        batch_size=estimator.batch_size,
        max_epochs=max_epochs,
        pretrain_epochs=pretrain_epochs,
        train_split=(None if valid is None
                     else predefined_split(TensorDictDataset(*valid, device=device))),
        callbacks=callbacks,
        device=device,
        # skorch's per-epoch table from verbose=2; verbose=1 shows progress bars instead.
        verbose=int(estimator.verbose >= 2),
        predict_batch_size=estimator.predict_batch_size,
        shuffle_seed=seed,
        num_workers=estimator.num_workers,
        distributed=estimator.distributed,
    )
