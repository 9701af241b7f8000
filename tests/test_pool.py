"""The log-linear pool: one non-negative weight per expert, fitted on held-out rows."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold

from sk_i2m2 import I2M2Classifier, I2M2Regressor
from sk_i2m2._base import BaseI2M2
from sk_i2m2._pool import fit_pool
from sk_i2m2._task import ClassificationTask, GaussianTask
from sk_i2m2.experts import AutoExpert
from sk_i2m2.product import FUSION

from .conftest import FAST


def _informative_and_useless(n=2000, n_classes=3, seed=0):
    """Logits of an informative expert, a useless one and an anti-informative one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    informative = 2.0 * np.eye(n_classes)[y] + rng.normal(size=(n, n_classes))
    useless = 3.0 * rng.normal(size=(n, n_classes))  # confident, and unrelated to y
    misleading = -2.0 * np.eye(n_classes)[y] + rng.normal(size=(n, n_classes))
    outputs = {"good": informative, "useless": useless, "misleading": misleading}
    available = {name: np.ones(n, bool) for name in outputs}
    return outputs, available, y


def test_weights_are_non_negative_and_a_useless_factor_gets_about_zero():
    outputs, available, y = _informative_and_useless()
    task = ClassificationTask(classes=[0, 1, 2])
    weights, bias = fit_pool(task, outputs, available, y)
    weights = dict(zip(outputs, weights, strict=True))
    assert all(weight >= 0 for weight in weights.values())
    assert weights["good"] > 0.8
    assert weights["useless"] < 0.05
    # Without the bound it would be negative (it points away from the truth).
    assert weights["misleading"] == 0.0
    assert bias is None  # no bias per class (see ClassificationTask.pool_bias)


def test_a_useless_gaussian_factor_gets_about_zero():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    good = np.column_stack([y + 0.5 * rng.normal(size=2000), np.full(2000, np.log(0.25))])
    # Far from the truth, and unrelated to it.
    useless = np.column_stack([3.0 * rng.normal(size=2000), np.full(2000, np.log(0.25))])
    outputs = {"good": good, "useless": useless}
    weights, bias = fit_pool(GaussianTask(), outputs,
                             {name: np.ones(2000, bool) for name in outputs}, y)
    assert bias is None
    assert weights[0] > 0.7 and weights[1] < 0.05


def test_shrinkage_holds_the_weights_at_the_trained_product_on_few_rows():
    outputs, available, y = _informative_and_useless(n=30)
    task = ClassificationTask(classes=[0, 1, 2])
    free, _ = fit_pool(task, outputs, available, y, shrinkage=0.0)
    held, _ = fit_pool(task, outputs, available, y, shrinkage=1e6)
    np.testing.assert_allclose(held, 1.0, atol=1e-3)
    assert np.abs(free - 1.0).max() > 0.3


def test_all_weights_one_and_no_bias_is_the_plain_product():
    rng = np.random.default_rng(0)
    logits = {"a": torch.tensor(rng.normal(size=(50, 3))),
              "b": torch.tensor(rng.normal(size=(50, 3)))}
    available = {"a": torch.ones(50, dtype=torch.bool),
                 "b": torch.tensor(rng.random(50) > 0.3)}
    for task, outputs in ((ClassificationTask(classes=[0, 1, 2]), logits),
                          (GaussianTask(), {name: value[:, :2] for name, value in
                                            logits.items()})):
        plain = task.combine(outputs, available)
        pooled = task.combine(outputs, available, weights=torch.ones(2, dtype=torch.float64),
                              bias=None)
        torch.testing.assert_close(pooled, plain)


def test_the_pool_is_fitted_on_out_of_fold_rows_only(two_modalities, monkeypatch):
    X, y, modalities = two_modalities
    seen = {}
    original = BaseI2M2._weigh_experts

    def spy(self, net, plan, held_out, data, y_encoded):
        seen["held_out"] = held_out
        return original(self, net, plan, held_out, data, y_encoded)

    monkeypatch.setattr(BaseI2M2, "_weigh_experts", spy)
    clf = I2M2Classifier(modalities, expert_weights="learn", n_bags=3, max_epochs=3,
                         batch_size=32, random_state=0).fit(X, y)
    held_out = seen["held_out"]
    members = clf.net_.module_.members
    folds = StratifiedKFold(3, shuffle=True, random_state=0).split(X, held_out.y)
    for member, (_, valid) in zip(members, folds, strict=True):
        # Every row's outputs come from the member that held it out.
        rows = X.iloc[valid]
        batch = next(clf._batches(rows))
        with torch.no_grad():
            member.eval()
            outputs = member.expert_outputs(
                {name: torch.as_tensor(np.asarray(value, np.float32))
                 for name, value in batch.modalities.items()},
                {name: torch.as_tensor(value) for name, value in batch.sklearn_outputs.items()})
        for name in ("m0", "m1", FUSION):  # the networks
            np.testing.assert_allclose(held_out.experts.logits[name][valid].numpy(),
                                       outputs.logits[name].numpy(), atol=1e-5)
        for name in ("fusion:boosting", "fusion:linear"):
            # Cross-fitted, not the refitted estimator's in-sample outputs.
            assert not np.allclose(held_out.experts.logits[name][valid].numpy(),
                                   outputs.logits[name].numpy(), atol=1e-3)
    assert all(weight >= 0 for weight in clf.expert_weights_.values())
    # The default fusion="auto": the fusion network beside two candidates on the
    # tables (their outputs for training rows are out of fold too, by cross-fitting).
    assert list(clf.expert_weights_) == ["m0", "m1", FUSION, "fusion:boosting",
                                         "fusion:linear"]


