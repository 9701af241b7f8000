import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer, roc_auc_score
from sklearn.model_selection import KFold

from sk_i2m2 import I2M2Classifier
from sk_i2m2._task._scoring import FixedProbaClassifier as _FixedProbaClassifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import ConcatFusion, MLPExpert
from sk_i2m2.inspection import (
    DependencyReport,
    DependencyReportDisplay,
    dependency_report,
)

from .conftest import SINGLE

#: Small experts trained long enough, at a high enough learning rate, for the fusion
#: expert to learn the XOR of "inter" data on every fold (at lr=1e-3 or with early
#: stopping some folds stay at chance and the verdict flips between seeds).
TRAINING = {"max_epochs": 30, "lr": 0.01, "batch_size": 64, "early_stopping": False,
            **SINGLE}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # These networks are tiny: on a loaded machine, torch's intra-op threads spin
    # against each other and make each fit tens of times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def estimator(modalities, random_state=0, **params):
    spec = [(name, MLPExpert(hidden_units=(16,)), cols) for name, _, cols in modalities]
    return I2M2Classifier(spec, fusion=ConcatFusion(embedding_dim=8, hidden_units=(16,)),
                          random_state=random_state, **{**TRAINING, **params})


def report_on(dependency, *, n_samples=300, n_features=4, class_sep=1.0, seed=0,
              shuffle_labels=False):
    X, y, modalities = make_multimodal_classification(
        n_samples, dependency=dependency, n_features=n_features, class_sep=class_sep,
        random_state=seed)
    if shuffle_labels:
        y = np.random.RandomState(seed).permutation(y)
    return dependency_report(estimator(modalities, seed), X, y, cv=3, random_state=seed)


@pytest.fixture(scope="module")
def inter_report():
    return report_on("inter")


def test_interaction_only_data_needs_inter(inter_report):
    report = inter_report
    assert report.verdict == "inter"
    # Each modality alone is independent of y: the unimodal variant stays near chance
    # and the fusion expert carries the "both" model.
    assert report.table.loc["intra", "mean"] < 0.65
    assert report.table.loc["inter", "mean"] > 0.95
    assert report.table.loc["expert: fusion", "mean"] > 0.9


def test_per_modality_evidence_needs_intra():
    report = report_on("intra")
    assert report.verdict == "intra"
    assert report.table.loc["intra", "mean"] > 0.8


def test_evidence_within_and_across_modalities_needs_both():
    # make_multimodal_classification's "mixed" labels are a noiseless XOR of the
    # modalities' codes: the fusion expert alone can reach the best score, so it is
    # not a case for "both". Here the XOR is right on 85% of rows only, and each
    # modality adds its own weak, independent evidence: neither half suffices.
    n, seed = 300, 0
    rng = np.random.RandomState(seed)
    X_inter, y_inter, _ = make_multimodal_classification(
        n, dependency="inter", n_features=2, random_state=seed)
    y = np.where(rng.rand(n) < 0.15, 1 - y_inter, y_inter)
    X = X_inter.copy()
    for k in range(2):
        X[f"m{k}_x2"] = rng.standard_normal(n) + 0.6 * (2 * y - 1)
    modalities = [(f"m{k}", None, [f"m{k}_x{j}" for j in range(3)]) for k in range(2)]
    report = dependency_report(estimator(modalities, seed, max_epochs=60), X, y, cv=3,
                               random_state=seed)
    assert report.verdict == "both", str(report)


def test_random_labels_need_nothing():
    report = report_on("mixed", shuffle_labels=True)
    assert report.verdict == "none", str(report)


def test_tables_have_the_documented_shape(inter_report):
    report = inter_report
    experts = ["expert: m0", "expert: m1", "expert: fusion"]
    assert list(report.table.index) == ["intra", "inter", "both", *experts, "chance"]
    assert list(report.table.columns) == ["kind", "mean", "se", "n_folds"]
    assert list(report.table["kind"]) == ["variant"] * 3 + ["expert"] * 3 + ["chance"]
    assert (report.table["n_folds"] == 3).all()
    assert list(report.scores.columns) == ["model", "kind", "fold", "score"]
    assert len(report.scores) == 7 * 3
    assert list(report.differences.columns) == ["mean", "se", "n_folds"]
    assert {"both - intra", "both - inter", "inter - intra"} <= set(report.differences.index)
    # The table is the summary of the long scores; ROC AUC's chance is 0.5 exactly.
    both = report.scores.loc[report.scores["model"] == "both", "score"]
    assert report.table.loc["both", "mean"] == pytest.approx(both.mean())
    assert report.table.loc["both", "se"] == pytest.approx(both.std(ddof=1) / np.sqrt(3))
    assert report.table.loc["chance", "mean"] == 0.5
    assert report.best in ("intra", "inter", "both")
    text = str(report)
    assert "verdict: inter" in text and "expert: fusion" in text


