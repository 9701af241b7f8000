import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sk_i2m2 import I2M2Classifier, _base
from sk_i2m2.experts import CNNExpert, ConcatFusion, MLPExpert, SequenceExpert

from .conftest import FAST, SINGLE


def test_fit_sets_the_fitted_attributes(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    assert list(clf.classes_) == ["control", "impaired"]
    assert clf.n_features_in_ == X.shape[1]
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.splitter_.sample_shapes_ == {"m0": (4,), "m1": (4,)}
    assert len(clf.history_) == FAST["max_epochs"]
    assert clf.history_[-1, "train_loss"] > 0


def test_combined_proba_is_the_renormalised_product_of_expert_proba(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    experts = clf.expert_proba(X)
    assert set(experts) == {"m0", "m1", "fusion"}
    product = np.prod(list(experts.values()), axis=0)
    np.testing.assert_allclose(clf.predict_proba(X),
                               product / product.sum(axis=1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X))
    assert set(clf.predict(X)) <= set(clf.classes_)


def test_module_forward_gives_the_combined_log_proba(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    inputs = {k: torch.as_tensor(v) for k, v in clf.splitter_.transform(X).items()}
    with torch.no_grad():
        log_proba = clf.net_.module_(**inputs)
    np.testing.assert_allclose(log_proba.numpy(), clf.predict_log_proba(X), atol=1e-5)


@pytest.mark.parametrize("dependencies, experts", [
    ("both", {"m0", "m1", "fusion"}),
    ("intra", {"m0", "m1"}),
    ("inter", {"fusion"}),
])
def test_each_dependencies_value_builds_exactly_its_experts(two_modalities, dependencies,
                                                            experts):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, dependencies=dependencies, **FAST).fit(X, y)
    module = clf.net_.module_
    assert set(module.expert_names) == experts
    assert set(clf.expert_proba(X)) == experts
    assert (module.fusion is None) == ("fusion" not in experts)
    n_params = sum(p.numel() for p in module.parameters())
    expected = sum(p.numel() for name in experts - {"fusion"}
                   for p in module.unimodal[name].parameters())
    if "fusion" in experts:
        expected += sum(p.numel() for p in module.fusion.parameters())
    assert n_params == expected


def test_nested_set_params_reach_the_built_module(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, fusion=ConcatFusion(), **FAST)
    clf.set_params(m0__hidden_units=(5, 3), fusion__embedding_dim=6, m1__dropout=0.0)
    module = clf.fit(X, y).net_.module_
    m0_widths = [layer.out_features for layer in module.unimodal["m0"]
                 if isinstance(layer, torch.nn.Linear)]
    assert m0_widths == [5, 3, 2]
    assert not any(isinstance(layer, torch.nn.Dropout) for layer in module.unimodal["m1"])
    encoder = module.fusion.encoders["m0"]
    assert encoder[-1].out_features == 6
    assert encoder[0].out_features == 5  # the fusion encoder follows m0's own spec
    assert clf.get_params()["m0__hidden_units"] == (5, 3)


def test_nested_params_include_preprocessor_and_experts(two_modalities):
    _, _, modalities = two_modalities
    params = I2M2Classifier(modalities, fusion=ConcatFusion()).get_params()
    assert {"m0", "m1", "m0__hidden_units", "m0__preprocessor", "fusion__embedding_dim",
            "dependencies"} <= set(params)
    replacement = MLPExpert(hidden_units=(4,))
    clf = I2M2Classifier(modalities).set_params(m1=replacement)
    assert clf.modalities[1] == ("m1", replacement, modalities[1][2])


@pytest.mark.parametrize("labels", [
    np.array([3, 7]), np.array([True, False]), np.array(["b", "a"]), np.array([0.0, 1.0]),
])
def test_label_types(labels):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = labels[(X[:, 0] > 0).astype(int)]
    clf = I2M2Classifier(**FAST).fit(X, y)
    assert clf.predict(X).dtype == y.dtype
    assert set(clf.predict(X)) <= set(labels)
    assert list(clf.classes_) == sorted(labels)


def test_multiclass_and_default_single_modality():
    rng = np.random.RandomState(0)
    X = rng.randn(90, 4)
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    clf = I2M2Classifier(**FAST).fit(X, y)
    assert clf.predict_proba(X).shape == (90, 3)
    assert set(clf.expert_proba(X)) == {"tabular", "fusion"}


def test_image_and_sequence_experts_fit_beside_a_table():
    rng = np.random.RandomState(0)
    n = 40
    pixels = pd.DataFrame(rng.rand(n, 2 * 6 * 5), columns=[f"px_{i}" for i in range(60)])
    series = pd.DataFrame(rng.randn(n, 3 * 16), columns=[f"ts_{i}" for i in range(48)])
    table = pd.DataFrame({"age": rng.randint(20, 80, n),
                          "sex": rng.choice(["f", "m"], n)})
    X = pd.concat([table, pixels, series], axis=1)
    y = rng.randint(2, size=n)
    clf = I2M2Classifier([
        ("clinical", MLPExpert(hidden_units=8), ["age", "sex"]),
        ("image", CNNExpert(input_shape=(2, 6, 5), channels=(4,), hidden_units=8),
         [f"px_{i}" for i in range(60)]),
        ("signal", SequenceExpert(input_shape=(3, 16), channels=(4,), hidden_units=8),
         [f"ts_{i}" for i in range(48)]),
    ], **FAST).fit(X, y)
    assert clf.splitter_.sample_shapes_ == {"clinical": (3,), "image": (2, 6, 5),
                                            "signal": (3, 16)}
    assert set(clf.expert_proba(X)) == {"clinical", "image", "signal", "fusion"}


def test_fixed_random_state_gives_identical_models_and_spares_global_rng(two_modalities):
    X, y, modalities = two_modalities
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = I2M2Classifier(modalities, **FAST).fit(X, y).predict_proba(X)
    second = I2M2Classifier(modalities, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])
    other = I2M2Classifier(modalities, **{**FAST, "random_state": 1}).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), first)


