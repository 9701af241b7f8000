"""Which training defaults should I2M2 ship? Old and candidate defaults side by side.

On small multimodal tables the old defaults (50 epochs, no early stopping below 10 000
rows, no calibration) over-fit and are over-confident. This compares, on the same
stratified folds (grouped by subject for the smartwatch data), with every other
setting at its package default:

* ``old``: ``n_bags=1, max_epochs=50, early_stopping="auto"`` (off below 10 000 rows),
  ``calibrate=None``: the package's defaults before the cross-fitted ensemble;
* ``bags-p10``: ``n_bags=5`` cross-fitted members, each early-stopped on its own
  held-out fold with ``n_iter_no_change=10``, ``max_epochs=200``, the temperature
  fitted on the out-of-fold predictions (``calibrate="auto"``);
* ``bags-p30``: the same with ``n_iter_no_change=30``;
* peers on all columns: ``hgb`` (HistGradientBoostingClassifier) and ``logreg``
  (LogisticRegression after ``table_preprocessor``).

Run ``python -m benchmarks.defaults --threads 1`` (``--datasets`` to split a run
across processes; each dataset writes ``benchmarks/results/defaults_<dataset>.csv``),
then ``python -m benchmarks.defaults --report`` writes
``benchmarks/results/defaults.md`` from those files.
"""

import argparse

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone

from benchmarks import _common as common
from benchmarks._common import RESULTS
from sk_i2m2 import I2M2Classifier

SEED = 0

#: name -> (loader of X, y, modalities, groups; rows kept; folds). The suite's
#: loaders (benchmarks/_common.py), except the synthetic sets: 300 rows here, not 2 000.
DATASETS = {
    "alzheimers": (common.DATASETS["alzheimers"], None, 5),
    "breast_cancer": (common.DATASETS["breast_cancer_views"], None, 5),
    "leaf_flavia": (common.DATASETS["leaf_flavia"], None, 3),
    "uci_multifeature": (common.DATASETS["uci_multifeature"], 500, 5),
    "watch": (common.DATASETS["watch"], 600, 5),
    "synthetic_inter": (common.synthetic("inter", n_samples=300, random_state=0), None, 5),
    "synthetic_inter@1": (common.synthetic("inter", n_samples=300, random_state=1), None, 5),
    "synthetic_mixed": (common.synthetic("mixed", n_samples=300, random_state=0), None, 5),
}


def candidates(X, modalities, with_p10=False):
    old = I2M2Classifier(modalities, n_bags=1, max_epochs=50, early_stopping="auto",
                         calibrate=None, random_state=SEED)
    bags = clone(old).set_params(n_bags=5, max_epochs=200, calibrate="auto",
                                 early_stopping=True)
    found = {
        "old": old,
        # bags-p10 only where --with-p10 is given: patience 10 stops interaction-driven
        # data on its first plateau (synthetic_inter), which the first run showed.
        "bags-p30": clone(bags).set_params(n_iter_no_change=30),
        **common.make_peers(X, modalities, SEED, ("hgb", "logreg")),
    }
    if with_p10:
        found["bags-p10"] = clone(bags).set_params(n_iter_no_change=10)
    return found


def run(name, with_p10=False):
    load, n_rows, n_folds = DATASETS[name]
    X, y, modalities, groups = common.load_dataset(name, n_rows, seed=SEED,
                                                   registry={name: load})
    # One repeat: StratifiedKFold(shuffle=True, random_state=SEED), or for watch
    # StratifiedGroupKFold(shuffle=True, random_state=SEED).
    splits = common.make_folds(y, groups, n_splits=n_folds, repeats=1, seed=SEED)
    rows = []
    for fold, (train, test) in enumerate(splits):
        for method, model in candidates(X, modalities, with_p10).items():
            seconds = common.timed_fit(model, X.iloc[train], y[train])
            scores = common.classification_scores(model, X.iloc[test], y[test])
            rows.append({"dataset": name, "rows": len(y), "fold": fold, "method": method,
                         "roc_auc": scores["roc_auc"], "log_loss": scores["log_loss"],
                         "fit_seconds": seconds})
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(RESULTS / f"defaults_{name}.csv", index=False)
    return frame


def report():
    paths = [RESULTS / f"defaults_{name}.csv" for name in DATASETS]
    frame = pd.concat([pd.read_csv(path) for path in paths if path.exists()])
    lines = [
        "# Training defaults: old against the cross-fitted ensemble",
        "",
        "Command: `python -m benchmarks.defaults --threads 1` (split across processes "
        "with `--datasets`; `bags-p10` with `--with-p10`, run here on synthetic_inter, "
        "synthetic_inter@1, watch and uci_multifeature), then "
        "`python -m benchmarks.defaults --report`.",
        "",
        f"Machine: one torch thread per process, torch {torch.__version__}, CPU. Mean "
        "± standard error over the folds (the same folds for every method; 3 folds for "
        "leaf_flavia, 5 elsewhere; grouped by subject for watch). uci_multifeature and "
        "watch are stratified subsamples (500 and 600 rows). ROC AUC is one-vs-rest "
        "for more than two classes. The paired column is the mean over folds of the "
        "method's value minus `old`'s, ± its standard error.",
        "",
    ]
    for name, per_dataset in frame.groupby("dataset", sort=False):
        old = per_dataset[per_dataset.method == "old"].set_index("fold")
        lines += [f"## {name} ({int(per_dataset['rows'].iloc[0])} rows)", "",
                  "| method | ROC AUC | log loss | AUC - old (paired) | fit s |",
                  "|---|---|---|---|---|"]
        for method, rows in per_dataset.groupby("method", sort=False):
            rows = rows.set_index("fold")
            gain = rows["roc_auc"] - old["roc_auc"]

            def mean_se(values):
                return common.mean_se(values, single=np.nan)

            lines.append(f"| {method} | {mean_se(rows['roc_auc'])} | "
                         f"{mean_se(rows['log_loss'])} | {mean_se(gain)} | "
                         f"{rows['fit_seconds'].mean():.1f} |")
        lines.append("")
    text = "\n".join(lines)
    (RESULTS / "defaults.md").write_text(text)
    print(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--with-p10", action="store_true",
                        help="also run the ensemble with n_iter_no_change=10")
    parser.add_argument("--report", action="store_true",
                        help="only write defaults.md from the per-dataset files")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.report:
        for name in args.datasets:
            run(name, args.with_p10)
    report()


if __name__ == "__main__":
    main()
