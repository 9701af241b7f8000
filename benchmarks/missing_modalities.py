"""How robust is each product to modalities missing at test time?

Every method is trained once per fold on complete training rows. Its test fold is then
scored as it is and with 25% and 50% of the test rows each losing ONE modality (all of
that modality's columns set to NaN; the modality drawn uniformly per row with a fixed
seed). Per fold the rows are put in one random order and each given one random
modality: a rate ``r`` corrupts the first ``r * n`` rows of that order, so the 25% test
set is a subset of the 50% one, and every method sees the very same corrupted rows.

Methods (all :class:`~sk_i2m2.I2M2Classifier` at package defaults unless said):

* ``i2m2``: ``dependencies="both"``; a missing modality's unimodal expert leaves the
  product and the fusion expert sees its embedding masked to zero;
* ``i2m2-dropout``: the same with ``modality_dropout=0.25`` (one value, not tuned);
* ``intra``: ``dependencies="intra"`` (late fusion), which drops the missing factor;
* ``inter-imputed``: ``dependencies="inter"``; the missing modality's raw columns are
  filled with the training fold's column means (modes for categorical columns) before
  prediction, so the model never sees a NaN: the usual workaround;
* ``inter-masked``: the same fitted model given the NaN rows (the package masks the
  modality's embedding to zero).

``inter-imputed`` and ``inter-masked`` share one fit per fold: they are the same
estimator with the same seed (CPU fits are deterministic) and differ only in the test
input.

Run ``python -m benchmarks.missing_modalities`` (``--help`` for options); the tables are
printed and written to ``benchmarks/results/missing_modalities.md``, the per-fold
scores to ``benchmarks/results/missing_modalities.csv``.
"""

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks import _common as common
from benchmarks._common import RESULTS
from sk_i2m2 import I2M2Classifier

#: name -> loader (benchmarks/_common.py). Unlike the suite's, ``watch`` keeps
#: ``load_watch``'s own overlapping windows (as when these results were measured).
LOADERS = {
    "alzheimers": common.DATASETS["alzheimers"],
    "watch": common.watch(overlap=None),
    "uci": common.DATASETS["uci_multifeature"],
    "synthetic": common.DATASETS["synthetic_mixed"],  # 2 000 rows, "mixed", seed 0
}
DATASETS = tuple(LOADERS)
#: method -> (label in the tables, fitted model it uses, test input it gets)
METHODS = {
    "i2m2": ("I2M2", "both", "masked"),
    "i2m2-dropout": ("I2M2 + modality_dropout", "both-dropout", "masked"),
    "intra": ("intra", "intra", "masked"),
    "inter-imputed": ("inter (zero-imputed)", "inter", "imputed"),
    "inter-masked": ("inter (masked)", "inter", "masked"),
}
#: fitted model -> I2M2Classifier parameters beyond the package defaults
MODELS = {
    "both": {"dependencies": "both"},
    "both-dropout": {"dependencies": "both", "modality_dropout": 0.25},
    "intra": {"dependencies": "intra"},
    "inter": {"dependencies": "inter"},
}
RATES = (0.0, 0.25, 0.5)
#: One product trained for a fixed number of epochs, as when these results were
#: measured (the package defaults have since become a cross-fitted ensemble).
DEFAULT_MAX_EPOCHS = 50
SINGLE_PRODUCT = {"n_bags": 1, "calibrate": None}
#: Default row caps (stratified subsample), chosen so the default run fits ~20 minutes
#: on 2 busy cores: watch has 4677 windows and one fit of the product on 2/3 of them
#: takes ~1 s per epoch on one thread.
DEFAULT_WATCH_ROWS = 2000


# --------------------------------------------------------------------------- data


def _subsample(X, y, groups, n_rows, seed):
    """A stratified subsample of ``n_rows`` rows (by class, and subject when grouped)."""
    if not n_rows or n_rows >= len(y):
        return X, y, groups, ""
    by = "class and subject" if groups is not None else "class"
    note = f"subsampled to {n_rows} of {len(y)} rows (stratified by {by}, seed {seed})"
    return (*common.subsample(X, y, groups, n_rows, seed=seed, by="class_and_group"),
            note)


def load(name, args):
    """``X, y, modalities, groups, note`` of one dataset."""
    X, y, modalities, groups = LOADERS[name]()
    rows = args.watch_rows if name == "watch" else 0
    X, y, groups, note = _subsample(X, y, groups, rows, args.seed)
    # Integer columns (alzheimers' ``male``) become float so that a NaN fits in them.
    integer = [c for c in X.columns if pd.api.types.is_integer_dtype(X[c].dtype)]
    X = X.astype(dict.fromkeys(integer, np.float64))
    return X, y, modalities, groups, note


