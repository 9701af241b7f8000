"""Modalities whose rows are built when a batch needs them, not all at once.

Images read from files (:class:`~sk_i2m2.imaging._files.LazyImages`) and histories
of visits (:class:`~sk_i2m2.experts._visits.VisitHistories`) stand where a
preprocessed modality would be an array: they have a ``shape``, selecting rows
gives another lazy array without building anything, and :meth:`LazyRows.load`
builds the rows a batch needs. The splitter passes them through, the training loop
loads them batch by batch (in DataLoader workers when ``num_workers > 0``), so
memory follows the batch, not the cohort.
"""

import numpy as np


class LazyRows:
    """What the splitter, the datasets and the data report ask of a lazy modality.

    Subclasses define ``__len__``, ``__getitem__`` (an int gives one row's array,
    any other selection a lazy array of those rows), :attr:`shape`, :attr:`missing`
    and :meth:`load`.
    """

    dtype = np.dtype(np.float32)

    @property
    def shape(self):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def sample_shape(self):
        """The shape of one row: what the modality's expert is built for."""
        return self.shape[1:]

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def missing(self):  # pragma: no cover - abstract
        """``(n,)`` bool: the rows lacking the modality."""
        raise NotImplementedError

    def load(self, rows=None):  # pragma: no cover - abstract
        """The rows ``rows`` (all by default) as a float32 array; NaN rows lack it."""
        raise NotImplementedError

    def reshape(self, *shape):
        """The array itself, when ``shape`` is its own (as for a preprocessed array)."""
        if tuple(shape) != self.shape:
            raise ValueError(f"{self!r} cannot take the shape {tuple(shape)}.")
        return self

    def __array__(self, dtype=None, copy=None):
        values = self.load()
        return values if dtype is None else values.astype(dtype)


def one_column(X, modality, reads, select):
    """``(column, row labels)``: the one column a lazy modality's preprocessor reads.

    ``reads`` and ``select`` finish the error raised when the modality selects
    another number of columns: what the expert reads, and what to do.
    """
    if X.shape[1] != 1:
        columns = list(X.columns) if hasattr(X, "columns") else X.shape[1]
        raise ValueError(f"Modality {modality!r}: {reads}, but the modality selects "
                         f"{X.shape[1]}: {columns}. {select}")
    column = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X, dtype=object)[:, 0]
    labels = np.asarray(X.index if hasattr(X, "index") else np.arange(len(X)), dtype=object)
    return column, labels
