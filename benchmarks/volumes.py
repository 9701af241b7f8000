"""Volumes from NIfTI files: accuracy and fit time at defaults, and the 3D choices.

The task (:func:`sk_i2m2.datasets.make_volume_scans`): 300 volumes of 32^3 voxels
written as NIfTI files (reoriented on reading), each with one lesion, large or
small, and a table of age and sex; 100 held out, stratified. On each of ``--seeds``
draws (which volumes, which held out, the model's seed), side by side in one run:

* ``defaults``: ``I2M2Classifier(make_volume_scans(...)[2])`` as it comes: the 3D
  ``CNNExpert`` at ``channels="auto"`` (8, 16) and ``stride="auto"`` (2);
* ``channels (16, 32)``, ``channels (8, 16, 32)``: wider or deeper, same stride;
* ``stride 1``: the defaults' widths with a first convolution of stride 1 (ten times
  the cost; ``--methods`` it in only when there is time);
* ``augment light``, ``augment flips``: the defaults with training-time
  augmentation (:mod:`sk_i2m2.augment`);
* ``inter task``: the defaults on ``dependency="inter"`` (the lesion's meaning
  depends on age), with ``intra only`` and ``inter only`` beside it.

Before the fits, ``--cost`` times one training step of the 3D expert's network
alone for each width and stride (milliseconds per volume, forward and backward, on
batches of 64 volumes of 32^3): what the choice of ``stride="auto"`` rests on.

Target: held-out accuracy >= 0.9 at defaults, fit under 3 minutes on 2 CPU cores.
Writes ``benchmarks/results/volumes.md`` and ``volumes.csv``. Time is wall-clock fit
time with ``--threads`` torch threads (default 2, the whole machine): run it alone.
``python -m benchmarks.volumes --help``.
"""

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_volume_scans

RESULTS = Path(__file__).parent / "results"
METHODS = ["defaults", "channels (16, 32)", "channels (8, 16, 32)", "augment light",
           "augment flips", "inter task", "inter task: intra only",
           "inter task: inter only"]
SLOW = ["stride 1"]


def candidates(modalities, seed):
    """``{name: (unfitted model, task)}``; every variant starts from the defaults."""
    (scan, expert, columns), clinical = modalities

    def with_scan(**expert_params):
        return [(scan, clone(expert).set_params(**expert_params), columns), clinical]

    return {
        "defaults": (I2M2Classifier(modalities, random_state=seed), "intra"),
        "channels (16, 32)": (I2M2Classifier(with_scan(channels=(16, 32)),
                                             random_state=seed), "intra"),
        "channels (8, 16, 32)": (I2M2Classifier(with_scan(channels=(8, 16, 32)),
                                                random_state=seed), "intra"),
        "stride 1": (I2M2Classifier(with_scan(stride=1), random_state=seed), "intra"),
        "augment light": (I2M2Classifier(with_scan(augment="light"), random_state=seed),
                          "intra"),
        "augment flips": (I2M2Classifier(with_scan(augment="flips"), random_state=seed),
                          "intra"),
        "inter task": (I2M2Classifier(modalities, random_state=seed), "inter"),
        "inter task: intra only": (I2M2Classifier(modalities, dependencies="intra",
                                                  random_state=seed), "inter"),
        "inter task: inter only": (I2M2Classifier(modalities, dependencies="inter",
                                                  random_state=seed), "inter"),
    }


#: (channels, stride) of the 3D network whose training step ``--cost`` times.
COST_ARCHITECTURES = [((8, 16), 1), ((8, 16), 2), ((16, 32), 2), ((8, 16, 32), 2),
                      ((16, 32), 1)]


