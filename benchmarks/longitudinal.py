"""Patient histories: VisitsExpert inside I2M2 against models of one visit or of summaries.

Three parts, each cross-validated with the same folds for every method:

1. ``landmark``: time to death on the two real cohorts, ``pbcseq`` (the Mayo PBC
   trial, 312 patients, 1945 visits) and ``nafld`` (the NAFLD community study,
   17 549 subjects), by a landmark analysis at 2 years (730 days from the time
   origin: registration in ``pbcseq``, the index date in ``nafld``). Kept: the
   patients still followed at the landmark (``time > 730``); their visits at or
   before it (``group_visits(until=730)``; ``nafld``'s include the values taken
   before the index date); the target time counted from the landmark
   (``time - 730``). ``nafld``'s ``chol`` and ``dbp`` are dropped from its visits
   for every method: in this copy of the data they repeat ``hdl`` and ``sbp``
   (see ``load_nafld``). Folds: 5 stratified on the event for ``pbcseq`` (278 at
   risk); for ``nafld``, to fit the time budget, a random share of its 15 239 at
   risk, drawn stratified on the event (``--nafld-patients``, default 6000), and 5
   folds (``--nafld-folds``): a default fit of ``i2m2_history`` took 70 s on 2000
   training rows at one thread, and grows about linearly with the rows.
   Methods:

   * ``i2m2_history``: :class:`~sk_i2m2.I2M2SurvivalAnalysis` at package defaults,
     modalities ``static`` (``MLPExpert()`` on the patients' table) and ``history``
     (``VisitsExpert(time=...)`` on the column of ``group_visits``);
   * ``i2m2_last``: the same with ``last`` (``MLPExpert()`` on the last observed
     value of each measure up to the landmark, one column a measure) in place of
     ``history``;
   * peers on the static columns and four summaries of each measure up to the
     landmark: its first observed value, its last, its least-squares slope over time
     (per year; NaN with fewer than two values) and how many times it was measured
     (0 when never); a summary undefined for every patient is dropped (``nafld``'s
     slope of ``fib4``, measured at most once by the landmark): ``coxph``
     (CoxPHSurvivalAnalysis, ridge ``alpha=1``), ``rsf`` (RandomSurvivalForest, 200
     trees, 15 rows a leaf) and ``gbsa``
     (GradientBoostingSurvivalAnalysis), as in ``benchmarks/survival.py``
     (``table_preprocessor``: impute, scale, one-hot), and ``hgb_5y``:
     HistGradientBoostingClassifier (``_common.hgb``) of death within 5 years of the
     landmark, trained on the rows whose 5-year status is known (rows censored
     before 5 years left out); its predicted probability is the risk score.

   Score: Harrell's C (``sk_i2m2.metrics.concordance_index``) on each test fold.
   Targets: ``i2m2_history`` at least the best summary peer minus one standard
   error of their paired difference over folds, on each cohort; and ahead of
   ``i2m2_last`` (a positive mean paired difference).

2. ``trajectories``: ``make_longitudinal_trajectories`` (``--trajectory-patients``,
   default 1000, ``random_state=0``; the label is the sign of ``marker``'s slope),
   5 stratified folds. ``i2m2_history``: :class:`~sk_i2m2.I2M2Classifier` at
   defaults on ``static`` (``age``, ``site``) and ``history``; ``logreg_last`` and
   ``hgb_last``: ``_common.logreg`` and ``_common.hgb`` on the static columns and the
   last observed value of each measure; ``logreg_summary``: ``_common.logreg`` on the
   static columns and the four summaries above, for reference (the slope is the
   answer). Held-out ROC AUC. Target: ``i2m2_history`` >= 0.9 where the better
   last-value model is <= 0.75.

3. ``scans``: ``make_longitudinal_scans`` (``--scan-patients``, default 300, 3 scans
   each, 16-voxel cubes, ``random_state=0``), 5 stratified folds.
   ``i2m2_history``: I2M2Classifier at defaults on ``static`` (``age``) and
   ``history``: ``VisitsExpert(time="time", encoder=CNNExpert(input_shape=(1, 16, 16,
   16), loader="auto"), encoder_columns=["scan"])``; ``i2m2_last_scan``: the same with
   ``CNNExpert(input_shape=(1, 16, 16, 16), loader="auto")`` on the path of the last
   scan in place of the history. Held-out ROC AUC. Target: >= 0.9 against <= 0.7.

Every fit is timed (wall clock, ``seconds``); warnings raised while fitting and
predicting are counted per method and listed in the report.

Writes ``longitudinal.csv`` (one row per part, dataset, method and fold) and
``longitudinal.md`` in ``--output`` (default ``benchmarks/results``)::

    OMP_NUM_THREADS=1 python -m benchmarks.longitudinal --threads 1

``--only PART [PART ...]`` runs some parts (``landmark``, ``pbcseq``, ``nafld``,
``trajectories``, ``scans``) and replaces only their rows of an existing csv before
the report is rewritten. ``--quick``: small sets and 2 folds, a smoke run of a
minute or two, written to a temporary folder unless ``--output`` is given.
``--report``: rewrite ``longitudinal.md`` from the csv, fitting nothing.
"""

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone

