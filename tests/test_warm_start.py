"""warm_start=True: a second fit continues the fitted networks and keeps the preprocessing."""

import numpy as np
import pytest

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import MLPExpert

from .conftest import FAST

#: A learning rate so small that an epoch leaves the weights as they were, to within
#: float32 rounding: a warm fit then predicts as the fitted model did.
STILL = 1e-12


@pytest.fixture
def data():
    X, y, modalities = make_multimodal_classification(n_samples=160, random_state=0)
    return X, y, [(name, MLPExpert(hidden_units=(8,)), columns)
                  for name, _, columns in modalities]


@pytest.mark.parametrize("n_bags", [1, 2])
def test_a_warm_fit_starts_from_the_fitted_weights(data, n_bags):
    X, y, modalities = data
    params = {**FAST, "n_bags": n_bags, "calibrate": "auto", "max_epochs": 30}
    clf = I2M2Classifier(modalities, **params).fit(X, y)
    before, temperature = clf.predict_proba(X), clf.temperature_
    clf.set_params(warm_start=True, lr=STILL, max_epochs=1).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), before, atol=1e-5)
    # The temperature is fitted again, not applied on top of the previous one.
    assert clf.temperature_ == pytest.approx(temperature, rel=1e-3)
    cold = I2M2Classifier(modalities, **{**params, "lr": STILL, "max_epochs": 1}).fit(X, y)
    assert np.abs(cold.predict_proba(X) - before).max() > 0.01


def test_warm_fits_continue_training(data):
    X, y, modalities = data
    clf = I2M2Classifier(modalities, **{**FAST, "max_epochs": 5}).fit(X, y)
    first = [row["train_loss"] for row in clf.history_]
    clf.set_params(warm_start=True).fit(X, y)
    second = [row["train_loss"] for row in clf.history_]
    assert len(second) == 5  # history_ covers the last fit
    assert second[0] < first[0] - 0.02 and second[0] < first[-1] + 0.02


def test_a_warm_fit_keeps_the_fitted_preprocessing(data):
    X, y, modalities = data
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    splitter = clf.splitter_
    scaler = splitter.preprocessors_["m0"].scaler_
    mean = scaler.mean_.copy()
    clf.set_params(warm_start=True).fit(X + 100.0, y)  # shifted: refitting would move it
    assert clf.splitter_ is splitter
    np.testing.assert_array_equal(scaler.mean_, mean)


def test_warm_start_on_an_unfitted_estimator_is_a_fit(data):
    X, y, modalities = data
    warm = I2M2Classifier(modalities, warm_start=True, **FAST).fit(X, y)
    cold = I2M2Classifier(modalities, **FAST).fit(X, y)
    np.testing.assert_array_equal(warm.predict_proba(X), cold.predict_proba(X))


def _changed_modalities(modalities):
    (name, expert, columns), second = modalities
    return [(name, expert, columns[:-1]), second]


@pytest.mark.parametrize("change, message", [
    (lambda X, y, m: ((X, np.where(y == 1, 2, y)), {}), r"classes \[0, 1\].*classes \[0, 2\]"),
    (lambda X, y, m: ((X, y), {"modalities": _changed_modalities(m)}),
     "modalities changed since the last fit"),
    (lambda X, y, m: ((X, y), {"m0__hidden_units": (16,)}),
     r"experts now build different ones \(weights that differ: .*'unimodal.m0.0.weight'"),
    (lambda X, y, m: ((X, y), {"dependencies": "intra"}), "weights that differ"),
    (lambda X, y, m: ((X, y), {"n_bags": 2}), r"the 1 fitted product\(s\).*ask for 2"),
], ids=["classes", "columns", "expert", "dependencies", "n_bags"])
def test_a_warm_fit_refuses_a_changed_model_and_leaves_no_fit(data, change, message):
    X, y, modalities = data
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    (X_new, y_new), params = change(X, y, modalities)
    clf.set_params(warm_start=True, **params)
    with pytest.raises(ValueError, match=message):
        clf.fit(X_new, y_new)
    assert not hasattr(clf, "net_") and not hasattr(clf, "classes_")
