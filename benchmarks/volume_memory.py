"""Peak memory of fitting on volumes read from NIfTI files: 200 against 2 000 volumes.

Volumes named by a path column are read batch by batch, as images are
(``benchmarks/image_memory.py``), so the memory a fit needs should follow the batch
and the image cache (``ImageLoader(cache_mb=256)``), not the number of volumes.
Each size is fitted in a fresh process, reading 32^3 16-bit NIfTI volumes from
:func:`~sk_i2m2.datasets.make_volume_scans` with its table beside them, one epoch,
one product, with the image cache at its default budget (256 MB) and off
(``cache_mb=0``: every volume read from its file every epoch). Peak resident memory
comes from the kernel (``VmHWM``, reset just before ``fit``) and is compared to the
process's memory just before ``fit``. For scale, 2 000 volumes held in memory as
float32 take 250 MB, 200 take 25 MB: at the default budget the cache may hold them
all, so the peak grows with the cohort up to the budget and no further.

Run ``python -m benchmarks.volume_memory``; writes
``benchmarks/results/volume_memory.md``.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ._memory import MB, reset_peak, status

RESULTS = Path(__file__).parent / "results"
SIZE = 32


def write_volumes(folder, n_volumes):
    """The cohort's table (the files are written once, then reused)."""
    from sk_i2m2.datasets import make_volume_scans

    return make_volume_scans(folder / str(n_volumes), n_samples=n_volumes, size=SIZE,
                             random_state=0)


def measure_one(folder, n_volumes, max_epochs, batch_size, cache_mb):
    """Runs inside the subprocess: build the table, fit, report as JSON."""
    from sk_i2m2 import I2M2Classifier
    from sk_i2m2.imaging import ImageLoader

    X, y, modalities = write_volumes(folder, n_volumes)
    modalities[0][1].set_params(loader=ImageLoader(cache_mb=cache_mb))
    clf = I2M2Classifier(modalities, max_epochs=max_epochs, batch_size=batch_size,
                         early_stopping=False, n_bags=1, calibrate=None, random_state=0)
    before_fit = status("VmRSS")
    reset_peak()  # peak RSS := current RSS
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    return {"volumes": n_volumes, "cache_mb": cache_mb, "fit_seconds": seconds,
            "before_fit_mb": before_fit / MB, "peak_mb": peak / MB,
            "fit_mb": (peak - before_fit) / MB}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, nargs="+", default=[200, 2_000])
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "sk_i2m2_volume_memory")
    parser.add_argument("--output", type=Path, default=RESULTS / "volume_memory.md")
    parser.add_argument("--cache-mb", type=float, nargs="+", default=[256, 0])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.folder, args.one, args.max_epochs,
                                     args.batch_size, args.cache_mb[0])))
        return

    rows = []
    for n_volumes in args.volumes:
        start = time.perf_counter()
        write_volumes(args.folder, n_volumes)  # outside the measured process
        print(f"{n_volumes} volumes written ({time.perf_counter() - start:.0f} s)",
              flush=True)
    for cache_mb in args.cache_mb:
        for n_volumes in args.volumes:
            command = [sys.executable, "-m", "benchmarks.volume_memory", "--one",
                       str(n_volumes), "--folder", str(args.folder), "--max-epochs",
                       str(args.max_epochs), "--batch-size", str(args.batch_size),
                       "--cache-mb", str(cache_mb)]
            result = json.loads(subprocess.run(
                command, capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1])
            rows.append(result)
            print(json.dumps(result), flush=True)
    lines = [
        "# Peak memory of fitting on volumes read from NIfTI files",
        "",
        f"`python -m benchmarks.volume_memory` on {platform.machine()}, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}; "
        f"{SIZE}^3 16-bit NIfTI volumes from `make_volume_scans` with their table, the "
        f"package's default experts, {args.max_epochs} epoch(s), batch {args.batch_size}, "
        "one product, num_workers=0 (everything in the measured process).",
        "",
        "| volumes | cache_mb | fit s | RSS before fit MB | peak during fit MB "
        "| fit peak - before MB |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['volumes']} | {row['cache_mb']:g} | {row['fit_seconds']:.1f} | "
                     f"{row['before_fit_mb']:.0f} | {row['peak_mb']:.0f} | "
                     f"{row['fit_mb']:.0f} |")
    held = max(args.volumes) * SIZE**3 * 4 / MB
    lines.append("")
    for cache_mb in args.cache_mb:
        fit_mb = {row["volumes"]: row["fit_mb"] for row in rows if row["cache_mb"] == cache_mb}
        lines.append(
            f"cache_mb={cache_mb:g}: {max(args.volumes)} volumes need "
            f"{fit_mb[max(args.volumes)] - fit_mb[min(args.volumes)]:+.0f} MB of peak "
            f"against {min(args.volumes)}.")
    lines += ["", f"Held in memory as float32, {max(args.volumes)} volumes would take "
              f"{held:.0f} MB; the image cache keeps at most `cache_mb` of them per set "
              "of rows."]
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
