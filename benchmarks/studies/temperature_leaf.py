"""Why the leaf data's log loss swings: one confident error, and the fitted temperature.

Refits ``I2M2Classifier`` at package defaults on two of ``benchmarks/run.py``'s
leaf_flavia folds (3 folds x 2 repeats; seed = fold, as there) and prints the test
log loss at the fitted temperature, at ``T = 1`` and at ``T = 1.25``, with the four
lowest probabilities given to a row's true class. Output in
``benchmarks/results/temperature_leaf.txt``::

    python -m benchmarks.studies.temperature_leaf --threads 1

A study, settled: it explains a result of the suite; the temperature is fitted on
the ensemble's out-of-fold predictions, unbounded (``calibrate="auto"``).
"""

import argparse

import numpy as np
import torch
from sklearn.metrics import log_loss

from benchmarks._common import DATASETS, make_folds
from sk_i2m2 import I2M2Classifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--folds", type=int, nargs="+", default=[5, 3])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, modalities, _ = DATASETS["leaf_flavia"]()
    splits = make_folds(y, n_splits=3, repeats=2, seed=0)  # benchmarks/run.py's
    print("fold  temperature  test log loss  lowest p(true class)")
    for fold in args.folds:
        train, test = splits[fold]
        model = I2M2Classifier(modalities, random_state=fold).fit(X.iloc[train], y[train])
        rows = np.arange(len(test))
        true = np.searchsorted(model.classes_, y[test])
        for temperature in (model.temperature_, 1.0, 1.25):
            model.net_.module_.set_temperature(temperature)
            proba = model.predict_proba(X.iloc[test])
            lowest = np.sort(proba[rows, true])[:4]
            label = f"{temperature:.3f}" + (" (fitted)" if temperature is
                                             model.temperature_ else "")
            print(f"{fold:>4}  {label:<13}  {log_loss(y[test], proba, labels=model.classes_):.4f}"
                  f"         {np.array2string(lowest, precision=5)}", flush=True)


if __name__ == "__main__":
    main()
