"""The benchmark suite: do sk_i2m2's defaults meet its three bars?

Every dataset is cross-validated with the same folds for every method: repeated
stratified k-fold, 5 folds x 2 repeats under 1 000 rows and 3 folds x 2 repeats at
1 000 rows or more (grouped by subject for the smartwatch data, one
StratifiedGroupKFold per repeat). Methods, by default:

* sk_i2m2 at package defaults: ``intra`` (unimodal experts only), ``inter`` (fusion
  expert only), ``both`` (I2M2);
* ``both:before``: I2M2 with the previous release's training defaults (``n_bags=1,
  max_epochs=50, early_stopping="auto", calibrate=None``, ``old`` in
  ``benchmarks/defaults.py``);
* peers on all columns concatenated: ``hgb`` (HistGradientBoostingClassifier),
  ``logreg`` (LogisticRegression after imputation, scaling and one-hot encoding) and
  ``stacking`` (a StackingClassifier over one LogisticRegression per modality: late
  fusion the scikit-learn way).

Only when asked for (``--methods all``, a name, or a prefix such as ``expert:``):
every unimodal expert alone (``expert:<modality>``), ``both:temperature`` (the
temperature fitted on a held-out tenth) and sk_i2m2 with scikit-learn experts:
``trees:intra``, ``trees:neural-fusion``, ``trees:tree-fusion``.

The bars, on each real dataset (the synthetic ones are reported, not counted), from
the per-fold results, differences paired over folds (the mean of the per-fold
difference ± its standard error, std(ddof=1) / sqrt(folds)):

1. ``both``'s ROC AUC minus that of the better (by mean AUC) of ``intra`` and
   ``inter``: passes if the difference is at least minus its standard error;
2. ``both``'s ROC AUC minus that of the best peer (by mean AUC) of ``hgb``,
   ``logreg`` and ``stacking``: the same test; the target is a pass on at least 80 %
   of the real datasets;
3. ``both``'s mean log loss over the best peer's (the lowest mean log loss): passes
   if at most 1.1.

Writes, in ``--output`` (default ``benchmarks/results``): ``<dataset>.csv`` (one row
per method and fold), ``<dataset>.json`` (the commands that produced it),
``<dataset>.png`` and ``RESULTS.md`` (the bars, before against after, and one table
per dataset, mean ± standard error over folds), rebuilt from every CSV there after
each fold, so a run of some datasets keeps the others' sections.

A long run splits across processes by dataset, each with one torch thread::

    python -m benchmarks.run --datasets alzheimers breast_cancer_views watch --threads 1 &
    python -m benchmarks.run --datasets leaf_flavia uci_multifeature --threads 1 &
    python -m benchmarks.run --datasets synthetic_intra synthetic_inter synthetic_mixed \\
        --threads 1

``--max-rows N`` cross-validates a stratified subsample of N rows (seed 0);
``--folds``/``--repeats`` override the size rule and ``--max-epochs`` the training
length (quick checks only: such results do not decide the bars). Run
``python -m benchmarks.run --help``.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier

from benchmarks._common import (
    DATASETS,
    REAL,
    RESULTS,
    classification_scores,
    make_folds,
    make_peers,
    mean_se,
    subsample,
    timed_fit,
    write_text,
)
from sk_i2m2 import I2M2Classifier

METRICS = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "ece", "fit_seconds"]
LOWER_IS_BETTER = {"log_loss", "ece", "fit_seconds"}

#: What runs without ``--methods``.
DEFAULT_METHODS = ("intra", "inter", "both", "both:before", "hgb", "logreg", "stacking")
PEERS = ("hgb", "logreg", "stacking")
#: The previous release's training defaults (``old`` in benchmarks/defaults.py).
BEFORE = {"n_bags": 1, "max_epochs": 50, "early_stopping": "auto", "calibrate": None}

#: Below this many rows: 5 folds, else 3 (both repeated twice).
LARGE = 1000
REPEATS = 2
#: Bar 2 should pass on at least this share of the real datasets.
BAR_2_TARGET = 0.8
#: Bar 3: the largest ratio of ``both``'s log loss to the best peer's that passes.
BAR_3_RATIO = 1.1


# --------------------------------------------------------------------------- data

# The datasets (DATASETS: name -> loader; REAL: those that decide the bars, the others
# are synthetic), the folds and the peers are benchmarks/_common.py's.


@dataclass
class Data:
    """One dataset as cross-validated: maybe a subsample, and its fold plan."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    modalities: list
    groups: np.ndarray | None
    total_rows: int
    n_splits: int
    repeats: int

    @property
    def rows(self):
        return len(self.y)

    def folds(self):
        """The same (train, test) index pairs for every method."""
        return make_folds(self.y, self.groups, n_splits=self.n_splits,
                          repeats=self.repeats, seed=0)


