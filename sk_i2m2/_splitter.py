"""ModalitySplitter: route columns to modalities and preprocess each one.

Modelled on :class:`sklearn.compose.ColumnTransformer`: the same column specs, the
same nested parameters, but one output array per modality instead of one
concatenated matrix, since each modality feeds its own expert.
"""

import math
import warnings
from functools import partial

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import TransformerMixin
from sklearn.utils._indexing import _get_column_indices, _safe_indexing
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._input_profile import profile_columns
from ._lazy import LazyRows
from ._names import FUSION
from ._typing import MatrixLike
from .experts import BaseExpert, MLPExpert, as_expert

DEFAULT_MODALITY = "tabular"
REMAINDER = "remainder"


def default_modalities():
    """The spec used when ``modalities=None``: every column in one tabular modality."""
    return [(DEFAULT_MODALITY, MLPExpert(), slice(0, None))]


def check_modality_spec(modalities, owner):
    """Check ``(name, expert, columns)`` tuples; names must suit nested parameters.

    Parameters
    ----------
    modalities : list
        The spec to check.
    owner : estimator
        The estimator whose nested parameters the names become; a name may not
        shadow one of its constructor parameters.
    """
    if not isinstance(modalities, (list, tuple)) or not modalities:
        raise ValueError(
            "modalities must be a non-empty list of (name, expert, columns) tuples, "
            f"got {modalities!r}."
        )
    for item in modalities:
        if not isinstance(item, tuple) or len(item) != 3:
            raise ValueError(
                f"Each modality must be a (name, expert, columns) tuple, got {item!r}."
            )
    names = [name for name, _, _ in modalities]
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Modality names must be non-empty strings, got {name!r}.")
        if name in (FUSION, REMAINDER):
            raise ValueError(f"Modality name {name!r} is reserved; rename that modality.")
        if "__" in name or "." in name:
            raise ValueError(
                f"Modality name {name!r} must not contain '__' or '.': '__' separates "
                "nested parameters and '.' separates torch submodule names."
            )
    # scikit-learn's own checks: unique names, none shadowing a constructor parameter.
    owner._validate_names(names)
    for name, expert, _ in modalities:
        _check_expert(name, expert)


def _check_expert(name, expert):
    if not isinstance(as_expert(expert), BaseExpert):
        raise TypeError(
            f"Modality {name!r}: the expert must be one of sk_i2m2.experts (MLPExpert, "
            f"CNNExpert, SequenceExpert, TorchExpert, SklearnExpert, ...) or a "
            f"scikit-learn estimator of the model's kind (a classifier with predict_proba "
            f"for I2M2Classifier, a regressor for I2M2Regressor), got {expert!r}."
        )


def _numeric_columns(X):
    """The names of a DataFrame's numeric (or boolean) columns; [] for arrays."""
    if not hasattr(X, "dtypes"):
        return []
    return [column for column, dtype in X.dtypes.items()
            if pd.api.types.is_numeric_dtype(dtype)]


def check_X(X):
    """A DataFrame as it is, anything else as a 2-D array; never empty or sparse."""
    if sparse.issparse(X):
        raise TypeError(
            "sk_i2m2 takes a pandas DataFrame or a dense 2-D array; convert the sparse "
            "matrix with .toarray()."
        )
    if hasattr(X, "iloc"):
        if X.ndim != 2:
            raise ValueError("Expected a 2-D DataFrame; reshape a Series with .to_frame().")
        if len(X) == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
        return X
    return check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=1)


def _missing_rows(block):
    """Rows where every column of a modality is missing: the modality is absent."""
    return np.asarray(pd.isna(block)).all(axis=1)


def _check_some_modality_per_row(X, missing, first_row=0):
    empty = np.flatnonzero(np.logical_and.reduce(list(missing.values())))
    if len(empty):
        labels = list(X.index[empty]) if hasattr(X, "index") else (empty + first_row).tolist()
        raise ValueError(
            f"{len(empty)} row(s) have no value in any modality ({', '.join(missing)}); "
            f"first rows: {labels[:10]}. Drop them or give each at least one modality."
        )


def _column_label(X, index):
    return str(X.columns[index]) if hasattr(X, "columns") else f"x{index}"


