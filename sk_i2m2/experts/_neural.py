"""The neural experts and the networks they build.

:class:`MLPExpert` for tables, :class:`CNNExpert` for images and volumes,
:class:`SequenceExpert` for time series, :class:`TorchExpert` for a user's torch
module.
"""

import functools
import inspect
import math
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from torch import nn

from ..augment import AUGMENT_CONSTRAINT
from ..imaging import ImageLoader
from ..imaging._files import ImageFiles
from ._base import BaseExpert, _check_shape, image_preprocessor
from ._layers import as_tuple, mlp
from ._preprocessing import ChannelScaler, _signal_preprocessor


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
    #: Training steps on a CPU convolve 2D images in bfloat16 (autocast) where the
    #: CPU computes it natively: a step of the default network took 2.3x less time
    #: at 32x32 and 2.5x less at 64x64, for the same held-out accuracy (volumes: no
    #: faster, so they stay in float32; benchmarks/results/cpu_time.md). The
    #: weights, the head, validation and predictions stay float32. False: never.
    bfloat16_training = True
    BFLOAT16_SPATIAL = (2,)
    #: Max-pooling before the ReLU: the same function (the two commute, and the
    #: trained weights came out bit-identical), with the ReLU and its gradient on a
    #: quarter of the values (an eighth in 3D): a training step of the default
    #: network took 5 to 25% less time. False: the ReLU first.
    pool_before_relu = True

    def __init__(self, input_shape, channels, kernel_size, hidden_units, dropout, n_outputs,
                 pooled_size=1, stride=1):
        super().__init__()
        n_spatial = len(input_shape) - 1
        conv, pool, average = self._LAYERS[n_spatial]
        blocks = []
        in_channels = input_shape[0]
        for block, width in enumerate(as_tuple(channels)):
            pooling, relu = pool(2, ceil_mode=True), nn.ReLU()
            blocks += [
                conv(in_channels, width, kernel_size, stride=stride if block == 0 else 1,
                     padding=kernel_size // 2),
                *((pooling, relu) if self.pool_before_relu else (relu, pooling)),
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
        if not self._in_bfloat16(x):
            return self.head(self.features(x))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = self.features(x)
        return self.head(features.float())

    def _in_bfloat16(self, x):
        """Whether this pass convolves in bfloat16: training, on a CPU that has it."""
        return (self.training and self.bfloat16_training and x.device.type == "cpu"
                and len(self.input_shape) - 1 in self.BFLOAT16_SPATIAL
                and cpu_has_bfloat16())


@functools.cache
def cpu_has_bfloat16():
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX).

    Elsewhere bfloat16 is emulated, slower than float32.
    """
    try:
        return bool(torch.cpu._is_avx512_bf16_supported()
                    or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes
        return False


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

    @property
    def one_cycle(self):
        """Whether a product holding this expert trains on a one-cycle learning rate.

        At ``n_iter_no_change="auto"`` (:func:`sk_i2m2._plan.resolve_one_cycle`):
        images learn in 60 epochs on the cycle what took 100 to 170 at a constant
        rate. Volumes keep the constant rate: on the cycle their held-out log loss
        was worse (``benchmarks/results/cpu_time.md``).
        """
        return len(self.input_shape) == 3

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
