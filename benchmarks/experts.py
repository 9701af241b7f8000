"""Experts chosen by the data: today's defaults against the pool and "auto" experts.

Every method is fitted on the same folds of every real dataset of the suite and on
short versions of them (a few hundred rows, the rows drawn stratified), with every
setting at its package default except what the method names:

* ``before``: the package defaults before this comparison (MLP experts, the fusion
  expert a ``ConcatFusion``, the experts multiplied as they are:
  ``fusion=None, expert_weights=None``);
* ``pool``: the same experts, their weights fitted on the out-of-fold rows
  (``expert_weights="learn"``);
* ``new``: the package defaults: ``fusion="auto"`` (the ``ConcatFusion`` beside a
  cross-fitted gradient-boosted and a logistic-regression expert on every table
  modality's columns) and ``expert_weights="auto"`` (the pool, on the cross-fitted
  ensemble's out-of-fold rows);
* ``new-intra`` and ``new-inter``: ``new`` with ``dependencies="intra"`` and
  ``"inter"``, the baselines of I2M2's first target;
* ``auto-all`` (the three smaller sets only): ``new`` with ``"auto"`` experts for
  every table modality too (each modality's MLP beside its own cross-fitted
  gradient-boosted and linear experts);
* peers on all columns: ``hgb``, ``logreg`` and ``stacking`` (see ``_common.py``).

AutoGluon ``best_quality`` runs in its own environment on the first repeat's folds
(``benchmarks/autogluon.py``); ``--report`` puts it beside the others.

Run ``python -m benchmarks.experts --threads 1 --datasets NAME ...`` (one process per
dataset or two; each writes ``benchmarks/results/experts_<dataset>.csv``), then
``python -m benchmarks.experts --report`` writes ``benchmarks/results/experts.md``.
"""

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from sklearn.base import clone

from benchmarks import _common as common
from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import MLPExpert

N_SPLITS = 5
SEED = 0

#: name -> (the suite's dataset, rows kept (None: all), repeats of 5-fold
#: cross-validation). Two repeats on the two cheapest sets; one elsewhere, as the
#: CPU time of this comparison allowed (the first repeat's folds are the same
#: either way).
DATASETS = {
    "alzheimers": ("alzheimers", None, 2),
    "alzheimers@126": ("alzheimers", 126, 2),
    "breast_cancer_views": ("breast_cancer_views", None, 1),
    "leaf_flavia@500": ("leaf_flavia", 500, 1),
    "uci_multifeature@300": ("uci_multifeature", 300, 1),
    "watch@600": ("watch", 600, 1),
}
#: Where "auto" experts for every table modality are measured too (``auto-all``):
#: they cross-fit two estimators per modality, too slow for the wide sets here.
AUTO_ALL = ("alzheimers", "alzheimers@126", "breast_cancer_views")


def load(name):
    """The :class:`~benchmarks._common.Dataset` of ``name`` and its folds."""
    source, max_rows, repeats = DATASETS[name]
    data = common.load_dataset(source, max_rows, seed=SEED)
    folds = common.make_folds(data.y, data.groups, n_splits=N_SPLITS, repeats=repeats,
                              seed=SEED)
    return data, folds


# --------------------------------------------------------------------------- methods


def auto_modalities(modalities):
    """The spec with ``"auto"`` for every table modality (``MLPExpert``); others kept."""
    return [(name, "auto" if isinstance(expert, MLPExpert) else expert, columns)
            for name, expert, columns in modalities]


def methods(name, X, modalities):
    """``{method: unfitted model}`` for dataset ``name``, in the report's order."""
    before = I2M2Classifier(modalities, fusion=None, expert_weights=None, random_state=SEED)
    new = I2M2Classifier(modalities, random_state=SEED)  # the package's defaults
    found = {
        "before": before,
        "pool": clone(before).set_params(expert_weights="learn"),
        "new": new,
        "new-intra": clone(new).set_params(dependencies="intra"),
        "new-inter": clone(new).set_params(dependencies="inter"),
    }
    if name in AUTO_ALL:
        found["auto-all"] = clone(new).set_params(modalities=auto_modalities(modalities))
    return {**found, **common.make_peers(X, modalities, SEED)}


def run(name, output, only=None):
    """Every method on every fold of ``name``; the CSV rewritten after each fold."""
    data, folds = load(name)
    path = Path(output) / f"experts_{name}.csv"
    rows = []
    for fold, (train, test) in enumerate(folds):
        X_train, X_test = data.X.iloc[train], data.X.iloc[test]
        for method, model in methods(name, data.X, data.modalities).items():
            if only and method not in only:
                continue
            fit_s = common.timed_fit(model, X_train, data.y[train])
            start = time.perf_counter()
            scores = common.classification_scores(model, X_test, data.y[test])
            predict_s = time.perf_counter() - start
            rows.append({"dataset": name, "fold": fold, "method": method, **scores,
                         "fit_s": fit_s, "predict_s": predict_s})
            print(f"{name} fold {fold} {method}: AUC {scores['roc_auc']:.3f} "
                  f"log loss {scores['log_loss']:.3f} ({fit_s:.1f} s)", flush=True)
        common.write_text(path, pd.DataFrame(rows).to_csv(index=False))


HEADER = """# Experts chosen by the data: before and after, beside AutoGluon

Commands: ``OMP_NUM_THREADS=1 python -m benchmarks.experts --threads 1 --datasets ...``
(two processes side by side), ``OMP_NUM_THREADS=1 agenv/bin/python -m
benchmarks.autogluon --time-limit 30`` (AutoGluon's own environment, see
``benchmarks/autogluon.py``), then ``python -m benchmarks.experts --report``.

Machine: 2 CPU cores shared by the processes (one torch thread each), torch 2.13.0+cpu.
Mean ± standard error over the folds; the same stratified folds for every method
(grouped by subject for watch): 5-fold cross-validation repeated twice for
alzheimers and alzheimers@126, once for the others (CPU time).
``@N``: N rows drawn stratified. AutoGluon ``best_quality`` ran on the first
repeat's folds only, with 30 s of fitting per fold on one core (120 s on
uci_multifeature@300, leaf_flavia@500 and watch@600, where 30 s trained no model);
its paired difference is over those folds. On watch@600 (no table modality, so
``pool`` is ``new`` itself) only ``before``, ``new`` and the peers were fitted: a
fit of its sequence experts took minutes on the shared cores. ROC AUC is one-vs-rest
for more than two classes. Fit and predict seconds are wall-clock on the shared
machine: compare them within a dataset.

Methods: see ``benchmarks/experts.py``. ``new`` is the package's defaults
(``fusion="auto"``, ``expert_weights="auto"``); ``before`` the defaults it replaced.
The targets (at ``new``): 1. ROC AUC at least the better of ``new-intra`` and
``new-inter`` minus one standard error (paired); 2. at least the best of ``hgb``,
``logreg`` and ``stacking`` minus one standard error (paired); 3. log loss at most the
best peer's; 4. within 0.02 ROC AUC of AutoGluon (paired mean); fit time at most 3x
``before``'s."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(common.RESULTS))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    if args.report:
        from benchmarks._experts_report import write_report
        write_report(args.output, HEADER)
        return
    torch.set_num_threads(args.threads)
    for name in args.datasets:
        run(name, args.output, args.methods)


if __name__ == "__main__":
    main()
