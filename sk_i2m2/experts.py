"""Experts: what each factor of the product of experts looks like.

An expert is a small scikit-learn style parameter holder. It knows three things about
its modality:

* its default preprocessing (``preprocessor="auto"``), resolved when the
  :class:`~sk_i2m2.ModalitySplitter` is fitted;
* the shape its inputs take once preprocessed (:meth:`BaseExpert.input_shape`);
* how to :meth:`BaseExpert.build` a torch module from that shape to ``n_outputs``.

The same ``build`` serves twice: as the unimodal expert (``n_outputs`` = number of
classes) and, inside :class:`ConcatFusion`, as that modality's encoder in the
inter-modality expert (``n_outputs`` = the embedding size, with its own weights).
"""

import inspect
import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
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
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.extmath import _incremental_mean_and_var
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from ._fusion import AttentionFusion, BaseFusion, ConcatFusion
from ._image_files import ImageFiles, as_image_loader
from ._layers import as_tuple, mlp
from .augment import AUGMENT_CONSTRAINT
from .imaging import ImageLoader

__all__ = [
    "AttentionFusion",
    "AutoExpert",
    "BaseExpert",
    "BaseFusion",
    "CNNExpert",
    "ConcatFusion",
    "MLPExpert",
    "PretrainedExpert",
    "SequenceExpert",
    "SklearnExpert",
    "TorchExpert",
    "table_preprocessor",
]


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- experts


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


def _check_shape(expert, shape, n_features, modality):
    if math.prod(shape) != n_features:
        raise ValueError(
            f"Modality {modality!r}: {type(expert).__name__} expects "
            f"input_shape={shape} ({math.prod(shape)} values per row) but its "
            f"columns give {n_features} values per row. Select exactly the "
            "pixel or time-step columns of this modality, or fix input_shape."
        )
    return shape


class _ShapedExpert(BaseExpert):
    """An expert whose samples have a fixed multi-axis ``input_shape``."""

    _saved_types = (ChannelScaler,)

    def _auto_preprocessor(self, X):
        return _signal_preprocessor(int(self.input_shape[0]))

    def sample_shape(self, n_features, modality):
        shape = tuple(int(s) for s in self.input_shape)
        if len(shape) not in self._input_ndims:
            axes = " or ".join(str(n) for n in self._input_ndims)
            raise ValueError(
                f"Modality {modality!r}: {type(self).__name__} takes input_shape "
                f"with {axes} axes ({self._input_axes}), got {shape}."
            )
        return _check_shape(self, shape, n_features, modality)


class MLPExpert(BaseExpert):
    """A multi-layer perceptron for tabular modalities.

    Parameters
    ----------
    hidden_units : int or tuple of int, default=(64,)
        Width of each hidden layer.
    dropout : float, default=0.1
        Dropout probability after each hidden layer.
    linear : bool, default=False
        Add a linear map of the inputs to the network's output ("wide and deep"):
        the expert then holds a logistic regression on its columns beside the
        perceptron, for tables whose evidence is mostly linear.
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        ``"auto"``: median imputation and standardisation of numeric columns,
        most-frequent imputation and one-hot encoding (unknown categories ignored)
        of all other columns (strings, ``category``, booleans).
    """

    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "hidden_units": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "linear": ["boolean"],
    }

    tabular = True

    def __init__(self, hidden_units=(64,), dropout=0.1, linear=False, preprocessor="auto"):
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.linear = linear
        self.preprocessor = preprocessor

    def build(self, input_shape, n_outputs):
        deep = mlp(input_shape[0], self.hidden_units, n_outputs, self.dropout)
        if not self.linear:
            return deep
        return _WideAndDeep(nn.Linear(input_shape[0], n_outputs), deep)


class _WideAndDeep(nn.Module):
    """The sum of a linear map and a network of the same inputs."""

    def __init__(self, wide, deep):
        super().__init__()
        self.wide = wide
        self.deep = deep

    def forward(self, x):
        return self.wide(x) + self.deep(x)