def fold_plan(rows, folds=None, repeats=None):
    """``(n_splits, repeats)``: the size rule unless overridden."""
    return (folds or (5 if rows < LARGE else 3)), (repeats or REPEATS)


def load(name, max_rows=None, folds=None, repeats=None):
    X, y, modalities, groups = DATASETS[name]()
    total_rows = len(y)
    # A stratified subsample of max_rows rows (seed 0), in the original order.
    X, y, groups = subsample(X, y, groups, max_rows, seed=0)
    n_splits, repeats = fold_plan(len(y), folds, repeats)
    return Data(name, X, y, modalities, groups, total_rows, n_splits, repeats)


# --------------------------------------------------------------------------- methods


def methods(X, modalities, seed, max_epochs):
    """``{name: unfitted estimator}`` for one dataset, every method the suite knows."""
    training = {} if max_epochs is None else {"max_epochs": max_epochs}
    found = {}
    for name, expert, columns in modalities:
        found[f"expert:{name}"] = I2M2Classifier([(name, expert, columns)],
                                                 dependencies="intra", random_state=seed,
                                                 **training)
    for dependencies in ("intra", "inter", "both"):
        found[dependencies] = I2M2Classifier(modalities, dependencies=dependencies,
                                             random_state=seed, **training)
    found["both:before"] = I2M2Classifier(modalities, random_state=seed,
                                          **{**BEFORE, **training})
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
    found.update(make_peers(X, modalities, seed, PEERS))
    return found


def is_selected(method, requested, known):
    """Whether ``--methods requested`` runs ``method``, one of the ``known`` names.

    None: the default set; ``all``: every method; otherwise an entry that is a known
    name selects that method only (``both``), any other is a prefix (``expert:``).
    """
    if requested is None:
        return method in DEFAULT_METHODS
    if "all" in requested:
        return True
    return method in requested or any(
        method.startswith(prefix) for prefix in requested if prefix not in known)


def selected_methods(data, requested):
    known = list(methods(data.X, data.modalities, 0, None))
    return [method for method in known if is_selected(method, requested, known)]


# --------------------------------------------------------------------------- metrics


def scores(model, X_test, y_test, fit_seconds):
    """The columns of METRICS, in that order."""
    return {**classification_scores(model, X_test, y_test), "fit_seconds": fit_seconds}


# --------------------------------------------------------------------------- statistics


def summarise(frame):
    """Mean and standard error over folds, per method."""
    grouped = frame.groupby("method", sort=False)[METRICS]
    mean, sem = grouped.mean(), grouped.sem(ddof=1).fillna(0.0)
    return mean, sem


def paired(frame, method, reference, metric="roc_auc"):
    """``method`` minus ``reference`` over their shared folds: (mean, standard error)."""
    def per_fold(name):
        return frame[frame["method"] == name].set_index("fold")[metric]

    difference = (per_fold(method) - per_fold(reference)).dropna()
    n = len(difference)
    se = difference.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
    return difference.mean(), se


def best_of(mean, candidates, metric):
    """The candidate with the best mean ``metric``; None unless all of them ran."""
    if not all(name in mean.index for name in candidates):
        return None
    column = mean.loc[list(candidates), metric]
    return column.idxmin() if metric in LOWER_IS_BETTER else column.idxmax()


