"""Regression: I2M2Regressor at its defaults against scikit-learn's regressors.

Every dataset is cross-validated with the same folds for every method (shuffled
k-fold, 5 folds x ``--repeats``). Methods:

* sk_i2m2's :class:`~sk_i2m2.I2M2Regressor` at package defaults: ``intra`` (the
  unimodal experts only), ``inter`` (the fusion experts only), ``both`` (I2M2);
  and ``before``, ``both`` at the defaults before the pool (``fusion=None,
  expert_weights=None``: the fusion network alone, the experts multiplied as they
  are);
* peers on all columns concatenated: ``hgb`` (HistGradientBoostingRegressor) and
  ``ridge`` (RidgeCV after imputation, scaling and one-hot encoding).

Scores per fold: R², RMSE, and for sk_i2m2 the coverage of its 90% intervals
(``mean ± 1.645 std``) and their mean width. The targets:

1. ``both``'s R² at least that of the better of ``intra`` and ``inter`` (by mean),
   within one standard error of the paired difference, on every dataset;
2. ``both``'s R² at least the best peer's, the same test, on most datasets;
3. 90% intervals covering 85-95% of held-out rows.

Datasets: ``diabetes`` (scikit-learn's diabetes progression: clinical examination
and blood serum), ``meats`` (near-infrared spectrum and composition, protein) and the
synthetic ``make_multimodal_regression`` of each dependency (600 rows).

Writes ``regression.csv`` (one row per dataset, method and fold) and ``regression.md``
in ``--output`` (default ``benchmarks/results``)::

    OMP_NUM_THREADS=1 python -m benchmarks.regression --threads 1
"""

import argparse
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline

from sk_i2m2 import I2M2Regressor, datasets
from sk_i2m2.experts import table_preprocessor

from ._common import (
    RESULTS,
    Dataset,
    make_folds,
    mean_se,
    paired_difference,
    real,
    timed_fit,
    write_text,
)

#: The z of a two-sided 90% interval.
Z90 = 1.6449
SYNTHETIC_ROWS = 600

DATASETS = {
    "diabetes": real(datasets.load_diabetes_progression),
    "meats": real(datasets.load_meats),
    **{f"synthetic_{dependency}": real(partial(
        datasets.make_multimodal_regression, n_samples=SYNTHETIC_ROWS,
        dependency=dependency, random_state=0))
       for dependency in ("intra", "inter", "mixed")},
}
VARIANTS = ("intra", "inter", "both")


def hgb(X, modalities, seed=0):
    return HistGradientBoostingRegressor(random_state=seed)


def ridge(X, modalities, seed=0):
    """RidgeCV on all columns after ``table_preprocessor`` (impute, scale, one-hot)."""
    return make_pipeline(table_preprocessor(X), RidgeCV(alphas=np.logspace(-3, 3, 13)))


PEERS = {"hgb": hgb, "ridge": ridge}


def methods(dataset, seed):
    models = {variant: I2M2Regressor(dataset.modalities, dependencies=variant,
                                     random_state=seed)
              for variant in VARIANTS}
    models["before"] = I2M2Regressor(dataset.modalities, fusion=None, expert_weights=None,
                                     random_state=seed)
    models.update({name: peer(dataset.X, dataset.modalities, seed)
                   for name, peer in PEERS.items()})
    return models


def score(model, X_test, y_test):
    if isinstance(model, I2M2Regressor):
        mean, std = model.predict(X_test, return_std=True)
        coverage = float(np.mean(np.abs(y_test - mean) <= Z90 * std))
        width = float(np.mean(2 * Z90 * std))
    else:
        mean, coverage, width = model.predict(X_test), np.nan, np.nan
    return {"r2": r2_score(y_test, mean),
            "rmse": float(np.sqrt(mean_squared_error(y_test, mean))),
            "coverage90": coverage, "width90": width}


def run(name, repeats, seed=0):
    dataset: Dataset = DATASETS[name]()
    rows = []
    for fold, (train, test) in enumerate(make_folds(dataset.y, n_splits=5, repeats=repeats,
                                                    seed=seed, stratify=False)):
        X_train, X_test = dataset.X.iloc[train], dataset.X.iloc[test]
        for method, model in methods(dataset, seed).items():
            seconds = timed_fit(model, X_train, dataset.y[train])
            rows.append({"dataset": name, "method": method, "fold": fold,
                         **score(model, X_test, dataset.y[test]), "seconds": seconds})
        print(name, fold, {row["method"]: round(row["r2"], 3)
                           for row in rows if row["fold"] == fold}, flush=True)
    return rows


def _paired(frame, a, b):
    """Mean and standard error of ``a - b`` in R², paired over folds."""
    return paired_difference(frame, a, b, "r2")


def report(frame, command):
    lines = ["# Regression: I2M2Regressor at defaults against scikit-learn", "",
             f"Reproduce: ``{command}``. Shuffled 5-fold cross-validation, the same folds "
             "for every method; mean ± standard error over folds. Coverage: share of "
             "held-out rows inside the 90% interval (mean ± 1.645 std).", ""]
    verdicts = []
    for name, part in frame.groupby("dataset", sort=False):
        means = part.groupby("method")["r2"].mean()
        better_variant = max(("intra", "inter"), key=means.get)
        best_peer = max(PEERS, key=means.get)
        d_variant, se_variant = _paired(part, "both", better_variant)
        d_peer, se_peer = _paired(part, "both", best_peer)
        d_before, se_before = _paired(part, "both", "before")
        coverage = part.loc[part["method"] == "both", "coverage90"].mean()
        verdicts.append({
            "dataset": name,
            "both - before": f"{d_before:+.3f} ± {se_before:.3f}",
            "both - better of intra/inter": f"{d_variant:+.3f} ± {se_variant:.3f} "
                                             f"({better_variant})",
            "bar 1": "pass" if d_variant >= -se_variant else "miss",
            "both - best peer": f"{d_peer:+.3f} ± {se_peer:.3f} ({best_peer})",
            "bar 2": "pass" if d_peer >= -se_peer else "miss",
            "coverage (both)": f"{coverage:.3f}",
            "bar 3": "pass" if 0.85 <= coverage <= 0.95 else "miss",
        })
    lines += ["## The targets", "", pd.DataFrame(verdicts).to_markdown(index=False), ""]
    for name, part in frame.groupby("dataset", sort=False):
        table = part.groupby("method", sort=False).agg(
            r2=("r2", mean_se), rmse=("rmse", lambda v: mean_se(v, 2)),
            coverage90=("coverage90", lambda v: mean_se(v, 3, single=np.nan)
                        if v.notna().any() else ""),
            width90=("width90", lambda v: mean_se(v, 2) if v.notna().any() else ""),
            seconds=("seconds", lambda v: f"{v.mean():.1f}"))
        lines += [f"## {name}", "", table.to_markdown(), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        choices=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [row for name in args.datasets for row in run(name, args.repeats)]
    frame = pd.DataFrame(rows)
    output = Path(args.output)
    frame.to_csv(output / "regression.csv", index=False)
    command = ("OMP_NUM_THREADS=1 python -m benchmarks.regression --threads 1"
               + (f" --repeats {args.repeats}" if args.repeats != 1 else ""))
    write_text(output / "regression.md", report(frame, command))
    print(report(frame, command))


if __name__ == "__main__":
    main()
