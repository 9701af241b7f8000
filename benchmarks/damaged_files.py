"""A default fit with ``verbose=1`` on a volume study with damaged and missing files.

200 NIfTI volumes of 32x32x32 with a covariate (:func:`~sk_i2m2.datasets.
make_volume_scans`), of which two files are truncated to a third of their bytes
(a transfer cut short), one path names no file and one row has no path; the loader
treats unusable files as missing (``ImageLoader(on_error="missing")``). The fit is
at the package defaults with ``verbose=1``; the log (the data report as a header,
the members' lines, the closing line), the fit's and a prediction's
``DataWarning`` and ``data_report_`` are written to
``benchmarks/results/damaged_files.log``.

Run ``OMP_NUM_THREADS=1 python -m benchmarks.damaged_files``.
"""

import contextlib
import io
import os
import sys
import tempfile
import warnings

import torch

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_volume_scans
from sk_i2m2.experts import CNNExpert
from sk_i2m2.imaging import ImageLoader

from ._common import RESULTS, write_text


def damage(path):
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 3])


def main():
    torch.set_num_threads(1)
    folder = tempfile.mkdtemp()
    X, y, modalities = make_volume_scans(folder, n_samples=200, size=32, random_state=0)
    for row in (3, 7):
        damage(X["scan"].iloc[row])
    X.loc[X.index[11], "scan"] = os.path.join(folder, "scan_does_not_exist.nii.gz")
    X.loc[X.index[15], "scan"] = None
    modalities = [(name, CNNExpert(input_shape=expert.input_shape,
                                   loader=ImageLoader(on_error="missing"))
                   if name == "scan" else expert, columns)
                  for name, expert, columns in modalities]
    log = io.StringIO()
    with contextlib.redirect_stderr(log), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = I2M2Classifier(modalities, verbose=1, random_state=0).fit(X, y)
        model.predict_proba(X.iloc[:20])
    text = ["$ OMP_NUM_THREADS=1 python -m benchmarks.damaged_files", "",
            log.getvalue().rstrip(), ""]
    text += [f"{w.category.__name__}: {w.message}" for w in caught]
    text += ["", "data_report_:", model.data_report_.to_string()]
    write_text(RESULTS / "damaged_files.log", "\n".join(text) + "\n")
    print("\n".join(text), file=sys.stdout)


if __name__ == "__main__":
    main()
