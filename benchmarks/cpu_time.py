"""Time of a default fit and of its explanations on a CPU, before and after.

A default fit of an imaging study trains five cross-fitted members, each holding
two convolutional networks (the image expert and the fusion expert's own encoder).
Four changes cut its cost on a CPU, each switched off for ``before``:

* **bfloat16 training steps** for 2D images on CPUs that compute bfloat16 natively
  (``_ConvNet.bfloat16_training``): the convolutions of a training step run in
  bfloat16 autocast; weights, validation and predictions stay float32;
* **a one-cycle learning rate** for products with a 2D image expert at
  ``n_iter_no_change="auto"`` (``_plan.resolve_one_cycle``): 60 epochs on a cycle
  peaking at 10 times ``lr``, keeping the best epoch, instead of a constant rate
  until 30 epochs pass without improvement (100 to 170 epochs per member);
* **max-pooling before the ReLU** in every convolution block
  (``_ConvNet.pool_before_relu``): the same function, the ReLU on a quarter of the
  values (an eighth in 3D); the trained weights come out bit-identical;
* **integrated gradients that stop each row when it adds up**
  (``_attribution.FIRST_STEPS``): 8 intervals first, doubled for the rows whose
  attributions miss the change of the score by more than 0.02 (or 2%), up to 64; before,
  64 for every row.

Volumes keep float32 and the constant rate (neither paid off on them): of the
four, only the order of pooling and ReLU applies to them, and their ``before`` and
``after`` models are the same.

After an untimed warm-up fit in each variant (the process's first fit pays
one-time costs), side by side in one run, for each task and draw: a default ``I2M2Classifier``
fitted as ``before`` and as ``after`` (fit seconds, epochs of all members,
held-out accuracy and log loss), and on the 32x32 scans task each variant's
``explain(X, by="column")`` and ``attribution_maps(X, "scan")`` of 50 held-out rows
(seconds, and the largest completeness gap). Tasks: 300 digit scans of 32x32 (100
held out), 300 of 64x64 (75 held out: 225 training scans) and 300 NIfTI volumes of
32^3 with a covariate (100 held out: 200 training volumes). Writes
``benchmarks/results/cpu_time.md`` and ``cpu_time.csv``; run it alone::

    python -m benchmarks.cpu_time --threads 2 --seeds 3
    python -m benchmarks.cpu_time --threads 2 --seeds 5 --tasks "scans 32x32" --append

(``--append`` runs the named tasks again, keeping the CSV's other tasks.)
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier, _attribution, _plan
from sk_i2m2.datasets import make_digit_scans, make_volume_scans
from sk_i2m2.experts._neural import _ConvNet, cpu_has_bfloat16

from ._common import RESULTS, mean_se, write_text

#: name -> (dataset maker, its size argument, rows held out)
TASKS = {"scans 32x32": (make_digit_scans, 32, 100),
         "scans 64x64": (make_digit_scans, 64, 75),
         "volumes 32^3": (make_volume_scans, 32, 100)}
EXPLAINED_TASK, EXPLAINED_ROWS = "scans 32x32", 50


@contextlib.contextmanager
def variant(name):
    """The package as it was (``before``) or as it is (``after``)."""
    if name == "after":
        yield
        return
    first_steps = _attribution.FIRST_STEPS
    _ConvNet.bfloat16_training = _ConvNet.pool_before_relu = False
    _attribution.FIRST_STEPS = 10**9  # every row on all 64 intervals
    try:
        with mock.patch.object(_plan, "resolve_one_cycle", return_value=0):
            yield
    finally:
        _ConvNet.bfloat16_training = _ConvNet.pool_before_relu = True
        _attribution.FIRST_STEPS = first_steps


def completeness_gaps(table):
    """The largest gap between a row's attributions and its change of contribution:
    ``(absolute, as a share of the change where it exceeds 1)``, as the documentation
    bounds it (0.05 or 5%, whichever is larger)."""
    table = table[table["contribution"].notna()]
    by = table.groupby(["sample", "expert"], sort=False)
    change = by["contribution"].first() - by["baseline_contribution"].first()
    gap = (by["attribution"].sum() - change).abs()
    return float(gap.max()), float((gap / np.maximum(change.abs(), 1.0)).max())


def run_once(task, seed, name):
    maker, size, held_out = TASKS[task]
    folder = tempfile.mkdtemp(prefix="sk_i2m2_cpu_time_")
    X, y, modalities = maker(folder, n_samples=300, size=size, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=held_out, stratify=y, random_state=seed)
    row = {"task": task, "seed": seed, "variant": name}
    with variant(name):
        model = I2M2Classifier(modalities, random_state=seed)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        row["seconds"] = time.perf_counter() - start
        row["epochs"] = len(model.history_)
        row["accuracy"] = model.score(X_test, y_test)
        row["log_loss"] = log_loss(y_test, model.predict_proba(X_test))
        if task == EXPLAINED_TASK:
            rows = X_test.iloc[:EXPLAINED_ROWS]
            start = time.perf_counter()
            table = model.explain(rows, by="column")
            row["explain_seconds"] = time.perf_counter() - start
            row["completeness_gap"], row["completeness_share"] = completeness_gaps(table)
            start = time.perf_counter()
            model.attribution_maps(rows, "scan")
            row["maps_seconds"] = time.perf_counter() - start
    return row


def warm_up():
    """A small untimed fit in each variant: the process's first fit pays one-time
    costs (kernels compiled and cached) that would count against the first draw."""
    folder = tempfile.mkdtemp(prefix="sk_i2m2_cpu_time_")
    for maker, size in ((make_digit_scans, 16), (make_volume_scans, 16)):
        X, y, modalities = maker(folder + f"/{size}{maker.__name__}", n_samples=60,
                                 size=size, random_state=0)
        for name in ("before", "after"):
            with variant(name):
                I2M2Classifier(modalities, n_bags=2, max_epochs=2,
                               random_state=0).fit(X, y).explain(X.iloc[:4], by="column")


def main_job_seconds(threads):
    """Wall time of ``python -m sk_i2m2`` (the tables-only main job)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sk_i2m2"], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return time.perf_counter() - start


