"""
Scikit-learn classifiers as experts
===================================

The product only needs each expert's class probabilities, so an expert need not be a
neural network: any scikit-learn classifier with ``predict_proba`` can stand for a
modality, or be the fusion expert. It is wrapped in
:class:`~sk_i2m2.experts.SklearnExpert` and cross-fitted (its log-probabilities on
the training rows are out-of-fold, as in :class:`~sklearn.ensemble.StackingClassifier`),
so its in-sample over-confidence does not drown the other experts.
"""

# %%

import matplotlib.pyplot as plt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import load_breast_cancer_views
from sk_i2m2.experts import MLPExpert, SklearnExpert

X, y, modalities = load_breast_cancer_views()
columns = {name: cols for name, _, cols in modalities}
# Three models on three folds: each a single product of at most 100 epochs
# (``n_bags=1``, ``max_epochs=100``) rather than the default ensemble, to keep the
# comparison quick; the scikit-learn experts are cross-fitted all the same.
settings = {"n_bags": 1, "max_epochs": 100, "random_state": 0}

# %%
# Three products: the loader's neural experts; a gradient-boosted tree for one view
# and a logistic regression (wrapped explicitly, to choose its cross-fitting) for
# another; and fitted classifiers only, the fusion expert included. With no neural
# expert left, nothing is trained by gradient: the product is the renormalised
# product of the classifiers' ``predict_proba``.
mixed = [
    ("mean", MLPExpert(), columns["mean"]),
    ("error", HistGradientBoostingClassifier(max_iter=50), columns["error"]),
    ("worst", SklearnExpert(LogisticRegression(max_iter=1000), cv=3), columns["worst"]),
]
trees_only = [(name, HistGradientBoostingClassifier(max_iter=50), cols)
              for name, cols in columns.items()]
models = {
    "neural experts": I2M2Classifier(modalities, **settings),
    "mixed": I2M2Classifier(mixed, **settings),
    "fitted classifiers only": I2M2Classifier(
        trees_only, fusion=HistGradientBoostingClassifier(max_iter=50), **settings),
}
results = {}
for name, model in models.items():
    results[name] = cross_val_score(model, X, y, cv=3, scoring="roc_auc")
    print(f"{name:<24} ROC AUC {results[name].mean():.4f} ± {results[name].std():.4f}")

fig, ax = plt.subplots(figsize=(5.5, 2.4))
ax.boxplot(list(results.values()), vert=False, tick_labels=list(results))
ax.set_xlabel("ROC AUC per fold (3 folds)")
fig.tight_layout()

# %%
# Nested parameters reach the wrapped classifier, so a search can tune it like any
# other expert parameter:
model = models["mixed"].set_params(error__max_leaf_nodes=15)
model.fit(X, y)
print(model.get_params()["error__max_leaf_nodes"])
print(model.sklearn_experts_)
