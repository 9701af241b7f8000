"""The time-to-event target, in scikit-survival's form, checked once for every user.

``y`` is a structured array of one row per sample with two fields, in this order: a
boolean event indicator (True: the event was observed at that time; False: the row
was censored then) and a numeric time. The field names are free. It is what
``sksurv.util.Surv.from_arrays(event, time)`` makes. This module needs numpy only.
"""

import numpy as np

__all__ = ["SURVIVAL_TARGET_HINT", "check_survival_target", "survival_target"]

#: How to build ``y``, at the end of every error about it.
SURVIVAL_TARGET_HINT = (
    "build it with sksurv.util.Surv.from_arrays(event, time) or "
    "np.array(list(zip(event, time)), dtype=[('event', bool), ('time', float)])"
)


def survival_target(event, time):
    """A survival ``y`` of ``event`` and ``time``: fields ``("event", bool)`` and
    ``("time", float64)``, as ``sksurv.util.Surv.from_arrays`` makes it."""
    y = np.empty(len(event), dtype=[("event", bool), ("time", np.float64)])
    y["event"] = np.asarray(event, dtype=bool)
    y["time"] = np.asarray(time, dtype=np.float64)
    return y


def _describe(y):
    """A short description of what was given, for the error messages."""
    if isinstance(y, np.ndarray):
        if y.dtype.names is not None:
            fields = ", ".join(f"{name!r}: {y.dtype[name]}" for name in y.dtype.names)
            return f"a structured array of shape {y.shape} with fields ({fields})"
        return f"a {y.dtype} array of shape {y.shape}"
    return f"an object of type {type(y).__name__}"


def check_survival_target(y, *, input_name="y"):
    """The event indicator and the times of a survival target, checked.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        A boolean event field then a numeric time field, in that order (any names).
    input_name : str, default="y"
        The name of ``y`` in the error messages.

    Returns
    -------
    event : ndarray of shape (n_samples,), dtype bool
        True where the event was observed, False where the row was censored.
    time : ndarray of shape (n_samples,), dtype float64
        The time of the event or of the censoring.

    Raises
    ------
    ValueError
        If ``y`` is not a one-dimensional structured array with a boolean field then
        a numeric (integer or floating) field, is empty, holds a time that is not
        finite or is negative, or holds no event at all. Every message says how to
        build ``y``.
    """
    hint = SURVIVAL_TARGET_HINT
    names = y.dtype.names if isinstance(y, np.ndarray) else None
    if names is None or len(names) != 2:
        raise ValueError(
            f"{input_name} must be a structured array with a boolean event field then a "
            f"float time field, got {_describe(y)}; {hint}.")
    if y.ndim != 1:
        raise ValueError(
            f"{input_name} must be a one-dimensional structured array (one row per "
            f"sample), got {_describe(y)}; {hint}.")
    event_field, time_field = names
    if y.dtype[event_field].kind != "b" or y.dtype[event_field].shape:
        raise ValueError(
            f"The first field of {input_name} ({event_field!r}) must be the boolean event "
            f"indicator, got dtype {y.dtype[event_field]}; {hint}.")
    if y.dtype[time_field].kind not in "iuf" or y.dtype[time_field].shape:
        raise ValueError(
            f"The second field of {input_name} ({time_field!r}) must be the numeric time "
            f"of the event or censoring, got dtype {y.dtype[time_field]}; {hint}.")
    if y.shape[0] == 0:
        raise ValueError(f"{input_name} is empty; {hint}.")
    event = np.array(y[event_field], dtype=bool)
    time = np.array(y[time_field], dtype=np.float64)
    bad = ~np.isfinite(time) | (time < 0)
    if bad.any():
        raise ValueError(
            f"In {input_name}, times must be finite and >= 0, got {int(bad.sum())} that "
            f"are not (the first: {time[bad][0]!r} in row {int(np.flatnonzero(bad)[0])}); "
            f"{hint}.")
    if not event.any():
        raise ValueError(
            f"{input_name} holds no event: all {event.size} rows are censored (its event "
            f"field {event_field!r} is False everywhere); {hint}.")
    return event, time