@dataclass
class Bar:
    """One bar on one dataset: the figure as text, and whether it passes."""

    text: str
    passed: bool | None  # None: a method it needs did not run

    def cell(self):
        if self.passed is None:
            return "n/a"
        return f"{self.text} **{'pass' if self.passed else 'FAIL'}**"


NOT_RUN = Bar("n/a", None)


def auc_bar(frame, mean, competitors):
    """``both``'s AUC minus the best competitor's, paired; passes if >= -SE."""
    reference = best_of(mean, competitors, "roc_auc")
    if reference is None or "both" not in mean.index:
        return NOT_RUN
    difference, se = paired(frame, "both", reference)
    return Bar(f"{difference:+.3f} ± {se:.3f} vs {reference}", bool(difference >= -se))


def log_loss_bar(mean):
    """``both``'s mean log loss over the best peer's; passes if at most 1.1."""
    reference = best_of(mean, PEERS, "log_loss")
    if reference is None or "both" not in mean.index:
        return NOT_RUN
    ratio = mean.at["both", "log_loss"] / mean.at[reference, "log_loss"]
    return Bar(f"{ratio:.2f} vs {reference}", bool(ratio <= BAR_3_RATIO))


def bars(frame):
    """The three bars on one dataset's per-fold results."""
    mean, _ = summarise(frame)
    return [auc_bar(frame, mean, ("intra", "inter")), auc_bar(frame, mean, PEERS),
            log_loss_bar(mean)]


# --------------------------------------------------------------------------- report


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


