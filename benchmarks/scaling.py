"""Fit time and peak memory of I2M2 as the number of rows grows.

Synthetic tables of two modalities with 50 float64 columns each; every size is fitted
in a fresh subprocess so its peak resident memory is its own. Peak memory is read from
the kernel (``VmHWM``, reset just before ``fit``), so it covers the input, the
preprocessed copies and the tensors: everything ``fit`` holds at its worst moment.
Targets: time linear in rows (100k/10k ratio at most 11x); peak resident memory during
fit at most 3x the input's in-memory size plus 300 MB over the process before the
data existed. The peak of ``predict_proba`` on every row is measured the same way
(reset just before it, over the same baseline): it holds the input and the fitted
model, and prediction itself only one chunk of rows at a time.

Run ``python -m benchmarks.scaling``; writes ``benchmarks/results/scaling.md``.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from ._memory import MB, reset_peak, status

RESULTS = Path(__file__).parent / "results"


def measure_one(n_rows, max_epochs, batch_size):
    """Runs inside the subprocess: build the data, fit, report as JSON."""
    import numpy as np
    import pandas as pd

    from sk_i2m2 import I2M2Classifier
    from sk_i2m2.experts import MLPExpert

    baseline = status("VmRSS")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((n_rows, 100)),
                     columns=[f"a{i}" for i in range(50)] + [f"b{i}" for i in range(50)])
    y = (X["a0"] * X["b0"] > 0).to_numpy()
    input_bytes = int(X.memory_usage(deep=True).sum())
    modalities = [("a", MLPExpert(), [f"a{i}" for i in range(50)]),
                  ("b", MLPExpert(), [f"b{i}" for i in range(50)])]
    clf = I2M2Classifier(modalities, max_epochs=max_epochs, batch_size=batch_size,
                         early_stopping=False, n_bags=1, calibrate=None, random_state=0)
    reset_peak()  # peak RSS := current RSS
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    reset_peak()
    predict_start = status("VmRSS")  # the input, the model, what fit left allocated
    clf.predict_proba(X)
    return {"rows": n_rows, "fit_seconds": seconds, "input_mb": input_bytes / MB,
            "baseline_mb": baseline / MB, "peak_mb": peak / MB,
            "predict_start_mb": predict_start / MB, "predict_peak_mb": status("VmHWM") / MB,
            "train_accuracy": float(clf.score(X.iloc[:10_000], y[:10_000]))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+",
                        default=[10_000, 100_000, 300_000, 1_000_000])
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=RESULTS / "scaling.md")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one, args.max_epochs, args.batch_size)))
        return

    rows = []
    for n_rows in args.rows:
        command = [sys.executable, "-m", "benchmarks.scaling", "--one", str(n_rows),
                   "--max-epochs", str(args.max_epochs), "--batch-size", str(args.batch_size)]
        result = json.loads(subprocess.run(command, capture_output=True, text=True,
                                           check=True).stdout.strip().splitlines()[-1])
        result["fit_mb"] = result["peak_mb"] - result["baseline_mb"]
        result["budget_mb"] = 3 * result["input_mb"] + 300
        result["predict_mb"] = result["predict_peak_mb"] - result["baseline_mb"]
        result["predict_own_mb"] = result["predict_peak_mb"] - result["predict_start_mb"]
        rows.append(result)
        print(f"{n_rows:>9} rows: {result['fit_seconds']:.1f} s, input "
              f"{result['input_mb']:.0f} MB, peak over baseline {result['fit_mb']:.0f} MB "
              f"(budget {result['budget_mb']:.0f} MB), predict_proba peak over baseline "
              f"{result['predict_mb']:.0f} MB (+{result['predict_own_mb']:.0f} MB over its start)",
              file=sys.stderr)

    lines = [
        "# Scaling of I2M2Classifier.fit with the number of rows\n",
        f"Command: `python -m benchmarks.scaling --rows {' '.join(map(str, args.rows))} "
        f"--max-epochs {args.max_epochs} --batch-size {args.batch_size}`\n",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, CPU. Two modalities of 50 float64 columns, MLP experts and "
        f"the fusion expert at their defaults, {args.max_epochs} epochs, no early "
        "stopping; each size in a fresh process. Prediction is `predict_proba` on every "
        "row after the fit; its peak counts the input and whatever the process held "
        "when it began, the figure in parentheses only what prediction added.\n",
        "| rows | fit s | s per 1k rows | input MB | peak over baseline MB | budget MB "
        "(3x input + 300) | within budget | predict peak over baseline MB (over its start) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']:,} | {r['fit_seconds']:.1f} | "
            f"{1000 * r['fit_seconds'] / r['rows']:.3f} | {r['input_mb']:.0f} | "
            f"{r['fit_mb']:.0f} | {r['budget_mb']:.0f} | "
            f"{'yes' if r['fit_mb'] <= r['budget_mb'] else 'no'} | "
            f"{r['predict_mb']:.0f} (+{r['predict_own_mb']:.0f}) |")
    by_rows = {r["rows"]: r for r in rows}
    if 10_000 in by_rows and 100_000 in by_rows:
        ratio = by_rows[100_000]["fit_seconds"] / by_rows[10_000]["fit_seconds"]
        lines.append(f"\nTime ratio 100k / 10k rows: {ratio:.1f}x (target: at most 11x).")
    if 100_000 in by_rows and 1_000_000 in by_rows:
        ratio = by_rows[1_000_000]["fit_seconds"] / by_rows[100_000]["fit_seconds"]
        lines.append(f"Time ratio 1M / 100k rows: {ratio:.1f}x.")
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
