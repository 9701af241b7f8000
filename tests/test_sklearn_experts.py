"""Scikit-learn classifiers as experts: fixed, cross-fitted factors of the product."""

import io
import pickle

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import MLPExpert, SklearnExpert

from .conftest import FAST


def _trees(modalities, **params):
    return [(name, HistGradientBoostingClassifier(max_iter=15, **params), columns)
            for name, _, columns in modalities]


def test_a_memorising_expert_enters_training_out_of_fold(two_modalities):
    X, _, modalities = two_modalities
    y = np.random.default_rng(0).integers(0, 2, len(X))  # labels no feature explains
    memoriser = [(modalities[0][0], KNeighborsClassifier(1), modalities[0][2]),
                 modalities[1]]
    clf = I2M2Classifier(memoriser, **FAST).fit(X, y)
    # In-sample, 1-NN gives every training row probability 1 for its own label, and the
    # product's training loss would be near zero; out of fold it carries no signal.
    assert clf.history_[0, "train_loss"] > 0.5
    assert clf.sklearn_experts_["m0"].score(X[modalities[0][2]], y) == 1.0  # refitted


def test_an_all_fixed_product_is_the_renormalised_product_of_predict_proba(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(_trees(modalities), dependencies="intra", **FAST).fit(X, y)
    assert len(clf.history_) == 0  # nothing trained by gradient
    product = np.ones((len(X), 2))
    for name, _, columns in modalities:
        refit = HistGradientBoostingClassifier(max_iter=15).fit(X[columns], y)
        proba = refit.predict_proba(X[columns])
        np.testing.assert_allclose(clf.sklearn_experts_[name].predict_proba(X[columns]), proba)
        product *= np.clip(proba, 1e-6, 1)
    np.testing.assert_allclose(clf.predict_proba(X),
                               product / product.sum(axis=1, keepdims=True), atol=1e-6)


def test_tree_experts_beside_neural_fusion_and_as_fusion(two_modalities):
    X, y, modalities = two_modalities
    neural_fusion = I2M2Classifier(_trees(modalities), **FAST).fit(X, y)
    assert set(neural_fusion.expert_proba(X)) == {"m0", "m1", "fusion"}
    assert set(neural_fusion.sklearn_experts_) == {"m0", "m1"}
    assert len(neural_fusion.history_) == FAST["max_epochs"]
    tree_fusion = I2M2Classifier(modalities, fusion=HistGradientBoostingClassifier(max_iter=15),
                                 **FAST).fit(X, y)
    assert set(tree_fusion.sklearn_experts_) == {"fusion"}
    features = np.hstack(list(tree_fusion.splitter_.transform(X).values()))
    np.testing.assert_allclose(tree_fusion.expert_proba(X)["fusion"],
                               np.clip(tree_fusion.sklearn_experts_["fusion"]
                                       .predict_proba(features), 1e-6, 1) /
                               np.clip(tree_fusion.sklearn_experts_["fusion"]
                                       .predict_proba(features), 1e-6, 1).sum(1, keepdims=True),
                               atol=1e-6)


def test_nested_parameters_reach_the_classifier(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(_trees(modalities), dependencies="intra", **FAST)
    assert clf.get_params()["m0__max_iter"] == 15
    clf.set_params(m0__max_iter=3).fit(X, y)
    assert clf.sklearn_experts_["m0"].n_iter_ == 3
    search = GridSearchCV(clf, {"m1__max_leaf_nodes": [3, 7]}, cv=2).fit(X, y)
    assert search.best_estimator_.sklearn_experts_["m1"].max_leaf_nodes in (3, 7)


def test_wrapper_spelling_and_its_parameters(two_modalities):
    X, y, modalities = two_modalities
    spec = [("m0", SklearnExpert(LogisticRegression(), cv=3, encoder=MLPExpert(4)),
             modalities[0][2]), modalities[1]]
    clf = I2M2Classifier(spec, **FAST).fit(X, y)
    assert clf.get_params()["m0__cv"] == 3
    assert isinstance(clf.sklearn_experts_["m0"], LogisticRegression)
    assert clf.net_.module_.fusion.encoders["m0"][0].out_features == 4


def test_a_fold_missing_a_class_still_aligns_classes(two_modalities):
    X, _, modalities = two_modalities
    y = np.array(["a", "b"] * 59 + ["c", "c"])  # "c" is absent from some folds
    with pytest.warns(UserWarning, match="least populated class"):
        clf = I2M2Classifier(_trees(modalities), **FAST).fit(X, y)
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert np.isfinite(clf.expert_proba(X)["m0"]).all()


def test_parallel_cross_fitting_gives_the_same_model(two_modalities):
    X, y, modalities = two_modalities
    serial = [(n, SklearnExpert(HistGradientBoostingClassifier(max_iter=5)), c)
              for n, _, c in modalities]
    parallel = [(n, SklearnExpert(HistGradientBoostingClassifier(max_iter=5), n_jobs=2), c)
                for n, _, c in modalities]
    first = I2M2Classifier(serial, **FAST).fit(X, y).predict_proba(X)
    second = I2M2Classifier(parallel, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)


def test_rows_missing_the_modality_skip_its_fixed_expert(two_modalities):
    X, y, modalities = two_modalities
    X = X.copy()
    X.loc[X.index[:10], modalities[0][2]] = np.nan
    clf = I2M2Classifier(_trees(modalities), **FAST).fit(X, y)
    assert np.isnan(clf.expert_proba(X)["m0"][:10]).all()
    assert np.isfinite(clf.predict_proba(X)).all()


def test_pickle_and_save_load_carry_the_fitted_classifiers(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(_trees(modalities), fusion=LogisticRegression(), **FAST).fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    buffer = io.BytesIO()
    sk_i2m2.save(clf, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(sk_i2m2.load(buffer).predict_proba(X), expected)


def test_learnt_expert_weights_downweigh_a_useless_expert(two_modalities):
    X, y, modalities = two_modalities
    X = X.assign(noise=np.random.default_rng(1).normal(size=len(X)))
    spec = [(name, HistGradientBoostingClassifier(max_iter=15), columns)
            for name, _, columns in modalities] + [
        ("noise", KNeighborsClassifier(3), ["noise"])]
    plain = I2M2Classifier(spec, dependencies="intra", **FAST).fit(X, y)
    weighted = I2M2Classifier(spec, dependencies="intra", expert_weights="learn",
                              **FAST).fit(X, y)
    assert plain.net_.module_.expert_weights is None
    weights = dict(zip(weighted.net_.module_.expert_names,
                       weighted.net_.module_.expert_weights.tolist(), strict=True))
    assert weights["noise"] < 0.5 * min(weights["m0"], weights["m1"])
    # The weighted product is the logistic combination of the experts' log-probabilities.
    module = weighted.net_.module_
    log_q = np.stack([np.log(weighted.expert_proba(X)[name]) for name in module.expert_names])
    logits = np.tensordot(module.expert_weights.numpy(), log_q, axes=1)
    assert module.class_bias is None
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(weighted.predict_proba(X),
                               expected / expected.sum(1, keepdims=True), atol=1e-5)
    buffer = io.BytesIO()
    sk_i2m2.save(weighted, buffer)
    buffer.seek(0)
    knn_internals = ["sklearn.metrics._dist_metrics.EuclideanDistance64",
                     "sklearn.neighbors._kd_tree.KDTree"]
    np.testing.assert_allclose(sk_i2m2.load(buffer, trusted=knn_internals).predict_proba(X),
                               weighted.predict_proba(X))


def test_an_array_at_predict_warns_once_with_fixed_experts(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(_trees(modalities), **FAST).fit(X, y)
    with pytest.warns(UserWarning, match="does not have valid feature names") as record:
        proba = clf.predict_proba(X.to_numpy())
    assert len(record) == 1
    np.testing.assert_allclose(proba, clf.predict_proba(X))


class _ThreadRecordingLogisticRegression(LogisticRegression):
    """Records the thread each fit runs in."""

    threads = []

    def fit(self, X, y, sample_weight=None):
        import threading

        self.threads.append(threading.current_thread().name)
        return super().fit(X, y, sample_weight=sample_weight)


def test_cross_fitting_runs_on_the_joblib_backend_in_force():
    # The folds go through joblib, so a search's backend (Dask, Ray, threads) reaches
    # them: here joblib's threading backend runs them off the main thread.
    import joblib

    from sk_i2m2.datasets import make_multimodal_classification
    from sk_i2m2.experts import SklearnExpert

    X, y, modalities = make_multimodal_classification(n_samples=90, random_state=0)
    (name, _, columns), rest = modalities[0], modalities[1:]
    expert = SklearnExpert(_ThreadRecordingLogisticRegression(), cv=3)
    _ThreadRecordingLogisticRegression.threads.clear()
    with joblib.parallel_config(backend="threading", n_jobs=2):
        I2M2Classifier([(name, expert, columns), *rest], max_epochs=1, n_bags=1,
                       random_state=0).fit(X, y)
    fold_threads = _ThreadRecordingLogisticRegression.threads[:3]  # then the refit
    assert len(_ThreadRecordingLogisticRegression.threads) == 4
    assert all(thread != "MainThread" for thread in fold_threads)


@pytest.mark.parametrize("expert, message", [
    (Ridge(), "not a scikit-learn classifier"),
    (SklearnExpert(LinearSVC()), "has no predict_proba"),
])
def test_an_expert_that_gives_no_probabilities_is_refused(two_modalities, expert, message):
    X, y, modalities = two_modalities
    spec = [modalities[0], ("m1", expert, modalities[1][2])]
    clf = I2M2Classifier(spec, **FAST)
    with pytest.raises(TypeError, match=f"Expert 'm1'.*{message}"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_a_pipeline_expert_takes_sample_weight_through_its_last_step(two_modalities):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, modalities = two_modalities
    spec = [(modalities[0][0], make_pipeline(StandardScaler(), LogisticRegression()),
             modalities[0][2]), modalities[1]]
    weights = np.where(y == y[0], 5.0, 1.0)
    clf = I2M2Classifier(spec, **FAST).fit(X, y, sample_weight=weights)
    unweighted = I2M2Classifier(spec, **FAST).fit(X, y)
    coef = clf.sklearn_experts_["m0"][-1].coef_
    assert not np.allclose(coef, unweighted.sklearn_experts_["m0"][-1].coef_)
