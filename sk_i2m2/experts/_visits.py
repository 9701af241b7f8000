"""VisitsExpert: the expert of a history of visits (one cell of visits per patient).

A cell holds a patient's visits, as :func:`sk_i2m2.longitudinal.group_visits` gives
them: a DataFrame with the time column and the visit's values. Three pieces:

* :class:`VisitsPreprocessor`, fitted on the training visits, turns each visit into
  one row of numbers: the visit's place in time (since the previous visit, since
  the first, before the last), each number standardised with whether it was
  measured, its last measured value and the time since (what GRU-D reads), the
  categories one-hot encoded, and what the encoder reads (a scan's path, ...);
* :class:`VisitHistories`, the preprocessed column: every visit of every patient
  in one flat array, padded into ``(patients, visits, channels)`` only for the rows
  of a batch, so memory follows the batch and not the longest history of the
  cohort;
* :class:`VisitsNet`, the network: each visit embedded (through the encoder where
  there is one), then read in time order by a GRU, or pooled by time-aware
  attention.
"""

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._lazy import LazyRows, one_column
from ..imaging._files import ImageFiles
from ._base import BaseExpert
from ._neural import CNNExpert
from ._pretrained import PretrainedExpert

#: The channels every visit has, in this order, after its presence flag.
TIME_CHANNELS = ("since previous visit", "since first visit", "before last visit")
#: The channels of each numeric visit column, in blocks of one channel per column.
NUMERIC_CHANNELS = ("", " measured", " last measured", " since measured")


# --------------------------------------------------------------------------- cells


def _cell_problem(cell, time, columns):
    """``(error type, why)`` a cell is no history of visits with the fitted columns,
    or None."""
    if not isinstance(cell, pd.DataFrame):
        return TypeError, (f"expected a DataFrame of the patient's visits "
                           f"(sk_i2m2.longitudinal.group_visits builds them), got "
                           f"{type(cell).__name__}")
    if time not in cell.columns:
        return ValueError, (f"its visits have no time column {time!r} (columns "
                            f"{list(cell.columns)}); set VisitsExpert(time=...) to the "
                            "time column")
    if columns is not None and set(cell.columns) - {time} != set(columns):
        return ValueError, (
            f"its visits have columns {sorted(map(str, set(cell.columns) - {time}))} "
            f"where the training visits had {sorted(map(str, columns))}")
    times = cell[time]
    if not pd.api.types.is_numeric_dtype(times) or pd.api.types.is_bool_dtype(times):
        return TypeError, f"its time column {time!r} holds {times.dtype} values; give numbers"
    if times.isna().any():
        return ValueError, f"a visit has no time ({time!r} is NaN)"
    if times.duplicated().any():
        return ValueError, (f"two visits share the time {times[times.duplicated()].iloc[0]}; "
                            "one visit a time (merge them, or tell them apart)")
    return None


def _is_empty(cell):
    if cell is None:
        return True
    if isinstance(cell, pd.DataFrame):
        return len(cell) == 0
    return bool(np.ndim(cell) == 0 and pd.isna(cell))


def _flat_visits(column, labels, modality, time, columns, name_visits=False):
    """Every visit of every present cell in one table, and which row each came from.

    ``columns`` None takes the first history's columns as every history's.
    ``name_visits`` indexes the visits ``"<row> visit <k>"`` (for the messages and
    the data report of an encoder's files), else by position: a large cohort's
    hundreds of thousands of labels are not made for nothing.

    Returns
    -------
    visits : DataFrame
        The visits, each cell's sorted by time.
    row_of_visit : ndarray of int
        The position in ``column`` of each visit's row.
    missing : ndarray of bool
        Rows without a visit (a missing cell or an empty history).
    """
    cells = list(column)
    missing = np.asarray([_is_empty(cell) for cell in cells], dtype=bool)
    frames, rows = [], []
    for position, cell in enumerate(cells):
        if missing[position]:
            continue
        if columns is None and isinstance(cell, pd.DataFrame):
            columns = [name for name in cell.columns if name != time]
        problem = _cell_problem(cell, time, columns)
        if problem is not None:
            kind, problem = problem
            raise kind(f"Modality {modality!r}, row {labels[position]!r}: {problem}.")
        # Shuffled rows give the same history: the order is the time's. Histories
        # from group_visits come sorted, and need no copy.
        if not cell[time].is_monotonic_increasing:
            cell = cell.sort_values(time, kind="stable")
        frames.append(cell)
        rows.append(position)
    if not frames:
        raise ValueError(f"Modality {modality!r} has no visit in any row; give it "
                         "histories or remove it.")
    lengths = np.asarray([len(frame) for frame in frames])
    row_of_visit = np.repeat(np.asarray(rows), lengths)
    visits = pd.concat(frames, ignore_index=True)
    if name_visits:
        rank = np.arange(len(visits)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        visits.index = [f"{labels[row]} visit {k}" for row, k in zip(row_of_visit, rank,
                                                                     strict=True)]
    return visits, row_of_visit, missing


def _first_and_last(row_of_visit):
    """For each visit, the positions of its history's first and last visits."""
    boundaries = np.flatnonzero(np.diff(row_of_visit)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(row_of_visit)]]) - 1
    lengths = ends - starts + 1
    return np.repeat(starts, lengths), np.repeat(ends, lengths)


