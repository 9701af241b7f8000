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
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline

from sk_i2m2 import I2M2Classifier, datasets
from sk_i2m2.experts import table_preprocessor

RESULTS = Path(__file__).parent / "results"
SEED = 0


def _subsample(X, y, groups, n_rows):
    if n_rows is None or n_rows >= len(y):
        return X, y, groups
    keep = np.sort(train_test_split(np.arange(len(y)), train_size=n_rows, stratify=y,
                                    random_state=SEED)[0])
    return (X.iloc[keep].reset_index(drop=True), y[keep],
            None if groups is None else groups[keep])


def _synthetic(dependency, seed):
    def load():
        X, y, modalities = datasets.make_multimodal_classification(
            n_samples=300, dependency=dependency, random_state=seed)
        return X, y, modalities, None
    return load


def _watch():
    X, y, modalities, groups = datasets.load_watch(overlap=0.0, return_groups=True)
    return X, y, modalities, np.asarray(groups)


#: name -> (loader returning X, y, modalities, groups; rows kept; folds)
DATASETS = {
    "alzheimers": (lambda: (*datasets.load_alzheimers(), None), None, 5),
    "breast_cancer": (lambda: (*datasets.load_breast_cancer_views(), None), None, 5),
    "leaf_flavia": (lambda: (*datasets.load_leaf_flavia(), None), None, 3),
    "uci_multifeature": (lambda: (*datasets.load_uci_multifeature(), None), 500, 5),
    "watch": (_watch, 600, 5),
    "synthetic_inter": (_synthetic("inter", 0), None, 5),
    "synthetic_inter@1": (_synthetic("inter", 1), None, 5),
    "synthetic_mixed": (_synthetic("mixed", 0), None, 5),
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
        "hgb": HistGradientBoostingClassifier(categorical_features="from_dtype",
                                              random_state=SEED),
        "logreg": make_pipeline(table_preprocessor(X), LogisticRegression(max_iter=2000)),
    }
    if with_p10:
        found["bags-p10"] = clone(bags).set_params(n_iter_no_change=10)
    return found


def _scores(model, X_test, y_test):
    proba = model.predict_proba(X_test)
    classes = model.classes_
    auc = (roc_auc_score(y_test, proba[:, 1]) if len(classes) == 2 else
           roc_auc_score(y_test, proba, multi_class="ovr", labels=classes))
    return auc, log_loss(y_test, proba, labels=classes)


def run(name, with_p10=False):
    load, n_rows, n_folds = DATASETS[name]
    X, y, modalities, groups = load()
    X, y, groups = _subsample(X, np.asarray(y), groups, n_rows)
    if groups is None:
        splits = StratifiedKFold(n_folds, shuffle=True, random_state=SEED).split(X, y)
    else:
        splits = StratifiedGroupKFold(n_folds, shuffle=True, random_state=SEED).split(
            X, y, groups)
    rows = []
    for fold, (train, test) in enumerate(splits):
        for method, model in candidates(X, modalities, with_p10).items():
            start = time.perf_counter()
            model.fit(X.iloc[train], y[train])
            seconds = time.perf_counter() - start
            auc, loss = _scores(model, X.iloc[test], y[test])
            rows.append({"dataset": name, "rows": len(y), "fold": fold, "method": method,
                         "roc_auc": auc, "log_loss": loss, "fit_seconds": seconds})
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
                return f"{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}"

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
