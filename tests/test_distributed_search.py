"""Searches and cross-validation on a Dask cluster give the scores of a local run.

scikit-learn runs the fits of ``GridSearchCV``, ``cross_validate`` and
``cross_val_score`` through joblib; under ``joblib.parallel_config(backend="dask")``
they run on the workers of a ``dask.distributed`` cluster instead. Each fit is seeded
by ``random_state`` alone (torch's global random state is neither read nor changed),
and on the CPU, one torch thread per process, the same arithmetic in the same order
gives the same bits: the scores on two worker processes equal those of one local
process exactly, not approximately.
"""

import dask.distributed as distributed
import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate

import sk_i2m2
from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2.datasets import make_multimodal_classification, make_multimodal_regression

from .conftest import FAST, small_modalities

#: Columns of ``cv_results_`` that time the fits, and so differ from run to run.
TIMINGS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


@pytest.fixture(scope="module")
def client():
    # Worker processes are spawned with this process's sys.path: they import the
    # sk_i2m2 under test (checked below), installed or not.
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        assert set(client.run(lambda: sk_i2m2.__file__).values()) == {sk_i2m2.__file__}
        # A matrix product split over several threads may add up in another order: one
        # torch thread per worker, as in the local runs (the one_thread fixture).
        client.run(torch.set_num_threads, 1)
        assert set(client.run(torch.get_num_threads).values()) == {1}
        yield client


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    X, y, modalities = make_multimodal_classification(n_samples=120, n_features=4,
                                                      dependency="mixed", random_state=0)
    spec = small_modalities({name: cols for name, _, cols in modalities})
    return X, y, I2M2Classifier(spec, device="cpu", **FAST)


def _search(estimator, n_jobs):
    grid = {"dependencies": ["intra", "both"]}
    return GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs)


def test_grid_search_on_dask_equals_the_local_search(client, data, one_thread):
    X, y, estimator = data
    local = _search(estimator, n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = _search(estimator, n_jobs=-1).fit(X, y)

    assert set(local.cv_results_) == set(remote.cv_results_)
    for key, expected in local.cv_results_.items():
        if key in TIMINGS:
            continue
        if key == "params":
            assert remote.cv_results_[key] == expected
        else:
            np.testing.assert_array_equal(remote.cv_results_[key], expected, err_msg=key)
    assert remote.best_params_ == local.best_params_
    # The refitted best model runs in this process in both searches.
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_cross_validation_on_dask_equals_the_local_run(client, data, one_thread):
    X, y, estimator = data
    scoring = ["accuracy", "neg_log_loss"]
    local = cross_validate(estimator, X, y, cv=3, scoring=scoring, n_jobs=1)
    local_scores = cross_val_score(estimator, X, y, cv=3, n_jobs=1)
    with joblib.parallel_config(backend="dask"):
        remote = cross_validate(estimator, X, y, cv=3, scoring=scoring, n_jobs=-1)
        remote_scores = cross_val_score(estimator, X, y, cv=3, n_jobs=-1)

    for key in ("test_accuracy", "test_neg_log_loss"):
        np.testing.assert_array_equal(remote[key], local[key], err_msg=key)
    np.testing.assert_array_equal(remote_scores, local_scores)
    np.testing.assert_array_equal(local_scores, local["test_accuracy"])


def test_a_regressor_cross_validates_on_dask_as_locally(client, one_thread):
    X, y, modalities = make_multimodal_regression(n_samples=120, n_features=4,
                                                  random_state=0)
    spec = small_modalities({name: cols for name, _, cols in modalities})
    estimator = I2M2Regressor(spec, device="cpu", **FAST)
    scoring = ["r2", "neg_mean_squared_error"]
    local = cross_validate(estimator, X, y, cv=3, scoring=scoring, n_jobs=1)
    with joblib.parallel_config(backend="dask"):
        remote = cross_validate(estimator, X, y, cv=3, scoring=scoring, n_jobs=-1)
    for key in ("test_r2", "test_neg_mean_squared_error"):
        np.testing.assert_array_equal(remote[key], local[key], err_msg=key)
