"""Time of a default fit on a CPU: where the 2D scans task spends it, before and after.

A default fit of the scans task (:func:`sk_i2m2.datasets.make_digit_scans`) trains
five members of a CNN image expert and a fusion expert holding its own CNN encoder;
convolutions and their pooling are most of the time (a profile of one fit: the
backward pass 42%, max-pooling 21%, convolutions 16% in the forward pass). On a CPU,
convolutions and pooling in torch's default NCHW layout are up to twice as slow as in
the channels-last (NHWC) layout the oneDNN kernels prefer; the image expert now
convolves channels last (``_ConvNet.channels_last``), which changes no weight, only
the order of the arithmetic.

Side by side in one run, one torch thread, for each task and draw: a default
``I2M2Classifier`` fitted with the previous layout (``before``) and with channels
last (``after``): fit seconds, epochs and held-out accuracy. Tasks: 300 scans of
32x32 (``benchmarks/scans.py``'s task, 100 held out) and 300 of 64x64 (75 held out:
225 training scans, the size a user reported at 101 s a fit). Writes
``benchmarks/results/cpu_time.md``::

    OMP_NUM_THREADS=1 python -m benchmarks.cpu_time --tasks "scans 32x32"
    OMP_NUM_THREADS=1 python -m benchmarks.cpu_time --tasks "scans 64x64" --seeds 1 --append
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_digit_scans
from sk_i2m2.experts import _ConvNet

from ._common import RESULTS, mean_se, write_text

TASKS = {"scans 32x32": (32, 100), "scans 64x64": (64, 75)}


def fit_once(size, held_out, seed, channels_last):
    folder = tempfile.mkdtemp(prefix="sk_i2m2_cpu_time_")
    X, y, modalities = make_digit_scans(folder, n_samples=300, size=size,
                                        random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=held_out, stratify=y, random_state=seed)
    _ConvNet.channels_last = channels_last
    try:
        model = I2M2Classifier(modalities, random_state=seed)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    finally:
        _ConvNet.channels_last = True
    return {"seconds": seconds, "epochs": len(model.history_),
            "accuracy": model.score(X_test, y_test)}


def main_job_seconds():
    """Wall time of ``python -m sk_i2m2`` (tables only: no convolution to speed up)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sk_i2m2"], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--append", action="store_true",
                        help="add the rows to the CSV in --output instead of replacing it")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report from the CSV in --output (the main "
                             "job is timed again)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.report_only:
        frame = pd.read_csv(args.output / "cpu_time.csv")
        args.seeds = frame["seed"].nunique()
    else:
        rows = []
        for task in args.tasks:
            size, held_out = TASKS[task]
            for seed in range(args.seeds):
                for variant, channels_last in (("before", False), ("after", True)):
                    row = fit_once(size, held_out, seed, channels_last)
                    rows.append({"task": task, "seed": seed, "variant": variant, **row})
                    print(rows[-1], flush=True)
        frame = pd.DataFrame(rows)
        if args.append:
            frame = pd.concat([pd.read_csv(args.output / "cpu_time.csv"), frame])
        frame.to_csv(args.output / "cpu_time.csv", index=False)
    frame["seconds_per_epoch"] = frame["seconds"] / frame["epochs"]
    main_job = main_job_seconds()
    lines = ["# Time of a default fit on a CPU, before and after channels-last convolutions",
             "", "Reproduce: ``OMP_NUM_THREADS=1 python -m benchmarks.cpu_time --tasks "
             "'scans 32x32'`` then ``... --tasks 'scans 64x64' --seeds 1 --append``. One torch "
             "thread, before and after side by side for each draw; mean ± standard error "
             "over draws (count per task below); `before`: the previous NCHW layout, "
             "`after`: channels last.",
             ""]
    table = []
    for (task, variant), part in frame.groupby(["task", "variant"], sort=False):
        table.append({"task": task, "variant": variant,
                      "fit seconds": mean_se(part["seconds"], 1),
                      "epochs (all members)": f"{part['epochs'].mean():.0f}",
                      "seconds per epoch": mean_se(part["seconds_per_epoch"], 3),
                      "held-out accuracy": mean_se(part["accuracy"], 3),
                      "draws": part["seed"].nunique()})
    lines += [pd.DataFrame(table).to_markdown(index=False), ""]
    for measure, label in (("seconds", "whole fit"), ("seconds_per_epoch", "time per epoch")):
        pivot = frame.pivot_table(index=["task", "seed"], columns="variant", values=measure)
        speedup = (pivot["before"] / pivot["after"]).groupby(level=0, sort=False)
        lines += [f"Speed-up of the {label} (before / after, mean over draws): " + "; ".join(
            f"{task} {np.mean(values):.2f}x" for task, values in speedup), ""]
    lines += ["The layout changes the rounding, so early stopping ends each member at "
              "another epoch: the time per epoch is the layout's own effect, the whole "
              "fit also that of where training stopped.", "",
        f"The main job (``python -m sk_i2m2``, tables only: no convolution, so the "
        f"layout does not apply) took {main_job:.0f} s here, one thread.", ""]
    write_text(args.output / "cpu_time.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
