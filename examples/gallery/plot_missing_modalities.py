"""
Rows missing a modality
=======================

In practice some subjects lack a modality: no scan, no genotype. A row whose columns
of a modality are all missing lacks that modality, and the product drops its factors
for that row: its unimodal expert leaves the product, and the fusion expert sees the
modality masked. ``modality_dropout`` trains the product to cope, by dropping each
modality of a training row with that probability (never all of a row's modalities).

Here both models are trained on complete rows of synthetic data, and tested on rows
where one modality is blanked.
"""

# %%

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification

X, y, modalities = make_multimodal_classification(
    n_samples=600, n_modalities=3, dependency="mixed",
    random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.4, stratify=y, random_state=0)
print([(name, columns) for name, _, columns in modalities])

# %%
# Blank each modality in turn on every test row (NaN in all its columns).


def blank(X, columns):
    X = X.copy()
    X[columns] = np.nan
    return X


# One product of at most 100 epochs per model (``n_bags=1``, ``max_epochs=100``),
# rather than the default ensemble, as in benchmarks/missing_modalities.py: what
# ``modality_dropout`` changes shows on a single product, at a fifth of the cost.
settings = {"n_bags": 1, "max_epochs": 100, "random_state": 0}
scores = {}
for dropout in (0.0, 0.3):
    clf = I2M2Classifier(modalities, modality_dropout=dropout, **settings)
    clf.fit(X_train, y_train)
    scores[dropout] = {"complete": clf.score(X_test, y_test)}
    for name, _, columns in modalities:
        scores[dropout][f"no {name}"] = clf.score(blank(X_test, columns), y_test)
    print(f"modality_dropout={dropout}: "
          + ", ".join(f"{k} {v:.3f}" for k, v in scores[dropout].items()))

# %%
# The experts that cannot see a row give NaN in
# :meth:`~sk_i2m2.I2M2Classifier.expert_proba`:
proba = clf.expert_proba(blank(X_test, modalities[0][2]).head(3))
for name, p in proba.items():
    print(f"{name:<7}", np.round(p, 3).tolist())

# %%
fig, ax = plt.subplots(figsize=(6, 2.8))
labels = list(scores[0.0])
positions = np.arange(len(labels))
for offset, dropout in zip((-0.2, 0.2), scores, strict=True):
    ax.barh(positions + offset, [scores[dropout][k] for k in labels], height=0.4,
            label=f"modality_dropout={dropout}")
ax.set_yticks(positions, labels)
ax.set_xlabel("held-out accuracy")
ax.set_xlim(0.4, 1)
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
