"""What reading a modality's image files met, for the data report and its warnings.

With ``on_error="missing"``, a path to nothing or a file that cannot be read makes
its row lack the modality rather than stop the fit. That must not pass unsaid: a
study's methods section reports how many scans were unusable. A :class:`ReadLog`
records, per modality, the rows given a path, the files that could not be used
and why, and a description of each file read at ``fit`` (format, shape, spacing,
typical values). The estimator opens one per ``fit`` and per prediction call
(:func:`reading_into`); whatever reads files while it is open writes into it.
"""

import contextlib
import contextvars
from typing import NamedTuple

#: Why a row given a path lacks its image.
NOT_FOUND = "file not found"
UNREADABLE = "unreadable"


class FileSeen(NamedTuple):
    """One image file as it was read, before it was shaped to ``input_shape``.

    Attributes
    ----------
    format : str
        ``"NIfTI"``, ``"DICOM"``, ``"DICOM series"``, ``"NumPy"``, ``"PNG"``, ...
    kind : str or None
        The acquisition's kind where the file says it: DICOM's ``Modality``
        (``"CT"``, ``"MR"``, ...).
    shape : tuple of int
        The spatial shape as read.
    spacing : tuple of float or None
        The voxel or pixel spacing in mm, where the file says it.
    low, high : float
        The 1st and 99th percentiles of its values, in the reader's units.
    """

    format: str
    kind: str | None
    shape: tuple
    spacing: tuple | None
    low: float
    high: float

    @property
    def acquisition(self):
        """What sets the meaning of its values: the DICOM modality, else the format."""
        return self.kind or self.format


class ReadLog:
    """The files a fit or a prediction call read, by modality.

    Attributes
    ----------
    rows : dict of str to dict
        ``{modality: {row label: path}}``: the rows given a path (resolved).
    failed : dict of (str, str) to (str, str)
        ``{(modality, path): (reason, detail)}``: the files that could not be used,
        ``reason`` :data:`NOT_FOUND` or :data:`UNREADABLE`.
    seen : dict of (str, str) to FileSeen
        ``{(modality, path): FileSeen}`` of the files read at ``fit``.
    """

    def __init__(self):
        self.rows = {}
        self.failed = {}
        self.seen = {}

    def register(self, modality, labels, paths):
        """Rows ``labels`` of ``modality`` were given ``paths``."""
        rows = self.rows.setdefault(modality, {})
        for label, path in zip(labels, paths, strict=True):
            rows[label] = path

    def fail(self, modality, path, reason, detail):
        """``path`` of ``modality`` could not be used, for ``reason``."""
        self.failed.setdefault((modality, path), (reason, detail))

    def failure(self, modality, path):
        """``(reason, detail)`` of a file that could not be used, or None."""
        return self.failed.get((modality, path))

    def saw(self, modality, path, seen):
        self.seen[(modality, path)] = seen

    def lacking(self, modality):
        """``[(row label, path, reason, detail)]``: the rows whose file could not be used."""
        lacking = []
        for label, path in self.rows.get(modality, {}).items():
            failure = self.failure(modality, path)
            if failure is not None:
                lacking.append((label, path, *failure))
        return lacking

    def files_seen(self, modality):
        """The :class:`FileSeen` of every file of ``modality`` read at ``fit``."""
        return [seen for (name, _), seen in self.seen.items() if name == modality]


_ACTIVE = contextvars.ContextVar("sk_i2m2_read_log", default=None)


@contextlib.contextmanager
def reading_into(log):
    """Within this block, image files are read into ``log`` (see :func:`active_log`)."""
    token = _ACTIVE.set(log)
    try:
        yield log
    finally:
        _ACTIVE.reset(token)


def active_log():
    """The :class:`ReadLog` of the fit or prediction call in progress, or a new one."""
    log = _ACTIVE.get()
    return ReadLog() if log is None else log