def _stack_array_cells(block, name):
    """One column whose cells hold arrays (images, series) -> one row of values each."""
    if block.shape[1] != 1:
        return block, None
    column = block.iloc[:, 0] if hasattr(block, "iloc") else block[:, 0]
    cells = np.asarray(column, dtype=object)
    filled = [cell for cell in cells if isinstance(cell, (np.ndarray, list, tuple))]
    if not filled:
        return block, None
    size = np.asarray(filled[0]).size
    rows = np.full((len(cells), size), np.nan)
    for row, cell in enumerate(cells):
        if cell is None or (np.ndim(cell) == 0 and pd.isna(cell)):
            continue  # a missing cell stays NaN, for the preprocessor to handle
        values = np.asarray(cell, dtype=np.float64).ravel()
        if values.size != size:
            raise ValueError(
                f"Modality {name!r}: row {row} holds an array of {values.size} values "
                f"where the first holds {size}. Give every row an array of one shape."
            )
        rows[row] = values
    label = str(block.columns[0]) if hasattr(block, "columns") else "x"
    return rows, [f"{label}[{i}]" for i in range(size)]


def _as_modality_array(Z, name, feature_names, missing):
    """A preprocessor's output as the modality's array, and the rows lacking it.

    Lazily read images pass as they are (they know which rows lack an image); any
    other output becomes dense float32 with NaN in the rows that lack the modality.
    """
    if isinstance(Z, LazyRows):
        return Z, missing | Z.missing
    if (isinstance(Z, np.ndarray) and Z.ndim == 2 and Z.shape[1]
            and np.issubdtype(Z.dtype, np.floating)):
        # A preprocessor that reads images (features of a pretrained backbone) gives
        # NaN rows for images that are absent or unreadable with on_error="missing".
        # The first column screens the rows, so that a large table costs one column.
        candidates = np.flatnonzero(np.isnan(Z[:, 0]) & ~missing)
        if len(candidates):
            missing = missing.copy()
            missing[candidates] = np.isnan(Z[candidates]).all(axis=1)
    Z = _as_float32(Z, name, feature_names, rows=~missing)
    if missing.any():
        Z = np.array(Z)  # never write into an array the caller may still hold
        Z[missing] = np.nan
    return Z, missing


def _as_float32(Z, name, feature_names, rows=None):
    """Dense float32 output of a preprocessor, refusing anything non-finite in ``rows``."""
    if sparse.issparse(Z):
        Z = Z.toarray()
    try:
        Z = np.asarray(Z, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Modality {name!r}: its columns are not numeric after preprocessing "
            f"({error}). Use preprocessor='auto' to one-hot encode text and "
            "categorical columns, or convert them to numbers."
        ) from error
    finite = np.isfinite(Z)
    if rows is not None:  # masking the booleans copies less than masking Z
        finite = finite[rows]
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=0))
        names = [feature_names[i] if feature_names is not None else f"x{i}"
                 for i in bad[:10]]
        raise ValueError(
            f"Modality {name!r}: column(s) {names} contain NaN or infinity after "
            "preprocessing. Use preprocessor='auto' (which imputes missing values) or "
            "add an imputer to this expert's preprocessor."
        )
    return Z


