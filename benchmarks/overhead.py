"""What does the scikit-learn/skorch wrapping cost over a hand-written PyTorch loop?

For two kinds of product (small MLP experts only, where per-batch overhead shows most;
a CNN image expert beside an MLP table expert) this times, in one process and in
alternating order:

* ``I2M2Classifier.fit`` against the same preprocessing plus a hand-written loop that
  trains the same module on the same tensors, with the same batch size, epochs,
  optimizer (AdamW), shuffling and number of threads;
* ``I2M2Classifier.predict_proba`` against the same preprocessing plus a plain
  chunked forward pass;
* the two alternating, as in a study that fits and predicts in turn (cross-validation):
  each side's prediction right after its own fit, on 10 200 rows of 8x8 digits (CNN)
  beside a 3-column table (MLP). The plain loop predicts in chunks of
  ``--plain-predict-batch-size`` rows (1 024), the package at its defaults.

Run ``python -m benchmarks.overhead`` (``--help`` for options); the table is printed and
written to ``benchmarks/results/overhead.md``.
"""

import argparse
import platform
import statistics
import sys
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


def digits_case(n_samples, rng):
    """8x8 digits (CNN) beside a 3-column table (MLP); label: digit below 5."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = rng.randint(len(digits.target), size=n_samples)
    pixels = digits.data[rows] / 16 + 0.05 * rng.randn(n_samples, 64)
    table = rng.randn(n_samples, 3)
    X = pd.DataFrame(np.hstack([table, pixels]),
                     columns=[f"t{i}" for i in range(3)] + [f"px{i}" for i in range(64)])
    y = (digits.target[rows] < 5).astype(np.int64)
    modalities = [("table", MLPExpert(), [f"t{i}" for i in range(3)]),
                  ("digit", CNNExpert(input_shape=(1, 8, 8)),
                   [f"px{i}" for i in range(64)])]
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


def plain_predict_proba(X, splitter, module, args, batch_size=None):
    batch_size = batch_size or args.predict_batch_size
    inputs = {k: torch.as_tensor(v) for k, v in splitter.transform(X).items()}
    n_rows = len(next(iter(inputs.values())))
    with torch.no_grad():
        chunks = [module(**{k: v[start:start + batch_size] for k, v in inputs.items()})
                  for start in range(0, n_rows, batch_size)]
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


def measure_alternating(name, make_case, args):
    """Fit then predict, each side in turn: every prediction follows its side's fit.

    The package runs at its default ``predict_batch_size``; the plain loop predicts in
    chunks of ``--plain-predict-batch-size`` rows.
    """
    X, y, modalities = make_case(args.alternating_samples, np.random.RandomState(0))
    fits, predicts = ([], []), ([], [])

    # The estimator's own default unless asked otherwise.
    params = ({} if args.package_predict_batch_size is None
              else {"predict_batch_size": args.package_predict_batch_size})
    package_predict_batch_size = I2M2Classifier(**params).predict_batch_size

    def package():
        clf = I2M2Classifier(modalities, max_epochs=args.epochs, batch_size=args.batch_size,
                             early_stopping=False, n_bags=1, calibrate=None,
                             random_state=0, device="cpu", **params)
        fit_s = timed(lambda: clf.fit(X, y))[0]
        return fit_s, timed(lambda: clf.predict_proba(X))[0]

    def plain():
        fit_s, (splitter, module) = timed(lambda: plain_fit(X, y, modalities, args))
        return fit_s, timed(lambda: plain_predict_proba(
            X, splitter, module, args, args.plain_predict_batch_size))[0]

    for repeat in range(args.alternating_repeats):
        for side in ((0, 1) if repeat % 2 == 0 else (1, 0)):
            fit_s, predict_s = (package, plain)[side]()
            fits[side].append(fit_s)
            predicts[side].append(predict_s)
    fit_ratios = [a / b for a, b in zip(*fits, strict=True)]
    predict_ratios = [a / b for a, b in zip(*predicts, strict=True)]
    return {
        "case": name,
        "fit s": statistics.median(fits[0]),
        "plain fit s": statistics.median(fits[1]),
        "fit ratio": statistics.median(fit_ratios),
        "predict s": statistics.median(predicts[0]),
        "plain predict s": statistics.median(predicts[1]),
        "predict ratio": statistics.median(predict_ratios),
        "predict ratios (each pair)": " ".join(f"{r:.2f}" for r in predict_ratios),
        "package / plain predict batch": f"{package_predict_batch_size} / "
                                         f"{args.plain_predict_batch_size}",
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
    parser.add_argument("--alternating-samples", type=int, default=10_200)
    parser.add_argument("--alternating-repeats", type=int, default=6)
    parser.add_argument("--plain-predict-batch-size", type=int, default=1024)
    parser.add_argument("--package-predict-batch-size", type=int, default=None,
                        help="predict_batch_size of the package in the alternating case "
                             "(default: the estimator's default)")
    parser.add_argument("--only-alternating", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "overhead.md")
    parser.add_argument("--append", action="store_true",
                        help="append to --output instead of replacing it")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = [] if args.only_alternating else [
        measure("MLP experts only", mlp_case, args),
        measure("CNN image + MLP table", cnn_case, args)]
    alternating = [measure_alternating("digits CNN + 3-column MLP, after fits",
                                       digits_case, args)]
    table = pd.DataFrame(rows).set_index("case") if rows else None
    options = " ".join(argv if argv is not None else sys.argv[1:])
    text = (
        f"# Overhead of I2M2Classifier over a hand-written PyTorch loop\n\n"
        f"Command: `python -m benchmarks.overhead {options}`\n\n"
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU.\n\n"
    )
    if table is not None:
        text += (
            f"Times are medians of {args.repeats} fits (and {3 * args.repeats} "
            f"predictions) per side on {args.n_samples} rows, {args.epochs} epochs, batch "
            f"size {args.batch_size}, run in alternating pairs; ratio = median over pairs "
            "of sk_i2m2 / plain loop (target: at most 1.05). Both sides train the same "
            "module from the same seed: the last column is the largest difference of "
            "their predicted probabilities.\n\n"
            + table.to_markdown(floatfmt=".3g") + "\n\n"
        )
    text += (
        f"After fits: each side fits then predicts, the sides in turn, "
        f"{args.alternating_repeats} times, on {args.alternating_samples} rows "
        f"({args.epochs} epochs); the prediction is timed right after its side's fit. "
        "Ratios are medians over pairs.\n\n"
        + pd.DataFrame([{key: f"{value:.3g}" if isinstance(value, float) else value
                         for key, value in row.items()} for row in alternating])
        .set_index("case").T.to_markdown() + "\n"
    )
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    mode = "a" if args.append else "w"
    with args.output.open(mode) as output:
        output.write(("\n" if args.append else "") + text)


if __name__ == "__main__":
    main()
