"""PretrainedExpert: named MONAI backbones or user modules, frozen features or fine-tuned."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from sk_i2m2 import I2M2Classifier, load, save
from sk_i2m2.experts import MLPExpert, PretrainedExpert

SETTINGS = {"max_epochs": 2, "batch_size": 16, "n_bags": 1, "calibrate": None,
            "random_state": 0}
N = 40
PIXELS = [f"px{i}" for i in range(256)]


class CountingBackbone(nn.Module):
    """A 3-channel backbone that counts the images it sees (the zero probe aside).

    The counts are class attributes: the expert works on copies of the module.
    """

    images = 0
    channels = set()

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        CountingBackbone.images += int((x.flatten(1).abs().sum(dim=1) > 0).sum())
        CountingBackbone.channels.add(x.shape[1])
        return self.pool(torch.relu(self.conv(x))).flatten(1)

    @classmethod
    def reset(cls):
        cls.images, cls.channels = 0, set()


@pytest.fixture(scope="module")
def data():
    """Grey 16x16 images whose brightness ramp tells the class, and a small table."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], N // 2)
    ramp = np.linspace(-1, 1, 16)[None, None, :]
    images = rng.normal(size=(N, 16, 16)) + (2 * y[:, None, None] - 1) * ramp
    X = pd.DataFrame(images.reshape(N, -1), columns=PIXELS)
    X["age"] = rng.normal(size=N) + y
    X["bmi"] = rng.normal(size=N)
    return X, y


def classifier(scan, **settings):
    return I2M2Classifier(
        [("scan", scan, PIXELS), ("clinical", MLPExpert(hidden_units=(8,)), ["age", "bmi"])],
        **{**SETTINGS, **settings})


