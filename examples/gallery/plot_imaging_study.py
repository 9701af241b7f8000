"""
A tabular + imaging study from files
====================================

Clinical cohorts come as a table with one row per subject and the path of each
subject's scan on disk. :func:`~sk_i2m2.datasets.make_digit_scans` writes such a
cohort: scikit-learn's handwritten digits as PNG scans, with "digit below 5" as the
outcome. Here we add a tabular modality (two noisy measurements that carry part of
the signal), blank some scans, and compare late fusion (``"intra"``), intermediate
fusion (``"inter"``) and I2M2 (``"both"``) by cross-validation. A
:class:`~sk_i2m2.experts.CNNExpert` with a loader reads the files batch by batch, so
memory follows the batch, not the cohort. Needs Pillow (the ``imaging`` extra).

``examples/clinical_imaging_study.py`` in the repository is the long version (real
data, a grid search, calibration and explanations).
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.model_selection import StratifiedKFold, cross_validate

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_digit_scans
from sk_i2m2.experts import MLPExpert

# 200 subjects with 16x16 scans: a small cohort, so that this example runs quickly.
n_subjects = 200

folder = tempfile.mkdtemp(prefix="sk_i2m2_scans_")
X, y, modalities = make_digit_scans(folder, n_samples=n_subjects, size=16,
                                    random_state=0)
print(modalities)
print(X.head(3))

# %%
# A few of the scans, as the files hold them.
fig, axes = plt.subplots(1, 6, figsize=(8, 1.8))
for ax, path, label in zip(axes, X["scan"], y, strict=False):
    ax.imshow(Image.open(path), cmap="gray")
    ax.set_title(str(label), fontsize=9)
    ax.axis("off")

# %%
# The table: two measurements that each carry some of the outcome, with gaps, and
# 5% of the subjects without a scan (an empty path is a missing value, so the
# product drops the image's factors for them).
rng = np.random.default_rng(0)
signal = y.astype(float)  # 1 for the digits 0 to 4
X["marker_a"] = signal + rng.normal(scale=1.5, size=len(X))
X["marker_b"] = signal + rng.normal(scale=1.5, size=len(X))
X.loc[rng.random(len(X)) < 0.1, "marker_b"] = np.nan
X.loc[rng.random(len(X)) < 0.05, "scan"] = None
modalities = [*modalities, ("table", MLPExpert(hidden_units=(16,)),
                            ["marker_a", "marker_b"])]

# %%
# Cross-validate the three kinds of fusion: the same model with one parameter
# changed. Nine fits (three models, three folds): each is one product of 30 epochs
# at a learning rate of 3e-3 (``n_bags=1``, ``max_epochs=30``, ``lr=3e-3``) rather
# than the default ensemble, to keep this example quick.
settings = {"max_epochs": 30, "n_bags": 1, "lr": 3e-3, "random_state": 0}
cv = StratifiedKFold(3, shuffle=True, random_state=0)
results = {}
for dependencies in ("intra", "inter", "both"):
    model = I2M2Classifier(modalities, dependencies=dependencies, **settings)
    scores = cross_validate(model, X, y, cv=cv, scoring=["accuracy", "roc_auc"])
    results[dependencies] = (scores["test_accuracy"].mean(),
                             scores["test_roc_auc"].mean())
    print(f"{dependencies:<6} accuracy {results[dependencies][0]:.3f}  "
          f"ROC AUC {results[dependencies][1]:.3f}")

# %%
fig, ax = plt.subplots(figsize=(5, 2.2))
ax.barh(list(results), [auc for _, auc in results.values()], color="tab:blue")
ax.set_xlabel("cross-validated ROC AUC")
ax.set_xlim(0.5, 1)
fig.tight_layout()
