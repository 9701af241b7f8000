"""Prediction warns, once per call and kind, of inputs the model has not seen."""

import warnings

import numpy as np
import pandas as pd
import pytest

import sk_i2m2
from sk_i2m2 import DataWarning, I2M2Classifier, I2M2Regressor
from sk_i2m2.experts import CNNExpert, MLPExpert

from .conftest import FAST


@pytest.fixture(scope="module")
def clinic():
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"age": rng.uniform(20, 90, 120), "bmi": rng.normal(25, 4, 120),
                      "site": rng.choice(["HospA", "HospB", "HospC"], 120),
                      "sex": rng.choice(["f", "m"], 120)})
    y = (X["age"] + 5 * (X["sex"] == "m") > 55).astype(int).to_numpy()
    spec = [("exam", MLPExpert(hidden_units=(8,)), ["age", "sex"]),
            ("visit", MLPExpert(hidden_units=(8,)), ["bmi", "site"])]
    return X, y, I2M2Classifier(spec, **FAST).fit(X, y)


def _data_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def test_clean_rows_predict_without_a_word(clinic):
    X, _, model = clinic
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        model.predict_proba(X)
        model.explain(X.head(3))


def test_an_unseen_category_and_a_number_far_outside_warn_once_each(clinic):
    X, _, model = clinic
    new = X.head(6).copy()
    new.loc[new.index[1], "site"] = "HospD"
    new.loc[new.index[2], "site"] = "HospD"
    new.loc[new.index[0], "age"] = 760.0
    proba, messages = _data_warnings(lambda: model.predict_proba(new))
    assert len(messages) == 2
    categories, numbers = messages
    assert "'site'" in categories and "HospD" in categories and "2 row(s)" in categories
    assert "[1, 2]" in categories and "'sex'" not in categories
    low, high = X["age"].min(), X["age"].max()
    assert "'age'" in numbers and f"[{low:g}, {high:g}]" in numbers and "760" in numbers
    # A warning, not a change: the predictions are those of the model as it is.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        np.testing.assert_array_equal(proba, model.predict_proba(new))


def test_numbers_within_a_training_range_of_the_extremes_are_not_far(clinic):
    X, _, model = clinic
    new = X.head(2).copy()
    low, high = X["age"].min(), X["age"].max()
    new["age"] = [low - 0.9 * (high - low), high + 0.9 * (high - low)]
    _, messages = _data_warnings(lambda: model.predict(new))
    assert messages == []


def test_the_warnings_are_silenced_the_usual_way(clinic):
    X, _, model = clinic
    new = X.head(2).copy()
    new["site"] = "HospD"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=sk_i2m2.DataWarning)
        model.predict(new)
    assert not [w for w in caught if issubclass(w.category, DataWarning)]


def test_a_loaded_model_still_knows_what_it_saw(clinic, tmp_path):
    X, _, model = clinic
    sk_i2m2.save(model, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    new = X.head(2).copy()
    new["sex"] = "x"
    _, messages = _data_warnings(lambda: loaded.predict(new))
    assert len(messages) == 1 and "'sex'" in messages[0] and "['x']" in messages[0]


def test_pixel_columns_are_not_profiled_and_regressors_warn_too():
    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.rand(80, 6), columns=["p0", "p1", "p2", "p3", "dose", "age"])
    y = X["dose"] * 2 + rng.randn(80) * 0.1
    spec = [("scan", CNNExpert(input_shape=(1, 2, 2), channels=(2,)), ["p0", "p1", "p2", "p3"]),
            ("clinic", MLPExpert(hidden_units=(8,)), ["dose", "age"])]
    model = I2M2Regressor(spec, **FAST).fit(X, y)
    assert sorted(model.splitter_.input_profile_) == [4, 5]  # dose and age only
    new = X.head(3).copy()
    new["p0"] = 50.0  # far outside, but a pixel: standardised images are the CNN's
    new.loc[new.index[0], "dose"] = 9.0
    _, messages = _data_warnings(lambda: model.predict(new))
    assert len(messages) == 1 and "'dose'" in messages[0] and "'p0'" not in messages[0]