def test_pickle_and_joblib_round_trip(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X),
                                  expected)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict_proba(X), expected)


def test_early_stopping_uses_a_validation_split_and_restores_the_best_weights(
        two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, early_stopping=True, n_iter_no_change=2,
                         max_epochs=60, lr=0.05, validation_fraction=0.25,
                         random_state=0, **SINGLE).fit(X, y)
    valid_loss = clf.history_[:, "valid_loss"]
    assert len(valid_loss) < 60  # stopped early
    best = int(np.argmin(valid_loss))
    assert len(valid_loss) == best + 1 + 2  # patience of two epochs past the best
    batch_sizes = [b["train_batch_size"] for b in clf.history_[0, "batches"]
                   if "train_batch_size" in b]
    assert sum(batch_sizes) == 90  # 25% of 120 rows held out


def test_early_stopping_auto_follows_the_row_count(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    assert "valid_loss" not in clf.history_[-1]


def test_callbacks_pass_through_and_are_not_modified(two_modalities):
    class CountEpochs(Callback):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    X, y, modalities = two_modalities
    counter = CountEpochs()
    clf = I2M2Classifier(modalities, callbacks=[counter], **FAST).fit(X, y)
    assert counter.epochs == 0  # the estimator works on a copy
    fitted = dict(clf.net_.callbacks_)
    assert fitted["CountEpochs"].epochs == FAST["max_epochs"]


def test_verbose_2_prints_the_epoch_log(two_modalities, capsys):
    X, y, modalities = two_modalities
    I2M2Classifier(modalities, verbose=2, **FAST).fit(X, y)
    printed = capsys.readouterr()
    assert "train_loss" in printed.out
    assert "epoch/s" not in printed.err  # the table replaces the bars


def test_class_weight_shifts_predictions_towards_the_rare_class():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 2)
    y = (X[:, 0] + rng.randn(400) > 1.6).astype(int)  # about 10% positives
    kwargs = {"max_epochs": 20, "random_state": 0}
    plain = I2M2Classifier(**kwargs).fit(X, y).predict(X).mean()
    balanced = I2M2Classifier(class_weight="balanced", **kwargs).fit(X, y).predict(X).mean()
    assert balanced > plain + 0.1


