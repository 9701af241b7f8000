"""The fit plan: every setting of a fit, with each ``"auto"`` resolved once.

An estimator's parameters may say ``"auto"``; training must not. At the start of
``fit``, once the rows, the task and the experts are known, :func:`resolve_plan`
turns the parameters into a :class:`FitPlan`, and the training functions
(:mod:`sk_i2m2._training`) read the plan, never the estimator. The resolved values
are exposed on the fitted estimator (``n_bags_``, ``early_stopping_``,
``n_iter_no_change_``, ``calibrate_``, ``device_``, ``predict_batch_size_``), as
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` exposes
``do_early_stopping_``.
"""

import dataclasses
import math

import numpy as np
import torch

from .experts import ConcatFusion, is_sklearn_estimator

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

#: ``n_iter_no_change="auto"`` on images: a one-cycle learning rate
#: (:class:`~sk_i2m2._callbacks.OneCycle`) peaking at ``ONE_CYCLE_PEAK`` times ``lr``
#: over a fixed budget of ``ONE_CYCLE_EPOCHS`` epochs, or ``ONE_CYCLE_STEPS``
#: optimizer steps if that is more, keeping the epoch of the best held-out loss.
#: At a constant rate and a patience of 30 epochs a member of the default image
#: network trained 100 to 170 epochs; in 60 on the cycle it reached the same
#: held-out accuracy and log loss (benchmarks/results/cpu_time.md). 30 epochs were
#: enough for 32x32 scans but not for 64x64 ones (log loss 0.28 -> 0.38, and 0.33
#: at 45 epochs, one draw), nor was a peak of 5 or 20 times ``lr``. A shorter
#: patience at a constant rate cost accuracy: members stopped on the first plateau.
ONE_CYCLE_EPOCHS, ONE_CYCLE_STEPS, ONE_CYCLE_PEAK = 60, 180, 10.0

#: ``predict_batch_size="auto"``: rows per prediction batch, between these bounds: a
#: table's batch is the largest; a batch of images or series holds about
#: ``AUTO_PREDICT_VALUES`` input values of the widest of them. A convolution's
#: activations are many times its input, and prediction batches whose activations
#: outgrow the CPU's caches ran up to 1.7x slower per row (32x32 images at 1 024 rows
#: against 64; 8x8 digits at 4 096 rows against 1 024: benchmarks/overhead.py).
AUTO_PREDICT_ROWS = (64, 4096)
AUTO_PREDICT_VALUES = 2**16

#: The plan's resolved values, as the fitted estimator's attributes (each + "_").
RESOLVED = ("n_bags", "early_stopping", "n_iter_no_change", "calibrate", "device",
            "predict_batch_size")


@dataclasses.dataclass(frozen=True)
class FitPlan:
    """What a fit does: the estimator's parameters, resolved.

    Attributes
    ----------
    task : Task
        The fitted task (:mod:`sk_i2m2._task`).
    n_bags : int
        Members of the cross-fitted ensemble (1: a single product).
    early_stopping : bool
        Whether training stops on held-out rows: each member on its own fold, or
        a single product on a ``validation_fraction``.
    n_iter_no_change : int
        Patience of early stopping, in epochs.
    calibrate : str or None
        The calibration fitted after training (the task's, e.g. ``"temperature"``),
        or None.
    device : str
        The torch device.
    predict_batch_size : int
        Rows per batch of prediction and validation passes.
    pool : bool
        Whether the experts' weights of the log-linear pool are fitted on held-out
        rows after training (``expert_weights``; :mod:`sk_i2m2._pool`).
    fusion : BaseFusion, scikit-learn estimator or None
        The fusion expert (``fusion``; ``"auto"`` and None:
        :class:`~sk_i2m2.experts.ConcatFusion`); None without one
        (``dependencies="intra"``).
    fusion_candidates : bool
        Whether the ``"auto"`` fusion's scikit-learn candidates stand beside it
        (``fusion="auto"`` when the pool weighs the experts).
    one_cycle_epochs : int
        Epochs of the one-cycle learning rate (after any pretraining), which end
        training; 0: a constant learning rate, until ``max_epochs`` or early stopping.
    The other attributes are the estimator's training parameters, unchanged.
    """

    task: object
    n_bags: int
    early_stopping: bool
    n_iter_no_change: int
    calibrate: str | None
    device: str
    predict_batch_size: int
    pool: bool
    fusion: object
    fusion_candidates: bool
    one_cycle_epochs: int
    validation_fraction: float = 0.1
    max_epochs: int = 200
    pretrain_epochs: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    verbose: int = 0
    callbacks: list | None = None
    num_workers: int = 0
    distributed: bool = False

    def resolved(self):
        """``{attribute_: value}`` of the resolved settings, for the fitted estimator."""
        return {name + "_": getattr(self, name) for name in RESOLVED}

    def held_out_for_single_product(self):
        """Whether a single product holds out ``validation_fraction`` of its rows."""
        return self.n_bags == 1 and (self.early_stopping or self.calibrate is not None)


