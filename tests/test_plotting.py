import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.plotting import ExpertContributionDisplay

from .conftest import FAST, small_modalities

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    """One fit for the whole module (the ``two_modalities`` data, every third row
    lacking modality m1 so that the experts see different rows)."""
    X, y, modalities = make_multimodal_classification(
        n_samples=120, n_features=4, dependency="mixed", random_state=0)
    y = np.array(["control", "impaired"])[y]
    spec = small_modalities({name: cols for name, _, cols in modalities})
    X.loc[X.index[::3], modalities[1][2]] = np.nan
    return I2M2Classifier(spec, **FAST).fit(X, y), X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def bar_heights(display):
    return np.array([bar.get_width() for bar in display.bars_])


def test_with_y_bars_are_each_experts_accuracy_then_the_products(fitted):
    clf, X, y = fitted
    display = ExpertContributionDisplay.from_estimator(clf, X, y)
    experts = clf.expert_proba(X)
    assert np.isnan(experts["m1"]).any()  # the scores must skip the unseen rows
    expected = []
    for proba in experts.values():
        seen = ~np.isnan(proba[:, 0])
        expected.append(np.mean(clf.classes_[proba[seen].argmax(axis=1)] == y[seen]))
    expected.append(np.mean(clf.predict(X) == y))
    np.testing.assert_allclose(bar_heights(display), expected)
    assert len(display.bars_) == len(experts) + 1
    assert len(display.boxes_["boxes"]) == len(experts)
    assert display.bars_[-1].get_facecolor() != display.bars_[0].get_facecolor()
    labels = [t.get_text() for t in display.ax_[0].get_yticklabels()]
    assert labels == [*experts, "product"]
    assert display.figure_ is display.ax_[0].figure


def test_without_y_bars_are_mean_probabilities_of_the_prediction(fitted):
    clf, X, _ = fitted
    display = ExpertContributionDisplay.from_estimator(clf, X)
    predicted = np.searchsorted(clf.classes_, clf.predict(X))
    rows = np.arange(len(X))
    experts = clf.expert_proba(X)
    expected = [np.nanmean(proba[rows, predicted]) for proba in experts.values()]
    expected.append(clf.predict_proba(X).max(axis=1).mean())
    np.testing.assert_allclose(bar_heights(display), expected, rtol=1e-6)
    assert display.score_name == "probability"
    assert len(display.boxes_["boxes"]) == len(experts)


def test_shares_are_over_the_samples_each_expert_sees(fitted):
    clf, X, y = fitted
    display = ExpertContributionDisplay.from_estimator(clf, X, y)
    assert len(display.shares["m0"]) == len(X)
    seen = ~np.isnan(clf.expert_proba(X)["m1"][:, 0])
    assert 0 < len(display.shares["m1"]) == seen.sum() < len(X)
    for values in display.shares.values():
        assert ((values >= 0) & (values <= 1)).all()


def test_log_loss_scores(fitted):
    clf, X, y = fitted
    display = ExpertContributionDisplay.from_estimator(clf, X, y, score="log_loss")
    m0 = clf.expert_proba(X)["m0"]
    np.testing.assert_allclose(bar_heights(display)[0], log_loss(y, m0, labels=clf.classes_))
    np.testing.assert_allclose(bar_heights(display)[-1], log_loss(y, clf.predict_proba(X)))
    assert "log loss" in display.ax_[0].get_xlabel()


def test_draws_on_the_given_axes(fitted):
    clf, X, y = fitted
    fig, axes = plt.subplots(1, 2)
    display = ExpertContributionDisplay.from_estimator(clf, X, y, ax=axes)
    assert display.figure_ is fig
    assert list(display.ax_) == list(axes)
    assert len(axes[0].patches) == len(display.bars_)
    assert len(plt.get_fignums()) == 1


@pytest.mark.parametrize("make_ax", [lambda: plt.subplots()[1],
                                     lambda: plt.subplots(1, 3)[1],
                                     lambda: "left"])
def test_wrong_ax_is_a_clear_error(fitted, make_ax):
    clf, X, y = fitted
    with pytest.raises(ValueError, match="sequence of two matplotlib Axes"):
        ExpertContributionDisplay.from_estimator(clf, X, y, ax=make_ax())


def test_unfitted_estimator_and_unknown_score_are_errors(fitted):
    _, X, y = fitted
    with pytest.raises(NotFittedError):
        ExpertContributionDisplay.from_estimator(I2M2Classifier(), X, y)
    with pytest.raises(ValueError, match="score must be one of"):
        ExpertContributionDisplay.from_estimator(fitted[0], X, y, score="f1")


def test_from_explanation_with_scores_and_its_errors(fitted):
    clf, X, _ = fitted
    table = clf.explain(X)
    scores = {"m0": 0.5, "m1": 0.6, "fusion": 0.7}
    display = ExpertContributionDisplay.from_explanation(
        table, scores=scores, combined_score=0.8, score_name="accuracy")
    np.testing.assert_allclose(bar_heights(display), [0.5, 0.6, 0.7, 0.8])
    with pytest.raises(ValueError, match=r"lacks the expert\(s\) \['fusion'\]"):
        ExpertContributionDisplay.from_explanation(table, scores={"m0": 1, "m1": 1},
                                                   combined_score=1)
    with pytest.raises(ValueError, match="combined_score is required"):
        ExpertContributionDisplay.from_explanation(table, scores=scores)


def test_missing_matplotlib_names_the_extra(fitted, monkeypatch):
    clf, X, y = fitted
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "sk-i2m2\[plot\]"'):
        ExpertContributionDisplay.from_estimator(clf, X, y)