class _ConvNet(nn.Module):
    """Convolution blocks, average pooling to a small grid, then an MLP head.

    The number of spatial axes of ``input_shape`` (one for series, two for images,
    three for volumes) picks the convolution, pooling and averaging of that
    dimension.

    ``pooled_size=1`` is global average pooling: where a feature lies is lost, as
    a detector of a pattern anywhere in a series wants. A grid of 2 per axis keeps
    which quadrant it lies in, which aligned images (scans, slides) need: on 300
    digit scans, held-out accuracy 0.940 against 0.870 with global pooling
    (``benchmarks/results/scans.md``).
    """

    _LAYERS = {  # spatial axes -> (convolution, max-pooling, adaptive average pooling)
        1: (nn.Conv1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d),
        2: (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d),
        3: (nn.Conv3d, nn.MaxPool3d, nn.AdaptiveAvgPool3d),
    }
    #: Images and volumes are convolved channels last (NHWC): on a CPU a training
    #: step of the default 2D network took 30 ms instead of 48 at 32x32 and 79 instead
    #: of 173 at 64x64, one thread (3D: 50 instead of 55); the same model up to
    #: rounding (benchmarks/results/cpu_time.md). None keeps torch's default layout.
    MEMORY_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}
    channels_last = True

    def __init__(self, input_shape, channels, kernel_size, hidden_units, dropout, n_outputs,
                 pooled_size=1, stride=1):
        super().__init__()
        n_spatial = len(input_shape) - 1
        conv, pool, average = self._LAYERS[n_spatial]
        blocks = []
        in_channels = input_shape[0]
        for block, width in enumerate(as_tuple(channels)):
            blocks += [
                conv(in_channels, width, kernel_size, stride=stride if block == 0 else 1,
                     padding=kernel_size // 2),
                nn.ReLU(),
                pool(2, ceil_mode=True),
            ]
            in_channels = width
        blocks += [average(pooled_size), nn.Flatten()]
        self.input_shape = tuple(input_shape)
        self.features = nn.Sequential(*blocks)
        n_pooled = in_channels * pooled_size ** n_spatial
        self.head = mlp(n_pooled, hidden_units, n_outputs, dropout)
        self.memory_format = (self.MEMORY_FORMATS.get(n_spatial) if self.channels_last
                              else None)
        if self.memory_format is not None:
            self.features.to(memory_format=self.memory_format)

    def forward(self, x):
        x = x.reshape(x.shape[0], *self.input_shape)
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format)
        return self.head(self.features(x))


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


#: ``CNNExpert(channels="auto", stride="auto")``: the convolution widths and the
#: stride of the first convolution, by the number of spatial axes. Images: (16, 32),
#: stride 1, measured on digit scans (``benchmarks/results/scans.md``). Volumes: a
#: 32^3 volume holds 32 times the voxels of a 32^2 image, and every convolution
#: costs as many times more; a first convolution of stride 2 (as the stems of 3D
#: ResNets) cuts the cost of training tenfold (``benchmarks/results/volumes.md``).
AUTO_CHANNELS = {2: (16, 32), 3: (8, 16)}
AUTO_STRIDE = {2: 1, 3: 2}


def resolve_auto(value, auto_values, input_shape):
    """``value``, or what ``"auto"`` stands for with inputs of ``input_shape``."""
    if isinstance(value, str):  # "auto"
        return auto_values[len(input_shape) - 1]
    return value