def report(frame, threads, main_job):
    counts = frame.groupby("task", sort=False)["seed"].nunique()
    most = int(counts.mode().iloc[0])
    commands = [f"``python -m benchmarks.cpu_time --threads {threads} --seeds {most}``"]
    for seeds, part in counts[counts != most].groupby(counts[counts != most]):
        tasks = " ".join(f'"{task}"' for task in part.index)
        commands.append(f"``python -m benchmarks.cpu_time --threads {threads} --seeds "
                        f"{seeds} --tasks {tasks} --append``")
    commands = " then ".join(commands)
    lines = [
        "# Time of a default fit and its explanations on a CPU, before and after", "",
        f"Reproduce: {commands}, alone on the machine, after an untimed warm-up fit "
        f"in each variant. {threads} torch threads; "
        "`before` and `after` side by side for each draw (which scans, which held out, "
        "the model's seed); mean ± standard error over draws. `before`: float32 "
        "training steps, a constant learning rate with early stopping's patience of "
        "30 epochs, the ReLU before max-pooling, integrated gradients on 64 intervals "
        "for every row. `after`: bfloat16 training steps for 2D images"
        + ("" if cpu_has_bfloat16() else " (not on this CPU: it lacks native bfloat16)")
        + ", a one-cycle learning rate over 60 epochs for 2D images, max-pooling "
        "before the ReLU (the same function, fewer values), integrated gradients "
        "refined only for the rows that need it. Volumes get only the pooling order, "
        "which leaves their models bit-identical.", ""]
    table = []
    for (task, name), part in frame.groupby(["task", "variant"], sort=False):
        table.append({"task": task, "variant": name,
                      "fit seconds": mean_se(part["seconds"], 1),
                      "epochs (all members)": f"{part['epochs'].mean():.0f}",
                      "held-out accuracy": mean_se(part["accuracy"], 3),
                      "held-out log loss": mean_se(part["log_loss"], 3),
                      "draws": part["seed"].nunique()})
    lines += [pd.DataFrame(table).to_markdown(index=False), ""]
    lines += ["Paired over draws (after - before, and before / after):", ""]
    paired = []
    for task, part in frame.groupby("task", sort=False):
        pivot = {measure: part.pivot(index="seed", columns="variant", values=measure)
                 for measure in ("seconds", "accuracy", "log_loss")}
        speedup = (pivot["seconds"]["before"] / pivot["seconds"]["after"]).mean()
        paired.append({
            "task": task,
            "fit speed-up": f"{speedup:.2f}x",
            "accuracy, after - before": mean_se(
                pivot["accuracy"]["after"] - pivot["accuracy"]["before"], 3, sign="+"),
            "log loss, after - before": mean_se(
                pivot["log_loss"]["after"] - pivot["log_loss"]["before"], 3, sign="+")})
    lines += [pd.DataFrame(paired).to_markdown(index=False), ""]
    explained = frame[frame["task"] == EXPLAINED_TASK]
    if len(explained):
        lines += [f"Explanations of {EXPLAINED_ROWS} held-out rows of the {EXPLAINED_TASK} "
                  "task, by each variant's own fitted model (seconds; the largest gap "
                  "between a row's attributions and its change of contribution, over "
                  "draws, absolute and as a share of the change where it exceeds 1: "
                  "the documentation bounds it by 0.05 or 5%, whichever is larger):", ""]
        rows = []
        for name, part in explained.groupby("variant", sort=False):
            rows.append({"variant": name,
                         "explain(by='column') seconds": mean_se(part["explain_seconds"], 2),
                         "attribution_maps seconds": mean_se(part["maps_seconds"], 2),
                         "largest completeness gap": f"{part['completeness_gap'].max():.4f}",
                         "as a share": f"{part['completeness_share'].max():.4f}"})
        lines += [pd.DataFrame(rows).to_markdown(index=False), ""]
        for measure, label in (("explain_seconds", "explain"), ("maps_seconds",
                                                                "attribution_maps")):
            pivot = explained.pivot(index="seed", columns="variant", values=measure)
            lines.append(f"Speed-up of {label} (before / after, mean over draws): "
                         f"{(pivot['before'] / pivot['after']).mean():.2f}x")
        lines.append("")
    lines += [f"The main job (``python -m sk_i2m2``, tables only: none of the four "
              f"changes applies to it) took {main_job:.0f} s after the fits, "
              f"{threads} threads; `python -m benchmarks.same_predictions` gives "
              "bit-identical predictions for every tables configuration and for NIfTI "
              "volumes before and after.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--append", action="store_true",
                        help="keep the CSV's rows of the other tasks (a task is run again)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the report from the CSV in --output")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.report_only:
        frame = pd.read_csv(args.output / "cpu_time.csv")
    else:
        kept = pd.DataFrame()
        if args.append:
            kept = pd.read_csv(args.output / "cpu_time.csv")
            kept = kept[~kept["task"].isin(args.tasks)]
        warm_up()
        rows = []
        for seed in range(args.seeds):
            for task in args.tasks:
                for name in ("before", "after"):
                    rows.append(run_once(task, seed, name))
                    print(rows[-1], flush=True)
                    frame = pd.concat([kept, pd.DataFrame(rows)], ignore_index=True)
                    frame.to_csv(args.output / "cpu_time.csv", index=False)
        order = {task: k for k, task in enumerate(TASKS)}
        frame = frame.sort_values(["task", "seed"], key=lambda column: column.map(
            order) if column.name == "task" else column, kind="stable")
    text = report(frame, args.threads, main_job_seconds(args.threads))
    write_text(args.output / "cpu_time.md", text)
    print(text)


if __name__ == "__main__":
    main()
