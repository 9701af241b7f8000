"""How VisitsExpert reads a history: a GRU against time-aware attention.

The default of ``VisitsExpert(sequence=...)``, chosen on three sets, every other
setting at the package defaults, the same folds for both:

* ``trajectories``: :func:`~sk_i2m2.datasets.make_longitudinal_trajectories`
  (600 patients; the label is the sign of a marker's slope over irregular visits),
  I2M2Classifier, held-out ROC AUC over 5 stratified folds;
* ``pbcseq``: :func:`~sk_i2m2.datasets.load_pbcseq` from a 2-year landmark (the
  patients still followed at day 730, their visits up to it, the time counted from
  it), I2M2SurvivalAnalysis, Harrell's C over 5 folds stratified on the event;
* ``nafld``: :func:`~sk_i2m2.datasets.load_nafld`, the same landmark, a random
  1 500 of the patients at risk, 3 folds.

Run ``OMP_NUM_THREADS=1 python -m benchmarks.visits_sequence``; writes
``benchmarks/results/visits_sequence.md``.
"""

import argparse

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from sk_i2m2 import I2M2Classifier, I2M2SurvivalAnalysis, datasets
from sk_i2m2._task._survival_target import survival_target
from sk_i2m2.experts import MLPExpert, VisitsExpert
from sk_i2m2.longitudinal import group_visits
from sk_i2m2.metrics import concordance_index

from ._common import RESULTS, mean_se, timed_fit, write_text

LANDMARK = 730.0
SEQUENCES = ("gru", "attention")


def _trajectories():
    patients, visits, y = datasets.make_longitudinal_trajectories(600, random_state=0)
    time_column = [c for c in visits.columns if c not in ("id", "marker", "noise_marker")][0]
    X = patients.join(group_visits(visits, visits.columns[0], time_column))
    return X, y, time_column, list(patients.columns), "classification", 5


def _landmark(loader, time_column, max_patients=None):
    def make():
        patients, visits, y = loader()
        at_risk = y["time"] > LANDMARK
        patients, y = patients[at_risk], y[at_risk]
        if max_patients is not None and len(patients) > max_patients:
            rows = np.random.default_rng(0).choice(len(patients), max_patients,
                                                   replace=False)
            patients, y = patients.iloc[np.sort(rows)], y[np.sort(rows)]
        X = patients.join(group_visits(visits, visits.columns[0], time_column,
                                       until=LANDMARK))
        y = survival_target(y["event"], y["time"] - LANDMARK)
        return X, y, time_column, list(patients.columns), "survival", (
            5 if max_patients is None else 3)
    return make


SETS = {
    "trajectories": _trajectories,
    "pbcseq": _landmark(datasets.load_pbcseq, "day"),
    "nafld": _landmark(datasets.load_nafld, "days", max_patients=1500),
}


def run(name, make):
    X, y, time_column, static, task, n_folds = make()
    strata = y if task == "classification" else y["event"]
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=0).split(X, strata)
    rows = []
    for fold, (train, test) in enumerate(folds):
        for sequence in SEQUENCES:
            modalities = [("history", VisitsExpert(time=time_column, sequence=sequence),
                           ["visits"]), ("static", MLPExpert(), static)]
            model = (I2M2Classifier if task == "classification" else I2M2SurvivalAnalysis)(
                modalities, random_state=0)
            seconds = timed_fit(model, X.iloc[train], y[train])
            if task == "classification":
                score = roc_auc_score(y[test], model.predict_proba(X.iloc[test])[:, 1])
            else:
                score = concordance_index(y[test], model.predict(X.iloc[test]))
            rows.append({"set": name, "fold": fold, "sequence": sequence, "score": score,
                         "fit_s": seconds})
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=list(SETS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name, make in SETS.items():
        if args.only in (None, name):
            rows += run(name, make)
    frame = pd.DataFrame(rows)
    lines = ["# How VisitsExpert reads a history: GRU against time-aware attention", "",
             "Package defaults otherwise; the same folds for both. Score: held-out ROC "
             "AUC (trajectories), Harrell's C (pbcseq, nafld, from a 2-year landmark). "
             "Mean ± standard error over folds; the difference is paired over folds.", "",
             "| set | gru | attention | gru - attention | fit s (gru) | fit s (attention) |",
             "|---|---|---|---|---|---|"]
    for name, part in frame.groupby("set", sort=False):
        wide = part.pivot(index="fold", columns="sequence", values="score")
        seconds = part.groupby("sequence")["fit_s"].mean()
        lines.append(f"| {name} | {mean_se(wide['gru'])} | {mean_se(wide['attention'])} "
                     f"| {mean_se(wide['gru'] - wide['attention'], sign='+')} "
                     f"| {seconds['gru']:.1f} | {seconds['attention']:.1f} |")
    lines += ["", "Command: `OMP_NUM_THREADS=1 python -m benchmarks.visits_sequence`, "
              "one thread."]
    write_text(RESULTS / "visits_sequence.md", "\n".join(lines) + "\n")
    frame.to_csv(RESULTS / "visits_sequence.csv", index=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
