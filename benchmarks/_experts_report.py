"""The report of ``benchmarks/experts.py``: tables per dataset and the targets."""

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import _common as common

#: The method the package ships (its defaults), and the methods it is held against.
DEFAULT = "new"
BEFORE = "before"
INTRA_INTER = ("new-intra", "new-inter")
PEERS = ("hgb", "logreg", "stacking")
AUTOGLUON = "autogluon"


def _paired(frame, method, reference, metric="roc_auc"):
    """``(mean, se)`` over folds of ``method - reference`` on the folds both have."""
    wide = frame.pivot(index="fold", columns="method", values=metric)
    difference = (wide[method] - wide[reference]).dropna()
    se = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else 0.0
    return difference.mean(), se, len(difference)


def _table(frame):
    lines = ["| method | ROC AUC | log loss | AUC − before (paired) | fit s | predict s |",
             "|---|---|---|---|---|---|"]
    for method, rows in frame.groupby("method", sort=False):
        mean, se, n = _paired(frame, method, BEFORE)
        folds = "" if n == frame["fold"].nunique() else f" ({n} folds)"
        lines.append(
            f"| {method} | {common.mean_se(rows['roc_auc'])} | "
            f"{common.mean_se(rows['log_loss'])} | {mean:+.3f} ± {se:.3f}{folds} | "
            f"{rows['fit_s'].mean():.1f} | {rows['predict_s'].mean():.2f} |")
    return lines


def _targets(name, frame):
    """One row of the targets' table for a dataset."""
    mean_auc = frame.groupby("method")["roc_auc"].mean()
    mean_ll = frame.groupby("method")["log_loss"].mean()
    row = {"dataset": name}
    if set(INTRA_INTER) <= set(mean_auc.index):
        best_baseline = max(INTRA_INTER, key=lambda m: mean_auc[m])
        diff, se, _ = _paired(frame, DEFAULT, best_baseline)
        row["vs intra/inter"] = f"{diff:+.3f} ± {se:.3f} ({best_baseline})"
        row["met 1"] = diff >= -se
    else:
        row["vs intra/inter"], row["met 1"] = "not run", None
    best_peer = max(PEERS, key=lambda m: mean_auc[m])
    diff, se, _ = _paired(frame, DEFAULT, best_peer)
    row["vs best peer"] = f"{diff:+.3f} ± {se:.3f} ({best_peer})"
    row["met 2"] = diff >= -se
    best_ll = min(PEERS, key=lambda m: mean_ll[m])
    row["log loss vs best peer's"] = (f"{mean_ll[DEFAULT]:.3f} vs {mean_ll[best_ll]:.3f} "
                                      f"({best_ll})")
    row["met 3"] = mean_ll[DEFAULT] <= mean_ll[best_ll]
    if AUTOGLUON in mean_auc:
        diff, se, n = _paired(frame, DEFAULT, AUTOGLUON)
        row["vs AutoGluon"] = f"{diff:+.3f} ± {se:.3f} ({n} folds)"
        row["met 4"] = diff >= -0.02
    else:
        row["vs AutoGluon"], row["met 4"] = "not run", None
    fit_s = frame.groupby("method")["fit_s"].mean()
    row["fit time vs before"] = f"{fit_s[DEFAULT] / fit_s[BEFORE]:.2f}x"
    return row


def load_results(output):
    """Every dataset's rows, AutoGluon's beside the others'."""
    frames = {}
    for path in sorted(Path(output).glob("experts_*.csv")):
        if path.stem.startswith("experts_autogluon_"):
            continue
        frame = pd.read_csv(path)
        name = path.stem.removeprefix("experts_")
        autogluon = path.with_name(f"experts_autogluon_{name}.csv")
        if autogluon.exists():
            frame = pd.concat([frame, pd.read_csv(autogluon)], ignore_index=True)
        frames[name] = frame
    return frames


def write_report(output, header=""):
    frames = load_results(output)
    lines = [header]
    targets = []
    for name, frame in frames.items():
        folds = frame.loc[frame["method"] == BEFORE, "fold"].nunique()
        lines += ["", f"## {name}", "", f"{folds} folds.", "", *_table(frame)]
        if {DEFAULT, BEFORE, *PEERS} <= set(frame["method"]):
            targets.append(_targets(name, frame))
    if targets:
        table = pd.DataFrame(targets).replace({True: "met", False: "missed", None: ""})
        lines += ["", "## Targets", "", table.to_markdown(index=False)]
    common.write_text(Path(output) / "experts.md", "\n".join(lines) + "\n")
