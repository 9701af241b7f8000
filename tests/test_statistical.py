"""Does the product of experts capture the dependencies it claims to?

Fixed seeds; margins are several times the seed-to-seed spread seen on these sizes.
"""

import pytest
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification


def _test_accuracy(dependency, dependencies, seed=0):
    X, y, modalities = make_multimodal_classification(
        n_samples=1200, dependency=dependency, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=seed)
    clf = I2M2Classifier(modalities, dependencies=dependencies, max_epochs=30,
                         random_state=seed)
    return clf.fit(X_train, y_train).score(X_test, y_test)


@pytest.fixture(scope="module")
def accuracy():
    cache = {}

    def get(dependency, dependencies):
        key = dependency, dependencies
        if key not in cache:
            cache[key] = _test_accuracy(*key)
        return cache[key]

    return get


def test_interaction_only_signal_needs_the_fusion_expert(accuracy):
    intra = accuracy("inter", "intra")
    assert intra < 0.6  # each modality alone is independent of y
    assert accuracy("inter", "inter") > intra + 0.3
    assert accuracy("inter", "both") > intra + 0.3


def test_independent_evidence_costs_i2m2_nothing(accuracy):
    intra = accuracy("intra", "intra")
    assert intra > 0.9
    assert accuracy("intra", "both") > intra - 0.03
