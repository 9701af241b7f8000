import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from sk_i2m2 import I2M2SurvivalAnalysis
from sk_i2m2.datasets import make_multimodal_survival
from sk_i2m2.plotting import SurvivalCurveDisplay, _kaplan_meier, _row_positions

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QUICK = {"max_epochs": 5, "n_bags": 1, "calibrate": None, "random_state": 0}


@pytest.fixture(scope="module")
def fitted():
    """One quick fit for the whole module, on a DataFrame with a RangeIndex."""
    X, y, modalities = make_multimodal_survival(n_samples=300, random_state=0)
    return I2M2SurvivalAnalysis(modalities, **QUICK).fit(X, y), X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn(line):
    """The data of a step line, without the point (0, 1) it starts from."""
    x, values = line.get_xdata(), line.get_ydata()
    assert (x[0], values[0]) == (0.0, 1.0)
    assert line.get_drawstyle() == "steps-post"
    return np.asarray(x[1:]), np.asarray(values[1:])


# ------------------------------------------------------------------ chosen rows


def test_rows_draw_the_models_curves(fitted):
    model, X, _ = fitted
    rows = [3, 10, 42]
    display = SurvivalCurveDisplay.from_estimator(model, X, rows=rows)
    functions = model.predict_survival_function(X.iloc[rows])
    assert len(display.lines_) == 3 and display.kaplan_meier_lines_ is None
    for line, function, label in zip(display.lines_, functions, rows, strict=True):
        x, values = drawn(line)
        np.testing.assert_array_equal(x, model.unique_times_)
        np.testing.assert_allclose(values, function.y)
        np.testing.assert_allclose(values, function(model.unique_times_))
        assert line.get_label() == str(label)
    assert display.ax_.get_xlabel() == "time"
    assert display.ax_.get_ylabel() == "survival probability"
    assert display.ax_.get_title() == "Predicted survival"
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["3", "10", "42"]
    assert display.figure_ is display.ax_.figure


def test_rows_are_labels_of_the_index_or_positions(fitted):
    model, X, _ = fitted
    named = X.set_axis([f"p{k:03d}" for k in range(len(X))])
    expected = model.predict_survival_function(X.iloc[[7, 2]], return_array=True)
    for rows in (["p007", "p002"], [7, 2], np.array([7, -298])):
        display = SurvivalCurveDisplay.from_estimator(model, named, rows=rows)
        assert [line.get_label() for line in display.lines_] == ["p007", "p002"]
        np.testing.assert_allclose([drawn(line)[1] for line in display.lines_], expected)
    one = SurvivalCurveDisplay.from_estimator(model, named, rows="p007")
    # Predicted alone: a float32 net's batch of one may differ in the last digits.
    alone = model.predict_survival_function(X.iloc[[7]], return_array=True)[0]
    np.testing.assert_allclose(drawn(one.lines_[0])[1], alone)


def test_positions_of_an_array(fitted):
    _, X, _ = fitted
    positions, labels = _row_positions(X.to_numpy(), [0, -1])
    assert list(positions) == [0, len(X) - 1] and labels == [0, -1]
    with pytest.raises(ValueError, match=r"rows \[300\] are not in X: not positions of "
                                         r"its 300 rows"):
        _row_positions(X.to_numpy(), [1, 300])
    with pytest.raises(ValueError, match=r"positions \(integers\) when X has no index.*"
                                         r"\['a'\]"):
        _row_positions(X.to_numpy(), [1, "a"])


# ------------------------------------------------------------------ risk groups