class CNNExpert(_ShapedExpert):
    """A small convolutional network for image and volume modalities.

    Images arrive as ``C * H * W`` flattened pixel columns (row-major, channel
    first), as one column whose cells hold arrays of that shape, or, with a
    ``loader``, as one column of image file paths read batch by batch during
    training (see :mod:`sk_i2m2.imaging`). Volumes (``input_shape=(C, D, H, W)``:
    MRI, CT) arrive the same ways, usually as paths of NIfTI files or DICOM series
    folders; the number of axes of ``input_shape`` decides whether the network's
    convolutions are 2D or 3D.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one image, or ``(channels, depth, height,
        width)`` of one volume.
    channels : "auto" or tuple of int, default="auto"
        Output channels of each convolution block (convolution, ReLU, max-pool by
        2 along every axis). ``"auto"``: ``(16, 32)`` for images, ``(8, 16)`` for
        volumes (chosen by measurement; see the user guide).
    kernel_size : int, default=3
        Side of the square (cubic) convolution kernels.
    stride : "auto" or int, default="auto"
        Stride of the first convolution. ``"auto"``: 1 for images, 2 for volumes
        (which halves every axis before the first pooling, for a tenth of the
        training time; see the user guide).
    pooled_size : int, default=2
        Side of the grid the last feature maps are averaged to before the head:
        1 is global average pooling (where a feature lies is lost); the default 2
        keeps which quadrant (octant) it lies in, which aligned images such as
        scans need (on 300 digit scans: 0.940 held-out accuracy against 0.870; see
        the user guide).
    hidden_units : int or tuple of int, default=(64,)
        Hidden layers of the head after the pooling.
    dropout : float, default=0.1
        Dropout probability in the head.
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        For pixel columns and array cells. ``"auto"``: median imputation per
        pixel, then one mean and one scale per channel (:class:`ChannelScaler`).
        With a ``loader``, images are scaled by the loader's ``intensity`` (by
        default with one mean and one scale per channel over the training images,
        as for pixel columns) and this must stay ``"auto"`` or ``"passthrough"``.
    loader : None, "auto", callable or ImageLoader, default=None
        None: the columns hold the pixels. Otherwise the modality is one column of
        image file paths, read by this :class:`~sk_i2m2.imaging.ImageLoader`
        (``"auto"``: ``ImageLoader()``; a callable: ``ImageLoader(reader=it)``).
        An empty path means the row lacks the modality.
    augment : None, "light", "flips" or callable, default=None
        Random transforms of every training batch of this modality (never of
        validation batches, predictions or the temperature fit): a preset of
        :mod:`sk_i2m2.augment` (``"light"``: small rotations, zooms, shifts and
        intensity jitter; ``"flips"``: the same with mirror images), or a callable
        mapping the float tensor ``(N, C, *spatial)`` of a batch to one of the same
        shape. Seeded by the classifier's ``random_state``. The fusion expert
        sees the same transformed batch. None by default: on the benchmarks'
        digit scans ``"light"`` did not help measurably and on volumes whose label
        is a lesion's size it hurt (see the user guide).
    """

    _input_ndims = (3, 4)
    _input_axes = "channels, height, width or channels, depth, height, width"
    _saved_types = (ChannelScaler, ImageFiles, ImageLoader)
    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "input_shape": ["array-like"],
        "channels": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"),
                     "array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "stride": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "pooled_size": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "loader": [None, StrOptions({"auto"}), callable, HasMethods(["load", "resolve"])],
        "augment": AUGMENT_CONSTRAINT,
    }

    def __init__(self, input_shape=(1, 8, 8), channels="auto", kernel_size=3,
                 stride="auto", pooled_size=2, hidden_units=(64,), dropout=0.1,
                 preprocessor="auto", loader=None, augment=None):
        self.input_shape = input_shape
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.pooled_size = pooled_size
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.preprocessor = preprocessor
        self.loader = loader
        self.augment = augment

    def make_preprocessor(self, X, modality=None):
        """The modality's preprocessor: for pixels, as any expert's; for paths, ``ImageFiles``.

        Images read from files are scaled by the loader's ``intensity`` (statistics
        fitted here by ``ImageFiles``, or per image as it is read), so no other
        preprocessor may stand beside a loader.
        """
        shape = None
        if self.loader is not None:
            self._validate_params()
            shape = self.sample_shape(math.prod(self.input_shape), modality)  # checks axes
        return image_preprocessor(self, X, modality, shape)

    def build(self, input_shape, n_outputs):
        return _ConvNet(input_shape, resolve_auto(self.channels, AUTO_CHANNELS, input_shape),
                        self.kernel_size, self.hidden_units, self.dropout, n_outputs,
                        self.pooled_size,
                        resolve_auto(self.stride, AUTO_STRIDE, input_shape))


