"""Peak memory of fitting on histories of visits: 40 000 against 400 000 visit rows.

A column of histories (:class:`~sk_i2m2.experts.VisitsExpert`) is preprocessed into
one flat array of visits and padded into ``(patients, visits, channels)`` only for
the rows of a batch, so the memory a fit needs beyond the data should follow the
batch, not the cohort's longest history. Each size is fitted in a fresh process on
a synthetic cohort shaped like a laboratory follow-up: 17 000 patients with 1 to 46
visits each (400 000 visit rows), or 1 700 such patients (40 000 rows), six
measures a visit with 30% of values missing, and a static table of two columns.
Peak resident memory comes from the kernel (``VmHWM``, reset just before ``fit``)
and is compared with the memory just before ``fit``, when the long table and the
column of histories already exist. Target: the larger fit's peak within twice the
smaller's.

Run ``OMP_NUM_THREADS=1 python -m benchmarks.visits_memory``; writes
``benchmarks/results/visits_memory.md``.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ._memory import MB, reset_peak, status

RESULTS = Path(__file__).parent / "results"
MEASURES = 6
SIZES = {"40 000 visit rows": 1_700, "400 000 visit rows": 17_000}


def cohort(n_patients, seed=0):
    """``(X, y)``: a static table joined with a column of histories, and a label."""
    from sk_i2m2.longitudinal import group_visits

    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 47, n_patients)
    patient = np.repeat(np.arange(n_patients), counts)
    rank = np.arange(len(patient)) - np.repeat(np.cumsum(counts) - counts, counts)
    days = rank * 90.0 + rng.uniform(0, 60, len(patient))
    values = rng.normal(size=(len(patient), MEASURES)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    visits = pd.DataFrame(values, columns=[f"lab{k}" for k in range(MEASURES)])
    visits.insert(0, "day", days)
    visits.insert(0, "id", patient)
    X = pd.DataFrame({"age": rng.normal(size=n_patients), "sex": rng.integers(0, 2, n_patients)},
                     index=pd.Index(np.arange(n_patients), name="id"))
    X = X.join(group_visits(visits, "id", "day"))
    y = rng.integers(0, 2, n_patients)
    return X, y, len(visits)


def measure(n_patients):
    """Fit once in this process; the figures as a dict."""
    from sk_i2m2 import I2M2Classifier
    from sk_i2m2.experts import MLPExpert, VisitsExpert

    torch.set_num_threads(1)
    X, y, n_visits = cohort(n_patients)
    modalities = [("history", VisitsExpert(time="day"), ["visits"]),
                  ("static", MLPExpert(), ["age", "sex"])]
    # Memory does not grow with the epochs: two, on one product, keep the run short.
    model = I2M2Classifier(modalities, max_epochs=2, n_bags=1, calibrate=None,
                           random_state=0)
    before = status("VmRSS")
    reset_peak()
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    return {"patients": n_patients, "visit rows": n_visits, "before fit MB": before / MB,
            "peak MB": peak / MB, "added MB": (peak - before) / MB, "fit s": seconds,
            "longest history": int(X["visits"].map(len).max())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child)))
        return
    rows = {}
    for label, n_patients in SIZES.items():
        output = subprocess.run([sys.executable, "-m", "benchmarks.visits_memory",
                                 "--child", str(n_patients)], check=True,
                                capture_output=True, text=True).stdout
        rows[label] = json.loads(output.strip().splitlines()[-1])
        print(label, rows[label], flush=True)
    small, large = (rows[label] for label in SIZES)
    ratio = large["peak MB"] / small["peak MB"]
    lines = [
        "# Peak memory of fitting on histories of visits",
        "",
        "Each size fitted in a fresh process (`I2M2Classifier`, a `VisitsExpert` history "
        "and a static table, 2 epochs, one product). Peak resident memory (`VmHWM`) "
        "against the memory just before `fit`.",
        "",
        "| cohort | patients | visit rows | longest history | before fit (MB) | peak (MB) "
        "| added by fit (MB) | fit (s) |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {label} | {row['patients']} | {row['visit rows']} | {row['longest history']} "
          f"| {row['before fit MB']:.0f} | {row['peak MB']:.0f} | {row['added MB']:.0f} "
          f"| {row['fit s']:.1f} |" for label, row in rows.items()),
        "",
        f"Peak of the larger fit / peak of the smaller: **{ratio:.2f}** (target: at most "
        f"2): {'met' if ratio <= 2 else 'missed'}.",
        "",
        f"{platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, one thread. Command: `OMP_NUM_THREADS=1 python -m "
        "benchmarks.visits_memory`.",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "visits_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
