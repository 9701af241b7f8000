"""A modality whose rows are image files, read only when a batch needs them.

:class:`ImageFiles` is the preprocessor of such a modality: it checks a column of
paths and transforms it into :class:`LazyImages`. That array stands where a
preprocessed modality would be an array of shape ``(n, C, H, W)``, or ``(n, C, D,
H, W)`` for volumes: it has that ``shape``, selecting rows (``images[rows]``) gives
another ``LazyImages`` without reading anything, and :meth:`LazyImages.load` reads
the rows a batch needs. The training loop reads it batch by batch (in DataLoader
workers when ``num_workers > 0``), so memory follows the batch, not the cohort.
"""

import contextlib
import math
import os
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._input_profile import DataWarning
from .._lazy import LazyRows, one_column
from ._loader import ChannelConversionWarning, ImageLoader, UnsupportedImageType
from ._read_log import NOT_FOUND, UNREADABLE, active_log


def image_paths(column, modality, loader, labels, log=None, register=True):
    """Check a column of paths: which rows have an image, and where.

    Parameters
    ----------
    column : array-like of shape (n_samples,)
        Paths (str or path-like) of image files, or of folders of DICOM slices;
        None, NaN or "" where a row has no image.
    modality : str
        For error messages.
    loader : ImageLoader
        Resolves relative paths and says what a file that does not exist means.
    labels : array-like of shape (n_samples,)
        Row labels for error messages (the DataFrame's index).
    log : ReadLog or None, default=None
        Where files not found (with ``on_error="missing"``) are recorded.
    register : bool, default=True
        Record in ``log`` which rows were given which path (the rows of ``X`` as the
        caller gave it, not a subset: for the data report).

    Returns
    -------
    paths : ndarray of object
        The resolved path of each row with an image, None elsewhere.
    missing : ndarray of bool
        Rows without an image (and, with ``on_error="missing"``, rows whose file
        does not exist).
    """
    values = np.asarray(column, dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool) | (values == "")
    paths = np.full(len(values), None, dtype=object)
    not_found = []
    for row in np.flatnonzero(~missing):
        value = values[row]
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(
                f"Modality {modality!r}, row {labels[row]!r}: expected the path of an "
                f"image file, got {type(value).__name__} {value!r}. Images given as "
                "arrays need an expert without a loader (loader=None)."
            )
        paths[row] = loader.resolve(value)
        # A DICOM series is a folder of slice files.
        if not (os.path.isfile(paths[row]) or os.path.isdir(paths[row])):
            not_found.append(row)
    if not_found and loader.on_error == "raise":
        first = ", ".join(f"row {labels[row]!r}: {paths[row]!r}" for row in not_found[:5])
        raise FileNotFoundError(
            f"Modality {modality!r}: {len(not_found)} image file(s) not found ({first}). "
            "Fix the paths (relative ones are read from the loader's root, "
            f"{loader.root or 'the current directory'!r}), or set the loader's "
            "on_error='missing' to treat those rows as lacking this modality."
        )
    if log is not None:
        given = np.flatnonzero(~missing)
        if register:
            log.register(modality, labels[given], paths[given])
        for row in not_found:
            log.fail(modality, paths[row], NOT_FOUND, "no such file or folder")
    missing[not_found] = True
    paths[not_found] = None
    return paths, missing


class ImageCache:
    """Images already read, by path, up to ``max_bytes``: first come, first kept.

    One set of rows (the training rows of a fit) and every batch sliced from it
    share one, so after the first epoch a small cohort comes from memory.
    """

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.images = {}
        self.n_bytes = 0

    def get(self, path):
        return self.images.get(path)

    def put(self, path, image):
        if path not in self.images and self.n_bytes + image.nbytes <= self.max_bytes:
            self.images[path] = image
            self.n_bytes += image.nbytes


