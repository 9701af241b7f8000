"""Histories as a modality: group_visits and VisitsExpert."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from sk_i2m2 import (
    DataWarning,
    I2M2Classifier,
    I2M2Regressor,
    I2M2SurvivalAnalysis,
    load,
    save,
)
from sk_i2m2._task._survival_target import survival_target
from sk_i2m2.experts import CNNExpert, MLPExpert, PretrainedExpert, VisitsExpert
from sk_i2m2.imaging import ImageLoader
from sk_i2m2.longitudinal import group_visits

FAST = {"max_epochs": 3, "n_bags": 1, "calibrate": None, "random_state": 0}


def trajectories(n=120, seed=0, missing=0.1):
    """Irregular visits of a marker whose slope's sign is the label; levels vary widely."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    rows = []
    for patient in range(n):
        k = int(rng.integers(2, 9))
        times = np.sort(np.r_[0.0, rng.uniform(0, 5, k - 1)])
        marker = rng.normal(0, 3) + (0.5 if y[patient] else -0.5) * times
        marker += rng.normal(0, 0.3, k)
        for time, value in zip(times, marker, strict=True):
            rows.append({"id": patient, "year": time,
                         "marker": np.nan if rng.random() < missing else value,
                         "site": rng.choice(["a", "b"])})
    visits = pd.DataFrame(rows)
    patients = pd.DataFrame({"age": rng.normal(size=n)},
                            index=pd.Index(range(n), name="id"))
    return patients, visits, y


def histories_table(patients, visits, **kwargs):
    return patients.join(group_visits(visits, "id", "year", **kwargs))


def modalities(expert=None):
    return [("history", VisitsExpert(time="year") if expert is None else expert,
             ["visits"]), ("static", MLPExpert(), ["age"])]