from sk_i2m2 import I2M2Classifier, I2M2SurvivalAnalysis
from sk_i2m2.datasets import (
    load_nafld,
    load_pbcseq,
    make_longitudinal_scans,
    make_longitudinal_trajectories,
)
from sk_i2m2.experts import CNNExpert, MLPExpert, VisitsExpert
from sk_i2m2.longitudinal import group_visits
from sk_i2m2.metrics import concordance_index

from ._common import (
    RESULTS,
    hgb,
    logreg,
    make_folds,
    mean_se,
    paired_difference,
    roc_auc,
    subsample,
    timed_fit,
    write_text,
)
from .survival import PEERS as SURVIVAL_PEERS

#: The landmark and the horizon of ``hgb_5y``, in days.
LANDMARK = 730.0
HORIZON = 5 * 365.25
#: The real cohorts: loader, time column, visit columns dropped (duplicates).
COHORTS = {
    "pbcseq": {"loader": load_pbcseq, "time": "day", "drop": []},
    "nafld": {"loader": load_nafld, "time": "days", "drop": ["chol", "dbp"]},
}
SUMMARY_PEERS = ("coxph", "rsf", "gbsa", "hgb_5y")
PARTS = ("pbcseq", "nafld", "trajectories", "scans")
ALIASES = {"landmark": ("pbcseq", "nafld")}


# --------------------------------------------------------------------------- features


def last_values(visits, id, measures):
    """The last observed (not NaN) value of each measure per patient, ``last_<m>``."""
    return visits.groupby(id)[measures].last().add_prefix("last_").astype(np.float64)


def summaries(visits, id, time, measures, per=1.0):
    """Per patient and measure: first and last observed value, least-squares slope
    over ``time / per`` (NaN with fewer than two distinct times), measurement count."""
    columns = {}
    t = visits[time].to_numpy(np.float64) / per
    grouped = visits.groupby(id)
    for m in measures:
        value = visits[m].to_numpy(np.float64)
        seen = ~np.isnan(value)
        frame = pd.DataFrame({"id": visits[id].to_numpy()[seen], "t": t[seen],
                              "v": value[seen]})
        frame["tt"], frame["tv"] = frame["t"] ** 2, frame["t"] * frame["v"]
        sums = frame.groupby("id")[["t", "v", "tt", "tv"]].sum()
        n = frame.groupby("id").size()
        spread = n * sums["tt"] - sums["t"] ** 2
        slope = (n * sums["tv"] - sums["t"] * sums["v"]) / spread.where(spread > 1e-9)
        columns[f"first_{m}"] = grouped[m].first()
        columns[f"last_{m}"] = grouped[m].last()
        columns[f"slope_{m}"] = slope
        columns[f"count_{m}"] = grouped[m].count()
    return pd.DataFrame(columns).astype(np.float64)


def _with(patients, table):
    """``patients`` joined with per-patient ``table`` (absent patients: NaN; the
    ``count_`` columns 0)."""
    joined = patients.join(table)
    counts = [c for c in joined.columns if c.startswith("count_")]
    joined[counts] = joined[counts].fillna(0.0)
    return joined


# --------------------------------------------------------------------------- fitting


