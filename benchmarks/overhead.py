"""What does the scikit-learn/skorch wrapping cost over a hand-written PyTorch loop?

For two kinds of product (small MLP experts only, where per-batch overhead shows most;
a CNN image expert beside an MLP table expert) this times, in one process and in
alternating order:

* ``I2M2Classifier.fit`` against the same preprocessing plus a hand-written loop that
  trains the same module on the same tensors, with the same batch size, epochs,
  optimizer (AdamW), shuffling and number of threads;
* ``I2M2Classifier.predict_proba`` against the same preprocessing plus a plain
  chunked forward pass.

Run ``python -m benchmarks.overhead`` (``--help`` for options); the table is printed and
written to ``benchmarks/results/overhead.md``.
"""

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sk_i2m2 import I2M2Classifier, ModalitySplitter
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.product import build_product

RESULTS = Path(__file__).parent / "results"


def mlp_case(n_samples, rng):
    """Two tabular modalities of 20 columns, small MLP experts and fusion."""
    X = pd.DataFrame(rng.randn(n_samples, 40), columns=[f"c{i}" for i in range(40)])
    y = np.asarray(X["c0"] * X["c20"] + X["c1"] > 0, dtype=np.int64)
    modalities = [("a", MLPExpert(), [f"c{i}" for i in range(20)]),
                  ("b", MLPExpert(), [f"c{i}" for i in range(20, 40)])]
    return X, y, modalities


def cnn_case(n_samples, rng):
    """A 1x16x15 image modality (CNN) beside a 10-column table (MLP)."""
    pixels = rng.rand(n_samples, 240)
    table = rng.randn(n_samples, 10)
    X = pd.DataFrame(np.hstack([table, pixels]),
                     columns=[f"t{i}" for i in range(10)] + [f"px{i}" for i in range(240)])
    y = (pixels[:, :120].mean(axis=1) + 0.1 * table[:, 0] > 0.5).astype(np.int64)
    modalities = [("table", MLPExpert(), [f"t{i}" for i in range(10)]),
                  ("image", CNNExpert(input_shape=(1, 16, 15)),
                   [f"px{i}" for i in range(240)])]
    return X, y, modalities


def estimator(modalities, args):
    return I2M2Classifier(modalities, max_epochs=args.epochs, batch_size=args.batch_size,
                          early_stopping=False, n_bags=1, calibrate=None,
                          random_state=0, device="cpu",
                          predict_batch_size=args.predict_batch_size)


def plain_fit(X, y, modalities, args):
    """The hand-written baseline: same preprocessing, module, optimizer and batches."""
    torch.manual_seed(0)
    splitter = ModalitySplitter(modalities)
    inputs = {k: torch.as_tensor(v) for k, v in splitter.fit_transform(X).items()}
    target = torch.as_tensor(y)
    module = build_product(splitter, "both", None, 2)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=1e-2)
    criterion = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    module.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(target), generator=generator)
        for start in range(0, len(target), args.batch_size):
            index = order[start:start + args.batch_size]
            optimizer.zero_grad()
            loss = criterion(module(**{k: v[index] for k, v in inputs.items()}),
                             target[index])
            loss.backward()
            optimizer.step()
    module.eval()
    return splitter, module


def plain_predict_proba(X, splitter, module, args):
    inputs = {k: torch.as_tensor(v) for k, v in splitter.transform(X).items()}
    n_rows = len(next(iter(inputs.values())))
    with torch.no_grad():
        chunks = [module(**{k: v[start:start + args.predict_batch_size]
                            for k, v in inputs.items()})
                  for start in range(0, n_rows, args.predict_batch_size)]
    return torch.softmax(torch.cat(chunks).double(), dim=1).numpy()


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _paired(first, second, repeats):
    """Time ``first`` and ``second`` in alternating pairs.

    This machine's speed drifts by tens of percent within seconds; the ratio within a
    pair of back-to-back runs cancels most of that drift, so the reported ratio is
    the median over pairs of sk_i2m2 / plain.
    """
    times, ratios = ([], []), []
    for repeat in range(repeats):
        sides = (0, 1) if repeat % 2 == 0 else (1, 0)
        pair = [None, None]
        for side in sides:
            pair[side] = timed((first, second)[side])[0]
            times[side].append(pair[side])
        ratios.append(pair[0] / pair[1])
    return statistics.median(times[0]), statistics.median(times[1]), statistics.median(
        ratios)


def measure(name, make_case, args):
    X, y, modalities = make_case(args.n_samples, np.random.RandomState(0))
    fit, plain_fit_s, fit_ratio = _paired(
        lambda: estimator(modalities, args).fit(X, y),
        lambda: plain_fit(X, y, modalities, args),
        args.repeats,
    )
    clf = estimator(modalities, args).fit(X, y)
    splitter, module = plain_fit(X, y, modalities, args)
    # Both sides trained the very same model: the comparison is of plumbing alone.
    difference = np.abs(clf.predict_proba(X)
                        - plain_predict_proba(X, splitter, module, args)).max()
    predict, plain_predict_s, predict_ratio = _paired(
        lambda: clf.predict_proba(X),
        lambda: plain_predict_proba(X, splitter, module, args),
        args.repeats * 3,
    )
    return {
        "case": name,
        "fit s": fit,
        "plain fit s": plain_fit_s,
        "fit ratio": fit_ratio,
        "predict s": predict,
        "plain predict s": plain_predict_s,
        "predict ratio": predict_ratio,
        "max |proba difference|": difference,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--predict-batch-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: torch's own choice)")
    parser.add_argument("--output", type=Path, default=RESULTS / "overhead.md")
    parser.add_argument("--append", action="store_true",
                        help="append to --output instead of replacing it")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = [measure("MLP experts only", mlp_case, args),
            measure("CNN image + MLP table", cnn_case, args)]
    table = pd.DataFrame(rows).set_index("case")
    header = (
        f"# Overhead of I2M2Classifier over a hand-written PyTorch loop\n\n"
        f"Command: `python -m benchmarks.overhead --n-samples {args.n_samples} --epochs "
        f"{args.epochs} --batch-size {args.batch_size} --repeats {args.repeats}"
        f"{f' --threads {args.threads}' if args.threads else ''}`\n\n"
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU. "
        f"Times are medians of {args.repeats} fits (and {3 * args.repeats} predictions) "
        "per side, run in alternating pairs; ratio = median over pairs of sk_i2m2 / "
        "plain loop (target: at most 1.05). Both sides train the same module from the "
        "same seed: the last column is the largest difference of their predicted "
        "probabilities.\n\n"
    )
    text = header + table.to_markdown(floatfmt=".3g") + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    mode = "a" if args.append else "w"
    with args.output.open(mode) as output:
        output.write(("\n" if args.append else "") + text)


if __name__ == "__main__":
    main()
