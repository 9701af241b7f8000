"""Can the image expert learn from a few hundred scans at package defaults?

The task (:func:`sk_i2m2.datasets.make_digit_scans`): 300 PNG scans of handwritten
digits (8x8, enlarged to 32x32), label "digit below 5"; 100 held out, stratified.
A logistic regression on the pixels reaches about 0.9, so the target is known.
On each of ``--seeds`` draws (which 300 digits, which 100 held out, the model's
seed), side by side in one run:

* ``defaults``: ``I2M2Classifier(make_digit_scans(...)[2])`` as it comes;
* ``global pooling``: the same with ``CNNExpert(pooled_size=1)``, the previous
  architecture (features averaged over the whole image);
* ``channels (8, 16)``: the defaults with half the convolution widths (faster);
* ``before``: the previous release as a whole: global pooling, each image z-scored
  on its own (``intensity="zscore"``), one product trained 50 epochs, no
  calibration;
* ``logreg``: a logistic regression on the standardised pixels of the same files;
* ``augment light``, ``augment flips``: the defaults with training-time
  augmentation (:mod:`sk_i2m2.augment`);
* ``frozen resnet18``: ``PretrainedExpert("resnet18")`` with a frozen backbone and
  an MLP head on its features. Offline, its weights are random (seeded): a frozen
  random network is a random feature extractor, which this measures; with
  ImageNet or MedicalNet weights (``weights="pretrained"`` online, or a file) the
  result may differ.

Writes ``benchmarks/results/scans.md`` (mean ± standard error over draws). Time is
wall-clock fit time with ``--threads`` torch threads (default 2, the whole machine):
run it alone. ``python -m benchmarks.scans --help``.
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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_digit_scans
from sk_i2m2.experts import PretrainedExpert
from sk_i2m2.imaging import ImageLoader, read_image

RESULTS = Path(__file__).parent / "results"


def candidates(modalities, seed):
    """``{name: unfitted model}``; every I2M2 variant starts from the defaults."""
    (name, expert, columns), = modalities

    def with_expert(**expert_params):
        return [(name, clone(expert).set_params(**expert_params), columns)]

    return {
        "defaults": I2M2Classifier(modalities, random_state=seed),
        "global pooling": I2M2Classifier(with_expert(pooled_size=1), random_state=seed),
        "channels (8, 16)": I2M2Classifier(with_expert(channels=(8, 16)),
                                           random_state=seed),
        "before": I2M2Classifier(
            with_expert(pooled_size=1, loader=ImageLoader(intensity="zscore")),
            n_bags=1, max_epochs=50, calibrate=None, random_state=seed),
        # On the pixels of the same files (run_draw gives it those).
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "augment light": I2M2Classifier(with_expert(augment="light"), random_state=seed),
        "augment flips": I2M2Classifier(with_expert(augment="flips"), random_state=seed),
        "frozen resnet18": I2M2Classifier(
            [(name, PretrainedExpert("resnet18", expert.input_shape, loader="auto"),
              columns)], random_state=seed),
    }


def pixels(paths):
    return np.stack([read_image(path).astype(np.float64).ravel() for path in paths])


def run_draw(seed, folder, only=None):
    X, y, modalities = make_digit_scans(folder, n_samples=300, random_state=seed)
    train, test = train_test_split(np.arange(len(y)), test_size=100, stratify=y,
                                   random_state=seed)
    rows = []
    for method, model in candidates(modalities, seed).items():
        if only and method not in only:
            continue
        if method == "logreg":
            inputs = pixels(X["scan"])
            X_train, X_test = inputs[train], inputs[test]
        else:
            X_train, X_test = X.iloc[train], X.iloc[test]
        start = time.perf_counter()
        model.fit(X_train, y[train])
        seconds = time.perf_counter() - start
        accuracy = float((model.predict(X_test) == y[test]).mean())
        rows.append({"seed": seed, "method": method, "accuracy": accuracy,
                     "fit_seconds": seconds})
        print(f"seed {seed} {method:<18} accuracy {accuracy:.3f} fit {seconds:6.1f} s",
              flush=True)
    return rows


def report(frame, args, minutes):
    grouped = frame.groupby("method", sort=False)
    mean, sem = grouped.mean(numeric_only=True), grouped.sem(numeric_only=True)
    only = f" --methods {' '.join(repr(m) for m in args.methods)}" if args.methods else ""
    lines = [
        "# Image expert on a few hundred scans",
        "",
        f"Command: `python -m benchmarks.scans --seeds {args.seeds} --threads "
        f"{args.threads}{only}` ({datetime.date.today()}, {minutes:.1f} min). Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), "
        f"torch {torch.__version__}, no GPU.",
        "",
        "300 PNG scans from `make_digit_scans` (32x32), 200 to train and 100 held out "
        f"(stratified); {args.seeds} draws, mean ± standard error. See the module "
        "docstring for each method.",
        "",
        "| method | held-out accuracy | fit seconds |",
        "|---|---|---|",
    ]
    for method in mean.index:
        lines.append(f"| {method} | {mean.at[method, 'accuracy']:.3f} ± "
                     f"{sem.at[method, 'accuracy']:.3f} | "
                     f"{mean.at[method, 'fit_seconds']:.1f} ± "
                     f"{sem.at[method, 'fit_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=None,
                        help="run only these methods (names as in the table)")
    parser.add_argument("--append", action="store_true",
                        help="append the table to scans.md instead of replacing it")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            rows += run_draw(seed, Path(folder, f"draw{seed}"), args.methods)
    frame = pd.DataFrame(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    text = report(frame, args, (time.perf_counter() - started) / 60)
    if args.append:
        with (args.output / "scans.md").open("a") as output:
            output.write("\n" + text.replace("# Image expert", "## Image expert", 1))
    else:
        frame.to_csv(args.output / "scans.csv", index=False)
        (args.output / "scans.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