class SequenceExpert(_ShapedExpert):
    """A 1-D convolutional network for multichannel time series.

    Series arrive as ``channels * length`` flattened columns (channel first) or as
    one column whose cells hold ``(channels, length)`` arrays.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, length)`` of one series.
    channels : tuple of int, default=(16, 32)
        Output channels of each convolution block (convolution, ReLU, max-pool by 2).
    kernel_size : int, default=5
        Length of the convolution kernels.
    pooled_size : int, default=1
        Length the last feature maps are averaged to before the head: the default
        1 is global average pooling over time (a pattern counts wherever it
        occurs in the window); larger keeps when it occurs.
    hidden_units : int or tuple of int, default=(64,)
        Hidden layers of the head after the pooling.
    dropout : float, default=0.1
        Dropout probability in the head.
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        ``"auto"``: median imputation per time step, then one mean and one scale
        per channel (:class:`ChannelScaler`).
    """

    _input_ndims = (2,)
    _input_axes = "channels, length"
    _parameter_constraints = {
        **{key: value for key, value in CNNExpert._parameter_constraints.items()
           if key not in ("loader", "augment", "stride")},
        "channels": [Interval(Integral, 1, None, closed="left"), "array-like"],
    }

    def __init__(self, input_shape=(1, 32), channels=(16, 32), kernel_size=5,
                 pooled_size=1, hidden_units=(64,), dropout=0.1, preprocessor="auto"):
        self.input_shape = input_shape
        self.channels = channels
        self.kernel_size = kernel_size
        self.pooled_size = pooled_size
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.preprocessor = preprocessor

    def build(self, input_shape, n_outputs):
        return _ConvNet(input_shape, self.channels, self.kernel_size, self.hidden_units,
                        self.dropout, n_outputs, self.pooled_size)


class TorchExpert(BaseExpert):
    """Any user torch module as an expert.

    ``module`` is a class (or factory) called as
    ``module(n_outputs=..., **module_kwargs)``, plus ``input_shape=...`` when its
    signature accepts that keyword. It must map a float tensor shaped
    ``(n, *input_shape)`` to ``(n, n_outputs)``. The same factory builds the
    modality's encoder inside the fusion expert, with ``n_outputs`` set to the
    embedding size.

    Parameters
    ----------
    module : callable
        The module class or factory.
    input_shape : tuple of int or None, default=None
        Shape of one sample; None means a flat vector of the preprocessed columns.
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        ``"auto"``: the tabular default of :class:`MLPExpert`.
    **module_kwargs
        Passed to ``module``; each is a parameter of this expert, so
        ``set_params`` and grid searches reach it by name.
    """

    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "module": [callable],
        "input_shape": ["array-like", None],
    }

    def __init__(self, module, input_shape=None, preprocessor="auto", **module_kwargs):
        self.module = module
        self.input_shape = input_shape
        self.preprocessor = preprocessor
        for key, value in module_kwargs.items():
            setattr(self, key, value)
        self._module_kwarg_names = tuple(module_kwargs)

    # ``**module_kwargs`` are parameters too, but BaseEstimator only sees named ones.
    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({key: getattr(self, key) for key in self._module_kwarg_names})
        return params

    def set_params(self, **params):
        # A module keyword not given at construction becomes a parameter when set.
        own = self._get_param_names()
        for key in [k for k in params if k not in own and "__" not in k]:
            setattr(self, key, params.pop(key))
            if key not in self._module_kwarg_names:
                self._module_kwarg_names += (key,)
        return super().set_params(**params)

    def _validate_params(self):
        # Constraints only cover the named parameters; module kwargs are the module's.
        own = self._get_param_names()
        validate_parameter_constraints(
            self._parameter_constraints,
            {key: getattr(self, key) for key in own},
            caller_name=type(self).__name__,
        )

    def sample_shape(self, n_features, modality):
        if self.input_shape is None:
            return (n_features,)
        return _check_shape(self, tuple(self.input_shape), n_features, modality)

    def build(self, input_shape, n_outputs):
        kwargs = {key: getattr(self, key) for key in self._module_kwarg_names}
        kwargs["n_outputs"] = n_outputs
        try:
            accepts_shape = "input_shape" in inspect.signature(self.module).parameters
        except (TypeError, ValueError):  # builtins without a signature
            accepts_shape = False
        if accepts_shape:
            kwargs["input_shape"] = tuple(input_shape)
        module = self.module(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"TorchExpert: module={self.module!r} returned "
                f"{type(module).__name__}, not a torch.nn.Module."
            )
        return _Reshape(module, input_shape) if len(input_shape) > 1 else module


class _Reshape(nn.Module):
    """Give a user module its samples in ``input_shape`` (they travel flattened)."""

    def __init__(self, module, input_shape):
        super().__init__()
        self.inner = module
        self.input_shape = tuple(input_shape)

    def forward(self, x):
        return self.inner(x.reshape(x.shape[0], *self.input_shape))


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
        return {kind: SklearnExpert(task.sklearn_candidate(kind), cv=self.cv)
                for kind in self._checked_candidates() if kind != "mlp"}

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


from ._pretrained import PretrainedExpert  # noqa: E402