def resnet10_2d(**kwargs):
    """MONAI's 2-D resnet10 in the layout PretrainedExpert gives named 2-D ResNets."""
    from monai.networks.nets import resnet10

    return resnet10(spatial_dims=2, n_input_channels=1, conv1_t_stride=2,
                    shortcut_type="B", bias_downsample=False, **kwargs)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A state_dict of the whole classifier, its ``fc`` head included."""
    torch.manual_seed(1)
    state = resnet10_2d(num_classes=5).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet10.pt"
    torch.save(state, path)
    return path, {key: value for key, value in state.items() if not key.startswith("fc.")}


def assert_state_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(np.asarray(actual[key]), value.numpy(), err_msg=key)


# --------------------------------------------------------------------------- frozen features


@pytest.mark.parametrize("n_bags", [1, 2])
def test_frozen_features_are_computed_once_per_image_per_fit(data, n_bags):
    X, y = data
    CountingBackbone.reset()
    clf = classifier(PretrainedExpert(CountingBackbone(), (1, 16, 16)), n_bags=n_bags)
    clf.fit(X, y)
    assert CountingBackbone.images == N  # whatever the epochs and ensemble members
    assert clf.n_bags_ == n_bags
    assert clf.splitter_.sample_shapes_["scan"] == (4,)
    assert CountingBackbone.channels == {3}  # grey images repeated to 3 channels
    clf.predict_proba(X.iloc[:7])
    assert CountingBackbone.images == N + 7


@pytest.mark.parametrize("source", ["pixels", "files"])
def test_rows_missing_the_scan_get_no_features(data, source, tmp_path):
    X, y = data
    lacking = np.array([3, 10, 21])
    if source == "pixels":
        X = X.copy()
        X.loc[lacking, PIXELS] = np.nan
        scan = PretrainedExpert(CountingBackbone(), (1, 16, 16))
        columns = PIXELS
    else:
        paths = []
        for row, pixels in enumerate(X[PIXELS].to_numpy()):
            paths.append(None if row in lacking else str(tmp_path / f"{row}.npy"))
            if paths[-1]:
                np.save(paths[-1], pixels.reshape(16, 16).astype(np.float32))
        X = X.assign(scan=paths)
        scan = PretrainedExpert(CountingBackbone(), (1, 16, 16), loader="auto",
                                feature_batch_size=8)
        columns = "scan"
    CountingBackbone.reset()
    clf = I2M2Classifier([("scan", scan, columns),
                          ("clinical", MLPExpert(hidden_units=(8,)), ["age", "bmi"])],
                         **SETTINGS).fit(X, y)
    assert CountingBackbone.images == N - len(lacking)
    features = clf.splitter_.transform(X)["scan"]
    assert np.isnan(features).all(axis=1).tolist() == np.isin(np.arange(N), lacking).tolist()
    assert np.isfinite(clf.predict_proba(X)).all()


# --------------------------------------------------------------------------- weights


def test_weights_are_loaded_from_a_state_dict_file(data, weights_file):
    X, y = data
    path, state = weights_file
    clf = classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path)).fit(X, y)
    assert_state_equal(clf.splitter_.preprocessors_["scan"].state_, state)


def test_a_trainable_backbone_learns_and_a_frozen_one_does_not(data, weights_file):
    X, y = data
    path, state = weights_file
    trained = classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path,
                                          trainable=True)).fit(X, y)
    module = trained.net_.module_
    for backbone in (module.unimodal["scan"].backbone, module.fusion.encoders["scan"].backbone):
        assert not torch.equal(backbone.network.conv1.weight, state["conv1.weight"])
    # Frozen, with augmented images: the backbone runs inside the network, untouched,
    # its BatchNorm statistics included.
    frozen = classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path,
                                         augment=lambda images: images)).fit(X, y)
    assert frozen.splitter_.sample_shapes_["scan"] == (1, 16, 16)
    backbone = frozen.net_.module_.unimodal["scan"].backbone
    assert_state_equal({key: value.numpy() for key, value
                        in backbone.network.state_dict().items()}, state)


def test_a_fine_tuned_backbone_learns_at_its_fraction_of_the_learning_rate(data):
    X, y = data
    clf = classifier(PretrainedExpert("resnet10", (1, 16, 16), trainable=True,
                                      backbone_lr_scale=0.1), lr=0.01).fit(X, y)
    module = clf.net_.module_
    backbones = {id(parameter) for encoder in (module.unimodal["scan"],
                                               module.fusion.encoders["scan"])
                 for parameter in encoder.backbone.parameters()}
    groups = clf.net_.optimizer_.param_groups
    assert sorted(group["lr"] for group in groups) == pytest.approx([0.001, 0.01])
    for group in groups:
        in_backbone = {id(parameter) in backbones for parameter in group["params"]}
        assert in_backbone == {group["lr"] == pytest.approx(0.001)}
    assert sum(len(group["params"]) for group in groups) == len(list(module.parameters()))


def test_a_missing_weights_file_is_a_clear_error(data, tmp_path):
    X, y = data
    path = tmp_path / "nowhere.pt"
    for trainable in (False, True):
        scan = PretrainedExpert("resnet10", (1, 16, 16), weights=path, trainable=trainable)
        with pytest.raises(FileNotFoundError, match="nowhere.pt.*does not exist"):
            classifier(scan).fit(X, y)


def test_a_state_dict_that_does_not_fit_names_the_keys(data, tmp_path):
    X, y = data
    path = tmp_path / "other.pt"
    torch.save(nn.Sequential(nn.Conv2d(1, 64, 7)).state_dict(), path)
    with pytest.raises(ValueError, match=r"do not fit the backbone.*missing keys.*bn1\.weight"
                       r".*unexpected keys.*'0\.weight'"):
        classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path)).fit(X, y)
    # The same architecture with other input channels: the shapes are named.
    torch.save(resnet10_2d(feed_forward=False).state_dict(), path)
    with pytest.raises(ValueError, match=r"conv1\.weight: \(64, 1, 7, 7\) given, "
                       r"\(64, 3, 7, 7\) expected.*set in_channels"):
        classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path, in_channels=3,
                                    trainable=True)).fit(X, y)


def test_pretrained_weights_offline_say_the_download_failed(data):
    X, y = data
    volumes = pd.DataFrame(np.random.default_rng(0).normal(size=(N, 8 * 16 * 16)))
    scan = PretrainedExpert("resnet10", (1, 8, 16, 16), weights="pretrained")
    clf = I2M2Classifier([("scan", scan, list(volumes.columns))], **SETTINGS)
    try:
        clf.fit(volumes, y)
    except RuntimeError as error:  # no network access, or no download client
        assert "downloading the pretrained weights of 'resnet10' failed" in str(error)
        assert "weights='path/to/weights.pth'" in str(error)
    else:  # with network access, MedicalNet's weights were loaded
        assert clf.splitter_.preprocessors_["scan"].n_features_out_ == 512
    # Weights MONAI does not have fail before any download.
    with pytest.raises(ValueError, match="3-D ResNets only"):
        classifier(PretrainedExpert("resnet10", (1, 16, 16), weights="pretrained")).fit(X, y)
    with pytest.raises(ValueError, match="a module keeps its own weights"):
        classifier(PretrainedExpert(CountingBackbone(), (1, 16, 16),
                                    weights="pretrained")).fit(X, y)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("backbone, shape, zscore", [
    ("resnet10", (1, 16, 16), False),
    ("resnet10", (1, 8, 16, 16), True),  # MedicalNet's normalisation of each volume
    ("densenet121", (3, 32, 32), False),
])
def test_named_backbones_build_in_2d_and_3d(backbone, shape, zscore):
    expert = PretrainedExpert(backbone, shape, trainable=True)
    module = expert.build(expert.sample_shape(int(np.prod(shape)), "scan"), 3)
    assert module(torch.randn(2, *shape)).shape == (2, 3)
    assert module.backbone.zscore is zscore


def test_normalize_and_channel_repetition_reach_the_backbone():
    seen = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            seen.append(x)
            return x.mean(dim=(2, 3))

    expert = PretrainedExpert(Recorder(), (1, 4, 4), trainable=True,
                              normalize=((1.0, 2.0, 3.0), (2.0, 2.0, 2.0)))
    module = expert.build((1, 4, 4), 2)
    seen.clear()
    module(torch.ones(1, 1, 4, 4))
    np.testing.assert_allclose(seen[0][0, :, 0, 0].numpy(), [0.0, -0.5, -1.0])


def test_images_with_other_channels_than_the_backbone_are_an_error(data):
    X, y = data
    two = pd.concat([X[PIXELS], X[PIXELS].add_suffix("b")], axis=1).assign(age=X["age"])
    scan = PretrainedExpert(CountingBackbone(), (2, 16, 16))
    clf = I2M2Classifier([("scan", scan, list(two.columns[:-1]))], **SETTINGS)
    with pytest.raises(ValueError, match="takes 3 input channel.*images have 2"):
        clf.fit(two, y)
    with pytest.raises(ValueError, match="'backbone' parameter of PretrainedExpert"):
        classifier(PretrainedExpert("resnet9", (1, 16, 16))).fit(X, y)


# --------------------------------------------------------------------------- scikit-learn


@pytest.mark.parametrize("trainable", [False, True])
def test_save_and_load_give_identical_probabilities(data, weights_file, tmp_path, trainable):
    X, y = data
    path, _ = weights_file
    # The path as a pathlib.Path: a model file holds it as a trusted type.
    clf = classifier(PretrainedExpert("resnet10", (1, 16, 16), weights=path,
                                      trainable=trainable, backbone_lr_scale=0.1)).fit(X, y)
    model = tmp_path / "model.zip"
    save(clf, model)
    path.rename(path.with_suffix(".away"))  # the loaded model needs no weights file
    try:
        loaded = load(model)
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    finally:
        path.with_suffix(".away").rename(path)


def test_a_backbone_given_as_a_class_saves_by_reference(data, tmp_path):
    X, y = data
    clf = classifier(PretrainedExpert(CountingBackbone, (1, 16, 16))).fit(X, y)
    save(clf, tmp_path / "model.zip")
    loaded = load(tmp_path / "model.zip", trusted=[f"{__name__}.CountingBackbone"])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_backbone_given_as_a_module_instance_cannot_be_saved_and_says_why(data, tmp_path):
    X, y = data
    clf = classifier(PretrainedExpert(CountingBackbone(), (1, 16, 16))).fit(X, y)
    with pytest.raises(TypeError, match="'scan__backbone' is a torch module instance.*class"):
        save(clf, tmp_path / "model.zip")
    assert not (tmp_path / "model.zip").exists()


def test_clone_get_params_and_grid_search(data):
    X, y = data
    expert = PretrainedExpert(CountingBackbone(), (1, 16, 16))
    copied = clone(expert)
    assert copied.backbone is not expert.backbone
    assert isinstance(copied.backbone, CountingBackbone)
    clf = classifier(expert)
    assert clf.get_params()["scan__hidden_units"] == (64,)
    search = GridSearchCV(clf, {"scan__hidden_units": [(4,), (8,)]}, cv=2).fit(X, y)
    assert search.best_params_["scan__hidden_units"] in [(4,), (8,)]


def test_importing_the_package_does_not_import_monai():
    code = ("import sys, sk_i2m2, sk_i2m2.experts; "
            "sk_i2m2.experts.PretrainedExpert('resnet10', (1, 8, 8)); "
            "assert 'monai' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_monai_named_backbones_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "monai", None)
    monkeypatch.setitem(sys.modules, "monai.networks", None)
    expert = PretrainedExpert("resnet10", (1, 16, 16), trainable=True)
    with pytest.raises(ImportError, match=r"pip install 'sk-i2m2\[imaging\]'"):
        expert.build((1, 16, 16), 2)
