"""Images read from files named in a column, next to the same pixels given as columns."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

import sk_i2m2.imaging._files as lazy
from sk_i2m2 import I2M2Classifier, load, save
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.imaging import ChannelConversionWarning, ImageLoader, read_image

SETTINGS = {"max_epochs": 3, "batch_size": 16, "random_state": 0, "n_bags": 1,
            "calibrate": None}


def cnn(**kwargs):
    return CNNExpert(input_shape=(1, 8, 8), channels=(4,), hidden_units=(8,), **kwargs)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """80 real 8x8 digit images (0 vs 1) on disk as .npy and PNG, with a table."""
    folder = tmp_path_factory.mktemp("scans")
    data = load_digits(n_class=2)
    images, y = data.images[:80], data.target[:80]
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"age": rng.normal(60, 10, len(y)) + 5 * y,
                          "site": rng.choice(["a", "b"], len(y))})
    npy, png = [], []
    for row, image in enumerate(images):
        npy.append(str(folder / f"{row}.npy"))
        np.save(npy[-1], image.astype(np.float32))
        png.append(str(folder / f"{row}.png"))
        Image.fromarray((image * 15).astype(np.uint8)).save(png[-1])
    pixels = pd.DataFrame(images.reshape(len(y), -1),
                          columns=[f"px{i}" for i in range(64)])
    return {"table": table, "npy": npy, "png": png, "images": images, "pixels": pixels,
            "y": y, "folder": folder}


def from_files(digits, paths="npy", **loader_params):
    X = digits["table"].assign(scan=digits[paths])
    spec = [("clinical", MLPExpert(hidden_units=(8,)), ["age", "site"]),
            ("scan", cnn(loader=ImageLoader(**loader_params)), "scan")]
    return X, spec


def from_pixels(digits, scale=1.0):
    X = pd.concat([digits["table"], digits["pixels"] / scale], axis=1)
    spec = [("clinical", MLPExpert(hidden_units=(8,)), ["age", "site"]),
            ("scan", cnn(preprocessor="passthrough"), [f"px{i}" for i in range(64)])]
    return X, spec


def test_images_from_files_predict_as_the_same_pixels_in_columns(digits):
    X_files, spec_files = from_files(digits, intensity=None)
    X_pixels, spec_pixels = from_pixels(digits)
    files = I2M2Classifier(spec_files, **SETTINGS).fit(X_files, digits["y"])
    pixels = I2M2Classifier(spec_pixels, **SETTINGS).fit(X_pixels, digits["y"])
    np.testing.assert_array_equal(files.predict_proba(X_files),
                                  pixels.predict_proba(X_pixels))


def test_png_files_scaled_to_unit_range_match_pixels_over_255(digits):
    X_files, spec_files = from_files(digits, paths="png", intensity="unit")
    X_pixels, spec_pixels = from_pixels(digits, scale=255 / 15)
    files = I2M2Classifier(spec_files, **SETTINGS).fit(X_files, digits["y"])
    pixels = I2M2Classifier(spec_pixels, **SETTINGS).fit(X_pixels, digits["y"])
    np.testing.assert_allclose(files.predict_proba(X_files),
                               pixels.predict_proba(X_pixels), rtol=1e-5, atol=1e-6)


def test_dataloader_workers_give_the_same_model(digits):
    X, spec = from_files(digits)
    in_process = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    workers = I2M2Classifier(spec, num_workers=2, **SETTINGS).fit(X, digits["y"])
    np.testing.assert_array_equal(in_process.predict_proba(X), workers.predict_proba(X))


def test_array_cells_and_pixel_columns_give_the_same_model(digits):
    X_pixels, spec = from_pixels(digits)
    X_cells = digits["table"].assign(scan=list(digits["images"]))
    spec_cells = [spec[0], ("scan", cnn(preprocessor="passthrough"), ["scan"])]
    pixels = I2M2Classifier(spec, **SETTINGS).fit(X_pixels, digits["y"])
    cells = I2M2Classifier(spec_cells, **SETTINGS).fit(X_cells, digits["y"])
    np.testing.assert_array_equal(pixels.predict_proba(X_pixels),
                                  cells.predict_proba(X_cells))


@pytest.fixture
def images_read(monkeypatch):
    """The number of images each ``LazyImages.load`` call reads, from now on."""
    sizes = []
    original = lazy.LazyImages.load

    def counting_load(self, rows=None):
        images = original(self, rows)
        sizes.append(len(images))
        return images

    monkeypatch.setattr(lazy.LazyImages, "load", counting_load)
    return sizes


@pytest.mark.parametrize("intensity", ["dataset", "zscore"])
def test_fit_reads_images_batch_by_batch(digits, images_read, intensity):
    X, spec = from_files(digits, intensity=intensity)
    I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    assert images_read and max(images_read) <= SETTINGS["batch_size"]
    # Every epoch reads every row once, plus, when the preprocessor is fitted, every
    # row once more, one at a time: the checks and the data report, and the
    # dataset's intensity statistics (the default).
    assert sum(images_read) == SETTINGS["max_epochs"] * len(X) + len(X)


@pytest.mark.parametrize(("cache_mb", "reads_per_row"), [(256, 1), (0, 3)])
def test_images_are_read_from_disk_once_when_they_fit_the_cache(digits, files_read,
                                                                cache_mb, reads_per_row):
    X, spec = from_files(digits, intensity="zscore", cache_mb=cache_mb)
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    # Every image once at fit (checks, report), then each of 3 epochs asks for every row.
    assert len(files_read) == len(X) + reads_per_row * len(X)
    cached = clf.predict_proba(X)
    uncached = clf.set_params(scan__loader__cache_mb=0).predict_proba(X)
    np.testing.assert_array_equal(cached, uncached)


def test_the_cache_keeps_no_more_than_its_budget(digits, files_read):
    X, spec = from_files(digits, intensity="zscore", cache_mb=10 * 64 * 4 / 2**20)
    I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    # Room for 10 images of 8x8 float32: those 10 are read once, the other 70 each epoch.
    assert len(files_read) == len(X) + 10 + 3 * 70


def test_explain_reads_each_image_once(digits, images_read):
    X, spec = from_files(digits)
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    images_read.clear()
    clf.explain(X)
    assert sum(images_read) == len(X)


def test_transform_gives_a_lazy_array_of_the_images(digits):
    X, spec = from_files(digits, intensity=None)
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    images = clf.splitter_.transform(X)["scan"]
    assert images.shape == (len(X), 1, 8, 8)
    subset = images[np.array([3, 1])]
    assert subset.shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(np.asarray(subset)[:, 0], digits["images"][[3, 1]])
    np.testing.assert_array_equal(images[5][0], digits["images"][5])


def test_cross_validation_and_grid_search_work_on_the_path_column(digits):
    X, spec = from_files(digits)
    clf = I2M2Classifier(spec, **SETTINGS)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(clf, X, digits["y"], cv=cv)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    search = GridSearchCV(clf, {"dependencies": ["intra", "both"],
                                "scan__loader__intensity": ["dataset", "zscore"]}, cv=cv)
    search.fit(X, digits["y"])
    assert set(search.best_params_) == {"dependencies", "scan__loader__intensity"}


def test_a_saved_model_reads_images_after_loading(digits, tmp_path):
    X, spec = from_files(digits)
    clf = I2M2Classifier(spec, **{**SETTINGS, "calibrate": "temperature"}).fit(
        X, digits["y"])
    save(clf, tmp_path / "model.zip")
    restored = load(tmp_path / "model.zip")
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.temperature_ == clf.temperature_


def test_relative_paths_are_read_from_the_loader_root(digits):
    X, spec = from_files(digits, root=str(digits["folder"]))
    X["scan"] = [f"{row}.npy" for row in range(len(X))]
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    assert clf.score(X, digits["y"]) > 0.5


def test_an_empty_path_means_the_row_lacks_the_image(digits):
    X, spec = from_files(digits)
    X.loc[[0, 1, 2], "scan"] = [None, np.nan, ""]
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    assert np.isnan(clf.expert_proba(X)["scan"][:3]).all()
    assert np.isfinite(clf.expert_proba(X)["scan"][3:]).all()


# ----------------------------------------------------------------- bad files


def test_a_missing_file_names_the_row_and_the_path(digits):
    X, spec = from_files(digits)
    X.index = [f"patient{row}" for row in range(len(X))]
    X.loc["patient7", "scan"] = "/nowhere/scan7.png"
    with pytest.raises(FileNotFoundError, match=r"row 'patient7': '/nowhere/scan7.png'.*"
                       r"on_error='missing'"):
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])


def test_a_missing_file_at_predict_names_the_row_and_the_path(digits):
    X, spec = from_files(digits)
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    X.loc[4, "scan"] = "gone.npy"
    with pytest.raises(FileNotFoundError, match="row 4: 'gone.npy'"):
        clf.predict(X)


def test_an_unreadable_file_names_the_row_and_the_path(digits, tmp_path):
    X, spec = from_files(digits)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    X.loc[30, "scan"] = str(broken)
    clf = I2M2Classifier(spec, **SETTINGS)
    with pytest.raises(ValueError, match=f"Modality 'scan', row 30: cannot read image "
                                         f"'{broken}'"):
        clf.fit(X, digits["y"])
    assert not hasattr(clf, "net_")  # nothing half-fitted is left behind


def test_missing_and_unreadable_files_can_count_as_missing_images(digits, tmp_path):
    X, spec = from_files(digits, on_error="missing")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    X.loc[5, "scan"] = "/nowhere/scan5.npy"
    X.loc[6, "scan"] = str(broken)
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    scan = clf.expert_proba(X)["scan"]
    assert np.isnan(scan[[5, 6]]).all() and np.isfinite(np.delete(scan, [5, 6], 0)).all()
    explained = clf.explain(X.loc[[5, 6]])
    assert explained.loc[explained["expert"] == "scan", "share"].eq(0).all()


def test_a_path_column_with_other_columns_is_refused(digits):
    X, spec = from_files(digits)
    spec[1] = ("scan", cnn(loader="auto"), ["scan", "age"])
    with pytest.raises(ValueError, match="reads one column of image paths.*'scan', 'age'"):
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])


def test_a_cell_that_is_no_path_names_the_row(digits):
    X, spec = from_files(digits)
    X["scan"] = X["scan"].astype(object)
    X.loc[3, "scan"] = 42
    with pytest.raises(TypeError, match="row 3: expected the path of an image file"):
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])


def test_a_preprocessor_with_a_loader_is_refused(digits):
    from sklearn.preprocessing import StandardScaler
    X, spec = from_files(digits)
    spec[1] = ("scan", cnn(loader="auto", preprocessor=StandardScaler()), "scan")
    with pytest.raises(ValueError, match="scaled by the loader"):
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])


# ----------------------------------------------------------------- the loader


def test_a_dicom_file_from_pydicom_test_data_reads(tmp_path):
    pydicom_data = pytest.importorskip("pydicom.data")  # pydicom is in the test extra
    import pydicom
    path = pydicom_data.get_testdata_file("CT_small.dcm")
    dataset = pydicom.dcmread(path)
    expected = dataset.pixel_array * float(dataset.RescaleSlope) + float(
        dataset.RescaleIntercept)
    np.testing.assert_array_equal(read_image(path), expected)
    # Without a suffix, the DICOM preamble gives it away.
    bare = tmp_path / "scan0001"
    shutil.copy(path, bare)
    np.testing.assert_array_equal(read_image(bare), expected)
    image = ImageLoader(intensity="minmax").load(bare, (1, 64, 64))
    assert image.shape == (1, 64, 64) and image.dtype == np.float32
    assert image.min() == 0 and image.max() == 1


def test_dicom_files_train_a_model(tmp_path):
    pydicom_data = pytest.importorskip("pydicom.data")
    paths = [pydicom_data.get_testdata_file(name)
             for name in ("CT_small.dcm", "MR_small.dcm")] * 6
    X = pd.DataFrame({"scan": paths})
    y = np.array(["CT", "MR"] * 6)
    spec = [("scan", CNNExpert(input_shape=(1, 32, 32), channels=(4,), loader="auto"),
             "scan")]
    clf = I2M2Classifier(spec, max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0  # CT from MR, from the pixels alone


def test_colour_and_size_are_brought_to_the_input_shape(tmp_path):
    rgb = np.zeros((16, 12, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    grey = ImageLoader(intensity="unit").load(tmp_path / "red.png", (1, 8, 6))
    np.testing.assert_allclose(grey, 0.299, rtol=1e-6)  # luma of pure red
    colour = ImageLoader(intensity="unit").load(tmp_path / "red.png", (3, 8, 6))
    np.testing.assert_allclose(colour[:, 0, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="16x12 where input_shape asks for 8x6"):
        ImageLoader(resize=False).load(tmp_path / "red.png", (1, 8, 6))
    with pytest.raises(ValueError, match="3 channel.*asks for 2"):
        ImageLoader().load(tmp_path / "red.png", (2, 8, 6))


def test_the_loader_alone_keeps_native_units_by_default(tmp_path):
    # The default, intensity="dataset", is applied by the expert's ImageFiles with the
    # statistics it fitted over the training images (tests/test_image_intensity.py).
    values = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.save(tmp_path / "a.npy", values)
    np.testing.assert_array_equal(ImageLoader().load(tmp_path / "a.npy", (1, 4, 4))[0],
                                  values)
    image = ImageLoader(intensity="zscore").load(tmp_path / "a.npy", (1, 4, 4))
    np.testing.assert_allclose([image.mean(), image.std()], [0, 1], atol=1e-6)


def test_intensity_options(tmp_path):
    values = np.arange(16, dtype=np.uint16).reshape(4, 4) * 1000
    np.save(tmp_path / "a.npy", values)
    path = tmp_path / "a.npy"
    minmax = ImageLoader(intensity="minmax").load(path, (1, 4, 4))
    assert minmax.min() == 0 and minmax.max() == 1
    zscore = ImageLoader(intensity="zscore").load(path, (1, 4, 4))
    np.testing.assert_allclose([zscore.mean(), zscore.std()], [0, 1], atol=1e-6)
    unit = ImageLoader(intensity="unit").load(path, (1, 4, 4))
    np.testing.assert_allclose(unit, values[None] / 65535, rtol=1e-6)
    clipped = ImageLoader(intensity=lambda image: np.clip(image, 0, 5000)).load(
        path, (1, 4, 4))
    assert clipped.max() == 5000
    raw = ImageLoader(intensity=None).load(path, (1, 4, 4))
    np.testing.assert_array_equal(raw[0], values)


def test_a_reader_function_as_loader(digits):
    calls = []

    def reader(path):
        calls.append(path)
        return np.load(path)

    X, spec = from_files(digits)
    spec[1] = ("scan", cnn(loader=reader), "scan")
    clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    assert calls and clf.score(X, digits["y"]) > 0.5


def test_an_unknown_file_type_says_how_to_read_it(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_bytes(b"\0" * 200)
    with pytest.raises(ValueError, match=r"unknown image file type '.xyz'.*reader="):
        read_image(path)


def test_non_finite_pixels_are_refused(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        ImageLoader(intensity=None).load(tmp_path / "nan.npy", (1, 2, 2))


def test_grey_images_for_a_colour_input_shape_are_converted_with_a_warning(digits):
    X = digits["table"].assign(scan=digits["png"])
    spec = [("clinical", MLPExpert(hidden_units=(8,)), ["age", "site"]),
            ("scan", CNNExpert(input_shape=(3, 8, 8), channels=(4,), hidden_units=(8,),
                               loader=ImageLoader()), "scan")]
    with pytest.warns(ChannelConversionWarning) as caught:
        clf = I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
        assert clf.score(X, digits["y"]) > 0.5
    messages = {str(warning.message) for warning in caught
                if issubclass(warning.category, ChannelConversionWarning)}
    # Once per kind of conversion, naming the modality, the channels and what was done.
    assert messages == {"Modality 'scan': images of 1 channel(s) where input_shape asks "
                        "for 3: each grey image was repeated into 3 channels; if the "
                        "images are grey, give input_shape 1 channel (the network is "
                        "then smaller)."}


def test_an_unknown_file_type_in_a_column_is_not_called_damaged(digits, tmp_path):
    X, spec = from_files(digits)
    odd = tmp_path / "scan.xyz"
    odd.write_bytes(b"\0" * 200)
    X.loc[5, "scan"] = str(odd)
    with pytest.raises(ValueError) as error:
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    message = str(error.value)
    assert message.startswith(f"Modality 'scan', row 5: cannot read image '{odd}', "
                              "unknown image file type '.xyz'")
    assert "reader=" in message and "damaged" not in message
    assert not re.search(r"\w\.\.(\s|$)", message)  # no doubled full stop


@pytest.mark.parametrize("name, content, says", [
    ("broken.png", b"not an image", "UnidentifiedImageError"),
    ("headerless.dcm", b"\0" * 300, "not a DICOM file with its file header"),
])
def test_an_unreadable_file_says_what_failed_once_and_how_to_go_on(digits, tmp_path, name,
                                                                   content, says):
    X, spec = from_files(digits)
    broken = tmp_path / name
    broken.write_bytes(content)
    X.loc[7, "scan"] = str(broken)
    with pytest.raises(ValueError) as error:
        I2M2Classifier(spec, **SETTINGS).fit(X, digits["y"])
    message = str(error.value)
    assert says in message and "may be damaged" in message and "on_error='missing'" in message
    assert not re.search(r"\w\.\.(\s|$)", message) and "Use force=True" not in message
