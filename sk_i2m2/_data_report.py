"""What a fit was fed, said: the data report, the warning of unusable files, the log lines.

A fit reads its image files once before training (:class:`~sk_i2m2.imaging._files.
ImageFiles`), into a :class:`~sk_i2m2.imaging._read_log.ReadLog`. From it and the
preprocessed modalities, :func:`data_report` counts, per modality, the rows that
hold it and those that lack it by reason, and describes the files read. The
estimator keeps it as ``data_report_``, prints it as the header of a ``verbose=1``
log, and raises one :class:`~sk_i2m2.DataWarning` per fit and per prediction call
when files were treated as missing (:func:`warn_unusable_files`).
"""

import warnings
from collections import Counter

import numpy as np
import pandas as pd

from ._input_profile import DataWarning
from ._lazy import LazyRows
from .imaging._read_log import NOT_FOUND, UNREADABLE

#: The report's columns, in order.
COLUMNS = ("modality", "expert", "rows", "present", "no value", NOT_FOUND, UNREADABLE,
           "formats", "shapes", "spacings (mm)")
#: Rows named in a warning, at most.
SHOWN_ROWS = 5
#: Distinct values named in a cell of the report, at most.
SHOWN_VALUES = 3


def lacking_rows(values):
    """``(n,)`` bool: the rows of a preprocessed modality that lack it (NaN rows)."""
    if isinstance(values, LazyRows):
        return values.missing
    flat = np.asarray(values).reshape(len(values), -1)
    return np.isnan(flat[:, 0]) if flat.shape[1] else np.zeros(len(flat), dtype=bool)


def _tally(values):
    """``"a: 150; b: 10; 2 more"`` of the most common values, "" for none."""
    counts = Counter(values).most_common()
    text = "; ".join(f"{value}: {count}" for value, count in counts[:SHOWN_VALUES])
    if len(counts) > SHOWN_VALUES:
        text += f"; {len(counts) - SHOWN_VALUES} more"
    return text


def _size(values):
    return "x".join(f"{value:g}" for value in values)


def data_report(splitter, modalities, log):
    """The fit's data report, as ``{column: [one value per modality]}``.

    Parameters
    ----------
    splitter : ModalitySplitter
        Fitted.
    modalities : dict of str to array
        The preprocessed modalities of the fit's rows.
    log : ReadLog
        What reading the fit's image files met.
    """
    report = {column: [] for column in COLUMNS}
    for name, expert, indices in splitter.modalities_:
        lacking = lacking_rows(modalities[name])
        reasons = Counter(reason for _, _, reason, _ in log.lacking(name))
        seen = log.files_seen(name)
        n_files = reasons[NOT_FOUND] + reasons[UNREADABLE]
        values = {
            "modality": name, "expert": type(expert).__name__, "rows": len(lacking),
            "present": int((~lacking).sum()),
            "no value": max(int(lacking.sum()) - n_files, 0),
            NOT_FOUND: reasons[NOT_FOUND], UNREADABLE: reasons[UNREADABLE],
            "formats": (_tally(f"{item.format} ({item.kind})" if item.kind else item.format
                               for item in seen)
                        if seen or name in log.rows else f"table of {len(indices)} columns"),
            "shapes": _tally(_size(item.shape) for item in seen),
            "spacings (mm)": _tally(_size(item.spacing) for item in seen
                                    if item.spacing is not None),
        }
        for column in COLUMNS:
            report[column].append(values[column])
    return report


def as_frame(report):
    """``data_report_``: the report as a DataFrame, one row per modality."""
    return pd.DataFrame(report, columns=list(COLUMNS)).set_index("modality")


def as_record(frame):
    """A ``data_report_`` DataFrame as the plain lists a model file holds."""
    table = frame.reset_index()
    return {column: [value.item() if hasattr(value, "item") else value
                     for value in table[column]] for column in COLUMNS}


def header_lines(report, estimator_name):
    """The ``verbose=1`` header: the rows, and each modality's presence and files."""
    frame = as_frame(report)
    n_rows = int(frame["rows"].iloc[0]) if len(frame) else 0
    lines = [f"{estimator_name}: {n_rows} rows, {len(frame)} modalities"]
    for name, row in frame.iterrows():
        text = f"  {name} ({row['expert']}): {row['present']} present"
        lacking = {reason: int(row[reason]) for reason in ("no value", NOT_FOUND, UNREADABLE)
                   if row[reason]}
        if lacking:
            text += (f", {sum(lacking.values())} lacking it ("
                     + ", ".join(f"{count} {reason}" for reason, count in lacking.items())
                     + ")")
        details = [row[column] for column in ("formats", "shapes") if row[column]]
        if row["spacings (mm)"]:
            details.append(f"spacings (mm) {row['spacings (mm)']}")
        if details:
            text += "; " + "; ".join(details)
        lines.append(text)
    return lines


def unusable_files_message(log, names, when, fix):
    """What a warning says of the files treated as missing, or None when there are none.

    ``names`` are the modalities in order; ``when`` is ``"fit"`` or ``"predict"``;
    ``fix`` says where to look further.
    """
    parts, shown = [], []
    for name in names:
        lacking = log.lacking(name)
        if not lacking:
            continue
        reasons = Counter(reason for _, _, reason, _ in lacking)
        given = len(log.rows.get(name, {}))
        parts.append(f"modality {name!r}: {len(lacking)} of {given} image file(s) ("
                     + ", ".join(f"{count} {reason}" for reason, count in reasons.items())
                     + ")")
        shown += [(name, label, path, detail) for label, path, _, detail in lacking]
    if not parts:
        return None
    first = "; ".join(f"{name!r} row {label!r}: {path!r} ({detail})"
                      for name, label, path, detail in shown[:SHOWN_ROWS])
    done = ("The model was fitted without the modality for these rows" if when == "fit"
            else "These rows were predicted without the modality")
    return (f"Files treated as missing (the loader's on_error='missing') at {when}: "
            f"{'; '.join(parts)}. {done}. First: {first}. {fix}").rstrip()


def warn_unusable_files(log, names, when, fix=""):
    """One :class:`DataWarning` of the files treated as missing, if any were."""
    message = unusable_files_message(log, names, when, fix)
    if message is not None:
        warnings.warn(DataWarning(message), stacklevel=3)


def closing_line(estimator_name, history, n_bags, temperature, expert_weights, seconds):
    """The ``verbose=1`` closing line: members, epochs, calibration, weights, time."""
    epochs = Counter(row.get("member", 0) for row in history)
    counts = sorted(epochs.values())
    if not counts:
        trained = "no network trained (scikit-learn experts only)"
    elif n_bags > 1:
        trained = (f"{n_bags} members, {counts[0]} to {counts[-1]} epochs "
                   f"(median {int(np.median(counts))})")
    else:
        trained = f"1 model, {counts[0]} epochs"
    calibration = ("no calibration" if temperature is None
                   else f"temperature {temperature:.3g}")
    weights = ", ".join(f"{name} {weight:.2f}" for name, weight in expert_weights.items())
    return (f"{estimator_name} fitted in {seconds:.1f} s: {trained}; {calibration}; "
            f"expert weights {weights}")
