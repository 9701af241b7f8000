"""Peak memory of fitting on images read from files: 2 000 against 20 000 images.

Images named by a path column are read batch by batch (``CNNExpert(loader=...)``),
so the memory a fit needs should follow the batch, not the number of images. Each
size is fitted in a fresh process, reading 64x64 8-bit grey PNG files (smooth random
textures: the content does not change the memory) with a small table beside them.
Peak resident memory comes from the kernel (``VmHWM``, reset just before ``fit``),
and is compared to the process's memory just before ``fit``, when the table of paths
already exists. Target: the two peaks differ by less than 100 MB. For scale, the
20 000 images held in memory as float32 would take 313 MB.

Also times a fit with the reading done in 0, 1 and 2 DataLoader worker processes.

Run ``python -m benchmarks.image_memory``; writes ``benchmarks/results/image_memory.md``.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ._memory import MB, reset_peak, status

RESULTS = Path(__file__).parent / "results"
SIDE = 64


def write_images(folder, n_images, seed=0):
    """``n_images`` PNG files (reused when already there) and their labels."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_images)
    for index in range(n_images):
        path = folder / f"{index:05d}.png"
        if path.exists():
            continue
        coarse = rng.random((8, 8)) + 0.5 * labels[index] * np.eye(8)
        image = np.kron(coarse, np.ones((SIDE // 8, SIDE // 8)))
        image += 0.1 * rng.standard_normal((SIDE, SIDE))
        image = np.clip(image * 150, 0, 255)
        Image.fromarray(image.astype(np.uint8)).save(path)
    return labels


def measure_one(folder, n_images, max_epochs, batch_size):
    """Runs inside the subprocess: build the table, fit, report as JSON."""
    start_rss = status("VmRSS")
    X, labels = _table(folder, n_images)
    clf = _model(max_epochs, batch_size)
    before_fit = status("VmRSS")
    reset_peak()  # peak RSS := current RSS
    start = time.perf_counter()
    clf.fit(X, labels)
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    return {"images": n_images, "fit_seconds": seconds, "start_mb": start_rss / MB,
            "before_fit_mb": before_fit / MB, "peak_mb": peak / MB,
            "fit_mb": (peak - before_fit) / MB,
            "train_accuracy": float(clf.score(X.iloc[:2000], labels[:2000]))}


def _table(folder, n_images):
    import pandas as pd

    labels = np.random.default_rng(0).integers(0, 2, n_images)  # as write_images drew them
    rng = np.random.default_rng(1)
    X = pd.DataFrame({
        "scan": [str(folder / f"{index:05d}.png") for index in range(n_images)],
        "age": rng.normal(60, 10, n_images), "marker": rng.normal(0, 1, n_images),
    })
    return X, labels


def _model(max_epochs, batch_size, num_workers=0):
    from sk_i2m2 import I2M2Classifier
    from sk_i2m2.experts import CNNExpert, MLPExpert

    spec = [("scan", CNNExpert(input_shape=(1, SIDE, SIDE), channels=(8, 16),
                               loader="auto"), "scan"),
            ("clinical", MLPExpert(hidden_units=(16,)), ["age", "marker"])]
    return I2M2Classifier(spec, max_epochs=max_epochs, batch_size=batch_size,
                          early_stopping=False, n_bags=1, calibrate=None,
                          num_workers=num_workers, random_state=0)


def time_workers(folder, n_images, max_epochs, batch_size, workers, repeats):
    """Median fit seconds per ``num_workers``, runs alternating (same process)."""
    X, labels = _table(folder, n_images)
    seconds = {n: [] for n in workers}
    for _ in range(repeats):
        for n in workers:
            start = time.perf_counter()
            _model(max_epochs, batch_size, n).fit(X, labels)
            seconds[n].append(time.perf_counter() - start)
    return {n: float(np.median(values)) for n, values in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "sk_i2m2_image_memory")
    parser.add_argument("--output", type=Path, default=RESULTS / "image_memory.md")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="num_workers values timed on the smallest size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timing-epochs", type=int, default=3,
                        help="epochs of the timed fits (worker start-up is paid once)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.folder, args.one, args.max_epochs,
                                     args.batch_size)))
        return

    start = time.perf_counter()
    write_images(args.folder, max(args.images))
    print(f"{max(args.images)} images in {args.folder} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    rows = []
    for n_images in args.images:
        command = [sys.executable, "-m", "benchmarks.image_memory", "--one", str(n_images),
                   "--folder", str(args.folder), "--max-epochs", str(args.max_epochs),
                   "--batch-size", str(args.batch_size)]
        result = json.loads(subprocess.run(command, capture_output=True, text=True,
                                           check=True).stdout.strip().splitlines()[-1])
        rows.append(result)
        print(json.dumps(result), flush=True)

    timings = time_workers(args.folder, min(args.images), args.timing_epochs,
                           args.batch_size, args.workers, args.repeats)
    print(json.dumps(timings), flush=True)
    difference = rows[-1]["fit_mb"] - rows[0]["fit_mb"]
    lines = [
        "# Peak memory of fitting on images read from files",
        "",
        f"`python -m benchmarks.image_memory` on {platform.machine()}, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}; "
        f"{SIDE}x{SIDE} 8-bit PNG files, CNNExpert(channels=(8, 16), loader='auto') and "
        f"a 2-column MLPExpert, {args.max_epochs} epoch(s), batch {args.batch_size}, "
        "num_workers=0 (everything in the measured process).",
        "",
        "| images | fit s | RSS before fit MB | peak during fit MB | fit peak - before MB |",
        "|---|---|---|---|---|",
        *[f"| {r['images']} | {r['fit_seconds']:.1f} | {r['before_fit_mb']:.0f} | "
          f"{r['peak_mb']:.0f} | {r['fit_mb']:.0f} |" for r in rows],
        "",
        f"Peak over the pre-fit process: {rows[-1]['images']} images need "
        f"{difference:+.0f} MB against {rows[0]['images']} (target: under 100 MB). "
        f"Held in memory as float32, {rows[-1]['images']} images would take "
        f"{rows[-1]['images'] * SIDE * SIDE * 4 / MB:.0f} MB.",
        "",
        f"Reading in DataLoader workers: median seconds of a {args.timing_epochs}-epoch "
        f"fit on {min(args.images)} images over {args.repeats} alternating runs in one "
        f"process, {torch.get_num_threads()} torch thread(s) (workers read; the main "
        "process trains).",
        "",
        "| num_workers | fit s | ratio to num_workers=0 |",
        "|---|---|---|",
        *[f"| {n} | {t:.1f} | {t / timings[args.workers[0]]:.2f} |"
          for n, t in timings.items()],
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