def _is_numeric(values):
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


# --------------------------------------------------------------------------- lazy rows


class VisitHistories(LazyRows):
    """Patients' histories: every visit in one flat array, padded per batch on load.

    Parameters
    ----------
    features : ndarray of shape (n_visits, n_channels), float32
        Each visit's preprocessed channels (time, values), rows of patient 0's
        visits first, in time order.
    offsets : ndarray of shape (n_rows + 1,), int
        Patient ``i``'s visits are ``features[offsets[i]:offsets[i + 1]]``.
    missing : ndarray of shape (n_rows,), bool
        Rows lacking the modality (no visit).
    encoded : ndarray, LazyRows or None, default=None
        What the encoder reads of each visit (``(n_visits, ...)``; NaN rows for
        visits without it), or None without an encoder.
    n_visits : int or None, default=None
        The nominal number of visits of :attr:`shape` (the longest history at fit);
        None: the longest here.
    """

    def __init__(self, features, offsets, missing, encoded=None, n_visits=None):
        self.features = features
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self._missing = np.asarray(missing, dtype=bool)
        self.encoded = encoded
        self.n_visits = n_visits

    @property
    def lengths(self):
        return np.diff(self.offsets)

    @property
    def width(self):
        extra = 0 if self.encoded is None else 1 + math.prod(self.encoded.shape[1:])
        return 1 + self.features.shape[1] + extra

    @property
    def shape(self):
        longest = int(self.lengths.max(initial=0))
        return (len(self._missing), max(self.n_visits or longest, 1), self.width)

    @property
    def missing(self):
        return self._missing

    def reshape(self, *shape):
        """Itself, for any shape of its width: histories differ in length."""
        if len(shape) != 3 or shape[0] != len(self) or shape[-1] != self.width:
            raise ValueError(f"{self!r} cannot take the shape {tuple(shape)}.")
        return self

    def __len__(self):
        return len(self._missing)

    def __repr__(self):
        return f"VisitHistories(rows={len(self)}, visits={len(self.features)})"

    def _visit_index(self, rows):
        """The visits of ``rows`` (positions), in order."""
        starts, lengths = self.offsets[:-1][rows], self.lengths[rows]
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return np.arange(int(lengths.sum())) + shift

    def __getitem__(self, rows):
        if isinstance(rows, (int, np.integer)):
            return self.load([rows])[0]
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        rows = np.arange(len(self))[rows]
        visits = self._visit_index(rows)
        offsets = np.concatenate([[0], np.cumsum(self.lengths[rows])])
        encoded = None if self.encoded is None else self.encoded[visits]
        return VisitHistories(self.features[visits], offsets, self._missing[rows], encoded,
                              self.n_visits)

    def load(self, rows=None):
        """``(rows, longest history among them, channels)`` float32; NaN rows lack it.

        Channel 0 is 1 for a visit and 0 for the padding after a shorter history.
        """
        if rows is not None:
            return self[np.asarray(rows)].load()
        lengths = self.lengths
        out = np.zeros((len(self), max(int(lengths.max(initial=0)), 1), self.width),
                       dtype=np.float32)
        patient = np.repeat(np.arange(len(self)), lengths)
        rank = np.arange(len(self.features)) - np.repeat(self.offsets[:-1], lengths)
        n_features = self.features.shape[1]
        out[patient, rank, 0] = 1.0
        out[patient, rank, 1:1 + n_features] = self.features
        if self.encoded is not None:
            encoded = np.asarray(self.encoded.load() if isinstance(self.encoded, LazyRows)
                                 else self.encoded, dtype=np.float32)
            encoded = encoded.reshape(len(encoded), -1)
            has = ~np.isnan(encoded[:, 0]) if encoded.shape[1] else np.ones(len(encoded),
                                                                             dtype=bool)
            out[patient, rank, 1 + n_features] = has
            out[patient, rank, 2 + n_features:] = np.nan_to_num(encoded)
        out[self._missing] = np.nan
        return out


