"""sample_weight at the package defaults, with scikit-learn's metadata routing off and on.

The defaults put scikit-learn candidates beside the fusion network (``fusion="auto"``:
cross-fitted gradient boosting and a linear Pipeline) and train a cross-fitted
ensemble (``n_bags="auto"``); the weights must reach every one of them in both
routing modes, through ``fit``, ``GridSearchCV`` and ``cross_validate``.
"""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2._weighted_fit import fit_clone
from sk_i2m2.experts import MLPExpert

#: The defaults that matter here (fusion="auto", n_bags="auto", expert_weights="auto",
#: calibrate="auto") are left alone; only the networks are small and short.
SHORT = {"max_epochs": 3, "random_state": 0}
FACES = {"classifier": I2M2Classifier, "regressor": I2M2Regressor}


@pytest.fixture(params=["routing off", "routing on"])
def routing(request):
    with sklearn.config_context(enable_metadata_routing=request.param == "routing on"):
        yield request.param == "routing on"


def _data(face, n_samples=160, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.randn(n_samples, 4), columns=["a0", "a1", "b0", "b1"])
    signal = X["a0"] + X["b0"]
    y = (signal > 0).astype(int).to_numpy() if face == "classifier" else signal.to_numpy()
    return X, y


def _spec(tree_expert=False, face="classifier"):
    tree = (HistGradientBoostingClassifier(max_iter=10) if face == "classifier"
            else HistGradientBoostingRegressor(max_iter=10))
    first = tree if tree_expert else MLPExpert(hidden_units=(8,))
    return [("a", first, ["a0", "a1"]), ("b", MLPExpert(hidden_units=(8,)), ["b0", "b1"])]


def _output(estimator, features):
    method = getattr(estimator, "predict_proba", estimator.predict)
    return method(features)


def _requesting(model, routing):
    """The estimator as a meta-estimator gives it weights: requested when routing is on."""
    if routing:
        model.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
    return model


@pytest.mark.parametrize("face", FACES)
def test_fit_with_sample_weight_at_the_defaults(face, routing):
    X, y = _data(face)
    weights = np.random.RandomState(1).uniform(0.2, 3.0, len(y))
    model = FACES[face](_spec(face=face), **SHORT).fit(X, y, sample_weight=weights)
    # The defaults held: an ensemble, and the fusion candidates among the experts,
    # the linear one a Pipeline.
    assert model.n_bags_ > 1
    candidates = [name for name in model.sklearn_experts_ if name.startswith("fusion:")]
    assert len(candidates) == 2
    assert any(isinstance(model.sklearn_experts_[name], Pipeline) for name in candidates)
    unweighted = FACES[face](_spec(face=face), **SHORT).fit(X, y)
    for name in candidates:
        features = model.splitter_.transform(X)
        features = np.hstack([features["a"], features["b"]])
        assert not np.allclose(_output(model.sklearn_experts_[name], features),
                               _output(unweighted.sklearn_experts_[name], features)), name


@pytest.mark.parametrize("face", FACES)
def test_rows_of_zero_weight_teach_no_candidate(face, routing):
    """Rows weighted 0 with corrupted targets: every scikit-learn expert ignores them."""
    X, y = _data(face, n_samples=300)
    rng = np.random.RandomState(2)
    corrupted = rng.rand(len(y)) < 0.4
    if face == "classifier":
        y_bad = np.where(corrupted, 1 - y, y)
    else:
        y_bad = np.where(corrupted, -y, y)
    spec = _spec(tree_expert=True, face=face)
    ignored = FACES[face](spec, **SHORT).fit(X, y_bad, sample_weight=(~corrupted) * 1.0)
    learnt = FACES[face](spec, **SHORT).fit(X, y_bad)
    features = ignored.splitter_.transform(X)
    fused = np.hstack([features["a"], features["b"]])
    assert set(ignored.sklearn_experts_) == {"a", "fusion:boosting", "fusion:linear"}
    for name, estimator in ignored.sklearn_experts_.items():
        inputs = X[["a0", "a1"]] if name == "a" else fused
        if face == "classifier":
            good = (estimator.predict(inputs) == y).mean()
            bad = (learnt.sklearn_experts_[name].predict(inputs) == y).mean()
            assert good > bad + 0.1, name
        else:
            # Correlations: the experts predict the standardised target.
            good = np.corrcoef(estimator.predict(inputs), y)[0, 1]
            bad = np.corrcoef(learnt.sklearn_experts_[name].predict(inputs), y)[0, 1]
            assert good > bad + 0.3, name


@pytest.mark.parametrize("face", FACES)
def test_grid_search_with_sample_weight_and_a_scikit_learn_expert(face, routing):
    X, y = _data(face)
    weights = np.random.RandomState(3).uniform(0.2, 3.0, len(y))
    model = _requesting(FACES[face](_spec(tree_expert=True, face=face), **SHORT), routing)
    search = GridSearchCV(model, {"lr": [1e-3]}, cv=KFold(2, shuffle=True, random_state=0))
    search.fit(X, y, sample_weight=weights)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    direct = _requesting(FACES[face](_spec(tree_expert=True, face=face), **SHORT), routing)
    direct.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(search.predict(X), direct.predict(X))


@pytest.mark.parametrize("face", FACES)
def test_cross_validate_with_sample_weight_params(face, routing):
    X, y = _data(face)
    weights = np.random.RandomState(4).uniform(0.2, 3.0, len(y))
    model = _requesting(FACES[face](_spec(face=face), **SHORT), routing)
    scores = cross_validate(model, X, y, cv=KFold(2, shuffle=True, random_state=0),
                            params={"sample_weight": weights})
    assert np.isfinite(scores["test_score"]).all()


@pytest.mark.parametrize("estimator", [
    make_pipeline(StandardScaler(), LogisticRegression()),
    Pipeline([("inner", make_pipeline(StandardScaler(), LogisticRegression()))]),
    LogisticRegression(),
])
def test_weights_reach_the_last_step_as_a_pipeline_would_give_them(estimator, routing):
    X, y = _data("classifier")
    weights = np.random.RandomState(5).uniform(0.2, 3.0, len(y))
    fitted = fit_clone(estimator, X, y, weights)
    scaled = StandardScaler().fit_transform(X)
    inputs = X if isinstance(estimator, LogisticRegression) else scaled
    expected = LogisticRegression().fit(inputs, y, sample_weight=weights)
    np.testing.assert_allclose(fitted.predict_proba(X), expected.predict_proba(inputs))
    assert not hasattr(estimator, "classes_")  # the estimator given is left unfitted


def test_a_regressor_pipeline_candidate_takes_weights(routing):
    X, y = _data("regressor")
    weights = np.where(np.arange(len(y)) % 2, 1.0, 0.0)
    fitted = fit_clone(make_pipeline(StandardScaler(), Ridge()), X, y, weights)
    expected = Ridge().fit(StandardScaler().fit_transform(X), y, sample_weight=weights)
    np.testing.assert_allclose(fitted.predict(X),
                               expected.predict(StandardScaler().fit_transform(X)))
    assert not np.allclose(fitted.predict(X),
                           make_pipeline(StandardScaler(), Ridge()).fit(X, y).predict(X))
