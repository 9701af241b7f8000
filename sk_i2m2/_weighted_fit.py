"""Fitting a scikit-learn expert with the rows' weights, routing on or off.

I2M2 gives the weights of ``fit(X, y, sample_weight=w)`` to every expert it fits
itself, so an expert needs no metadata request. A Pipeline would take them as
``<last step>__sample_weight``, a name scikit-learn refuses once metadata routing is
enabled; so a Pipeline's steps are fitted here one by one, the transformers without
weights (as Pipeline does) and the last step with them, which holds in both modes.
"""

from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter


def _weighted_step(estimator):
    """The estimator that takes the weights: a Pipeline's last step, recursively."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def check_takes_weights(estimator, name):
    """Raise when ``estimator`` (the expert ``name``) cannot be fitted with weights."""
    step = _weighted_step(estimator)
    if step in (None, "passthrough") or not has_fit_parameter(step, "sample_weight"):
        raise ValueError(
            f"Expert {name!r}: {type(step).__name__}.fit takes no sample_weight. Use an "
            "estimator that does, or fit without sample_weight."
        )


def _fit(estimator, X, y, sample_weight):
    if not isinstance(estimator, Pipeline):
        return estimator.fit(X, y, sample_weight=sample_weight)
    for _, step in estimator.steps[:-1]:
        if step not in (None, "passthrough"):
            X = step.fit_transform(X, y)
    _fit(estimator.steps[-1][1], X, y, sample_weight)
    return estimator


def fit_clone(estimator, X, y, sample_weight=None):
    """A fitted clone of ``estimator``; ``sample_weight`` reaches the step that weighs rows."""
    fitted = clone(estimator)
    if sample_weight is None:
        return fitted.fit(X, y)
    return _fit(fitted, X, y, sample_weight)
