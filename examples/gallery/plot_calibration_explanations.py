"""
Calibration and explanations
============================

A product multiplies probabilities that are each fitted to be confident, so it tends
to be over-confident. ``calibrate="temperature"`` fits a temperature ``T`` on rows the
model did not train on and divides the combined log-probabilities by it: no
prediction changes, only how sure they are. Then
:meth:`~sk_i2m2.I2M2Classifier.explain` says, row by row, how much evidence each
expert brought to the prediction, and
:class:`~sk_i2m2.plotting.ExpertContributionDisplay` plots it.
"""

# %%

import matplotlib.pyplot as plt
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.metrics import expected_calibration_error
from sk_i2m2.plotting import ExpertContributionDisplay

X, y, modalities = make_multimodal_classification(
    n_samples=800, dependency="intra", class_sep=0.5, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.4, stratify=y, random_state=0)

# %%
# One product (``n_bags=1``) rather than the default ensemble, without and with a
# temperature: the default ensemble fits its temperature on its out-of-fold
# predictions anyway, while a single product, trained for all its 200 epochs (a
# single product stops early only above 10 000 rows by default), grows
# over-confident and shows what the temperature changes. The temperature is fitted
# on a stratified fifth of the training rows, held out for it.
settings = {"n_bags": 1, "validation_fraction": 0.2, "random_state": 0}
models = {
    "uncalibrated": I2M2Classifier(modalities, calibrate=None, **settings),
    "temperature": I2M2Classifier(modalities, calibrate="temperature", **settings),
}
for name, model in models.items():
    proba = model.fit(X_train, y_train).predict_proba(X_test)
    print(f"{name:<13} accuracy {model.score(X_test, y_test):.3f}  "
          f"log loss {log_loss(y_test, proba):.3f}  "
          f"ECE {expected_calibration_error(y_test, proba, model.classes_):.3f}")
print(f"fitted temperature T = {models['temperature'].temperature_:.2f}")

# %%
fig, ax = plt.subplots(figsize=(4.5, 4))
for name, model in models.items():
    CalibrationDisplay.from_estimator(model, X_test, y_test, n_bins=8, name=name, ax=ax)
ax.set_title("Reliability on held-out rows")
fig.tight_layout()

# %%
# Explanations: one row per sample and expert, with the expert's log-probability of
# the predicted class, its share of the evidence, and whether it agreed.
model = models["temperature"]
table = model.explain(X_test)
print(table.head(6).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
print(table.groupby("expert", sort=False)[["share", "agrees"]].mean().round(3))

# %%
# Each expert's accuracy beside the product's (bars), and the spread of each
# expert's share of the evidence over the held-out rows (boxes).
display = ExpertContributionDisplay.from_estimator(model, X_test, y_test)
display.figure_.set_size_inches(9, 3)
