"""Model files that load without running code from the file."""

import importlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2._persistence import FORMAT_VERSION, UntrustedModelError, package_types
from sk_i2m2.experts import CNNExpert, MLPExpert, TorchExpert

from .conftest import FAST


class TinyNet(nn.Module):
    """A user module: saved by reference, so loading asks to trust it by name."""

    def __init__(self, n_outputs, input_shape, hidden=4):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_shape[0], hidden), nn.ReLU(),
                                    nn.Linear(hidden, n_outputs))

    def forward(self, x):
        return self.layers(x)


def _round_trip(model, **load_kwargs):
    buffer = io.BytesIO()
    sk_i2m2.save(model, buffer)
    buffer.seek(0)
    return sk_i2m2.load(buffer, **load_kwargs), buffer.getvalue()


def test_round_trip_gives_identical_predictions(two_modalities):
    X, y, modalities = two_modalities
    X = X.assign(site=np.where(np.arange(len(X)) % 3, "north", "south"))
    spec = [("m0", MLPExpert(hidden_units=8), [*modalities[0][2], "site"]),
            ("m1", CNNExpert(input_shape=(1, 2, 2), channels=(3,), hidden_units=4),
             modalities[1][2])]
    model = I2M2Classifier(spec, pretrain_epochs=1, class_weight="balanced",
                           **FAST).fit(X, y)
    loaded, _ = _round_trip(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert list(loaded.classes_) == list(model.classes_)
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert loaded.get_params()["m0__hidden_units"] == 8
    assert loaded.history_[:, "train_loss"] == model.history_[:, "train_loss"]
    for name, proba in model.expert_proba(X).items():
        np.testing.assert_array_equal(loaded.expert_proba(X)[name], proba)


def test_a_loaded_model_can_be_refitted(two_modalities):
    X, y, modalities = two_modalities
    loaded, _ = _round_trip(I2M2Classifier(modalities, **FAST).fit(X, y))
    fresh = I2M2Classifier(modalities, **FAST).fit(X, y)
    np.testing.assert_array_equal(loaded.fit(X, y).predict_proba(X), fresh.predict_proba(X))


def test_user_modules_must_be_trusted_by_name(two_modalities):
    X, y, modalities = two_modalities
    spec = [("m0", TorchExpert(TinyNet, hidden=3), modalities[0][2]), modalities[1]]
    model = I2M2Classifier(spec, **FAST).fit(X, y)
    buffer = io.BytesIO()
    sk_i2m2.save(model, buffer)
    buffer.seek(0)
    with pytest.raises(UntrustedModelError, match=r"not trusted: \['tests.test_persistence"):
        sk_i2m2.load(buffer)
    buffer.seek(0)
    loaded = sk_i2m2.load(buffer, trusted=["tests.test_persistence.TinyNet"])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def _rewrite(data, member, new_content, manifest_too=False):
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == member:
                content = new_content
            if manifest_too and name == "manifest.json":
                manifest = json.loads(content)
                manifest["sha256"][member] = __import__("hashlib").sha256(
                    new_content).hexdigest()
                content = json.dumps(manifest).encode()
            target.writestr(name, content)
    out.seek(0)
    return out


class Boom:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_tampered_member_is_refused(two_modalities, capsys):
    X, y, modalities = two_modalities
    _, data = _round_trip(I2M2Classifier(modalities, **FAST).fit(X, y))
    evil = pickle.dumps(Boom())
    with pytest.raises(UntrustedModelError, match="does not match its checksum"):
        sk_i2m2.load(_rewrite(data, "weights.pt", evil))
    # Even with a forged checksum, the weights are read as tensors only.
    with pytest.raises(pickle.UnpicklingError):
        sk_i2m2.load(_rewrite(data, "weights.pt", evil, manifest_too=True))
    assert "code ran" not in capsys.readouterr().out


def test_foreign_files_are_refused(tmp_path, two_modalities):
    X, y, modalities = two_modalities
    model = I2M2Classifier(modalities, **FAST).fit(X, y)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    with pytest.raises(UntrustedModelError, match="not a zip archive"):
        sk_i2m2.load(pickled)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("model.pkl", pickle.dumps(model))
    with pytest.raises(UntrustedModelError, match="not an sk_i2m2 model file"):
        sk_i2m2.load(other)


def test_a_file_of_an_older_format_version_is_refused(two_modalities):
    # Version 3 files name the package's types by their paths before the experts and
    # imaging packages: the version refuses them before any type is read.
    X, y, modalities = two_modalities
    _, data = _round_trip(I2M2Classifier(modalities, **FAST).fit(X, y))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    manifest["format_version"] = 3
    with pytest.raises(UntrustedModelError,
                       match=f"has format version 3; .* reads version {FORMAT_VERSION}"):
        sk_i2m2.load(_rewrite(data, "manifest.json", json.dumps(manifest).encode()))


def test_package_types_name_where_each_type_is_defined():
    # The names a model file records and load trusts: each must import as itself.
    for name in package_types():
        module, _, qualname = name.rpartition(".")
        assert getattr(importlib.import_module(module), qualname).__module__ == module, name


def test_weights_are_saved_on_the_cpu(two_modalities):
    X, y, modalities = two_modalities
    model = I2M2Classifier(modalities, **FAST).fit(X, y)
    _, data = _round_trip(model)
    weights = torch.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("weights.pt")),
                         weights_only=True)
    assert all(tensor.device.type == "cpu" for tensor in weights.values())


def test_save_refuses_unfitted_models(tmp_path):
    with pytest.raises(Exception, match="not fitted"):
        sk_i2m2.save(I2M2Classifier(), tmp_path / "m.zip")
