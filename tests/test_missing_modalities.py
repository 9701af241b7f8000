"""Rows lacking a modality drop that modality's factors from the product."""

import numpy as np
import pytest
import torch

from sk_i2m2 import I2M2Classifier
from sk_i2m2.product import FUSION, ProductOfExperts, presence

from .conftest import FAST


def _without(X, columns, rows):
    X = X.copy()
    X.loc[X.index[rows], columns] = np.nan
    return X


@pytest.fixture
def gappy(two_modalities):
    """Every third row lacks modality m1."""
    X, y, modalities = two_modalities
    m1 = modalities[1][2]
    return _without(X, m1, slice(0, None, 3)), y, modalities


def test_prediction_is_the_product_of_the_experts_that_see_the_row(gappy):
    X, y, modalities = gappy
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    experts = clf.expert_proba(X)
    missing = np.arange(len(X)) % 3 == 0
    assert np.isnan(experts["m1"][missing]).all()
    assert np.isfinite(experts["m1"][~missing]).all()
    assert np.isfinite(experts["m0"]).all() and np.isfinite(experts[FUSION]).all()
    available = [np.where(np.isnan(p), 1.0, p) for p in experts.values()]
    product = np.prod(available, axis=0)
    np.testing.assert_allclose(clf.predict_proba(X),
                               product / product.sum(axis=1, keepdims=True), atol=1e-5)


def test_rows_without_a_modality_do_not_shape_its_preprocessing(gappy):
    X, y, modalities = gappy
    splitter = I2M2Classifier(modalities, **FAST).fit(X, y).splitter_
    present = X[modalities[1][2]].dropna()
    scaler = splitter.preprocessors_["m1"].scaler_  # all-numeric: imputer then scaler
    np.testing.assert_allclose(scaler.mean_, present.mean(), rtol=1e-6)


def test_a_row_without_any_modality_is_an_error_naming_it(two_modalities):
    X, y, modalities = two_modalities
    every_column = [c for _, _, cols in modalities for c in cols]
    bad = _without(X, every_column, [4, 7])
    with pytest.raises(ValueError, match=r"2 row\(s\) have no value in any modality.*\[4, 7\]"):
        I2M2Classifier(modalities, **FAST).fit(bad, y)
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"\[4, 7\]"):
        clf.predict(bad)


def test_a_modality_absent_from_every_row_is_an_error(two_modalities):
    X, y, modalities = two_modalities
    with pytest.raises(ValueError, match="Modality 'm1' has no value in any row"):
        I2M2Classifier(modalities, **FAST).fit(_without(X, modalities[1][2], slice(None)), y)


def test_pretraining_scores_each_expert_on_the_rows_it_sees(gappy):
    X, y, modalities = gappy
    clf = I2M2Classifier(modalities, pretrain_epochs=1, **FAST).fit(X, y)
    net = clf.net_
    inputs = {k: torch.as_tensor(v) for k, v in clf.splitter_.transform(X).items()}
    target = torch.as_tensor(np.searchsorted(clf.classes_, y))
    net.module_.eval()
    with torch.no_grad():
        outputs = net.module_.expert_outputs(inputs)
        logits, available = outputs
        loss = net.get_pretrain_loss(outputs, target)
        seen = available["m1"]
        expected = sum(
            torch.nn.functional.cross_entropy(logits[k][available[k]], target[available[k]])
            for k in logits)
    assert seen.sum() < len(seen)
    torch.testing.assert_close(loss, expected)


def test_modality_dropout_drops_rows_in_training_only_and_never_all():
    torch.manual_seed(0)
    module = ProductOfExperts({"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 2)},
                              modality_dropout=0.5)
    inputs = {"a": torch.randn(4000, 2), "b": torch.randn(4000, 2)}
    inputs["b"][:1000] = torch.nan  # these rows have only "a": it is never dropped
    module.train()
    _, available = module.expert_outputs(inputs)
    assert (available["a"] | available["b"]).all()
    assert available["a"][:1000].all()
    kept = available["a"][1000:].float().mean().item()
    assert 0.5 < kept < 0.8  # dropped at 0.5, restored where both were dropped: ~2/3
    module.eval()
    _, available = module.expert_outputs(inputs)
    torch.testing.assert_close(available["b"], presence(inputs)["b"])
    assert available["a"].all()


def test_modality_dropout_trains_and_predicts(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, modality_dropout=0.3, **FAST).fit(X, y)
    assert np.isfinite(clf.predict_proba(_without(X, modalities[0][2], [1, 2]))).all()
