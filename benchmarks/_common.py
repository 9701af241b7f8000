"""What the benchmarks share: datasets by name, folds, scores, peers, report helpers.

A benchmark that cross-validates on the suite's data is built from five pieces:

* :data:`DATASETS` (name -> loader) and :func:`load_dataset`: each loader returns a
  :class:`Dataset` ``(X, y, modalities, groups)``; :func:`subsample` keeps a
  stratified share of the rows. The loader factories :func:`real`,
  :func:`synthetic` and :func:`watch` build variants (another size, seed, overlap);
* :func:`make_folds`: the same ``(train, test)`` index pairs for every method:
  repeated stratified k-fold, one ``StratifiedGroupKFold`` per repeat when rows are
  grouped (the smartwatch data: by subject);
* :func:`timed_fit` and :func:`classification_scores` (from
  :func:`label_scores`, :func:`probability_scores`, :func:`roc_auc`): the scoring
  of a fitted model on a test fold;
* :data:`PEERS` (name -> factory) and :func:`make_peers`: the scikit-learn
  estimators sk_i2m2 is measured against;
* :func:`mean_se` and :func:`write_text`: the report's cells and files.

Seeds are parameters with the suite's defaults (0); where a script has always used
other ones it passes them, so that its results are reproduced as committed.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import (
    GroupKFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
    train_test_split,
)
from sklearn.pipeline import make_pipeline

from sk_i2m2 import datasets
from sk_i2m2.experts import table_preprocessor
from sk_i2m2.metrics import expected_calibration_error

#: Where the benchmarks write by default (``--output`` elsewhere for quick checks).
RESULTS = Path(__file__).parent / "results"


# --------------------------------------------------------------------------- data


class Dataset(NamedTuple):
    """One dataset: a table, its labels, its modalities, and the group of each row."""

    X: pd.DataFrame
    y: np.ndarray
    #: ``[(name, expert, columns), ...]``, as ``I2M2Classifier`` takes them.
    modalities: list
    #: The group of each row (rows of a group never straddle train and test), or None.
    groups: np.ndarray | None


def real(loader: Callable[[], tuple]) -> Callable[[], Dataset]:
    """A loader of one of ``sk_i2m2.datasets``' ``(X, y, modalities)`` tables, ungrouped."""
    def load():
        X, y, modalities = loader()
        return Dataset(X, np.asarray(y), modalities, None)
    return load


def synthetic(dependency: str = "mixed", n_samples: int = 2000, random_state: int = 0,
              **params) -> Callable[[], Dataset]:
    """A loader of ``make_multimodal_classification(n_samples, dependency=..., ...)``."""
    def load():
        X, y, modalities = datasets.make_multimodal_classification(
            n_samples=n_samples, dependency=dependency, random_state=random_state, **params)
        return Dataset(X, np.asarray(y), modalities, None)
    return load


def watch(overlap: float | None = 0.0) -> Callable[[], Dataset]:
    """A loader of the smartwatch windows, grouped by subject.

    ``overlap=0.0`` (the suite's): non-overlapping windows, half the rows of the
    loader's default, and no two windows share samples (no near-duplicate rows
    straddle train and test). None: ``load_watch``'s own default.
    """
    def load():
        kwargs = {} if overlap is None else {"overlap": overlap}
        X, y, modalities, groups = datasets.load_watch(return_groups=True, **kwargs)
        return Dataset(X, np.asarray(y), modalities, np.asarray(groups))
    return load


#: The suite's datasets (``benchmarks/run.py``): name -> loader of a :class:`Dataset`.
DATASETS: dict[str, Callable[[], Dataset]] = {
    "alzheimers": real(datasets.load_alzheimers),
    "breast_cancer_views": real(datasets.load_breast_cancer_views),
    "leaf_flavia": real(datasets.load_leaf_flavia),
    "uci_multifeature": real(datasets.load_uci_multifeature),
    "watch": watch(overlap=0.0),
    "synthetic_intra": synthetic("intra"),
    "synthetic_inter": synthetic("inter"),
    "synthetic_mixed": synthetic("mixed"),
}
#: The real ones among them (the suite's bars are decided on these).
REAL = ("alzheimers", "breast_cancer_views", "leaf_flavia", "uci_multifeature", "watch")


def subsample(X, y, groups=None, max_rows=None, *, seed=0, by="class"):
    """``(X, y, groups)`` cut to ``max_rows`` rows drawn stratified, in their order.

    ``by``: ``"class"`` stratifies by label, ``"class_and_group"`` by label and group
    together (``benchmarks/missing_modalities.py``), None not at all (regression).
    ``max_rows`` None or 0, or at least the rows there are: everything, unchanged.
    """
    if not max_rows or max_rows >= len(y):
        return X, y, groups
    if by == "class":
        strata = y
    elif by == "class_and_group":
        strata = pd.Series(y).astype(str)
        if groups is not None:
            strata = strata + "/" + pd.Series(groups).astype(str)
        strata = strata.to_numpy()
    elif by is None:
        strata = None
    else:
        raise ValueError(f"by={by!r}: 'class', 'class_and_group' or None")
    keep = np.sort(train_test_split(np.arange(len(y)), train_size=max_rows,
                                    stratify=strata, random_state=seed)[0])
    return (X.iloc[keep].reset_index(drop=True), np.asarray(y)[keep],
            None if groups is None else np.asarray(groups)[keep])


