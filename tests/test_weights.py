"""class_weight and sample_weight: what each promises, in both training stages."""

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier

from sk_i2m2 import I2M2Classifier
from sk_i2m2._dataset import Batch
from sk_i2m2._loss import row_weights
from sk_i2m2._net import PRETRAIN

from .conftest import FAST, SINGLE


def imbalanced(n_samples=400, seed=0):
    """Two overlapping classes, about 10% positives, in two modalities."""
    import pandas as pd
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.randn(n_samples, 4), columns=["a0", "a1", "b0", "b1"])
    y = (X["a0"] + X["b0"] + rng.randn(n_samples) > 2.3).astype(int).to_numpy()
    spec = [("a", "auto", ["a0", "a1"]), ("b", "auto", ["b0", "b1"])]
    from sk_i2m2.experts import MLPExpert
    spec = [(name, MLPExpert(hidden_units=(8,)), cols) for name, _, cols in spec]
    return X, y, spec


@pytest.mark.parametrize("pretrain_epochs", [0, 10])
def test_balanced_class_weight_predicts_the_rare_class_more_often(pretrain_epochs):
    X, y, spec = imbalanced()
    assert 0.05 < y.mean() < 0.15
    kwargs = {"max_epochs": 20, "pretrain_epochs": pretrain_epochs, "random_state": 0}
    plain = I2M2Classifier(spec, **kwargs).fit(X, y)
    balanced = I2M2Classifier(spec, class_weight="balanced", **kwargs).fit(X, y)
    assert balanced.predict(X).mean() > plain.predict(X).mean() + 0.1
    # The rare class is found more often: its recall rises.
    assert balanced.predict(X)[y == 1].mean() > plain.predict(X)[y == 1].mean() + 0.2


def test_a_dict_of_class_weights_matches_the_same_weights_given_per_row():
    X, y, spec = imbalanced()
    weights = {0: 1.0, 1: 5.0}
    by_class = I2M2Classifier(spec, class_weight=weights, **FAST).fit(X, y)
    by_row = I2M2Classifier(spec, **FAST).fit(X, y, sample_weight=np.where(y, 5.0, 1.0))
    np.testing.assert_allclose(by_class.predict_proba(X), by_row.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_class_weight_counts_in_the_pretraining_loss():
    X, y, spec = imbalanced()
    settings = {"pretrain_epochs": 2, "max_epochs": 1, "random_state": 0, **SINGLE}
    by_class = I2M2Classifier(spec, class_weight={0: 1.0, 1: 9.0}, **settings).fit(X, y)
    by_row = I2M2Classifier(spec, **settings).fit(X, y, sample_weight=np.where(y, 9.0, 1.0))
    plain = I2M2Classifier(spec, **settings).fit(X, y)
    assert by_class.history_[:, "stage"][:2] == [PRETRAIN] * 2
    np.testing.assert_allclose(by_class.history_[:, "train_loss"],
                               by_row.history_[:, "train_loss"], rtol=1e-5)
    assert by_class.history_[0, "train_loss"] != pytest.approx(plain.history_[0, "train_loss"])

    # The net's pretraining loss weighs each row by the weight fit gives it.
    net = by_class.net_
    inputs = {k: torch.as_tensor(v) for k, v in by_class.splitter_.transform(X).items()}
    target = torch.tensor(y)
    weights = row_weights(y, y, by_class.classes_, {0: 1.0, 1: 9.0})
    outputs = net.module_.expert_outputs(inputs)
    loss = net.get_pretrain_loss(outputs, target, X=Batch(inputs, {}, torch.as_tensor(weights)))
    weights = torch.where(target == 1, 9.0, 1.0)
    expected = sum((torch.nn.functional.cross_entropy(v, target, reduction="none")
                    * weights).sum() / weights.sum() for v in outputs.logits.values())
    torch.testing.assert_close(loss, expected)


def test_equal_sample_weights_change_nothing(two_modalities):
    X, y, spec = two_modalities
    plain = I2M2Classifier(spec, **FAST).fit(X, y)
    weighted = I2M2Classifier(spec, **FAST).fit(X, y, sample_weight=np.full(len(y), 3.0))
    np.testing.assert_allclose(plain.predict_proba(X), weighted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_rows_of_zero_weight_are_not_learnt_from():
    X, _, spec = imbalanced(600)
    y = (X["a0"] + X["b0"] > 0).astype(int).to_numpy()
    rng = np.random.RandomState(1)
    # 70% of the negatives relabelled positive: learnt from, they make the model
    # call everything positive; weighted out, they change nothing.
    noisy = (y == 0) & (rng.rand(len(y)) < 0.7)
    y_noisy = np.where(noisy, 1, y)
    kwargs = {"max_epochs": 30, "random_state": 0}
    ignored = I2M2Classifier(spec, **kwargs).fit(X, y_noisy, sample_weight=(~noisy) * 1.0)
    learnt = I2M2Classifier(spec, **kwargs).fit(X, y_noisy)
    assert ignored.score(X, y) > 0.9
    assert ignored.score(X, y) > learnt.score(X, y) + 0.2


def test_sample_weight_reaches_scikit_learn_experts(two_modalities):
    X, y, spec = two_modalities
    spec = [(name, HistGradientBoostingClassifier(max_iter=20), cols)
            for name, _, cols in spec]
    weights = np.linspace(0.5, 2.0, len(y))
    weighted = I2M2Classifier(spec, dependencies="intra", **FAST).fit(
        X, y, sample_weight=weights)
    plain = I2M2Classifier(spec, dependencies="intra", **FAST).fit(X, y)
    assert not np.allclose(weighted.predict_proba(X), plain.predict_proba(X))


def test_an_expert_without_sample_weight_is_named(two_modalities):
    X, y, spec = two_modalities
    spec = [spec[0], ("m1", KNeighborsClassifier(), spec[1][2])]
    with pytest.raises(ValueError, match="Expert 'm1': KNeighborsClassifier.fit takes no "
                                         "sample_weight"):
        I2M2Classifier(spec, **FAST).fit(X, y, sample_weight=np.ones(len(y)))


@pytest.mark.parametrize("weights, match", [
    (np.ones(5), "sample_weight.shape"),
    (-np.ones(120), "Negative values in data passed to `sample_weight`"),
])
def test_bad_sample_weights_are_refused(two_modalities, weights, match):
    X, y, spec = two_modalities
    clf = I2M2Classifier(spec, **FAST)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, sample_weight=weights)
    assert not hasattr(clf, "net_")
