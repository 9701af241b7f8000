"""What keeping the last finite weights costs per epoch, with a CNN image expert.

Training keeps a copy of the weights of the last complete epoch, so that a loss that
turns NaN leaves a usable model (``LastFiniteWeights``). This times, side by side on
the same fitted product (a CNN image expert, an MLP table expert and the fusion
expert), one copy made as the training loop once made it, a fresh
``copy.deepcopy(module.state_dict())`` every epoch, against the copy
``LastFiniteWeights`` makes: into buffers allocated once per fit (``Tensor.copy_``).
Each is also put against the time of one training epoch.

Run ``python -m benchmarks.studies.weight_snapshot``; writes
``benchmarks/results/weight_snapshot.md``.

A study, settled: ``LastFiniteWeights`` copies into buffers allocated once per fit.
"""

import argparse
import copy
import platform
import statistics
import sys
import time

import numpy as np
import pandas as pd
import torch

from benchmarks._common import RESULTS as _RESULTS
from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import CNNExpert, MLPExpert

RESULTS = _RESULTS / "weight_snapshot.md"


def _data(n_samples, side, seed=0):
    rng = np.random.RandomState(seed)
    pixels = rng.rand(n_samples, side * side).astype(np.float32)
    X = pd.DataFrame(pixels, columns=[f"px{i}" for i in range(side * side)])
    X["age"], X["bmi"] = rng.randn(n_samples), rng.randn(n_samples)
    y = (pixels[:, : side].mean(axis=1) + 0.1 * X["age"] > 0.5).astype(int)
    return X, y


def _median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--side", type=int, default=64, help="image height and width")
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    X, y = _data(args.n_samples, args.side)
    spec = [("scan", CNNExpert(input_shape=(1, args.side, args.side),
                               channels=tuple(args.channels)),
             [c for c in X.columns if c.startswith("px")]),
            ("clinical", MLPExpert(), ["age", "bmi"])]
    clf = I2M2Classifier(spec, max_epochs=args.epochs, batch_size=64, n_bags=1,
                         calibrate=None, random_state=0, device="cpu")
    start = time.perf_counter()
    clf.fit(X, y)
    epoch = (time.perf_counter() - start) / args.epochs
    module = clf.net_.module_
    n_values = sum(value.numel() for value in module.state_dict().values())

    buffers = {key: value.detach().clone() for key, value in module.state_dict().items()}

    def copy_into_buffers():
        with torch.no_grad():
            for key, value in module.state_dict().items():
                buffers[key].copy_(value)

    deep = _median_seconds(lambda: copy.deepcopy(module.state_dict()), args.repeats)
    in_place = _median_seconds(copy_into_buffers, args.repeats)
    command = " ".join(["python -m benchmarks.studies.weight_snapshot",
                        *(sys.argv[1:] if argv is None else argv)])
    rows = [("deepcopy(state_dict()) every epoch (before)", deep),
            ("copy_ into buffers allocated once (LastFiniteWeights)", in_place)]
    lines = [
        "# Keeping the last finite weights: cost per epoch, CNN image expert",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}, CPU. Product: CNN expert (1x{args.side}x{args.side}, "
        f"channels {tuple(args.channels)}) + MLP table expert + fusion expert, "
        f"{n_values:,} weights ({4 * n_values / 2**20:.1f} MB). One training epoch over "
        f"{args.n_samples} rows: {epoch:.2f} s. Copy times are medians of "
        f"{args.repeats}.",
        "",
        "| weight copy, once per epoch | ms | share of an epoch |",
        "|:--|--:|--:|",
        *[f"| {label} | {seconds * 1e3:.2f} | {seconds / epoch:.2%} |"
          for label, seconds in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
