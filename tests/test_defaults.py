"""The package defaults: a calibrated, cross-fitted ensemble of early-stopped products."""

import numpy as np
import pytest

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification

from .conftest import small_modalities


@pytest.fixture
def small_table():
    X, y, modalities = make_multimodal_classification(n_samples=200, n_features=4,
                                                      dependency="intra", random_state=0)
    return X, y, small_modalities({name: cols for name, _, cols in modalities})


def test_the_defaults_are_the_calibrated_cross_fitted_ensemble():
    params = I2M2Classifier().get_params()
    assert params["n_bags"] == "auto" and params["calibrate"] == "auto"
    assert params["n_iter_no_change"] == "auto" and params["max_epochs"] == 200
    assert params["early_stopping"] == "auto"


def test_at_defaults_each_member_stops_on_its_own_fold_with_patience_30(small_table):
    X, y, spec = small_table
    clf = I2M2Classifier(spec, random_state=0).fit(X, y)
    assert clf.n_bags_ == 5
    for member in range(5):
        epochs = [row for row in clf.history_ if row["member"] == member]
        assert len(epochs) < 200  # stopped early, not at max_epochs
        losses = [row["valid_loss"] for row in epochs]
        # Restored to its best epoch, after 30 epochs without improvement.
        assert len(epochs) - (int(np.argmin(losses)) + 1) == 30
    # The temperature comes from the out-of-fold predictions: no row was held back.
    assert clf.history_[-1]["temperature"] == clf.temperature_ > 0
    assert 0.8 < clf.oof_score_ <= clf.score(X, y)


def test_an_explicit_patience_is_kept(small_table):
    X, y, spec = small_table
    clf = I2M2Classifier(spec, n_bags=2, n_iter_no_change=4, random_state=0).fit(X, y)
    for member in range(2):
        epochs = [row for row in clf.history_ if row["member"] == member]
        losses = [row["valid_loss"] for row in epochs]
        assert len(epochs) == 200 or len(epochs) - (int(np.argmin(losses)) + 1) == 4


def test_without_early_stopping_members_train_every_epoch(small_table):
    X, y, spec = small_table
    clf = I2M2Classifier(spec, n_bags=2, early_stopping=False, max_epochs=7,
                         random_state=0).fit(X, y)
    for member in range(2):
        assert len([row for row in clf.history_ if row["member"] == member]) == 7


@pytest.mark.parametrize("n_train, batch_size, patience", [
    (160, 64, 30),    # 3 steps an epoch: 40 epochs for 120 steps, capped at 30
    (256, 64, 30),    # 4 steps: exactly 30
    (600, 64, 12),    # 10 steps
    (600, 32, 10),    # 19 steps: 7 epochs, raised to the floor of 10
    (50_000, 64, 10),
])
def test_auto_patience_counts_optimizer_steps(n_train, batch_size, patience):
    from sk_i2m2._plan import resolve_patience

    assert resolve_patience("auto", n_train, batch_size) == patience
    assert resolve_patience(7, n_train, batch_size) == 7
