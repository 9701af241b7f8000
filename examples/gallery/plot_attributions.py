"""
Which variables and which scan regions drove a prediction
=========================================================

``explain`` says which expert drove each prediction; a clinical reviewer also asks
which *variable* did, and which region of the scan. Here a small cohort pairs a
clinical table (one informative measurement, one noisy one, a site) with a scan
per subject (:func:`~sk_i2m2.datasets.make_digit_scans`: handwritten digits as
12x12 PNG files, the outcome "digit below 5"). The model is fitted at the package
defaults; the cohort is small (240 subjects, small scans) so that the example runs in seconds.
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_digit_scans
from sk_i2m2.experts import MLPExpert
from sk_i2m2.inspection import modality_importance
from sk_i2m2.plotting import AttributionMapDisplay

folder = tempfile.mkdtemp()
X, y, modalities = make_digit_scans(folder, n_samples=240, size=12, random_state=0)
rng = np.random.default_rng(0)
X["marker"] = y + rng.normal(scale=0.8, size=len(y))  # carries part of the signal
X["noise"] = rng.normal(size=len(y))                   # carries none
X["site"] = rng.choice(["north", "south"], size=len(y))
modalities = [*modalities, ("clinical", MLPExpert(), ["marker", "noise", "site"])]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)
clf = I2M2Classifier(modalities, random_state=0).fit(X_train, y_train)
print(f"held-out accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Which modalities does the model use? Shuffle each one's columns together on the
# held-out rows and see how much the accuracy drops.
result = modality_importance(clf, X_test, y_test, n_repeats=5, random_state=0)
print(result.importances_mean.round(3).to_string())

# %%
# Which variables? ``explain(X, by="column")`` splits each expert's contribution
# among its columns (integrated gradients from a typical training row). The
# clinical expert leans most on the marker; the noise and the site, which carry no
# signal, move it less (what they move is what the expert learnt from chance).
columns = clf.explain(X_test, by="column")
clinical = columns[columns["expert"] == "clinical"]
print(clinical.groupby("column")["attribution"].apply(lambda v: v.abs().mean())
      .round(3).to_string())

# %%
# The attributions of each (patient, expert) add up to its contribution against
# the baseline's, up to the integration's error.
by = columns.groupby(["sample", "expert"])
gap = by["attribution"].sum() - (by["contribution"].first()
                                 - by["baseline_contribution"].first())
print(f"largest completeness gap: {gap.abs().max():.3f} nats")

# %%
# Which regions of the scan? One map per patient, over the scan: red pixels pushed
# the scan expert towards the predicted class, blue ones away from it.
display = AttributionMapDisplay.from_estimator(clf, X_test.head(4), "scan")
plt.show()
