"""The data path from modality arrays to batches: one batch type, sliced, not collated.

A :class:`Batch` holds what the product reads for some rows, in three fields: the
modalities, the scikit-learn experts' log-probabilities, and the rows' loss weights.
Every split and batch of the rows selects the same rows of all three.

Per-batch overhead is kept to what a hand-written loop pays: batches are sliced from
tensors built once per fit (no per-item collation). Modalities read from image files
are the exception: their batches are read by a torch DataLoader (in worker processes
with ``num_workers``), over the same rows in the same order.
"""

from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._lazy import LazyRows


class Batch(NamedTuple):
    """What the product of experts reads for some rows.

    Attributes
    ----------
    modalities : dict of str to array-like
        ``{modality: (n, *sample_shape)}``; NaN rows lack the modality.
    sklearn_outputs : dict of str to array-like
        ``{expert: (n, n_outputs)}`` outputs of the scikit-learn experts (for
        classification their log-probabilities; empty without them); NaN rows are
        those an expert cannot see.
    sample_weight : array-like of shape (n,) or None
        Each row's weight in the loss (class weights folded in); None: all 1.
    """

    modalities: dict
    sklearn_outputs: dict = {}
    sample_weight: object = None

    def map(self, function):
        """A batch of ``function(values)`` for every array of every field."""
        return Batch(
            {name: function(values) for name, values in self.modalities.items()},
            {name: function(values) for name, values in self.sklearn_outputs.items()},
            None if self.sample_weight is None else function(self.sample_weight),
        )

    def take(self, rows):
        """The batch of ``rows`` (a slice, an index array or tensor)."""
        return self.map(lambda values: values[rows])


def _tensor(values, dtype, device):
    # torch cannot share memory with a read-only array (pandas' copy-on-write hands
    # those out): copy it then, share it otherwise.
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        values = values.copy()
    return torch.as_tensor(values, dtype=dtype).to(device)


def _on_cpu(values):
    return values.cpu() if isinstance(values, torch.Tensor) else values


class TensorDictDataset(Dataset):
    """A :class:`Batch` of tensors and its labels, indexable per row and per batch.

    Parameters
    ----------
    X : Batch or dict of str to array-like
        The rows; a dict is the modalities alone. Arrays are converted to float32
        tensors once; lazy modalities (:class:`~sk_i2m2._lazy.LazyRows`: images read from
        files, histories of visits) are built batch by batch.
    y : array-like of int or None
        Encoded labels.
    device : str or torch.device, default="cpu"
        Where the tensors live; on a GPU the whole set is moved there once. With
        images read from files, batches are put together on the CPU (possibly in
        DataLoader workers) and moved one by one.
    """

    def __init__(self, X, y=None, device="cpu"):
        X = X if isinstance(X, Batch) else Batch(dict(X))
        self.lazy = {name for name, values in X.modalities.items()
                     if isinstance(values, LazyRows)}
        if self.lazy:
            device = "cpu"
        self.X = X.map(lambda values: values if isinstance(values, LazyRows)
                       else _tensor(values, torch.float32, device))
        # Class codes stay integers (the cross-entropy's targets); a continuous
        # target becomes float32.
        self.y = None if y is None else _tensor(
            y, torch.long if np.issubdtype(np.asarray(y).dtype, np.integer)
            else torch.float32, device)
        lengths = {len(values) for values in self.X.modalities.values()}
        if len(lengths) != 1:
            raise ValueError(f"Modalities have different numbers of rows: {lengths}.")
        (self.n_rows,) = lengths

    def __getstate__(self):
        # Pickled with its tensors on the CPU: a fitted net keeps its validation set,
        # which must unpickle where the GPU it was on is missing. Batches go to the
        # net's device one by one.
        state = self.__dict__.copy()
        state["X"] = self.X.map(_on_cpu)
        state["y"] = None if self.y is None else self.y.cpu()
        return state

    @property
    def device(self):
        return next((values.device for values in self.X.modalities.values()
                     if isinstance(values, torch.Tensor)), torch.device("cpu"))

    def __len__(self):
        return self.n_rows

    def __getitem__(self, index):
        # Row access keeps the dataset usable with a plain torch DataLoader, whose
        # collation takes no None: an unweighted row weighs 1.
        Xi, yi = self.batch(torch.as_tensor([index]))
        if Xi.sample_weight is None:
            Xi = Xi._replace(sample_weight=torch.ones(1))
        return Xi.map(lambda values: values[0]), (
            yi[0] if yi is not None else torch.zeros((), dtype=torch.long))

    def batch(self, index):
        """``(X_batch, y_batch)`` of the rows ``index`` (a slice or an index tensor)."""
        Xi = self.X.take(index)
        if self.lazy:  # read the images of these rows now
            Xi = Xi._replace(modalities={
                name: torch.from_numpy(values.load()) if name in self.lazy else values
                for name, values in Xi.modalities.items()})
        return Xi, None if self.y is None else self.y[index]


