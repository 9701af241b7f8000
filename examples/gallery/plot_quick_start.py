"""
Quick start on bundled data
===========================

A first I2M2 model on :func:`~sk_i2m2.datasets.load_breast_cancer_views`, which ships
with scikit-learn: 569 breast masses, malignant or benign, described by three views
(``mean``, ``error`` and ``worst`` value of ten nucleus features). The loader returns
the table, the labels and the ``modalities``: which columns form which modality and
which expert reads them.
"""

# %%

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import load_breast_cancer_views

X, y, modalities = load_breast_cancer_views()
for name, expert, columns in modalities:
    print(f"{name:<6} {expert!r:<14} {len(columns)} columns, e.g. {columns[0]!r}")

# %%
# Fit the product of the three unimodal experts and the fusion expert, at the
# package defaults: a cross-fitted ensemble of five early-stopped products
# (``n_bags="auto"``), its temperature fitted on their out-of-fold predictions.
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)
clf = I2M2Classifier(modalities, random_state=0).fit(X_train, y_train)
print(f"held-out accuracy {clf.score(X_test, y_test):.3f}, "
      f"log loss {log_loss(y_test, clf.predict_proba(X_test)):.3f}")

# %%
# Each expert's own prediction is available beside the product's:
# :meth:`~sk_i2m2.I2M2Classifier.expert_proba` returns one array of class
# probabilities per expert.
proba = clf.expert_proba(X_test)
scores = pd.Series({name: (clf.classes_[p.argmax(1)] == y_test).mean()
                    for name, p in proba.items()})
scores["product"] = clf.score(X_test, y_test)
print(scores.round(3).to_string())

# %%
fig, ax = plt.subplots(figsize=(5, 2.5))
scores.plot.barh(ax=ax, color=["tab:blue"] * (len(scores) - 1) + ["tab:green"])
ax.set_xlim(0.5, 1)
ax.set_xlabel("held-out accuracy")
fig.tight_layout()
