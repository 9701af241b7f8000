"""I2M2Regressor: a product of Gaussian experts, and the contract of a scikit-learn regressor."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sk_i2m2
from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2.datasets import make_multimodal_classification, make_multimodal_regression
from sk_i2m2.experts import MLPExpert
from sk_i2m2.inspection import dependency_report

from .conftest import FAST


@pytest.fixture(scope="module")
def mixed():
    X, y, modalities = make_multimodal_regression(n_samples=240, n_features=4,
                                                  dependency="mixed", random_state=0)
    spec = [(name, MLPExpert(hidden_units=(16,)), cols) for name, _, cols in modalities]
    return X, y, spec


@pytest.fixture(scope="module")
def bagged(mixed):
    X, y, spec = mixed
    return I2M2Regressor(spec, max_epochs=30, lr=1e-2, n_bags=3, random_state=0).fit(X, y)


def test_predictions_come_in_the_targets_units_whatever_its_scale(mixed):
    X, y, spec = mixed
    model = I2M2Regressor(spec, **FAST)
    mean, std = clone(model).fit(X, y).predict(X, return_std=True)
    # The target is standardised inside fit: an affine change of y changes the
    # predictions alike, and nothing else.
    scaled_mean, scaled_std = clone(model).fit(X, 1000 * y + 5).predict(X, return_std=True)
    np.testing.assert_allclose(scaled_mean, 1000 * mean + 5, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(scaled_std, 1000 * std, rtol=1e-4)
    assert mean.shape == std.shape == (len(X),) and (std > 0).all()


def test_score_is_the_r2_of_predict(bagged, mixed):
    X, y, _ = mixed
    from sklearn.metrics import r2_score

    assert bagged.score(X, y) == pytest.approx(r2_score(y, bagged.predict(X)))
    assert bagged.score(X, y) > 0.5  # it learnt


def test_rows_in_another_order_or_subset_get_the_same_predictions(bagged, mixed):
    # To float32 precision: scikit-learn's checks ask 1e-7, which other batches and
    # BLAS blocks miss in the last bits (the expected failures of the checks).
    X, _, _ = mixed
    order = np.random.default_rng(0).permutation(len(X))
    mean, std = bagged.predict(X, return_std=True)
    shuffled_mean, shuffled_std = bagged.predict(X.iloc[order], return_std=True)
    np.testing.assert_allclose(shuffled_mean, mean[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shuffled_std, std[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bagged.predict(X.iloc[:7]), mean[:7], rtol=1e-5, atol=1e-6)


def test_the_ensemble_is_the_mixture_of_its_members(bagged, mixed):
    X, _, _ = mixed
    mean, std = bagged.predict(X.head(20), return_std=True)
    batch = next(bagged._batches(X.head(20)))
    modalities = {name: torch.as_tensor(values) for name, values in batch.modalities.items()}
    given = {name: torch.as_tensor(values) for name, values in batch.sklearn_outputs.items()}
    with torch.no_grad():
        members = [member(modalities, given).double()
                   for member in bagged.net_.module_.members]
    means = torch.stack([m[:, 0] for m in members]).numpy()
    variances = torch.stack([m[:, 1].exp() for m in members]).numpy()
    scale = bagged.task_.scale
    np.testing.assert_allclose(mean, means.mean(0) * scale + bagged.task_.location,
                               rtol=1e-5)
    mixture = (variances.mean(0) + means.var(0)) * bagged.variance_scale_
    np.testing.assert_allclose(std, np.sqrt(mixture) * scale, rtol=1e-4)


def test_out_of_fold_predictions_give_an_honest_score(bagged, mixed):
    _, y, _ = mixed
    from sklearn.metrics import r2_score

    assert bagged.calibrate_ == "variance" and bagged.variance_scale_ != 1.0
    assert bagged.oof_score_ == pytest.approx(r2_score(y, bagged.oof_prediction_))
    assert 0.3 < bagged.oof_score_ < bagged.score(*mixed[:2])


def test_the_ensembles_variance_scale_discounts_the_members_spread():
    from sk_i2m2._task import GaussianTask

    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    variance = np.full(2000, 0.25)
    out_of_fold = torch.as_tensor(np.column_stack([y + rng.normal(size=2000),
                                                   np.log(variance)]))
    task = GaussianTask()
    # Members that agree: the scale is the mean squared standardised error (4 here).
    agreeing = [torch.column_stack([out_of_fold[:, 0] * 0, out_of_fold[:, 1]])] * 3
    scale, before, after = task.fit_ensemble_calibration(out_of_fold, agreeing, y)
    assert scale == pytest.approx(np.mean((y - out_of_fold[:, 0].numpy()) ** 2) / 0.25)
    assert after < before
    # Members spread by 0.5 around their mean: their spread (0.25) is taken off every
    # row's error, and the mixture's variance holds it (0.25 + 0.25).
    spread = [torch.column_stack([out_of_fold[:, 0] * 0 + shift, out_of_fold[:, 1]])
              for shift in (-0.5, 0.5)]
    scale, _, _ = task.fit_ensemble_calibration(out_of_fold, spread, y)
    expected = np.mean((y - out_of_fold[:, 0].numpy()) ** 2 - 0.25) / 0.5
    assert scale == pytest.approx(expected)


def test_ninety_percent_intervals_cover_about_ninety_percent_of_new_rows():
    X, y, modalities = make_multimodal_regression(n_samples=600, n_features=4,
                                                  dependency="mixed", random_state=1)
    train, test = np.arange(400), np.arange(400, 600)
    model = I2M2Regressor(modalities, max_epochs=30, lr=3e-3, random_state=0)
    mean, std = model.fit(X.iloc[train], y[train]).predict(X.iloc[test], return_std=True)
    covered = np.abs(y[test] - mean) <= 1.6449 * std
    assert 0.84 <= covered.mean() <= 0.96


def test_each_expert_says_its_own_gaussian_and_explain_adds_up(bagged, mixed):
    X, _, _ = mixed
    experts = bagged.expert_predict(X.head(5), return_std=True)
    # The default fusion="auto": the network beside its two candidates.
    assert list(experts) == ["m0", "m1", "fusion", "fusion:boosting", "fusion:linear"]
    assert all(mean.shape == std.shape == (5,) and (std > 0).all()
               for mean, std in experts.values())
    table = bagged.explain(X.head(5))
    assert len(table) == 5 * len(experts)
    by_sample = table.groupby("sample")
    np.testing.assert_allclose(by_sample["weight"].sum(), 1.0, rtol=1e-5)
    predicted = by_sample["predicted"].first()
    np.testing.assert_allclose(by_sample["contribution"].sum() + bagged.task_.location,
                               predicted, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(predicted, bagged.predict(X.head(5)), rtol=1e-6)


@pytest.mark.parametrize("y, message", [
    (lambda y: np.where(np.arange(len(y)) == 3, np.nan, y), "missing or infinite"),
    (lambda y: np.where(np.arange(len(y)) == 3, np.inf, y), r"at rows \[3\]"),
    (lambda y: np.column_stack([y, y]), "predicts one target"),
    (lambda y: np.array(["a"] * len(y)), "numeric"),
])
def test_a_target_it_cannot_take_is_refused_clearly(mixed, y, message):
    X, target, spec = mixed
    model = I2M2Regressor(spec, **FAST)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y(target))
    assert not hasattr(model, "net_")


def test_a_classifier_as_an_expert_is_refused(mixed):
    X, y, spec = mixed
    spec = [spec[0], ("m1", HistGradientBoostingClassifier(), spec[1][2])]
    with pytest.raises(TypeError, match="Expert 'm1'.*not a scikit-learn regressor"):
        I2M2Regressor(spec, **FAST).fit(X, y)


def test_scikit_learn_regressors_enter_with_their_out_of_fold_variance(mixed):
    X, y, spec = mixed
    spec = [spec[0], ("m1", HistGradientBoostingRegressor(max_iter=20), spec[1][2])]
    model = I2M2Regressor(spec, fusion=Ridge(), **FAST).fit(X, y)
    assert set(model.sklearn_experts_) == {"m1", "fusion"}
    # The variance each enters with: its out-of-fold mean squared error, standardised.
    z = (y - y.mean()) / y.std()
    m1 = X[spec[1][2]]
    out_of_fold = cross_val_predict(HistGradientBoostingRegressor(max_iter=20), m1, z,
                                    cv=KFold(5, shuffle=True, random_state=0))
    assert model.sklearn_experts_.noise_["m1"] == pytest.approx(
        np.mean((z - out_of_fold) ** 2), rel=1e-4)
    experts = model.expert_predict(X.head(4), return_std=True)
    np.testing.assert_allclose(
        experts["m1"][1], np.sqrt(model.sklearn_experts_.noise_["m1"]) * y.std(), rtol=1e-4)
    assert np.isfinite(model.predict(X)).all()


def test_rows_missing_a_modality_lose_its_expert(bagged, mixed):
    X, _, spec = mixed
    gappy = X.head(6).copy()
    gappy.loc[gappy.index[:3], spec[0][2]] = np.nan
    experts = bagged.expert_predict(gappy)
    assert np.isnan(experts["m0"][:3]).all() and np.isfinite(experts["m0"][3:]).all()
    # The candidates on every table still see those rows, through their other columns.
    assert np.isfinite(experts["fusion:linear"]).all()
    assert np.isfinite(bagged.predict(gappy)).all()
    table = bagged.explain(gappy)
    m0 = table[table["expert"] == "m0"]
    assert (m0["weight"].iloc[:3] == 0).all() and (m0["contribution"].iloc[:3] == 0).all()


@pytest.mark.parametrize("estimator, data", [
    (I2M2Regressor, make_multimodal_regression),
    (I2M2Classifier, make_multimodal_classification),
])
@pytest.mark.parametrize("params", [{}, {"n_bags": 1, "early_stopping": True},
                                    {"n_bags": 1}])
def test_the_fit_plan_is_resolved_and_exposed(estimator, data, params):
    X, y, modalities = data(n_samples=80, n_features=3, random_state=0)
    model = estimator(modalities, max_epochs=2, random_state=0, **params).fit(X, y)
    plan = {name: getattr(model, name) for name in (
        "n_bags_", "early_stopping_", "n_iter_no_change_", "calibrate_", "device_",
        "predict_batch_size_")}
    assert "auto" not in plan.values(), plan
    assert plan["n_bags_"] == params.get("n_bags", 5) and plan["device_"] == "cpu"
    assert plan["early_stopping_"] is (params.get("early_stopping", True) is True
                                       and params != {"n_bags": 1})
    assert isinstance(plan["n_iter_no_change_"], int) and plan["predict_batch_size_"] == 4096
    assert plan["calibrate_"] == (None if params == {"n_bags": 1}
                                  else model._get_task().calibration)


def test_pipeline_grid_search_clone_pickle_and_model_files(mixed, tmp_path):
    X, y, spec = mixed
    pipeline = make_pipeline(FunctionTransformer(), I2M2Regressor(spec, **FAST))
    search = GridSearchCV(pipeline, {
        "i2m2regressor__dependencies": ["intra", "both"],
        "i2m2regressor__m0__hidden_units": [(4,), (8,)],
    }, cv=2).fit(X, y)
    assert search.best_estimator_[-1].dependencies in ("intra", "both")
    model = search.best_estimator_[-1]
    expected = model.predict(X, return_std=True)
    for copy in (pickle.loads(pickle.dumps(model)), _saved_and_loaded(model, tmp_path)):
        np.testing.assert_allclose(copy.predict(X, return_std=True), expected, rtol=1e-5)
    assert clone(model).get_params()["m0__hidden_units"] == model.get_params()[
        "m0__hidden_units"]


def _saved_and_loaded(model, tmp_path):
    sk_i2m2.save(model, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    assert isinstance(loaded, I2M2Regressor)
    assert loaded.variance_scale_ == model.variance_scale_
    assert loaded.n_bags_ == model.n_bags_ and loaded.device_ == "cpu"
    return loaded


def test_sample_weight_is_routed_through_cross_validation(mixed):
    X, y, spec = mixed
    weights = np.where(np.arange(len(y)) % 2, 1.0, 0.0)
    with sk_i2m2_routing():
        model = (I2M2Regressor(spec, **FAST).set_fit_request(sample_weight=True)
                 .set_score_request(sample_weight=False))
        scores = cross_validate(model, X, y, cv=2, params={"sample_weight": weights})
    assert np.isfinite(scores["test_score"]).all()


def sk_i2m2_routing():
    import sklearn

    return sklearn.config_context(enable_metadata_routing=True)


def test_a_warm_start_continues_the_fitted_networks(mixed):
    X, y, spec = mixed
    model = I2M2Regressor(spec, warm_start=True, **FAST).fit(X, y)
    before, scale = model.predict(X), model.task_.scale
    # The networks learnt the first fit's standardisation: a warm start keeps it.
    model.set_params(max_epochs=2).fit(X, y + 1)
    assert len(model.history_) == 2 and model.task_.scale == scale
    assert model.task_.location == pytest.approx(np.mean(y))
    assert np.mean(model.predict(X) - before) > 0.1


def test_the_dependency_report_scores_r2():
    X, y, modalities = make_multimodal_regression(n_samples=120, n_features=3,
                                                  dependency="intra", random_state=0)
    model = I2M2Regressor(modalities, max_epochs=15, lr=1e-2, n_bags=1, calibrate=None)
    report = dependency_report(model, X, y, cv=2, random_state=0)
    assert report.scoring == "r2"
    assert set(report.table.index) >= {"intra", "inter", "both", "chance",
                                       "expert: m0", "expert: m1", "expert: fusion"}
    chance = report.table.loc["chance", "mean"]
    assert abs(chance) < 0.1 and report.table.loc["both", "mean"] > chance + 0.2


def test_data_frame_target_of_one_column_is_taken(mixed):
    X, y, spec = mixed
    with pytest.warns(Warning, match="column-vector y"):
        I2M2Regressor(spec, **FAST).fit(X, pd.DataFrame({"target": y}).to_numpy())