# --------------------------------------------------------------------------- preprocessor


class VisitsPreprocessor(TransformerMixin, BaseEstimator):
    """A column of histories in, :class:`VisitHistories` out (see the module docstring).

    Parameters
    ----------
    expert : VisitsExpert
        Whose time column, encoder and encoder columns this reads.
    modality : str or None, default=None
        The modality's name, for error messages.

    Attributes
    ----------
    columns_ : list of str
        The visits' columns besides the time, as at fit.
    numeric_ : list of str
        The numeric columns read as values (standardised, with GRU-D's channels).
    categorical_ : list of str
        The categorical columns, one-hot encoded.
    encoder_columns_ : list of str
        The columns the encoder reads.
    mean_, scale_ : ndarray of shape (len(numeric_),)
        The numeric columns' mean and standard deviation over the training visits.
    time_scale_ : float
        The median time between consecutive training visits: the time unit of the
        time channels.
    one_hot_ : OneHotEncoder or None
    encoder_preprocessor_ : transformer, "passthrough" or None
        The encoder's preprocessing of its columns, fitted on the training visits.
    encoder_shape_ : tuple of int or None
        What the encoder reads of one visit.
    n_visits_ : int
        The longest training history.
    """

    def __init__(self, expert, modality=None):
        self.expert = expert
        self.modality = modality

    def _cells(self, X):
        """The column of histories and the row labels, checked: one column."""
        return one_column(X, self.modality, "a VisitsExpert reads one column whose cells "
                          "hold each patient's visits", "Select the history column alone.")

    def _split_columns(self, visits):
        expert = self.expert
        columns = [column for column in visits.columns if column != expert.time]
        if expert.encoder is None:
            encoder_columns = []
        elif expert.encoder_columns is not None:
            encoder_columns = list(expert.encoder_columns)
            unknown = [column for column in encoder_columns if column not in columns]
            if unknown:
                raise ValueError(f"Modality {self.modality!r}: encoder_columns {unknown} "
                                 f"are not visit columns; the visits have {columns}.")
        elif getattr(expert.encoder, "loader", None) is not None:
            paths = [column for column in columns if not _is_numeric(visits[column])]
            if len(paths) != 1:
                raise ValueError(
                    f"Modality {self.modality!r}: the encoder reads image files, but the "
                    f"visits have {len(paths)} text columns ({paths}); name the path "
                    "column with VisitsExpert(encoder_columns=[...]).")
            encoder_columns = paths
        else:
            encoder_columns = columns
        rest = [column for column in columns if column not in encoder_columns]
        numeric = [column for column in rest if _is_numeric(visits[column])]
        categorical = [column for column in rest if column not in numeric]
        return columns, numeric, categorical, encoder_columns

    def _time_channels(self, visits, row_of_visit):
        """Each visit's time since the previous visit, since the first and before the
        last, and its time (the visits of a row are consecutive, in time order)."""
        time = visits[self.expert.time].to_numpy(np.float64)
        first, last = _first_and_last(row_of_visit)
        previous = np.diff(time, prepend=time[:1])
        previous[first == np.arange(len(time))] = 0.0  # a history's first visit
        return previous, time - time[first], time[last] - time, time

    def _numeric_channels(self, visits, row_of_visit, time):
        """Each numeric column's value, measured flag, last measured value and the
        time since it was measured (GRU-D's inputs), standardised.

        The last measurement is carried forward within each history with a running
        maximum of the positions measured so far: vectorised over every visit of the
        cohort, in a few arrays of its size.
        """
        values = visits[self.numeric_].to_numpy(np.float64)
        values = (values - self.mean_) / self.scale_
        measured = ~np.isnan(values)
        first, _ = _first_and_last(row_of_visit)
        position = np.where(measured, np.arange(len(values))[:, None], -1)
        np.maximum.accumulate(position, axis=0, out=position)
        # A measurement counts only within the visit's own history.
        carried = position >= first[:, None]
        position = np.maximum(position, 0)
        last = np.where(carried, np.take_along_axis(values, position, axis=0), 0.0)
        when = np.where(carried, time[position], time[first][:, None])
        since = self._log_time(time[:, None] - when)
        return [np.nan_to_num(values), measured, np.nan_to_num(last), since]

    def _log_time(self, duration):
        return np.log1p(np.maximum(duration, 0.0) / self.time_scale_)

    def fit(self, X, y=None):
        """Fit the visits' preprocessing on every visit of the training rows.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, 1)
            The history column of the rows that hold the modality.
        y : ignored

        Returns
        -------
        self
        """
        column, labels = self._cells(X)
        self.expert._validate_params()
        # Every history must have the columns of the first.
        visits, row_of_visit, _ = _flat_visits(column, labels, self.modality,
                                               self.expert.time, None,
                                               self.expert.encoder is not None)
        (self.columns_, self.numeric_, self.categorical_,
         self.encoder_columns_) = self._split_columns(visits)
        previous, _, _, _ = self._time_channels(visits, row_of_visit)
        gaps = previous[previous > 0]
        self.time_scale_ = float(np.median(gaps)) if len(gaps) else 1.0
        numbers = visits[self.numeric_].to_numpy(np.float64)
        with np.errstate(all="ignore"):
            self.mean_ = np.nan_to_num(np.nanmean(numbers, axis=0)) if self.numeric_ else \
                np.zeros(0)
            scale = np.nanstd(numbers, axis=0) if self.numeric_ else np.zeros(0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.one_hot_ = None
        if self.categorical_:
            self.one_hot_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                          dtype=np.float32).fit(
                visits[self.categorical_].astype(object))
        self.encoder_preprocessor_, self.encoder_shape_ = None, None
        if self.encoder_columns_:
            table = visits[self.encoder_columns_]
            given = ~table.isna().all(axis=1).to_numpy()
            encoder = self.expert.encoder
            preprocessor = encoder.make_preprocessor(table, self.modality)
            if preprocessor != "passthrough":
                preprocessor.fit(table[given])
            self.encoder_preprocessor_ = preprocessor
            # What the encoder reads of a visit, without transforming every visit
            # (a frozen backbone's features are computed once, by transform).
            if isinstance(preprocessor, ImageFiles):
                shape = tuple(int(size) for size in preprocessor.input_shape)
            else:
                width = (table.shape[1] if preprocessor == "passthrough"
                         else len(preprocessor.get_feature_names_out()))
                shape = tuple(encoder.sample_shape(width, self.modality))
            self.encoder_shape_ = shape
        self.n_visits_ = int(np.bincount(row_of_visit).max())
        self.n_features_in_ = 1
        return self

    def _encode(self, table):
        preprocessor = self.encoder_preprocessor_
        encoded = table if preprocessor == "passthrough" else preprocessor.transform(table)
        if isinstance(encoded, LazyRows):
            return encoded
        encoded = np.asarray(encoded, dtype=np.float32)
        given = ~table.isna().all(axis=1).to_numpy()
        encoded = encoded.reshape(len(encoded), -1).copy()
        encoded[~given] = np.nan  # a visit without what the encoder reads
        return encoded

    def transform(self, X):
        """The histories of ``X`` as :class:`VisitHistories`.

        Returns
        -------
        VisitHistories of ``len(X)`` rows; rows without a visit lack the modality.
        """
        check_is_fitted(self)
        column, labels = self._cells(X)
        cells = list(column)
        if all(_is_empty(cell) for cell in cells):  # e.g. a chunk without histories
            encoded = (None if self.encoder_shape_ is None
                       else np.zeros((0, *self.encoder_shape_), dtype=np.float32))
            return VisitHistories(np.zeros((0, self._n_features()), np.float32),
                                  np.zeros(len(cells) + 1, dtype=np.int64),
                                  np.ones(len(cells), dtype=bool), encoded, self.n_visits_)
        visits, row_of_visit, missing = _flat_visits(column, labels, self.modality,
                                                     self.expert.time, self.columns_,
                                                     bool(self.encoder_columns_))
        previous, first, last, time = self._time_channels(visits, row_of_visit)
        # Written block by block into one float32 array: a cohort's visits are its
        # largest array, and a float64 concatenation would hold it three times.
        features = np.empty((len(visits), self._n_features()), dtype=np.float32)
        blocks = [self._log_time(duration)[:, None] for duration in (previous, first, last)]
        if self.numeric_:
            blocks += self._numeric_channels(visits, row_of_visit, time)
        if self.one_hot_ is not None:
            blocks.append(self.one_hot_.transform(visits[self.categorical_].astype(object)))
        start = 0
        for block in blocks:
            features[:, start:start + block.shape[1]] = block
            start += block.shape[1]
            del block
        encoded = (None if not self.encoder_columns_
                   else self._encode(visits[self.encoder_columns_]))
        counts = np.bincount(row_of_visit, minlength=len(cells))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return VisitHistories(features, offsets, missing, encoded, self.n_visits_)

    def _n_features(self):
        """The channels a visit's row holds before the presence flag and the encoder's."""
        encoder = 0 if self.encoder_shape_ is None else 1 + math.prod(self.encoder_shape_)
        return len(self.feature_names_()) - 1 - encoder

    def feature_names_(self):
        """The name of each channel of a visit."""
        names = ["visit", *(f"{self.expert.time} ({what})" for what in TIME_CHANNELS)]
        for suffix in NUMERIC_CHANNELS:
            names += [f"{column}{suffix}" for column in self.numeric_]
        if self.one_hot_ is not None:
            names += list(self.one_hot_.get_feature_names_out(
                [str(column) for column in self.categorical_]))
        if self.encoder_shape_ is not None:
            encoded = "+".join(map(str, self.encoder_columns_))
            names += [f"{encoded} (given)",
                      *(f"{encoded}[{i}]" for i in range(math.prod(self.encoder_shape_)))]
        return names

    def get_feature_names_out(self, input_features=None):
        """The name of each channel of a visit (see :meth:`column_sources`)."""
        check_is_fitted(self)
        return np.asarray(self.feature_names_(), dtype=object)

    def column_sources(self):
        """``(visit columns, column of each channel)``: channels summed by column.

        The presence and time channels count for the time column; each value's
        channels for its column; one-hot channels for their category's column; what
        the encoder reads for its first column.
        """
        check_is_fitted(self)
        columns = [self.expert.time, *self.numeric_, *self.categorical_,
                   *self.encoder_columns_]
        position = {column: k for k, column in enumerate(columns)}
        sources = [0] * (1 + len(TIME_CHANNELS))
        for _ in NUMERIC_CHANNELS:
            sources += [position[column] for column in self.numeric_]
        if self.one_hot_ is not None:
            sources += [position[column] for column, categories
                        in zip(self.categorical_, self.one_hot_.categories_, strict=True)
                        for _ in categories]
        if self.encoder_shape_ is not None:
            sources += [position[self.encoder_columns_[0]]] * (
                1 + math.prod(self.encoder_shape_))
        return [str(column) for column in columns], np.asarray(sources, dtype=int)

    def attribution_baseline(self):
        """A visit's baseline for integrated gradients: every value at its training
        mean (0 once standardised), every structural channel (presence, times,
        measured flags, the encoder's presence) NaN, meaning the row's own value: the
        attributions then say what the values did, visit by visit, not the schedule."""
        names = self.feature_names_()
        baseline = np.zeros(len(names), dtype=np.float32)
        k = len(self.numeric_)
        start = 1 + len(TIME_CHANNELS)
        structural = [0, *range(1, start), *range(start + k, start + 2 * k),
                      *range(start + 3 * k, start + 4 * k)]
        if self.encoder_shape_ is not None:
            structural.append(len(names) - 1 - math.prod(self.encoder_shape_))
        baseline[structural] = np.nan
        return baseline[None]  # one visit, broadcast over the visits


