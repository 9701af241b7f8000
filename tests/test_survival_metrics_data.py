"""Survival: the concordance index, the target's checks, and the synthetic generator."""

import numpy as np
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from sk_i2m2 import metrics
from sk_i2m2._task._survival_target import check_survival_target
from sk_i2m2.datasets import make_multimodal_regression, make_multimodal_survival
from sk_i2m2.metrics import concordance_index

HOW_TO_BUILD = r"Surv\.from_arrays\(event, time\) or np\.array\(list\(zip\(event, time\)\)"


def _tied_data(seed, n=300, censored=0.4):
    """Integer times (many ties), risks on a coarse grid (many ties), some censoring."""
    rng = np.random.RandomState(seed)
    event = rng.rand(n) > censored
    event[0] = True  # at least one event
    time = rng.randint(0, n // 10 + 1, n).astype(float)
    risk = np.round(rng.standard_normal(n), 1)
    return event, time, risk


def _brute_force(event, time, risk, weight):
    """Harrell's index pair by pair, each comparable pair weighted by its event row."""
    numerator = denominator = 0.0
    for i in np.flatnonzero(event):
        for j in range(len(time)):
            if time[j] > time[i] or (time[j] == time[i] and not event[j]):
                denominator += weight[i]
                if abs(risk[j] - risk[i]) <= 1e-8:
                    numerator += 0.5 * weight[i]
                elif risk[i] > risk[j]:
                    numerator += weight[i]
    return numerator / denominator


def _log_risk(X, dependency):
    """The true log-risk of two modalities, from the formulas in the docstring."""
    z0, z1 = X.filter(like="m0_").to_numpy(), X.filter(like="m1_").to_numpy()

    def g(a, b):
        return (a + (b**2 - 1) / np.sqrt(2)) / np.sqrt(2)

    inter = z0[:, 0] * z1[:, 0]
    if dependency == "inter":
        return 2 * inter
    if dependency == "intra":
        return 2 * (g(z0[:, 0], z0[:, 1]) + g(z1[:, 0], z1[:, 1])) / np.sqrt(2)
    intra = (g(z0[:, 1], z0[:, 2]) + g(z1[:, 1], z1[:, 2])) / np.sqrt(2)
    return 2 * (inter + intra) / np.sqrt(2)


# ------------------------------------------------------------ concordance index


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("censored", [0.0, 0.4, 0.9])
def test_concordance_equals_sksurv_with_ties(seed, censored):
    event, time, risk = _tied_data(seed, censored=censored)
    # Ties within the tolerance, too: differences of 1e-9 count as ties in both.
    risk[::7] += 1e-9
    expected = concordance_index_censored(event, time, risk)[0]
    got = concordance_index(Surv.from_arrays(event, time), risk)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, abs=1e-12)


def test_concordance_in_small_blocks_and_on_many_rows(monkeypatch):
    event, time, risk = _tied_data(0, n=20_000)
    y = Surv.from_arrays(event, time)
    expected = concordance_index_censored(event, time, risk)[0]
    assert concordance_index(y, risk) == pytest.approx(expected, abs=1e-12)
    # One event row per block: the same pairs, whatever the blocking.
    monkeypatch.setattr(metrics, "_PAIRS_PER_BLOCK", 1)
    event, time, risk = _tied_data(1)
    expected = concordance_index_censored(event, time, risk)[0]
    assert concordance_index(Surv.from_arrays(event, time), risk) == pytest.approx(
        expected, abs=1e-12)


def test_concordance_any_field_names_and_integer_times():
    event, time, risk = _tied_data(2)
    y = np.array(list(zip(event, time.astype(int), strict=True)),
                 dtype=[("status", bool), ("days", int)])
    assert concordance_index(y, risk) == pytest.approx(
        concordance_index_censored(event, time, risk)[0], abs=1e-12)


def test_concordance_simple_cases():
    y = Surv.from_arrays([True, True, True], [1.0, 2.0, 3.0])
    assert concordance_index(y, [3, 2, 1]) == 1.0
    assert concordance_index(y, [1, 2, 3]) == 0.0
    assert concordance_index(y, [1, 1, 1]) == 0.5
    # An event and a censored row at the same time are comparable; two events are not.
    y = Surv.from_arrays([True, False, True], [1.0, 1.0, 1.0])
    assert concordance_index(y, [2.0, 1.0, 0.0]) == 0.5  # (0, 1) right, (2, 1) wrong


