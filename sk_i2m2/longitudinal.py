"""Histories of visits as a modality.

Clinical data arrive as visits: a long table with one row per visit (laboratory
values, scores, a scan's path), at irregular times, some values missing. I2M2 reads
a patient's history as one modality: :func:`group_visits` turns the long table into
one cell per patient holding that patient's visits, a column to join to the
patients' table (one row per patient, so that cross-validation, grid searches and
pipelines split by patient), and :class:`~sk_i2m2.experts.VisitsExpert` is the
expert of such a column.

Examples
--------
>>> import pandas as pd
>>> from sk_i2m2.longitudinal import group_visits
>>> visits = pd.DataFrame({"id": [1, 1, 2], "day": [30, 0, 0],
...                        "bili": [1.2, 0.9, 3.1]})
>>> histories = group_visits(visits, id="id", time="day")
>>> histories[1]
   day  bili
0    0   0.9
1   30   1.2
>>> group_visits(visits, id="id", time="day", until=10)[1]
   day  bili
0    0   0.9
"""

from numbers import Real

import numpy as np
import pandas as pd

__all__ = ["group_visits"]


def _check_columns(table, id, time, columns):
    """The visit columns to keep, every name checked against ``table``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"group_visits takes a DataFrame of visits (one row per visit), "
                        f"got {type(table).__name__}.")
    for what, name in (("id", id), ("time", time)):
        if name not in table.columns:
            raise ValueError(f"group_visits: the {what} column {name!r} is not a column "
                             f"of the visits; they have {list(table.columns)}.")
    if columns is None:
        columns = [column for column in table.columns if column not in (id, time)]
    else:
        columns = list(columns)
        unknown = [column for column in columns if column not in table.columns]
        if unknown:
            raise ValueError(f"group_visits: columns {unknown} are not columns of the "
                             f"visits; they have {list(table.columns)}.")
        columns = [column for column in columns if column not in (id, time)]
    if not pd.api.types.is_numeric_dtype(table[time]) or pd.api.types.is_bool_dtype(
            table[time]):
        raise TypeError(
            f"group_visits: the time column {time!r} holds {table[time].dtype} values; "
            "give numbers (e.g. days or years since a common origin: "
            "(visit_date - baseline_date).dt.days).")
    return columns


def _plain(value):
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if hasattr(value, "item") else value


def _landmarks(until, index):
    """``until`` per patient of ``index``: a Series (NaN: no bound), or None."""
    if until is None:
        return None
    if isinstance(until, Real) and not isinstance(until, bool):
        return pd.Series(float(until), index=index)
    if isinstance(until, pd.Series):
        return until.reindex(index).astype(np.float64)
    raise TypeError(f"until must be a number or a Series of per-patient times indexed by "
                    f"patient id, got {type(until).__name__}.")


def group_visits(long_table, id, time, columns=None, until=None):
    """One cell per patient holding that patient's visits, sorted by time.

    Parameters
    ----------
    long_table : DataFrame
        One row per visit: the patient's id, the visit's time and the visit's values
        (numbers, categories, or the path of a scan taken at that visit; NaN where
        not measured).
    id : str
        The column of patient ids.
    time : str
        The column of visit times: numbers, e.g. days since a common origin.
    columns : list of str or None, default=None
        The visit columns to keep; None keeps every column but ``id``.
    until : float, Series or None, default=None
        Keep only the visits at or before this time: one number for every patient,
        or a Series indexed by patient id (a landmark per patient; a patient absent
        from it, or NaN, keeps every visit). None keeps every visit.

    Returns
    -------
    Series
        Indexed by patient id (sorted), named ``"visits"``: each cell a DataFrame of
        the patient's visits (the time column first, then ``columns``) sorted by
        time, with a fresh index; a patient none of whose visits is kept gets a
        missing cell (None). Join it to the patients' table as a column, e.g.
        ``X = patients.join(group_visits(visits, "id", "day"))``; patients of the
        table without any visit then get NaN, which
        :class:`~sk_i2m2.experts.VisitsExpert` reads as a missing modality.

    Raises
    ------
    ValueError
        An unknown id, time or visit column; a patient with two visits at one time
        (merge them, or add a rank to the time).
    TypeError
        Times that are not numbers.
    """
    columns = _check_columns(long_table, id, time, columns)
    table = long_table[[id, time, *columns]]
    if table[id].isna().any():
        rows = list(table.index[table[id].isna()][:5])
        raise ValueError(f"group_visits: visits without a patient id (rows {rows}); "
                         "drop them or give them their patient's id.")
    if table[time].isna().any():
        rows = list(table.index[table[time].isna()][:5])
        raise ValueError(f"group_visits: visits without a time (rows {rows}); drop them "
                         "or give them their time.")
    duplicated = table.duplicated([id, time], keep=False)
    if duplicated.any():
        patient, when = (_plain(table.loc[duplicated, name].iloc[0]) for name in (id, time))
        shared = int((duplicated & (table[id] == patient)).sum())
        raise ValueError(
            f"group_visits: patient {patient!r} has {shared} visit rows sharing a time "
            f"(e.g. {time}={when!r}); one visit a time. Merge them (e.g. "
            "long_table.groupby([id, time]).first()) or tell them apart.")
    table = table.sort_values([id, time], kind="stable")
    patients = pd.Index(pd.unique(table[id]), name=id)
    landmarks = _landmarks(until, patients)
    if landmarks is not None:
        bound = table[id].map(landmarks)
        table = table[bound.isna() | (table[time] <= bound)]
    cells = np.full(len(patients), None, dtype=object)
    position = {patient: k for k, patient in enumerate(patients)}
    for patient, visits in table.groupby(id, sort=False)[[time, *columns]]:
        cells[position[patient]] = visits.reset_index(drop=True)
    # From an object array, so that pandas keeps each DataFrame as one value.
    return pd.Series(cells, index=patients, name="visits")