class LazyImages(LazyRows):
    """``(n, *input_shape)`` float32 images, read from their files on demand.

    Parameters
    ----------
    paths : ndarray of object
        One resolved path per row; None for rows without the image.
    labels : ndarray
        Row labels, for error messages.
    loader : ImageLoader
    input_shape : tuple of int
        ``(channels, height, width)``, or ``(channels, depth, height, width)`` for
        volumes.
    modality : str
        For error messages.
    standardise : tuple of (ndarray, ndarray) or None, default=None
        ``(mean, scale)``, one value per channel: each image read becomes
        ``(image - mean) / scale`` channel by channel (the statistics
        :class:`ImageFiles` fitted for ``intensity="dataset"``). None keeps the
        images as the loader gives them.
    cache : ImageCache or None, default=None
        Where images already read are kept; slices share their parent's.
    log : ReadLog or None, default=None
        Where files that cannot be read (with ``on_error="missing"``) are recorded,
        and which files are already known not to be readable: their rows lack the
        modality without another attempt. Slices share their parent's.
    describe : bool, default=False
        Record in ``log`` what each file read holds (format, shape, spacing,
        typical values): the reading pass of :meth:`ImageFiles.fit`.
    """

    def __init__(self, paths, labels, loader, input_shape, modality, standardise=None,
                 cache=None, log=None, describe=False):
        self.paths = paths
        self.labels = labels
        self.loader = loader
        self.input_shape = tuple(int(size) for size in input_shape)
        self.modality = modality
        self.standardise = standardise
        self.cache = cache
        self.log = log
        self.describe = describe

    def _known_unusable(self, path):
        return self.log is not None and self.log.failure(self.modality, path) is not None

    @property
    def shape(self):
        return (len(self.paths), *self.input_shape)

    @property
    def missing(self):
        """``(n,)`` bool: the rows without an image, or whose file is known unreadable."""
        return np.asarray([path is None or self._known_unusable(path)
                           for path in self.paths], dtype=bool)

    def __len__(self):
        return len(self.paths)

    def __repr__(self):
        return f"LazyImages(modality={self.modality!r}, shape={self.shape})"

    def __getitem__(self, rows):
        """One row's image as an array; any other selection stays lazy."""
        if isinstance(rows, (int, np.integer)):
            return self.load([rows])[0]
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        return LazyImages(self.paths[rows], self.labels[rows], self.loader,
                          self.input_shape, self.modality, self.standardise, self.cache,
                          self.log, self.describe)

    def load(self, rows=None):
        """Read ``rows`` (all by default) into a float32 array; missing rows are NaN.

        A file that cannot be read raises an error naming the modality, the row and
        the path, or, with the loader's ``on_error="missing"``, gives a NaN row: that
        row then lacks this modality. With ``standardise``, each image is standardised
        per channel after it is read.
        """
        mean = scale = None
        if self.standardise is not None:
            # (C,) -> (C, 1, 1) or (C, 1, 1, 1): one statistic per channel, broadcast
            # over the pixels or voxels.
            axes = (-1,) + (1,) * (len(self.input_shape) - 1)
            mean, scale = (np.asarray(value, dtype=np.float64).reshape(axes)
                           for value in self.standardise)
        index = np.arange(len(self.paths)) if rows is None else np.asarray(rows)
        index = np.arange(len(self.paths))[index] if index.dtype == bool else index
        images = np.full((len(index), *self.input_shape), np.nan, dtype=np.float32)
        with _channel_conversions(self.modality):
            self._read_into(images, index, mean, scale)
        return images

    def _read_into(self, images, index, mean, scale):
        """Read the images of rows ``index`` into ``images``, standardised, cached."""
        for position, row in enumerate(index):
            path = self.paths[row]
            if path is None or self._known_unusable(path):
                continue
            cached = None if self.cache is None else self.cache.get(path)
            if cached is not None:
                images[position] = cached
                continue
            try:
                image, seen = self.loader._load(path, self.input_shape, self.describe)
            except Exception as error:  # any reader's failure, named for the user
                if self.loader.on_error == "missing":
                    if self.log is not None:
                        reason = str(error).rstrip(". ") or type(error).__name__
                        self.log.fail(self.modality, path, UNREADABLE,
                                      f"{type(error).__name__}: {reason}")
                    continue
                raise ValueError(_unreadable(self.modality, self.labels[row], path, error)
                                 ) from error
            if seen is not None:
                self.log.saw(self.modality, path, seen)
            if self.standardise is not None:
                image = (image - mean) / scale  # in float64, then stored as float32
            images[position] = image
            if self.cache is not None:
                self.cache.put(path, images[position].copy())