@pytest.mark.parametrize("seed", range(3))
def test_weighted_concordance_weighs_each_pair_by_its_event_row(seed):
    event, time, risk = _tied_data(seed, n=80)
    weight = np.random.RandomState(seed).uniform(0, 3, len(time))
    y = Surv.from_arrays(event, time)
    got = concordance_index(y, risk, sample_weight=weight)
    assert got == pytest.approx(_brute_force(event, time, risk, weight), abs=1e-12)
    assert concordance_index(y, risk, sample_weight=10 * weight) == pytest.approx(got)
    assert concordance_index(y, risk, sample_weight=np.ones(len(time))) == pytest.approx(
        concordance_index(y, risk), abs=1e-12)
    # A censored row's weight counts for nothing.
    weight[~event] = 100.0
    assert concordance_index(y, risk, sample_weight=weight) == pytest.approx(
        _brute_force(event, time, risk, weight), abs=1e-12)


@pytest.mark.parametrize("event, time", [
    ([False, True], [1.0, 2.0]),  # the only event is the last: nothing outlives it
    ([True, True, True], [2.0, 2.0, 2.0]),  # events at the same time only
    ([True], [1.0]),
])
def test_no_comparable_pair_raises(event, time):
    with pytest.raises(ValueError, match="no comparable pair"):
        concordance_index(Surv.from_arrays(event, time), np.zeros(len(time)))