def bars_section(frames):
    """The bars table: one row per real dataset, and the passes per bar."""
    lines = [
        "## Bars", "",
        "On each real dataset, paired over folds (mean of the per-fold difference ± "
        "its standard error). Bar 1: `both`'s ROC AUC − the better of `intra` and "
        "`inter` (by mean AUC), passes if ≥ −SE. Bar 2: `both`'s ROC AUC − the best "
        f"peer of {', '.join(f'`{p}`' for p in PEERS)} (by mean AUC), passes if ≥ −SE; "
        f"the target is a pass on at least {BAR_2_TARGET:.0%} of the real datasets. "
        "Bar 3: `both`'s mean log loss / the best peer's (lowest mean log loss), "
        f"passes if ≤ {BAR_3_RATIO}. n/a: a method the bar needs did not run.", "",
        "| dataset | bar 1: AUC both − max(intra, inter) | bar 2: AUC both − best peer "
        "| bar 3: log loss both / best peer |",
        "|---|---|---|---|",
    ]
    results = {name: bars(frame) for name, frame in frames.items() if name in REAL}
    for name, found in results.items():
        lines.append(f"| {name} | " + " | ".join(bar.cell() for bar in found) + " |")
    counts = []
    for index in range(3):
        decided = [found[index].passed for found in results.values()
                   if found[index].passed is not None]
        text = f"{sum(decided)} of {len(decided)}"
        if index == 1 and decided:
            share = sum(decided) / len(decided)
            met = "met" if share >= BAR_2_TARGET else "not met"
            text += f" ({share:.0%}; target ≥ {BAR_2_TARGET:.0%}: {met})"
        counts.append(text)
    lines.append("| **passes** | " + " | ".join(counts) + " |")
    missing = [name for name in REAL if name not in frames]
    if missing:
        lines += ["", f"Not run: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def before_after_section(frames):
    """``both:before`` (previous training defaults) against ``both``, per dataset."""
    lines = [
        "## Before / after", "",
        "`both:before`: I2M2 with the previous release's training defaults "
        f"({', '.join(f'{key}={value!r}' for key, value in BEFORE.items())}); `both`: "
        "the package defaults. Mean ± standard error over folds; the paired column is "
        "the mean over folds of `both`'s ROC AUC minus `both:before`'s.", "",
        "| dataset | ROC AUC before | ROC AUC after | AUC after − before (paired) "
        "| log loss before | log loss after | fit s before | fit s after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, frame in frames.items():
        ran = set(frame["method"])
        if not {"both", "both:before"} <= ran:
            lines.append(f"| {name} |" + " n/a |" * 7)
            continue

        def column(method, metric, frame=frame):
            return mean_se(frame.loc[frame["method"] == method, metric])

        difference, se = paired(frame, "both", "both:before")
        lines.append(
            f"| {name} | {column('both:before', 'roc_auc')} | {column('both', 'roc_auc')} "
            f"| {difference:+.3f} ± {se:.3f} | {column('both:before', 'log_loss')} "
            f"| {column('both', 'log_loss')} | {column('both:before', 'fit_seconds')} "
            f"| {column('both', 'fit_seconds')} |")
    return "\n".join(lines) + "\n"


def dataset_heading(name, frame):
    """``name (rows)`` or ``name (rows of total rows)``, real or synthetic."""
    kind = "real" if name in REAL else "synthetic"
    if "rows" not in frame:
        return f"{name} ({kind})"
    rows, total = int(frame["rows"].iloc[0]), int(frame["total_rows"].iloc[0])
    size = f"{rows} rows" if rows == total else f"{rows} of {total} rows"
    return f"{name} ({size}, {kind})"


def fold_text(name, frame):
    grouped = ", grouped by subject" if name == "watch" else ""
    if "n_splits" not in frame:
        return f"{frame['fold'].nunique()} folds{grouped}"
    repeats = int(frame["repeats"].iloc[0])
    return (f"{int(frame['n_splits'].iloc[0])} folds × {repeats} "
            f"repeat{'s' if repeats > 1 else ''}{grouped}: "
            f"{frame['fold'].nunique()} test folds")


def dataset_section(name, frame, runs):
    mean, sem = summarise(frame)
    commands = "; ".join(
        f"`{run['command']}` ({run['date']}, {run['threads']} torch thread(s), "
        f"{run['minutes']:.1f} min)" for run in runs)
    return (f"## {dataset_heading(name, frame)}\n\nCommands: {commands}. "
            f"{fold_text(name, frame)}.\n\n{markdown_table(mean, sem)}\n")


def _runs(path):
    """The runs recorded for a dataset, oldest first (one dict in older files)."""
    if not path.exists():
        return []
    notes = json.loads(path.read_text())
    return notes if isinstance(notes, list) else [notes]


def _device():
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return "no GPU"


def write_report(output):
    """RESULTS.md from every dataset's CSV and run notes in ``output``."""
    frames = {name: pd.read_csv(output / f"{name}.csv") for name in DATASETS
              if (output / f"{name}.csv").exists()}
    header = (
        "# sk_i2m2 against its baselines and scikit-learn peers\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{_device()}. Repeated stratified k-fold, 5 folds × {REPEATS} repeats under "
        f"{LARGE} rows and 3 folds × {REPEATS} repeats from {LARGE} rows (unless a "
        "command overrides it; grouped by subject for `watch`), identical folds for "
        "every method. sk_i2m2 methods run at package defaults, with no per-dataset "
        "tuning, except `both:before`. Each dataset's section lists the commands that "
        "produced it; results of commands with `--max-epochs` are quick checks, not "
        "evidence. `fit_seconds` depend on what else ran on the machine.\n\n"
    )
    sections = [bars_section(frames), before_after_section(frames)]
    sections += [dataset_section(name, frame, _runs(output / f"{name}.json"))
                 for name, frame in frames.items()]
    write_text(output / "RESULTS.md", header + "\n".join(sections))


def plot(dataset, mean, sem, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(mean) + 1.5), sharey=True)
    positions = np.arange(len(mean))
    for axis, metric in zip(axes, ["roc_auc", "accuracy"], strict=True):
        colours = ["tab:gray" if m.startswith(PEERS)
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


def run_dataset(data, args, progress, save):
    """Fit every selected method on every fold; ``save(frame)`` after each fold."""
    splits = data.folds()
    plan = {"rows": data.rows, "total_rows": data.total_rows, "n_splits": data.n_splits,
            "repeats": data.repeats}
    rows = []
    for fold, (train, test) in enumerate(splits):
        candidates = methods(data.X, data.modalities, seed=fold, max_epochs=args.max_epochs)
        for method, estimator in candidates.items():
            if not is_selected(method, args.methods, candidates):
                continue
            progress.set_postfix_str(f"{data.name} fold {fold + 1}/{len(splits)} {method}")
            model = clone(estimator)
            seconds = timed_fit(model, data.X.iloc[train], data.y[train])
            rows.append({"dataset": data.name, "method": method, "fold": fold, **plan,
                         **scores(model, data.X.iloc[test], data.y[test], seconds)})
            progress.update()
        save(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def _order(frame, data):
    """Methods in their declared order, whatever order the runs came in."""
    declared = list(methods(data.X, data.modalities, 0, None))
    rank = {method: i for i, method in enumerate(declared)}
    return frame.sort_values(["method", "fold"], key=lambda column: column.map(
        rank) if column.name == "method" else column, kind="stable")


def same_plan(earlier, data):
    """Whether an earlier CSV used the same rows and folds (else it is replaced)."""
    columns = {"rows": data.rows, "n_splits": data.n_splits, "repeats": data.repeats}
    return all(column in earlier and (earlier[column] == value).all()
               for column, value in columns.items())


class Saver:
    """Writes a dataset's CSV, run notes, plot and the report after each fold.

    Rows of methods this run does not fit are kept from the earlier CSV if it used the
    same rows and folds; a command run again replaces its earlier run (and its rows).
    """

    def __init__(self, data, args, command):
        self.data, self.args, self.command = data, args, command
        self.path = args.output / f"{data.name}.csv"
        self.notes = args.output / f"{data.name}.json"
        self.started = time.perf_counter()
        earlier = pd.read_csv(self.path) if self.path.exists() else None
        if earlier is not None and not same_plan(earlier, data):
            print(f"{self.path}: earlier rows used other rows or folds; replacing them")
            earlier = None
        self.earlier = earlier
        self.earlier_runs = [] if earlier is None else [
            run for run in _runs(self.notes) if run["command"] != command]

    def __call__(self, frame):
        if self.earlier is not None:
            kept = self.earlier[~self.earlier["method"].isin(frame["method"])]
            frame = pd.concat([kept, frame])
        frame = _order(frame, self.data)
        write_text(self.path, frame.to_csv(index=False))
        write_text(self.notes, json.dumps([*self.earlier_runs, {
            "command": self.command, "date": str(datetime.date.today()),
            "threads": torch.get_num_threads(),
            "minutes": (time.perf_counter() - self.started) / 60,
            "rows": self.data.rows, "total_rows": self.data.total_rows,
            "max_rows": self.args.max_rows, "max_epochs": self.args.max_epochs,
            "n_splits": self.data.n_splits, "repeats": self.data.repeats,
        }]))
        mean, sem = summarise(frame)
        plot(self.data.name, mean, sem, self.args.output / f"{self.data.name}.png")
        write_report(self.args.output)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Real datasets: " + ", ".join(REAL) + ".")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=None,
                        help="'all', method names or prefixes (e.g. expert: trees both); "
                             "default: " + " ".join(DEFAULT_METHODS))
    parser.add_argument("--folds", type=int, default=None,
                        help=f"override the size rule (5 under {LARGE} rows, else 3)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"override the repeats (default {REPEATS})")
    parser.add_argument("--max-rows", type=int, default=None,
                        help="cross-validate a stratified subsample of this many rows "
                             "(seed 0); default all rows")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="override every sk_i2m2 method's max_epochs (quick runs only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); use 1 per process "
                             "when several run side by side")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from tqdm import tqdm

    args.output.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.run " + " ".join(
        sys.argv[1:] if argv is None else argv)
    loaded = [load(name, args.max_rows, args.folds, args.repeats) for name in args.datasets]
    if not any(selected_methods(data, args.methods) for data in loaded):
        sys.exit(f"--methods {' '.join(args.methods)} names no method")
    total = sum(len(selected_methods(data, args.methods)) * len(data.folds())
                for data in loaded)
    with tqdm(total=total, unit="fit") as progress:
        for data in loaded:
            run_dataset(data, args, progress, Saver(data, args, command.strip()))
    print((args.output / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
