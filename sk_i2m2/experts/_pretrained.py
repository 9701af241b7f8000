"""PretrainedExpert: an image expert built on a pretrained backbone, frozen or fine-tuned.

Two ways to run the backbone, chosen by the expert's parameters:

* **Frozen features, computed once per fit** (``trainable=False``, ``augment=None``,
  the default). The backbone is part of the modality's *preprocessing*: the
  expert's preprocessor is a :class:`BackboneFeatures` transformer that scales the
  images as :class:`~sk_i2m2.experts.CNNExpert` does, runs the backbone over them in
  chunks of rows (evaluation mode, no gradients) and outputs ``(n, F)`` features.
  The classifier transforms its training rows once per fit and every epoch and
  every member of an ensemble slices those features, so each image goes through
  the backbone once per fit (and once more when it is predicted). The expert's
  network, and its encoder in the fusion expert, are small MLPs on the features.
* **Backbone inside the network** (``trainable=True``, or a frozen backbone with
  ``augment``, whose images change every epoch so features cannot be kept). The
  modality's inputs are images; :meth:`PretrainedExpert.build` returns the backbone
  followed by an MLP head, and the fusion expert builds a second backbone with
  weights of its own.

MONAI is imported only when a named backbone is built: importing it takes seconds,
which ``import sk_i2m2`` should not pay.
"""

import copy
import os
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..augment import AUGMENT_CONSTRAINT
from ..imaging import ImageLoader
from ..imaging._files import ImageFiles
from ._base import BaseExpert, _check_shape, image_preprocessor
from ._layers import mlp
from ._preprocessing import ChannelScaler, _signal_preprocessor

__all__ = ["BACKBONES", "BackboneFeatures", "PretrainedExpert"]

#: Depth of each named MONAI ResNet.
_RESNETS = {"resnet10": 10, "resnet18": 18, "resnet34": 34, "resnet50": 50,
            "resnet101": 101, "resnet152": 152, "resnet200": 200}
#: MONAI class of each named DenseNet.
_DENSENETS = {"densenet121": "DenseNet121", "densenet169": "DenseNet169",
              "densenet201": "DenseNet201", "densenet264": "DenseNet264"}
#: The backbones ``PretrainedExpert(backbone=...)`` knows by name.
BACKBONES = (*_RESNETS, *_DENSENETS)
#: DenseNets for which MONAI downloads ImageNet weights (2-D, 3 channels).
_IMAGENET_DENSENETS = ("densenet121", "densenet169", "densenet201")
#: Keys of a named backbone's own classification head: a state_dict of the whole
#: classifier (torchvision's, MONAI's) loads, its head left out as the expert's is.
_HEAD_PREFIXES = {"resnet": ("fc.",), "densenet": ("class_layers.out.",)}

_INSTALL = "pip install 'sk-i2m2[imaging]'"


def _monai_nets():
    """``monai.networks.nets``, imported on first use."""
    try:
        from monai.networks import nets
    except ImportError as error:
        raise ImportError(
            f"Named backbones of PretrainedExpert come from MONAI, which is not installed "
            f"({error}). Install it with {_INSTALL}, or give the backbone as a "
            "torch.nn.Module."
        ) from error
    return nets


def _family(name):
    return "resnet" if name in _RESNETS else "densenet"


def _feature_device():
    # The preprocessor does not know the device of the fit: the backbone, the costly
    # part, runs on the GPU whenever there is one.
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _prefix(modality):
    """How an error starts: the modality when known, else the expert."""
    return "PretrainedExpert: " if modality is None else f"Modality {modality!r}: "


def _first_conv_channels(module):
    """Input channels of a module's first convolution (in module order), or None."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.conv._ConvNd):
            return int(layer.in_channels)
    return None


# --------------------------------------------------------------------------- weights


def _clean_state(state, name):
    """A loaded checkpoint as a flat state_dict of the backbone without its head.

    Accepts a state_dict or a checkpoint holding one under ``"state_dict"``
    (MedicalNet's files), with or without the ``module.`` prefix that
    :class:`~torch.nn.DataParallel` adds.
    """
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise TypeError(f"expected a state_dict (a dict of tensors), got {type(state).__name__}")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    if name is not None:
        head = _HEAD_PREFIXES[_family(name)]
        state = {key: value for key, value in state.items() if not key.startswith(head)}
    return state


def _read_state(path, name, modality):
    """The state_dict stored in ``path``, checked to be one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{_prefix(modality)}the backbone's weights file {path!r} does not exist. "
            "Give the path of a state_dict saved with torch.save(module.state_dict(), "
            "path), or weights=None."
        )
    try:
        return _clean_state(torch.load(path, map_location="cpu", weights_only=True), name)
    except Exception as error:  # any unreadable file, named for the user
        raise ValueError(
            f"{_prefix(modality)}cannot read a state_dict from {path!r}: {error}. Save "
            "the backbone's weights with torch.save(module.state_dict(), path)."
        ) from error