def folds(y, groups, args):
    """StratifiedKFold (shuffled, seed ``args.seed``); grouped (watch): GroupKFold,
    neither shuffled nor stratified, unlike the suite's StratifiedGroupKFold."""
    return common.make_folds(y, groups, n_splits=args.folds, repeats=1, seed=args.seed,
                             stratify=groups is None)


# --------------------------------------------------------------------------- corruption


def corruption_plan(n_rows, n_modalities, fold, seed):
    """A random order of the test rows, and the modality each would lose."""
    rng = np.random.default_rng([seed, fold])
    return rng.permutation(n_rows), rng.integers(n_modalities, size=n_rows)


def dropped_modality(plan, rate):
    """``(n,)`` index of the modality each test row loses at ``rate``, -1 for none."""
    order, modality = plan
    dropped = np.full(len(order), -1)
    chosen = order[:round(rate * len(order))]
    dropped[chosen] = modality[chosen]
    return dropped


def column_positions(X, modalities):
    return [X.columns.get_indexer(columns) for _, _, columns in modalities]


def with_nan(X, dropped, positions):
    """``X`` with the dropped modality of each row set to NaN (all its columns)."""
    X = X.copy()
    for k, columns in enumerate(positions):
        rows = np.flatnonzero(dropped == k)
        if len(rows):
            X.iloc[rows, columns] = np.nan
    return X


def training_fill(X_train):
    """Column means (modes for non-numeric columns) of the training fold."""
    return {
        column: (X_train[column].mean()
                 if pd.api.types.is_numeric_dtype(X_train[column].dtype)
                 and not pd.api.types.is_bool_dtype(X_train[column].dtype)
                 else X_train[column].mode().iloc[0])
        for column in X_train.columns
    }


def imputed(X_nan, dropped, positions, fill):
    """The NaN-marked test rows with the dropped modality's columns mean-filled."""
    X = X_nan.copy()
    for k, columns in enumerate(positions):
        rows = np.flatnonzero(dropped == k)
        if len(rows):
            for column in X.columns[columns]:
                X.loc[X.index[rows], column] = fill[column]
    return X


# --------------------------------------------------------------------------- run


def run_dataset(name, args, counter, start):
    X, y, modalities, groups, note = load(name, args)
    positions = column_positions(X, modalities)
    models = sorted({METHODS[m][1] for m in args.methods}, key=list(MODELS).index)
    splits = folds(y, groups, args)
    records = []
    for fold, (train, test) in enumerate(splits):
        X_train, y_train = X.iloc[train], y[train]
        X_test, y_test = X.iloc[test].reset_index(drop=True), y[test]
        plan = corruption_plan(len(test), len(modalities), fold, args.seed)
        tests = {}
        fill = training_fill(X_train)
        for rate in RATES:
            dropped = dropped_modality(plan, rate)
            X_nan = with_nan(X_test, dropped, positions)
            tests[rate] = {"masked": X_nan,
                           "imputed": imputed(X_nan, dropped, positions, fill)}
        for model in models:
            clf = I2M2Classifier(modalities, max_epochs=args.max_epochs,
                                 random_state=args.seed + fold, **SINGLE_PRODUCT,
                                 **MODELS[model])
            fit_s = common.timed_fit(clf, X_train, y_train)
            counter[0] += 1
            scores = []
            for method in args.methods:
                label, method_model, test_input = METHODS[method]
                if method_model != model:
                    continue
                accuracies = []
                for rate in RATES:
                    predicted = clf.predict(tests[rate][test_input])
                    measured = common.label_scores(y_test, predicted)
                    accuracy = measured["accuracy"]
                    records.append({
                        "dataset": name, "method": label, "fold": fold,
                        "missing_rate": rate, "accuracy": accuracy,
                        "balanced_accuracy": measured["balanced_accuracy"],
                        "fit_seconds": fit_s, "n_train": len(train), "n_test": len(test),
                        "max_epochs": args.max_epochs,
                    })
                    accuracies.append(f"{accuracy:.3f}")
                scores.append(f"{label} " + " ".join(accuracies))
            print(f"[{counter[0]}/{counter[1]}] {name} fold {fold + 1}/{len(splits)} "
                  f"{model}: fit {fit_s:.1f}s; accuracy at {'/'.join(map(str, RATES))} "
                  f"missing: {'; '.join(scores)} ({time.perf_counter() - start:.0f}s "
                  "elapsed)", file=sys.stderr, flush=True)
    info = (f"`{name}`: {len(y)} rows, {len(np.unique(y))} classes, modalities "
            + ", ".join(f"{m} ({len(c)} column{'s' * (len(c) > 1)}, {type(e).__name__})"
                        for m, e, c in modalities)
            + (f"; {note}" if note else "")
            + ("; GroupKFold by subject" if groups is not None
               else "; StratifiedKFold (shuffled)") + ".")
    return records, info


