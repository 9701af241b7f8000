"""Tests of :class:`sk_i2m2.ModalitySplitter`: columns -> modality arrays."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.compose import make_column_selector
from sklearn.preprocessing import StandardScaler

from sk_i2m2 import ModalitySplitter
from sk_i2m2.experts import CNNExpert, MLPExpert

PIXELS = [f"px{i}" for i in range(12)]


def numeric_frame(n=10, seed=0):
    """Two clinical columns and twelve pixel columns of a 1x4x3 image."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 12)), columns=PIXELS)
    frame.insert(0, "age", rng.normal(60, 8, n))
    frame.insert(1, "bmi", rng.normal(25, 4, n))
    return frame


def two_modalities(columns=PIXELS):
    return [
        ("clinical", MLPExpert(hidden_units=(8,)), ["age", "bmi"]),
        ("image", CNNExpert(input_shape=(1, 4, 3)), columns),
    ]


def assert_outputs_equal(left, right, **tolerance):
    assert list(left) == list(right)
    for name in left:
        assert left[name].dtype == right[name].dtype == np.float32
        assert left[name].shape == right[name].shape
        np.testing.assert_allclose(left[name], right[name], **tolerance)


# --------------------------------------------------------------------- basic contract


def test_fit_transform_returns_float32_arrays_shaped_by_sample_shapes():
    X = numeric_frame()
    splitter = ModalitySplitter(two_modalities())
    out = splitter.fit_transform(X)

    assert isinstance(out, dict)
    assert list(out) == ["clinical", "image"]
    assert splitter.sample_shapes_ == {"clinical": (2,), "image": (1, 4, 3)}
    for name, array in out.items():
        assert isinstance(array, np.ndarray)
        assert array.dtype == np.float32
        assert array.shape == (len(X), *splitter.sample_shapes_[name])
    assert splitter.n_features_in_ == X.shape[1]
    assert list(splitter.feature_names_in_) == list(X.columns)
    assert_outputs_equal(splitter.transform(X), out, rtol=0, atol=0)


def test_fit_then_transform_equals_fit_transform():
    X = numeric_frame()
    fitted = ModalitySplitter(two_modalities()).fit(X)
    assert_outputs_equal(
        fitted.transform(X), ModalitySplitter(two_modalities()).fit_transform(X),
        rtol=0, atol=0,
    )


IMAGE_SPECS = {
    "names": PIXELS,
    "int_indices": list(range(2, 14)),
    "slice": slice(2, 14),
    "label_slice": slice("px0", "px11"),
    "bool_list": [False, False] + [True] * 12,
    "bool_array": np.r_[False, False, [True] * 12],
    "column_selector": make_column_selector(pattern="^px"),
    "callable": lambda X: [c for c in X.columns if c.startswith("px")],
}


@pytest.mark.parametrize("spec", list(IMAGE_SPECS.values()), ids=list(IMAGE_SPECS))
def test_every_column_spec_selects_the_same_arrays(spec):
    X = numeric_frame()
    expected = ModalitySplitter(two_modalities()).fit_transform(X)
    splitter = ModalitySplitter(two_modalities(spec))
    assert_outputs_equal(splitter.fit_transform(X), expected, rtol=0, atol=0)
    assert splitter.modalities_[1][2] == list(range(2, 14))


def test_numpy_array_with_integer_indices_matches_dataframe():
    X = numeric_frame()
    spec = [
        ("clinical", MLPExpert(), [0, 1]),
        ("image", CNNExpert(input_shape=(1, 4, 3)), list(range(2, 14))),
    ]
    from_array = ModalitySplitter(spec)
    out = from_array.fit_transform(X.to_numpy())
    assert not hasattr(from_array, "feature_names_in_")
    assert from_array.n_features_in_ == 14
    assert_outputs_equal(out, ModalitySplitter(two_modalities()).fit_transform(X),
                         rtol=1e-6, atol=1e-6)
    assert_outputs_equal(from_array.transform(X.to_numpy()), out, rtol=0, atol=0)
    assert list(from_array.feature_names_out_["clinical"]) == ["x0", "x1"]


# --------------------------------------------------------------------- properties

LETTERS = list("abcdef")


