"""Time to event: I2M2SurvivalAnalysis at its defaults against scikit-survival.

Every dataset is cross-validated with the same folds for every method (5 folds
stratified on the event x ``--repeats``). Methods:

* sk_i2m2's :class:`~sk_i2m2.I2M2SurvivalAnalysis` at package defaults (the Cox
  loss): ``intra`` (the unimodal experts only), ``inter`` (the fusion expert only),
  ``both`` (I2M2); ``discrete``: ``both`` with ``loss="discrete"``;
* peers on all columns concatenated (``table_preprocessor``: impute, scale, one-hot):
  ``coxph`` (CoxPHSurvivalAnalysis, ridge ``alpha=1``), ``coxnet``
  (CoxnetSurvivalAnalysis, elastic net ``l1_ratio=0.5``), ``rsf``
  (RandomSurvivalForest, 200 trees, 15 rows a leaf) and ``gbsa``
  (GradientBoostingSurvivalAnalysis, Cox loss).

Scores per fold: Harrell's C (``sk_i2m2.metrics.concordance_index``), Uno's C
(scikit-survival's ``concordance_index_ipcw``, truncated at the 80th percentile of
the test times), the integrated Brier score over the 10th to 80th percentiles of the
test times (scikit-survival's ``integrated_brier_score``), and the calibration in the
large: the mean predicted survival at the median follow-up of the test rows minus
the Kaplan-Meier estimate there. ``--batch-sizes`` also fits ``both`` at each batch
size given (``full``: one batch of every training row), to choose the Cox loss's
(the default is 256 rows).

Writes ``survival.csv`` and ``survival.md`` in ``--output`` (default
``benchmarks/results``)::

    OMP_NUM_THREADS=1 python -m benchmarks.survival --threads 1
"""

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_ipcw, integrated_brier_score
from sksurv.nonparametric import kaplan_meier_estimator

from sk_i2m2 import I2M2SurvivalAnalysis, datasets
from sk_i2m2.experts import table_preprocessor
from sk_i2m2.metrics import concordance_index

from ._common import RESULTS, mean_se, paired_difference, timed_fit, write_text

SYNTHETIC_ROWS = 600


def _synthetic(dependency):
    return partial(datasets.make_multimodal_survival, n_samples=SYNTHETIC_ROWS,
                   dependency=dependency, random_state=0)


DATASETS = {
    **{f"synthetic_{dependency}": _synthetic(dependency)
       for dependency in ("intra", "inter", "mixed")},
    **{name: getattr(datasets, f"load_{name}")
       for name in ("pbc", "colon", "rotterdam", "gbsg")
       if hasattr(datasets, f"load_{name}")},
}
VARIANTS = ("intra", "inter", "both")


def _table(estimator):
    return lambda X: make_pipeline(table_preprocessor(X), estimator)


PEERS = {
    "coxph": _table(CoxPHSurvivalAnalysis(alpha=1.0)),
    "coxnet": _table(CoxnetSurvivalAnalysis(l1_ratio=0.5, fit_baseline_model=True)),
    "rsf": _table(RandomSurvivalForest(n_estimators=200, min_samples_leaf=15,
                                       random_state=0, n_jobs=1)),
    "gbsa": _table(GradientBoostingSurvivalAnalysis(random_state=0)),
}


def methods(X, modalities, seed, batch_sizes=(), n_train=None):
    models = {variant: I2M2SurvivalAnalysis(modalities, dependencies=variant,
                                            random_state=seed)
              for variant in VARIANTS}
    models["discrete"] = I2M2SurvivalAnalysis(modalities, loss="discrete",
                                              random_state=seed)
    for size in batch_sizes:
        rows = n_train if size == "full" else int(size)
        models[f"both@{size}"] = I2M2SurvivalAnalysis(modalities, batch_size=rows,
                                                      random_state=seed)
    models.update({name: peer(X) for name, peer in PEERS.items()})
    return models


def _fields(y):
    event, time = y.dtype.names
    return y[event], y[time]