def test_zero_weight_on_every_comparable_pair_raises():
    y = Surv.from_arrays([True, False, True], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="weight 0"):
        concordance_index(y, [1, 2, 3], sample_weight=[0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="(?i)negative"):
        concordance_index(y, [1, 2, 3], sample_weight=[-1.0, 1.0, 1.0])


def test_bad_risk_score_raises():
    y = Surv.from_arrays([True, False, True], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        concordance_index(y, [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        concordance_index(y, [1.0, np.nan, 2.0])


# ------------------------------------------------------------ the survival target


def _bad_targets():
    good = Surv.from_arrays([True, False, True], [1.0, 2.0, 3.0])
    negative, infinite, missing = good.copy(), good.copy(), good.copy()
    negative["time"][1] = -1.0
    infinite["time"][2] = np.inf
    missing["time"][0] = np.nan
    return [
        (np.array([1.0, 2.0, 3.0]),
         r"y must be a structured array with a boolean event field then a float time "
         r"field, got a float64 array of shape \(3,\)"),
        ([(True, 1.0), (False, 2.0)], "got an object of type list"),
        (np.array([(1, 1.0), (0, 2.0)], dtype=[("event", int), ("time", float)]),
         "first field of y \\('event'\\) must be the boolean event indicator, got "
         "dtype int64"),
        (np.array([(True, "a"), (False, "b")], dtype=[("event", bool), ("time", "U1")]),
         "second field of y \\('time'\\) must be the numeric time"),
        (np.array([(True, 1.0, 0)], dtype=[("e", bool), ("t", float), ("x", int)]),
         "must be a structured array"),
        (negative, "times must be finite and >= 0"),
        (infinite, "times must be finite and >= 0"),
        (missing, "times must be finite and >= 0"),
        (Surv.from_arrays([False, False], [1.0, 2.0]), "y holds no event: all 2 rows"),
        (good[:0], "y is empty"),
    ]


@pytest.mark.parametrize("y, message", _bad_targets())
def test_bad_target_raises_saying_how_to_build_it(y, message):
    for check in (check_survival_target,
                  lambda y: concordance_index(y, np.zeros(len(y)))):
        with pytest.raises(ValueError, match=message.replace("y ", "y(_true)? ")) as info:
            check(y)
        assert "Surv.from_arrays" in str(info.value)
        assert "np.array(list(zip(event, time))" in str(info.value)


def test_check_survival_target_returns_event_and_float_time():
    y = np.array([(True, 3), (False, 1)], dtype=[("died", bool), ("months", np.int32)])
    event, time = check_survival_target(y)
    assert event.dtype == bool and time.dtype == np.float64
    assert event.tolist() == [True, False] and time.tolist() == [3.0, 1.0]
    with pytest.raises(ValueError, match="y_true must be a structured array"):
        check_survival_target(np.zeros(3), input_name="y_true")


# ------------------------------------------------------------ generator


@pytest.mark.parametrize("dependency", ["intra", "inter", "mixed"])
def test_survival_data_shapes_and_dtypes(dependency):
    X, y, modalities = make_multimodal_survival(
        60, n_modalities=3, n_features=4, dependency=dependency, random_state=0)
    assert X.shape == (60, 12) and y.shape == (60,)
    assert y.dtype.names == ("event", "time")
    assert y.dtype["event"] == np.dtype(bool) and y.dtype["time"] == np.float64
    assert np.isfinite(y["time"]).all() and (y["time"] > 0).all()
    assert [name for name, _, _ in modalities] == ["m0", "m1", "m2"]
    assert [col for _, _, cols in modalities for col in cols] == list(X.columns)
    event, time = check_survival_target(y)  # what the estimators will check
    assert np.array_equal(event, y["event"])


def test_survival_data_defaults_and_reproducibility():
    X, y, modalities = make_multimodal_survival(random_state=0)
    assert X.shape == (500, 8) and y.shape == (500,)
    X2, y2, _ = make_multimodal_survival(random_state=0)
    assert X.equals(X2) and np.array_equal(y, y2)
    # The same X as the regression generator's from the same seed.
    X_reg, _, _ = make_multimodal_regression(500, n_features=4, random_state=0)
    assert X.equals(X_reg)


@pytest.mark.parametrize("censoring", [0.1, 0.3, 0.6])
def test_censored_share(censoring):
    for seed in range(3):
        _, y, _ = make_multimodal_survival(2000, censoring=censoring, random_state=seed)
        assert abs((~y["event"]).mean() - censoring) < 0.05


def test_no_censoring_and_baseline_hazard_scales_time_only():
    _, y, _ = make_multimodal_survival(300, censoring=0.0, random_state=0)
    assert y["event"].all()
    _, y1, _ = make_multimodal_survival(300, baseline_hazard=0.1, random_state=0)
    _, y2, _ = make_multimodal_survival(300, baseline_hazard=0.4, random_state=0)
    assert np.array_equal(y1["event"], y2["event"])
    np.testing.assert_allclose(y1["time"], 4 * y2["time"], rtol=1e-9)


@pytest.mark.parametrize("dependency", ["intra", "inter", "mixed"])
def test_true_log_risk_is_concordant(dependency):
    for seed in range(2):
        X, y, _ = make_multimodal_survival(2000, dependency=dependency, random_state=seed)
        assert concordance_index(y, _log_risk(X, dependency)) > 0.7
        # Against sksurv, on the generator's data.
        assert concordance_index(y, X["m0_x0"]) == pytest.approx(
            concordance_index_censored(y["event"], y["time"], X["m0_x0"])[0], abs=1e-12)


def _one_modality_cox(X, y, cols):
    model = CoxPHSurvivalAnalysis(alpha=1e-3).fit(X[cols], y)
    return concordance_index(y, model.predict(X[cols]))


@pytest.mark.parametrize("seed", [0, 1])
def test_inter_risk_is_invisible_to_each_modality_alone(seed):
    X, y, modalities = make_multimodal_survival(2000, dependency="inter", random_state=seed)
    assert concordance_index(y, _log_risk(X, "inter")) > 0.7
    for _, _, cols in modalities:
        # In-sample, a Cox model of one modality (its best linear score) ranks at chance.
        assert _one_modality_cox(X, y, cols) < 0.6
    best_feature = max(max(c, 1 - c) for c in (concordance_index(y, X[col])
                                               for col in X.columns))
    assert best_feature < 0.6


def test_intra_risk_is_visible_to_each_modality_alone():
    X, y, modalities = make_multimodal_survival(2000, dependency="intra", random_state=0)
    for _, _, cols in modalities:
        assert _one_modality_cox(X, y, cols) > 0.6


@pytest.mark.parametrize("kwargs, message", [
    ({"censoring": 1.0}, "censoring"),
    ({"censoring": -0.1}, "censoring"),
    ({"baseline_hazard": 0.0}, "baseline_hazard"),
    ({"dependency": "cross"}, "dependency"),
    ({"n_samples": 0}, "n_samples"),
    ({"n_features": 1, "dependency": "intra"}, "n_features"),
    ({"n_modalities": 1, "dependency": "inter"}, "needs n_modalities >= 2"),
    ({"n_features": 2, "dependency": "mixed"}, "needs n_features >= 3"),
])
def test_survival_data_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_multimodal_survival(**kwargs)
