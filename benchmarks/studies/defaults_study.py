"""Which I2M2Classifier defaults over-fit least on small tables? (issue 10)

Candidates, all through the public API with the same random_state, on the same
stratified 5-fold splits (shuffled, random_state=0; grouped by subject for ``watch``):

* ``A``  package defaults (50 epochs, no early stopping below 10 000 rows);
* ``B``  early_stopping=True, validation_fraction=0.2, n_iter_no_change=10, max_epochs=200;
* ``C``  B + calibrate="temperature";
* ``D``  5 B-like members, each with its own validation split / seed, probabilities averaged;
* ``E``  B + MLPExpert(hidden_units=(32,), dropout=0.3) for every MLP modality,
  weight_decay=0.1;
* ``F``  B + lr=3e-3;
* ``G``  B + n_iter_no_change=30; ``H``  G with validation_fraction=0.1 (added after
  the first run showed B stopping synthetic_inter on its initial plateau);
* ``I``  A + calibrate="temperature" (no early stopping; 10% held out for T only);
* ``J``  D with H's members (patience 30, validation_fraction=0.1);
* peers ``hgb`` (HistGradientBoostingClassifier, categorical_features="from_dtype") and
  ``logreg`` (LogisticRegression after ``table_preprocessor``).

Run one process at a time, single-threaded::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m benchmarks.studies.defaults_study

Writes ``benchmarks/results/defaults_study.csv`` (one row per dataset, candidate, fold;
appended per fold so that a partial run keeps its rows) and
``benchmarks/results/defaults_study.md``.

A decision study, settled: the ensemble it led to (``n_bags="auto"``) is the package
default, and ``benchmarks/defaults.py`` measures it against the old defaults.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from benchmarks import _common as common
from benchmarks._common import RESULTS
from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import MLPExpert

SEED = 0
_RUN = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m benchmarks.studies.defaults_study"
_SMALL = ("alzheimers synthetic_intra synthetic_inter synthetic_mixed "
          "synthetic_intra@1 synthetic_inter@1 synthetic_mixed@1")
#: The runs behind results/defaults_study.csv, in order (each replaces only its own
#: (dataset, candidate) rows); J was run on the small data sets only, for time.
REPRODUCE = [
    f"{_RUN} --rows uci_multifeature=500 watch=600 --datasets alzheimers synthetic_intra "
    "synthetic_inter synthetic_mixed uci_multifeature watch --candidates A B C D E F hgb logreg",
    f"{_RUN} --rows uci_multifeature=500 watch=600 --datasets alzheimers synthetic_intra "
    "synthetic_inter synthetic_mixed uci_multifeature watch --candidates G H I",
    f"{_RUN} --datasets synthetic_intra@1 synthetic_inter@1 synthetic_mixed@1 "
    "--candidates A B C D E F G H I hgb logreg",
    f"{_RUN} --datasets {_SMALL} --candidates J",
]


# --------------------------------------------------------------------------- data


def load(name, n_rows=None):
    """X, y, modalities, groups (or None); a stratified subsample (seed 0) of n_rows."""
    if name.startswith("synthetic_"):  # "synthetic_inter@1": another draw, seed 1
        dependency, _, seed = name.split("_", 1)[1].partition("@")
        loader = common.synthetic(dependency, n_samples=300, random_state=int(seed or 0))
    elif name in ("alzheimers", "uci_multifeature", "watch"):
        loader = common.DATASETS[name]  # watch: non-overlapping windows, by subject
    else:
        raise ValueError(name)
    return common.load_dataset(name, n_rows, seed=0, registry={name: loader})


DATASETS = ["alzheimers", "synthetic_intra", "synthetic_inter", "synthetic_mixed",
            "uci_multifeature", "watch",
            # a second draw of each synthetic set: 300 rows are noisy
            "synthetic_intra@1", "synthetic_inter@1", "synthetic_mixed@1"]


def splits(X, y, groups):
    """StratifiedKFold(5, shuffle=True, random_state=0); StratifiedGroupKFold for watch."""
    return common.make_folds(y, groups, n_splits=5, repeats=1, seed=0)


# --------------------------------------------------------------------------- candidates


class CrossFitEnsemble(ClassifierMixin, BaseEstimator):
    """Average of ``n_members`` clones of ``estimator``, member k with random_state=base+k.

    With early stopping on, each member holds out its own validation split (the split
    is drawn from the member's random_state), so every training row is used for
    fitting by most members and for validation by some.
    """

    def __init__(self, estimator, n_members=5):
        self.estimator = estimator
        self.n_members = n_members

    def fit(self, X, y):
        base = self.estimator.random_state or 0
        self.estimators_ = [clone(self.estimator).set_params(random_state=base + k).fit(X, y)
                            for k in range(self.n_members)]
        self.classes_ = self.estimators_[0].classes_
        return self

    def predict_proba(self, X):
        return np.mean([m.predict_proba(X) for m in self.estimators_], axis=0)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


EARLY = {"early_stopping": True, "validation_fraction": 0.2, "n_iter_no_change": 10,
         "max_epochs": 200}


def candidates(X, modalities):
    # The package defaults when this study was run: one product, 50 epochs, early
    # stopping off below 10 000 rows, patience 10, no calibration.
    base = I2M2Classifier(modalities, random_state=SEED, n_bags=1, max_epochs=50,
                          n_iter_no_change=10, calibrate=None)
    found = {"A": base, "B": clone(base).set_params(**EARLY)}
    found["C"] = clone(found["B"]).set_params(calibrate="temperature")
    found["D"] = CrossFitEnsemble(found["B"], n_members=5)
    small = {"weight_decay": 0.1}
    for name, expert, _ in modalities:
        if isinstance(expert, MLPExpert):
            small[f"{name}__hidden_units"] = (32,)
            small[f"{name}__dropout"] = 0.3
    found["E"] = clone(found["B"]).set_params(**small)
    found["F"] = clone(found["B"]).set_params(lr=3e-3)
    # Added after the first run: B's patience of 10 stopped synthetic_inter on its
    # initial plateau (best epoch 1) in some folds.
    found["G"] = clone(found["B"]).set_params(n_iter_no_change=30)
    found["H"] = clone(found["B"]).set_params(n_iter_no_change=30, validation_fraction=0.1)
    # D with H's members (added last; run on the small data sets only).
    found["J"] = CrossFitEnsemble(found["H"], n_members=5)
    # Defaults (no early stopping, 50 epochs) with only a temperature fitted on 10%.
    found["I"] = clone(base).set_params(calibrate="temperature")
    found.update(common.make_peers(X, modalities, SEED, ("hgb", "logreg")))
    return found


# --------------------------------------------------------------------------- metrics


def epochs(model):
    """(epochs trained, best epoch by validation loss) of an early-stopped fit."""
    history = getattr(model, "history_", None)
    if history is None or "valid_loss" not in history[-1]:
        return np.nan, np.nan
    losses = [row["valid_loss"] for row in history if "valid_loss" in row]
    return len(history), int(np.argmin(losses)) + 1


def score(model, X_test, y_test):
    """(ROC AUC, macro one-vs-rest for multiclass; log loss)."""
    scores = common.classification_scores(model, X_test, y_test)
    return scores["roc_auc"], scores["log_loss"]


# --------------------------------------------------------------------------- report


ORDER = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "hgb", "logreg"]
LABELS = {
    "A": "A defaults (50 ep, no ES)",
    "B": "B ES val=0.2 pat=10 max 200",
    "C": "C = B + temperature",
    "D": "D 5×B ensemble",
    "E": "E = B + (32,) drop 0.3 wd 0.1",
    "F": "F = B + lr 3e-3",
    "G": "G = B + patience 30",
    "H": "H = B + patience 30, val=0.1",
    "I": "I = A + temperature (val=0.1)",
    "J": "J 5×H ensemble",
    "hgb": "hgb (peer)",
    "logreg": "logreg (peer)",
}


def report(frame, command, notes):
    lines = ["# I2M2Classifier defaults study (issue 10)", "",
             "Reproduce (about 30 min on one shared core; run from the repository "
             "root, one after the other):", "", "```",
             *REPRODUCE, "```", "",
             "(This file was last written by `" + command + "`.)", "",
             "Single-threaded (OMP/MKL/torch 1 thread), one process; the machine's 2 "
             "cores were shared with other work, so seconds are indicative only. "
             "Mean ± standard error over the 5 folds (stratified, shuffled, "
             "random_state=0; StratifiedGroupKFold by subject for `watch`), identical "
             "folds for all candidates. ROC AUC is macro one-vs-rest for multiclass. "
             "`epochs`/`best` = epochs run / epoch of lowest validation loss "
             "(candidates with a validation split; not recorded for the ensembles D, J). "
             "For I (A's training, 50 epochs, plus a 10% temperature hold-out) `best` is "
             "where A's own validation loss bottomed out: an estimate of A's best epoch.",
             ""]
    lines += [f"- {note}" for note in notes]
    lines.append("")
    for dataset, part in frame.groupby("dataset", sort=False):
        grouped = part.groupby("candidate", sort=False)
        mean = grouped[["roc_auc", "log_loss", "fit_seconds", "epochs", "best_epoch"]].mean()
        sem = grouped[["roc_auc", "log_loss"]].sem(ddof=1)
        n_folds = part["fold"].nunique()
        lines += [f"## {dataset} ({part['n_rows'].iloc[0]} rows, {n_folds} folds)", "",
                  "| candidate | ROC AUC | log loss | fit s | epochs | best |",
                  "|---|---|---|---|---|---|"]
        best_auc, best_ll = mean["roc_auc"].max(), mean["log_loss"].min()
        for cand in [c for c in ORDER if c in mean.index]:
            auc = f"{mean.at[cand, 'roc_auc']:.3f} ± {sem.at[cand, 'roc_auc']:.3f}"
            ll = f"{mean.at[cand, 'log_loss']:.3f} ± {sem.at[cand, 'log_loss']:.3f}"
            if np.isclose(mean.at[cand, "roc_auc"], best_auc):
                auc = f"**{auc}**"
            if np.isclose(mean.at[cand, "log_loss"], best_ll):
                ll = f"**{ll}**"
            ep = mean.at[cand, "epochs"]
            be = mean.at[cand, "best_epoch"]
            lines.append(f"| {LABELS[cand]} | {auc} | {ll} | "
                         f"{mean.at[cand, 'fit_seconds']:.1f} | "
                         f"{'' if np.isnan(ep) else f'{ep:.0f}'} | "
                         f"{'' if np.isnan(be) else f'{be:.0f}'} |")
        lines.append("")
    lines += ["## Mean rank over data sets (1 = best; sk_i2m2 candidates only)", ""]
    means = frame.groupby(["dataset", "candidate"])[["roc_auc", "log_loss"]].mean()
    neural = [c for c in ORDER if c not in ("hgb", "logreg")]
    lines += ["| candidate | rank ROC AUC | rank log loss | data sets |", "|---|---|---|---|"]
    auc = means["roc_auc"].unstack()
    ll = means["log_loss"].unstack()
    everywhere = [c for c in neural if c in auc and auc[c].notna().all()]
    for group in (everywhere, [c for c in neural if c in auc]):
        rows = auc[group].dropna().index
        auc_rank = auc.loc[rows, group].rank(axis=1, ascending=False).mean()
        ll_rank = ll.loc[rows, group].rank(axis=1).mean()
        for cand in group:
            lines.append(f"| {LABELS[cand]} | {auc_rank[cand]:.2f} | {ll_rank[cand]:.2f} | "
                         f"{len(rows)} |")
        if group is everywhere and len(group) == len(neural):
            break
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--candidates", nargs="+", default=ORDER)
    parser.add_argument("--rows", nargs="*", default=[],
                        help="DATASET=N: stratified subsample of N rows (seed 0)")
    parser.add_argument("--folds", type=int, default=5, help="run only the first k folds")
    parser.add_argument("--output", type=Path, default=RESULTS / "defaults_study.csv")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows_for = dict(item.split("=") for item in args.rows)
    command = f"{_RUN} " + " ".join(sys.argv[1:] if argv is None else argv)
    previous = pd.read_csv(args.output) if args.output.exists() else None
    rows = []
    if not args.report_only:
        for dataset in args.datasets:
            n = int(rows_for[dataset]) if dataset in rows_for else None
            X, y, modalities, groups = load(dataset, n)
            for fold, (train, test) in enumerate(splits(X, y, groups)[:args.folds]):
                for cand, estimator in candidates(X, modalities).items():
                    if cand not in args.candidates:
                        continue
                    model = clone(estimator)
                    seconds = common.timed_fit(model, X.iloc[train], y[train])
                    auc, ll = score(model, X.iloc[test], y[test])
                    n_epochs, best = epochs(model)
                    rows.append({"dataset": dataset, "n_rows": len(y), "candidate": cand,
                                 "fold": fold, "roc_auc": auc, "log_loss": ll,
                                 "fit_seconds": seconds, "epochs": n_epochs,
                                 "best_epoch": best})
                    print(f"{dataset} fold {fold} {cand}: auc {auc:.3f} ll {ll:.3f} "
                          f"{seconds:.1f}s epochs {n_epochs} best {best}", flush=True)
                frame = pd.DataFrame(rows)
                if previous is not None:  # new runs replace the same (dataset, candidate)
                    done = set(zip(frame["dataset"], frame["candidate"], strict=True))
                    keep = [(d, c) not in done for d, c in
                            zip(previous["dataset"], previous["candidate"], strict=True)]
                    frame = pd.concat([previous[keep], frame], ignore_index=True)
                frame.to_csv(args.output, index=False)
    frame = pd.read_csv(args.output)
    order = {d: i for i, d in enumerate(DATASETS)}
    frame = frame.sort_values("dataset", key=lambda c: c.map(order), kind="stable")
    notes = [line.strip() for line in (RESULTS / "defaults_study_notes.txt").read_text()
             .splitlines()] if (RESULTS / "defaults_study_notes.txt").exists() else []
    (args.output.with_suffix(".md")).write_text(report(frame, command, notes))
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
