"""Fit I2M2, its two baselines and scikit-learn peers on bundled data; print every score.

Run ``python -m sk_i2m2`` (or ``sk-i2m2-demo``); ``--help`` lists the options. The
default dataset, Alzheimer's disease CSF biomarkers, needs the ``benchmarks`` extra
(``pip install "sk-i2m2[benchmarks]"``); ``--dataset synthetic`` needs nothing more.
"""

import argparse
import time

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline

from . import I2M2Classifier, datasets
from .experts import table_preprocessor

LOADERS = {
    "alzheimers": datasets.load_alzheimers,
    "uci_multifeature": datasets.load_uci_multifeature,
    "watch": datasets.load_watch,
}


def _load(name, n_samples, random_state):
    if name == "synthetic":
        return datasets.make_multimodal_classification(
            n_samples, dependency="mixed", random_state=random_state)
    return LOADERS[name]()


def _fold_scores(y_true, proba, classes, seconds=None):
    """One fold's scores (and fit seconds) of one model or expert."""
    predicted = classes[proba.argmax(axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_true, proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return {"accuracy": accuracy_score(y_true, predicted), "auc": auc,
            "log_loss": log_loss(y_true, proba, labels=classes), "seconds": seconds}


def _cell(values):
    """``mean ± standard error`` of per-fold values."""
    error = np.std(values, ddof=1) / np.sqrt(len(values))
    return f"{np.mean(values):.3f} ± {error:.3f}"


def _row(model, expert, rows, with_time=True):
    """One printed line: the mean ± standard error over folds of each score."""
    columns = [_cell([row[k] for row in rows]) for k in ("accuracy", "auc", "log_loss")]
    fit = f"{np.mean([row['seconds'] for row in rows]):>8.1f}" if with_time else ""
    return f"{model:<22}{expert:<17}" + "".join(f"{c:>16}" for c in columns) + fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="alzheimers", choices=["synthetic", *LOADERS])
    parser.add_argument("--n-samples", type=int, default=3000,
                        help="rows of the synthetic data (default: 3000)")
    parser.add_argument("--folds", type=int, default=5,
                        help="stratified cross-validation folds, the same for every "
                             "model (default: 5)")
    parser.add_argument("--repeats", type=int, default=4,
                        help="repeats of the cross-validation, each with new folds: "
                             "with 4 (20 folds), a paired difference of 0.01 ROC AUC is "
                             "about two standard errors on the default data (default: 4)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="override the package default (for quick runs)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, modalities = _load(args.dataset, args.n_samples, args.random_state)
    folds = list(RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats,
                                         random_state=args.random_state).split(X, y))
    described = ", ".join(f"{name} ({len(cols)} columns)" for name, _, cols in modalities)
    print(f"{args.dataset}: {len(X)} rows, {len(np.unique(y))} classes; modalities "
          f"{described}\n{args.folds}-fold stratified cross-validation repeated "
          f"{args.repeats} time(s), the same {len(folds)} folds for every model: mean ± "
          "standard error over the folds.\n")
    print(f"{'model':<22}{'expert':<17}{'accuracy':>16}{'ROC AUC':>16}{'log loss':>16}"
          f"{'fit s':>8}")
    training = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    models = {label: I2M2Classifier(modalities, dependencies=dependencies,
                                    random_state=args.random_state, **training)
              for dependencies, label in [("intra", "intra only"), ("inter", "inter only"),
                                          ("both", "I2M2 (both)")]}
    models.update({
        "HistGradientBoosting": HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=args.random_state),
        "LogisticRegression": make_pipeline(table_preprocessor(X),
                                            LogisticRegression(max_iter=2000)),
    })
    combined = {}
    for label, model in models.items():
        experts, combined[label] = {}, []
        for train, test in folds:
            start = time.perf_counter()
            fitted = clone(model).fit(X.iloc[train], y[train])
            seconds = time.perf_counter() - start
            X_test, y_test = X.iloc[test], y[test]
            if hasattr(fitted, "expert_proba"):  # an I2M2 model: each expert's scores too
                for name, proba in fitted.expert_proba(X_test).items():
                    experts.setdefault(name, []).append(
                        _fold_scores(y_test, proba, fitted.classes_))
            combined[label].append(_fold_scores(
                y_test, fitted.predict_proba(X_test), fitted.classes_, seconds))
        for name, rows in experts.items():
            print(_row(label, name, rows, with_time=False))
        print(_row(label, "combined" if experts else "all columns", combined[label])
              + ("\n" if experts else ""))
    _print_paired(combined)


def _print_paired(combined):
    """I2M2 against each other model, fold by fold: the honest comparison."""
    mine = combined["I2M2 (both)"]
    print("\nI2M2 minus each model, paired over the folds (mean ± standard error):")
    for label, rows in combined.items():
        if label == "I2M2 (both)":
            continue
        auc = [a["auc"] - b["auc"] for a, b in zip(mine, rows, strict=True)]
        loss = [a["log_loss"] - b["log_loss"] for a, b in zip(mine, rows, strict=True)]
        print(f"  vs {label:<22} ROC AUC {_cell(auc):>16}   log loss {_cell(loss):>16}")


if __name__ == "__main__":
    main()
