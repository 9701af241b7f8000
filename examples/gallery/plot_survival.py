"""
Time to event: survival curves from two modalities
==================================================

:class:`~sk_i2m2.I2M2SurvivalAnalysis` on :func:`~sk_i2m2.datasets.load_pbc`, the
Mayo Clinic trial in primary biliary cholangitis: 418 patients, a bedside
examination and a laboratory panel, and the time to death (censored at transplant or
at the end of follow-up). Each expert gives a log-risk; their hazards multiply, so
the product is one proportional-hazards model, trained on the Cox partial
likelihood. The conventions are scikit-survival's: ``y`` holds a boolean event and
a time, ``predict`` is a risk score, ``score`` is Harrell's concordance index.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2SurvivalAnalysis
from sk_i2m2.datasets import load_pbc
from sk_i2m2.metrics import concordance_index
from sk_i2m2.plotting import SurvivalCurveDisplay

X, y, modalities = load_pbc()
print(f"{len(X)} patients, {y['event'].sum()} deaths; modalities "
      f"{[(name, len(columns)) for name, _, columns in modalities]}")
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y["event"], random_state=0)

# %%
# At the defaults: a cross-fitted ensemble of five products (folds stratified on
# the event), its log-risk calibrated by a temperature on the out-of-fold partial
# likelihood, and a Breslow baseline hazard fitted on the out-of-fold log-risks.
model = I2M2SurvivalAnalysis(modalities, random_state=0).fit(X_train, y_train)
print(f"held-out concordance {model.score(X_test, y_test):.3f} "
      f"(out of fold on the training rows: {model.oof_score_:.3f})")

# %%
# Each expert alone, by the same concordance index: the fusion expert reads both
# modalities, the unimodal experts one each.
for name, risk in model.expert_predict(X_test).items():
    print(f"{name:<12} {concordance_index(y_test, risk):.3f}")

# %%
# The risk of death within five years, from each patient's survival curve.
curves = model.predict_survival_function(X_test)
five_years = 5 * 365.25
risk_5y = 1 - np.array([curve(five_years) for curve in curves])
print(f"five-year risk: median {np.median(risk_5y):.2f}, "
      f"range {risk_5y.min():.2f} to {risk_5y.max():.2f}")

# %%
# Calibration at a glance: the held-out patients cut into three groups of predicted
# risk; each group's Kaplan-Meier curve (solid) beside its mean predicted curve
# (dashed). Curves that fall apart by group show discrimination; solid and dashed
# lines close together show calibration.
fig, ax = plt.subplots(figsize=(6, 4))
SurvivalCurveDisplay.from_estimator(model, X_test, y_test, n_groups=3, ax=ax)
ax.set_xlabel("days")
plt.tight_layout()
plt.show()
