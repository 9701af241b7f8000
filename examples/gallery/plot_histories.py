"""
Histories of visits: early risk from a landmark
================================================

:func:`~sk_i2m2.datasets.load_pbcseq` follows 312 patients with primary biliary
cholangitis over repeated visits (laboratory values and signs at irregular times,
1 to 16 visits each), with the time to death. Two years after enrolment, what do
the visits so far say of the risk from then on? A landmark analysis keeps the
patients still followed at two years, their visits up to then, and counts the time
from the landmark. The history is one modality, read by
:class:`~sk_i2m2.experts.VisitsExpert`; the baseline table is another; everything
else is at the package defaults.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2SurvivalAnalysis
from sk_i2m2.datasets import load_pbcseq
from sk_i2m2.experts import MLPExpert, VisitsExpert
from sk_i2m2.longitudinal import group_visits

patients, visits, y = load_pbcseq()
landmark = 730  # days
at_risk = y["time"] > landmark
X = patients[at_risk].join(group_visits(visits, "id", "day", until=landmark))
y_landmark = y[at_risk].copy()
y_landmark["time"] -= landmark
print(f"{at_risk.sum()} patients at risk at the landmark, "
      f"{y_landmark['event'].sum()} deaths after it; visits per patient up to it: "
      f"median {X['visits'].map(len).median():.0f}")
print(X["visits"].iloc[0].round(2).head())

# %%
# One row per patient; the history is the column ``visits``, each cell that
# patient's visits in time order.
modalities = [("history", VisitsExpert(time="day"), ["visits"]),
              ("baseline", MLPExpert(), list(patients.columns))]
X_train, X_test, y_train, y_test = train_test_split(
    X, y_landmark, test_size=0.3, stratify=y_landmark["event"], random_state=0)
model = I2M2SurvivalAnalysis(modalities, random_state=0).fit(X_train, y_train)
print(f"held-out concordance {model.score(X_test, y_test):.3f}")

# %%
# The same model given only the last visit before the landmark, as table columns:
# what the history adds beyond the latest values.
last = X["visits"].apply(lambda visits: visits.ffill().iloc[-1].drop("day"))
X_last = patients[at_risk].join(last.astype(float))
last_modalities = [("last visit", MLPExpert(), list(last.columns)),
                   ("baseline", MLPExpert(), list(patients.columns))]
last_model = I2M2SurvivalAnalysis(last_modalities, random_state=0).fit(
    X_last.loc[X_train.index], y_train)
print(f"last visit only: held-out concordance "
      f"{last_model.score(X_last.loc[X_test.index], y_test):.3f}")

# %%
# What the history's expert read: its contribution split among the visits'
# columns, each summed over the visits (integrated gradients from the same
# visits with every value at its training mean).
table = model.explain(X_test.iloc[:40], by="column")
own = table[table["expert"] == "history"]
importance = own.groupby("column")["attribution"].apply(lambda v: v.abs().mean())
importance = importance.drop("day").sort_values()
fig, ax = plt.subplots(figsize=(6, 4))
importance.plot.barh(ax=ax)
ax.set_xlabel("mean |attribution| to the log-risk")
ax.set_title("What the history's expert read")
plt.tight_layout()
