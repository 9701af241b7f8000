"""The extension points, used from the public API alone: an expert, a fusion expert,
and scikit-learn's metadata routing of the weights."""

import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sk_i2m2 import I2M2Classifier, load, save
from sk_i2m2._persistence import UntrustedModelError
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import BaseExpert, BaseFusion, MLPExpert

SETTINGS = {"max_epochs": 3, "batch_size": 32, "random_state": 0, "n_bags": 1,
            "calibrate": None}


class LinearExpert(BaseExpert):
    """A user's expert: a linear map, with an optional bias."""

    def __init__(self, bias=True, preprocessor="auto"):
        self.bias = bias
        self.preprocessor = preprocessor

    def build(self, input_shape, n_outputs):
        return nn.Linear(input_shape[0], n_outputs, bias=self.bias)


class _SumOfMaskedLogits(nn.Module):
    def __init__(self, heads):
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.seen = []  # the masks each call received, for the test to read

    def forward(self, inputs, present):
        self.seen.append({name: mask.clone() for name, mask in present.items()})
        return sum(head(inputs[name]) * present[name].unsqueeze(1)
                   for name, head in self.heads.items())


class SumFusion(BaseFusion):
    """A user's fusion expert: one linear head per modality, summed over those present."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def build(self, modalities, n_outputs):
        return _SumOfMaskedLogits({name: nn.Linear(int(np.prod(shape)), n_outputs)
                                   for name, (_, shape) in modalities.items()})


@pytest.fixture
def data():
    X, y, modalities = make_multimodal_classification(n_samples=150, n_features=4,
                                                      random_state=0)
    return X, y, [(name, LinearExpert(), columns) for name, _, columns in modalities]


# ---------------------------------------------------------------------- expert


def test_a_user_expert_fits_predicts_and_is_grid_searched(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, **{**SETTINGS, "max_epochs": 20, "lr": 0.01}).fit(X, y)
    module = clf.net_.module_
    assert isinstance(module.unimodal["m0"], nn.Linear)
    assert clf.score(X, y) > 0.75  # chance: about 0.5
    search = GridSearchCV(clf, {"m0__bias": [True, False]}, cv=StratifiedKFold(2))
    search.fit(X, y)
    assert set(search.cv_results_["param_m0__bias"]) == {True, False}
    has_bias = search.best_estimator_.net_.module_.unimodal["m0"].bias is not None
    assert has_bias == search.best_params_["m0__bias"]


def test_a_user_expert_pickles_and_saves_with_trust(data, tmp_path):
    X, y, spec = data
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))

    save(clf, tmp_path / "model.zip")
    name = f"{LinearExpert.__module__}.LinearExpert"
    with pytest.raises(UntrustedModelError, match=name):
        load(tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip", trusted=[name])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


# ---------------------------------------------------------------------- fusion


def test_a_user_fusion_sees_which_rows_lack_a_modality(data):
    X, y, spec = data
    X = X.copy()
    lacking = np.arange(len(X)) % 4 == 0
    X.loc[lacking, spec[1][2]] = np.nan  # every fourth row lacks m1
    clf = I2M2Classifier(spec, fusion=SumFusion(), **SETTINGS).fit(X, y)
    fusion = clf.net_.module_.fusion
    assert isinstance(fusion, _SumOfMaskedLogits)

    fusion.seen.clear()
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    (masks,) = fusion.seen
    np.testing.assert_array_equal(masks["m1"].numpy(), ~lacking)
    assert masks["m0"].all()

    assert clf.set_params(fusion__scale=2.0).get_params()["fusion__scale"] == 2.0


def test_a_user_fusion_trains_alone_and_pickles(data):
    X, y, spec = data
    clf = I2M2Classifier(spec, fusion=SumFusion(), dependencies="inter", **SETTINGS)
    clf.fit(X, y)
    assert clf.net_.module_.expert_names == ["fusion"]
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_a_fusion_must_be_a_base_fusion_or_a_classifier(data):
    X, y, spec = data

    class NotAFusion:
        def build(self, modalities, n_outputs):  # an expert's method name, not the contract
            return nn.Identity()

    with pytest.raises(InvalidParameterError, match="fusion"):
        I2M2Classifier(spec, fusion=NotAFusion(), **SETTINGS).fit(X, y)
    with pytest.raises(InvalidParameterError, match="fusion"):
        I2M2Classifier(spec, fusion=MLPExpert(), **SETTINGS).fit(X, y)


def test_the_fusion_contract_module_takes_inputs_and_masks():
    fusion = SumFusion().build({"a": (MLPExpert(), (2,)), "b": (MLPExpert(), (3,))}, 4)
    inputs = {"a": torch.randn(5, 2), "b": torch.randn(5, 3)}
    present = {"a": torch.ones(5, dtype=torch.bool), "b": torch.zeros(5, dtype=torch.bool)}
    out = fusion(inputs, present)
    assert out.shape == (5, 4)
    inputs["b"] = torch.randn(5, 3)
    torch.testing.assert_close(fusion(inputs, present), out)


# ---------------------------------------------------------------------- routing


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _with_tree_expert(data):
    X, y, spec = data
    return X, y, [("m0", HistGradientBoostingClassifier(max_iter=10), spec[0][2]),
                  ("m1", MLPExpert(hidden_units=(8,)), spec[1][2])]


def test_routed_weights_reach_the_scikit_learn_expert_through_a_pipeline(data, routing):
    X, y, spec = _with_tree_expert(data)
    weights = np.random.RandomState(0).uniform(0.2, 3.0, len(y))
    clf = I2M2Classifier(spec, **SETTINGS).set_fit_request(sample_weight=True)
    pipe = make_pipeline(FunctionTransformer(), clf).fit(X, y, sample_weight=weights)
    direct = I2M2Classifier(spec, **SETTINGS).fit(X, y, sample_weight=weights)
    unweighted = I2M2Classifier(spec, **SETTINGS).fit(X, y)
    np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(X))
    assert not np.allclose(pipe.predict_proba(X), unweighted.predict_proba(X))
    fitted = pipe[-1].sklearn_experts_["m0"]
    assert isinstance(fitted, HistGradientBoostingClassifier)


def test_routed_weights_in_a_grid_search_need_no_request_on_the_experts(data, routing):
    X, y, spec = _with_tree_expert(data)
    weights = np.random.RandomState(1).uniform(0.2, 3.0, len(y))
    clf = (I2M2Classifier(spec, **SETTINGS).set_fit_request(sample_weight=True)
           .set_score_request(sample_weight=False))
    search = GridSearchCV(clf, {"dependencies": ["intra", "both"]}, cv=StratifiedKFold(2))
    search.fit(X, y, sample_weight=weights)
    direct = I2M2Classifier(spec, **SETTINGS).set_params(**search.best_params_)
    direct.set_fit_request(sample_weight=True)
    np.testing.assert_allclose(search.best_estimator_.predict_proba(X),
                               direct.fit(X, y, sample_weight=weights).predict_proba(X))