@contextlib.contextmanager
def _channel_conversions(modality):
    """Say once, naming the modality, how images of other channel counts were converted.

    The readers warn per image (:class:`~sk_i2m2.imaging.ChannelConversionWarning`);
    a batch of images gives one warning per kind of conversion, and the same text
    each batch, which Python shows once.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChannelConversionWarning)
        yield
    conversions = []
    for warning in caught:
        if issubclass(warning.category, ChannelConversionWarning):
            if str(warning.message) not in conversions:
                conversions.append(str(warning.message))
        else:  # not ours: as it was
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    for conversion in conversions:
        warnings.warn(ChannelConversionWarning(f"Modality {modality!r}: {conversion}."),
                      stacklevel=4)


def _unreadable(modality, label, path, error):
    """Why an image cannot be read, and what to do: a file type no reader reads is not a
    damaged file."""
    where = f"Modality {modality!r}, row {label!r}: "
    reason = str(error).rstrip(". ") or type(error).__name__
    missing = ("set the loader's on_error='missing' to treat unreadable images as "
               "missing.")
    if isinstance(error, UnsupportedImageType):
        return f"{where}cannot read image {path!r}, {reason}; or {missing}"
    return (f"{where}cannot read image {path!r} ({type(error).__name__}: {reason}). "
            f"The file may be damaged, or not what its name says: fix or remove it, or "
            f"{missing}")


class ChannelStatistics:
    """Per-channel mean and scale over every pixel of images added one at a time.

    Each image is merged into running float64 statistics with Chan et al.'s
    pairwise update of the count, the mean and the sum of squared deviations:
    unlike a running sum of squares, it loses no precision when the mean is large
    against the spread (CT in Hounsfield units).
    """

    def __init__(self, n_channels):
        self.count = 0
        self.mean, self.squares = np.zeros(n_channels), np.zeros(n_channels)

    def add(self, image):
        pixels = image.reshape(len(self.mean), -1).astype(np.float64)
        n = pixels.shape[1]
        image_mean = pixels.mean(axis=1)
        image_squares = ((pixels - image_mean[:, None]) ** 2).sum(axis=1)
        delta = image_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * (n / total)
        self.squares = self.squares + image_squares + delta**2 * (self.count * n / total)
        self.count = total

    def result(self):
        """``(mean, scale)``, one per channel; ``scale`` is the standard deviation
        (``ddof=0``, as :class:`~sk_i2m2.experts.ChannelScaler`), 1 where it is 0."""
        std = (np.sqrt(self.squares / self.count) if self.count
               else np.zeros_like(self.mean))
        return self.mean, np.where(std > 0, std, 1.0)


#: A column's images are of different kinds when their typical lowest or highest
#: values differ by more than this share of the values' whole span (CT from -1000
#: HU beside MR from 0: about 40%; two MR sources of like intensities: a few %).
RANGE_SHIFT = 0.25
#: Rows named for each kind in the warning.
SHOWN_ROWS = 3


def _acquisition_kinds(seen_by_row):
    """``{kind: [(label, FileSeen)]}`` of the images read, by what sets their units."""
    kinds = {}
    for label, seen in seen_by_row:
        kinds.setdefault(seen.acquisition, []).append((label, seen))
    return kinds


def _typical_range(rows):
    return (float(np.median([seen.low for _, seen in rows])),
            float(np.median([seen.high for _, seen in rows])))


def mixed_kinds_message(modality, seen_by_row, compare_ranges=True):
    """What a warning says of a column whose images are of different kinds, or None.

    Different kinds: DICOM ``Modality`` values that differ (CT beside MR), or, with
    ``compare_ranges``, formats whose typical values lie in different ranges (CT in
    Hounsfield units beside NIfTI intensities).
    """
    kinds = _acquisition_kinds(seen_by_row)
    if len(kinds) < 2:
        return None
    modalities = {seen.kind for rows in kinds.values() for _, seen in rows if seen.kind}
    ranges = {kind: _typical_range(rows) for kind, rows in kinds.items()}
    lows, highs = zip(*ranges.values(), strict=True)
    span = max(highs) - min(lows)
    shifted = compare_ranges and span > 0 and (
        max(lows) - min(lows) > RANGE_SHIFT * span
        or max(highs) - min(highs) > RANGE_SHIFT * span)
    if len(modalities) < 2 and not shifted:
        return None
    described = "; ".join(
        f"{kind} ({len(rows)} image{'s' * (len(rows) != 1)}, e.g. rows "
        f"{', '.join(repr(label) for label, _ in rows[:SHOWN_ROWS])}; values typically "
        f"{ranges[kind][0]:.4g} to {ranges[kind][1]:.4g})"
        for kind, rows in sorted(kinds.items(), key=lambda item: -len(item[1])))
    return (
        f"Modality {modality!r} mixes images of different kinds: {described}. One "
        "network input then mixes units (a value means one tissue in one kind and "
        "another in the other). Put each kind in its own modality (a column of paths "
        "each), or scale each image on its own (ImageLoader(intensity='zscore')) or "
        "to one window (ImageLoader(window=...)). See the user guide, 'What the model "
        "was fed'."
    )


def as_image_loader(loader):
    """An expert's ``loader`` parameter as an :class:`ImageLoader` (or None)."""
    if loader is None:
        return None
    if isinstance(loader, str):  # "auto", the only string the experts accept
        return ImageLoader()
    if isinstance(loader, ImageLoader):
        return loader
    return ImageLoader(reader=loader)  # a function reading one path into an array


