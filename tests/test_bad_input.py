"""Each bad input gets a clear error (naming modality and column) or documented behaviour."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import nn

from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import CNNExpert, MLPExpert, TorchExpert

from .conftest import FAST, SINGLE


@pytest.fixture
def fitted(two_modalities):
    X, y, modalities = two_modalities
    return I2M2Classifier(modalities, **FAST).fit(X, y), X, y, modalities


# ---------------------------------------------------------------- columns


def test_missing_column_at_fit_names_modality_and_lists_columns(two_modalities):
    X, y, modalities = two_modalities
    with pytest.raises(ValueError, match=r"Modality 'm1'.*Available columns: \['m0_x0'"):
        I2M2Classifier(modalities, **FAST).fit(X.drop(columns="m1_x2"), y)


def test_missing_column_at_predict_lists_what_is_missing_and_what_exists(fitted):
    clf, X, _, _ = fitted
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['m0_x1'\].*X has: \['m0_x0'"):
        clf.predict(X.drop(columns="m0_x1"))


def test_reordered_columns_at_predict_are_refused(fitted):
    clf, X, _, _ = fitted
    with pytest.raises(ValueError, match="same order"):
        clf.predict(X[X.columns[::-1]])


def test_array_at_predict_after_dataframe_fit_warns_once_and_predicts_alike(fitted):
    clf, X, _, _ = fitted
    with pytest.warns(UserWarning, match="does not have valid feature names") as record:
        proba = clf.predict_proba(X.to_numpy())
    assert len(record) == 1
    np.testing.assert_allclose(proba, clf.predict_proba(X))


def test_wrong_number_of_columns_in_an_array(fitted):
    clf, X, _, _ = fitted
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="X has 5 features"):
        clf.predict(X.to_numpy()[:, :5])


# ---------------------------------------------------------------- values


def test_nan_without_an_imputer_names_modality_and_column(two_modalities):
    X, y, modalities = two_modalities
    X = X.copy()
    X.loc[3, "m0_x2"] = np.nan
    spec = [("m0", MLPExpert(preprocessor="passthrough"), modalities[0][2]), modalities[1]]
    with pytest.raises(ValueError, match=r"Modality 'm0': column\(s\) \['m0_x2'\] contain NaN"):
        I2M2Classifier(spec, **FAST).fit(X, y)


def test_infinity_names_the_modality(two_modalities):
    X, y, modalities = two_modalities
    X = X.copy()
    X.loc[3, "m1_x0"] = np.inf
    with pytest.raises(ValueError, match="Modality 'm1'.*infinity"):
        I2M2Classifier(modalities, **FAST).fit(X, y)


def test_text_where_numbers_are_expected_names_the_modality(two_modalities):
    X, y, modalities = two_modalities
    X = X.assign(m0_x0=["a", "b", "c"] * 40)
    image = [("img", CNNExpert(input_shape=(1, 2, 2)), modalities[0][2]), modalities[1]]
    with pytest.raises(ValueError, match="Modality 'img'.*non-numeric"):
        I2M2Classifier(image, **FAST).fit(X, y)
    raw = [("m0", MLPExpert(preprocessor="passthrough"), modalities[0][2]), modalities[1]]
    with pytest.raises(ValueError, match="Modality 'm0': its columns are not numeric"):
        I2M2Classifier(raw, **FAST).fit(X, y)


def test_unknown_category_at_predict_is_ignored(two_modalities):
    X, y, modalities = two_modalities
    X = X.assign(site=np.where(np.arange(len(X)) % 2, "north", "south"))
    spec = [("m0", MLPExpert(hidden_units=8), [*modalities[0][2], "site"]), modalities[1]]
    clf = I2M2Classifier(spec, **FAST).fit(X, y)
    unseen = X.assign(site="east")
    proba = clf.predict_proba(unseen)
    assert np.isfinite(proba).all()


def test_image_columns_that_do_not_fill_input_shape_name_the_modality(two_modalities):
    X, y, modalities = two_modalities
    spec = [("img", CNNExpert(input_shape=(1, 3, 3)), modalities[0][2]), modalities[1]]
    with pytest.raises(ValueError, match=r"Modality 'img': CNNExpert expects input_shape="):
        I2M2Classifier(spec, **FAST).fit(X, y)


# ---------------------------------------------------------------- spec


@pytest.mark.parametrize("spec, match", [
    ([("a", MLPExpert(), ["m0_x0"]), ("a", MLPExpert(), ["m1_x0"])], "unique"),
    ([("a", "mlp", ["m0_x0"])], "Modality 'a': the expert must be one of"),
    ([("a", MLPExpert(), [])], "Modality 'a' selects no columns"),
    ([("lr", MLPExpert(), ["m0_x0"])], "conflict with constructor arguments"),
    ([("fusion", MLPExpert(), ["m0_x0"])], "reserved"),
])
def test_bad_modality_specs(two_modalities, spec, match):
    X, y, _ = two_modalities
    with pytest.raises((ValueError, TypeError), match=match):
        I2M2Classifier(spec, **FAST).fit(X, y)


# ---------------------------------------------------------------- labels and sizes


@pytest.mark.parametrize("make_y, match", [
    (lambda n: np.zeros(n), "single class"),
    (lambda n: np.linspace(0, 1, n), "continuous"),
    (lambda n: np.where(np.arange(n) == 3, np.nan, np.arange(n) % 2), r"missing label.*\[3\]"),
    (lambda n: np.array(["a", "b"] * (n // 2 - 1) + [None, "a"], dtype=object),
     r"missing label.*\[118\]"),
])
def test_bad_labels(two_modalities, make_y, match):
    X, _, modalities = two_modalities
    with pytest.raises(ValueError, match=match):
        I2M2Classifier(modalities, **FAST).fit(X, make_y(len(X)))


def test_fewer_rows_than_classes_or_batch_size_still_fit(two_modalities):
    X, _, modalities = two_modalities
    clf = I2M2Classifier(modalities, **{**FAST, "batch_size": 500})
    clf.fit(X.iloc[:3], ["a", "b", "c"])
    assert clf.predict(X.iloc[:3]).shape == (3,)


def test_early_stopping_with_a_class_seen_once_says_what_to_do(two_modalities):
    X, _, modalities = two_modalities
    y = np.array(["a", "b"] * 59 + ["c", "a"])
    with pytest.raises(ValueError, match="class 'c' has 1. Set early_stopping=False"):
        I2M2Classifier(modalities, early_stopping=True, **FAST).fit(X, y)


def test_early_stopping_with_a_validation_split_smaller_than_the_classes(two_modalities):
    X, _, modalities = two_modalities
    y = np.arange(len(X)) % 4
    with pytest.raises(ValueError, match="1 row.*too few to hold each of the 4 classes"):
        I2M2Classifier(modalities, early_stopping=True, validation_fraction=0.005,
                       **FAST).fit(X, y)


def test_empty_input(two_modalities):
    X, _, modalities = two_modalities
    with pytest.raises(ValueError, match="0 sample"):
        I2M2Classifier(modalities, **FAST).fit(X.iloc[:0], [])


# ---------------------------------------------------------------- training going wrong


class DivergesAfter(nn.Module):
    """Returns NaN from its seventh training call on: a loss that becomes NaN."""

    def __init__(self, n_outputs, input_shape):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], n_outputs)
        self.calls = 0

    def forward(self, x):
        out = self.linear(x)
        if self.training:
            self.calls += 1
            if self.calls > 6:
                return out * torch.nan
        return out


def _diverging(X, y, modalities, max_epochs):
    spec = [("m0", TorchExpert(DivergesAfter), modalities[0][2])]
    return I2M2Classifier(spec, dependencies="intra", max_epochs=max_epochs, batch_size=60,
                          random_state=0, **SINGLE).fit(X, y)


def test_a_nan_loss_stops_training_restores_finite_weights_and_warns(two_modalities):
    X, y, modalities = two_modalities  # 120 rows, batches of 60: NaN in epoch 4
    with pytest.warns(RuntimeWarning, match="train loss nan in epoch 4.*weights of epoch 3"):
        clf = _diverging(X, y, modalities, max_epochs=10)
    assert np.isfinite(clf.predict_proba(X)).all()
    three_epochs = _diverging(X, y, modalities, max_epochs=3)
    np.testing.assert_array_equal(clf.predict_proba(X), three_epochs.predict_proba(X))


def test_a_nan_loss_in_the_first_epoch_is_an_error_and_leaves_no_model(two_modalities):
    X, y, modalities = two_modalities
    spec = [("m0", TorchExpert(DivergesAfter), modalities[0][2])]
    clf = I2M2Classifier(spec, dependencies="intra", max_epochs=5, batch_size=10, **SINGLE,
                         random_state=0)
    with pytest.raises(ValueError, match="diverged in its first epoch"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


class InterruptAtEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_a_usable_model_and_says_so(two_modalities):
    X, y, modalities = two_modalities
    with pytest.warns(UserWarning, match="interrupted in epoch 3.*usable"):
        clf = I2M2Classifier(modalities, callbacks=[InterruptAtEpoch(3)],
                             **{**FAST, "max_epochs": 10}).fit(X, y)
    two_epochs = I2M2Classifier(modalities, **{**FAST, "max_epochs": 2}).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), two_epochs.predict_proba(X))


def test_no_warning_on_a_clean_fit(two_modalities):
    X, y, modalities = two_modalities
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        I2M2Classifier(modalities, **FAST).fit(pd.DataFrame(X), y)


def test_numbers_arriving_as_text_at_predict_are_named_in_a_warning(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    expected = clf.predict_proba(X)
    as_text = X.astype({X.columns[0]: str, X.columns[5]: str})
    with pytest.warns(UserWarning, match=re.escape(
            f"Column(s) {[X.columns[0], X.columns[5]]} (modality 'm0', 'm1') held numbers "
            "at fit and hold text now")):
        proba = clf.predict_proba(as_text)
    np.testing.assert_array_equal(proba, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict_proba(X)  # same types as at fit: nothing to say
