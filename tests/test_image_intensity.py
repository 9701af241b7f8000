"""Intensity of images read from files: per-dataset standardisation (the default).

``ImageLoader(intensity="dataset")`` keeps each image in its native units and the
expert's ``ImageFiles`` standardises every channel with one mean and one standard
deviation fitted over all training images at ``fit``, streamed one image at a time.
Every file is written by the test itself, so each expected value is known exactly.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import sk_i2m2.imaging._files as lazy
from sk_i2m2 import I2M2Classifier, load, save
from sk_i2m2.experts import ChannelScaler, CNNExpert
from sk_i2m2.imaging import ImageLoader
from sk_i2m2.imaging._files import ImageFiles

SETTINGS = {"max_epochs": 2, "batch_size": 16, "random_state": 0, "n_bags": 1,
            "calibrate": None}


def save_npy(folder, arrays, prefix="img"):
    paths = []
    for i, array in enumerate(arrays):
        paths.append(str(folder / f"{prefix}{i}.npy"))
        np.save(paths[-1], array)
    return paths


def fit_files(paths, shape, index=None, **loader_params):
    X = pd.DataFrame({"scan": paths}, index=index)
    return ImageFiles(ImageLoader(**loader_params), shape, "scan").fit(X), X


def per_channel(stack):
    """numpy's mean and standard deviation of each channel of ``(n, C, H, W)``."""
    stack = np.asarray(stack, dtype=np.float64)
    return stack.mean(axis=(0, 2, 3)), stack.std(axis=(0, 2, 3))


@pytest.fixture
def hu_images(tmp_path):
    """Five 6x5 int16 images in Hounsfield-like units (air -1024 to bone 3000)."""
    rng = np.random.default_rng(0)
    images = rng.integers(-1024, 3000, size=(5, 6, 5)).astype(np.int16)
    return save_npy(tmp_path, images), images


# ----------------------------------------------------------------- fitted statistics


