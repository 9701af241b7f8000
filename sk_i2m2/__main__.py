"""Fit I2M2 and its two baselines on bundled data and print every expert's scores.

Run ``python -m sk_i2m2`` (or ``sk-i2m2-demo``); ``--help`` lists the options.
"""

import argparse
import time

from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from . import I2M2Classifier
from .datasets import make_multimodal_classification


def _scores(y_true, proba, classes):
    return accuracy_score(y_true, classes[proba.argmax(axis=1)]), log_loss(
        y_true, proba, labels=classes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dependency", default="mixed", choices=["intra", "inter", "mixed"],
                        help="kind of dependency in the synthetic data (default: mixed)")
    parser.add_argument("--n-samples", type=int, default=3000)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, modalities = make_multimodal_classification(
        args.n_samples, dependency=args.dependency, random_state=args.random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.random_state)
    print(f"Synthetic data with {args.dependency!r} dependencies: {len(X_train)} train / "
          f"{len(X_test)} test rows, modalities "
          f"{', '.join(f'{name} ({len(cols)} columns)' for name, _, cols in modalities)}\n")
    print(f"{'model':<22}{'expert':<12}{'accuracy':>10}{'log loss':>10}{'fit s':>8}")
    for dependencies in ("intra", "inter", "both"):
        clf = I2M2Classifier(modalities, dependencies=dependencies,
                             max_epochs=args.max_epochs, random_state=args.random_state)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        label = "I2M2 (both)" if dependencies == "both" else f"{dependencies} only"
        for name, proba in clf.expert_proba(X_test).items():
            accuracy, loss = _scores(y_test, proba, clf.classes_)
            print(f"{label:<22}{name:<12}{accuracy:>10.3f}{loss:>10.3f}")
        accuracy, loss = _scores(y_test, clf.predict_proba(X_test), clf.classes_)
        print(f"{label:<22}{'combined':<12}{accuracy:>10.3f}{loss:>10.3f}{seconds:>8.1f}\n")


if __name__ == "__main__":
    main()
