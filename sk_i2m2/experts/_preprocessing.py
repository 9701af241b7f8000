"""The experts' default preprocessors: tables, and images or series given as columns.

:func:`table_preprocessor` is the default of the experts of tables (``MLPExpert``,
``TorchExpert``, ``SklearnExpert``, ``AutoExpert``); :class:`MedianImputeScaler` with a
:class:`ChannelScaler` is that of images and series given as pixel or time-step columns.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    clone,
)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.extmath import _incremental_mean_and_var
from sklearn.utils.validation import check_array, check_is_fitted, validate_data


def _as_object(X):
    """Categories as plain objects with NaN for missing: what SimpleImputer handles.

    SimpleImputer refuses boolean columns and cannot compare ``pd.NA``; one object
    block with NaN for every kind of missing value suits it and OneHotEncoder alike.
    """
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), np.nan)


def table_preprocessor(X):
    """Median-impute + standardise numerics; most-frequent-impute + one-hot the rest.

    Numeric columns go through :class:`MedianImputeScaler` (the result of
    ``SimpleImputer(strategy="median")`` then ``StandardScaler``, in float32 and in
    bounded memory). An all-missing column is kept (imputed with zeros) instead of
    dropped silently, so the output width never depends on the data. Columns are
    routed by position, so a model fitted on a DataFrame also transforms the same
    columns given as an array.
    """
    numeric = MedianImputeScaler()
    if not hasattr(X, "dtypes"):  # a plain array holds no categorical columns
        return numeric
    categorical = make_pipeline(
        FunctionTransformer(_as_object, feature_names_out="one-to-one"),
        SimpleImputer(strategy="most_frequent", keep_empty_features=True),
        # float32 as the numeric columns: stacking them with float64 would double
        # the memory of the whole table's output.
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
    )
    is_numeric = [
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        for dtype in X.dtypes
    ]
    if all(is_numeric):
        # Same result without the ColumnTransformer's selection and stacking copies.
        return numeric
    return ColumnTransformer(
        [
            ("numeric", numeric, [i for i, num in enumerate(is_numeric) if num]),
            ("categorical", categorical, [i for i, num in enumerate(is_numeric) if not num]),
        ],
        sparse_threshold=0,
        verbose_feature_names_out=False,
    )


class ChannelScaler(TransformerMixin, BaseEstimator):
    """Standardise each channel of flattened images or series with one mean and scale.

    Per-pixel scaling (``StandardScaler``) would erase the spatial contrast a
    convolution looks for; one statistic per channel keeps it, as image and signal
    pipelines usually do.

    Parameters
    ----------
    n_channels : int, default=1
        Number of channels; the flattened columns are read as ``(n_channels, -1)``.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
        Mean of each channel's values, missing values ignored.
    var_ : ndarray of shape (n_channels,)
        Variance of each channel's values.
    scale_ : ndarray of shape (n_channels,)
        Standard deviation of each channel; 1 where it is 0.
    n_samples_seen_ : ndarray of shape (n_channels,)
        Number of non-missing values of each channel seen.
    """

    _parameter_constraints = {"n_channels": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, n_channels=1):
        self.n_channels = n_channels

    def fit(self, X, y=None):
        """Compute each channel's mean and scale, ignoring missing values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        for attribute in ("n_samples_seen_", "mean_", "var_", "scale_"):
            self.__dict__.pop(attribute, None)
        return self.partial_fit(X)

    def partial_fit(self, X, y=None):
        """Update each channel's mean and scale with the rows ``X``.

        Successive calls give the statistics of all their rows (to rounding), so a
        large table can be fitted a chunk of rows at a time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        first = not hasattr(self, "n_samples_seen_")
        if first:
            self._validate_params()
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan",
                          reset=first)
        if X.shape[1] % self.n_channels:
            raise ValueError(
                f"ChannelScaler: {X.shape[1]} columns cannot be split into "
                f"{self.n_channels} channels of equal size."
            )
        if first:
            self.mean_, self.var_ = 0.0, 0.0
            self.n_samples_seen_ = np.zeros(self.n_channels, dtype=np.int64)
        # One column per channel: StandardScaler's own NaN-aware statistics, which
        # merge successive chunks exactly, then apply.
        values = (X.reshape(X.shape[0], self.n_channels, -1).transpose(0, 2, 1)
                  .reshape(-1, self.n_channels))
        self.mean_, self.var_, self.n_samples_seen_ = _incremental_mean_and_var(
            values, self.mean_, self.var_, self.n_samples_seen_)
        scale = np.sqrt(self.var_)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False
        )
        per_channel = X.reshape(X.shape[0], self.n_channels, -1)
        scaled = (per_channel - self.mean_[:, None]) / self.scale_[:, None]
        return scaled.reshape(X.shape)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray(input_features, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # ignored by the statistics, kept as NaN
        return tags


#: Values (rows x columns) that :class:`MedianImputeScaler` holds in float64 at a
#: time: 32 MB, small beside the tables it is meant for, yet large enough that the
#: cost of each chunk (a pandas slice, a dtype check) stays negligible.
_CHUNK_VALUES = 2**22


def _float64_chunk(X, rows, columns, estimator=None):
    """``X[rows, columns]`` as a float64 array of its own, NaN where values are missing."""
    part = X.iloc[rows, columns] if hasattr(X, "iloc") else X[rows, columns]
    try:
        # pandas may hand out a read-only conversion (copy-on-write): force one we own.
        return check_array(part, dtype=np.float64, ensure_all_finite="allow-nan",
                           copy=True, force_writeable=True, estimator=estimator)
    except ValueError as error:
        if "could not convert" not in str(error):
            raise
        # As SimpleImputer says it: the columns, not the values, are at fault.
        raise ValueError(f"Cannot take the median of non-numeric data: {error}") from None


def _chunks(n_items, size):
    for start in range(0, n_items, size):
        yield slice(start, start + size)


class MedianImputeScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Median imputation then scaling, in bounded memory, to float32.

    Gives what ``make_pipeline(SimpleImputer(strategy="median",
    keep_empty_features=True), scaler)`` gives, computed in float64 and returned in
    float32 (what the experts' networks read), while holding at most one chunk of
    about four million values in float64: medians are taken a few columns at a time
    (``np.nanmedian``), the scaler is fitted (``partial_fit``) and applied a few
    thousand rows at a time. That pipeline holds several float64 copies of its whole
    input at once (its masked median alone copies and sorts the data and its mask):
    on a million rows of 50 float64 columns (381 MB), ``fit_transform`` and the cast
    to float32 allocated up to 1670 MB besides the input; this transformer
    allocates up to 255 MB, 191 MB of them its float32 output.

    Parameters
    ----------
    scaler : transformer with partial_fit, or None, default=None
        Fitted on the imputed rows one chunk at a time; None means
        ``StandardScaler(copy=False)``. Image and signal experts use a
        :class:`ChannelScaler`.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features,)
        Median of each column over its non-missing values; 0 for a column without
        any, which is kept rather than dropped so that the output width never
        depends on the data.
    scaler_ : transformer
        The fitted scaler.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_i2m2.experts import MedianImputeScaler
    >>> X = np.array([[1.0, np.nan], [2.0, 4.0], [np.nan, 6.0]])
    >>> scaler = MedianImputeScaler().fit(X)
    >>> scaler.statistics_
    array([1.5, 5. ])
    >>> scaler.transform(X).dtype
    dtype('float32')
    """

    _parameter_constraints = {"scaler": [HasMethods(["partial_fit", "transform"]), None]}

    def __init__(self, scaler=None):
        self.scaler = scaler

    def _check(self, X, reset):
        """``X`` validated; a DataFrame stays one, to be converted chunk by chunk."""
        if not hasattr(X, "iloc"):
            return validate_data(self, X, reset=reset, dtype=None,
                                 ensure_all_finite="allow-nan")
        validate_data(self, X, reset=reset, skip_check_array=True)
        # The errors check_array gives (no rows, no columns, text), without
        # converting the whole frame.
        _float64_chunk(X, slice(0, 1), slice(None), estimator=self)
        return X

    def _imputed(self, X, rows):
        values = _float64_chunk(X, rows, slice(None))
        np.copyto(values, self.statistics_, where=np.isnan(values))
        return values

    def fit(self, X, y=None):
        """Compute the medians, then fit the scaler on the imputed rows.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric columns; NaN (or ``pd.NA``) marks a missing value.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._check(X, reset=True)
        n_rows, n_columns = X.shape
        self.statistics_ = np.zeros(n_columns)
        for columns in _chunks(n_columns, max(1, _CHUNK_VALUES // n_rows)):
            values = _float64_chunk(X, slice(None), columns)
            observed = ~np.isnan(values).all(axis=0)
            if observed.any():  # np.nanmedian warns on a column without values
                medians = np.zeros(values.shape[1])
                medians[observed] = np.nanmedian(values[:, observed], axis=0)
                self.statistics_[columns] = medians
        # Each chunk is an array of its own: the default scaler may scale it in place.
        scaler = StandardScaler(copy=False) if self.scaler is None else clone(self.scaler)
        for rows in _chunks(n_rows, max(1, _CHUNK_VALUES // n_columns)):
            scaler.partial_fit(self._imputed(X, rows))
        self.scaler_ = scaler
        return self

    def transform(self, X):
        """Impute and scale ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features), float32
        """
        check_is_fitted(self)
        X = self._check(X, reset=False)
        out = np.empty(X.shape, dtype=np.float32)
        for rows in _chunks(X.shape[0], max(1, _CHUNK_VALUES // X.shape[1])):
            out[rows] = self.scaler_.transform(self._imputed(X, rows))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _signal_preprocessor(n_channels):
    return MedianImputeScaler(ChannelScaler(n_channels=n_channels))
