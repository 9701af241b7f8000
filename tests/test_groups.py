"""fit(..., groups=): no internal split puts one group's rows on both sides."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_validate

from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2._dataset import Batch
from sk_i2m2._plan import resolve_plan
from sk_i2m2._task import ClassificationTask, GaussianTask
from sk_i2m2._training import train_valid_split
from sk_i2m2.experts import MLPExpert


def _duplicated_noise(n_unique=80, copies=3, seed=0):
    """Random labels, each row given ``copies`` times: nothing to learn but the rows."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_unique, 6)
    y = rng.randint(0, 2, n_unique)
    X = pd.DataFrame(np.repeat(X, copies, axis=0), columns=[f"x{i}" for i in range(6)])
    return X, np.repeat(y, copies), np.repeat(np.arange(n_unique), copies)


def _spec():
    return [("a", MLPExpert(hidden_units=(64,)), ["x0", "x1", "x2"]),
            ("b", MLPExpert(hidden_units=(64,)), ["x3", "x4", "x5"])]


def test_with_groups_the_out_of_fold_score_sees_no_copy_of_a_row():
    X, y, groups = _duplicated_noise()
    settings = {"lr": 1e-2, "max_epochs": 150, "fusion": None, "random_state": 0}
    leaky = I2M2Classifier(_spec(), **settings).fit(X, y)
    grouped = I2M2Classifier(_spec(), **settings).fit(X, y, groups=groups)
    leaky_auc = roc_auc_score(y, leaky.oof_proba_[:, 1])
    grouped_auc = roc_auc_score(y, grouped.oof_proba_[:, 1])
    # Copies of a row in other folds: the members memorise them, and the
    # out-of-fold score looks good on labels that are noise.
    assert leaky_auc > 0.8
    assert abs(grouped_auc - 0.5) < 0.15


@pytest.mark.parametrize("task, y", [
    (ClassificationTask(), np.tile([0, 1], 60)),
    (GaussianTask(), np.linspace(0, 1, 120)),
])
def test_every_internal_split_keeps_a_group_on_one_side(task, y):
    groups = np.repeat(np.arange(30), 4)
    for seed in range(3):
        for train, valid in task.grouped_folds(5, seed).split(np.zeros(len(y)), y, groups):
            assert not set(groups[train]) & set(groups[valid])
        train, valid = task.grouped_holdout(y, groups, 0.2, seed, "Early stopping",
                                            "early_stopping=False")
        assert not set(groups[train]) & set(groups[valid]) and len(valid)


def test_a_single_products_validation_rows_are_whole_groups():
    X, y, groups = _duplicated_noise()
    model = I2M2Classifier(_spec(), n_bags=1, early_stopping=True)
    task = ClassificationTask()
    encoded = task.fit_target(y)
    plan = resolve_plan(model.get_params(deep=False), task, encoded,
                        [(name, expert, cols) for name, expert, cols in _spec()],
                        [(3,), (3,)], groups)
    # A modality holding each row's position shows which rows each side got.
    data = Batch({"rows": np.arange(len(y), dtype=np.float32).reshape(-1, 1)}, {}, None)
    (train, _), (valid, _) = train_valid_split(plan, data, encoded, 0, groups)
    train_rows, valid_rows = (np.asarray(part.modalities["rows"][:, 0], dtype=int)
                              for part in (train, valid))
    assert len(valid_rows) and not set(groups[train_rows]) & set(groups[valid_rows])


def test_fewer_groups_than_members_means_fewer_members():
    X, y, _ = _duplicated_noise(n_unique=60)
    groups = np.arange(len(y)) % 3
    model = I2M2Classifier(_spec(), max_epochs=2, random_state=0).fit(X, y, groups=groups)
    assert model.n_bags_ == 3


def test_groups_are_routed_through_cross_validation():
    X, y, groups = _duplicated_noise(n_unique=40)
    target = y + np.random.RandomState(0).randn(len(y))
    model = I2M2Regressor(_spec(), max_epochs=2, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        model.set_fit_request(groups=True).set_score_request(sample_weight=False)
        scores = cross_validate(model, X, target, cv=GroupKFold(2),
                                params={"groups": groups}, return_estimator=True)
    # Each training half holds 20 groups: members as at the defaults, each on
    # whole groups.
    assert all(fitted.n_bags_ == 5 for fitted in scores["estimator"])
    assert np.isfinite(scores["test_score"]).all()


def test_groups_of_another_length_are_refused():
    X, y, groups = _duplicated_noise(n_unique=20)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        I2M2Classifier(_spec(), max_epochs=1).fit(X, y, groups=groups[:-1])


def test_dependency_report_gives_each_fit_its_groups():
    from sk_i2m2.inspection import dependency_report

    X, y, groups = _duplicated_noise(n_unique=30)
    seen = []

    class Recording(I2M2Classifier):
        def fit(self, X, y, sample_weight=None, groups=None):
            seen.append(groups)
            return super().fit(X, y, sample_weight, groups)

    dependency_report(Recording(_spec(), max_epochs=1, n_bags=1, random_state=0), X, y,
                      groups=groups, cv=GroupKFold(2))
    assert len(seen) == 6 and all(len(np.unique(g)) == 15 for g in seen)