@settings(max_examples=20, deadline=None)
@given(
    order=st.permutations(LETTERS),
    chosen=st.sets(st.sampled_from(LETTERS), min_size=1),
    seed=st.integers(0, 2**16),
)
def test_selection_specs_agree_for_any_column_order(order, chosen, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(7, len(order))), columns=list(order))
    names = [c for c in X.columns if c in chosen]  # in frame order, as masks select
    indices = [X.columns.get_loc(c) for c in names]
    specs = {
        "names": names,
        "indices": indices,
        "mask": [c in chosen for c in X.columns],
        "selector": make_column_selector(pattern="^(?:" + "|".join(sorted(chosen)) + ")$"),
    }
    outputs = {
        kind: ModalitySplitter([("m", MLPExpert(), spec)]).fit_transform(X)["m"]
        for kind, spec in specs.items()
    }
    expected = outputs.pop("names")
    assert expected.shape == (7, len(chosen))
    for array in outputs.values():
        np.testing.assert_array_equal(array, expected)
    # The chosen columns, standardised, in frame order.
    raw = X[names].to_numpy()
    np.testing.assert_allclose(expected, (raw - raw.mean(0)) / raw.std(0),
                               rtol=1e-4, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from(["float32", "float64", "int64", "int32", "Int64"]),
    n_columns=st.integers(1, 4),
)
def test_numeric_dtypes_give_the_same_arrays(seed, dtype, n_columns):
    rng = np.random.default_rng(seed)
    values = rng.integers(-50, 50, size=(9, n_columns))
    columns = [f"c{i}" for i in range(n_columns)]
    reference = pd.DataFrame(values.astype(np.float64), columns=columns)
    X = reference.astype(dtype)
    spec = [("m", MLPExpert(), columns)]
    expected = ModalitySplitter(spec).fit_transform(reference)["m"]
    out = ModalitySplitter(spec).fit_transform(X)["m"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- "auto" preprocessing


def test_auto_imputes_median_and_standardises_numeric_columns():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0, 4.0, 2.0],
                      "b": [5.0, 6.0, 7.0, 8.0, 9.0, 100.0]})
    out = ModalitySplitter([("m", MLPExpert(), ["a", "b"])]).fit_transform(X)["m"]
    assert out.shape == (6, 2)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    filled = X["a"].fillna(X["a"].median()).to_numpy()
    np.testing.assert_allclose(out[:, 0], (filled - filled.mean()) / filled.std(),
                               rtol=1e-5)


CATEGORICAL_COLUMNS = {
    "object": lambda values: pd.Series(values, dtype=object),
    "category": lambda values: pd.Series(pd.Categorical(values)),
    "string": lambda values: pd.Series(pd.array(values, dtype="string")),
    "inferred": pd.Series,
}


@pytest.mark.parametrize("make", list(CATEGORICAL_COLUMNS.values()),
                         ids=list(CATEGORICAL_COLUMNS))
def test_auto_one_hot_encodes_text_and_categorical_columns(make):
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                      "cat": make(["x", "y", "z", "x", "y", "x"])})
    splitter = ModalitySplitter([("m", MLPExpert(), ["num", "cat"])])
    out = splitter.fit_transform(X)["m"]
    assert list(splitter.feature_names_out_["m"]) == ["num", "cat_x", "cat_y", "cat_z"]
    expected = (X[["cat"]].astype(object).to_numpy() == np.array(["x", "y", "z"]))
    np.testing.assert_array_equal(out[:, 1:], expected.astype(np.float32))
    np.testing.assert_allclose(out[:, 0].mean(), 0, atol=1e-6)


def test_auto_one_hot_encodes_boolean_columns():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0], "flag": [True, False, False, True]})
    splitter = ModalitySplitter([("m", MLPExpert(), ["num", "flag"])])
    out = splitter.fit_transform(X)["m"]
    assert out.shape == (4, 3)
    assert list(splitter.feature_names_out_["m"]) == ["num", "flag_False", "flag_True"]
    np.testing.assert_array_equal(out[:, 2], X["flag"].to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(out[:, 1] + out[:, 2], np.ones(4, dtype=np.float32))


@pytest.mark.parametrize("make, missing", [
    (CATEGORICAL_COLUMNS["object"], np.nan),
    (CATEGORICAL_COLUMNS["string"], pd.NA),
    (CATEGORICAL_COLUMNS["inferred"], np.nan),
], ids=["object_nan", "string_na", "inferred_nan"])
def test_auto_imputes_missing_categories_with_the_most_frequent(make, missing):
    column = make(["x", missing, "x", "x", "y", "x"])
    assert column.isna().tolist() == [False, True, False, False, False, False]
    # A second, complete column keeps the modality present in row 1: only the
    # category is missing there, which is the preprocessor's job.
    X = pd.DataFrame({"cat": column, "num": np.arange(6.0)})
    out = ModalitySplitter([("m", MLPExpert(), ["cat", "num"])]).fit_transform(X)["m"]
    assert out.shape == (6, 3)  # numeric first, then the one-hot block
    np.testing.assert_array_equal(out[1, 1:], [1.0, 0.0])  # imputed with "x"
    np.testing.assert_array_equal(out[:, 1:].sum(axis=1), np.ones(6, dtype=np.float32))


@pytest.mark.parametrize("dtype", [object, "category"])
def test_unknown_category_at_transform_gives_all_zero_block(dtype):
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0],
                      "cat": pd.Series(["x", "y", "x", "y"], dtype=dtype)})
    splitter = ModalitySplitter([("m", MLPExpert(), ["num", "cat"])]).fit(X)
    new = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0],
                        "cat": pd.Series(["x", "unseen", "x", "y"], dtype=dtype)})
    out = splitter.transform(new)["m"]
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out[1, 1:], [0.0, 0.0])
    np.testing.assert_array_equal(out[[0, 2, 3], 1:], [[1, 0], [1, 0], [0, 1]])


