"""Training on a CUDA device, and what comes back from it.

The tests marked ``cuda`` are skipped without a CUDA device (see ``conftest.py``);
``python -m benchmarks.gpu`` runs them on a GPU machine and records the outcome.
Whatever the device, predictions come back as numpy arrays on the CPU, and a model
trained on a GPU, pickled or saved, predicts on a machine without one.
"""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.serialization
from sklearn.model_selection import train_test_split

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2 import _net as net_module
from sk_i2m2.datasets import (
    make_digit_scans,
    make_multimodal_classification,
    make_volume_scans,
)

from .conftest import FAST, small_modalities

#: The directory sk_i2m2 is imported from, for subprocesses.
PACKAGE_ROOT = str(Path(sk_i2m2.__file__).resolve().parents[1])

#: Run in a subprocess that sees no GPU: load the model, predict, save the result.
LOAD_WITHOUT_CUDA = """
import pickle, sys
import numpy as np, pandas as pd, torch
import sk_i2m2

assert not torch.cuda.is_available()
how, model_path, X_path, out_path = sys.argv[1:]
if how == "pickle":
    with open(model_path, "rb") as file:
        model = pickle.load(file)
else:
    model = sk_i2m2.load(model_path)
assert torch.device(model.net_.device).type == "cpu"
assert all(p.device.type == "cpu" for p in model.net_.module_.parameters())
np.save(out_path, model.predict_proba(pd.read_pickle(X_path)))
"""


@pytest.fixture
def tabular():
    X, y, modalities = make_multimodal_classification(n_samples=120, n_features=4,
                                                      dependency="mixed", random_state=0)
    labels = np.array(["control", "impaired"])[y]
    return X, labels, small_modalities({name: cols for name, _, cols in modalities})


def _on_cuda(clf):
    return (torch.device(clf.net_.device).type == "cuda"
            and all(p.device.type == "cuda" for p in clf.net_.module_.parameters()))


@pytest.mark.cuda
def test_auto_device_trains_on_cuda_and_predicts_into_numpy(tabular):
    X, y, spec = tabular
    clf = I2M2Classifier(spec, **FAST).fit(X, y)  # device="auto"
    assert _on_cuda(clf)
    proba = clf.predict_proba(X)
    assert type(proba) is np.ndarray and proba.dtype == np.float64
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.cuda
def test_every_prediction_method_returns_cpu_numpy(tabular):
    X, y, spec = tabular
    clf = I2M2Classifier(spec, device="cuda", **FAST).fit(X, y)
    assert _on_cuda(clf)
    for method in ("predict_proba", "predict_log_proba"):
        values = getattr(clf, method)(X)
        assert type(values) is np.ndarray and values.dtype == np.float64, method
        assert np.isfinite(values).all(), method
    predicted = clf.predict(X)
    assert type(predicted) is np.ndarray and set(predicted) <= set(clf.classes_)
    experts = clf.expert_proba(X)
    assert sorted(experts) == ["fusion", "m0", "m1"]
    for name, values in experts.items():
        assert type(values) is np.ndarray and values.dtype == np.float64, name
        np.testing.assert_allclose(values.sum(axis=1), 1.0)
    table = clf.explain(X.head(5))
    assert isinstance(table, pd.DataFrame) and len(table) == 5 * 3
    for column in ("probability", "log_proba", "contribution", "share"):
        assert table[column].dtype == np.float64, column
    np.testing.assert_allclose(table.groupby("sample")["share"].sum(), 1.0)
    assert 0.0 <= clf.score(X, y) <= 1.0


@pytest.mark.cuda
@pytest.mark.parametrize("num_workers", [0, 2])
def test_images_from_files_reach_the_gpu_through_pinned_memory(tmp_path, monkeypatch,
                                                               num_workers):
    X, y, modalities = make_digit_scans(tmp_path, n_samples=96, size=16, random_state=0)
    loaders = []
    image_batches = net_module.image_batches

    def recording(*args, **kwargs):
        loaders.append(kwargs)
        return image_batches(*args, **kwargs)

    monkeypatch.setattr(net_module, "image_batches", recording)
    clf = I2M2Classifier(modalities, num_workers=num_workers, **FAST).fit(X, y)
    assert _on_cuda(clf)
    # The training loader (and the prediction one) pins its batches and reads with
    # the workers asked for.
    assert loaders
    assert all(kwargs["pin_memory"] for kwargs in loaders)
    assert {kwargs["num_workers"] for kwargs in loaders} == {num_workers}
    proba = clf.predict_proba(X)
    assert type(proba) is np.ndarray and proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.cuda
def test_nifti_volumes_train_on_the_gpu_with_augmentation(tmp_path):
    X, y, modalities = make_volume_scans(tmp_path, n_samples=64, size=16, random_state=0)
    modalities[0][1].set_params(augment="light")
    first = I2M2Classifier(modalities, **FAST).fit(X, y)
    assert _on_cuda(first)
    again = I2M2Classifier(modalities, **FAST).fit(X, y)
    # The augmentation draws on the CPU: the same seed gives the same model.
    np.testing.assert_allclose(first.predict_proba(X), again.predict_proba(X), atol=1e-5)


