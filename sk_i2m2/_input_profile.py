"""What the model saw at fit, to say when prediction feeds it something else.

A category unseen at fit is one-hot encoded as no category at all, and a number far
outside the training range pushes a network where it never learnt: predictions
move without a word. At ``fit`` the splitter keeps a profile of every table column
(its categories, or its range); at prediction each call warns once, with a
:class:`DataWarning`, of the columns that hold what the profile does not.
"""

import os
import sys
import warnings

import numpy as np
import pandas as pd


class DataWarning(UserWarning):
    """The data given to an sk_i2m2 estimator hold something it should be told about.

    Raised, for example, when prediction meets a category unseen at fit or a number
    far outside the training range. Silence it the usual way::

        warnings.filterwarnings("ignore", category=sk_i2m2.DataWarning)
    """


#: How far outside the training range a number is "far": more than this many
#: training ranges below the minimum or above the maximum.
FAR_RANGES = 1.0
#: Values and rows named in a warning, at most, per column.
SHOWN = 5


def _column(X, position):
    return X.iloc[:, position] if hasattr(X, "iloc") else np.asarray(X)[:, position]


def _name(X, position, names):
    return names[position] if names is not None else position


def _is_numeric(values):
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def profile_columns(X, positions):
    """``{position: ("numeric", low, high) or ("categorical", [values])}`` of columns.

    Missing values are left out; a column without any value is not profiled.
    """
    profile = {}
    for position in positions:
        values = pd.Series(_column(X, position))
        present = values.dropna()
        if not len(present):
            continue
        if _is_numeric(values):
            profile[int(position)] = ("numeric", float(present.min()), float(present.max()))
        else:
            profile[int(position)] = ("categorical", sorted(map(str, present.unique())))
    return profile


def _rows(mask, index):
    rows = np.asarray(index)[mask][:SHOWN].tolist()
    return f"{rows}{' ...' if mask.sum() > SHOWN else ''}"


def unseen_inputs(profile, X, names=None):
    """``(unseen categories, far numbers)``: one line per column that holds them."""
    categories, numbers = [], []
    index = X.index if hasattr(X, "index") else np.arange(len(X))
    for position, (kind, *fitted) in profile.items():
        values = pd.Series(_column(X, position)).reset_index(drop=True)
        present = values.notna().to_numpy()
        column = _name(X, position, names)
        if kind == "categorical":
            text = values.astype(str)
            new = present & ~text.isin(fitted[0]).to_numpy()
            if new.any():
                shown = sorted(set(text[new]))[:SHOWN]
                categories.append(
                    f"column {column!r}: {shown} in {int(new.sum())} row(s), e.g. rows "
                    f"{_rows(new, index)}")
            continue
        low, high = fitted
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        width = high - low  # 0 for a constant column: any other value is outside
        far = present & ((numeric < low - FAR_RANGES * width)
                         | (numeric > high + FAR_RANGES * width))
        if far.any():
            numbers.append(
                f"column {column!r}: {int(far.sum())} row(s) outside [{low:g}, {high:g}] by "
                f"more than the training range (e.g. rows {_rows(far, index)}: "
                f"{numeric[far][:SHOWN].tolist()})")
    return categories, numbers


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _outside_the_package():
    """The ``stacklevel`` of the first caller outside sk_i2m2 (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn_unseen(profile, X, names=None):
    """One :class:`DataWarning` per kind of input the model has not seen, if any.

    The warnings point at the user's call (the first frame outside the package).
    """
    categories, numbers = unseen_inputs(profile, X, names)
    stacklevel = _outside_the_package()
    if categories:
        warnings.warn(
            "Categories unseen at fit, encoded as no category (the model never learnt "
            "what they mean): " + "; ".join(categories) + ".", DataWarning,
            stacklevel=stacklevel)
    if numbers:
        warnings.warn(
            "Numbers far outside the training range, where the model's predictions are "
            "extrapolations: " + "; ".join(numbers) + ".", DataWarning,
            stacklevel=stacklevel)