def _fit_score(model, X_train, y_train, X_test, y_test, scorer):
    """Fit (timed) and score; the warnings raised meanwhile, as ``Category: message``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seconds = timed_fit(model, X_train, y_train)
        value = scorer(model, X_test, y_test)
    messages = Counter(f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
                       for w in caught)
    return value, seconds, json.dumps(messages)


def landmark_set(name, max_patients=None, seed=0):
    """``(X_history, X_last, X_summary, y, static, measures)`` of one cohort at the
    landmark, rows in the patients' order."""
    cohort = COHORTS[name]
    patients, visits, y = cohort["loader"]()
    at_risk = y["time"] > LANDMARK
    patients, y = patients[at_risk], y[at_risk].copy()
    if max_patients:
        kept, _, _ = subsample(patients.reset_index(), y["event"], max_rows=max_patients,
                               seed=seed)
        keep = patients.index.isin(kept[patients.index.name])
        patients, y = patients[keep], y[keep]
    y["time"] -= LANDMARK
    time_column, id_column = cohort["time"], patients.index.name
    visits = visits.drop(columns=cohort["drop"])
    visits = visits[visits[id_column].isin(patients.index) & (visits[time_column] <= LANDMARK)]
    measures = [c for c in visits.columns if c not in (id_column, time_column)]
    history = patients.join(group_visits(visits, id=id_column, time=time_column,
                                         until=LANDMARK))
    last = _with(patients, last_values(visits, id_column, measures))
    summary = _with(patients, summaries(visits, id_column, time_column, measures, per=365.25))
    # A summary never defined (nafld's slope_fib4: one FIB-4 at most by the landmark)
    # is dropped: HistGradientBoosting cannot bin a column of NaN only.
    summary = summary.dropna(axis=1, how="all")
    return history, last, summary, y, list(patients.columns), measures


def _concordance(fitted, X_test, y_test):
    return concordance_index(y_test, fitted.predict(X_test))


def _concordance_of_probability(fitted, X_test, y_test):
    return concordance_index(y_test, fitted.predict_proba(X_test)[:, 1])