def resolve_predict_batch_size(predict_batch_size, sample_shapes):
    """Rows per prediction batch: ``predict_batch_size``, or resolved from ``"auto"``.

    Parameters
    ----------
    predict_batch_size : int or "auto"
    sample_shapes : iterable of tuple
        The shape of one row of each modality.
    """
    if predict_batch_size != "auto":
        return predict_batch_size
    low, high = AUTO_PREDICT_ROWS
    widest = max((math.prod(shape) for shape in sample_shapes if len(shape) > 1), default=0)
    return high if not widest else min(high, max(low, AUTO_PREDICT_VALUES // widest))


def resolve_device(device):
    """``"auto"``: CUDA when available, else the CPU; any other device as a string."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def resolve_n_bags(n_bags, task, y, trainable, groups=None):
    """Members of the ensemble for ``n_bags`` (``"auto"``: 5 up to 10 000 rows)."""
    if not trainable:
        return 1  # fitted scikit-learn experts alone: nothing is trained, nothing to bag
    if n_bags != "auto":
        return n_bags
    if len(y) > AUTO_BAGS_ROWS:
        return 1
    n_members = min(AUTO_BAGS, task.max_members(y))
    if groups is not None:  # each member holds out whole groups
        n_members = min(n_members, len(np.unique(groups)))
    return n_members if n_members >= 2 else 1


def resolve_early_stopping(early_stopping, n_bags, n_samples):
    """Members stop on their folds unless told not to; a single product above 10 000 rows."""
    if n_bags > 1:
        return early_stopping is not False
    if early_stopping == "auto":
        return n_samples > AUTO_EARLY_STOPPING_ROWS
    return bool(early_stopping)


def training_rows(n_samples, n_bags, validation_fraction, task, early_stopping):
    """How many rows each network trains on (a member: all folds but one)."""
    if n_bags > 1:
        return n_samples - math.ceil(n_samples / n_bags)
    if early_stopping:
        return n_samples - task.n_held_out(validation_fraction, n_samples)
    return n_samples


def steps_per_epoch(n_train, batch_size):
    """Optimizer steps in an epoch of ``n_train`` rows (at least one)."""
    return math.ceil(max(n_train, 1) / batch_size)


def resolve_patience(n_iter_no_change, n_train, batch_size):
    """Early stopping's patience in epochs: ``"auto"`` is about 120 optimizer steps.

    What the search needs is optimizer steps, and an epoch holds more of them the
    more rows there are: a fixed count of steps keeps small tables from stopping
    too soon and large ones from training for nothing.
    """
    if n_iter_no_change != "auto":
        return n_iter_no_change
    low, high = AUTO_PATIENCE_EPOCHS
    epochs = math.ceil(AUTO_PATIENCE_STEPS / steps_per_epoch(n_train, batch_size))
    return min(high, max(low, epochs))


def resolve_one_cycle(n_iter_no_change, max_epochs, modalities, n_train, batch_size):
    """Epochs of the one-cycle schedule (0: a constant learning rate).

    ``n_iter_no_change="auto"`` trains on a one-cycle learning rate when an expert
    asks for it (``one_cycle``: a 2D image network) and ``max_epochs`` allows its
    whole budget, ``ONE_CYCLE_EPOCHS`` epochs or ``ONE_CYCLE_STEPS`` optimizer
    steps, whichever is more; an explicit patience keeps the constant rate.
    """
    if n_iter_no_change != "auto" or not any(
            getattr(expert, "one_cycle", False) for _, expert, _ in modalities):
        return 0
    epochs = max(ONE_CYCLE_EPOCHS,
                 math.ceil(ONE_CYCLE_STEPS / steps_per_epoch(n_train, batch_size)))
    return epochs if epochs <= max_epochs else 0


def resolve_calibrate(calibrate, task, n_bags, early_stopping):
    """The calibration to fit: ``"auto"`` fits it where held-out rows exist anyway."""
    if calibrate is None:
        return None
    if calibrate == "auto":
        return task.calibration if n_bags > 1 or early_stopping else None
    return task.calibration


def resolve_pool(expert_weights, n_bags, early_stopping, calibrate, trainable):
    """Whether to fit the pool's weights: ``"auto"`` does where every row is out of fold.

    The weights are fitted on rows no factor trained on: a cross-fitted ensemble's
    out-of-fold rows, a single product's held-out rows, or (no neural expert) the
    scikit-learn experts' out-of-fold outputs.
    """
    if expert_weights is None:
        return False
    if expert_weights == "auto":
        return n_bags > 1
    if trainable and n_bags == 1 and not (early_stopping or calibrate is not None):
        raise ValueError(
            "expert_weights='learn' fits the experts' weights on rows they did not train "
            "on, and this fit holds none out (n_bags=1, no early stopping, no "
            "calibration). Use n_bags > 1 (a cross-fitted ensemble: every row is out "
            "of fold once), or early_stopping=True, or expert_weights=None."
        )
    return True


def resolve_fusion(fusion, dependencies):
    """The fusion expert: ``"auto"`` and None are a ConcatFusion; None without one."""
    if dependencies == "intra":
        return None
    return ConcatFusion() if fusion is None or isinstance(fusion, str) else fusion


def has_neural_expert(modalities, dependencies, fusion):
    """Whether any expert of the product learns by gradient (scikit-learn ones do not).

    ``fusion`` is :func:`resolve_fusion`'s.
    """
    unimodal = dependencies != "inter" and any(expert.neural for _, expert, _ in modalities)
    return unimodal or (fusion is not None and not is_sklearn_estimator(fusion))


def resolve_plan(params, task, y, modalities, sample_shapes, groups=None):
    """The :class:`FitPlan` of an estimator's parameters for a fit on ``y``.

    Resolved once the preprocessing is fitted and before any expert is.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``.
    task : Task
        Fitted on ``y``.
    y : ndarray
        The encoded target.
    modalities : list of (str, expert, columns)
        The fitted splitter's ``modalities_``.
    sample_shapes : iterable of tuple
        The shape of one row of each modality.
    groups : ndarray or None, default=None
        The rows' groups (``fit(..., groups=)``): no more members than groups.
    """
    fusion = resolve_fusion(params["fusion"], params["dependencies"])
    trainable = has_neural_expert(modalities, params["dependencies"], fusion)
    n_bags = resolve_n_bags(params["n_bags"], task, y, trainable, groups)
    early_stopping = resolve_early_stopping(params["early_stopping"], n_bags, len(y))
    n_train = training_rows(len(y), n_bags, params["validation_fraction"], task,
                            early_stopping)
    calibrate = resolve_calibrate(params["calibrate"], task, n_bags, early_stopping)
    pool = resolve_pool(params["expert_weights"], n_bags, early_stopping, calibrate, trainable)
    one_cycle_epochs = resolve_one_cycle(params["n_iter_no_change"], params["max_epochs"],
                                         modalities, n_train, params["batch_size"])
    return FitPlan(
        task=task,
        n_bags=n_bags,
        early_stopping=early_stopping,
        # On the cycle, training ends with it: the best epoch is kept, none stops it.
        n_iter_no_change=one_cycle_epochs or resolve_patience(
            params["n_iter_no_change"], n_train, params["batch_size"]),
        calibrate=calibrate,
        device=resolve_device(params["device"]),
        predict_batch_size=resolve_predict_batch_size(params["predict_batch_size"],
                                                 sample_shapes),
        pool=pool,
        fusion=fusion,
        # The "auto" fusion's candidates read the table modalities, and only the
        # pool can weigh them against the fusion network.
        fusion_candidates=(isinstance(params["fusion"], str) and pool
                           and params["dependencies"] != "intra"
                           and bool(task.AUTO_CANDIDATES)),
        one_cycle_epochs=one_cycle_epochs,
        **{field.name: params[field.name] for field in dataclasses.fields(FitPlan)
           if field.default is not dataclasses.MISSING},
    )


def recorded_plan(params, record, device="cpu"):
    """The plan of a fitted model, from its parameters and its record, on ``device``.

    A loaded model's net is rebuilt from it (:func:`sk_i2m2.load`).
    """
    return FitPlan(
        task=record["task_"],
        device=device,
        pool=False,  # the fitted weights are in the saved module
        fusion=resolve_fusion(params["fusion"], params["dependencies"]),
        fusion_candidates=False,  # fitted: in the saved scikit-learn experts
        one_cycle_epochs=0,  # trained
        **{name: record[name + "_"] for name in RESOLVED if name != "device"},
        **{field.name: params[field.name] for field in dataclasses.fields(FitPlan)
           if field.default is not dataclasses.MISSING},
    )
