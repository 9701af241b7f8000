"""Compare sk_i2m2 with the models a scikit-learn user would pick instead.

On each dataset, with repeated stratified cross-validation (grouped by subject for
the smartwatch data) and the same folds for every method:

* sk_i2m2 at package defaults: every unimodal expert alone (``expert:<modality>``),
  ``intra`` (unimodal experts only), ``inter`` (fusion expert only), ``both`` (I2M2);
* scikit-learn classifiers inside the product: ``trees:intra`` (one
  HistGradientBoostingClassifier per modality, cross-fitted), ``trees:neural-fusion``
  (those trees times the neural fusion expert), ``trees:tree-fusion`` (times a
  HistGradientBoostingClassifier on all preprocessed columns);
* peers on all columns concatenated: ``hgb`` (HistGradientBoostingClassifier) and
  ``logreg`` (LogisticRegression after imputation, scaling and one-hot encoding);
  ``stacking``: a StackingClassifier over one LogisticRegression per modality (late
  fusion the scikit-learn way).

Writes ``benchmarks/results/<dataset>.csv`` (one row per method and fold),
``benchmarks/results/RESULTS.md`` (mean ± standard error over folds) and
``benchmarks/results/<dataset>.png``. Run ``python -m benchmarks.run --help``.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline

from sk_i2m2 import I2M2Classifier, datasets
from sk_i2m2.experts import table_preprocessor
from sk_i2m2.metrics import expected_calibration_error

RESULTS = Path(__file__).parent / "results"
METRICS = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "ece", "fit_seconds"]
LOWER_IS_BETTER = {"log_loss", "ece", "fit_seconds"}


# --------------------------------------------------------------------------- data


def _synthetic(dependency):
    def load():
        X, y, modalities = datasets.make_multimodal_classification(
            n_samples=2000, dependency=dependency, random_state=0)
        return X, y, modalities, None
    return load


def _watch():
    # Non-overlapping windows: half the rows of the loader's default, and no two
    # windows share samples (so no near-duplicate rows straddle train and test).
    X, y, modalities, groups = datasets.load_watch(overlap=0.0, return_groups=True)
    return X, y, modalities, groups


DATASETS = {
    "alzheimers": lambda: (*datasets.load_alzheimers(), None),
    "uci_multifeature": lambda: (*datasets.load_uci_multifeature(), None),
    "watch": _watch,
    "synthetic_intra": _synthetic("intra"),
    "synthetic_inter": _synthetic("inter"),
    "synthetic_mixed": _synthetic("mixed"),
}


def folds(X, y, groups, n_splits, repeats):
    """The same (train, test) index pairs for every method."""
    if groups is None:
        cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=repeats, random_state=0)
        return list(cv.split(X, y))
    return [split for repeat in range(repeats)
            for split in StratifiedGroupKFold(n_splits, shuffle=True,
                                              random_state=repeat).split(X, y, groups)]


# --------------------------------------------------------------------------- methods


def methods(X, modalities, seed, max_epochs):
    """``{name: unfitted estimator}`` for one dataset."""
    training = {} if max_epochs is None else {"max_epochs": max_epochs}
    found = {}
    for name, expert, columns in modalities:
        found[f"expert:{name}"] = I2M2Classifier([(name, expert, columns)],
                                                 dependencies="intra", random_state=seed,
                                                 **training)
    for dependencies in ("intra", "inter", "both"):
        found[dependencies] = I2M2Classifier(modalities, dependencies=dependencies,
                                             random_state=seed, **training)
    # I2M2 with its temperature fitted on a held-out tenth of the training rows.
    found["both:temperature"] = I2M2Classifier(modalities, calibrate="temperature",
                                               random_state=seed, **training)
    trees = [(name, HistGradientBoostingClassifier(categorical_features="from_dtype",
                                                   random_state=seed), columns)
             for name, _, columns in modalities]
    found["trees:intra"] = I2M2Classifier(trees, dependencies="intra", random_state=seed,
                                          **training)
    found["trees:neural-fusion"] = I2M2Classifier(trees, random_state=seed, **training)
    found["trees:tree-fusion"] = I2M2Classifier(
        trees, fusion=HistGradientBoostingClassifier(random_state=seed), random_state=seed,
        **training)
    found["hgb"] = HistGradientBoostingClassifier(categorical_features="from_dtype",
                                                  random_state=seed)
    found["logreg"] = make_pipeline(table_preprocessor(X), LogisticRegression(max_iter=2000))
    found["stacking"] = StackingClassifier(
        [(name, make_pipeline(
            ColumnTransformer([(name, table_preprocessor(X[columns]), columns)]),
            LogisticRegression(max_iter=2000)))
         for name, _, columns in modalities],
        final_estimator=LogisticRegression(max_iter=2000), cv=5,
    )
    return found


# --------------------------------------------------------------------------- metrics


def scores(model, X_test, y_test, fit_seconds):
    proba = model.predict_proba(X_test)
    classes = model.classes_
    predicted = classes[proba.argmax(axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_test, proba[:, 1])
    else:
        auc = roc_auc_score(y_test, proba, multi_class="ovr", labels=classes)
    return {
        "accuracy": accuracy_score(y_test, predicted),
        "balanced_accuracy": balanced_accuracy_score(y_test, predicted),
        "roc_auc": auc,
        "log_loss": log_loss(y_test, proba, labels=classes),
        "ece": expected_calibration_error(np.asarray(y_test), proba, classes),
        "fit_seconds": fit_seconds,
    }


# --------------------------------------------------------------------------- report


def summarise(frame):
    """Mean and standard error over folds, per method."""
    grouped = frame.groupby("method", sort=False)[METRICS]
    mean, sem = grouped.mean(), grouped.sem(ddof=1).fillna(0.0)
    return mean, sem


def markdown_table(mean, sem):
    header = "| method | " + " | ".join(METRICS) + " |"
    lines = [header, "|" + "---|" * (len(METRICS) + 1)]
    for method in mean.index:
        cells = []
        for metric in METRICS:
            best = (mean[metric].min() if metric in LOWER_IS_BETTER
                    else mean[metric].max())
            text = f"{mean.at[method, metric]:.3f} ± {sem.at[method, metric]:.3f}"
            if metric != "fit_seconds" and np.isclose(mean.at[method, metric], best):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(dataset, mean, sem, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(mean) + 1.5), sharey=True)
    positions = np.arange(len(mean))
    for axis, metric in zip(axes, ["roc_auc", "accuracy"], strict=True):
        colours = ["tab:gray" if m.startswith(("hgb", "logreg", "stacking"))
                   else "tab:green" if m.startswith("trees") else "tab:blue"
                   for m in mean.index]
        axis.barh(positions, mean[metric], xerr=sem[metric], color=colours, capsize=3)
        low = max(0.0, (mean[metric] - sem[metric]).min() - 0.05)
        axis.set_xlim(low, 1.0)
        axis.set_xlabel(f"{metric} (mean ± s.e. over folds)")
    axes[0].set_yticks(positions, mean.index)
    axes[0].invert_yaxis()
    fig.suptitle(f"{dataset}: sk_i2m2 neural (blue), with tree experts (green), "
                 "scikit-learn peers (grey)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def run_dataset(name, args, progress, save):
    """Fit every method on every fold; ``save(frame)`` after each fold."""
    X, y, modalities, groups = DATASETS[name]()
    splits = folds(X, y, groups, args.folds, args.repeats)
    rows = []
    for fold, (train, test) in enumerate(splits):
        candidates = methods(X, modalities, seed=fold, max_epochs=args.max_epochs)
        for method, estimator in candidates.items():
            if args.methods and not any(method.startswith(m) for m in args.methods):
                continue
            progress.set_postfix_str(f"{name} fold {fold + 1}/{len(splits)} {method}")
            model = clone(estimator)
            start = time.perf_counter()
            model.fit(X.iloc[train], y[train])
            seconds = time.perf_counter() - start
            rows.append({"dataset": name, "method": method, "fold": fold,
                         **scores(model, X.iloc[test], y[test], seconds)})
            progress.update()
        save(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def count_tasks(names, args):
    total = 0
    for name in names:
        X, y, modalities, groups = DATASETS[name]()
        n_methods = len(methods(X, modalities, 0, args.max_epochs))
        if args.methods:
            n_methods = sum(any(m.startswith(p) for p in args.methods)
                            for m in methods(X, modalities, 0, args.max_epochs))
        total += n_methods * len(folds(X, y, groups, args.folds, args.repeats))
    return total


def _order(frame, X, modalities):
    """Methods in their declared order, whatever order the runs came in."""
    declared = list(methods(X, modalities, 0, None))
    rank = {method: i for i, method in enumerate(declared)}
    return frame.sort_values(["method", "fold"], key=lambda column: column.map(
        rank) if column.name == "method" else column, kind="stable")


def _runs(path):
    """The runs recorded for a dataset, oldest first (one dict in older files)."""
    if not path.exists():
        return []
    notes = json.loads(path.read_text())
    return notes if isinstance(notes, list) else [notes]


def write_report(output):
    """RESULTS.md from every dataset's CSV and run notes in ``output``."""
    sections = []
    for name in DATASETS:
        path = output / f"{name}.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        mean, sem = summarise(frame)
        runs = "; ".join(
            f"`{run['command']}` ({run['date']}, {run['threads']} torch thread(s), "
            f"{run['minutes']:.1f} min)" for run in _runs(output / f"{name}.json"))
        sections.append(
            f"## {name}\n\nCommands: {runs}. {frame['fold'].nunique()} folds.\n\n"
            f"{markdown_table(mean, sem)}\n")
    header = (
        "# sk_i2m2 against its baselines and scikit-learn peers\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        "no GPU. Mean ± standard error over folds (stratified k-fold, repeated where "
        "stated; grouped by subject for `watch`), identical folds for every method; the "
        "best mean per column in bold. sk_i2m2 methods run at package defaults, with no "
        "per-dataset tuning. `fit_seconds` depend on what else ran on the machine.\n\n"
    )
    (output / "RESULTS.md").write_text(header + "\n".join(sections))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=None,
                        help="method names or prefixes (e.g. expert: both hgb); default all")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="override the package default (for quick runs only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); use 1 per process "
                             "when several run side by side")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tqdm import tqdm

    args.output.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.run " + " ".join(
        sys.argv[1:] if argv is None else argv)
    with tqdm(total=count_tasks(args.datasets, args), unit="fit") as progress:
        for name in args.datasets:
            started = time.perf_counter()
            path = args.output / f"{name}.csv"
            X, _, modalities, _ = DATASETS[name]()
            earlier = pd.read_csv(path) if path.exists() else None
            earlier_runs = _runs(args.output / f"{name}.json")

            def save(frame, name=name, path=path, X=X, modalities=modalities,
                     earlier=earlier, earlier_runs=earlier_runs, started=started):
                if earlier is not None:
                    frame = pd.concat([earlier[~earlier["method"].isin(frame["method"])],
                                       frame])
                frame = _order(frame, X, modalities)
                frame.to_csv(path, index=False)
                # A command run again replaces its earlier run (and its rows).
                kept = [run for run in earlier_runs if run["command"] != command.strip()]
                (args.output / f"{name}.json").write_text(json.dumps([*kept, {
                    "command": command.strip(), "date": str(datetime.date.today()),
                    "threads": torch.get_num_threads(),
                    "minutes": (time.perf_counter() - started) / 60,
                }]))
                mean, sem = summarise(frame)
                plot(name, mean, sem, args.output / f"{name}.png")
                write_report(args.output)

            run_dataset(name, args, progress, save)
    print((args.output / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