def load_dataset(name, max_rows=None, *, seed=0, by="class", registry=None) -> Dataset:
    """``registry[name]()`` (default :data:`DATASETS`), subsampled by :func:`subsample`."""
    X, y, modalities, groups = (DATASETS if registry is None else registry)[name]()
    X, y, groups = subsample(X, y, groups, max_rows, seed=seed, by=by)
    return Dataset(X, y, modalities, groups)


# --------------------------------------------------------------------------- folds


def make_folds(y, groups=None, *, n_splits=5, repeats=1, seed=0, stratify=True):
    """``[(train, test), ...]``: ``n_splits`` folds per repeat, repeats one after another.

    ``stratify=True``: ``RepeatedStratifiedKFold(random_state=seed)``, or with
    ``groups`` one ``StratifiedGroupKFold(shuffle=True, random_state=seed + repeat)``
    per repeat. With one repeat the first is ``StratifiedKFold(shuffle=True,
    random_state=seed)``'s split. ``stratify=False`` (regression):
    ``RepeatedKFold(random_state=seed)``, or with ``groups`` scikit-learn's
    deterministic ``GroupKFold`` (one repeat only).
    """
    index = np.zeros(len(y))
    if groups is None:
        cv = (RepeatedStratifiedKFold if stratify else RepeatedKFold)(
            n_splits=n_splits, n_repeats=repeats, random_state=seed)
        return list(cv.split(index, y))
    if stratify:
        return [split for repeat in range(repeats)
                for split in StratifiedGroupKFold(n_splits, shuffle=True,
                                                  random_state=seed + repeat).split(
                                                      index, y, groups)]
    if repeats != 1:
        raise ValueError("unstratified grouped folds (GroupKFold) have one repeat only")
    return list(GroupKFold(n_splits=n_splits).split(index, y, groups))


# --------------------------------------------------------------------------- scores


def timed_fit(model, X, y):
    """Fit ``model`` in place; the seconds it took (wall clock)."""
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def roc_auc(y_true, proba, classes):
    """ROC AUC: of the second class's column for two classes, else macro one-vs-rest."""
    if len(classes) == 2:
        return roc_auc_score(y_true, proba[:, 1])
    return roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)


def label_scores(y_true, predicted):
    """``{"accuracy", "balanced_accuracy"}`` of predicted labels."""
    return {"accuracy": accuracy_score(y_true, predicted),
            "balanced_accuracy": balanced_accuracy_score(y_true, predicted)}


def probability_scores(y_true, proba, classes):
    """``{"roc_auc", "log_loss", "ece"}`` of predicted probabilities (columns: classes)."""
    return {"roc_auc": roc_auc(y_true, proba, classes),
            "log_loss": log_loss(y_true, proba, labels=classes),
            "ece": expected_calibration_error(np.asarray(y_true), proba, classes)}


def classification_scores(model, X_test, y_test):
    """A fitted classifier on a test fold: accuracy, balanced_accuracy, roc_auc,
    log_loss and ece, in that order; the labels are the most probable classes."""
    proba = model.predict_proba(X_test)
    classes = model.classes_
    scores = label_scores(y_test, classes[proba.argmax(axis=1)])
    return {**scores, **probability_scores(y_test, proba, classes)}


# --------------------------------------------------------------------------- peers


def hgb(X, modalities, seed=0):
    """HistGradientBoostingClassifier on all columns, categoricals from their dtype."""
    return HistGradientBoostingClassifier(categorical_features="from_dtype",
                                          random_state=seed)


def logreg(X, modalities, seed=0):
    """LogisticRegression on all columns after ``table_preprocessor`` (impute, scale,
    one-hot)."""
    return make_pipeline(table_preprocessor(X), LogisticRegression(max_iter=2000))


def stacking(X, modalities, seed=0):
    """Late fusion the scikit-learn way: a StackingClassifier over one
    LogisticRegression per modality (each on its columns, ``table_preprocessor``)."""
    return StackingClassifier(
        [(name, make_pipeline(
            ColumnTransformer([(name, table_preprocessor(X[columns]), columns)]),
            LogisticRegression(max_iter=2000)))
         for name, _, columns in modalities],
        final_estimator=LogisticRegression(max_iter=2000), cv=5,
    )


#: The scikit-learn peers: name -> ``factory(X, modalities, seed)`` of an unfitted model.
PEERS: dict[str, Callable] = {"hgb": hgb, "logreg": logreg, "stacking": stacking}


def make_peers(X, modalities, seed=0, names=tuple(PEERS)):
    """``{name: unfitted peer}`` for one dataset, in the order of ``names``."""
    return {name: PEERS[name](X, modalities, seed) for name in names}


# --------------------------------------------------------------------------- reports


def paired_difference(frame, a, b, metric):
    """Mean and standard error of ``a - b`` in ``metric``, paired over folds.

    ``frame`` has one row per method and fold (columns ``method``, ``fold`` and the
    metric).
    """
    pivot = frame.pivot(index="fold", columns="method", values=metric)
    difference = pivot[a] - pivot[b]
    return difference.mean(), difference.std(ddof=1) / np.sqrt(len(difference))


def mean_se(values, digits=3, *, sign="", single=0.0):
    """``"mean ± standard error"`` of the values that are not NaN.

    The standard error is ``std(ddof=1) / sqrt(n)``, and ``single`` when there are
    fewer than two values (0.0, or ``float("nan")`` to print ``nan``). ``sign="+"``
    signs the mean (a difference).
    """
    values = pd.Series(values, dtype=float).dropna()
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else single
    return f"{values.mean():{sign}.{digits}f} ± {se:.{digits}f}"


def write_text(path, text):
    """Write whole or not at all, so that processes run side by side never read each
    other's files half written."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)