def test_all_nan_numeric_column_is_kept():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "empty": [np.nan] * 4,
                      "b": [0.5, 0.1, 0.2, 0.9]})
    splitter = ModalitySplitter([("m", MLPExpert(), ["a", "empty", "b"])])
    out = splitter.fit_transform(X)["m"]
    assert out.shape == (4, 3)
    assert splitter.sample_shapes_["m"] == (3,)
    assert list(splitter.feature_names_out_["m"]) == ["a", "empty", "b"]
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, 1], np.zeros(4, dtype=np.float32))
    assert splitter.transform(X)["m"].shape == (4, 3)


# --------------------------------------------------------------------- layout


def test_a_column_may_feed_several_modalities():
    X = numeric_frame()
    splitter = ModalitySplitter([
        ("first", MLPExpert(), ["age", "bmi"]),
        ("second", MLPExpert(), ["bmi", "px0"]),
    ])
    out = splitter.fit_transform(X)
    assert out["first"].shape == out["second"].shape == (len(X), 2)
    np.testing.assert_array_equal(out["first"][:, 1], out["second"][:, 0])


def test_remainder_drop_and_passthrough():
    X = numeric_frame()
    dropped = ModalitySplitter([("clinical", MLPExpert(), ["age", "bmi"])])
    out = dropped.fit_transform(X)
    assert list(out) == ["clinical"]
    assert dropped.get_feature_names_out().tolist() == ["clinical__age", "clinical__bmi"]

    kept = ModalitySplitter([("clinical", MLPExpert(), ["age", "bmi"])],
                            remainder="passthrough")
    out = kept.fit_transform(X)
    assert list(out) == ["clinical", "remainder"]
    assert out["remainder"].shape == (len(X), 12)
    assert list(kept.feature_names_out_["remainder"]) == PIXELS
    assert kept.modalities_[-1][0] == "remainder"
    assert kept.modalities_[-1][2] == list(range(2, 14))
    assert isinstance(kept.modalities_[-1][1], MLPExpert)
    raw = X[PIXELS].to_numpy()
    np.testing.assert_allclose(out["remainder"], (raw - raw.mean(0)) / raw.std(0),
                               rtol=1e-4, atol=1e-5)


def test_get_feature_names_out_prefixes_modality_names():
    X = numeric_frame()
    X["sex"] = pd.Series(["f", "m"] * 5, dtype=object)
    splitter = ModalitySplitter([
        ("clinical", MLPExpert(), ["age", "sex"]),
        ("image", CNNExpert(input_shape=(1, 4, 3)), PIXELS),
    ]).fit(X)
    names = splitter.get_feature_names_out()
    assert names.tolist() == (["clinical__age", "clinical__sex_f", "clinical__sex_m"]
                              + [f"image__{p}" for p in PIXELS])
    total = sum(int(np.prod(shape)) for shape in splitter.sample_shapes_.values())
    assert len(names) == total == 15


# --------------------------------------------------------------------- parameters