def test_groups_partition_the_rows_by_risk_beside_their_kaplan_meier(fitted):
    model, X, y = fitted
    display = SurvivalCurveDisplay.from_estimator(model, X, y)
    risk = model.predict(X)
    survival = model.predict_survival_function(X, return_array=True)

    groups = display.groups
    assert [len(rows) for rows in groups] == [100, 100, 100]
    np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(len(X)))
    for low, high in zip(groups[:-1], groups[1:], strict=True):
        assert risk[low].max() <= risk[high].min()
        assert risk[low].mean() < risk[high].mean()
    assert display.labels == ["low risk (n=100)", "medium risk (n=100)",
                              "high risk (n=100)"]

    assert len(display.lines_) == len(display.kaplan_meier_lines_) == 3
    for rows, line, km_line in zip(groups, display.lines_, display.kaplan_meier_lines_,
                                   strict=True):
        x, values = drawn(line)
        np.testing.assert_array_equal(x, model.unique_times_)
        np.testing.assert_allclose(values, survival[rows].mean(axis=0))
        km_x, km_values = drawn(km_line)
        times, expected = _kaplan_meier(y["event"][rows], y["time"][rows])
        np.testing.assert_array_equal(km_x, times)
        np.testing.assert_allclose(km_values, expected)
        assert line.get_color() == km_line.get_color()
        assert line.get_linestyle() == "--" and km_line.get_linestyle() == "-"
    colors = {line.get_color() for line in display.lines_}
    assert len(colors) == 3
    legend = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert legend == ["low risk (n=100): Kaplan–Meier", "low risk (n=100): predicted",
                      "medium risk (n=100): Kaplan–Meier", "medium risk (n=100): predicted",
                      "high risk (n=100): Kaplan–Meier", "high risk (n=100): predicted"]
    assert "Kaplan–Meier" in display.ax_.get_title()
    assert display.ax_.get_ylabel() == "survival probability"


def test_uneven_groups_and_no_y(fitted):
    model, X, _ = fitted
    display = SurvivalCurveDisplay.from_estimator(model, X, n_groups=7)
    sizes = [len(rows) for rows in display.groups]
    assert sum(sizes) == len(X) and max(sizes) - min(sizes) <= 1
    assert display.kaplan_meier_lines_ is None and len(display.lines_) == 7
    assert display.labels[0].startswith("low risk")
    assert display.labels[3].startswith("risk group 4 of 7")
    assert display.ax_.get_title() == "Mean predicted survival by risk group"
    single = SurvivalCurveDisplay.from_estimator(model, X, n_groups=1)
    assert single.labels == ["all rows (n=300)"]


def test_from_predictions_takes_step_functions_or_an_array(fitted):
    model, X, y = fitted
    risk = model.predict(X)
    functions = model.predict_survival_function(X)
    from_functions = SurvivalCurveDisplay.from_predictions(y, risk, functions, n_groups=2)
    from_array = SurvivalCurveDisplay.from_predictions(
        y, risk, model.predict_survival_function(X, return_array=True),
        times=model.unique_times_, n_groups=2)
    np.testing.assert_array_equal(from_functions.times, model.unique_times_)
    np.testing.assert_allclose(from_functions.curves, from_array.curves)
    for a, b in zip(from_functions.groups, from_array.groups, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="times is required"):
        SurvivalCurveDisplay.from_predictions(y, risk, from_array.curves)
    with pytest.raises(ValueError, match=r"survival must be of shape \(n_samples, "
                                         r"len\(times\)\)"):
        SurvivalCurveDisplay.from_predictions(y, risk, np.ones((300, 4)),
                                              times=model.unique_times_)