def test_parallel_folds_match_serial_ones_with_missing_rows_and_three_classes():
    X, y, modalities = make_multimodal_classification(
        90, n_features=4, n_classes=3, dependency="mixed", random_state=0)
    X.loc[X.index[::4], modalities[1][2]] = np.nan  # m1 missing on a quarter of rows
    clf = estimator(modalities, random_state=None, max_epochs=3)
    serial = dependency_report(clf, X, y, cv=3, random_state=1, n_jobs=1)
    parallel = dependency_report(clf, X, y, cv=3, random_state=1, n_jobs=2)
    pd.testing.assert_frame_equal(serial.scores, parallel.scores)
    # "roc_auc" is binary; on three classes it is read one-vs-rest.
    assert serial.scoring == "roc_auc_ovr"
    assert serial.scores["score"].notna().all()


def test_experts_are_scored_by_the_same_scorer_on_their_probabilities():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet([1, 1], size=20)
    y = rng.randint(2, size=20)
    expert = _FixedProbaClassifier(proba, np.array([0, 1])).fit()
    X = np.zeros((20, 1))
    assert get_scorer("roc_auc")(expert, X, y) == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert get_scorer("accuracy")(expert, X, y) == np.mean(proba.argmax(axis=1) == y)


def test_one_se_rule_prefers_fewer_dependencies():
    def report(intra, inter, both, chance=(0.5, 0.5, 0.5)):
        rows = [(model, "chance" if model == "chance" else "variant", fold, score)
                for model, scores in [("intra", intra), ("inter", inter), ("both", both),
                                      ("chance", chance)]
                for fold, score in enumerate(scores)]
        return DependencyReport(pd.DataFrame(rows, columns=["model", "kind", "fold",
                                                            "score"]))

    # both is best, but intra trails it by less than one SE of their difference.
    assert report([0.80, 0.90, 0.85], [0.7, 0.7, 0.7], [0.86, 0.89, 0.86]).verdict == "intra"
    assert report([0.6, 0.6, 0.6], [0.84, 0.85, 0.86], [0.85, 0.86, 0.87]).verdict == "both"
    assert report([0.6, 0.6, 0.6], [0.84, 0.87, 0.86], [0.85, 0.86, 0.87]).verdict == "inter"
    assert report([0.50, 0.53, 0.49], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]).verdict == "none"


def test_bad_estimator_and_bad_cv_raise():
    X, y, modalities = make_multimodal_classification(30, n_features=4, random_state=0)
    with pytest.raises(TypeError, match="dependencies"):
        dependency_report(LogisticRegression(), X, y)
    clf = estimator(modalities)
    with pytest.raises(ValueError, match="n_repeats"):
        dependency_report(clf, X, y, n_repeats=0)
    with pytest.raises(ValueError, match="n_repeats"):
        dependency_report(clf, X, y, cv=KFold(3), n_repeats=2)
    with pytest.raises(ValueError, match="cv"):
        dependency_report(clf, X, y, cv=1)


def test_plot_draws_each_model_chance_and_the_verdict(inter_report):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        display = inter_report.plot()
        assert isinstance(display, DependencyReportDisplay)
        assert display.figure_ is display.ax_.figure
        assert len(display.errorbars_) == 6  # three variants, three experts
        assert display.chance_line_.get_xdata()[0] == 0.5
        assert "inter" in display.ax_.get_title()
        labels = [t.get_text() for t in display.ax_.get_yticklabels()]
        assert labels[:3] == ["intra", "inter", "both"]
        _, ax = plt.subplots()
        assert DependencyReportDisplay(inter_report).plot(ax=ax).ax_ is ax
    finally:
        plt.close("all")
