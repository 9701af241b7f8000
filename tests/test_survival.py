"""Time to event: the Cox loss, the Breslow baseline and I2M2SurvivalAnalysis."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sksurv.ensemble import RandomSurvivalForest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

import sk_i2m2
from sk_i2m2 import I2M2SurvivalAnalysis
from sk_i2m2._task._survival import CoxTask, cox_row_losses
from sk_i2m2.datasets import make_multimodal_survival
from sk_i2m2.experts import MLPExpert

from .conftest import SINGLE

FAST = {"max_epochs": 3, "batch_size": 32, "random_state": 0, **SINGLE}


def _reference_loss(eta, time, event, weights, ties):
    """The weighted negative partial log-likelihood per event, written out pair by pair."""
    total = 0.0
    for t in np.unique(time[event]):
        at_risk = time >= t
        tied = (time == t) & event
        d = tied.sum()
        denominator = (weights[at_risk] * np.exp(eta[at_risk])).sum()
        tied_sum = (weights[tied] * np.exp(eta[tied])).sum()
        if ties == "breslow":
            log_terms = [np.log(denominator)] * d
        else:
            log_terms = [np.log(denominator - r / d * tied_sum) for r in range(d)]
        mean_weight = weights[tied].mean()
        total += (weights[tied] * eta[tied]).sum() - mean_weight * sum(log_terms)
    return -total / (weights * event).sum()


def _tied_data(n=60, seed=0):
    rng = np.random.RandomState(seed)
    time = rng.randint(1, 12, n).astype(float)  # many ties
    event = rng.rand(n) < 0.7
    eta = rng.randn(n)
    weights = rng.uniform(0.2, 3.0, n)
    return eta, time, event, weights


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_cox_loss_is_the_partial_likelihood_with_its_ties(ties, weighted):
    eta, time, event, weights = _tied_data()
    if not weighted:
        weights = np.ones_like(eta)
    losses = cox_row_losses(torch.tensor(eta), torch.tensor(time), torch.tensor(event),
                            torch.tensor(weights) if weighted else None, ties)
    w = torch.tensor(weights)
    loss = float((losses * w).sum() / w.sum())
    assert loss == pytest.approx(_reference_loss(eta, time, event, weights, ties), rel=1e-10)


def test_a_batch_without_an_event_adds_nothing():
    eta = torch.randn(5, requires_grad=True)
    losses = cox_row_losses(eta, torch.arange(5.0), torch.zeros(5))
    losses.mean().backward()
    assert float(losses.detach().abs().sum()) == 0.0
    assert float(eta.grad.abs().sum()) == 0.0


def test_a_linear_expert_on_the_cox_loss_finds_scikit_survivals_coefficients():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    time = np.round(rng.exponential(1 / np.exp(X @ [0.8, -0.5, 0.0])), 1) + 0.1
    event = rng.rand(200) < 0.8
    expected = CoxPHSurvivalAnalysis(ties="efron").fit(X, Surv.from_arrays(event, time)).coef_
    beta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    inputs, t, e = torch.tensor(X), torch.tensor(time), torch.tensor(event)
    optimizer = torch.optim.LBFGS([beta], max_iter=200, tolerance_grad=1e-12,
                                  tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = cox_row_losses(inputs @ beta, t, e).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    np.testing.assert_allclose(beta.detach().numpy(), expected, atol=1e-5)


def test_the_breslow_baseline_is_scikit_survivals():
    rng = np.random.RandomState(1)
    X = rng.randn(150, 2)
    time = rng.exponential(1 / np.exp(X @ [0.7, -0.3]))
    event = rng.rand(150) < 0.7
    cox = CoxPHSurvivalAnalysis().fit(X, Surv.from_arrays(event, time))
    task = CoxTask()
    task.fit_outputs(X @ cox.coef_, np.column_stack([time, event]))
    expected = cox.cum_baseline_hazard_
    np.testing.assert_allclose(task.event_times, expected.x)
    np.testing.assert_allclose(task.cumulative_hazard, expected.y, rtol=1e-8)


@pytest.fixture(scope="module")
def survival():
    X, y, modalities = make_multimodal_survival(n_samples=240, random_state=0)
    spec = [(name, MLPExpert(hidden_units=(8,)), cols) for name, _, cols in modalities]
    return X, y, spec


@pytest.fixture(scope="module")
def fitted(survival):
    X, y, spec = survival
    return I2M2SurvivalAnalysis(spec, max_epochs=20, lr=1e-2, n_bags=2,
                                random_state=0).fit(X, y)


def test_predictions_follow_scikit_survivals_conventions(survival, fitted):
    X, y, _ = survival
    risk = fitted.predict(X)
    assert risk.shape == (len(X),) and np.isfinite(risk).all()
    event, time = y[y.dtype.names[0]], y[y.dtype.names[1]]
    assert fitted.score(X, y) == pytest.approx(
        concordance_index_censored(event, time, risk)[0], abs=1e-12)
    assert fitted.score(X, y) > 0.6
    curves = fitted.predict_survival_function(X.head(4))
    values = np.stack([curve(fitted.unique_times_) for curve in curves])
    assert (np.diff(values, axis=1) <= 1e-12).all() and (values <= 1).all()
    assert curves[0](0.0) == 1.0
    array = fitted.predict_survival_function(X.head(4), return_array=True)
    np.testing.assert_allclose(array, values)
    hazard = fitted.predict_cumulative_hazard_function(X.head(4), return_array=True)
    np.testing.assert_allclose(np.exp(-hazard), array)
    # A higher risk: a lower curve.
    order = np.argsort(risk[:4])
    assert (array[order[-1]] <= array[order[0]] + 1e-12).all()


def test_the_ensemble_keeps_out_of_fold_log_risks_and_their_concordance(survival, fitted):
    X, y, _ = survival
    assert fitted.n_bags_ == 2
    assert fitted.oof_prediction_.shape == (len(X),)
    event, time = y[y.dtype.names[0]], y[y.dtype.names[1]]
    assert fitted.oof_score_ == pytest.approx(
        concordance_index_censored(event, time, fitted.oof_prediction_)[0], abs=1e-12)


def test_contributions_add_up_to_the_log_risk(survival, fitted):
    X, _, spec = survival
    table = fitted.explain(X.head(5))
    sums = table.groupby("sample", sort=False)["contribution"].sum().to_numpy()
    np.testing.assert_allclose(sums, fitted.predict(X.head(5)), rtol=1e-5, atol=1e-6)
    assert set(fitted.expert_predict(X.head(5))) == {*(name for name, _, _ in spec), "fusion"}
    columns = fitted.explain(X.head(3), by="column")
    assert set(columns["column"]) == set(X.columns)


def test_save_and_load_give_the_same_curves(survival, fitted, tmp_path):
    X, _, _ = survival
    sk_i2m2.save(fitted, tmp_path / "model.zip")
    loaded = sk_i2m2.load(tmp_path / "model.zip")
    assert isinstance(loaded, I2M2SurvivalAnalysis)
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))
    np.testing.assert_allclose(loaded.predict_survival_function(X, return_array=True),
                               fitted.predict_survival_function(X, return_array=True))


@pytest.mark.parametrize("y, match", [
    (np.arange(10.0), "structured array"),
    (np.array([(1.0, 2.0)] * 10, dtype=[("e", float), ("t", float)]), "boolean"),
    (Surv.from_arrays([True] * 9 + [False], [1.0] * 9 + [-1.0]), "finite and >= 0"),
    (Surv.from_arrays([False] * 10, np.arange(1.0, 11.0)), "no event"),
])
def test_a_bad_target_is_refused_saying_how_to_build_it(survival, y, match):
    X, _, spec = survival
    model = I2M2SurvivalAnalysis(spec, **FAST)
    with pytest.raises(ValueError, match=match):
        model.fit(X.head(10), y)
    assert not hasattr(model, "net_")


def test_grid_search_scores_by_concordance(survival):
    X, y, spec = survival
    search = GridSearchCV(I2M2SurvivalAnalysis(spec, **FAST), {"dependencies": ["intra", "both"]},
                          cv=2).fit(X, y)
    assert 0.0 <= search.best_score_ <= 1.0
    assert search.best_params_["dependencies"] in ("intra", "both")


def test_a_cox_model_serves_as_an_expert_and_a_forest_is_refused(survival):
    X, y, spec = survival
    with_cox = [spec[0], (spec[1][0], CoxPHSurvivalAnalysis(alpha=1e-2), spec[1][2])]
    model = I2M2SurvivalAnalysis(with_cox, **FAST).fit(X, y)
    assert isinstance(model.sklearn_experts_[spec[1][0]], CoxPHSurvivalAnalysis)
    assert np.isfinite(model.predict(X)).all()
    with_forest = [spec[0], (spec[1][0], RandomSurvivalForest(n_estimators=5), spec[1][2])]
    with pytest.raises(TypeError, match="does not predict a log-risk"):
        I2M2SurvivalAnalysis(with_forest, **FAST).fit(X, y)


def test_sample_weight_of_zero_removes_a_row(survival):
    X, y, spec = survival
    weights = np.ones(len(y))
    weights[:40] = 0.0
    weighted = I2M2SurvivalAnalysis(spec, **FAST).fit(X, y, sample_weight=weights)
    assert weighted.predict(X).shape == (len(X),)
    # The baseline ignores the rows of weight 0: no step at their times alone.
    np.testing.assert_allclose(weighted.unique_times_, np.unique(y[y.dtype.names[1]][40:]))


# ---------------------------------------------------------------------- discrete time


def test_the_discrete_loss_is_each_rows_own_likelihood():
    from sk_i2m2._task._survival import discrete_hazard_row_losses

    cuts = torch.tensor([1.0, 2.0, 3.0])
    logits = torch.randn(4, 3, dtype=torch.float64)
    time = torch.tensor([0.5, 2.0, 2.5, 9.0])
    event = torch.tensor([1.0, 0.0, 1.0, 0.0])
    hazard = torch.sigmoid(logits)
    expected = -torch.stack([
        torch.log(hazard[0, 0]),                                     # event in (0, 1]
        torch.log(1 - hazard[1, 0]),                                 # censored in (1, 2]
        torch.log(1 - hazard[2, :2]).sum() + torch.log(hazard[2, 2]),  # event in (2, 3]
        torch.log(1 - hazard[3]).sum(),                              # beyond the last cut
    ])
    torch.testing.assert_close(discrete_hazard_row_losses(logits, time, event, cuts), expected)


def test_the_discrete_loss_gives_curves_at_the_intervals(survival):
    X, y, spec = survival
    model = I2M2SurvivalAnalysis(spec, loss="discrete", n_intervals=6, **FAST).fit(X, y)
    assert len(model.unique_times_) <= 6 and model.cumulative_baseline_hazard_ is None
    curves = model.predict_survival_function(X.head(5), return_array=True)
    assert curves.shape == (5, len(model.unique_times_))
    assert (np.diff(curves, axis=1) <= 0).all() and ((curves > 0) & (curves <= 1)).all()
    hazard = model.predict_cumulative_hazard_function(X.head(5), return_array=True)
    np.testing.assert_allclose(model.predict(X.head(5)), hazard[:, -1])
    table = model.explain(X.head(3))
    sums = table.groupby("sample", sort=False)["contribution"].sum().to_numpy()
    np.testing.assert_allclose(sums, table.groupby("sample", sort=False)["predicted"].first(),
                               rtol=1e-5, atol=1e-6)
    assert 0.0 <= model.score(X, y) <= 1.0


# ---------------------------------------------------------------------- through the seam


def test_dependency_report_and_modality_importance_score_by_concordance():
    from sk_i2m2.inspection import dependency_report, modality_importance

    X, y, modalities = make_multimodal_survival(n_samples=300, dependency="inter",
                                                random_state=1)
    spec = [(name, MLPExpert(hidden_units=(16,)), cols) for name, _, cols in modalities]
    model = I2M2SurvivalAnalysis(spec, max_epochs=40, lr=1e-2, **SINGLE, random_state=0)
    report = dependency_report(model, X, y, cv=3, random_state=0)
    means = report.table["mean"]
    # Interaction-only hazards: the fusion expert finds them, the unimodal ones cannot.
    assert means["inter"] > means["intra"] + 0.1
    assert abs(means["chance"] - 0.5) < 1e-12
    fitted = clone(model).fit(X, y)
    importance = modality_importance(fitted, X, y, n_repeats=3, random_state=0)
    assert set(importance.importances_mean.index) == {name for name, _, _ in spec}
    # Either modality shuffled breaks the interaction: the concordance drops.
    assert (importance.importances_mean > 0.05).all()


def test_a_row_lacking_a_modality_is_predicted_from_the_others(survival):
    X, y, spec = survival
    X = X.copy()
    lacking = spec[0][2]
    X.loc[X.index[:30], lacking] = np.nan
    model = I2M2SurvivalAnalysis(spec, **FAST).fit(X, y)
    risks = model.expert_predict(X.head(40))
    assert np.isnan(risks[spec[0][0]][:30]).all() and np.isfinite(risks[spec[0][0]][30:]).all()
    assert np.isfinite(model.predict(X.head(40))).all()


def test_a_warm_start_continues_from_the_fitted_baseline_and_weights(survival):
    X, y, spec = survival
    model = I2M2SurvivalAnalysis(spec, warm_start=True, **FAST).fit(X, y)
    first = model.predict(X)
    model.fit(X, y)
    assert len(model.history_) == FAST["max_epochs"]
    assert not np.allclose(model.predict(X), first)
    assert np.corrcoef(model.predict(X), first)[0, 1] > 0.5


def test_a_last_batch_of_one_row_joins_the_one_before_under_the_cox_loss():
    from sk_i2m2._dataset import RowBatches

    assert [len(rows) for rows in RowBatches(129, 64, shuffle=True,
                                             generator=torch.Generator().manual_seed(0),
                                             min_rows=2)] == [64, 65]
    assert [(rows.start, rows.stop) for rows in RowBatches(129, 64)] == [
        (0, 64), (64, 128), (128, 129)]
    X, y, modalities = make_multimodal_survival(n_samples=65, random_state=0)
    model = I2M2SurvivalAnalysis(modalities, max_epochs=1, batch_size=64, **SINGLE,
                                 random_state=0).fit(X, y)
    assert model.history_[-1, "batches"][0]["train_batch_size"] == 65