class ImageFiles(TransformerMixin, BaseEstimator):
    """The preprocessor of a modality read from image files: paths in, lazy images out.

    An image expert given a ``loader`` (:class:`~sk_i2m2.experts.CNNExpert`) makes one
    for its modality, so the splitter treats images from files like any other
    modality: ``fit`` checks the column of paths and reads every training image once,
    one at a time (a wrong reader or shape, or a damaged file, fails before any
    training, or with ``on_error="missing"`` is counted in the estimator's
    ``data_report_``), ``transform`` returns :class:`LazyImages`.

    With the loader's ``intensity="dataset"`` (the default), that pass also fits
    one mean and one standard deviation per channel over all the pixels of the
    images; the images ``transform`` gives are
    standardised with them, at ``fit`` and at ``predict`` alike, so absolute
    intensity (e.g. Hounsfield units) keeps its meaning across images.

    Parameters
    ----------
    loader : ImageLoader
        Reads, shapes and scales one image.
    input_shape : tuple of int
        ``(channels, height, width)`` of one image, or ``(channels, depth, height,
        width)`` of one volume.
    modality : str or None, default=None
        The modality's name, for error messages.

    Attributes
    ----------
    channel_mean_ : ndarray of shape (channels,), float64
        With ``intensity="dataset"`` only: the mean of each channel over every pixel
        of the training images that could be read, in the loader's native units.
    channel_scale_ : ndarray of shape (channels,), float64
        With ``intensity="dataset"`` only: the standard deviation of each channel over
        the same pixels (``ddof=0``), 1 where it is 0.
    n_features_in_ : int
        1: the column of paths.
    label_ : str
        The path column's name, for feature names.
    """

    def __init__(self, loader, input_shape, modality=None):
        self.loader = loader
        self.input_shape = input_shape
        self.modality = modality

    def _paths(self, X):
        """The column of paths and the row labels, checked: one column."""
        return one_column(X, self.modality, "an expert with a loader reads one column of "
                          "image paths", "Select the path column alone, or set "
                          "loader=None for pixel columns.")

    def _standardises(self):
        return getattr(self.loader, "intensity", None) == "dataset"

    def _images(self, X, standardise=None, cache=False, describe=False):
        column, labels = self._paths(X)
        log = active_log()
        # fit's reading pass sees the rows that hold the modality, a subset of X: the
        # rows of X are registered when X itself is transformed.
        paths, _ = image_paths(column, self.modality, self.loader, labels, log,
                               register=not describe)
        # Transformed rows are read once per epoch: keep them (fit's pass reads once).
        cache_bytes = int(self.loader.cache_mb * 2**20) if cache else 0
        return LazyImages(paths, labels, self.loader, self.input_shape, self.modality,
                          standardise, ImageCache(cache_bytes) if cache_bytes else None,
                          log, describe)

    def fit(self, X, y=None):
        """Check the paths and read every image once.

        Reading every training image here makes a wrong reader, shape or damaged
        file fail (or, with ``on_error="missing"``, be counted as missing) before
        any training; with ``intensity="dataset"`` the same pass fits the
        intensity statistics. A column whose images are of different kinds (CT
        beside MR, or values in different ranges) gets a
        :class:`~sk_i2m2.DataWarning`.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, 1)
            The image paths of the rows that hold the modality.
        y : ignored

        Returns
        -------
        self
        """
        self.loader._validate_params()
        self.loader._check_input_shape(self.input_shape)
        images = self._images(X, describe=True)
        present = np.flatnonzero(~images.missing)
        if not len(present):
            raise ValueError(f"Modality {self.modality!r} has no image in any row; give "
                             "it image paths or remove it.")
        for name in ("channel_mean_", "channel_scale_"):  # from an earlier fit
            self.__dict__.pop(name, None)
        # The statistics only where they are kept: the pass reads every image anyway.
        statistics = ChannelStatistics(self.input_shape[0]) if self._standardises() else None
        seen = []
        for row in present:  # one image in memory at a time
            image = images.load([row])[0]
            if np.isnan(image).any():  # unreadable, with on_error="missing"
                continue
            if statistics is not None:
                statistics.add(image)
            seen.append((images.labels[row], images.log.seen[(self.modality,
                                                               images.paths[row])]))
        if not seen:
            raise ValueError(
                f"Modality {self.modality!r}: none of its {len(present)} image file(s) "
                "could be read; see the loader's on_error and the estimator's "
                "data_report_."
            )
        if statistics is not None:
            self.channel_mean_, self.channel_scale_ = statistics.result()
        per_image = self.loader.window is not None or self.loader.intensity in (
            "zscore", "minmax")
        message = mixed_kinds_message(self.modality, seen, compare_ranges=not per_image)
        if message is not None:
            warnings.warn(DataWarning(message), stacklevel=2)
        self.n_features_in_ = 1
        self.label_ = (str(X.columns[0]) if hasattr(X, "columns") else "x0")
        return self

    def transform(self, X):
        """The images of ``X``'s paths, read when indexed.

        Returns
        -------
        LazyImages of shape ``(n_samples, *input_shape)``; rows without an image
        (an empty path, or a file not found with ``on_error="missing"``) are missing.
        """
        check_is_fitted(self)
        if not self._standardises():
            return self._images(X, cache=True)
        if not hasattr(self, "channel_mean_"):
            raise ValueError(
                f"Modality {self.modality!r}: the loader's intensity was set to 'dataset' "
                "after fit, which fitted no intensity statistics; fit again."
            )
        return self._images(X, (self.channel_mean_, self.channel_scale_), cache=True)

    def get_feature_names_out(self, input_features=None):
        """``<path column>[i]`` for every value of a flattened image."""
        check_is_fitted(self)
        label = self.label_ if input_features is None else str(input_features[0])
        return np.asarray([f"{label}[{i}]" for i in range(math.prod(self.input_shape))],
                          dtype=object)
