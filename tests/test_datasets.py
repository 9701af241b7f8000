import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification


def _per_modality_linear_accuracy(dependency, n_classes=2):
    X, y, modalities = make_multimodal_classification(
        n_samples=1000, dependency=dependency, n_classes=n_classes, random_state=0)
    return [cross_val_score(LogisticRegression(), X[cols], y, cv=3).mean()
            for _, _, cols in modalities]


def test_shapes_and_spec_fit_the_estimator():
    X, y, modalities = make_multimodal_classification(
        n_samples=50, n_modalities=3, n_features=5, n_classes=3, random_state=0)
    assert X.shape == (50, 15) and y.shape == (50,)
    assert set(np.unique(y)) == {0, 1, 2}
    assert [name for name, _, _ in modalities] == ["m0", "m1", "m2"]
    assert sum(len(cols) for _, _, cols in modalities) == X.shape[1]
    I2M2Classifier(modalities, max_epochs=1).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_inter_regime_hides_y_from_each_modality(n_classes):
    for accuracy in _per_modality_linear_accuracy("inter", n_classes):
        assert abs(accuracy - 1 / n_classes) < 0.06


def test_intra_regime_shows_y_in_each_modality():
    for accuracy in _per_modality_linear_accuracy("intra"):
        assert accuracy > 0.75


def test_same_seed_same_data():
    first = make_multimodal_classification(n_samples=30, random_state=3)
    second = make_multimodal_classification(n_samples=30, random_state=3)
    assert first[0].equals(second[0]) and np.array_equal(first[1], second[1])


def test_interaction_needs_two_modalities():
    with pytest.raises(ValueError, match="n_modalities"):
        make_multimodal_classification(n_modalities=1, dependency="inter")
