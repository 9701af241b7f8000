"""
A continuous outcome with intervals
===================================

:class:`~sk_i2m2.I2M2Regressor` on :func:`~sk_i2m2.datasets.load_diabetes_progression`,
which ships with scikit-learn: 442 patients, a clinical examination (age, sex, body
mass index, blood pressure) and six blood serum measurements, and the progression of
their diabetes a year later. Each expert predicts a Gaussian of the outcome; their
product weighs each by how sure it is, row by row, and comes with a standard
deviation.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Regressor
from sk_i2m2.datasets import load_diabetes_progression

X, y, modalities = load_diabetes_progression()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

# %%
# At the defaults: a cross-fitted ensemble of five products, whose predictive
# variance is calibrated on the out-of-fold predictions.
model = I2M2Regressor(modalities, random_state=0).fit(X_train, y_train)
mean, std = model.predict(X_test, return_std=True)
inside = np.abs(y_test - mean) <= 1.645 * std
print(f"held-out R² {r2_score(y_test, mean):.3f}; the 90% intervals hold "
      f"{inside.mean():.0%} of the held-out patients (variance scale "
      f"{model.variance_scale_:.2f})")

# %%
# Each expert alone. Trained jointly as factors of one product, an expert need not
# predict well on its own: the fusion expert, poor alone, is a correction to the
# unimodal experts, learnt where they err together.
for name, expert_mean in model.expert_predict(X_test).items():
    print(f"{name:<9} R² {r2_score(y_test, expert_mean):.3f}")

# %%
# Predictions with their 90% intervals; intervals that miss the outcome in red.
order = np.argsort(mean)
fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(np.arange(len(order)), mean[order], yerr=1.645 * std[order], fmt="none",
            ecolor=np.where(inside[order], "tab:gray", "tab:red"), alpha=0.6)
ax.scatter(np.arange(len(order)), np.asarray(y_test)[order], s=8, color="black",
           label="outcome", zorder=3)
ax.set_xlabel("held-out patients, by predicted progression")
ax.set_ylabel("progression after a year")
ax.legend()
fig.tight_layout()

# %%
# Who moved one patient's prediction: each expert's weight (its share of the
# precision) and its contribution, in the outcome's units, away from the training
# mean. The contributions add up to the prediction minus that mean.
table = model.explain(X_test.head(1))
print(table[["expert", "expert_mean", "expert_std", "weight", "contribution"]]
      .round(2).to_string(index=False))
print(f"training mean {model.task_.location:.1f} + contributions "
      f"{table['contribution'].sum():.1f} = prediction {table['predicted'].iloc[0]:.1f}")
