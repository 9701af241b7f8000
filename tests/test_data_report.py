"""What a fit was fed: ``data_report_``, the warnings of files treated as missing, the
warning of a column mixing kinds of images, and the ``verbose=1`` header."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sk_i2m2 import DataWarning, I2M2Classifier, load, save
from sk_i2m2.datasets import make_digit_scans
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.imaging import ImageLoader
from sk_i2m2.imaging._files import ImageFiles

from .conftest import FAST
from .test_imaging_readers import write_dicom

SETTINGS = {**FAST, "max_epochs": 2}


def damage(path):
    """Keep the first third of a file: a truncated transfer."""
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 3])


@pytest.fixture
def study(tmp_path):
    """40 scans and a covariate; two damaged files, a path to nothing, an empty path."""
    X, y, _ = make_digit_scans(tmp_path, n_samples=40, size=8, random_state=0)
    X["age"] = np.random.default_rng(0).normal(size=len(X))
    X.index = [f"p{i:02d}" for i in range(len(X))]
    damage(X.loc["p03", "scan"])
    damage(X.loc["p07", "scan"])
    X.loc["p11", "scan"] = str(tmp_path / "lost.png")
    X.loc["p15", "scan"] = None
    modalities = [("scan", CNNExpert(input_shape=(1, 8, 8),
                                     loader=ImageLoader(on_error="missing")), ["scan"]),
                  ("clinical", MLPExpert(), ["age"])]
    return X, y, modalities


def data_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def test_a_fit_with_damaged_files_warns_once_with_the_count_and_reports_them(study):
    X, y, modalities = study
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = I2M2Classifier(modalities, **SETTINGS).fit(X, y)
    [message] = data_warnings(caught)
    assert "at fit" in message
    assert "modality 'scan': 3 of 39 image file(s) (2 unreadable, 1 file not found)" in message
    for row in ("'p03'", "'p07'", "'p11'"):
        assert row in message
    report = clf.data_report_
    assert list(report.index) == ["scan", "clinical"]
    scan = report.loc["scan"]
    assert (scan["rows"], scan["present"], scan["no value"], scan["file not found"],
            scan["unreadable"]) == (40, 36, 1, 1, 2)
    assert scan["formats"] == "PNG: 36" and scan["shapes"] == "8x8: 36"
    assert scan["expert"] == "CNNExpert"
    clinical = report.loc["clinical"]
    assert (clinical["present"], clinical["no value"], clinical["unreadable"]) == (40, 0, 0)
    assert clinical["formats"] == "table of 1 columns"


def test_a_file_found_unreadable_before_training_is_not_read_again(study, files_read):
    X, y, modalities = study
    reads = files_read
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        clf = I2M2Classifier(modalities, **SETTINGS).fit(X, y)
    # Once by fit's reading pass; training then treats the row as lacking the scan.
    assert reads.count(X.loc["p03", "scan"]) == 1
    # A readable one: by the pass, then by the first epoch (later ones hit the cache).
    assert reads.count(X.loc["p00", "scan"]) == 2
    images = clf.splitter_.transform(X)["scan"]
    np.asarray(images)  # read: what cannot be read is then known
    assert set(X.index[images.missing]) == {"p03", "p07", "p11", "p15"}


def test_each_prediction_call_warns_once_of_its_unusable_files(study):
    X, y, modalities = study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        clf = I2M2Classifier(modalities, **{**SETTINGS, "predict_batch_size": 4}).fit(X, y)
    # Many chunks of rows, the damaged files in two of them: still one warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proba = clf.predict_proba(X)
    [message] = data_warnings(caught)
    assert "at predict" in message and "3 of 39 image file(s)" in message
    assert np.isfinite(proba).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.predict_proba(X.drop(index=["p03", "p07", "p11"]))
    assert data_warnings(caught) == []


def test_the_report_is_saved_with_the_model(study, tmp_path):
    X, y, modalities = study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        clf = I2M2Classifier(modalities, **SETTINGS).fit(X, y)
    save(clf, tmp_path / "model.skm")
    pd.testing.assert_frame_equal(load(tmp_path / "model.skm").data_report_,
                                  clf.data_report_)


def test_verbose_prints_the_report_as_a_header(study, capfd):
    X, y, modalities = study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        I2M2Classifier(modalities, verbose=1, **SETTINGS).fit(X, y)
    lines = capfd.readouterr().err.splitlines()
    assert lines[0] == "I2M2Classifier: 40 rows, 2 modalities"
    assert lines[1] == ("  scan (CNNExpert): 36 present, 4 lacking it (1 no value, "
                        "1 file not found, 2 unreadable); PNG: 36; 8x8: 36")
    assert lines[2] == "  clinical (MLPExpert): 40 present; table of 1 columns"
    assert re.match(r"I2M2Classifier fitted in \d+\.\d s: 1 model, 2 epochs; no "
                    r"calibration; expert weights scan 1\.00, clinical 1\.00, fusion 1\.00$",
                    lines[-1]), lines[-1]


def test_with_on_error_raise_a_damaged_file_stops_fit_before_training(study):
    X, y, modalities = study
    keep = X.index != "p11"
    X, y = X[keep], y[keep]
    modalities[0] = ("scan", CNNExpert(input_shape=(1, 8, 8), loader="auto"), ["scan"])
    clf = I2M2Classifier(modalities, **SETTINGS)
    with pytest.raises(ValueError, match=r"Modality 'scan', row 'p03': cannot read image"):
        clf.fit(X, y)
    assert not hasattr(clf, "data_report_")


def test_a_table_only_fit_reports_the_rows_lacking_each_modality():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    X.loc[:9, ["b", "c"]] = np.nan
    y = (X["a"] > 0).astype(int)
    modalities = [("first", MLPExpert(), ["a"]), ("rest", MLPExpert(), ["b", "c"])]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = I2M2Classifier(modalities, **SETTINGS).fit(X, y)
    assert data_warnings(caught) == []
    rest = clf.data_report_.loc["rest"]
    assert (rest["present"], rest["no value"], rest["file not found"]) == (50, 10, 0)
    assert rest["formats"] == "table of 2 columns"


# ----------------------------------------------------------------- kinds of images


def write_png(path, value):
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)
    return str(path)


def write_ct(path, modality="CT"):
    """A CT-like slice in Hounsfield units (air -1000 around soft tissue 40)."""
    pixels = np.full((8, 8), 24, dtype=np.uint16)  # stored 24 -> -1000 HU
    pixels[2:6, 2:6] = 1064  # -> 40 HU
    return str(write_dicom(path, pixels, RescaleSlope=1, RescaleIntercept=-1024,
                           Modality=modality))


def fit_files(paths, **loader):
    files = ImageFiles(ImageLoader(**loader), (1, 8, 8), "scan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files.fit(pd.DataFrame({"scan": paths}, index=[f"r{i}" for i in range(len(paths))]))
    return data_warnings(caught)


def test_ct_beside_mr_warns_naming_the_kinds_and_rows(tmp_path):
    paths = ([write_ct(tmp_path / f"ct{i}.dcm") for i in range(4)]
             + [write_ct(tmp_path / f"mr{i}.dcm", modality="MR") for i in range(2)])
    [message] = fit_files(paths)
    assert "Modality 'scan' mixes images of different kinds" in message
    assert "CT (4 images, e.g. rows 'r0', 'r1', 'r2'" in message
    assert "MR (2 images, e.g. rows 'r4', 'r5'" in message
    # Scaling each image on its own does not make CT and MR one kind.
    assert len(fit_files(paths, intensity="zscore")) == 1


def test_hounsfield_units_beside_another_range_warn_unless_scaled_per_image(tmp_path):
    paths = ([write_ct(tmp_path / f"ct{i}.dcm") for i in range(3)]
             + [write_png(tmp_path / f"photo{i}.png", 40 * i + 60) for i in range(3)])
    [message] = fit_files(paths)
    assert re.search(r"CT \(3 images.*values typically -1000 to 40", message), message
    assert "PNG (3 images" in message
    assert fit_files(paths, intensity="zscore") == []
    assert fit_files(paths, window=(40, 400)) == []


def test_images_of_one_kind_do_not_warn(tmp_path):
    assert fit_files([write_ct(tmp_path / f"ct{i}.dcm") for i in range(4)]) == []
    assert fit_files([write_png(tmp_path / f"p{i}.png", 30 * i) for i in range(4)]) == []