def _download_state(name, modality):
    """The pretrained weights MONAI downloads for ``name``, without its head."""
    nets = _monai_nets()
    try:
        if name in _RESNETS:  # MedicalNet, from Hugging Face
            from monai.networks.nets.resnet import get_pretrained_resnet_medicalnet

            state = get_pretrained_resnet_medicalnet(_RESNETS[name], device="cpu",
                                                     datasets23=True)
            source = f"MedicalNet's {name} (huggingface.co/TencentMedicalNet)"
        else:  # ImageNet, from PyTorch Hub
            network = getattr(nets, _DENSENETS[name])(
                spatial_dims=2, in_channels=3, out_channels=1, pretrained=True,
                progress=False)
            state = network.state_dict()
            source = f"ImageNet {name} (download.pytorch.org)"
    except Exception as error:  # offline, blocked, or a missing download client
        raise RuntimeError(
            f"{_prefix(modality)}downloading the pretrained weights of {name!r} "
            f"failed: {type(error).__name__}: {error}. Download them where there is "
            "network access, or take a state_dict file of the same architecture, and "
            "pass its path instead: PretrainedExpert(..., weights='path/to/weights.pth')."
        ) from error
    return _clean_state(state, name), source


def _load_state(network, state, source, modality, hint=""):
    """Load ``state`` into ``network``, or say which keys do not fit."""
    own = network.state_dict()
    missing = [key for key in own if key not in state
               and not key.endswith("num_batches_tracked")]  # absent from old checkpoints
    unexpected = [key for key in state if key not in own]
    mismatched = [f"{key}: {tuple(state[key].shape)} given, {tuple(own[key].shape)} expected"
                  for key in own if key in state
                  and tuple(state[key].shape) != tuple(own[key].shape)]
    if missing or unexpected or mismatched:
        found = "; ".join(f"{what} ({len(keys)}): {keys[:5]}" for what, keys in (
            ("missing keys", missing), ("unexpected keys", unexpected),
            ("mismatched shapes", mismatched)) if keys)
        raise ValueError(
            f"{_prefix(modality)}the weights from {source} do not fit the backbone: "
            f"{found}. Give the state_dict of a backbone of the same architecture and "
            f"number of input channels.{hint}"
        )
    network.load_state_dict(state, strict=False)  # checked above, old BatchNorm keys aside


# --------------------------------------------------------------------------- modules


