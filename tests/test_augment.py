"""Training-time augmentation: what the presets do, and that only training sees it."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from sk_i2m2 import I2M2Classifier
from sk_i2m2.augment import PRESETS, RandomAffine, make_augmenter
from sk_i2m2.experts import CNNExpert, MLPExpert

from .conftest import FAST

# ------------------------------------------------------------------ the transforms

STILL = {"rotate": 0, "scale": 0, "translate": 0, "gain": 0, "offset": 0}


@pytest.mark.parametrize("shape", [(5, 2, 6, 7), (4, 1, 5, 6, 7)])
def test_an_affine_without_any_range_keeps_the_images(shape):
    images = torch.randn(shape)
    moved = RandomAffine(**STILL)(images, torch.Generator().manual_seed(0))
    torch.testing.assert_close(moved, images, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(40, 1, 5, 6), (40, 1, 4, 5, 6)])
def test_flips_mirror_each_image_along_some_of_its_axes(shape):
    images = torch.randn(shape)
    moved = RandomAffine(**STILL, flip=True)(images, torch.Generator().manual_seed(1))
    spatial = list(range(1, len(shape) - 1))
    seen = set()
    for image, result in zip(images, moved, strict=True):
        matches = [axes for axes in _subsets(spatial)
                   if torch.allclose(result, image.flip(axes) if axes else image, atol=1e-5)]
        assert len(matches) == 1, "each image is the original mirrored along some axes"
        seen.add(matches[0])
    assert len(seen) == 2 ** len(spatial), "every combination of mirrors is drawn"


def _subsets(axes):
    subsets = [()]
    for axis in axes:
        subsets += [subset + (axis,) for subset in subsets]
    return subsets


def test_intensity_jitter_is_a_gain_and_an_offset_per_image_and_channel():
    images = torch.ones(50, 2, 4, 4)
    moved = RandomAffine(**{**STILL, "gain": 0.2, "offset": 0.3})(
        images, torch.Generator().manual_seed(2))
    per_channel = moved.reshape(50, 2, -1)
    assert torch.allclose(per_channel, per_channel[..., :1].expand_as(per_channel))
    values = per_channel[..., 0]
    assert values.min() >= 1 - 0.2 - 0.3 - 1e-6 and values.max() <= 1 + 0.2 + 0.3 + 1e-6
    assert values.std() > 0.05  # a different draw per image and channel


def test_a_rotation_moves_a_bright_spot_and_keeps_the_image_size():
    images = torch.zeros(8, 1, 21, 21)
    images[:, :, 10, 16] = 1.0  # right of the centre
    moved = RandomAffine(**{**STILL, "rotate": 90})(images, torch.Generator().manual_seed(3))
    assert moved.shape == images.shape
    peaks = [divmod(int(image.argmax()), 21) for image in moved]
    radii = [np.hypot(row - 10, col - 10) for row, col in peaks]
    assert max(abs(radius - 6) for radius in radii) <= 1.5  # still 6 pixels from the centre
    assert len(set(peaks)) > 1  # a different angle per image


def test_the_same_generator_seed_gives_the_same_batch():
    images = torch.randn(6, 1, 8, 8, 8)
    first = PRESETS["flips"](images, torch.Generator().manual_seed(7))
    second = PRESETS["flips"](images, torch.Generator().manual_seed(7))
    third = PRESETS["flips"](images, torch.Generator().manual_seed(8))
    torch.testing.assert_close(first, second)
    assert not torch.allclose(first, third)


def test_rows_lacking_the_modality_stay_missing():
    augmenter = make_augmenter("light", (1, 6, 6), "scan")
    values = torch.randn(4, 36)
    values[1] = torch.nan
    out = augmenter(values, torch.Generator().manual_seed(0))
    assert out.shape == values.shape
    assert torch.isnan(out[1]).all() and torch.isfinite(out[[0, 2, 3]]).all()


def test_a_callable_returning_another_shape_names_the_modality():
    augmenter = make_augmenter(lambda batch: batch[:, :, :2], (1, 6, 6), "scan")
    with pytest.raises(ValueError, match="Modality 'scan'.*same|batch's shape"):
        augmenter(torch.randn(3, 36), torch.Generator())


# ------------------------------------------------------------------ inside a fit


@pytest.fixture
def scans():
    rng = np.random.RandomState(0)
    n = 96
    y = rng.randint(0, 2, n)
    pixels = rng.normal(size=(n, 1, 8, 8))
    pixels[y == 1, :, 2:5, 2:5] += 1.5
    X = pd.DataFrame(pixels.reshape(n, -1), columns=[f"px{i}" for i in range(64)])
    X["age"] = rng.normal(size=n)
    return X, y


def _model(augment, **params):
    return I2M2Classifier(
        [("scan", CNNExpert(input_shape=(1, 8, 8), channels=(4,), hidden_units=(8,),
                            augment=augment), [f"px{i}" for i in range(64)]),
         ("clinical", MLPExpert(hidden_units=(4,)), ["age"])],
        **{**FAST, **params})


class _Recorder:
    """An augment callable that counts the batches it sees and perturbs them."""

    def __init__(self):
        self.batches = []

    def __call__(self, batch):
        self.batches.append(tuple(batch.shape))
        return batch + 0.1 * torch.randn_like(batch)


def test_augmentation_sees_training_batches_only(scans):
    X, y = scans
    recorder = _Recorder()
    # Early stopping validates every epoch, and calibrate fits a temperature on
    # held-out rows: neither may see augmented images.
    model = _model(recorder, early_stopping=True, calibrate="temperature",
                   n_iter_no_change=100).fit(X, y)
    steps = sum(epoch["train_batch_count"] for epoch in model.history_)
    assert len(recorder.batches) == steps
    n_train = sum(epoch_batch["train_batch_size"] for epoch_batch in model.history_[0, "batches"]
                  if "train_batch_size" in epoch_batch)
    assert sum(shape[0] for shape in recorder.batches[:model.history_[0, "train_batch_count"]]) \
        == n_train
    assert all(shape[1:] == (1, 8, 8) for shape in recorder.batches)
    model.predict_proba(X)
    model.explain(X)
    assert len(recorder.batches) == steps  # prediction and explanations: none


@pytest.mark.parametrize("augment", ["light", "flips"])
def test_a_seeded_fit_with_augmentation_is_repeatable(scans, augment):
    X, y = scans
    first = _model(augment).fit(X, y).predict_proba(X)
    again = _model(augment).fit(X, y).predict_proba(X)
    other_seed = _model(augment, random_state=1).fit(X, y).predict_proba(X)
    without = _model(None).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other_seed)
    assert not np.allclose(first, without)


def test_augmentation_leaves_torch_global_random_state_alone(scans):
    X, y = scans
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _model("light").fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_augment_is_a_nested_parameter_and_is_validated(scans):
    X, y = scans
    model = _model(None)
    assert model.get_params()["scan__augment"] is None
    clone(model).set_params(scan__augment="flips").fit(X, y)
    with pytest.raises(ValueError, match="augment"):
        clone(model).set_params(scan__augment="strong").fit(X, y)
