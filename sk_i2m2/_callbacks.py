"""Optional training behaviour, as skorch callbacks outside the net's core."""

import math
import sys
import time
import warnings

import torch
import tqdm
from skorch.callbacks import Callback, EarlyStopping, ProgressBar

#: The two training stages, as the net records them in its history (``"stage"``).
PRETRAIN, JOINT = "pretrain", "joint"


class JointStageEarlyStopping(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, watching the joint stage only.

    The pretraining loss (a sum of per-expert losses) is not the loss of the model
    being returned, so neither its value nor its weights may count as "best".
    """

    def on_epoch_end(self, net, **kwargs):
        if net.stage_ == JOINT:
            super().on_epoch_end(net, **kwargs)


class OneCycle(Callback):
    """A one-cycle learning rate over the whole training (Smith and Topin, 2019).

    Every parameter group's learning rate warms up from a 25th of its peak to the
    peak, ``peak`` times the group's own rate (so that a backbone's ``lr_scale``
    holds), over the first 30% of the optimizer steps of ``max_epochs`` epochs,
    then anneals towards zero by a cosine: a large rate crosses the plateau of the
    first epochs quickly, a small one settles in the minimum it found.

    Parameters
    ----------
    peak : float
        The peak, as a multiple of each group's learning rate (the fit plan's
        ``ONE_CYCLE_PEAK``).
    """

    def __init__(self, peak):
        self.peak = peak

    def on_train_begin(self, net, y=None, **kwargs):
        self.scheduler_ = None
        if net.optimizer_ is None:  # fitted scikit-learn experts alone: nothing trains
            return
        self.steps_left_ = net.max_epochs * math.ceil(len(y) / net.batch_size) - 1
        self.scheduler_ = torch.optim.lr_scheduler.OneCycleLR(
            net.optimizer_, total_steps=self.steps_left_ + 1,
            max_lr=[group["lr"] * self.peak for group in net.optimizer_.param_groups])

    def on_batch_end(self, net, training, **kwargs):
        # Fewer steps than counted (a short last batch dropped) leave the schedule
        # unfinished; more would be an error of the scheduler's.
        if training and self.scheduler_ is not None and self.steps_left_ > 0:
            self.scheduler_.step()
            self.steps_left_ -= 1


def _stopped_early(net):
    """Whether an early-stopping callback ended training (skorch's or a subclass)."""
    return any(isinstance(callback, EarlyStopping) and callback.misses_ >= callback.patience
               for _, callback in net.callbacks_)


class LastFiniteWeights(Callback):
    """Give the model back the weights of its last complete epoch when training breaks.

    A loss that becomes NaN or infinite ends training (by skorch's
    ``KeyboardInterrupt``, as early stopping does); the model then gets back the
    weights of the last complete epoch, with a warning. Divergence in the first
    epoch leaves nothing worth keeping: that is an error. Training interrupted in
    the middle of an epoch (by the user, or by a callback other than early stopping)
    gets back the last complete epoch's weights too, with a warning.

    An epoch is complete once every callback's ``on_epoch_end`` has run. The weights
    are copied at the start of each epoch into buffers allocated once per fit, not
    deep-copied anew, and freed when training ends. Put it before early stopping,
    whose best weights, when it has them, are restored after these.
    """

    def on_train_begin(self, net, **kwargs):
        self.snapshot_ = {key: value.detach().clone()
                          for key, value in net.module_.state_dict().items()}
        self.epochs_done_, self.epoch_ended_, self.diverged_ = 0, True, None

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_done_ = len(net.history) - 1  # the net has opened this epoch's row
        if self.epochs_done_:  # the previous epoch is complete: keep its weights
            with torch.no_grad():
                for key, value in net.module_.state_dict().items():
                    self.snapshot_[key].copy_(value)
        self.epoch_ended_ = False

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        value = loss.item() if isinstance(loss, torch.Tensor) else loss
        if value is not None and not math.isfinite(value):
            prefix = "train" if training else "valid"
            self.diverged_ = f"{prefix} loss {value} in epoch {self.epochs_done_ + 1}"
            raise KeyboardInterrupt  # skorch's signal to stop training

    def on_epoch_end(self, net, **kwargs):
        self.epoch_ended_ = True

    def restore(self, net):
        """Put the last complete epoch's weights back into the net's module."""
        net.module_.load_state_dict(self.snapshot_)

    def on_train_end(self, net, **kwargs):
        try:
            self._keep_complete_epoch(net)
        finally:
            # The snapshot is a copy of the whole model on its device, only needed
            # while training: free it, and keep it out of pickles, where its tensors
            # would keep the device they were on.
            self.snapshot_ = None

    def _keep_complete_epoch(self, net):
        stage = getattr(net, "stage_", JOINT)
        if self.diverged_ is not None:
            if not self.epochs_done_:
                raise ValueError(
                    f"Training diverged in its first epoch ({self.diverged_}): there are "
                    "no weights worth keeping. Lower lr, or check the inputs for extreme "
                    "values."
                )
            self.restore(net)
            warnings.warn(
                f"The {self.diverged_} ({stage} stage); training stopped there and the "
                f"model keeps the weights of epoch {self.epochs_done_}, the last with "
                "finite losses. Lower lr to train further.",
                RuntimeWarning, stacklevel=3,
            )
            return
        ran_to_its_end = len(net.history) >= net.max_epochs or _stopped_early(net)
        if not (self.epoch_ended_ and ran_to_its_end):
            self.restore(net)
            warnings.warn(
                f"Training was interrupted in epoch {self.epochs_done_ + 1} ({stage} "
                f"stage). The model is usable: it keeps the weights of the last complete "
                f"epoch ({self.epochs_done_}), or the best ones early stopping saw.",
                UserWarning, stacklevel=3,
            )


def progress_to_terminal():
    """Whether progress goes to a terminal (bars) or to a file or pipe (plain lines).

    Progress is written to ``sys.stderr``, as scikit-learn's and tqdm's is; bars
    redraw themselves with carriage returns and cursor movements, which a log file
    keeps as noise.
    """
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def log_line(text):
    """One plain progress line on stderr (``verbose=1`` outside a terminal)."""
    print(text, file=sys.stderr, flush=True)


class EpochLog(Callback):
    """Plain progress lines over a fit, for a log file (``verbose=1``, no terminal).

    A line when training starts, one every ``every`` epochs with the last losses, and
    one when it ends (epochs run, time, and the best validation loss when there is
    one): no carriage returns or escape sequences, a few kilobytes for a default fit.

    Parameters
    ----------
    description : str or None, default=None
        What trains, e.g. ``"member 2/5"``.
    every : int, default=10
        Epochs between two lines.
    """

    def __init__(self, description=None, every=10):
        self.description = description
        self.every = every

    def _say(self, text):
        log_line(f"{self.description or 'training'}: {text}")

    @staticmethod
    def _losses(row):
        return ", ".join(f"{key} {row[key]:.4f}" for key in ("train_loss", "valid_loss")
                         if key in row)

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()
        self._say(f"at most {net.max_epochs} epochs")

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0:
            self._say(f"epoch {epoch}/{net.max_epochs}, {self._losses(net.history[-1])}")

    def on_train_end(self, net, **kwargs):
        if not len(net.history):
            return
        seconds = time.perf_counter() - self.start_
        text = (f"done after {len(net.history)} epochs in {seconds:.1f} s, "
                f"{self._losses(net.history[-1])}")
        valid = [row.get("valid_loss") for row in net.history]
        if any(value is not None for value in valid):
            best = min(range(len(valid)), key=lambda k: math.inf if valid[k] is None
                       else valid[k])
            text += f"; best valid_loss {valid[best]:.4f} at epoch {best + 1}"
        self._say(text)


class EpochProgress(Callback):
    """A progress bar over the epochs of a fit, with the last losses (``verbose=1``,
    in a terminal).

    Early stopping may end training before ``max_epochs``: the bar then closes short
    of its total, which shows where training stopped.

    Parameters
    ----------
    description : str or None, default=None
        Shown before the bar, e.g. which member of an ensemble trains.
    """

    def __init__(self, description=None):
        self.description = description

    def on_train_begin(self, net, **kwargs):
        self.bar_ = tqdm.tqdm(total=net.max_epochs, desc=self.description, unit="epoch")

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        self.bar_.set_postfix({key: f"{last[key]:.4f}" for key in ("train_loss", "valid_loss")
                               if key in last}, refresh=False)
        self.bar_.update()

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


class BatchProgress(ProgressBar):
    """skorch's bar over the batches of each epoch, counting the net's own batches.

    Validation runs in ``predict_batch_size`` batches and data-parallel training
    in shards, which skorch's count from ``batch_size`` does not know of.
    """

    def __init__(self):
        super().__init__(batches_per_epoch="auto")

    def _get_batches_per_epoch_phase(self, net, dataset, training):
        return 0 if dataset is None else len(net.get_iterator(dataset, training=training))