def test_the_plain_constructor_and_a_given_ax():
    fig, ax = plt.subplots()
    times = np.array([1.0, 2.0, 4.0])
    display = SurvivalCurveDisplay(
        times, np.array([[0.9, 0.7, 0.5]]), ["a"],
        kaplan_meier=[(np.array([1.5, 3.0]), np.array([0.8, 0.4]))]).plot(ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(display.kaplan_meier_lines_[0].get_ydata(), [1, 0.8, 0.4])
    assert len(plt.get_fignums()) == 1
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        display.plot(ax=[ax])
    with pytest.raises(ValueError, match="one label per curve"):
        SurvivalCurveDisplay(times, np.ones((2, 3)), ["a"]).plot()


def test_sksurv_cox_model(fitted):
    linear_model = pytest.importorskip("sksurv.linear_model")
    _, X, y = fitted
    cox = linear_model.CoxPHSurvivalAnalysis().fit(X, y)
    display = SurvivalCurveDisplay.from_estimator(cox, X, y)
    np.testing.assert_allclose(
        drawn(display.lines_[0])[1],
        cox.predict_survival_function(X, return_array=True)[display.groups[0]].mean(axis=0))


# ------------------------------------------------------------------ Kaplan–Meier


def km_cases():
    rng = np.random.RandomState(0)
    times = rng.randint(0, 8, size=60).astype(float)  # many ties
    events = rng.rand(60) < 0.6
    _, y, _ = make_multimodal_survival(n_samples=200, censoring=0.4, random_state=1)
    return {
        "ties and censoring": (events, times),
        "event and censoring tied": (np.array([True, False, True, False, True]),
                                     np.array([2.0, 2.0, 3.0, 3.0, 1.0])),
        "last row censored": (np.array([True, True, False]), np.array([1.0, 2.0, 5.0])),
        "no event": (np.zeros(4, dtype=bool), np.array([1.0, 2.0, 2.0, 3.0])),
        "time zero": (np.array([True, True, False, True]), np.array([0.0, 0.0, 1.0, 2.0])),
        "dataset": (y["event"], y["time"]),
    }


@pytest.mark.parametrize("case", list(km_cases()))
def test_kaplan_meier_equals_scikit_survival(case):
    nonparametric = pytest.importorskip("sksurv.nonparametric")
    event, time = km_cases()[case]
    times, survival = _kaplan_meier(event, time)
    expected_times, expected = nonparametric.kaplan_meier_estimator(event, time)
    np.testing.assert_array_equal(times, expected_times)
    np.testing.assert_allclose(survival, expected, rtol=1e-12)


def test_kaplan_meier_by_hand():
    times, survival = _kaplan_meier([True, False, True, True, False], [1, 1, 2, 2, 3])
    np.testing.assert_array_equal(times, [1, 2, 3])
    np.testing.assert_allclose(survival, [4 / 5, 4 / 5 * (1 - 2 / 3), 4 / 5 / 3])


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("y, message", [
    (np.linspace(1, 2, 300), r"y must be a structured array with a boolean event field "
                             r"then a float time field, got a float64 array"),
    (pd.Series(np.ones(300)), "got an object of type Series"),
    (np.zeros(300, dtype=[("time", float), ("event", bool)]),
     r"first field of y \('time'\) must be the boolean event"),
])
def test_y_that_is_not_a_survival_array_is_named(fitted, y, message):
    model, X, _ = fitted
    with pytest.raises(ValueError, match=message):
        SurvivalCurveDisplay.from_estimator(model, X, y)


def test_y_of_another_length(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SurvivalCurveDisplay.from_estimator(model, X, y[:-1])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SurvivalCurveDisplay.from_predictions(y[:-1], model.predict(X),
                                              model.predict_survival_function(X))


def test_rows_not_in_X_are_named(fitted):
    model, X, _ = fitted
    named = X.set_axis([f"p{k:03d}" for k in range(len(X))])
    with pytest.raises(ValueError, match=r"rows \['nope', 'p999'\] are not in X: not "
                                         r"labels of its index; X has 300 rows, its index "
                                         r"starts \['p000', 'p001', 'p002'\]"):
        SurvivalCurveDisplay.from_estimator(model, named, rows=["p001", "nope", "p999"])
    with pytest.raises(ValueError, match=r"rows \[300\] are not in X: not positions"):
        SurvivalCurveDisplay.from_estimator(model, named, rows=[0, 300])
    with pytest.raises(ValueError, match=r"rows \[300\] are not in X: not labels of its "
                                         r"index \(X's index is of integers"):
        SurvivalCurveDisplay.from_estimator(model, X, rows=[300])
    with pytest.raises(ValueError, match="rows is empty"):
        SurvivalCurveDisplay.from_estimator(model, X, rows=[])
    with pytest.raises(ValueError, match="not booleans"):
        SurvivalCurveDisplay.from_estimator(model, X, rows=np.ones(300, dtype=bool))
    with pytest.raises(ValueError, match="duplicate labels"):
        SurvivalCurveDisplay.from_estimator(model, X.set_axis(["a"] * 300), rows=["a"])


def test_other_errors(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="not both"):
        SurvivalCurveDisplay.from_estimator(model, X, y, rows=[0])
    for n_groups in (0, 301, 2.0, True):
        with pytest.raises(ValueError, match=r"n_groups must be an integer from 1 to the "
                                             r"number of rows \(300\)"):
            SurvivalCurveDisplay.from_estimator(model, X, y, n_groups=n_groups)
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        SurvivalCurveDisplay.from_estimator(model, X, rows=[0], ax="left")
    with pytest.raises(NotFittedError):
        SurvivalCurveDisplay.from_estimator(I2M2SurvivalAnalysis(), X, y)


def test_missing_matplotlib_names_the_extra(fitted, monkeypatch):
    model, X, y = fitted
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "sk-i2m2\[plot\]"'):
        SurvivalCurveDisplay.from_estimator(model, X, y)
