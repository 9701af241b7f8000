import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from sk_i2m2 import I2M2Classifier
from sk_i2m2._explain import COLUMNS

from .conftest import FAST


@pytest.fixture
def fitted(two_modalities):
    X, y, spec = two_modalities
    return I2M2Classifier(spec, **FAST).fit(X, y), X


def test_shares_sum_to_one_per_sample(fitted):
    clf, X = fitted
    table = clf.explain(X)
    assert list(table.columns) == COLUMNS
    assert len(table) == 3 * len(X)
    assert table["share"].between(0, 1).all()
    np.testing.assert_allclose(table.groupby("sample")["share"].sum(), 1.0, atol=1e-12)


def test_contributions_add_up_to_the_combined_margin(fitted):
    clf, X = fitted
    table = clf.explain(X)
    log_proba = clf.predict_log_proba(X)
    margin = log_proba.max(axis=1) - log_proba.mean(axis=1)
    np.testing.assert_allclose(table.groupby("sample", sort=False)["contribution"].sum(),
                               margin, rtol=1e-5, atol=1e-6)
    assert (margin >= 0).all()


def test_columns_match_the_experts_and_the_prediction(fitted):
    clf, X = fitted
    table = clf.explain(X).set_index(["sample", "expert"])
    np.testing.assert_array_equal(table.xs("m0", level="expert")["predicted"], clf.predict(X))
    np.testing.assert_allclose(table.xs("m0", level="expert")["probability"],
                               clf.predict_proba(X).max(axis=1))
    proba = clf.expert_proba(X)
    predicted = np.searchsorted(clf.classes_, clf.predict(X))
    for name, values in proba.items():
        rows = table.xs(name, level="expert")
        np.testing.assert_allclose(rows["log_proba"],
                                   np.log(values[np.arange(len(X)), predicted]), rtol=1e-6)
        np.testing.assert_array_equal(rows["agrees"].astype(bool),
                                      values.argmax(axis=1) == predicted)
    fusion = table.xs("fusion", level="expert")["agrees"]
    for name in ("m0", "m1"):
        np.testing.assert_array_equal(table.xs(name, level="expert")["fusion_agrees"],
                                      fusion)


def test_sample_labels_follow_the_index_of_X(fitted):
    clf, X = fitted
    X = X.iloc[:4].set_axis(["p1", "p2", "p3", "p4"])
    assert clf.explain(X)["sample"].unique().tolist() == ["p1", "p2", "p3", "p4"]


def test_a_missing_modality_contributes_nothing(fitted):
    clf, X = fitted
    X = X.iloc[:6].copy()
    m1_columns = [c for c in X.columns if c.startswith("m1")]
    X.loc[X.index[:3], m1_columns] = np.nan
    table = clf.explain(X)
    lacking = table[table["sample"].isin(X.index[:3]) & (table["expert"] == "m1")]
    assert lacking["log_proba"].isna().all()
    assert (lacking["contribution"] == 0).all() and (lacking["share"] == 0).all()
    assert lacking["agrees"].isna().all()
    np.testing.assert_allclose(table.groupby("sample")["share"].sum(), 1.0)


def test_without_a_fusion_expert_fusion_agreement_is_unknown(two_modalities):
    X, y, spec = two_modalities
    clf = I2M2Classifier(spec, dependencies="intra", **FAST).fit(X, y)
    table = clf.explain(X)
    assert set(table["expert"]) == {"m0", "m1"}
    assert table["fusion_agrees"].isna().all()


def test_learnt_expert_weights_scale_the_contributions(two_modalities):
    X, y, spec = two_modalities
    spec = [(name, LogisticRegression(), cols) for name, _, cols in spec]
    clf = I2M2Classifier(spec, dependencies="intra", expert_weights="learn",
                         **FAST).fit(X, y)
    table = clf.explain(X)
    log_proba = clf.predict_log_proba(X)
    margin = log_proba.max(axis=1) - log_proba.mean(axis=1)
    # The weighted contributions add up to the margin of the weighted product.
    assert clf.expert_weights_ != {"m0": 1.0, "m1": 1.0}
    np.testing.assert_allclose(table.groupby("sample", sort=False)["contribution"].sum(),
                               margin, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table.groupby("expert", sort=False)["expert_weight"].first(),
                               list(clf.expert_weights_.values()))


def test_explain_needs_a_fit():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        I2M2Classifier().explain(pd.DataFrame({"a": [1.0]}))