def training_cost(size, repeats=5, batch_size=64):
    """Milliseconds per volume of one training step (forward, backward, AdamW)."""
    from sk_i2m2.experts import CNNExpert

    shape = (1, size, size, size)
    volumes = torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(0))
    rows = []
    for channels, stride in COST_ARCHITECTURES:
        network = CNNExpert(input_shape=shape, channels=channels, stride=stride).build(shape, 2)
        optimizer = torch.optim.AdamW(network.parameters())
        times = []
        for repeat in range(repeats + 1):
            start = time.perf_counter()
            loss = network(volumes).logsumexp(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if repeat:  # the first step warms up
                times.append(time.perf_counter() - start)
        rows.append({"channels": channels, "stride": stride,
                     "ms_per_volume": 1000 * float(np.median(times)) / batch_size})
        print(rows[-1], flush=True)
    return rows


def run_draw(seed, folder, methods, n_samples, size):
    tasks = {}
    rows = []
    for method, (model, task) in candidates(
            make_volume_scans(Path(folder, "intra"), n_samples=2, size=size)[2],
            seed).items():
        if method not in methods:
            continue
        if task not in tasks:
            X, y, _ = make_volume_scans(Path(folder, task), n_samples=n_samples, size=size,
                                        dependency=task, random_state=seed)
            train, test = train_test_split(np.arange(len(y)), test_size=n_samples // 3,
                                           stratify=y, random_state=seed)
            tasks[task] = X, y, train, test
        X, y, train, test = tasks[task]
        start = time.perf_counter()
        model.fit(X.iloc[train], y[train])
        seconds = time.perf_counter() - start
        accuracy = float((model.predict(X.iloc[test]) == y[test]).mean())
        epochs = len(model.history_)
        rows.append({"seed": seed, "method": method, "accuracy": accuracy,
                     "fit_seconds": seconds, "epochs": epochs})
        print(f"seed {seed} {method:<24} accuracy {accuracy:.3f} fit {seconds:6.1f} s "
              f"({epochs} epochs in all members)", flush=True)
    return rows


def report(frame, args, minutes, cost=None):
    grouped = frame.groupby("method", sort=False)
    mean, sem = grouped.mean(numeric_only=True), grouped.sem(numeric_only=True)
    lines = [
        "# Volumes read from NIfTI files",
        "",
        f"Command: `python -m benchmarks.volumes --seeds {args.seeds} --threads "
        f"{args.threads}{' --cost' if cost else ''} --methods "
        f"{' '.join(repr(m) for m in args.methods)}` "
        f"({datetime.date.today()}, {minutes:.1f} min). Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.threads} torch thread(s), torch {torch.__version__}, "
        "no GPU.",
        "",
        f"{args.n_samples} NIfTI volumes from `make_volume_scans` ({args.size}^3 voxels) "
        f"and a table of age and sex; {args.n_samples - args.n_samples // 3} to train and "
        f"{args.n_samples // 3} held out (stratified); {args.seeds} draws, mean ± "
        "standard error. Fit seconds include reading the files (each volume is read "
        "once per fit and kept in the image cache). See the module docstring for each "
        "method. Target at defaults: accuracy >= 0.9, fit under 180 s.",
        "",
        "| method | held-out accuracy | fit seconds | epochs (all members) |",
        "|---|---|---|---|",
    ]
    for method in mean.index:
        lines.append(f"| {method} | {mean.at[method, 'accuracy']:.3f} ± "
                     f"{sem.at[method, 'accuracy']:.3f} | "
                     f"{mean.at[method, 'fit_seconds']:.1f} ± "
                     f"{sem.at[method, 'fit_seconds']:.1f} | "
                     f"{mean.at[method, 'epochs']:.0f} |")
    if cost:
        lines += [
            "",
            f"## Cost of one training step of the 3D network ({args.threads} torch "
            "thread(s))",
            "",
            f"The network alone, on batches of 64 random {args.size}^3 volumes: forward, "
            "backward and an AdamW step, median of 5 steps. A fit trains two such "
            "networks (the volume's expert and its encoder in the fusion expert).",
            "",
            "| channels | stride of the first convolution | ms per volume |",
            "|---|---|---|",
        ]
        lines += [f"| {row['channels']} | {row['stride']} | {row['ms_per_volume']:.2f} |"
                  for row in cost]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-samples", type=int, default=300)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=METHODS,
                        help=f"methods to run (default: all but {SLOW})")
    parser.add_argument("--cost", action="store_true",
                        help="time the 3D network's training step for each architecture")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    cost = training_cost(args.size) if args.cost else None
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            rows += run_draw(seed, Path(folder, f"draw{seed}"), args.methods,
                             args.n_samples, args.size)
    frame = pd.DataFrame(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.output / "volumes.csv", index=False)
    text = report(frame, args, (time.perf_counter() - started) / 60, cost)
    (args.output / "volumes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