def scan_files(folder, n):
    """``n`` paths of 6x6 noise images saved as ``.npy`` in ``folder``."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / f"scan{k}.npy"
        np.save(path, rng.normal(size=(6, 6)).astype(np.float32))
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def cohort():
    patients, visits, y = trajectories()
    return histories_table(patients, visits), y


# ----------------------------------------------------------------- group_visits


def test_group_visits_sorts_each_patients_visits_by_time():
    visits = pd.DataFrame({"id": [2, 1, 1, 1], "day": [0, 30, 0, 10],
                           "bili": [3.0, 1.2, 0.9, 1.0]})
    cells = group_visits(visits, id="id", time="day")
    assert list(cells.index) == [1, 2] and cells.name == "visits"
    assert cells[1]["day"].tolist() == [0, 10, 30]
    assert cells[1]["bili"].tolist() == [0.9, 1.0, 1.2]
    assert list(cells[1].columns) == ["day", "bili"]


def test_group_visits_keeps_the_visits_up_to_a_landmark():
    visits = pd.DataFrame({"id": [1, 1, 1, 2, 2], "day": [0, 10, 30, 5, 50],
                           "bili": [1.0, 2.0, 3.0, 4.0, 5.0]})
    assert group_visits(visits, "id", "day", until=10)[1]["day"].tolist() == [0, 10]
    landmarks = pd.Series({1: 0.0, 2: 100.0})
    cells = group_visits(visits, "id", "day", until=landmarks)
    assert cells[1]["day"].tolist() == [0] and cells[2]["day"].tolist() == [5, 50]
    # A patient with no visit left has a missing cell.
    assert group_visits(visits, "id", "day", until=2)[2] is None


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"id": "patient"}, ValueError, "the id column 'patient'"),
    ({"time": "date"}, ValueError, "the time column 'date'"),
    ({"columns": ["bili", "alb"]}, ValueError, r"columns \['alb'\]"),
])
def test_group_visits_names_an_unknown_column(change, error, match):
    visits = pd.DataFrame({"id": [1], "day": [0], "bili": [1.0]})
    with pytest.raises(error, match=match):
        group_visits(visits, **{"id": "id", "time": "day", **change})


def test_group_visits_refuses_text_times_and_shared_times():
    visits = pd.DataFrame({"id": [1, 1], "day": ["2020-01-01", "2020-02-01"]})
    with pytest.raises(TypeError, match=r"holds (object|str) values; give numbers"):
        group_visits(visits, "id", "day")
    visits = pd.DataFrame({"id": [1, 1], "day": [3, 3], "bili": [1.0, 2.0]})
    with pytest.raises(ValueError, match="patient 1 has 2 visit rows sharing a time"):
        group_visits(visits, "id", "day")


# ----------------------------------------------------------------- bad cells


@pytest.mark.parametrize(("cell", "error", "match"), [
    ([1, 2, 3], TypeError, "row 4: expected a DataFrame of the patient's visits"),
    (pd.DataFrame({"day": [0], "marker": [1.0], "site": ["a"]}), ValueError,
     "no time column 'year'"),
    (pd.DataFrame({"year": ["x"], "marker": [1.0], "site": ["a"]}), TypeError,
     r"row 4: its time column 'year' holds (object|str) values"),
    (pd.DataFrame({"year": [1.0, 1.0], "marker": [1.0, 2.0], "site": ["a", "a"]}),
     ValueError, r"row 4: two visits share the time 1\.0;"),
    (pd.DataFrame({"year": [1.0], "marker": [1.0]}), ValueError,
     r"have columns \['marker'\] where the training visits had"),
])
def test_a_bad_history_is_named_by_modality_and_row(cohort, cell, error, match):
    X, y = cohort
    X = X.copy()
    X.at[4, "visits"] = cell
    with pytest.raises(error, match=rf"Modality 'history', {match}" if "row 4" in match
                       else match):
        I2M2Classifier(modalities(), **FAST).fit(X, y)


def test_a_bad_history_at_predict_is_named_too(cohort):
    X, y = cohort
    clf = I2M2Classifier(modalities(), **FAST).fit(X, y)
    X = X.copy()
    X.at[7, "visits"] = "not a table"
    with pytest.raises(TypeError, match="Modality 'history', row 7: expected a DataFrame"):
        clf.predict_proba(X)


# ----------------------------------------------------------------- behaviour


def test_a_missing_or_empty_history_is_a_missing_modality(cohort):
    X, y = cohort
    X = X.copy()
    X.at[0, "visits"] = None
    X.at[1, "visits"] = X.at[1, "visits"].iloc[:0]  # no visit
    clf = I2M2Classifier(modalities(), **FAST).fit(X, y)
    assert clf.data_report_.loc["history", "no value"] == 2
    experts = clf.expert_proba(X.iloc[:3])
    assert np.isnan(experts["history"][:2]).all() and np.isfinite(experts["history"][2]).all()
    # Rows none of which has a history: predicted from the other modality alone.
    assert np.isfinite(clf.predict_proba(X.iloc[:2])).all()
    assert np.isnan(clf.expert_proba(X.iloc[:2])["history"]).all()


def test_shuffling_the_visits_inside_a_cell_changes_no_prediction(cohort):
    X, y = cohort
    clf = I2M2Classifier(modalities(), **FAST).fit(X, y)
    shuffled = X.copy()
    shuffled["visits"] = [cell.sample(frac=1.0, random_state=1) for cell in X["visits"]]
    np.testing.assert_array_equal(clf.predict_proba(shuffled), clf.predict_proba(X))


def test_a_rows_prediction_does_not_depend_on_its_batch(cohort):
    # Histories are padded to the longest of each batch: the padding must not leak.
    X, y = cohort
    clf = I2M2Classifier(modalities(), **FAST).fit(X, y)
    together = clf.predict_proba(X.iloc[:20])
    alone = np.vstack([clf.predict_proba(X.iloc[[i]]) for i in range(20)])
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)


def test_a_batch_is_padded_to_its_own_longest_history(cohort):
    X, y = cohort
    clf = I2M2Classifier(modalities(), **FAST).fit(X, y)
    histories = clf.splitter_.transform(X)["history"]
    lengths = X["visits"].map(len).to_numpy()
    rows = np.flatnonzero(lengths == lengths.min())[:3]
    assert histories[rows].load().shape[1] == lengths.min() < lengths.max()
    assert histories.shape[1] == lengths.max()


def test_the_slope_of_irregular_visits_is_learnt():
    patients, visits, y = trajectories(n=360, seed=1)
    X = histories_table(patients, visits)
    train, test = np.arange(260), np.arange(260, 360)
    clf = I2M2Classifier(modalities(), max_epochs=60, n_bags=1, random_state=0)
    clf.fit(X.iloc[train], y[train])
    auc = roc_auc_score(y[test], clf.predict_proba(X.iloc[test])[:, 1])
    last = [cell["marker"].dropna().iloc[-1] for cell in X["visits"].iloc[test]]
    assert auc > 0.85 and auc > roc_auc_score(y[test], last) + 0.05


def test_a_regressor_and_a_survival_model_read_histories(cohort):
    X, y = cohort
    target = y + np.random.default_rng(0).normal(0, 0.1, len(y))
    regressor = I2M2Regressor(modalities(), **FAST).fit(X, target)
    assert regressor.predict(X).shape == (len(X),)
    rng = np.random.default_rng(0)
    survival = survival_target(rng.random(len(y)) < 0.7, rng.exponential(5, len(y)) + 3 * y)
    model = I2M2SurvivalAnalysis(modalities(), **FAST).fit(X, survival)
    assert np.isfinite(model.predict(X)).all()


def test_explain_by_column_sums_each_visit_column_over_the_visits(cohort):
    X, y = cohort
    clf = I2M2Classifier(modalities(), **{**FAST, "max_epochs": 10}).fit(X, y)
    table = clf.explain(X.iloc[:6], by="column")
    own = table[table["expert"] == "history"]
    assert set(own["column"]) == {"year", "marker", "site"}
    # The baseline keeps each visit's schedule: the time gets nothing.
    assert (own.loc[own["column"] == "year", "attribution"] == 0).all()
    # Completeness: the attributions add up to the contribution's change.
    for _, rows in own.groupby("sample"):
        change = rows["contribution"].iloc[0] - rows["baseline_contribution"].iloc[0]
        assert rows["attribution"].sum() == pytest.approx(change, abs=max(
            0.05, 0.05 * abs(change)))
    maps = clf.attribution_maps(X.iloc[:6], "history")
    assert maps.shape[:2] == (6, X["visits"].iloc[:6].map(len).max())


def test_an_mlp_encoder_embeds_each_visit(cohort):
    X, y = cohort
    expert = VisitsExpert(time="year", encoder=MLPExpert(hidden_units=(8,)))
    clf = I2M2Classifier(modalities(expert), **FAST).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_scans_at_some_visits_are_read_per_batch_by_a_cnn_encoder(tmp_path):
    patients, visits, y = trajectories(n=40, seed=2)
    visits["scan"] = scan_files(tmp_path, len(visits))
    visits.loc[3, "scan"] = None  # no scan at that visit
    visits.loc[5, "scan"] = str(tmp_path / "lost.npy")  # a path to nothing
    X = histories_table(patients, visits)
    expert = VisitsExpert(time="year", encoder_columns=["scan"], encoder=CNNExpert(
        input_shape=(1, 6, 6), loader=ImageLoader(on_error="missing")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = I2M2Classifier(modalities(expert), **FAST).fit(X, y)
    assert any("1 file not found" in str(w.message) for w in caught
               if issubclass(w.category, DataWarning))
    assert clf.data_report_.loc["history", "formats"] == f"NumPy: {len(visits) - 2}"
    table = clf.explain(X.iloc[:3], by="column")
    assert "scan" in set(table.loc[table["expert"] == "history", "column"])
    save(clf, tmp_path / "model.skm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        np.testing.assert_array_equal(load(tmp_path / "model.skm").predict_proba(X),
                                      clf.predict_proba(X))


class _TinyBackbone(torch.nn.Module):
    """Four features of a grey image: a frozen, fixed feature map."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def test_a_frozen_pretrained_encoder_computes_each_scans_features_once(tmp_path,
                                                                      monkeypatch):
    patients, visits, y = trajectories(n=30, seed=3)
    visits["scan"] = scan_files(tmp_path, len(visits))
    X = histories_table(patients, visits)
    reads = []
    original = ImageLoader._read
    monkeypatch.setattr(ImageLoader, "_read",
                        lambda self, path: reads.append(path) or original(self, path))
    expert = VisitsExpert(time="year", encoder_columns=["scan"], encoder=PretrainedExpert(
        _TinyBackbone(), input_shape=(1, 6, 6), loader="auto"))
    clf = I2M2Classifier(modalities(expert), **FAST).fit(X, y)
    # Each scan read by the reading pass and once for its features; never per epoch.
    assert len(reads) == 2 * len(visits)
    assert clf.splitter_.preprocessors_["history"].encoder_shape_ == (4,)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_a_grid_search_tunes_the_history_expert_over_patients(cohort):
    from sklearn.model_selection import GridSearchCV

    X, y = cohort
    search = GridSearchCV(I2M2Classifier(modalities(), **{**FAST, "max_epochs": 2}),
                          {"history__hidden_size": [8, 16]}, cv=2).fit(X, y)
    assert search.best_params_["history__hidden_size"] in (8, 16)
    # Histories built batch by batch in a DataLoader worker process: the same fit.
    in_process = I2M2Classifier(modalities(), **FAST).fit(X, y)
    in_worker = I2M2Classifier(modalities(), **FAST, num_workers=1).fit(X, y)
    np.testing.assert_allclose(in_worker.predict_proba(X), in_process.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