class _BatchesOf(Dataset):
    """A dataset whose items are whole batches, for a DataLoader over batch indices."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, rows):
        return self.dataset.batch(rows)


class RowBatches:
    """The rows of each batch: slices in order, or a fresh shuffle every epoch.

    Parameters
    ----------
    n_rows : int
    batch_size : int
    shuffle : bool, default=False
        Draw a new row order every epoch (each ``iter`` call): one ``randperm``.
    generator : torch.Generator or None
        Source of the shuffling, so a seeded fit never touches torch's global state.
    device : str or torch.device, default="cpu"
        Where the shuffled indices go (where the data is).
    shard : (int, int) or None, default=None
        ``(rank, world_size)`` of data-parallel training: every process draws the
        same batches (same generator seed) and keeps rows ``rank::world_size`` of
        each, so the processes' shards of a step together are the batch a single
        process would train on. A batch of fewer than ``world_size`` rows (the last,
        at most) is skipped, since every process must take part in every step; the
        rows it held are reshuffled into the next epoch.
    min_rows : int, default=1
        A last batch of fewer rows joins the one before it (a loss over risk sets,
        the Cox partial likelihood, learns nothing from a batch of one row).
    """

    def __init__(self, n_rows, batch_size, shuffle=False, generator=None, device="cpu",
                 shard=None, min_rows=1):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = device
        self.shard = shard
        self.min_rows = min_rows

    def _starts(self):
        """Where each batch starts; the last batch runs to the end."""
        starts = list(range(0, self.n_rows, self.batch_size))
        if len(starts) > 1 and self.n_rows - starts[-1] < self.min_rows:
            starts.pop()
        return starts

    def __len__(self):
        starts = self._starts()
        last = self.n_rows - starts[-1] if starts else 0
        n_batches = len(starts)
        if self.shard is not None and last < self.batch_size:
            n_batches -= last < self.shard[1]
        return n_batches

    def _batches(self):
        starts = self._starts()
        ends = [*starts[1:], self.n_rows]
        if not self.shuffle:
            for start, end in zip(starts, ends, strict=True):
                yield slice(start, end)
            return
        order = torch.randperm(self.n_rows, generator=self.generator).to(self.device)
        for start, end in zip(starts, ends, strict=True):
            yield order[start:end]

    def __iter__(self):
        if self.shard is None:
            yield from self._batches()
            return
        rank, world_size = self.shard
        for rows in self._batches():
            if isinstance(rows, slice):
                size = rows.stop - rows.start
                rows = slice(rows.start + rank, rows.stop, world_size)
            else:
                size = len(rows)
                rows = rows[rank::world_size]
            if size >= world_size:
                yield rows


class TensorBatches:
    """Iterate over ``(X_batch, y_batch)`` slices of a :class:`TensorDictDataset`.

    The rows of each batch come from :class:`RowBatches` (same ``batch_size``,
    ``shuffle``, ``generator`` and ``shard``), on the dataset's device.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, shard=None,
                 min_rows=1):
        self.dataset = dataset
        self.rows = RowBatches(len(dataset), batch_size, shuffle, generator, dataset.device,
                               shard, min_rows)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        for rows in self.rows:
            yield self.dataset.batch(rows)


def image_batches(dataset, batch_size, shuffle=False, generator=None, num_workers=0,
                  worker_seed=0, pin_memory=False, shard=None, min_rows=1):
    """A torch DataLoader of whole batches, for datasets with images read from files.

    The batches hold the same rows as :class:`TensorBatches` would; with
    ``num_workers`` processes reading the next batches while the model trains on
    this one.
    """
    # The loader's own generator seeds its workers; without one it would draw from
    # torch's global generator.
    worker_generator = torch.Generator().manual_seed(worker_seed)
    return DataLoader(
        _BatchesOf(dataset), batch_size=None,
        sampler=RowBatches(len(dataset), batch_size, shuffle, generator, shard=shard,
                           min_rows=min_rows),
        num_workers=num_workers, persistent_workers=num_workers > 0,
        pin_memory=pin_memory, generator=worker_generator,
    )
