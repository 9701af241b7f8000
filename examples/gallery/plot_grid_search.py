"""
Grid search over ``dependencies`` and expert parameters
=======================================================

Late fusion (``dependencies="intra"``), intermediate fusion (``"inter"``) and I2M2
(``"both"``) are one estimator with one parameter changed, so
:class:`~sklearn.model_selection.GridSearchCV` can choose between them, together with
nested parameters of the experts (``<modality>__<parameter>``, ``fusion__<parameter>``)
as for a :class:`~sklearn.pipeline.Pipeline`.

The synthetic data have inter-modality dependencies only: the label depends on how
the two modalities relate, and neither says anything alone, so the unimodal experts
of late fusion cannot find it.
"""

# %%

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification

X, y, modalities = make_multimodal_classification(
    n_samples=400, dependency="inter", random_state=0)
print(I2M2Classifier(modalities).get_params()["m0__hidden_units"])

# %%
# Six candidates on three folds are eighteen fits: each is one product of at most
# 100 epochs (``n_bags=1``, ``max_epochs=100``) rather than the default ensemble of
# five, to keep the search quick. The choice it makes carries over to the defaults.
search = GridSearchCV(
    I2M2Classifier(modalities, n_bags=1, max_epochs=100, random_state=0),
    {"dependencies": ["intra", "inter", "both"],
     "m0__hidden_units": [(16,), (64,)]},
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    scoring="roc_auc",
).fit(X, y)
print("best:", search.best_params_, f"ROC AUC {search.best_score_:.3f}")

results = pd.DataFrame(search.cv_results_["params"]).assign(
    roc_auc=search.cv_results_["mean_test_score"],
    sd=search.cv_results_["std_test_score"])
results["m0__hidden_units"] = results["m0__hidden_units"].astype(str)
print(results.round(3).to_string(index=False))

# %%
table = results.pivot(index="dependencies", columns="m0__hidden_units", values="roc_auc")
ax = table.loc[["intra", "inter", "both"]].plot.barh(figsize=(5.5, 2.6))
ax.set_xlabel("cross-validated ROC AUC")
ax.set_xlim(0.4, 1)
ax.legend(title="m0__hidden_units", fontsize=8)
plt.tight_layout()