def test_without_weights_every_expert_counts_once(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    assert clf.expert_weights_ == {"m0": 1.0, "m1": 1.0, FUSION: 1.0}
    assert clf.net_.module_.expert_weights is None


def test_learn_needs_rows_the_experts_did_not_train_on(two_modalities):
    X, y, modalities = two_modalities
    with pytest.raises(ValueError, match="expert_weights='learn'.*holds none out"):
        I2M2Classifier(modalities, expert_weights="learn", **FAST).fit(X, y)


def test_auto_experts_add_cross_fitted_candidates_that_the_pool_weighs(two_modalities):
    X, y, modalities = two_modalities
    spec = [(name, "auto", columns) for name, _, columns in modalities]
    clf = I2M2Classifier(spec, fusion="auto", expert_weights="learn", n_bags=2,
                         max_epochs=3, batch_size=32, random_state=0).fit(X, y)
    names = ["m0", "m1", "m0:boosting", "m0:linear", "m1:boosting", "m1:linear", FUSION,
             "fusion:boosting", "fusion:linear"]
    assert list(clf.expert_weights_) == names
    assert set(clf.expert_proba(X)) == set(names)
    assert all(weight >= 0 for weight in clf.expert_weights_.values())
    table = clf.explain(X.head(2))
    assert table["expert"].tolist() == names * 2
    np.testing.assert_allclose(table["expert_weight"].to_numpy(),
                               np.tile([clf.expert_weights_[name] for name in names], 2))
    columns = clf.explain(X.head(2), by="column", steps=4)
    candidate = columns[columns["expert"] == "fusion:boosting"]
    assert set(candidate["modality"]) == {"m0", "m1"}  # what it reads
    assert candidate["attribution"].isna().all()  # no gradients
    assert set(columns[columns["expert"] == "m0:linear"]["modality"]) == {"m0"}


def test_auto_expert_candidates_are_checked():
    with pytest.raises(ValueError, match="candidates must be distinct"):
        AutoExpert(candidates=("mlp", "forest")).companions("classifier")
    assert not AutoExpert(candidates=("boosting",)).neural


def test_the_regressor_pools_its_gaussians():
    from sk_i2m2.datasets import make_multimodal_regression

    X, y, modalities = make_multimodal_regression(n_samples=150, random_state=0)
    reg = I2M2Regressor(modalities, expert_weights="learn", n_bags=2, max_epochs=3,
                        random_state=0).fit(X, y)
    assert all(weight >= 0 for weight in reg.expert_weights_.values())
    table = reg.explain(X.head(3))
    # Contributions still sum to the prediction minus the training mean.
    total = table.groupby("sample", sort=False)["contribution"].sum().to_numpy()
    predicted = table.groupby("sample", sort=False)["predicted"].first().to_numpy()
    np.testing.assert_allclose(total, predicted - y.mean(), atol=1e-4)


def test_the_contribution_plot_shows_the_weights():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from sk_i2m2.plotting import ExpertContributionDisplay

    table = pd.DataFrame({
        "expert": ["m0", "fusion", "m0", "fusion"], "expert_weight": [0.5, 1.25, 0.5, 1.25],
        "log_proba": np.log([0.6, 0.7, 0.8, 0.9]), "share": [0.4, 0.6, 0.5, 0.5],
        "probability": [0.7, 0.7, 0.9, 0.9]})
    display = ExpertContributionDisplay.from_explanation(table)
    labels = [tick.get_text() for tick in display.ax_[1].get_xticklabels()]
    assert labels == ["m0 ×0.50", "fusion ×1.25"]
    plt.close(display.figure_)