def _mean_se(values):
    return common.mean_se(values, single=float("nan"))


def tables(frame, metric, methods):
    """One markdown table per dataset: rows = methods, columns = missing rates."""
    out = {}
    labels = [METHODS[m][0] for m in methods]
    for name, part in frame.groupby("dataset", sort=False):
        table = part.pivot_table(index="method", columns="missing_rate", values=metric,
                                 aggfunc=_mean_se).reindex(labels)
        table.columns = [f"{rate:.0%} missing" for rate in table.columns]
        table["fit s"] = part.groupby("method")["fit_seconds"].mean().map("{:.1f}".format)
        table.index.name = "method"
        out[name] = table.to_markdown()
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=DEFAULT_MAX_EPOCHS,
                        help="joint epochs of every fit (default: the package default, "
                        f"{DEFAULT_MAX_EPOCHS})")
    parser.add_argument("--watch-rows", type=int, default=DEFAULT_WATCH_ROWS,
                        help="stratified subsample of the watch windows (0: all 4677)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the folds, the subsample and the corruption; fold k "
                        "fits with random_state=seed + k")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's own choice). Default 1: on 2 "
                        "cores shared with other processes, 2 threads made epochs 7-70x "
                        "slower whenever another process held a core; 1 thread ~1.5x")
    parser.add_argument("--output", type=Path, default=RESULTS / "missing_modalities",
                        help="writes OUTPUT.md and OUTPUT.csv")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    per_fold = len(set(METHODS[m][1] for m in args.methods))
    counter = [0, per_fold * args.folds * len(args.datasets)]
    records, infos = [], []
    for name in args.datasets:
        dataset_records, info = run_dataset(name, args, counter, start)
        records += dataset_records
        infos.append(info)
    total = time.perf_counter() - start

    frame = pd.DataFrame(records)
    accuracy = tables(frame, "accuracy", args.methods)
    balanced = tables(frame, "balanced_accuracy", args.methods)
    command = "python -m benchmarks.missing_modalities"
    if argv:
        command += " " + shlex.join(argv)
    header = (
        "# Robustness to modalities missing at test time\n\n"
        f"Command: `{command}`\n\n"
        f"Settings: {args.folds} folds, max_epochs={args.max_epochs}, watch rows "
        f"{args.watch_rows or 'all'}, seed {args.seed} (fold k fits with random_state="
        f"{args.seed} + k); every other I2M2Classifier parameter at its package default; "
        "modality_dropout=0.25 for `I2M2 + modality_dropout`.\n\n"
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, CPU. "
        f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. "
        f"Total: {total:.0f} s.\n\n"
        "Protocol: each method is trained once per fold on complete training rows; "
        "its test fold is scored with 0%, 25% and 50% of the rows each losing one "
        "modality, drawn uniformly per row (the same corrupted rows for every method; "
        "the 25% rows are a subset of the 50% ones). Cells: mean ± standard error over "
        "folds. `inter (zero-imputed)` fills the missing modality's raw columns with the "
        "training fold's column means (the mode for the categorical `Genotype`), which "
        "is zero after the package's per-column standardisation of MLP modalities (for "
        "the CNN and sequence modalities, scaled per channel, it is the mean image or "
        "series); `inter (masked)` is the same fitted model given the NaN rows. "
        "`fit s`: mean seconds per fit (the two `inter` rows share one fit).\n\n"
        "Datasets:\n\n" + "\n".join(f"- {info}" for info in infos) + "\n"
    )
    body = ""
    for name in accuracy:
        body += (f"\n## {name}\n\nAccuracy:\n\n{accuracy[name]}\n\n"
                 f"Balanced accuracy:\n\n{balanced[name]}\n")
    text = header + body
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(text)
    frame.to_csv(args.output.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
