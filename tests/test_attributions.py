"""Column and pixel attributions (integrated gradients) and modality importance."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2.datasets import make_multimodal_regression
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.inspection import modality_importance

#: The tolerance of completeness the documentation states: absolute, and relative to
#: the difference, whichever is larger.
COMPLETENESS = 0.05


@pytest.fixture(scope="module")
def one_informative_column():
    """y is the sign of column "a"; every other column, and the "lab" modality, is noise."""
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({
        "a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
        "site": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        "d": rng.normal(size=n), "e": rng.normal(size=n),
    })
    y = (X["a"] > 0).astype(int).to_numpy()
    modalities = [("clinical", MLPExpert(hidden_units=(16,)), ["a", "b", "c", "site"]),
                  ("lab", MLPExpert(hidden_units=(16,)), ["d", "e"])]
    # The fusion network alone: these tests are about networks' attributions (the
    # default fusion's scikit-learn candidates have none: tests/test_pool.py).
    model = I2M2Classifier(modalities, fusion=None, max_epochs=40, lr=1e-2, n_bags=2,
                           random_state=0).fit(X, y)
    return X, y, model


def _completeness_gaps(table):
    # The networks' rows: scikit-learn experts (the default fusion's candidates) have
    # no gradients, and NaN throughout.
    table = table[table["contribution"].notna()]
    by = table.groupby(["sample", "expert"], sort=False)
    gap = by["attribution"].sum() - (by["contribution"].first()
                                     - by["baseline_contribution"].first())
    scale = (by["contribution"].first() - by["baseline_contribution"].first()).abs()
    return gap.abs(), scale


def test_attributions_concentrate_on_the_informative_column(one_informative_column):
    X, _, model = one_informative_column
    table = model.explain(X.head(40), by="column")
    clinical = table[table["expert"] == "clinical"]
    size = clinical.groupby("column")["attribution"].apply(lambda v: v.abs().mean())
    assert size.idxmax() == "a"
    assert size["a"] > 3 * size.drop("a").max(), size
    fusion = table[table["expert"] == "fusion"]
    size = fusion.groupby("column")["attribution"].apply(lambda v: v.abs().mean())
    assert size.idxmax() == "a", size


def test_attributions_add_up_to_the_contribution_over_the_baseline(one_informative_column):
    X, _, model = one_informative_column
    table = model.explain(X.head(40), by="column")
    gap, scale = _completeness_gaps(table)
    assert (gap <= np.maximum(COMPLETENESS, COMPLETENESS * scale)).all(), gap.max()
    # The contributions are explain's own.
    experts = model.explain(X.head(40)).set_index(["sample", "expert"])["contribution"]
    by = table.groupby(["sample", "expert"])["contribution"].first()
    np.testing.assert_allclose(by.sort_index(), experts.sort_index(), rtol=1e-4,
                               atol=1e-5)


def test_a_categorys_one_hot_columns_are_summed_back_to_it(one_informative_column):
    X, _, model = one_informative_column
    table = model.explain(X.head(5), by="column")
    clinical = table[(table["expert"] == "clinical") & (table["sample"] == 0)]
    assert list(clinical["column"]) == ["a", "b", "c", "site"]
    assert set(table.loc[table["expert"] == "fusion", "column"]) == set(X.columns)
    assert table["attribution"].notna().all()


def test_modality_importance_finds_the_informative_modality(one_informative_column):
    X, y, model = one_informative_column
    result = modality_importance(model, X, y, n_repeats=3, random_state=0)
    assert list(result.importances.index) == ["clinical", "lab"]
    assert result.importances.shape == (2, 3)
    assert result.importances_mean["clinical"] > 0.3
    assert abs(result.importances_mean["lab"]) < 0.05
    assert result.baseline_score == pytest.approx(model.score(X, y))


def test_scikit_learn_experts_have_no_gradients_and_say_so(one_informative_column):
    X, y, _ = one_informative_column
    modalities = [("clinical", MLPExpert(hidden_units=(8,)), ["a", "b", "c", "site"]),
                  ("lab", LogisticRegression(), ["d", "e"])]
    model = I2M2Classifier(modalities, max_epochs=2, n_bags=1, calibrate=None,
                           random_state=0).fit(X, y)
    table = model.explain(X.head(3), by="column")
    lab = table[table["expert"] == "lab"]
    assert list(lab["column"].iloc[:2]) == ["d", "e"] and lab["attribution"].isna().all()
    assert table.loc[table["expert"] != "lab", "attribution"].notna().all()


def test_a_regressors_attributions_add_up_too():
    X, y, modalities = make_multimodal_regression(n_samples=200, n_features=3,
                                                  random_state=0)
    model = I2M2Regressor(modalities, max_epochs=10, n_bags=2, random_state=0).fit(X, y)
    table = model.explain(X.head(10), by="column")
    gap, scale = _completeness_gaps(table)
    assert (gap <= np.maximum(COMPLETENESS, COMPLETENESS * scale)).all(), gap.max()
    np.testing.assert_allclose(table.groupby("sample")["predicted"].first(),
                               model.predict(X.head(10)), rtol=1e-5)


def test_by_must_be_expert_or_column(one_informative_column):
    X, _, model = one_informative_column
    with pytest.raises(ValueError, match="by must be 'expert' or 'column'"):
        model.explain(X, by="pixel")


@pytest.fixture(scope="module")
def bright_corner():
    """8x8 images whose class is the brightness of their top-left 3x3 corner."""
    rng = np.random.default_rng(1)
    n = 240
    images = rng.normal(size=(n, 8, 8))
    y = rng.integers(0, 2, n)
    images[:, :3, :3] += np.where(y, 2.0, -2.0)[:, None, None]
    X = pd.DataFrame(images.reshape(n, -1), columns=[f"px{i}" for i in range(64)])
    X["age"] = rng.normal(size=n)
    modalities = [("scan", CNNExpert(input_shape=(1, 8, 8), channels=(4,),
                                     hidden_units=(8,)), [f"px{i}" for i in range(64)]),
                  ("clinical", MLPExpert(hidden_units=(4,)), ["age"])]
    model = I2M2Classifier(modalities, max_epochs=20, lr=1e-2, n_bags=1, calibrate=None,
                           random_state=0).fit(X, y)
    return X, y, model


def test_attribution_maps_have_the_input_shape_and_light_up_the_informative_corner(
        bright_corner):
    X, _, model = bright_corner
    maps = model.attribution_maps(X.head(30), "scan")
    assert maps.shape == (30, 1, 8, 8)
    size = np.abs(maps).mean(axis=(0, 1))
    corner = size[:3, :3].mean()
    elsewhere = (size.sum() - size[:3, :3].sum()) / (64 - 9)
    assert corner > 3 * elsewhere, (corner, elsewhere)
    fusion = model.attribution_maps(X.head(5), "scan", expert="fusion")
    assert fusion.shape == (5, 1, 8, 8)


def test_attribution_maps_refuse_what_they_cannot_attribute(bright_corner):
    X, _, model = bright_corner
    with pytest.raises(ValueError, match="Unknown modality 'xray'"):
        model.attribution_maps(X.head(2), "xray")
    with pytest.raises(ValueError, match="expert='clinical' cannot be attributed over "
                                         "modality 'scan'"):
        model.attribution_maps(X.head(2), "scan", expert="clinical")


def test_the_attribution_display_draws_one_panel_per_row(bright_corner):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from sk_i2m2.plotting import AttributionMapDisplay

    X, _, model = bright_corner
    display = AttributionMapDisplay.from_estimator(model, X.head(3), "scan")
    assert len(display.ax_) == 3 and display.maps.shape == (3, 1, 8, 8)
    assert display.ax_[0].get_title().startswith("predicted ")
    plt.close(display.figure_)