class _Backbone(nn.Module):
    """Images ``(n, C, *spatial)`` to features ``(n, F)``.

    Repeats grey images to the channels the network takes, normalises them as the
    network expects, runs it, and flattens what it returns.

    Parameters
    ----------
    network : Module
        The backbone without its head.
    n_features : int
        ``F``.
    repeat : int
        How many times the single channel of the images is repeated (1: not).
    normalize : None, "zscore" or (ndarray, ndarray)
        Resolved normalisation.
    spatial_dims : int
    """

    def __init__(self, network, n_features, repeat, normalize, spatial_dims):
        super().__init__()
        self.network = network
        self.n_features = int(n_features)
        self.repeat = int(repeat)
        self.spatial_dims = int(spatial_dims)
        self.zscore = isinstance(normalize, str)
        constants = (None, None) if normalize is None or self.zscore else normalize
        for buffer, values in zip(("mean", "std"), constants, strict=True):
            if values is not None:  # (C,) -> (1, C, 1, ...): one value per channel
                values = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(
                    (1, -1) + (1,) * spatial_dims)
            # Rebuilt from the expert's spec, never learnt: kept out of the state_dict.
            self.register_buffer(buffer, values, persistent=False)
        #: How a learning rate given to the whole module applies to the backbone.
        self.lr_scale = 1.0
        #: ``(weights, name, modality)`` of initial weights not yet loaded (see
        #: :meth:`PretrainedExpert.build`); None once loaded or replaced.
        self.pending_weights = None

    def forward(self, x):
        if self.pending_weights is not None:
            self.load_pending_weights()
        if self.repeat > 1:
            x = x.expand(-1, self.repeat, *x.shape[2:])
        if self.zscore:
            values = x.flatten(1)
            mean = values.mean(dim=1).reshape(-1, *[1] * (x.dim() - 1))
            std = values.std(dim=1, unbiased=False).reshape(-1, *[1] * (x.dim() - 1))
            # A constant image (a missing row is zeros) becomes zeros, not NaN.
            x = (x - mean) / std.clamp_min(1e-6)
        elif self.mean is not None:
            x = (x - self.mean) / self.std
        return self.network(x).flatten(1)

    def load_pending_weights(self):
        """Load the initial weights of the backbone (a file, or a download) now."""
        weights, name, modality = self.pending_weights
        if weights == "pretrained":
            state, source = _download_state(name, modality)
        else:
            state, source = _read_state(weights, name, modality), repr(os.fspath(weights))
        hint = ""
        if name is not None:
            hint = (f" The backbone is MONAI's {self.spatial_dims}-D {name} taking "
                    f"{_first_conv_channels(self.network)} input channel(s); set in_channels "
                    "to the file's if they differ.")
        _load_state(self.network, state, source, modality, hint)
        self.pending_weights = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Weights loaded from a state (a saved model, early stopping's best epoch)
        # replace the initial ones: those need not be read any more.
        if any(key.startswith(prefix + "network.") for key in state_dict):
            self.pending_weights = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class _PretrainedNet(nn.Module):
    """A backbone then an MLP head; a frozen backbone stays in evaluation mode."""

    def __init__(self, backbone, head, input_shape, trainable):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.input_shape = tuple(input_shape)
        self.trainable = bool(trainable)

    def train(self, mode=True):
        super().train(mode)
        if not self.trainable:
            # BatchNorm statistics are part of the frozen backbone: never updated.
            self.backbone.eval()
        return self

    def forward(self, x):
        x = x.reshape(x.shape[0], *self.input_shape)
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            features = self.backbone(x)
        return self.head(features)


# --------------------------------------------------------------------------- features


class BackboneFeatures(TransformerMixin, BaseEstimator):
    """Features of a frozen backbone: the preprocessing of a frozen :class:`PretrainedExpert`.

    ``fit`` fits the image scaling, builds the backbone with its initial weights and
    keeps those weights as plain arrays (``state_``); ``transform`` scales the images
    and runs the backbone over them ``expert.feature_batch_size`` rows at a time, in
    evaluation mode and without gradients, on the GPU when there is one. Rows
    lacking the modality (all their pixels missing, no image file) are not run:
    their features are NaN, as the classifier reads a missing modality.

    The torch module is rebuilt from the expert's spec and ``state_`` when first
    needed and never pickled, so a saved model holds only arrays and parameters.

    Parameters
    ----------
    expert : PretrainedExpert
        Whose backbone this runs.
    images : "passthrough" or transformer, default="passthrough"
        The image scaling before the backbone: flattened pixels in, flattened
        pixels out, or :class:`~sk_i2m2.imaging._files.ImageFiles` for a column of
        image paths.
    modality : str or None, default=None
        The modality's name, for error messages.

    Attributes
    ----------
    images_ : "passthrough" or transformer
        The fitted image scaling.
    state_ : dict of str to ndarray
        The backbone's weights (its state_dict, as arrays).
    n_features_out_ : int
        Number of features ``F`` the backbone gives per image.
    n_features_in_ : int
        Number of input columns.
    """

    def __init__(self, expert, images="passthrough", modality=None):
        self.expert = expert
        self.images = images
        self.modality = modality

    def fit(self, X, y=None):
        """Fit the image scaling and set the backbone's initial weights.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Flattened pixels, or one column of image paths, of the rows that hold
            the modality.
        y : ignored

        Returns
        -------
        self
        """
        self.__dict__.pop("_module", None)
        if not isinstance(self.images, ImageFiles):
            _check_shape(self.expert, self.expert._shape(), X.shape[1], self.modality)
        self.images_ = (self.images if isinstance(self.images, str)
                        else clone(self.images).fit(X))
        backbone = self.expert._new_backbone(self.modality, seeded=True)
        self.expert._load_initial_weights(backbone, self.modality)
        self.state_ = {key: value.detach().cpu().numpy()
                       for key, value in backbone.network.state_dict().items()}
        self.n_features_out_ = backbone.n_features
        self.n_features_in_ = X.shape[1]
        self._module = backbone.eval().to(_feature_device())
        return self

    def _backbone(self):
        """The backbone module, rebuilt from the expert and ``state_`` when needed."""
        module = self.__dict__.get("_module")
        if module is None:
            module = self.expert._new_backbone(self.modality, seeded=True)
            module.network.load_state_dict(
                {key: torch.from_numpy(np.array(value)) for key, value in self.state_.items()})
            module = module.eval().to(_feature_device())
            self._module = module
        return module

    def _images(self, X):
        """``(images, rows)``: a function of rows giving their images, and the rows to run."""
        shape = self.expert._shape()
        if isinstance(self.images_, ImageFiles):
            lazy = self.images_.transform(X)
            lazy.cache = None  # each image is read once here: keeping them is waste
            return lazy.load, np.flatnonzero(~lazy.missing)
        missing = np.asarray(pd.isna(X)).all(axis=1)

        def load(rows):
            block = _safe_indexing(X, rows)
            if not isinstance(self.images_, str):
                block = self.images_.transform(block)
            return np.asarray(block, dtype=np.float32).reshape(len(rows), *shape)

        return load, np.flatnonzero(~missing)

    def transform(self, X):
        """The backbone's features of each row's image.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features_out_), float32
            NaN in the rows lacking the modality.
        """
        check_is_fitted(self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Modality {self.modality!r}: X has {X.shape[1]} columns for the "
                f"backbone's images, but {self.n_features_in_} at fit."
            )
        module = self._backbone()
        device = _feature_device()
        load, rows = self._images(X)
        out = np.full((X.shape[0], self.n_features_out_), np.nan, dtype=np.float32)
        size = self.expert.feature_batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            images = load(chunk)
            unread = np.isnan(images.reshape(len(chunk), -1)).any(axis=1)
            if unread.any() and not isinstance(self.images_, ImageFiles):
                raise ValueError(
                    f"Modality {self.modality!r}: {int(unread.sum())} image(s) hold missing "
                    "pixels after preprocessing. Use preprocessor='auto' (which imputes "
                    "them) or give complete images."
                )
            # Images a loader could not read (on_error="missing") lack the modality.
            chunk, images = chunk[~unread], images[~unread]
            if not len(chunk):
                continue
            with torch.no_grad():
                features = module(torch.from_numpy(np.ascontiguousarray(images)).to(device))
            out[chunk] = features.float().cpu().numpy()
        return out

    def get_feature_names_out(self, input_features=None):
        """``feature0``, ``feature1``, ...: one name per backbone feature."""
        check_is_fitted(self)
        return np.asarray([f"feature{i}" for i in range(self.n_features_out_)], dtype=object)

    def __getstate__(self):
        # The module is rebuilt from the expert and state_: pickles and saved models
        # hold arrays, not torch objects.
        state = dict(super().__getstate__())  # a copy: not the live __dict__
        state.pop("_module", None)
        return state


# --------------------------------------------------------------------------- expert


class PretrainedExpert(BaseExpert):
    """An image expert on a pretrained backbone (MONAI's, or any torch module).

    Images (2-D ``(C, H, W)`` or 3-D ``(C, D, H, W)``) arrive as for
    :class:`~sk_i2m2.experts.CNNExpert`: flattened pixel columns, one column of
    arrays, or, with a ``loader``, one column of image file paths. A backbone maps
    each image to ``F`` features, and an MLP head maps those to the classes.

    With ``trainable=False`` and no ``augment`` (the default) the backbone is frozen
    and its features are computed **once per image per fit**: the backbone is part
    of the modality's preprocessing (:class:`BackboneFeatures`), every epoch and
    every member of an ensemble reuses the features, and the expert and its encoder
    in the fusion expert are MLPs on them. Otherwise the backbone is part of the
    expert's network and runs on every batch: fine-tuned with ``trainable=True``,
    frozen but fed augmented images with ``augment``. The fusion expert then holds a
    second backbone with weights of its own (twice the memory and compute of one).

    Parameters
    ----------
    backbone : str, torch.nn.Module or callable
        A name from MONAI's networks (imported on first use; ``pip install
        'sk-i2m2[imaging]'``), 2-D or 3-D by the axes of ``input_shape``:
        ``"resnet10"``, ``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
        ``"resnet101"``, ``"resnet152"``, ``"resnet200"``, ``"densenet121"``,
        ``"densenet169"``, ``"densenet201"``, ``"densenet264"``; their
        classification heads are left out. 3-D ResNets have MedicalNet's layout (a
        stride-2 7x7x7 stem; the shortcut MedicalNet used at each depth), 2-D ones
        torchvision's (a stride-2 7x7 stem, 1x1 projection shortcuts without bias),
        so state_dicts of those load by name.
        Or a module mapping ``(n, C, *spatial)`` images to ``(n, F)`` features (a
        torchvision, timm or MONAI model with its head removed; feature maps are
        flattened); ``F`` is found by one forward pass of a zero image. Or a
        callable (a module class, ``functools.partial(...)``) called without
        arguments to create that module: unlike a module instance, which cannot be
        written to a file that loads without running code, it is saved by
        reference (:func:`sk_i2m2.save`; load it with ``trusted=[its name]``). It is
        called again when the model is loaded, before the fitted weights replace
        the ones it gives.
    input_shape : tuple of int
        ``(channels, height, width)`` or ``(channels, depth, height, width)`` of one
        image (any ``(channels, *spatial)`` for a module backbone).
    weights : None, "pretrained", str or path-like, default=None
        The backbone's initial weights. None: a named backbone is initialised at
        random (a module keeps its own weights); trained or, frozen, a fixed random
        feature map (seeded, the same in every fit). A path: a ``state_dict`` file
        (``torch.save(module.state_dict(), path)``; a checkpoint holding one under
        ``"state_dict"``, such as MedicalNet's files, also loads), read with
        ``torch.load(weights_only=True)``. ``"pretrained"``: the weights MONAI
        downloads, for named backbones only: MedicalNet's for 3-D ResNets (1
        channel, from Hugging Face, needs ``huggingface_hub``), ImageNet's for 2-D
        ``densenet121``, ``densenet169``, ``densenet201`` (3 channels). Without
        network access the download fails with an error saying so: download the
        file elsewhere and give its path.
    trainable : bool, default=False
        False freezes the backbone (its parameters get no gradient and its
        BatchNorm statistics stay as loaded); True fine-tunes it with the rest of
        the product.
    in_channels : int or None, default=None
        Input channels of a named backbone's network. None: those of the images,
        or of the ``"pretrained"`` weights (1 for MedicalNet, 3 for ImageNet);
        for a module, those of its first convolution. Grey images given to a
        backbone taking more channels are repeated to them: give 3 to load a
        3-channel (ImageNet) state_dict file for grey images.
    normalize : "auto", "zscore", None or (mean, std), default="auto"
        What the backbone's input goes through after the modality's preprocessing
        (which already scales each channel over the training images, as CNNExpert
        does) and after grey images are repeated. ``"zscore"``: each image to mean
        0 and standard deviation 1 over all its values. ``(mean, std)``: one value,
        or one per backbone channel, as ``(x - mean) / std``, e.g. ImageNet's
        ``((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))`` for pixels in [0, 1]
        (with ``preprocessor="passthrough"`` or ``ImageLoader(intensity="unit")``,
        so that pixels arrive unscaled). ``"auto"``: ``"zscore"`` for named 3-D
        backbones (MedicalNet normalises each volume so); None otherwise (for 2-D
        backbones the per-channel scaling over the training images stands in for
        ImageNet's per-channel constants; a module gets its inputs as they are).
    hidden_units : int or tuple of int, default=(64,)
        Hidden layers of the head after the backbone.
    dropout : float, default=0.1
        Dropout probability in the head.
    backbone_lr_scale : float, default=1.0
        With ``trainable=True``, the backbone's learning rate as a multiple of the
        classifier's ``lr`` (a pretrained backbone is often fine-tuned at 0.1).
        Stored on the backbone module as ``lr_scale`` for the optimizer.
    augment : None, "light", "flips" or callable, default=None
        As :class:`~sk_i2m2.experts.CNNExpert`'s: random transforms of every training
        batch of the modality's images (:mod:`sk_i2m2.augment`). Augmented images
        differ every epoch, so their features cannot be kept: the backbone runs
        inside the network, on every batch, even when frozen.
    feature_batch_size : int, default=16
        Images per forward pass of the frozen backbone when computing features:
        bounds the memory of feature extraction (3-D volumes are large).
    preprocessor : "auto", "passthrough" or transformer, default="auto"
        For pixel columns and array cells: ``"auto"`` imputes missing pixels and
        scales each channel with one mean and one scale (as CNNExpert). With a
        ``loader``, images are scaled by the loader and this stays ``"auto"`` or
        ``"passthrough"``.
    loader : None, "auto", callable or ImageLoader, default=None
        As CNNExpert's: None for pixels in the columns; otherwise the modality is
        one column of image file paths read by this loader.

    Notes
    -----
    Features are computed on the GPU when there is one (the preprocessing does not
    know the fit's ``device``) and kept on the CPU. Frozen features of a named
    backbone with ``weights=None`` come from the same seeded random weights in every
    fit. The MLP head, and the backbone inside the network, are initialised from the
    classifier's ``random_state``.

    Examples
    --------
    >>> from sk_i2m2.experts import PretrainedExpert
    >>> expert = PretrainedExpert("resnet18", input_shape=(1, 64, 64, 64),
    ...                           weights="resnet_18_23dataset.pth")
    >>> expert.trainable  # frozen: features computed once per fit
    False
    """

    _saved_types = (BackboneFeatures, ChannelScaler, ImageFiles, ImageLoader)
    _parameter_constraints = {
        **BaseExpert._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES)), nn.Module, callable],
        "input_shape": ["array-like"],
        "weights": [None, str, os.PathLike],
        "trainable": ["boolean"],
        "in_channels": [Interval(Integral, 1, None, closed="left"), None],
        "normalize": [StrOptions({"auto", "zscore"}), None, tuple, list],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "backbone_lr_scale": [Interval(Real, 0, None, closed="neither")],
        "augment": AUGMENT_CONSTRAINT,
        "feature_batch_size": [Interval(Integral, 1, None, closed="left")],
        "loader": [None, StrOptions({"auto"}), callable, HasMethods(["load", "resolve"])],
    }

    def __init__(self, backbone, input_shape, weights=None, trainable=False, in_channels=None,
                 normalize="auto", hidden_units=(64,), dropout=0.1, backbone_lr_scale=1.0,
                 augment=None, feature_batch_size=16, preprocessor="auto", loader=None):
        self.backbone = backbone
        self.input_shape = input_shape
        self.weights = weights
        self.trainable = trainable
        self.in_channels = in_channels
        self.normalize = normalize
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.backbone_lr_scale = backbone_lr_scale
        self.augment = augment
        self.feature_batch_size = feature_batch_size
        self.preprocessor = preprocessor
        self.loader = loader

    # ------------------------------------------------------------------ spec

    def _named(self):
        return isinstance(self.backbone, str)

    def _caches_features(self):
        """Whether the backbone runs once per fit, as preprocessing (frozen, no augment)."""
        return not self.trainable and self.augment is None

    def _shape(self):
        return tuple(int(size) for size in self.input_shape)

    def _check_spec(self, modality):
        """Errors in the parameters, before any data or weights are read."""
        shape = self._shape()
        axes = (3, 4) if self._named() else tuple(range(2, 6))
        if len(shape) not in axes or min(shape) < 1:
            raise ValueError(
                f"Modality {modality!r}: PretrainedExpert takes input_shape (channels, "
                f"height, width) or (channels, depth, height, width), got {shape}."
            )
        if self.weights == "pretrained":
            self._check_pretrained(len(shape) - 1, modality)
        elif self.weights is not None and not os.path.isfile(os.fspath(self.weights)):
            raise FileNotFoundError(
                f"Modality {modality!r}: the backbone's weights file "
                f"{os.fspath(self.weights)!r} does not exist. Give the path of a "
                "state_dict saved with torch.save(module.state_dict(), path), or "
                "weights=None."
            )
        if isinstance(self.normalize, (tuple, list)) and len(self.normalize) != 2:
            raise ValueError(
                f"Modality {modality!r}: normalize takes (mean, std), got {self.normalize!r}."
            )

    def _check_pretrained(self, spatial_dims, modality):
        if not self._named():
            raise ValueError(
                f"Modality {modality!r}: weights='pretrained' downloads the weights of a "
                "named backbone; a module keeps its own weights (weights=None) or loads "
                "a state_dict file (weights=path)."
            )
        name = self.backbone
        if name in _RESNETS and spatial_dims != 3:
            raise ValueError(
                f"Modality {modality!r}: MONAI has pretrained weights for 3-D ResNets only "
                f"(MedicalNet), not for a 2-D {name}. Give a 2-D state_dict file "
                "(weights=path; torchvision's ImageNet ResNets load), or a densenet121."
            )
        if name in _DENSENETS and (spatial_dims != 2 or name not in _IMAGENET_DENSENETS):
            raise ValueError(
                f"Modality {modality!r}: MONAI has pretrained weights for the 2-D "
                f"{', '.join(_IMAGENET_DENSENETS)} only (ImageNet), not for a "
                f"{spatial_dims}-D {name}. Give a state_dict file (weights=path)."
            )

    def _network_channels(self, n_channels, network=None):
        """Input channels of the backbone's network."""
        if self.in_channels is not None:
            return int(self.in_channels)
        if network is not None:
            found = _first_conv_channels(network)
            return n_channels if found is None else found
        if self.weights == "pretrained":
            return 1 if self.backbone in _RESNETS else 3
        return n_channels

    def _resolved_normalize(self, spatial_dims, channels, modality):
        normalize = self.normalize
        if normalize == "auto":
            return "zscore" if self._named() and spatial_dims == 3 else None
        if normalize is None or isinstance(normalize, str):
            return normalize
        mean, std = (np.asarray(value, dtype=np.float32).ravel() for value in normalize)
        for values in (mean, std):
            if values.size not in (1, channels):
                raise ValueError(
                    f"{_prefix(modality)}normalize takes one value or {channels} (one per "
                    "backbone channel) "
                    f"for the mean and the std, got {values.size}."
                )
        if (std <= 0).any():
            raise ValueError(
                f"{_prefix(modality)}normalize's std must be positive, got {std.tolist()}.")
        return (np.broadcast_to(mean, (channels,)).copy(),
                np.broadcast_to(std, (channels,)).copy())

    def _named_network(self, spatial_dims, channels):
        """``(network, F)``: a named MONAI backbone without its head, randomly initialised."""
        nets = _monai_nets()
        name = self.backbone
        if name in _RESNETS:
            depth = _RESNETS[name]
            if spatial_dims == 3:  # MedicalNet's layout, so its weights load
                from monai.networks.nets.resnet import get_medicalnet_pretrained_resnet_args

                bias_downsample, shortcut_type = get_medicalnet_pretrained_resnet_args(depth)
            else:  # torchvision's layout, so its ImageNet state_dicts load
                bias_downsample, shortcut_type = False, "B"
            network = getattr(nets, name)(
                spatial_dims=spatial_dims, n_input_channels=channels, feed_forward=False,
                conv1_t_stride=2, shortcut_type=shortcut_type,
                bias_downsample=bias_downsample)
            # After its last layer, in_planes holds the width of the features.
            return network, network.in_planes
        network = getattr(nets, _DENSENETS[name])(
            spatial_dims=spatial_dims, in_channels=channels, out_channels=1)
        n_features = network.class_layers.out.in_features
        network.class_layers.out = nn.Identity()
        return network, n_features

    def _module_network(self, shape):
        """``(network, F)``: the user's module (a copy, or the factory's), on the CPU."""
        if isinstance(self.backbone, nn.Module):
            network = copy.deepcopy(self.backbone)
        else:
            network = self.backbone()
            if not isinstance(network, nn.Module):
                raise TypeError(
                    f"PretrainedExpert: backbone={self.backbone!r} returned "
                    f"{type(network).__name__}, not a torch.nn.Module."
                )
        network = network.cpu()
        channels = self._network_channels(shape[0], network)
        was_training = network.training
        network.eval()
        with torch.no_grad():
            probe = network(torch.zeros(1, channels, *shape[1:]))
        network.train(was_training)
        if not isinstance(probe, torch.Tensor) or probe.dim() < 2 or probe.shape[0] != 1:
            raise ValueError(
                f"PretrainedExpert: the backbone must map images (n, {channels}, "
                f"{', '.join(map(str, shape[1:]))}) to features (n, F); it returned "
                f"{type(probe).__name__} {tuple(getattr(probe, 'shape', ()))}."
            )
        return network, int(probe[0].numel())

    def _new_backbone(self, modality=None, seeded=False):
        """The backbone module with its network's own initial weights (no file read).

        ``seeded``: a named network is initialised from a fixed seed, leaving torch's
        global random state as it was (frozen features are preprocessing, outside
        the fit's seeded randomness).
        """
        shape = self._shape()
        spatial_dims, n_channels = len(shape) - 1, shape[0]
        with torch.random.fork_rng(devices=[], enabled=seeded):
            if seeded:
                torch.manual_seed(0)
            if self._named():
                channels = self._network_channels(n_channels)
                network, n_features = self._named_network(spatial_dims, channels)
            else:
                network, n_features = self._module_network(shape)
                channels = self._network_channels(n_channels, network)
        if channels != n_channels and n_channels != 1:
            raise ValueError(
                f"{_prefix(modality)}the backbone takes {channels} input channel(s) "
                f"but the images have {n_channels}. Give images of {channels} channel(s), "
                "or one (grey images are repeated), or set in_channels."
            )
        normalize = self._resolved_normalize(spatial_dims, channels, modality)
        return _Backbone(network, n_features, channels if n_channels == 1 else 1,
                         normalize, spatial_dims)

    def _load_initial_weights(self, backbone, modality):
        """Load ``weights`` (a file or a download) into ``backbone`` now."""
        if self.weights is None:
            return
        backbone.pending_weights = self._weights_source(modality)
        backbone.load_pending_weights()

    def _weights_source(self, modality):
        """What :meth:`_Backbone.load_pending_weights` reads."""
        return self.weights, self.backbone if self._named() else None, modality

    # ------------------------------------------------------------------ expert API

    def _auto_preprocessor(self, X):
        # Pixel columns: as CNNExpert's, one mean and one scale per channel.
        return _signal_preprocessor(self._shape()[0])

    def make_preprocessor(self, X, modality=None):
        """The image scaling, followed by the frozen backbone when its features are kept.

        Frozen without augmentation: a :class:`BackboneFeatures` (the image scaling,
        then the backbone). Otherwise the image scaling alone, as
        :class:`~sk_i2m2.experts.CNNExpert`'s, after the initial weights were
        checked to load, so that a wrong file fails before training.

        Parameters
        ----------
        X : DataFrame or ndarray
            The modality's raw columns.
        modality : str or None, default=None
            The modality's name, for error messages.
        """
        self._validate_params()
        self._check_spec(modality)
        images = image_preprocessor(self, X, modality, self._shape())
        if self._caches_features():
            return BackboneFeatures(self, images, modality)
        if self.weights is not None:
            # The network reads its weights on its first batch (a saved model is
            # rebuilt without them): check now that they load, outside the fit's
            # random state.
            with torch.random.fork_rng(devices=[]):
                self._load_initial_weights(self._new_backbone(modality), modality)
        return images

    def sample_shape(self, n_features, modality):
        """``(F,)`` for kept features; else ``input_shape``, checked against the columns."""
        if self._caches_features():
            return (n_features,)
        return _check_shape(self, self._shape(), n_features, modality)

    def build(self, input_shape, n_outputs):
        """An MLP on kept features, or the backbone followed by an MLP head.

        Parameters
        ----------
        input_shape : tuple of int
            ``(F,)`` for features the preprocessing computed; the image's shape
            otherwise.
        n_outputs : int

        Returns
        -------
        torch.nn.Module
        """
        if len(input_shape) == 1:
            return mlp(int(input_shape[0]), self.hidden_units, n_outputs, self.dropout)
        backbone = self._new_backbone()
        if self.weights is not None:
            # Read on the first batch: a model loaded from a file gets its weights from
            # the file instead, without this file or network access.
            backbone.pending_weights = self._weights_source(None)
        backbone.lr_scale = float(self.backbone_lr_scale)
        if not self.trainable:
            backbone.requires_grad_(False)
        head = mlp(backbone.n_features, self.hidden_units, n_outputs, self.dropout)
        return _PretrainedNet(backbone, head, input_shape, self.trainable).train()
