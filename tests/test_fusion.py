"""AttentionFusion: the transformer fusion expert, as a module and inside the classifier."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import AttentionFusion, MLPExpert, SequenceExpert

SHAPES = {"tab": (5,), "seq": (2, 8), "other": (3,)}


def build(**params):
    torch.manual_seed(0)
    specs = {
        "tab": (MLPExpert(hidden_units=(8,)), SHAPES["tab"]),
        "seq": (SequenceExpert(input_shape=SHAPES["seq"], channels=(4,)), SHAPES["seq"]),
        "other": (MLPExpert(hidden_units=(8,)), SHAPES["other"]),
    }
    return AttentionFusion(**{"embedding_dim": 8, "n_heads": 2, **params}).build(specs, 3)


def batch(n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = {name: torch.randn(n, *shape, generator=generator)
              for name, shape in SHAPES.items()}
    present = {
        "tab": torch.tensor([1, 1, 0, 1, 0, 1], dtype=torch.bool)[:n],
        "seq": torch.tensor([1, 0, 1, 1, 0, 0], dtype=torch.bool)[:n],
        "other": torch.tensor([1, 1, 1, 0, 0, 1], dtype=torch.bool)[:n],
    }
    return inputs, present


# ------------------------------------------------------------------------ the module


def test_output_shape_and_all_present_default():
    module = build().eval()
    inputs, present = batch()
    out = module(inputs, present)
    assert out.shape == (6, 3)
    assert torch.isfinite(out).all()
    # present=None means every row holds every modality.
    all_present = {name: torch.ones(6, dtype=torch.bool) for name in SHAPES}
    torch.testing.assert_close(module(inputs), module(inputs, all_present))


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
def test_missing_modality_does_not_influence_its_rows(n_layers, grad):
    # no_grad in eval mode is where PyTorch takes its transformer fast path.
    module = build(n_layers=n_layers).eval()
    inputs, present = batch()
    with torch.set_grad_enabled(grad):
        before = module(inputs, present)
        for name in SHAPES:
            absent = ~present[name]
            changed = dict(inputs)
            changed[name] = torch.where(
                absent.view(-1, *[1] * len(SHAPES[name])),
                inputs[name] + 100.0 * torch.randn_like(inputs[name]), inputs[name])
            after = module(changed, present)
            assert torch.isfinite(after).all()
            torch.testing.assert_close(after[absent], before[absent], rtol=0, atol=0)


def test_row_missing_every_modality_is_finite():
    module = build().eval()
    inputs, _ = batch()
    present = {name: torch.zeros(6, dtype=torch.bool) for name in SHAPES}
    out = module(inputs, present)
    assert torch.isfinite(out).all()
    # With nothing to attend to but the class token, every row gives the same output.
    torch.testing.assert_close(out, out[:1].expand_as(out))


def test_present_modality_changes_its_rows():
    module = build().eval()
    inputs, present = batch()
    before = module(inputs, present)
    for name in SHAPES:
        changed = dict(inputs)
        changed[name] = inputs[name] + 3.0 * torch.randn_like(inputs[name])
        after = module(changed, present)
        rows = present[name]
        assert (after[rows] - before[rows]).abs().amax(dim=1).gt(1e-4).all(), name


def test_gradients_reach_every_encoder_and_token():
    module = build().train()
    inputs, _ = batch()
    everyone = {name: torch.ones(6, dtype=torch.bool) for name in SHAPES}
    module(inputs, everyone).sum().backward()
    for name, encoder in module.encoders.items():
        grads = [p.grad for p in encoder.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name
    assert module.class_token.grad.abs().sum() > 0
    assert module.modality_embedding.grad.abs().sum() > 0


def test_encoders_have_their_own_weights():
    module = build()
    ids = {name: {id(p) for p in encoder.parameters()}
           for name, encoder in module.encoders.items()}
    assert ids["tab"].isdisjoint(ids["other"])


def test_params_and_validation():
    fusion = AttentionFusion()
    assert fusion.get_params() == {"embedding_dim": 32, "n_heads": 4, "n_layers": 1,
                                   "feedforward_dim": None, "dropout": 0.1}
    module = build(n_layers=2, feedforward_dim=5)
    assert len(module.transformer.layers) == 2
    assert module.transformer.layers[0].linear1.out_features == 5
    with pytest.raises(ValueError, match=r"embedding_dim=10.*n_heads=4.*multiple"):
        build(embedding_dim=10, n_heads=4)
    with pytest.raises(ValueError, match="n_heads"):
        build(n_heads=0)
    with pytest.raises(ValueError, match="dropout"):
        build(dropout=1.5)


# --------------------------------------------------------------- through the estimator


@pytest.fixture(scope="module")
def fitted():
    X, y, modalities = make_multimodal_classification(n_samples=200, random_state=0)
    clf = I2M2Classifier(modalities, fusion=AttentionFusion(), max_epochs=3,
                         random_state=0, n_bags=1, calibrate=None)
    return clf.fit(X, y), X, y


def test_classifier_fits_and_predicts_probabilities(fitted):
    clf, X, _ = fitted
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_set_params_reaches_the_fusion(fitted):
    clf, X, y = fitted
    clf = clone(clf).set_params(fusion__n_heads=2)
    assert clf.get_params()["fusion__n_heads"] == 2
    attention = clf.fit(X, y).net_.module_.fusion.transformer.layers[0].self_attn
    assert attention.num_heads == 2


def test_pickle_round_trip_predicts_the_same(fitted):
    clf, X, _ = fitted
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert isinstance(restored.fusion, AttentionFusion)


def test_missing_modality_rows_predict_finite_probabilities(fitted):
    clf, X, _ = fitted
    _, _, columns = clf.modalities[0]
    X_missing = X.iloc[:20].copy()
    X_missing.loc[X_missing.index[:10], columns] = np.nan
    proba = clf.predict_proba(X_missing)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_attention_fusion_learns_an_interaction():
    # y is visible only across modalities (an XOR), so only the fusion expert can learn
    # it; chance is 0.5. The fixed seed reaches about 0.99 (ConcatFusion: 1.0).
    X, y, modalities = make_multimodal_classification(
        n_samples=600, dependency="inter", random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0)
    clf = I2M2Classifier(modalities, fusion=AttentionFusion(), dependencies="inter",
                         max_epochs=30, random_state=0, n_bags=1, calibrate=None)
    assert clf.fit(X_train, y_train).score(X_test, y_test) > 0.9
