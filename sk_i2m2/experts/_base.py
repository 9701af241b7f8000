"""BaseExpert, and what the experts share.

Every expert subclasses :class:`BaseExpert`. ``_check_shape`` checks that a sample's
shape matches its columns; :func:`image_preprocessor` is the preprocessing of an image
modality (pixel columns, or files read by ``ImageFiles``) that ``CNNExpert`` and
``PretrainedExpert`` share.
"""

import math

from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, StrOptions

from ..imaging._files import ImageFiles, as_image_loader
from ._preprocessing import MedianImputeScaler, _as_object, table_preprocessor


class BaseExpert(BaseEstimator):
    """Base class of the experts; subclasses define :meth:`build`.

    Parameters
    ----------
    preprocessor : "auto", "passthrough" or transformer
        What turns this modality's raw columns into numbers. ``"auto"`` picks a
        preprocessor that suits the expert (see each subclass); an sklearn
        transformer is cloned and fitted; ``"passthrough"`` feeds the columns as
        they are (they must already be numeric).
    """

    _parameter_constraints = {
        "preprocessor": [
            StrOptions({"auto", "passthrough"}),
            HasMethods(["fit", "transform"]),
        ],
    }
    #: Types of this package, besides the expert, that its fitted preprocessing may
    #: hold: what a saved model holding it trusts (see ``sk_i2m2.load``).
    _saved_types = (_as_object, MedianImputeScaler)

    #: Whether the expert is a network trained with the product (a scikit-learn
    #: expert is fitted before, not trained).
    neural = True
    #: Whether the modality is a table (the "auto" fusion candidates read tables).
    tabular = False
    #: Whether the preprocessor reads the cells of its column as they are (tables of
    #: visits); otherwise cells holding arrays are stacked into one row each.
    reads_cells = False
    #: Whether a product holding the expert trains on a one-cycle learning rate at
    #: ``n_iter_no_change="auto"`` (:func:`sk_i2m2._plan.resolve_one_cycle`).
    one_cycle = False

    def make_preprocessor(self, X, modality=None):
        """Return an unfitted preprocessor for the columns ``X`` of this modality.

        Parameters
        ----------
        X : DataFrame or ndarray
            The modality's raw columns.
        modality : str or None, default=None
            The modality's name, for error messages.
        """
        self._validate_params()
        if self.preprocessor == "auto":
            return self._auto_preprocessor(X)
        if self.preprocessor == "passthrough":
            return "passthrough"
        return clone(self.preprocessor)

    def _auto_preprocessor(self, X):
        return table_preprocessor(X)

    def sample_shape(self, n_features, modality):
        """Shape of one preprocessed sample, checked against the expert's expectations.

        Parameters
        ----------
        n_features : int
            Number of columns the preprocessor produced.
        modality : str
            The modality's name, for error messages.
        """
        return (n_features,)

    def build(self, input_shape, n_outputs):  # pragma: no cover - abstract
        """Return a torch module mapping ``(n, *input_shape)`` to ``(n, n_outputs)``."""
        raise NotImplementedError

    def with_preprocessing(self, preprocessor):
        """What builds this modality's networks, given its fitted ``preprocessor``.

        The expert itself, unless its network depends on what the preprocessing
        found (:class:`~sk_i2m2.experts.VisitsExpert`: which channels a visit has).
        """
        return self


def _check_shape(expert, shape, n_features, modality):
    if math.prod(shape) != n_features:
        raise ValueError(
            f"Modality {modality!r}: {type(expert).__name__} expects "
            f"input_shape={shape} ({math.prod(shape)} values per row) but its "
            f"columns give {n_features} values per row. Select exactly the "
            "pixel or time-step columns of this modality, or fix input_shape."
        )
    return shape


def image_preprocessor(expert, X, modality, shape):
    """An image expert's preprocessing: its pixels' preprocessor, or one reading files.

    With ``expert.loader`` None, the columns hold the pixels and the expert's
    ``preprocessor`` applies (:meth:`BaseExpert.make_preprocessor`). Otherwise the
    modality is a column of paths read by :class:`ImageFiles`; images read from files
    are scaled by the loader's ``intensity`` (statistics fitted by ``ImageFiles``, or
    per image as it is read), so no other preprocessor may stand beside a loader.

    Parameters
    ----------
    expert : BaseExpert
        An expert with ``loader`` and ``preprocessor`` parameters.
    X : DataFrame or ndarray
        The modality's raw columns.
    modality : str or None
        The modality's name, for error messages.
    shape : tuple of int or None
        The shape of one image, for ``ImageFiles`` (unused without a loader).
    """
    if expert.loader is None:
        return BaseExpert.make_preprocessor(expert, X, modality)
    if expert.preprocessor not in ("auto", "passthrough"):
        raise ValueError(
            f"Modality {modality!r}: images read from files are scaled by the loader "
            "(ImageLoader(intensity=...)), not by a preprocessor; leave "
            "preprocessor='auto'."
        )
    return ImageFiles(as_image_loader(expert.loader), shape, modality)