def test_the_statistics_are_numpys_over_every_training_image(hu_images):
    paths, images = hu_images
    files, X = fit_files(paths, (1, 6, 5))
    mean, std = per_channel(images[:, None])
    np.testing.assert_allclose(files.channel_mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(files.channel_scale_, std, rtol=1e-12)
    assert files.channel_mean_.shape == files.channel_scale_.shape == (1,)
    loaded = np.asarray(files.transform(X))
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, (images[:, None] - mean) / std, rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose([loaded.mean(), loaded.std()], [0, 1], atol=1e-6)


def test_16_bit_png_values_above_255_are_standardised_in_their_units(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 60000, size=(4, 5, 7)).astype(np.uint16)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    files, _ = fit_files(paths, (1, 5, 7))
    mean, std = per_channel(images[:, None])
    assert mean[0] > 255  # not brought to 8 bits on the way
    np.testing.assert_allclose(files.channel_mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(files.channel_scale_, std, rtol=1e-12)


def test_each_channel_has_its_own_statistics(tmp_path):
    rng = np.random.default_rng(2)
    # Channels-last RGB-like arrays, each channel with its own level and spread.
    images = (rng.normal(size=(6, 4, 4, 3)) * [1, 10, 100] + [0, 50, -300]).astype(
        np.float32)
    paths = save_npy(tmp_path, images)
    files, _ = fit_files(paths, (3, 4, 4))
    mean, std = per_channel(np.moveaxis(images, -1, 1))
    np.testing.assert_allclose(files.channel_mean_, mean, rtol=1e-10)
    np.testing.assert_allclose(files.channel_scale_, std, rtol=1e-10)


def test_the_statistics_stay_exact_far_from_zero(tmp_path):
    # A running sum of squares loses the spread here: with 150 values near 1e7 it
    # reaches 1.5e16, where float64 steps by 2, and the standard deviation comes out
    # 3e-4 too large (relative). Chan's update of centred sums stays within 1e-10.
    rng = np.random.default_rng(3)
    images = 1e7 + rng.integers(0, 10, size=(5, 6, 5)).astype(np.float64)
    files, _ = fit_files(save_npy(tmp_path, images), (1, 6, 5))
    mean, std = per_channel(images[:, None])
    np.testing.assert_allclose(files.channel_mean_, mean, rtol=1e-15)
    np.testing.assert_allclose(files.channel_scale_, std, rtol=1e-9)


def test_a_constant_channel_has_scale_one(tmp_path):
    paths = save_npy(tmp_path, [np.full((3, 3), 7.0)] * 3)
    files, X = fit_files(paths, (1, 3, 3))
    np.testing.assert_array_equal(files.channel_scale_, [1.0])
    np.testing.assert_array_equal(np.asarray(files.transform(X)), 0.0)


# ----------------------------------------------------------------- absolute intensity


def test_a_constant_offset_is_kept_where_zscore_erases_it(tmp_path):
    rng = np.random.default_rng(4)
    base = rng.integers(-100, 100, size=(6, 6)).astype(np.int16)
    paths = save_npy(tmp_path, [base, base + 100])  # the same tissue, 100 HU denser
    files, X = fit_files(paths, (1, 6, 6))
    dataset = np.asarray(files.transform(X))
    np.testing.assert_allclose(dataset[1] - dataset[0], 100 / files.channel_scale_[0],
                               rtol=1e-5)
    assert not np.allclose(dataset[0], dataset[1])
    zscore_files, _ = fit_files(paths, (1, 6, 6), intensity="zscore")
    zscore = np.asarray(zscore_files.transform(X))
    np.testing.assert_allclose(zscore[0], zscore[1], atol=1e-6)
    assert not hasattr(zscore_files, "channel_mean_")  # nothing fitted per dataset


def test_dicom_is_standardised_in_modality_units(tmp_path):
    pytest.importorskip("pydicom")
    from tests.test_imaging_readers import write_dicom
    hu = np.array([[-1000, -100, 0], [40, 400, 1000]], dtype=np.float64)
    # The same Hounsfield units stored two ways: slope 1 and slope 2, other intercepts.
    first = write_dicom(tmp_path / "a.dcm", (hu + 1024).astype(np.uint16),
                        RescaleSlope=1, RescaleIntercept=-1024, RescaleType="HU")
    second = write_dicom(tmp_path / "b.dcm", ((hu + 2000) / 2).astype(np.uint16),
                         RescaleSlope=2, RescaleIntercept=-2000, RescaleType="HU")
    files, X = fit_files([str(first), str(second)], (1, 2, 3))
    np.testing.assert_allclose(files.channel_mean_, [hu.mean()])
    np.testing.assert_allclose(files.channel_scale_, [hu.std()])
    images = np.asarray(files.transform(X))
    np.testing.assert_array_equal(images[0], images[1])


# ----------------------------------------------------------------- unreadable files


def test_missing_and_unreadable_files_are_left_out_of_the_statistics(hu_images, tmp_path):
    paths, images = hu_images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with_gaps = paths[:3] + [str(tmp_path / "gone.npy"), str(broken), ""]
    files, X = fit_files(with_gaps, (1, 6, 5), on_error="missing")
    mean, std = per_channel(images[:3, None])
    np.testing.assert_allclose(files.channel_mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(files.channel_scale_, std, rtol=1e-12)
    loaded = np.asarray(files.transform(X))
    assert np.isnan(loaded[3:]).all() and np.isfinite(loaded[:3]).all()


def test_an_unreadable_file_at_fit_names_the_modality_row_and_path(hu_images, tmp_path):
    paths, _ = hu_images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    index = [f"p{i}" for i in range(len(paths))]
    with pytest.raises(ValueError, match=f"Modality 'scan', row 'p3': cannot read image "
                                         f"'{broken}'"):
        fit_files(paths[:3] + [str(broken)] + paths[4:], (1, 6, 5), index=index)


def test_no_readable_image_is_an_error(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="none of its 1 image file.*could be read"):
        fit_files([str(broken), ""], (1, 2, 2), on_error="missing")


# ----------------------------------------------------------------- fit, then predict


def test_fit_streams_one_image_at_a_time(hu_images, monkeypatch):
    paths, _ = hu_images
    loads, files_read = [], []
    original_read, original_lazy_load = ImageLoader._read, lazy.LazyImages.load

    def counting_read(self, path):
        files_read.append(path)
        return original_read(self, path)

    def counting_lazy_load(self, rows=None):
        images = original_lazy_load(self, rows)
        loads.append(len(images))
        return images

    monkeypatch.setattr(ImageLoader, "_read", counting_read)
    monkeypatch.setattr(lazy.LazyImages, "load", counting_lazy_load)
    fit_files(paths, (1, 6, 5))
    assert sorted(files_read) == sorted(paths)  # each training image read once
    assert loads == [1] * len(paths)  # one at a time, never all together


def test_new_images_are_standardised_with_the_training_statistics(hu_images, tmp_path,
                                                                   monkeypatch):
    paths, images = hu_images
    files, _ = fit_files(paths, (1, 6, 5))
    fitted = files.channel_mean_.copy(), files.channel_scale_.copy()
    new = np.full((2, 6, 5), 5000, dtype=np.int16)  # far from the training images
    new[1] = -2000
    X_new = pd.DataFrame({"scan": save_npy(tmp_path, new, prefix="new")})
    reads = []
    original = ImageLoader._read
    monkeypatch.setattr(ImageLoader, "_read",
                        lambda self, path: reads.append(path) or original(self, path))
    lazy_images = files.transform(X_new)
    assert reads == []  # transform reads nothing: no statistics are refitted
    loaded = np.asarray(lazy_images)
    assert len(reads) == 2
    np.testing.assert_allclose(loaded, (new[:, None] - fitted[0]) / fitted[1], rtol=1e-6)
    np.testing.assert_array_equal(files.channel_mean_, fitted[0])
    np.testing.assert_array_equal(files.channel_scale_, fitted[1])


def test_selected_rows_keep_the_statistics(hu_images):
    paths, _ = hu_images
    files, X = fit_files(paths, (1, 6, 5))
    images = files.transform(X)
    everything = np.asarray(images)
    np.testing.assert_array_equal(np.asarray(images[np.array([3, 0])]), everything[[3, 0]])
    np.testing.assert_array_equal(images[2], everything[2])
    assert images[np.array([1, 2])].standardise is images.standardise


def test_setting_dataset_intensity_after_fit_asks_for_a_refit(hu_images):
    paths, _ = hu_images
    files, X = fit_files(paths, (1, 6, 5), intensity="zscore")
    files.loader.set_params(intensity="dataset")
    with pytest.raises(ValueError, match="fit again"):
        files.transform(X)
    files.fit(X)  # and a refit with a per-image intensity forgets the statistics
    files.loader.set_params(intensity="minmax")
    assert not hasattr(files.fit(X), "channel_mean_")


def test_a_fitted_image_preprocessor_pickles(hu_images):
    paths, _ = hu_images
    files, X = fit_files(paths, (1, 6, 5))
    restored = pickle.loads(pickle.dumps(files))
    np.testing.assert_array_equal(restored.channel_mean_, files.channel_mean_)
    np.testing.assert_array_equal(np.asarray(restored.transform(X)),
                                  np.asarray(files.transform(X)))
    lazy_images = pickle.loads(pickle.dumps(files.transform(X)))  # as DataLoader workers
    np.testing.assert_array_equal(np.asarray(lazy_images), np.asarray(files.transform(X)))


# ----------------------------------------------------------------- files and columns


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """60 real 8x8 digit images on disk as .npy, and as pixel columns."""
    folder = tmp_path_factory.mktemp("digits")
    data = load_digits(n_class=2)
    images, y = data.images[:60], data.target[:60]
    paths = save_npy(folder, images.astype(np.float32))
    pixels = pd.DataFrame(images.reshape(len(y), -1), columns=[f"px{i}" for i in range(64)])
    return {"paths": paths, "pixels": pixels, "images": images, "y": y}


def cnn(**kwargs):
    return CNNExpert(input_shape=(1, 8, 8), channels=(4,), hidden_units=(8,), **kwargs)


def test_files_and_pixel_columns_are_scaled_alike(digits):
    X_files = pd.DataFrame({"scan": digits["paths"]})
    files = I2M2Classifier([("scan", cnn(loader="auto"), "scan")], **SETTINGS).fit(
        X_files, digits["y"])
    columns = I2M2Classifier([("scan", cnn(), list(digits["pixels"]))], **SETTINGS).fit(
        digits["pixels"], digits["y"])
    image_files = files.splitter_.preprocessors_["scan"]
    scaler = columns.splitter_.preprocessors_["scan"].scaler_
    assert isinstance(image_files, ImageFiles) and isinstance(scaler, ChannelScaler)
    np.testing.assert_allclose(image_files.channel_mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(image_files.channel_scale_, scaler.scale_, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(files.splitter_.transform(X_files)["scan"]),
                               columns.splitter_.transform(digits["pixels"])["scan"],
                               atol=1e-5)
    np.testing.assert_allclose(files.predict_proba(X_files),
                               columns.predict_proba(digits["pixels"]), atol=1e-5)


def test_colour_files_and_columns_are_scaled_alike_per_channel(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(5, 6, 4, 3), dtype=np.uint8)
    images[..., 2] //= 4  # a darker blue channel
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    files, X = fit_files(paths, (3, 6, 4))
    channels_first = np.moveaxis(images, -1, 1).astype(np.float64)
    scaler = ChannelScaler(n_channels=3)
    expected = scaler.fit_transform(channels_first.reshape(5, -1)).reshape(5, 3, 6, 4)
    np.testing.assert_allclose(files.channel_mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(files.transform(X)), expected, atol=1e-5)


def test_a_saved_model_keeps_the_fitted_statistics(digits, tmp_path):
    X = pd.DataFrame({"scan": digits["paths"]})
    clf = I2M2Classifier([("scan", cnn(loader="auto"), "scan")], **SETTINGS).fit(
        X, digits["y"])
    save(clf, tmp_path / "model.zip")
    restored = load(tmp_path / "model.zip")
    fitted = clf.splitter_.preprocessors_["scan"]
    kept = restored.splitter_.preprocessors_["scan"]
    np.testing.assert_array_equal(kept.channel_mean_, fitted.channel_mean_)
    np.testing.assert_array_equal(kept.channel_scale_, fitted.channel_scale_)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    unpickled = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(unpickled.predict_proba(X), clf.predict_proba(X))
