"""calibrate="temperature", and scikit-learn's CalibratedClassifierCV around I2M2."""

import numpy as np
import pytest
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import log_loss

from sk_i2m2 import I2M2Classifier
from sk_i2m2._calibration import fit_temperature
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import MLPExpert

from .conftest import FAST


def overfitting_setup(seed=0):
    """Noisy labels, wide experts, many epochs: a product that is far too sure."""
    X, y, modalities = make_multimodal_classification(
        n_samples=600, n_features=8, dependency="mixed", random_state=seed)
    flipped = np.random.default_rng(seed).random(len(y)) < 0.2
    y = np.where(flipped, 1 - y, y)
    spec = [(name, MLPExpert(hidden_units=(64,), dropout=0.0), cols)
            for name, _, cols in modalities]
    settings = {"max_epochs": 80, "lr": 1e-2, "weight_decay": 0.0, "random_state": seed,
                "n_bags": 1}
    return X, y, spec, settings


@pytest.mark.parametrize("seed", [0, 1])
def test_temperature_lowers_the_log_loss_of_an_over_confident_product(seed):
    X, y, spec, settings = overfitting_setup(seed)
    train, test = np.arange(400), np.arange(400, 600)
    clf = I2M2Classifier(spec, calibrate="temperature", **settings)
    clf.fit(X.iloc[train], y[train])
    last = clf.history_[-1]
    assert clf.temperature_ > 1.5  # over-confident: softened
    assert last["temperature"] == clf.temperature_
    assert last["valid_log_loss_calibrated"] < 0.8 * last["valid_log_loss_uncalibrated"]
    # On rows never seen in training or calibration, too.
    calibrated = log_loss(y[test], clf.predict_proba(X.iloc[test]))
    clf.net_.module_.set_temperature(None)
    uncalibrated = log_loss(y[test], clf.predict_proba(X.iloc[test]))
    assert calibrated < 0.8 * uncalibrated


def test_temperature_changes_no_prediction(two_modalities):
    X, y, spec = two_modalities
    clf = I2M2Classifier(spec, **{**FAST, "calibrate": "temperature"}).fit(X, y)
    calibrated = clf.predict(X)
    proba = clf.predict_proba(X)
    clf.net_.module_.set_temperature(None)
    np.testing.assert_array_equal(clf.predict(X), calibrated)
    assert not np.allclose(clf.predict_proba(X), proba)


def test_without_calibration_the_temperature_is_one(two_modalities):
    X, y, spec = two_modalities
    clf = I2M2Classifier(spec, **FAST).fit(X, y)
    assert clf.temperature_ == 1.0 and clf.net_.module_.temperature is None
    assert "temperature" not in clf.history_[-1]


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(20_000, 3)) * 2)
    y = torch.distributions.Categorical(logits=logits).sample()
    temperature, before, after = fit_temperature(logits * 3, y)
    assert temperature == pytest.approx(3.0, rel=0.05)
    assert after < before


def test_an_under_confident_model_keeps_temperature_one():
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(20_000, 3)) * 2)
    y = torch.distributions.Categorical(logits=logits).sample()
    # Its best temperature would be 1/3: sharpening, which is not allowed.
    temperature, before, after = fit_temperature(logits / 3, y)
    assert temperature == 1.0 and after == before


def test_unbounded_the_temperature_sharpens_an_under_confident_model():
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(20_000, 3)) * 2)
    y = torch.distributions.Categorical(logits=logits).sample()
    temperature, before, after = fit_temperature(logits / 3, y, soften_only=False)
    assert temperature == pytest.approx(1 / 3, rel=0.05)
    assert after < before


def test_calibration_needs_two_rows_of_each_class(two_modalities):
    X, _, spec = two_modalities
    y = np.array(["a", "b"] * 59 + ["c", "a"])
    with pytest.raises(ValueError, match="calibrate='temperature' holds out .* class 'c' "
                                         "has 1. Set calibrate=None"):
        I2M2Classifier(spec, **{**FAST, "calibrate": "temperature"}).fit(X, y)


def test_sklearn_calibrated_classifier_cv_wraps_the_classifier(two_modalities):
    X, y, spec = two_modalities
    calibrated = CalibratedClassifierCV(I2M2Classifier(spec, **FAST), cv=3,
                                        method="sigmoid").fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(calibrated.predict(X)) <= set(y)
