"""Scikit-learn estimators as experts, and how an expert given in a modality spec is read.

:class:`SklearnExpert` wraps one estimator; :class:`AutoExpert` stands for several
candidates of a table modality; :func:`as_expert` turns ``"auto"`` or an estimator in a
modality spec into an expert.
"""

from numbers import Integral

from sklearn.utils._param_validation import HasMethods, Interval

from ._base import BaseExpert
from ._neural import MLPExpert


class SklearnExpert(BaseExpert):
    """A scikit-learn estimator as an expert: a factor of the product fitted, not trained.

    Its factor is not trained by gradient: the estimator is fitted first and its
    output enters the product as a given term while the neural experts train on the
    loss of the whole product. A classifier's output is its log-probabilities
    (:class:`~sk_i2m2.I2M2Classifier`); a regressor's is a Gaussian with its
    prediction as mean and the mean squared error of its out-of-fold predictions as
    variance (:class:`~sk_i2m2.I2M2Regressor`). For the training rows those outputs
    are out-of-fold (cross-fitted with ``cv`` folds, as in
    :class:`~sklearn.ensemble.StackingClassifier`), so that an estimator's in-sample
    over-confidence cannot drown the other experts; for prediction it is refitted on
    every training row.

    An estimator placed directly in a modality spec, e.g.
    ``("clinical", HistGradientBoostingClassifier(), columns)``, is wrapped in this
    class with its defaults, and its parameters stay reachable as
    ``clinical__<param>``.

    Parameters
    ----------
    estimator : classifier or regressor
        Any scikit-learn classifier with ``predict_proba``, or regressor. It receives
        the modality's raw columns (gradient-boosted trees take missing values and,
        with ``categorical_features="from_dtype"``, pandas categories as they are;
        give a Pipeline for anything else). A regressor is fitted on the
        standardised target.
    cv : int or cross-validation generator, default=5
        Folds of the cross-fitting; an int means shuffled folds, stratified for a
        classifier.
    n_jobs : int or None, default=None
        Parallel fits of the cross-fitting.
    encoder : expert or None, default=None
        The neural expert whose :meth:`build` gives the fusion expert its encoder of
        this modality; None means :class:`MLPExpert`.
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        What the fusion expert's encoder sees (the estimator gets the raw columns):
        ``"auto"`` imputes, standardises and one-hot encodes as ``MLPExpert``.
    """

    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "estimator": [HasMethods(["fit", "predict"])],
        "cv": ["cv_object"],
        "n_jobs": [Integral, None],
        "encoder": [HasMethods(["build"]), None],
    }

    def __init__(self, estimator, *, cv=5, n_jobs=None, encoder=None, preprocessor="auto"):
        self.estimator = estimator
        self.cv = cv
        self.n_jobs = n_jobs
        self.encoder = encoder
        self.preprocessor = preprocessor

    neural = False
    tabular = True

    def build(self, input_shape, n_outputs):
        """The fusion expert's encoder of this modality (the estimator is not a module)."""
        return (MLPExpert() if self.encoder is None else self.encoder).build(
            input_shape, n_outputs)


#: The candidates an :class:`AutoExpert` may hold.
AUTO_CANDIDATES = ("mlp", "boosting", "linear")


class AutoExpert(BaseExpert):
    """Several experts for one table modality; the out-of-fold evidence weighs them.

    ``"auto"`` in a modality spec, e.g. ``("clinical", "auto", columns)``, means
    ``AutoExpert()``. Each candidate becomes its own factor of the product, reading
    the modality's preprocessed columns: ``"mlp"`` is an :class:`MLPExpert` (named as
    the modality, trained with the product), ``"boosting"`` a cross-fitted
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (or regressor) named
    ``"<modality>:boosting"``, ``"linear"`` a cross-fitted
    :class:`~sklearn.linear_model.LogisticRegression` (or
    :class:`~sklearn.linear_model.RidgeCV`) named ``"<modality>:linear"``. No
    candidate wins on every table: with ``expert_weights="learn"`` the log-linear
    pool weighs them on out-of-fold rows, so the modality's evidence is shared
    among its candidates rather than counted once per candidate.

    Parameters
    ----------
    candidates : tuple of {"mlp", "boosting", "linear"}, default=("mlp", "boosting", "linear")
        The experts of the modality.
    cv : int, default=5
        Folds of the cross-fitting of the scikit-learn candidates (shuffled,
        stratified for a classifier).
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        As :class:`MLPExpert`'s; every candidate reads its output.
    """

    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "candidates": ["array-like"],
        "cv": [Interval(Integral, 2, None, closed="left")],
    }

    tabular = True

    def __init__(self, candidates=AUTO_CANDIDATES, cv=5, preprocessor="auto"):
        self.candidates = candidates
        self.cv = cv
        self.preprocessor = preprocessor

    def _checked_candidates(self):
        candidates = tuple(self.candidates)
        unknown = [kind for kind in candidates if kind not in AUTO_CANDIDATES]
        if unknown or not candidates or len(set(candidates)) != len(candidates):
            raise ValueError(
                f"AutoExpert candidates must be distinct, among {AUTO_CANDIDATES}, and "
                f"at least one; got {candidates!r}.")
        return candidates

    @property
    def neural(self):
        return "mlp" in self._checked_candidates()

    def companions(self, task):
        """``{kind: SklearnExpert}`` of the scikit-learn candidates, as ``task`` makes them."""
        # A task serves only some candidates (time to event: none without
        # scikit-survival); the others are left to the network.
        return {kind: SklearnExpert(task.sklearn_candidate(kind), cv=self.cv)
                for kind in self._checked_candidates()
                if kind != "mlp" and kind in task.AUTO_CANDIDATES}

    def build(self, input_shape, n_outputs):
        """The ``"mlp"`` candidate's network (also the fusion expert's encoder)."""
        return MLPExpert().build(input_shape, n_outputs)


def is_sklearn_estimator(candidate):
    """A scikit-learn estimator (fit, predict and tags): an expert's estimator.

    Whether it is the kind of estimator the model's task takes (a classifier with
    ``predict_proba``, a regressor, ...) is the task's to check, at ``fit``.
    """
    return (hasattr(candidate, "fit") and hasattr(candidate, "predict")
            and hasattr(candidate, "__sklearn_tags__"))


def as_expert(candidate):
    """An expert as given, ``"auto"`` as :class:`AutoExpert`, or a scikit-learn
    estimator wrapped in :class:`SklearnExpert`."""
    if isinstance(candidate, BaseExpert):
        return candidate
    if isinstance(candidate, str) and candidate == "auto":
        return AutoExpert()
    if is_sklearn_estimator(candidate):
        return SklearnExpert(candidate)
    return candidate
