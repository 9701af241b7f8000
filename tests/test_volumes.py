"""The 3D expert: volumes as pixel columns and as NIfTI files, end to end."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_volume_scans
from sk_i2m2.experts import CNNExpert, MLPExpert

from .conftest import FAST

SHAPE = (1, 6, 8, 8)
VOXELS = [f"v{i}" for i in range(int(np.prod(SHAPE)))]


@pytest.fixture(scope="module")
def volumes():
    """Volumes whose label is a bright block in one corner, as voxel columns."""
    rng = np.random.RandomState(0)
    n = 120
    y = rng.randint(0, 2, n)
    values = rng.normal(size=(n, *SHAPE))
    values[y == 1, :, :3, :4, :4] += 1.0
    X = pd.DataFrame(values.reshape(n, -1), columns=VOXELS)
    X["age"] = rng.normal(size=n)
    return X, y


def _spec(**expert_params):
    expert = CNNExpert(input_shape=SHAPE, hidden_units=(8,), **expert_params)
    return [("mri", expert, VOXELS), ("clinical", MLPExpert(hidden_units=(4,)), ["age"])]


def test_four_axes_build_a_3d_network_with_the_auto_widths_and_stride():
    module = CNNExpert(input_shape=(1, 16, 16, 16)).build((1, 16, 16, 16), 3)
    convolutions = [layer for layer in module.modules() if isinstance(layer, nn.Conv3d)]
    assert [conv.out_channels for conv in convolutions] == [8, 16]
    assert convolutions[0].stride == (2, 2, 2) and convolutions[1].stride == (1, 1, 1)
    assert module(torch.zeros(5, 16**3)).shape == (5, 3)
    image = CNNExpert(input_shape=(1, 16, 16)).build((1, 16, 16), 3)
    assert [conv.out_channels for conv in image.modules() if isinstance(conv, nn.Conv2d)] \
        == [16, 32]
    assert not any(isinstance(layer, nn.Conv3d) for layer in image.modules())


def test_given_widths_and_stride_are_kept_for_volumes():
    module = CNNExpert(input_shape=SHAPE, channels=(4, 6, 8), stride=1).build(SHAPE, 2)
    convolutions = [layer for layer in module.modules() if isinstance(layer, nn.Conv3d)]
    assert [conv.out_channels for conv in convolutions] == [4, 6, 8]
    assert all(conv.stride == (1, 1, 1) for conv in convolutions)


def test_an_input_shape_of_five_axes_is_refused_naming_the_modality(volumes):
    X, y = volumes
    spec = [("mri", CNNExpert(input_shape=(1, 1, 6, 8, 8)), VOXELS)]
    with pytest.raises(ValueError, match="'mri'.*3 or 4 axes"):
        I2M2Classifier(spec, **FAST).fit(X, y)


def test_a_3d_expert_learns_from_voxel_columns_and_explains(volumes):
    X, y = volumes
    model = I2M2Classifier(_spec(), **{**FAST, "max_epochs": 30}).fit(X, y)
    assert model.score(X, y) > 0.8
    probabilities = model.expert_proba(X)
    assert set(probabilities) == {"mri", "clinical", "fusion"}
    assert probabilities["mri"].shape == (len(y), 2)
    explanation = model.explain(X.iloc[:5])
    assert set(explanation["expert"]) == {"mri", "clinical", "fusion"}


def test_a_model_with_a_3d_expert_saves_and_loads(volumes, tmp_path):
    X, y = volumes
    model = I2M2Classifier(_spec(augment="light"), **FAST).fit(X, y)
    sk_i2m2.save(model, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)


def test_rows_lacking_the_volume_predict_from_the_rest(volumes):
    X, y = volumes
    X = X.copy()
    X.loc[X.index[:10], VOXELS] = np.nan
    model = I2M2Classifier(_spec(), **FAST).fit(X, y)
    mri = model.explain(X.iloc[:10]).query("expert == 'mri'")
    assert mri["log_proba"].isna().all() and (mri["contribution"] == 0).all()
    assert np.isfinite(model.predict_proba(X)).all()


# ------------------------------------------------------------------ from NIfTI files


def test_nifti_volumes_train_a_model_that_reads_them_after_loading(tmp_path):
    X, y, modalities = make_volume_scans(tmp_path / "scans", n_samples=48, size=12,
                                         random_state=0)
    model = I2M2Classifier(modalities, **FAST).fit(X, y)
    assert model.splitter_.sample_shapes_["scan"] == (1, 12, 12, 12)
    sk_i2m2.save(model, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)


def test_make_volume_scans_writes_the_lesion_where_the_reader_finds_it(tmp_path):
    from sk_i2m2.imaging import read_image

    X, y, modalities = make_volume_scans(tmp_path, n_samples=12, size=16, random_state=3)
    assert X.columns.tolist() == ["scan", "age", "sex"] and len(y) == 12
    assert modalities[0][1].input_shape == (1, 16, 16, 16)
    assert 0 < y.sum() < 12
    lesion_voxels = []
    for path in X["scan"]:
        volume = read_image(path).astype(float)
        assert volume.shape == (16, 16, 16)
        bright = volume > 550  # tissue 400, lesion 700, noise sd 60
        # One lesion: the bright voxels lie together, within the tissue's middle.
        centre = np.argwhere(bright).mean(axis=0)
        assert np.all(np.abs(centre - 8) < 6)
        lesion_voxels.append(bright.sum())
    lesion_voxels = np.array(lesion_voxels)
    # Large lesions (label 1) hold several times the voxels of small ones (near the
    # threshold the two overlap, by design).
    assert lesion_voxels[y == 1].mean() > 2 * lesion_voxels[y == 0].mean()


def test_the_inter_variant_needs_the_table_and_the_volume(tmp_path):
    X, y, _ = make_volume_scans(tmp_path, n_samples=200, size=8, dependency="inter",
                                random_state=0)
    # Age alone tells nothing about the label.
    assert abs(np.corrcoef(X["age"] > 0, y)[0, 1]) < 0.2
