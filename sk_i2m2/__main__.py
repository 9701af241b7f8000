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
from sklearn.model_selection import train_test_split
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


def _scores(y_true, proba, classes):
    predicted = classes[proba.argmax(axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_true, proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return accuracy_score(y_true, predicted), auc, log_loss(y_true, proba, labels=classes)


def _row(model, expert, scores, seconds=None):
    accuracy, auc, loss = scores
    fit = "" if seconds is None else f"{seconds:>8.1f}"
    return f"{model:<24}{expert:<16}{accuracy:>10.3f}{auc:>10.3f}{loss:>10.3f}{fit}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="alzheimers", choices=["synthetic", *LOADERS])
    parser.add_argument("--n-samples", type=int, default=3000,
                        help="rows of the synthetic data (default: 3000)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="override the package default (for quick runs)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, modalities = _load(args.dataset, args.n_samples, args.random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.random_state)
    described = ", ".join(f"{name} ({len(cols)} columns)" for name, _, cols in modalities)
    print(f"{args.dataset}: {len(X_train)} training / {len(X_test)} test rows, "
          f"{len(np.unique(y))} classes; modalities {described}\n")
    print(f"{'model':<24}{'expert':<16}{'accuracy':>10}{'ROC AUC':>10}{'log loss':>10}"
          f"{'fit s':>8}")
    training = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    for dependencies, label in [("intra", "intra only"), ("inter", "inter only"),
                                ("both", "I2M2 (both)")]:
        clf = I2M2Classifier(modalities, dependencies=dependencies,
                             random_state=args.random_state, **training)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        for name, proba in clf.expert_proba(X_test).items():
            print(_row(label, name, _scores(y_test, proba, clf.classes_)))
        print(_row(label, "combined", _scores(y_test, clf.predict_proba(X_test), clf.classes_),
                   seconds) + "\n")
    peers = {
        "HistGradientBoosting": HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=args.random_state),
        "LogisticRegression": make_pipeline(table_preprocessor(X),
                                            LogisticRegression(max_iter=2000)),
    }
    for label, peer in peers.items():
        start = time.perf_counter()
        peer = clone(peer).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        print(_row(label, "all columns",
                   _scores(y_test, peer.predict_proba(X_test), peer.classes_), seconds))


if __name__ == "__main__":
    main()
