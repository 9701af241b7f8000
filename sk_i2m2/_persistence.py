"""Model files whose loading never runs code from the file.

A model file is a zip archive of four members:

* ``manifest.json``: the format's name and version, and the SHA-256 of every other
  member, so that a modified or truncated file is refused;
* ``estimator.skops``: the estimator's class, its parameters and its fitted record
  (the task, the preprocessing, the resolved fit plan, ...), written
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

import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._base import BaseI2M2
from ._plan import recorded_plan
from ._sklearn_experts import SklearnExperts
from ._splitter import ModalitySplitter
from ._task import Task
from ._training import make_net
from ._typing import PathOrFile
from ._version import __version__
from .experts import BaseExpert, BaseFusion
from .product import ProductEnsemble, build_product

FORMAT = "sk_i2m2-model"
#: 2: the scikit-learn experts are saved as one object (``sklearn_experts_``), and the
#: number of members of an ensemble (``n_bags_``). 3: the estimator's class and its
#: fitted record (its task and resolved fit plan among it); regressors.
#: 4: the experts and imaging packages: the saved types' module paths changed.
FORMAT_VERSION = 4
MEMBERS = ("estimator.skops", "weights.pt", "history.json")

#: Types beside the package's own that a model may hold and skops does not trust by
#: default. scikit-learn's own estimators are on skops' default trusted list.
TRUSTED_TYPES = [
    "numpy.dtype",
    # HistGradientBoosting's fitted trees: scikit-learn's own, missing from skops' list.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # Paths given as parameters (ImageLoader(root=...), PretrainedExpert(weights=...)).
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
]


def _dotted_name(kind):
    return f"{kind.__module__}.{kind.__qualname__}"


def _subclasses(kind):
    for subclass in kind.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def _package_subclasses(base):
    """``base`` and its subclasses defined in this package (a user's own are not)."""
    return [kind for kind in [base, *_subclasses(base)]
            if kind.__module__.startswith("sk_i2m2.")]


def estimator_faces():
    """``{name: class}`` of the estimators a model file may hold: the package's faces.

    Each face over :class:`~sk_i2m2._base.BaseI2M2` defined in sk_i2m2 (imported
    with the package), found by its module, so that a new face needs no list.
    """
    return {kind.__name__: kind for kind in _package_subclasses(BaseI2M2)
            if kind is not BaseI2M2}


def package_types():
    """Dotted names of this package's types that a saved model may hold.

    Every task, expert and fusion expert defined in sk_i2m2, and the types each declares
    in ``_saved_types`` (its preprocessing helpers), so that a new built-in expert
    loads without editing a list. A user's own subclasses are not among them: they
    load when named in ``load(path, trusted=[...])``.
    """
    kinds = [ModalitySplitter, SklearnExperts, *_package_subclasses(Task)]
    for base in (BaseExpert, BaseFusion):
        kinds += _package_subclasses(base)
    names = set()
    for kind in kinds:
        names.add(_dotted_name(kind))
        names.update(_dotted_name(saved) for saved in getattr(kind, "_saved_types", ()))
    return sorted(names)


#: Parameters that do not describe the fitted model and are not saved.
_UNSAVED_PARAMS = ("callbacks",)


class UntrustedModelError(ValueError):
    """The file is not an sk_i2m2 model file, was modified, or holds untrusted types."""


def _skops_io():
    # Imported when a model is saved or loaded: skops builds its list of trusted
    # types on import, which costs over a second at every ``import sk_i2m2`` (in
    # each worker of a parallel search) otherwise.
    import skops.io

    return skops.io


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def save(model: BaseI2M2, path: PathOrFile) -> None:
    """Save a fitted I2M2 estimator to a file that loads without running code.

    Parameters
    ----------
    model : I2M2Classifier or I2M2Regressor
        A fitted estimator.
    path : str or path-like or writable binary file

    Notes
    -----
    Skorch ``callbacks`` are not saved; the loaded model has ``callbacks=None``.
    Experts given as user torch modules (``TorchExpert``) or user preprocessors are
    saved by reference to their class: :func:`load` needs their code importable and
    asks you to trust them by name.
    """
    faces = estimator_faces()
    if faces.get(type(model).__name__) is not type(model):
        raise TypeError(f"save takes a fitted {' or '.join(sorted(faces))}, got "
                        f"{type(model).__name__}.")
    check_is_fitted(model)
    _check_no_module_instances(model)
    params = {key: value for key, value in model.get_params(deep=False).items()
              if key not in _UNSAVED_PARAMS}
    state = {"estimator": type(model).__name__, "params": params,
             "record": model._fitted_record()}
    weights = io.BytesIO()
    torch.save({key: value.detach().cpu()
                for key, value in model.net_.module_.state_dict().items()}, weights)
    members = {
        "estimator.skops": _skops_io().dumps(state),
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


def _check_no_module_instances(model):
    """Refuse parameters that are torch modules: a model file holds code by reference only."""
    for name, value in model.get_params(deep=True).items():
        if isinstance(value, torch.nn.Module):
            raise TypeError(
                f"Parameter {name!r} is a torch module instance ({type(value).__name__}), "
                "which a model file cannot hold without pickling code. Give its class or "
                "a function that builds it instead (e.g. functools.partial(MyNet, ...)), "
                "or save the model with pickle or joblib, to load only from sources you "
                "trust."
            )


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


def load(path: PathOrFile, trusted: list[str] | None = None) -> BaseI2M2:
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
    I2M2Classifier or I2M2Regressor
        The fitted estimator, on the CPU.
    """
    members = _read_members(path)
    allowed = TRUSTED_TYPES + package_types() + list(trusted or [])
    skops_io = _skops_io()
    untrusted = [name for name in skops_io.get_untrusted_types(data=members["estimator.skops"])
                 if name not in allowed]
    if untrusted:
        raise UntrustedModelError(
            f"{path!r} holds types that are not trusted: {untrusted}. If you trust the "
            "file's source and these types' code, pass them: "
            f"sk_i2m2.load(path, trusted={untrusted!r})."
        )
    state = skops_io.loads(members["estimator.skops"], trusted=allowed)
    weights = torch.load(io.BytesIO(members["weights.pt"]), weights_only=True,
                         map_location="cpu")
    history = json.loads(members["history.json"])
    return _rebuild(state, weights, history)


def _rebuild(state, weights, history):
    model = estimator_faces()[state["estimator"]](**state["params"])
    record = {**state["record"], "device_": "cpu"}
    splitter = record["splitter_"]
    plan = recorded_plan(model.get_params(deep=False), record)
    members = [build_product(splitter, model.dependencies, plan.fusion, plan.task,
                             model.modality_dropout, record["sklearn_experts_"].product_sources())
               for _ in range(record["n_bags_"])]
    module = members[0] if len(members) == 1 else ProductEnsemble(members)
    module.load_state_dict(weights)
    net = make_net(plan, module, seed=0).initialize()
    net.history = History(history)
    return model._set_fitted(record, net)