@pytest.mark.cuda
@pytest.mark.parametrize("how", ["pickle", "save"])
def test_a_model_trained_on_a_gpu_predicts_without_one(tabular, tmp_path, how):
    X, y, spec = tabular
    # calibrate="temperature" holds rows out: the fitted net keeps them as its
    # validation set, on the GPU, beside the weights.
    clf = I2M2Classifier(spec, **{**FAST, "calibrate": "temperature"}).fit(X, y)
    assert _on_cuda(clf)
    model_path, X_path, out_path = tmp_path / "model", tmp_path / "X.pkl", tmp_path / "p.npy"
    if how == "pickle":
        model_path.write_bytes(pickle.dumps(clf))
    else:
        sk_i2m2.save(clf, model_path)
    X.to_pickle(X_path)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                       os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_CUDA, how, str(model_path),
                          str(X_path), str(out_path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    np.testing.assert_allclose(np.load(out_path), clf.predict_proba(X), rtol=0, atol=1e-4)


@pytest.mark.cuda
def test_gpu_and_cpu_fits_with_one_seed_are_as_accurate():
    # Not the same bits: the GPU's kernels add up in another order, and the
    # difference grows over training. The same seed gives models of equal quality.
    X, y, modalities = make_multimodal_classification(n_samples=600, random_state=0)
    spec = small_modalities({name: cols for name, _, cols in modalities})
    train, test = train_test_split(np.arange(len(y)), test_size=200, stratify=y,
                                   random_state=0)
    predictions = {}
    for device in ("cpu", "cuda"):
        clf = I2M2Classifier(spec, device=device, **{**FAST, "max_epochs": 30})
        predictions[device] = clf.fit(X.iloc[train], y[train]).predict(X.iloc[test])
    accuracy = {device: np.mean(predicted == y[test])
                for device, predicted in predictions.items()}
    # About 0.9 on the CPU; other seeds there move it by 0.01 and agree on 92% of rows.
    assert min(accuracy.values()) >= 0.8
    assert abs(accuracy["cuda"] - accuracy["cpu"]) <= 0.05
    assert np.mean(predictions["cuda"] == predictions["cpu"]) >= 0.9


def test_a_gpu_pickle_unpickles_without_cuda_simulated(tabular, monkeypatch):
    """The pickle of a model trained on a GPU, as far as a CPU can make one.

    Every tensor that would live on the GPU (the module's weights and buffers, the
    optimizer's state) is written with the location a CUDA tensor has, and the net
    says it ran on CUDA; loading on this machine, which has no CUDA, must map them
    all to the CPU.
    """
    if torch.cuda.is_available():
        pytest.skip("simulates a machine without CUDA")
    X, y, spec = tabular
    clf = I2M2Classifier(spec, device="cpu", **{**FAST, "calibrate": "temperature"})
    expected = clf.fit(X, y).predict_proba(X)
    tensors = [*clf.net_.module_.state_dict().values(),
               *(value for state in clf.net_.optimizer_.state.values()
                 for value in state.values() if torch.is_tensor(value))]
    on_device = {tensor.untyped_storage().data_ptr() for tensor in tensors}
    location_tag = torch.serialization.location_tag

    def cuda_location(storage):
        return "cuda:0" if storage.data_ptr() in on_device else location_tag(storage)

    clf.net_.device = "cuda"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", cuda_location)
        pickled = pickle.dumps(clf)
    clf.net_.device = "cpu"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = pickle.loads(pickled)
    assert any("no CUDA devices" in str(warning.message) for warning in caught)
    assert torch.device(restored.net_.device).type == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


@pytest.mark.cuda
def test_a_regressor_trains_and_calibrates_on_cuda_and_loads_on_the_cpu(tmp_path):
    from sk_i2m2 import I2M2Regressor
    from sk_i2m2.datasets import make_multimodal_regression

    X, y, modalities = make_multimodal_regression(n_samples=120, n_features=4,
                                                  random_state=0)
    spec = small_modalities({name: cols for name, _, cols in modalities})
    # Two members: the variance scale needs every member's predictions, on the GPU.
    model = I2M2Regressor(spec, device="cuda", max_epochs=3, n_bags=2,
                          random_state=0).fit(X, y)
    assert _on_cuda(model) and model.calibrate_ == "variance"
    mean, std = model.predict(X, return_std=True)
    assert type(mean) is np.ndarray and mean.dtype == np.float64 and (std > 0).all()
    experts = model.expert_predict(X, return_std=True)
    assert all(type(values[0]) is np.ndarray for values in experts.values())
    sk_i2m2.save(model, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    np.testing.assert_allclose(loaded.predict(X, return_std=True), (mean, std), rtol=1e-4)