def run_landmark(name, n_splits, max_patients=None, seed=0):
    history, last, summary, y, static, measures = landmark_set(name, max_patients, seed)
    time_column = COHORTS[name]["time"]
    event = y["event"]
    print(f"{name}: {len(y)} patients at risk ({int(event.sum())} deaths), "
          f"{int(history['visits'].isna().sum())} without a visit by the landmark",
          flush=True)
    last_columns = [c for c in last.columns if c not in static]
    rows = []
    for fold, (train, test) in enumerate(make_folds(event, n_splits=n_splits, seed=seed)):
        models = {
            "i2m2_history": (I2M2SurvivalAnalysis(
                [("static", MLPExpert(), static),
                 ("history", VisitsExpert(time=time_column), ["visits"])],
                random_state=seed), history),
            "i2m2_last": (I2M2SurvivalAnalysis(
                [("static", MLPExpert(), static), ("last", MLPExpert(), last_columns)],
                random_state=seed), last),
            **{peer: (clone(SURVIVAL_PEERS[peer](summary)), summary)
               for peer in ("coxph", "rsf", "gbsa")},
        }
        scores = {}
        for method, (model, X) in models.items():
            value, seconds, caught = _fit_score(
                model, X.iloc[train], y[train], X.iloc[test], y[test], _concordance)
            rows.append({"part": "landmark", "dataset": name, "method": method, "fold": fold,
                         "n_train": len(train), "harrell_c": value, "seconds": seconds,
                         "warnings": caught})
            scores[method] = value
        # Death within the horizon, on the rows whose status there is known.
        train_y = y[train]
        known = train_y["event"] | (train_y["time"] > HORIZON)
        label = (train_y["event"] & (train_y["time"] <= HORIZON)).astype(int)
        value, seconds, caught = _fit_score(
            hgb(summary, None, seed), summary.iloc[train][known], label[known],
            summary.iloc[test], y[test], _concordance_of_probability)
        rows.append({"part": "landmark", "dataset": name, "method": "hgb_5y", "fold": fold,
                     "n_train": int(known.sum()), "harrell_c": value, "seconds": seconds,
                     "warnings": caught})
        scores["hgb_5y"] = value
        print(name, fold, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    return rows


def _auc(fitted, X_test, y_test):
    return roc_auc(y_test, fitted.predict_proba(X_test), fitted.classes_)


def _classification(part, dataset, models, y, n_splits, seed):
    rows = []
    for fold, (train, test) in enumerate(make_folds(y, n_splits=n_splits, seed=seed)):
        scores = {}
        for method, (factory, X) in models.items():
            value, seconds, caught = _fit_score(
                factory(), X.iloc[train], y[train], X.iloc[test], y[test], _auc)
            rows.append({"part": part, "dataset": dataset, "method": method, "fold": fold,
                         "n_train": len(train), "roc_auc": value, "seconds": seconds,
                         "warnings": caught})
            scores[method] = value
        print(dataset, fold, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    return rows


def run_trajectories(n_patients, n_splits, seed=0):
    patients, visits, y = make_longitudinal_trajectories(n_patients, random_state=seed)
    measures = ["marker", "noise_marker"]
    history = patients.join(group_visits(visits, id="id", time="time"))
    last = _with(patients, last_values(visits, "id", measures))
    summary = _with(patients, summaries(visits, "id", "time", measures))
    static = list(patients.columns)
    models = {
        "i2m2_history": (lambda: I2M2Classifier(
            [("static", MLPExpert(), static),
             ("history", VisitsExpert(time="time"), ["visits"])], random_state=seed),
            history),
        "logreg_last": (lambda: logreg(last, None, seed), last),
        "hgb_last": (lambda: hgb(last, None, seed), last),
        "logreg_summary": (lambda: logreg(summary, None, seed), summary),
    }
    return _classification("trajectories", f"trajectories@{n_patients}", models, y,
                           n_splits, seed)


def run_scans(n_patients, n_splits, folder, size=16, seed=0):
    patients, visits, y = make_longitudinal_scans(folder, n_patients=n_patients,
                                                  size=size, random_state=seed)
    shape = (1, size, size, size)
    history = patients.join(group_visits(visits, id="id", time="time"))
    last = patients.join(visits.groupby("id")["scan"].last().rename("last_scan"))
    models = {
        "i2m2_history": (lambda: I2M2Classifier(
            [("static", MLPExpert(), ["age"]),
             ("history", VisitsExpert(time="time",
                                      encoder=CNNExpert(input_shape=shape, loader="auto"),
                                      encoder_columns=["scan"]), ["visits"])],
            random_state=seed), history),
        "i2m2_last_scan": (lambda: I2M2Classifier(
            [("static", MLPExpert(), ["age"]),
             ("scan", CNNExpert(input_shape=shape, loader="auto"), ["last_scan"])],
            random_state=seed), last),
    }
    return _classification("scans", f"scans@{n_patients}", models, y, n_splits, seed)


# --------------------------------------------------------------------------- report


def _table(part, metric):
    return part.groupby("method", sort=False).agg(
        **{metric: (metric, mean_se)},
        folds=("fold", "count"),
        n_train=("n_train", lambda v: f"{v.mean():.0f}"),
        seconds_per_fit=("seconds", lambda v: f"{v.mean():.2f}"))


def warning_table(frame):
    """The warnings of the ``warnings`` column (JSON per fit), summed per set and
    method: ``dataset, method, fits (with it), count, warning``."""
    rows = []
    for (dataset, method), part in frame.groupby(["dataset", "method"], sort=False):
        counts, fits = Counter(), Counter()
        for cell in part["warnings"].fillna("{}"):
            found = json.loads(cell)
            counts.update(found)
            fits.update(found.keys())
        rows += [{"dataset": dataset, "method": method, "fits": f"{fits[m]}/{len(part)}",
                  "count": n, "warning": m} for m, n in counts.items()]
    return pd.DataFrame(rows, columns=["dataset", "method", "fits", "count", "warning"])


def sizes(frame):
    """``{dataset: (patients, folds)}``: each patient is in the training rows of all
    folds but one, so the patients are ``sum(n_train) / (folds - 1)``."""
    first = frame[frame["method"] == frame.groupby("dataset")["method"].transform("first")]
    return {name: (int(round(part["n_train"].sum() / (len(part) - 1))), len(part))
            for name, part in first.groupby("dataset", sort=False)}


def report(frame, commands, runtime):
    lines = ["# Patient histories: VisitsExpert in I2M2 against one visit and summaries", "",
             "Reproduce: " + "; ".join(f"``{c}``" for c in commands) + ". "
             "Every method sees the same folds of a set; mean ± standard error over "
             "folds; paired differences are over folds. `seconds_per_fit`: wall clock "
             "of one fit at one thread, mean over folds (part 4). What each method is: "
             "`benchmarks/longitudinal.py`'s docstring (`nafld`: a random share of its "
             "15 239 patients at risk at the landmark, drawn stratified on the event; "
             "`pbcseq`: all 278). `n_train`: training rows per fold (for `hgb_5y`, "
             "those whose 5-year status is known).", ""]
    if runtime:
        lines += [f"Runtime of the run(s) that wrote this: {runtime}.", ""]
    lines += ["Sizes: " + "; ".join(
        f"{name}: {n} patients, {k} folds" for name, (n, k) in sizes(frame).items()) + ".",
        ""]
    verdicts = []
    landmark = frame[frame["part"] == "landmark"]
    for name, part in landmark.groupby("dataset", sort=False):
        means = part.groupby("method")["harrell_c"].mean()
        best = max(SUMMARY_PEERS, key=means.get)
        d_peer, se_peer = paired_difference(part, "i2m2_history", best, "harrell_c")
        d_last, se_last = paired_difference(part, "i2m2_history", "i2m2_last", "harrell_c")
        verdicts += [
            {"set": name, "target": "C(i2m2_history) >= C(best summary peer) - 1 SE",
             "figure": f"{means['i2m2_history']:.3f} vs {means[best]:.3f} ({best}); "
                       f"paired difference {d_peer:+.3f} ± {se_peer:.3f}",
             "met": "met" if d_peer >= -se_peer else "missed"},
            {"set": name, "target": "C(i2m2_history) > C(i2m2_last)",
             "figure": f"{means['i2m2_history']:.3f} vs {means['i2m2_last']:.3f}; "
                       f"paired difference {d_last:+.3f} ± {se_last:.3f}",
             "met": "met" if d_last > 0 else "missed"}]
    for part_name, limit in (("trajectories", 0.75), ("scans", 0.7)):
        for name, part in frame[frame["part"] == part_name].groupby("dataset", sort=False):
            means = part.groupby("method")["roc_auc"].mean()
            baselines = [m for m in means.index if m.endswith(("_last", "_last_scan"))]
            best = max(baselines, key=means.get)
            ok = means["i2m2_history"] >= 0.9 and means[best] <= limit
            verdicts.append({
                "set": name, "target": f"AUC(i2m2_history) >= 0.9, last-value <= {limit}",
                "figure": f"{means['i2m2_history']:.3f} vs {means[best]:.3f} ({best})",
                "met": "met" if ok else "missed"})
    lines += ["## The targets", "", pd.DataFrame(verdicts).to_markdown(index=False), ""]

    titles = {"landmark": "1. Landmark at 2 years: Harrell's C",
              "trajectories": "2. Synthetic trajectories: ROC AUC",
              "scans": "3. Longitudinal scans: ROC AUC"}
    for part_name, metric in (("landmark", "harrell_c"), ("trajectories", "roc_auc"),
                              ("scans", "roc_auc")):
        part = frame[frame["part"] == part_name]
        if part.empty:
            continue
        lines += [f"## {titles[part_name]}", ""]
        for name, rows in part.groupby("dataset", sort=False):
            lines += [f"### {name}", "", _table(rows, metric).to_markdown(), ""]
            if part_name == "landmark":
                means = rows.groupby("method")["harrell_c"].mean()
                pairs = [("i2m2_history", p) for p in SUMMARY_PEERS] + \
                        [("i2m2_history", "i2m2_last")]
                diffs = ", ".join(
                    "{} − {}: {:+.3f} ± {:.3f}".format(a, b, *paired_difference(
                        rows, a, b, "harrell_c")) for a, b in pairs)
                lines += [f"Paired differences in C: {diffs}.", ""]

    lines += ["## 4. Fit time (seconds per fit, mean over folds, one thread)", ""]
    times = frame.pivot_table(index="method", columns="dataset", values="seconds",
                              aggfunc="mean", sort=False)
    lines += [times.map(lambda v: "" if pd.isna(v) else f"{v:.2f}").to_markdown(), ""]

    lines += ["## Warnings raised while fitting and predicting", "",
              "Per set and method: in how many fits, how many times in all, the first "
              "line of the message.", ""]
    notes = warning_table(frame)
    lines += ["None.", ""] if notes.empty else [notes.to_markdown(index=False), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


SIZES = {  # (patients or None for all, folds)
    "default": {"pbcseq": (None, 5), "nafld": (6000, 5), "trajectories": (1000, 5),
                "scans": (300, 5)},
    "quick": {"pbcseq": (None, 2), "nafld": (600, 2), "trajectories": (200, 2),
              "scans": (60, 2)},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=list(PARTS),
                        choices=[*PARTS, *ALIASES])
    parser.add_argument("--quick", action="store_true",
                        help="small sets, 2 folds: a smoke run")
    parser.add_argument("--nafld-patients", type=int, default=None)
    parser.add_argument("--nafld-folds", type=int, default=None)
    parser.add_argument("--trajectory-patients", type=int, default=None)
    parser.add_argument("--scan-patients", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None,
                        help="default benchmarks/results (--quick: a temporary folder)")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite longitudinal.md from --output's longitudinal.csv")
    args = parser.parse_args(argv)
    if args.report:
        output = Path(args.output or RESULTS)
        frame = pd.read_csv(output / "longitudinal.csv")
        text = report(frame, *_runs(frame))
        write_text(output / "longitudinal.md", text)
        print(text)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = dict(SIZES["quick" if args.quick else "default"])
    for key, patients in (("nafld", args.nafld_patients),
                          ("trajectories", args.trajectory_patients),
                          ("scans", args.scan_patients)):
        if patients:
            sizes[key] = (patients, sizes[key][1])
    if args.nafld_folds:
        sizes["nafld"] = (sizes["nafld"][0], args.nafld_folds)
    parts = [p for name in args.only for p in ALIASES.get(name, (name,))]
    output = Path(args.output or (tempfile.mkdtemp(prefix="longitudinal_")
                                  if args.quick else RESULTS))
    command = ("OMP_NUM_THREADS=1 python -m benchmarks.longitudinal "
               + " ".join(sys.argv[1:] if argv is None else argv)).strip()

    start = time.perf_counter()
    rows = []
    for part in PARTS:
        if part not in parts:
            continue
        patients, folds = sizes[part]
        if part in COHORTS:
            new_rows = run_landmark(part, folds, patients)
        elif part == "trajectories":
            new_rows = run_trajectories(patients, folds)
        else:
            with tempfile.TemporaryDirectory(prefix="longitudinal_scans_") as folder:
                new_rows = run_scans(patients, folds, folder)
        rows += [{**row, "run": part} for row in new_rows]
    runtime = time.perf_counter() - start

    frame = pd.DataFrame(rows)
    frame["command"] = command
    frame["run_minutes"] = round(runtime / 60, 1)
    output.mkdir(parents=True, exist_ok=True)
    csv = output / "longitudinal.csv"
    if set(parts) != set(PARTS) and csv.exists():  # replace only the parts run
        previous = pd.read_csv(csv)
        frame = pd.concat([previous[~previous["run"].isin(parts)], frame],
                          ignore_index=True)
    order = {part: k for k, part in enumerate(PARTS)}
    frame = frame.sort_values("run", key=lambda s: s.map(order), kind="stable")
    frame.to_csv(csv, index=False)
    text = report(frame, *_runs(frame))
    write_text(output / "longitudinal.md", text)
    print(text)
    print(f"written to {output}")


def _runs(frame):
    """The commands behind ``frame``'s rows, and the runtime of each, as text."""
    runs = frame.drop_duplicates("command")
    runtime = "; ".join(f"{m:.1f} min" + (f" (``{c}``)" if len(runs) > 1 else "")
                        for c, m in zip(runs["command"], runs["run_minutes"], strict=True))
    return list(runs["command"]), runtime


if __name__ == "__main__":
    main()
