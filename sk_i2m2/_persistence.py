"""Model files whose loading never runs code from the file.

A model file is a zip archive of four members:

* ``manifest.json``: the format's name and version, and the SHA-256 of every other
  member, so that a modified or truncated file is refused;
* ``estimator.skops``: the estimator's parameters and fitted preprocessing, written
  with :mod:`skops.io`, which rebuilds only types on a trusted list instead of
  unpickling arbitrary objects;
* ``weights.pt``: the torch module's ``state_dict`` on the CPU, read back with
  ``torch.load(weights_only=True)`` (tensors only);
* ``history.json``: the training history, as plain JSON.

The torch module itself is rebuilt from the experts' specs, as at fit, and the weights
are loaded into it; so a model trained on a GPU loads on a CPU-only machine.
"""

import hashlib
import io
import json
import zipfile

import numpy as np
import skops.io
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._classifier import I2M2Classifier, build_product
from ._net import JOINT
from ._version import __version__

FORMAT = "sk_i2m2-model"
FORMAT_VERSION = 1
MEMBERS = ("estimator.skops", "weights.pt", "history.json")

#: Types of this package that may appear in the skops member. scikit-learn's own
#: estimators are on skops' default trusted list.
TRUSTED_TYPES = [
    "numpy.dtype",
    # HistGradientBoosting's fitted trees: scikit-learn's own, missing from skops' list.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sk_i2m2._splitter.ModalitySplitter",
    "sk_i2m2.experts.ChannelScaler",
    "sk_i2m2.experts.CNNExpert",
    "sk_i2m2.experts.ConcatFusion",
    "sk_i2m2.experts.MLPExpert",
    "sk_i2m2.experts.SequenceExpert",
    "sk_i2m2.experts.SklearnExpert",
    "sk_i2m2.experts.TorchExpert",
    "sk_i2m2.experts._as_object",
    "sk_i2m2.imaging.ImageLoader",
]

#: Parameters that do not describe the fitted model and are not saved.
_UNSAVED_PARAMS = ("callbacks",)


class UntrustedModelError(ValueError):
    """The file is not an sk_i2m2 model file, was modified, or holds untrusted types."""


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def save(model, path):
    """Save a fitted :class:`I2M2Classifier` to a file that loads without running code.

    Parameters
    ----------
    model : I2M2Classifier
        A fitted estimator.
    path : str or path-like or writable binary file

    Notes
    -----
    Skorch ``callbacks`` are not saved; the loaded model has ``callbacks=None``.
    Experts given as user torch modules (``TorchExpert``) or user preprocessors are
    saved by reference to their class: :func:`load` needs their code importable and
    asks you to trust them by name.
    """
    if not isinstance(model, I2M2Classifier):
        raise TypeError(f"save takes a fitted I2M2Classifier, got {type(model).__name__}.")
    check_is_fitted(model)
    params = {key: value for key, value in model.get_params(deep=False).items()
              if key not in _UNSAVED_PARAMS}
    state = {
        "params": params,
        "classes_": model.classes_,
        "n_features_in_": model.n_features_in_,
        "feature_names_in_": getattr(model, "feature_names_in_", None),
        "splitter_": model.splitter_,
        "fixed_experts_": model.fixed_experts_,
    }
    weights = io.BytesIO()
    torch.save({key: value.detach().cpu()
                for key, value in model.net_.module_.state_dict().items()}, weights)
    members = {
        "estimator.skops": skops.io.dumps(state),
        "weights.pt": weights.getvalue(),
        "history.json": json.dumps(list(model.history_), default=float).encode(),
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sk_i2m2_version": __version__,
        "sha256": {name: _digest(data) for name, data in members.items()},
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        for name, data in members.items():
            archive.writestr(name, data)


def _read_members(path):
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise UntrustedModelError(
            f"{path!r} is not an sk_i2m2 model file (not a zip archive). Models saved "
            "with pickle or joblib load with those, and only from sources you trust."
        ) from error
    with archive:
        names = set(archive.namelist())
        if names != {"manifest.json", *MEMBERS}:
            raise UntrustedModelError(
                f"{path!r} is not an sk_i2m2 model file: it holds {sorted(names)}."
            )
        manifest = json.loads(archive.read("manifest.json"))
        if manifest.get("format") != FORMAT:
            raise UntrustedModelError(f"{path!r} is not an sk_i2m2 model file.")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise UntrustedModelError(
                f"{path!r} has format version {manifest.get('format_version')}; this "
                f"sk_i2m2 ({__version__}) reads version {FORMAT_VERSION}."
            )
        members = {name: archive.read(name) for name in MEMBERS}
    for name, data in members.items():
        if _digest(data) != manifest["sha256"].get(name):
            raise UntrustedModelError(
                f"{path!r}: member {name} does not match its checksum; the file was "
                "modified or is corrupt. Refusing to load it."
            )
    return members


def load(path, trusted=None):
    """Load a model saved with :func:`save`, without running code from the file.

    Parameters
    ----------
    path : str or path-like or readable binary file
    trusted : list of str or None, default=None
        Further type names to trust, e.g. the class of a user torch module given to
        ``TorchExpert`` (``"mypackage.MyNet"``). The error raised for an untrusted
        type lists the names it found.

    Returns
    -------
    I2M2Classifier
        The fitted estimator, on the CPU.
    """
    members = _read_members(path)
    allowed = TRUSTED_TYPES + list(trusted or [])
    untrusted = [name for name in skops.io.get_untrusted_types(data=members["estimator.skops"])
                 if name not in allowed]
    if untrusted:
        raise UntrustedModelError(
            f"{path!r} holds types that are not trusted: {untrusted}. If you trust the "
            "file's source and these types' code, pass them: "
            f"sk_i2m2.load(path, trusted={untrusted!r})."
        )
    state = skops.io.loads(members["estimator.skops"], trusted=allowed)
    weights = torch.load(io.BytesIO(members["weights.pt"]), weights_only=True,
                         map_location="cpu")
    history = json.loads(members["history.json"])
    return _rebuild(state, weights, history)


def _rebuild(state, weights, history):
    model = I2M2Classifier(**state["params"])
    splitter = state["splitter_"]
    classes = np.asarray(state["classes_"])
    module = build_product(splitter, model.dependencies, model.fusion, len(classes),
                           model.modality_dropout)
    # Buffers that exist once learnt.
    for name in ("expert_weights", "class_bias", "temperature"):
        if name in weights:
            setattr(module, name, weights[name])
    module.load_state_dict(weights)
    net = model._make_net(module, device="cpu", seed=0, class_weight=None,
                          early_stopping=False)
    net.initialize()
    net.history = History(history)
    net.stage_ = JOINT
    net._set_training(False)
    model.classes_ = classes
    model.n_features_in_ = state["n_features_in_"]
    if state["feature_names_in_"] is not None:
        model.feature_names_in_ = state["feature_names_in_"]
    model.splitter_ = splitter
    model.fixed_experts_ = state["fixed_experts_"]
    model.net_ = net
    model.history_ = net.history
    model.temperature_ = (1.0 if module.temperature is None
                          else float(module.temperature))
    return model
