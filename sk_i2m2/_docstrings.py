"""Docstring parts every estimator face shares, written once.

Each face's docstring holds ``%(name)s`` lines where a part goes (numpydoc stays
readable: the parts are put in when the class is defined, so ``help()`` and the API
pages show whole docstrings). :func:`fill_doc` puts them in, each at the
indentation of its line.
"""

import re
import textwrap

#: A line holding only ``%(name)s``: where the part ``name`` goes.
_PLACEHOLDER = re.compile(r"^( *)%\((\w+)\)s$", flags=re.MULTILINE)

#: The parts, by name, without indentation.
PARTS = {}

PARTS["dependencies_parameters"] = """\
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
"""

PARTS["optimizer_parameters"] = """\
lr : float, default=1e-3
    Learning rate of the AdamW optimizer.
weight_decay : float, default=1e-2
    Weight decay of the AdamW optimizer.
"""

PARTS["stopping_parameters"] = """\
early_stopping : "auto" or bool, default="auto"
    Stop the joint stage when the validation loss has not improved for
    ``n_iter_no_change`` epochs, and restore the best weights. The members of a
    cross-fitted ensemble (``n_bags``) each stop on their own held-out fold
    unless this is False. A single product (``n_bags=1``) holds out
    ``validation_fraction`` for it; ``"auto"`` turns that on above 10 000 rows.
validation_fraction : float, default=0.1
    Share of the rows held out for early stopping (stratified for a
    classifier).
n_iter_no_change : int or "auto", default="auto"
    Patience of early stopping, in epochs. ``"auto"``: about 120 optimizer
    steps, between 10 and 30 epochs (30 epochs up to 256 training rows at
    ``batch_size=64``, 10 from 1 537). Products whose signal lies in
    interactions between modalities sit on a plateau for over 100 steps before
    they learn: 10 epochs of 4 steps stopped them there, while on larger
    tables 10 epochs are already hundreds of steps. With a 2D image expert
    (``CNNExpert`` of ``(C, H, W)`` images), ``"auto"`` trains instead on a
    one-cycle learning rate peaking at 10 times ``lr`` over 60 epochs (or 180
    optimizer steps if that is more, when ``max_epochs`` allows it), keeping
    the epoch of the best held-out loss: as accurate as the constant rate, in
    half the epochs or fewer. An int keeps the constant rate.
"""

PARTS["runtime_parameters"] = """\
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
    scikit-learn's ``MLPClassifier`` does. The fitted
    preprocessing is kept (the new rows are transformed, not refitted), the
    calibration and scikit-learn experts are fitted again. The modalities, the
    experts' networks (and a classifier's classes) must be those of the fitted
    model; a change raises an error. ``history_`` covers the last
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
"""

PARTS["input_attributes"] = """\
n_features_in_ : int
    Number of input columns.
feature_names_in_ : ndarray of str
    Input column names, when ``X`` had string column names.
splitter_ : ModalitySplitter
    The fitted splitter.
attribution_baselines_ : dict of str to ndarray
    The typical preprocessed training row of each modality (a table's medians and
    most frequent categories; zeros, the training mean, for images and series), from
    which ``explain(X, by="column")`` and ``attribution_maps`` integrate.
"""

PARTS["plan_attributes"] = """\
n_bags_ : int
    Members of the ensemble (1: a single product), ``n_bags`` resolved. With
    more, ``net_.module_`` is a :class:`~sk_i2m2.product.ProductEnsemble` of
    :class:`ProductOfExperts`.
early_stopping_ : bool
    Whether training stopped early on held-out rows (``early_stopping`` resolved).
n_iter_no_change_ : int
    The patience of early stopping, in epochs (``n_iter_no_change`` resolved).
calibrate_ : str or None
    The calibration fitted (``calibrate`` resolved).
device_ : str
    The device trained on (``device`` resolved).
predict_batch_size_ : int
    Rows per prediction batch (``predict_batch_size`` resolved).
expert_weights_ : dict of str to float
    Each expert's weight in the pool (see ``expert_weights``), in the product's
    order; every weight is 1 when the experts are multiplied as they are.
"""

PARTS["explain_parameters"] = """\
X : DataFrame or array-like of shape (n_samples, n_features)
by : {"expert", "column"}, default="expert"
    ``"column"`` splits each neural expert's contribution among the input
    columns it reads (see Notes) and returns one row per (sample, expert,
    column) instead.
steps : int, default=64
    With ``by="column"``: the most intervals of the integration path. Each row
    starts on 8 and doubles them until its attributions add up to the change
    of the contribution within 0.02 (or 2% of it), or reach ``steps``.
"""

PARTS["by_column_notes"] = """\
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
difference, whichever is larger, at ``steps=64`` on the package's tests.
Each row's path is refined only as far as it needs: 8 intervals, then 16,
32, ... up to ``steps``, until its attributions add up within 0.02 or 2%
(ReLU networks have kinks along the path, where the error falls only as
``1 / steps``; raise ``steps`` to let the rows that need it go further). The fusion expert's
attributions cover every modality's columns; those of a modality a row lacks
are NaN, as are a unimodal expert's on rows lacking its modality.
Scikit-learn experts have no gradients: their rows have NaN attributions.
"""

PARTS["pool_weights"] = """\
on rows the experts did not train on: the cross-fitted ensemble's
out-of-fold rows, a single product's held-out rows, or the scikit-learn
experts' out-of-fold outputs. It turns down an expert that only adds noise,
and lets two experts reading the same evidence share it. The fitted weights
are ``expert_weights_``. ``"auto"``: ``"learn"`` for a cross-fitted ensemble
(``n_bags_ > 1``), else None.
"""


def fill_doc(obj):
    """Put the shared parts into ``obj.__doc__`` (a class or a function); return ``obj``."""

    def replace(match):
        indent, name = match.group(1), match.group(2)
        return textwrap.indent(PARTS[name], indent).rstrip("\n")

    obj.__doc__ = _PLACEHOLDER.sub(replace, obj.__doc__)
    return obj


