"""End-to-end scikit-learn workflows on a two-modality DataFrame."""

import numpy as np
from scipy.stats import randint
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sk_i2m2 import I2M2Classifier

from .conftest import FAST


def test_clone_keeps_parameters_and_drops_the_fit(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).set_params(m0__hidden_units=(3,))
    fitted = clf.fit(X, y)
    copy = clone(fitted)
    assert copy.get_params()["m0__hidden_units"] == (3,)
    assert copy.modalities[0][1] is not clf.modalities[0][1]
    assert not hasattr(copy, "net_")


def test_grid_search_tunes_dependencies_and_a_nested_expert_parameter(two_modalities):
    X, y, modalities = two_modalities
    grid = {"dependencies": ["intra", "inter", "both"], "m0__hidden_units": [(4,), (8,)]}
    search = GridSearchCV(I2M2Classifier(modalities, **FAST), grid,
                          cv=StratifiedKFold(2), n_jobs=2, error_score="raise")
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    assert best.dependencies == search.best_params_["dependencies"]
    assert set(best.predict(X)) <= {"control", "impaired"}


def test_randomized_search_over_nested_parameters(two_modalities):
    X, y, modalities = two_modalities
    search = RandomizedSearchCV(
        I2M2Classifier(modalities, **FAST),
        {"m1__hidden_units": randint(2, 9), "lr": [1e-3, 1e-2]},
        n_iter=3, cv=2, random_state=0, error_score="raise",
    ).fit(X, y)
    assert 2 <= search.best_params_["m1__hidden_units"] <= 8


def test_cross_val_score_on_a_dataframe(two_modalities):
    X, y, modalities = two_modalities
    scores = cross_val_score(I2M2Classifier(modalities, **FAST), X, y, cv=3,
                             error_score="raise")
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))


def test_pipeline_with_a_preprocessing_step_before_the_classifier(two_modalities):
    X, y, modalities = two_modalities
    squash = FunctionTransformer(np.tanh, feature_names_out="one-to-one")
    squash.set_output(transform="pandas")  # keeps the column names the modalities use
    pipe = make_pipeline(squash, I2M2Classifier(modalities, **FAST)).fit(X, y)
    direct = I2M2Classifier(modalities, **FAST).fit(np.tanh(X), y)
    np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(np.tanh(X)))
    assert 0 <= pipe.score(X, y) <= 1


def test_cross_val_score_is_identical_across_n_jobs(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST)
    cv = StratifiedKFold(3)
    serial = cross_val_score(clf, X, y, cv=cv, scoring="neg_log_loss", n_jobs=1)
    parallel = cross_val_score(clf, X, y, cv=cv, scoring="neg_log_loss", n_jobs=2)
    np.testing.assert_array_equal(serial, parallel)