# --------------------------------------------------------------------------- network


class VisitsNet(nn.Module):
    """Each visit embedded, then the history read in time order.

    Parameters
    ----------
    layout : dict
        ``{"n_numeric", "n_one_hot", "encoder_shape"}`` of the visits' channels
        (:class:`VisitsPreprocessor`).
    n_outputs : int
    hidden_size : int
    sequence : {"gru", "attention"}
    dropout : float
    encoder : nn.Module or None
        Maps ``(n_visits, *encoder_shape)`` to ``(n_visits, hidden_size)``.
    """

    def __init__(self, layout, n_outputs, hidden_size, sequence, dropout, encoder=None):
        super().__init__()
        self.n_numeric = layout["n_numeric"]
        self.n_one_hot = layout["n_one_hot"]
        self.encoder_shape = layout["encoder_shape"]
        self.encoder = encoder
        self.encoder_width = hidden_size
        self.sequence = sequence
        k = self.n_numeric
        # GRU-D's input decay: a value not measured at a visit falls from its last
        # measurement towards the training mean (0) as the time since grows.
        self.decay = nn.Parameter(torch.zeros(k))
        self.decay_bias = nn.Parameter(torch.zeros(k))
        width = (len(TIME_CHANNELS) + 2 * k + self.n_one_hot
                 + (0 if encoder is None else 1 + hidden_size))
        self.embed = nn.Sequential(nn.Linear(width, hidden_size), nn.ReLU(),
                                   nn.Dropout(dropout))
        if sequence == "gru":
            self.reader = nn.GRU(hidden_size, hidden_size, batch_first=True)
        else:
            self.time_embedding = nn.Linear(1, hidden_size)
            self.score = nn.Linear(hidden_size, 1)
        self.head = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden_size, n_outputs))

    def _visit_inputs(self, x):
        t = len(TIME_CHANNELS)
        k = self.n_numeric
        start = 1 + t
        parts = [x[..., 1:start]]
        if k:
            value, measured, last, since = (x[..., start + i * k:start + (i + 1) * k]
                                            for i in range(4))
            gamma = torch.exp(-torch.relu(self.decay * since + self.decay_bias))
            parts += [measured * value + (1 - measured) * gamma * last, measured]
        start += 4 * k
        if self.n_one_hot:
            parts.append(x[..., start:start + self.n_one_hot])
        start += self.n_one_hot
        if self.encoder is not None:
            given = x[..., start]
            inputs = x[..., start + 1:]
            flat = inputs.reshape(-1, *self.encoder_shape)
            chosen = given.reshape(-1) > 0.5
            codes = inputs.new_zeros(flat.shape[0], self.encoder_width)
            if chosen.any():
                codes = codes.index_put((chosen.nonzero().squeeze(1),),
                                        self.encoder(flat[chosen]))
            parts += [given.unsqueeze(-1), codes.reshape(*x.shape[:2], -1)]
        return torch.cat(parts, dim=-1)

    def forward(self, x):
        present = x[..., 0]
        lengths = (present > 0.5).sum(dim=1).clamp(min=1)
        visits = self.embed(self._visit_inputs(x)) * present.unsqueeze(-1)
        if self.sequence == "gru":
            packed = nn.utils.rnn.pack_padded_sequence(visits, lengths.cpu(),
                                                       batch_first=True, enforce_sorted=False)
            _, hidden = self.reader(packed)
            summary = hidden[-1]
        else:
            before_last = x[..., 1 + 2:1 + 3]  # the time before the last visit
            keys = torch.tanh(visits + self.time_embedding(before_last))
            scores = self.score(keys).squeeze(-1).masked_fill(present <= 0.5, -torch.inf)
            # A row without visits (lacking the modality) still gets finite weights.
            scores = torch.where(torch.isinf(scores).all(dim=1, keepdim=True),
                                 torch.zeros_like(scores), scores)
            weights = torch.softmax(scores, dim=1)
            summary = (weights.unsqueeze(-1) * visits).sum(dim=1)
        return self.head(summary)