def test_nested_params_set_params_and_clone():
    splitter = ModalitySplitter(two_modalities())
    params = splitter.get_params()
    for key in ["modalities", "remainder", "clinical", "image", "clinical__hidden_units",
                "clinical__preprocessor", "clinical__dropout", "image__input_shape"]:
        assert key in params
    assert params["clinical__hidden_units"] == (8,)
    assert "clinical__hidden_units" not in splitter.get_params(deep=False)

    expert = splitter.modalities[0][1]
    assert splitter.set_params(clinical__hidden_units=(4, 2)) is splitter
    assert splitter.modalities[0][1] is expert
    assert expert.hidden_units == (4, 2)
    splitter.set_params(image__channels=(3,))
    assert splitter.modalities[1][1].channels == (3,)

    copy = clone(splitter)
    assert copy.modalities[0][1] is not expert
    assert copy.get_params()["clinical__hidden_units"] == (4, 2)
    assert copy.modalities[0][2] == ["age", "bmi"]
    assert not hasattr(copy, "modalities_")

    replacement = MLPExpert(hidden_units=(3,))
    splitter.set_params(image=replacement)
    assert splitter.modalities[1] == ("image", replacement, PIXELS)
    out = splitter.fit_transform(numeric_frame())
    assert out["image"].shape == (10, 12)


def test_modality_name_conflicting_with_a_constructor_parameter_is_rejected():
    # As in ColumnTransformer ("Estimator names conflict with constructor arguments"):
    # a modality called "modalities" shadows the parameter in get_params, so that
    # set_params(**get_params()) and grid searches over "modalities" break.
    X = numeric_frame()
    with pytest.raises(ValueError, match="modalities"):
        ModalitySplitter([("modalities", MLPExpert(), ["age"])]).fit(X)


# --------------------------------------------------------------------- errors


def _frame_with(**columns):
    X = numeric_frame()
    for name, values in columns.items():
        X[name] = values
    return X


ERROR_CASES = {
    "duplicate": (
        [("clinical", MLPExpert(), ["age"]), ("clinical", MLPExpert(), ["bmi"])],
        numeric_frame(), ValueError, r"unique.*'clinical'"),
    "fusion": ([("fusion", MLPExpert(), ["age"])], numeric_frame(), ValueError,
               r"'fusion' is reserved"),
    "remainder": ([("remainder", MLPExpert(), ["age"])], numeric_frame(), ValueError,
                  r"'remainder' is reserved"),
    "double_underscore": ([("clin__ical", MLPExpert(), ["age"])], numeric_frame(),
                          ValueError, r"'clin__ical'.*'__'"),
    # A classifier is an expert (wrapped in SklearnExpert); a transformer is not.
    "not_an_expert": ([("clinical", StandardScaler(), ["age"])], numeric_frame(),
                      TypeError, r"Modality 'clinical'.*StandardScaler"),
    "empty_list": ([("clinical", MLPExpert(), [])], numeric_frame(), ValueError,
                   r"Modality 'clinical' selects no columns"),
    "false_mask": ([("clinical", MLPExpert(), [False] * 14)], numeric_frame(),
                   ValueError, r"Modality 'clinical' selects no columns"),
    "selector_matches_nothing": (
        [("clinical", MLPExpert(), make_column_selector(pattern="^nothing"))],
        numeric_frame(), ValueError, r"Modality 'clinical' selects no columns"),
    "missing_column": (
        [("clinical", MLPExpert(), ["age", "height"])], numeric_frame(), ValueError,
        r"Modality 'clinical'.*height.*Available columns: \['age', 'bmi', 'px0'"),
    "names_on_array": ([("clinical", MLPExpert(), ["age"])], numeric_frame().to_numpy(),
                       ValueError, r"Modality 'clinical'.*strings"),
    "nan_passthrough": (
        [("clinical", MLPExpert(preprocessor="passthrough"), ["age", "bmi"])],
        _frame_with(bmi=[np.nan] + [1.0] * 9), ValueError,
        r"Modality 'clinical'.*\['bmi'\].*NaN"),
    "text_passthrough": (
        [("clinical", MLPExpert(preprocessor="passthrough"), ["age", "sex"])],
        _frame_with(sex=pd.Series(["f", "m"] * 5, dtype=object)), ValueError,
        r"Modality 'clinical'.*not numeric"),
}


@pytest.mark.parametrize("spec, X, error, match", list(ERROR_CASES.values()),
                         ids=list(ERROR_CASES))
def test_invalid_specs_raise_naming_the_modality(spec, X, error, match):
    splitter = ModalitySplitter(spec)
    with pytest.raises(error, match=match):
        splitter.fit(X)
    assert not hasattr(splitter, "modalities_")


def test_nan_at_transform_with_passthrough_names_modality_and_column():
    X = numeric_frame()
    splitter = ModalitySplitter(
        [("clinical", MLPExpert(preprocessor="passthrough"), ["age", "bmi"])]).fit(X)
    X.loc[3, "age"] = np.inf
    with pytest.raises(ValueError, match=r"Modality 'clinical'.*\['age'\]"):
        splitter.transform(X)