def score(model, X_test, y_train, y_test):
    event, time = _fields(y_test)
    risk = model.predict(X_test)
    high = np.quantile(time, 0.8)
    grid = np.quantile(time, np.linspace(0.1, 0.8, 15))
    # Within the training follow-up, where every model's curves are defined.
    grid = np.unique(grid[(grid > _fields(y_train)[1].min()) & (grid < _fields(y_train)[1].max())])
    curves = model.predict_survival_function(X_test)
    survival = np.stack([curve(grid) for curve in curves])
    median = np.median(time)
    km_times, km_survival = kaplan_meier_estimator(event, time)
    observed = km_survival[np.searchsorted(km_times, median, side="right") - 1]
    predicted = float(np.mean([curve(median) for curve in curves]))
    return {
        "harrell_c": concordance_index(y_test, risk),
        "uno_c": concordance_index_ipcw(y_train, y_test, risk, tau=high)[0],
        "ibs": integrated_brier_score(y_train, y_test, survival, grid),
        "calibration": predicted - float(observed),
    }


def run(name, repeats, seed=0, batch_sizes=()):
    X, y, modalities = DATASETS[name]()
    event, _ = _fields(y)
    splitter = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=seed)
    rows = []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(y)), event)):
        X_train, X_test = X.iloc[train], X.iloc[test]
        for method, model in methods(X, modalities, seed, batch_sizes, len(train)).items():
            seconds = timed_fit(model, X_train, y[train])
            rows.append({"dataset": name, "method": method, "fold": fold,
                         **score(model, X_test, y[train], y[test]), "seconds": seconds})
        print(name, fold, {row["method"]: round(row["harrell_c"], 3)
                           for row in rows if row["fold"] == fold}, flush=True)
    return rows


def _paired(frame, a, b):
    """Mean and standard error of ``a - b`` in Harrell's C, paired over folds."""
    return paired_difference(frame, a, b, "harrell_c")


def report(frame, command):
    lines = ["# Time to event: I2M2SurvivalAnalysis at defaults against scikit-survival", "",
             f"Reproduce: ``{command}``. 5-fold cross-validation stratified on the event, "
             "the same folds for every method; mean ± standard error over folds. "
             "Calibration: mean predicted survival at the test rows' median follow-up "
             "minus Kaplan-Meier's there.", ""]
    verdicts = []
    for name, part in frame.groupby("dataset", sort=False):
        means = part.groupby("method")["harrell_c"].mean()
        better_variant = max(("intra", "inter"), key=means.get)
        best_peer = max(PEERS, key=means.get)
        d_variant, se_variant = _paired(part, "both", better_variant)
        d_peer, se_peer = _paired(part, "both", best_peer)
        d_discrete, se_discrete = _paired(part, "both", "discrete")
        ibs = part.groupby("method")["ibs"].mean()
        calibration = part.loc[part["method"] == "both", "calibration"].mean()
        verdicts.append({
            "dataset": name,
            "C: both - better of intra/inter": f"{d_variant:+.3f} ± {se_variant:.3f} "
                                                f"({better_variant})",
            "bar 1": "pass" if d_variant >= -se_variant else "miss",
            "C: both - best peer": f"{d_peer:+.3f} ± {se_peer:.3f} ({best_peer})",
            "bar 2": "pass" if d_peer >= -se_peer else "miss",
            "IBS both / coxph": f"{ibs['both']:.3f} / {ibs['coxph']:.3f}",
            "bar 3": "pass" if ibs["both"] <= ibs["coxph"] else "miss",
            "calibration (both)": f"{calibration:+.3f}",
            "bar 4": "pass" if abs(calibration) <= 0.05 else "miss",
            "C: cox - discrete": f"{d_discrete:+.3f} ± {se_discrete:.3f}",
        })
    lines += ["## The targets", "", pd.DataFrame(verdicts).to_markdown(index=False), ""]
    for name, part in frame.groupby("dataset", sort=False):
        table = part.groupby("method", sort=False).agg(
            harrell_c=("harrell_c", mean_se), uno_c=("uno_c", mean_se),
            ibs=("ibs", mean_se),
            calibration=("calibration", lambda v: mean_se(v, 3, sign="+")),
            seconds=("seconds", lambda v: f"{v.mean():.1f}"))
        lines += [f"## {name}", "", table.to_markdown(), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-sizes", nargs="*", default=[],
                        help="also fit 'both' at these batch sizes ('full': every row)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--name", default="survival", help="the result files' stem")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [row for name in args.datasets
            for row in run(name, args.repeats, batch_sizes=args.batch_sizes)]
    frame = pd.DataFrame(rows)
    output = Path(args.output)
    frame.to_csv(output / f"{args.name}.csv", index=False)
    command = "OMP_NUM_THREADS=1 python -m benchmarks.survival " + " ".join(
        sys.argv[1:] if argv is None else argv)
    write_text(output / f"{args.name}.md", report(frame, command.strip()))
    print(report(frame, command.strip()))


if __name__ == "__main__":
    main()
