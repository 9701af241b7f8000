"""n_bags: the cross-fitted ensemble, and the scikit-learn contract around it."""

import pickle

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sk_i2m2 import I2M2Classifier, load, save
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.product import ProductEnsemble, ProductOfExperts

from .conftest import small_modalities

SETTINGS = {"max_epochs": 10, "lr": 0.01, "batch_size": 32, "random_state": 0,
            "n_iter_no_change": 3}


@pytest.fixture
def data():
    X, y, modalities = make_multimodal_classification(n_samples=150, n_features=4,
                                                      random_state=0)
    return X, y, small_modalities({name: cols for name, _, cols in modalities})


def test_members_train_on_all_folds_but_their_own(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, n_bags=3, calibrate=None, **SETTINGS).fit(X, y)
    module = clf.net_.module_
    assert clf.n_bags_ == 3 and isinstance(module, ProductEnsemble)
    assert all(isinstance(member, ProductOfExperts) for member in module.members)
    # The members differ: each trained on its own rows from its own start.
    first, second = (member.unimodal["m0"][0].weight for member in module.members[:2])
    assert not torch.equal(first, second)
    # Each member's history says which member it is; stopping is per member.
    assert set(clf.history_[:, "member"]) == {0, 1, 2}


def test_the_ensemble_predicts_the_mean_of_its_members(data):
    X, y, spec = data
    # The networks alone (without the default fusion's scikit-learn candidates).
    clf = I2M2Classifier(spec, fusion=None, n_bags=3, calibrate=None, **SETTINGS).fit(X, y)
    inputs = {k: torch.as_tensor(v) for k, v in clf.splitter_.transform(X).items()}
    with torch.no_grad():
        members = [member(**inputs).exp().double() for member in clf.net_.module_.members]
    np.testing.assert_allclose(clf.predict_proba(X), torch.stack(members).mean(0).numpy(),
                               rtol=1e-5)
    # expert_proba averages each expert over the members too.
    with torch.no_grad():
        fusion = [torch.softmax(member.expert_outputs(inputs).logits["fusion"], 1).double()
                  for member in clf.net_.module_.members]
    np.testing.assert_allclose(clf.expert_proba(X)["fusion"],
                               torch.stack(fusion).mean(0).numpy(), rtol=1e-5)
    table = clf.explain(X.head(3))
    np.testing.assert_allclose(table.groupby("sample")["share"].sum(), 1.0)


def test_out_of_fold_predictions_are_honest_and_fit_the_temperature(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, n_bags=3, calibrate="auto", **SETTINGS).fit(X, y)
    assert clf.oof_proba_.shape == (len(y), 2)
    np.testing.assert_allclose(clf.oof_proba_.sum(axis=1), 1.0)
    assert clf.oof_score_ == pytest.approx(np.mean(clf.oof_proba_.argmax(1) == y))
    # Out of fold, no row was trained on: the score is below the in-sample one.
    assert clf.oof_score_ <= clf.score(X, y)
    # The temperature minimises the out-of-fold log loss, unbounded (every row
    # counts): neither a softer nor a sharper one does better there.
    raw = np.log(clf.oof_proba_) * clf.temperature_

    def oof_log_loss(temperature):
        return log_loss(y, softmax(raw / temperature, axis=1), labels=clf.classes_)

    best = oof_log_loss(clf.temperature_)
    assert best <= oof_log_loss(0.9 * clf.temperature_)
    assert best <= oof_log_loss(1.1 * clf.temperature_)
    assert clf.history_[-1]["temperature"] == clf.temperature_
    uncalibrated = I2M2Classifier(spec, n_bags=3, calibrate=None, **SETTINGS).fit(X, y)
    assert uncalibrated.temperature_ == 1.0
    np.testing.assert_array_equal(uncalibrated.predict(X), clf.predict(X))


def test_a_single_product_has_no_out_of_fold_predictions(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, n_bags=1, **SETTINGS).fit(X, y)
    assert clf.n_bags_ == 1 and isinstance(clf.net_.module_, ProductOfExperts)
    assert not hasattr(clf, "oof_proba_") and not hasattr(clf, "oof_score_")


def test_auto_bags_follow_the_smallest_class(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, n_bags="auto", **SETTINGS)
    assert clf.fit(X, y).n_bags_ == 5
    rare = np.flatnonzero(y == 1)[3:]  # class 1 keeps 3 rows
    keep = np.setdiff1d(np.arange(len(y)), rare)
    assert clf.fit(X.iloc[keep], y[keep]).n_bags_ == 3
    one = np.setdiff1d(np.arange(len(y)), np.flatnonzero(y == 1)[1:])  # a single row
    assert clf.set_params(early_stopping=False).fit(X.iloc[one], y[one]).n_bags_ == 1


def test_ensembles_are_deterministic_clone_pickle_save_and_load(data, tmp_path):
    X, y, spec = data
    clf = I2M2Classifier(spec, n_bags=2, calibrate="auto", **SETTINGS)
    first = clf.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(clone(clf).fit(X, y).predict_proba(X), first)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), first)
    save(clf, tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.predict_proba(X), first)
    assert loaded.n_bags_ == 2 and loaded.temperature_ == clf.temperature_
    np.testing.assert_array_equal(loaded.oof_proba_, clf.oof_proba_)


def test_grid_search_tunes_the_number_of_members(data):
    X, y, spec = data
    search = GridSearchCV(I2M2Classifier(spec, **SETTINGS), {"n_bags": [1, 2]},
                          cv=StratifiedKFold(2))
    search.fit(X, y)
    assert search.best_estimator_.n_bags_ == search.best_params_["n_bags"]