class ModalitySplitter(TransformerMixin, _BaseComposition, auto_wrap_output_keys=None):
    """Route columns to modalities and preprocess each for its expert.

    Parameters
    ----------
    modalities : list of (str, expert, columns) tuples or None, default=None
        Like ``ColumnTransformer.transformers``: a unique name, an expert from
        :mod:`sk_i2m2.experts` (whose ``preprocessor`` is applied to the modality's
        columns), and the columns as names, integer indices, a slice, a boolean mask
        or a callable such as :func:`~sklearn.compose.make_column_selector`. A column
        may feed several modalities. None puts every column into one modality named
        ``"tabular"`` with an :class:`~sk_i2m2.experts.MLPExpert`.
    remainder : "drop", "passthrough" or expert, default="drop"
        Columns no modality selects are dropped, or gathered into one more modality
        named ``"remainder"`` (``"passthrough"`` uses an ``MLPExpert``).

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names, when ``X`` had string column names.
    modalities_ : list of (str, expert, columns) tuples
        The resolved spec: ``columns`` are integer indices into ``X``, and the
        ``"remainder"`` modality is included when kept.
    preprocessors_ : dict of str to transformer or "passthrough"
        The fitted preprocessor of each modality (for a modality read from image
        files, the ``ImageFiles`` that turns its paths into lazily read images).
    sample_shapes_ : dict of str to tuple
        Shape of one transformed row of each modality.
    feature_names_out_ : dict of str to ndarray of str
        Preprocessed feature names of each modality.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_i2m2 import ModalitySplitter
    >>> from sk_i2m2.experts import MLPExpert
    >>> X = pd.DataFrame({"age": [50, 61], "sex": ["f", "m"], "px0": [0.1, 0.2]})
    >>> splitter = ModalitySplitter([("clinical", MLPExpert(), ["age", "sex"]),
    ...                              ("image", MLPExpert(), ["px0"])])
    >>> {name: a.shape for name, a in splitter.fit_transform(X).items()}
    {'clinical': (2, 3), 'image': (2, 1)}
    """

    _parameter_constraints = {
        "modalities": [list, None],
        "remainder": [StrOptions({"drop", "passthrough"}), HasMethods(["build"])],
    }

    def __init__(self, modalities=None, *, remainder="drop"):
        self.modalities = modalities
        self.remainder = remainder

    # Nested parameters, as in ColumnTransformer: ``<name>__<param>`` reaches an expert.
    @property
    def _modalities(self):
        # As ColumnTransformer._transformers: anything but a list of triples is
        # returned as it is, for set_params to replace and fit to reject.
        try:
            return [(name, expert) for name, expert, _ in self.modalities]
        except (TypeError, ValueError):
            return self.modalities

    @_modalities.setter
    def _modalities(self, value):
        self.modalities = [
            (name, expert, columns)
            for (name, expert), (_, _, columns) in zip(value, self.modalities, strict=True)
        ]

    def get_params(self, deep=True):
        return self._get_params("_modalities", deep=deep)

    def set_params(self, **params):
        self._set_params("_modalities", **params)
        return self

    def _sk_visual_block_(self):
        return modality_block(self)

    # ------------------------------------------------------------------ fit

    def check_input(self, X: MatrixLike) -> MatrixLike:
        """``X`` checked against the fit: same columns in the same order.

        Arrays get the fitted column names back (after sklearn's one warning), so a
        checked ``X`` passes through ``transform`` and ``raw_columns`` silently.
        """
        X = check_X(X)
        names = getattr(self, "feature_names_in_", None)
        if names is not None and hasattr(X, "columns"):
            missing = [name for name in names if name not in set(X.columns)]
            if missing:
                raise ValueError(
                    f"X lacks column(s) {missing} seen at fit. X has: "
                    f"{list(X.columns)}. Give the same columns as at fit."
                )
        validate_data(self, X, reset=False, skip_check_array=True)
        self._warn_numbers_turned_to_text(X)
        if names is not None and not hasattr(X, "columns"):
            # sklearn warned once about the missing names; give them back so the
            # per-modality preprocessors do not warn again, each on its own (a view:
            # pandas would copy the array by default).
            X = pd.DataFrame(X, columns=names, copy=False)
        elif names is None and hasattr(X, "columns"):
            # Fitted on an array: sklearn warned once about the names X has; number
            # its columns instead, so that the preprocessors and classifiers fitted
            # on arrays do not warn again, each on its own.
            X = X.set_axis(range(X.shape[1]), axis=1)
        return X

    def _warn_numbers_turned_to_text(self, X):
        """Warn, naming them, of columns numeric at fit that arrive as text.

        Numbers given as strings (``"3.5"``) are read as numbers by the numeric
        preprocessors, which hides that something upstream (a CSV read without
        dtypes, a join) changed the data.
        """
        fitted = getattr(self, "numeric_columns_", None)
        if not fitted or not hasattr(X, "columns"):
            return
        now = set(_numeric_columns(X))
        turned = [column for column in fitted if column in X.columns and column not in now]
        if not turned:
            return
        owners = sorted({name for name, _, indices in self.modalities_
                         for column in turned if X.columns.get_loc(column) in indices})
        warnings.warn(
            f"Column(s) {turned[:10]} (modality {', '.join(map(repr, owners))}) held "
            "numbers at fit and hold text now; they are read as numbers. Convert them "
            "before predicting (e.g. with pandas.to_numeric) to silence this.",
            UserWarning, stacklevel=3,
        )

    def _resolve_columns(self, X):
        spec = default_modalities() if self.modalities is None else self.modalities
        check_modality_spec(spec, self)
        resolved, used = [], set()
        for name, expert, columns in spec:
            selected = columns(X) if callable(columns) else columns
            try:
                indices = _get_column_indices(X, selected)
            except (ValueError, KeyError, IndexError, TypeError) as error:
                available = list(map(str, X.columns)) if hasattr(X, "columns") else (
                    f"{X.shape[1]} integer positions")
                raise ValueError(
                    f"Modality {name!r}: cannot select columns {selected!r}: {error}. "
                    f"Available columns: {available}."
                ) from error
            if not indices:
                raise ValueError(
                    f"Modality {name!r} selects no columns (spec {columns!r}). Give it at "
                    "least one column or remove the modality."
                )
            resolved.append((name, as_expert(expert), list(indices)))
            used.update(indices)
        if self.remainder != "drop":
            rest = [i for i in range(X.shape[1]) if i not in used]
            if rest:
                expert = MLPExpert() if self.remainder == "passthrough" else self.remainder
                _check_expert(REMAINDER, expert)
                resolved.append((REMAINDER, as_expert(expert), rest))
        return resolved

    def fit(self, X: MatrixLike, y: None = None) -> "ModalitySplitter":
        """Fit each modality's preprocessor.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X: MatrixLike, y: None = None) -> dict[str, np.ndarray]:
        """Fit each modality's preprocessor and return the transformed modalities.

        Returns
        -------
        dict of str to ndarray
            ``{modality: float32 array of shape (n_samples, *sample_shapes_[name])}``.
        """
        self._validate_params()
        X = check_X(X)
        modalities = self._resolve_columns(X)
        preprocessors, shapes, feature_names, outputs, missing = {}, {}, {}, {}, {}
        for name, expert, indices in modalities:
            block, names = self._select(X, name, indices, expert)
            missing[name] = _missing_rows(block)
            if missing[name].all():
                raise ValueError(
                    f"Modality {name!r} has no value in any row; give it data or remove it."
                )
            preprocessor = _naming_modality(
                name, partial(expert.make_preprocessor, modality=name), block)
            Z = None
            if preprocessor != "passthrough":
                if missing[name].any():
                    # Rows without the modality must not shape its imputation or scaling.
                    rows_with_it = _safe_indexing(block, np.flatnonzero(~missing[name]))
                    _naming_modality(name, preprocessor.fit, rows_with_it)
                else:  # every row holds it: fit and transform in one pass
                    Z = _naming_modality(name, preprocessor.fit_transform, block)
                names = _feature_names_out(preprocessor, names)
            if Z is None:
                Z, missing[name] = self._apply(name, preprocessor, block, missing[name], names)
            else:
                Z, missing[name] = _as_modality_array(Z, name, names, missing[name])
            if names is None:  # not every transformer names its outputs: number them
                names = [f"x{i}" for i in range(math.prod(Z.shape[1:]))]
            # A lazy modality knows its rows' shape (a history's: its visits' features).
            shapes[name] = (tuple(Z.sample_shape) if isinstance(Z, LazyRows)
                            else tuple(expert.sample_shape(math.prod(Z.shape[1:]), name)))
            preprocessors[name] = preprocessor
            feature_names[name] = np.asarray(names, dtype=object)
            outputs[name] = Z.reshape(len(Z), *shapes[name])
        _check_some_modality_per_row(X, missing)
        # Fitted state is set only once every modality succeeded.
        validate_data(self, X, reset=True, skip_check_array=True)
        self.modalities_ = modalities
        self.preprocessors_ = preprocessors
        self.sample_shapes_ = shapes
        self.feature_names_out_ = feature_names
        self.numeric_columns_ = _numeric_columns(X)
        # What prediction is checked against: each table column's categories or range.
        self.input_profile_ = profile_columns(
            X, [i for _, expert, indices in modalities if expert.tabular for i in indices])
        return outputs

    @staticmethod
    def _apply(name, preprocessor, block, missing, feature_names):
        """Preprocess ``block``: the modality's array and the rows lacking it (NaN)."""
        Z = (block if preprocessor == "passthrough"
             else _naming_modality(name, preprocessor.transform, block))
        return _as_modality_array(Z, name, feature_names, missing)

    def raw_columns(self, X, names):
        """``{modality: (block, missing_rows)}`` for ``names``: their columns as given.

        For the experts that read raw columns (scikit-learn classifiers); ``X`` is
        checked as in :meth:`transform`.
        """
        check_is_fitted(self)
        X = self.check_input(X)
        blocks = {}
        for name, _, indices in self.modalities_:
            if name in names:
                block = _safe_indexing(X, indices, axis=1)
                blocks[name] = block, _missing_rows(block)
        return blocks

    def _select(self, X, name, indices, expert):
        block = _safe_indexing(X, indices, axis=1)
        if getattr(expert, "reads_cells", False):  # its preprocessor reads the cells
            return block, [_column_label(X, i) for i in indices]
        stacked, names = _stack_array_cells(block, name)
        if names is None:
            names = [_column_label(X, i) for i in indices]
        return stacked, names

    # ------------------------------------------------------------------ transform

    def transform(self, X: MatrixLike) -> dict[str, np.ndarray]:
        """Split ``X`` into preprocessed modality arrays.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        dict of str to ndarray
            ``{modality: float32 array of shape (n_samples, *sample_shapes_[name])}``;
            a modality read from image files is a lazy array of that shape, whose
            images are read when indexed (``np.asarray`` reads them all).
        """
        check_is_fitted(self)
        return self.transform_checked(self.check_input(X))

    def transform_checked(self, X, first_row=0):
        """:meth:`transform` of an ``X`` that :meth:`check_input` returned, or rows of it.

        For callers that check a large ``X`` once and transform it a chunk of rows
        at a time; ``first_row``, the chunk's position in ``X``, lets errors name
        the rows of an array by their position in ``X``.
        """
        outputs, missing = {}, {}
        for name, expert, indices in self.modalities_:
            block, _ = self._select(X, name, indices, expert)
            Z, missing[name] = self._apply(name, self.preprocessors_[name], block,
                                           _missing_rows(block), self.feature_names_out_[name])
            outputs[name] = Z.reshape(len(Z), *self.sample_shapes_[name])
        _check_some_modality_per_row(X, missing, first_row)
        return outputs

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Preprocessed feature names, ``<modality>__<feature>``, modality by modality.

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(
            [f"{name}__{feature}" for name, features in self.feature_names_out_.items()
             for feature in features],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


def modality_boxes(splitter):
    """``(names, experts, columns)`` of each modality, for the notebook's HTML repr.

    The fitted spec once fitted (columns by name, the remainder included), else the
    spec as given.
    """
    if hasattr(splitter, "modalities_"):
        names = getattr(splitter, "feature_names_in_", None)
        spec = [(name, expert, list(columns) if names is None else names[columns].tolist())
                for name, expert, columns in splitter.modalities_]
    else:
        spec = default_modalities() if splitter.modalities is None else splitter.modalities
        if splitter.remainder != "drop":
            spec = [*spec, (REMAINDER, splitter.remainder, "the other columns")]
    return ([name for name, _, _ in spec], [expert for _, expert, _ in spec],
            [columns for _, _, columns in spec])


def modality_block(splitter, extra=()):
    """One box per modality (its expert, its columns) side by side, as ColumnTransformer's.

    ``extra``: further ``(name, estimator, details)`` boxes (the fusion expert).
    """
    try:
        names, experts, columns = modality_boxes(splitter)
    except (TypeError, ValueError):  # a malformed spec: fit will say why
        return _VisualBlock("single", splitter, names=type(splitter).__name__)
    for name, estimator, details in extra:
        names.append(name)
        experts.append(estimator)
        columns.append(details)
    return _VisualBlock("parallel", experts, names=names, name_details=columns)


def _naming_modality(name, method, block):
    """Run a preprocessor's method; its errors say which modality they concern."""
    try:
        return method(block)
    except (ValueError, TypeError) as error:
        if str(error).startswith(f"Modality {name!r}"):
            raise  # it says so already
        raise ValueError(f"Modality {name!r}: {error}") from error


def _feature_names_out(preprocessor, input_names):
    """The preprocessor's output names, or None when it cannot name them."""
    try:
        return list(preprocessor.get_feature_names_out(np.asarray(input_names, dtype=object)))
    except (AttributeError, ValueError, TypeError):
        return None
