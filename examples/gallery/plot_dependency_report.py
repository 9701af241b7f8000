"""
Which dependencies does my data hold?
=====================================

:func:`sk_i2m2.inspection.dependency_report` cross-validates late fusion
(``dependencies="intra"``), intermediate fusion (``"inter"``) and I2M2 (``"both"``)
on the same folds and says which kind of dependency the data carry: the three
models' scores (``table``), their paired differences over the folds
(``differences``), and a one-line reading of them (``verdict``).
"""

# %%
import os

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.inspection import dependency_report

QUICK = os.environ.get("SK_I2M2_DOCS_QUICK") == "1"

# %%
# Data whose label depends on how the two modalities relate (``dependency="inter"``):
# the report should find inter-modality dependencies.
X, y, modalities = make_multimodal_classification(
    n_samples=400 if QUICK else 1500, dependency="inter", random_state=0)
estimator = I2M2Classifier(modalities, random_state=0,
                           **({"n_bags": 1, "max_epochs": 30} if QUICK else {}))
report = dependency_report(estimator, X, y, cv=5)
print(report.table)

# %%
print(report.differences)

# %%
print(report.verdict)

# %%
report.plot()