def test_a_failed_fit_leaves_the_estimator_unfitted(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    with pytest.raises(ValueError):
        clf.fit(X.drop(columns=["m1_x0"]), y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


def test_unfitted_predict_raises(two_modalities):
    X, _, modalities = two_modalities
    with pytest.raises(NotFittedError):
        I2M2Classifier(modalities).predict(X)


@pytest.mark.parametrize("params, match", [
    ({"dependencies": "late"}, "dependencies"),
    ({"max_epochs": 0}, "max_epochs"),
    ({"lr": -1.0}, "lr"),
    ({"validation_fraction": 1.5}, "validation_fraction"),
])
def test_invalid_parameters_are_named(two_modalities, params, match):
    X, y, modalities = two_modalities
    with pytest.raises(ValueError, match=match):
        I2M2Classifier(modalities, **params).fit(X, y)


def test_single_class_is_refused(two_modalities):
    X, y, modalities = two_modalities
    with pytest.raises(ValueError, match="single class"):
        I2M2Classifier(modalities, **FAST).fit(X, np.full(len(X), "a"))


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba", "expert_proba"])
def test_every_prediction_method_says_not_fitted(two_modalities, method):
    X, _, modalities = two_modalities
    with pytest.raises(NotFittedError):
        getattr(I2M2Classifier(modalities), method)(X)


# --------------------------------------------------------------------- chunked prediction


@pytest.fixture
def gappy_with_a_classifier(two_modalities):
    """A fit with a scikit-learn expert on m1, which every third row lacks.

    The rows carry labels that are not their positions, and prediction forwards
    batches of 4 rows.
    """
    X, y, modalities = two_modalities
    m1 = modalities[1][2]
    X = X.copy()
    X.loc[X.index[::3], m1] = np.nan
    X.index = [f"r{i}" for i in range(len(X))]
    spec = [modalities[0], ("m1", LogisticRegression(), m1)]
    return I2M2Classifier(spec, predict_batch_size=4, **FAST).fit(X, y), X


def _every_prediction(clf, X):
    return (clf.predict_proba(X), clf.predict_log_proba(X), clf.predict(X),
            clf.expert_proba(X), clf.explain(X))


def test_prediction_by_chunks_of_rows_equals_prediction_in_one_chunk(
        monkeypatch, gappy_with_a_classifier):
    clf, X = gappy_with_a_classifier
    monkeypatch.setattr(_base, "_PREDICT_CHUNK_BATCHES", 10**6)
    proba, log_proba, predicted, experts, explained = _every_prediction(clf, X)
    monkeypatch.setattr(_base, "_PREDICT_CHUNK_BATCHES", 1)  # 4 rows a chunk
    chunks = []
    transform = clf.splitter_.transform_checked
    monkeypatch.setattr(clf.splitter_, "transform_checked",
                        lambda chunk, **kwargs: chunks.append(len(chunk))
                        or transform(chunk, **kwargs))
    by_chunk = _every_prediction(clf, X)
    assert chunks == [4] * 30 * 5  # 120 rows: 30 chunks, for each of the 5 methods
    np.testing.assert_array_equal(by_chunk[0], proba)
    np.testing.assert_array_equal(by_chunk[1], log_proba)
    np.testing.assert_array_equal(by_chunk[2], predicted)
    assert set(by_chunk[3]) == set(experts) == {"m0", "m1", "fusion"}
    for name, values in experts.items():
        np.testing.assert_array_equal(by_chunk[3][name], values)
    assert np.isnan(experts["m1"][::3]).all() and np.isfinite(experts["m1"][1::3]).all()
    pd.testing.assert_frame_equal(by_chunk[4], explained)
    assert list(explained["sample"][::3]) == list(X.index)


def test_prediction_by_chunks_checks_and_warns_once(monkeypatch, two_modalities):
    monkeypatch.setattr(_base, "_PREDICT_CHUNK_BATCHES", 1)
    X, y, modalities = two_modalities
    named = [modalities[0], ("m1", LogisticRegression(), modalities[1][2])]
    by_position = [(name, expert, [X.columns.get_loc(c) for c in columns])
                   for name, expert, columns in named]
    cases = [(I2M2Classifier(named, predict_batch_size=8, **FAST).fit(X, y),
              X, X.to_numpy(), "X does not have valid feature names, but "
              "ModalitySplitter was fitted with feature names"),
             (I2M2Classifier(by_position, predict_batch_size=8, **FAST).fit(X.to_numpy(), y),
              X.to_numpy(), X, "X has feature names, but ModalitySplitter was fitted "
              "without feature names")]
    for clf, same_kind, other_kind, message in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.predict_proba(other_kind)
        assert [str(warning.message) for warning in caught] == [message]
        with pytest.raises(ValueError, match="lacks column|is expecting 8 features"):
            clf.predict_proba(same_kind.iloc[:, :3] if hasattr(same_kind, "iloc")
                              else same_kind[:, :3])


def test_rows_without_any_modality_are_named_by_their_position_in_x(monkeypatch,
                                                                   two_modalities):
    monkeypatch.setattr(_base, "_PREDICT_CHUNK_BATCHES", 1)
    X, y, modalities = two_modalities
    positions = [(name, expert, [X.columns.get_loc(c) for c in columns])
                 for name, expert, columns in modalities]
    clf = I2M2Classifier(positions, predict_batch_size=8, **FAST).fit(X.to_numpy(), y)
    bad = X.to_numpy().copy()
    bad[[50, 53]] = np.nan  # in the seventh chunk of 8 rows
    with pytest.raises(ValueError, match=r"2 row\(s\) have no value.*\[50, 53\]"):
        clf.predict(bad)