@pytest.mark.parametrize("input_shape", [(1, 4, 4), (1, 2, 3), (2, 2, 2), (5, 2, 2)],
                         ids=str)
def test_cnn_input_shape_not_matching_the_columns_names_the_modality(input_shape):
    # 12 pixel columns; (5, 2, 2) also cannot be split into 5 equal channels.
    splitter = ModalitySplitter([("image", CNNExpert(input_shape=input_shape), PIXELS)])
    with pytest.raises(ValueError, match=r"Modality 'image'"):
        splitter.fit(numeric_frame())


def test_cnn_input_shape_with_wrong_number_of_axes_names_the_modality():
    splitter = ModalitySplitter([("image", CNNExpert(input_shape=(12,)), PIXELS)])
    with pytest.raises(ValueError, match=r"Modality 'image'.*3 or 4 axes"):
        splitter.fit(numeric_frame())


def test_invalid_remainder_is_rejected():
    with pytest.raises(ValueError, match="remainder"):
        ModalitySplitter(two_modalities(), remainder="keep").fit(numeric_frame())


# --------------------------------------------------------------------- array cells


def test_image_cells_equal_flattened_pixel_columns():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8, 1, 4, 3))
    cells = list(images)
    cells[5] = None  # a missing image: the modality is absent from that row
    flat = images.reshape(8, -1).copy()
    flat[5] = np.nan
    flat[2, 4] = np.nan  # one missing pixel: imputed
    cells[2] = flat[2].reshape(1, 4, 3)

    as_cells = pd.DataFrame({"age": np.arange(8.0), "img": pd.Series(cells, dtype=object)})
    as_columns = pd.DataFrame(flat, columns=PIXELS)
    as_columns.insert(0, "age", np.arange(8.0))

    cell_splitter = ModalitySplitter(
        [("image", CNNExpert(input_shape=(1, 4, 3)), ["img"]),
         ("clinical", MLPExpert(), ["age"])]).fit(as_cells)
    column_splitter = ModalitySplitter(
        [("image", CNNExpert(input_shape=(1, 4, 3)), PIXELS),
         ("clinical", MLPExpert(), ["age"])]).fit(as_columns)
    from_cells = cell_splitter.transform(as_cells)
    from_columns = column_splitter.transform(as_columns)
    assert from_cells["image"].shape == (8, 1, 4, 3)
    assert np.isnan(from_cells["image"][5]).all()
    assert np.isfinite(np.delete(from_cells["image"], 5, axis=0)).all()
    np.testing.assert_allclose(from_cells["image"], from_columns["image"],
                               rtol=1e-6, atol=1e-6)
    assert cell_splitter.get_feature_names_out().tolist() == [
        f"image__img[{i}]" for i in range(12)] + ["clinical__age"]


def test_array_cells_of_different_sizes_raise_naming_the_modality():
    cells = [np.zeros((1, 4, 3)), np.zeros((1, 4, 2)), np.zeros((1, 4, 3))]
    X = pd.DataFrame({"img": pd.Series(cells, dtype=object)})
    with pytest.raises(ValueError, match=r"Modality 'image': row 1"):
        ModalitySplitter([("image", CNNExpert(input_shape=(1, 4, 3)), ["img"])]).fit(X)


# --------------------------------------------------------------------- feature names


@pytest.mark.parametrize("change, match", [
    ("rename", r"X lacks column\(s\) \['age'\] seen at fit. X has: \['AGE', 'bmi'"),
    ("reorder", "same order"),
    ("extra", "unseen at fit time"),
])
def test_renamed_or_reordered_columns_at_transform_raise(change, match):
    X = numeric_frame()
    splitter = ModalitySplitter(two_modalities()).fit(X)
    other = {"rename": X.rename(columns={"age": "AGE"}),
             "reorder": X[["bmi", "age", *PIXELS]],
             "extra": X.assign(extra=1.0)}[change]
    with pytest.raises(ValueError, match=match):
        splitter.transform(other)


@pytest.mark.parametrize("modalities", [
    [("image", CNNExpert(input_shape=(1, 4, 3)), PIXELS)],
    [("clinical", MLPExpert(), ["age", "bmi"])],
    two_modalities(),
], ids=["cnn", "mlp_auto", "both"])
def test_numpy_at_transform_after_dataframe_fit_warns_but_works(modalities):
    X = numeric_frame()
    splitter = ModalitySplitter(modalities).fit(X)
    expected = splitter.transform(X)
    with pytest.warns(UserWarning, match=re.escape("feature names")):
        out = splitter.transform(X.to_numpy())
    assert_outputs_equal(out, expected, rtol=0, atol=0)
