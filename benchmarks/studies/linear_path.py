"""Does a linear path beside the perceptron (``MLPExpert(linear=True)``) pay on tables?

Wide, short tables whose evidence is mostly linear are where a logistic regression
beats a small MLP. On each dataset, 5 stratified folds (shuffled, random_state=0;
the first repeat of ``benchmarks/run.py``'s folds), the same for every method:

* ``defaults``: ``I2M2Classifier(modalities)`` at package defaults;
* ``linear``: the same with ``linear=True`` on every ``MLPExpert``;
* ``dropout 0.3``: the same with ``dropout=0.3`` on every ``MLPExpert``;
* ``logreg``: LogisticRegression on all columns (``table_preprocessor``).

Datasets: the Alzheimer's table (333 rows, 130 columns in 4 modalities) and a wide
synthetic one (``make_multimodal_classification(260, n_features=150,
dependency="intra", class_sep=0.25)``: 2 modalities of 150 columns, half of them
linear evidence). Writes ``benchmarks/results/linear_path.md``. Run alone or with
``--threads 1``: ``python -m benchmarks.studies.linear_path --threads 1``.

A decision study, settled: the linear path stayed off by default (``linear=False``).
"""

import argparse
import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone

from benchmarks import _common as common
from benchmarks._common import RESULTS
from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import MLPExpert

DATASETS = {
    "alzheimers": common.DATASETS["alzheimers"],
    "wide_synthetic": common.synthetic("intra", n_samples=260, random_state=0,
                                       n_features=150, class_sep=0.25),
}


def with_mlp_params(modalities, **params):
    return [(name, clone(expert).set_params(**params) if isinstance(expert, MLPExpert)
             else expert, columns) for name, expert, columns in modalities]


def candidates(X, modalities, seed):
    return {
        "defaults": I2M2Classifier(modalities, random_state=seed),
        "linear": I2M2Classifier(with_mlp_params(modalities, linear=True),
                                 random_state=seed),
        "dropout 0.3": I2M2Classifier(with_mlp_params(modalities, dropout=0.3),
                                      random_state=seed),
        **common.make_peers(X, modalities, seed, ("logreg",)),
    }


def run(name):
    X, y, modalities, _ = DATASETS[name]()
    rows = []
    # StratifiedKFold(5, shuffle=True, random_state=0): run.py's first repeat.
    folds = common.make_folds(y, n_splits=5, repeats=1, seed=0)
    for fold, (train, test) in enumerate(folds):
        for method, model in candidates(X, modalities, fold).items():
            seconds = common.timed_fit(model, X.iloc[train], y[train])
            scores = common.classification_scores(model, X.iloc[test], y[test])
            rows.append({"dataset": name, "method": method, "fold": fold,
                         "roc_auc": scores["roc_auc"], "log_loss": scores["log_loss"],
                         "fit_seconds": seconds})
            print(rows[-1], flush=True)
    return rows


def report(frame, command):
    lines = ["# A linear path beside the perceptron", "",
             f"Command: `{command}` ({datetime.date.today()}). 5 stratified folds, the "
             "same for every method; mean ± standard error; the paired column is the "
             "mean over folds of the method's ROC AUC minus `defaults`', ± its standard "
             "error.", ""]
    for name, data in frame.groupby("dataset", sort=False):
        base = data[data.method == "defaults"].set_index("fold")["roc_auc"]
        lines += [f"## {name}", "", "| method | ROC AUC | log loss | AUC − defaults "
                  "(paired) | fit s |", "|---|---|---|---|---|"]
        for method, rows in data.groupby("method", sort=False):
            difference = rows.set_index("fold")["roc_auc"] - base
            lines.append(
                f"| {method} | {common.mean_se(rows.roc_auc, single=np.nan)} | "
                f"{common.mean_se(rows.log_loss, single=np.nan)} | "
                f"{common.mean_se(difference, 4, sign='+', single=np.nan)} | "
                f"{rows.fit_seconds.mean():.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [row for name in DATASETS for row in run(name)]
    frame = pd.DataFrame(rows)
    command = "python -m benchmarks.studies.linear_path" + (
        f" --threads {args.threads}" if args.threads else "")
    args.output.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.output / "linear_path.csv", index=False)
    text = report(frame, command)
    (args.output / "linear_path.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