# --------------------------------------------------------------------------- expert


class VisitsExpert(BaseExpert):
    """The expert of a column of histories: each patient's visits, read in time order.

    Each cell holds one patient's visits, as
    :func:`sk_i2m2.longitudinal.group_visits` gives them: a DataFrame with the
    ``time`` column and the visit's values, any number of visits at irregular
    times, values missing inside visits. A missing cell or an empty history is a
    missing modality for that row. The order of the rows inside a cell does not
    matter: the visits are read in the order of their times.

    What a visit says (fitted on the training visits, :class:`VisitsPreprocessor`):
    the time since the previous visit, since the first and before the last (in units
    of the median time between visits, log-scaled); each number standardised, with
    whether it was measured at that visit, its last measured value and the time
    since it was (GRU-D's inputs: a value not measured decays, at a learnt rate, from
    its last measurement towards the training mean); each category one-hot encoded;
    and what the ``encoder`` makes of its columns.

    The network embeds each visit and reads the history with a GRU (``sequence=
    "gru"``), whose last state is the history's summary, or pools the visits by
    attention whose scores see the time before the last visit (``"attention"``).
    Inside the product, the fusion expert reads the same kind of network's summary
    of the history as it reads any other modality's encoding.

    Parameters
    ----------
    time : str
        The visits' time column (numbers).
    encoder : expert or None, default=None
        An expert applied to each visit before the history is read, on
        ``encoder_columns``: ``CNNExpert(input_shape, loader="auto")`` on a column of
        paths (a scan at some visits, read lazily per batch, as image files are),
        ``PretrainedExpert`` (its frozen features computed once per image), or
        ``MLPExpert`` on the visit's values. None embeds each visit with one linear
        layer.
    encoder_columns : list of str or None, default=None
        The visit columns the encoder reads. None: the one text column of the visits
        for an image encoder (one with a ``loader``), every column but ``time``
        otherwise.
    hidden_size : int, default=32
        Width of each visit's embedding and of the GRU's state.
    sequence : {"gru", "attention"}, default="gru"
        How the visits are read (see above).
    dropout : float, default=0.1
    preprocessor : "auto", default="auto"
        The visits' preprocessing is the expert's own.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_i2m2.experts import VisitsExpert
    >>> from sk_i2m2.longitudinal import group_visits
    >>> visits = pd.DataFrame({"id": [1, 1, 2], "day": [0, 30, 0],
    ...                        "bili": [0.9, 1.2, 3.1]})
    >>> X = pd.DataFrame({"age": [61, 47]}, index=pd.Index([1, 2], name="id"))
    >>> X = X.join(group_visits(visits, id="id", time="day"))
    >>> modalities = [("labs", VisitsExpert(time="day"), ["visits"])]
    """

    _parameter_constraints = {
        "time": [str],
        "encoder": [HasMethods(["build", "make_preprocessor"]), None],
        "encoder_columns": [list, None],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "sequence": [StrOptions({"gru", "attention"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "preprocessor": [StrOptions({"auto"})],
    }
    #: The visits' preprocessing, and what an encoder's preprocessing may hold.
    reads_cells = True
    _saved_types = (*BaseExpert._saved_types, VisitsPreprocessor, *CNNExpert._saved_types,
                    *PretrainedExpert._saved_types)

    def __init__(self, time, encoder=None, encoder_columns=None, hidden_size=32,
                 sequence="gru", dropout=0.1, preprocessor="auto"):
        self.time = time
        self.encoder = encoder
        self.encoder_columns = encoder_columns
        self.hidden_size = hidden_size
        self.sequence = sequence
        self.dropout = dropout
        self.preprocessor = preprocessor

    def make_preprocessor(self, X, modality=None):
        self._validate_params()
        return VisitsPreprocessor(self, modality)

    def with_preprocessing(self, preprocessor):
        return _FittedVisitsExpert(self, preprocessor)

    def build(self, input_shape, n_outputs):
        raise RuntimeError(
            "A VisitsExpert's network depends on its fitted preprocessing: build it "
            "through with_preprocessing(fitted_preprocessor).build(...).")


class _FittedVisitsExpert:
    """A VisitsExpert with its fitted preprocessing: what builds its networks."""

    def __init__(self, expert, preprocessor):
        self.expert = expert
        self.preprocessor = preprocessor

    def __getattr__(self, name):
        return getattr(self.expert, name)

    def build(self, input_shape, n_outputs):
        expert, fitted = self.expert, self.preprocessor
        encoder = None
        if fitted.encoder_shape_ is not None:
            encoder = clone(expert.encoder).build(fitted.encoder_shape_, expert.hidden_size)
        layout = {"n_numeric": len(fitted.numeric_),
                  "n_one_hot": 0 if fitted.one_hot_ is None
                  else sum(len(c) for c in fitted.one_hot_.categories_),
                  "encoder_shape": fitted.encoder_shape_}
        return VisitsNet(layout, n_outputs, expert.hidden_size, expert.sequence,
                         expert.dropout, encoder)
