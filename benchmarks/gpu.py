"""Training throughput on a CUDA GPU against the CPU, and the CUDA tests.

On a machine with a CUDA device:

1. runs the tests marked ``cuda`` (``pytest -m cuda tests/test_cuda.py``) and counts
   their outcomes;
2. times ``fit`` on three tasks, on the CPU and on the GPU:

   * ``tabular``: two modalities of 50 float64 columns, MLP experts, one product
     (``n_bags=1``), no early stopping nor calibration, ``batch_size=512``;
   * ``images``: 32x32 digit images (scikit-learn's 8x8 digits, enlarged, with
     noise) as pixel columns, a CNN expert;
   * ``image files``: the same digits as PNG files
     (:func:`~sk_i2m2.datasets.make_digit_scans`) read by a DataLoader with
     ``num_workers`` processes, pinned on the GPU;
   * ``volumes``: 32^3 NIfTI volumes and a table
     (:func:`~sk_i2m2.datasets.make_volume_scans`), the 3D ``CNNExpert`` at its
     defaults with ``augment="light"``, read by ``num_workers`` processes: volumes
     per second, and how busy the GPU is kept;

   and reports rows (images) per second of the whole fit, preprocessing included,
   and of its training epochs alone (skorch's per-epoch ``dur``). The CPU runs on
   fewer rows: its throughput hardly depends on the row count, and the full sizes
   would take minutes;
3. samples the GPU's utilisation and memory during the GPU fits
   (``nvidia-smi`` every 0.2 s; ``torch.cuda.utilization()`` without it);
4. writes ``benchmarks/results/gpu.md``.

Run ``python -m benchmarks.gpu`` (``--quick`` for smaller sizes, ``--skip-cpu`` for
the GPU alone). Without CUDA it says so and exits with status 2, writing nothing.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sk_i2m2 import I2M2Classifier
from sk_i2m2.experts import CNNExpert, MLPExpert

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"

#: Rows of each task (``(GPU rows, CPU rows)``) and epochs, at full size and --quick.
SIZES = {
    False: {"tabular": (200_000, 50_000, 2), "images": (20_000, 4_000, 3),
            "image files": (1_500, 1_500, 3), "volumes": (2_000, 300, 3)},
    True: {"tabular": (20_000, 5_000, 2), "images": (4_000, 1_000, 2),
           "image files": (300, 300, 2), "volumes": (300, 100, 2)},
}
BATCH_SIZE = {"tabular": 512, "images": 256, "image files": 256, "volumes": 64}
#: DataLoader processes reading image files.
NUM_WORKERS = 4
#: Seconds between two samples of the GPU's utilisation.
SAMPLE_EVERY = 0.2


# --------------------------------------------------------------------------- data


def tabular_task(n_rows, random_state=0):
    """``(X, y, modalities)``: two modalities of 50 columns, label an interaction."""
    rng = np.random.default_rng(random_state)
    names = [f"a{i}" for i in range(50)] + [f"b{i}" for i in range(50)]
    X = pd.DataFrame(rng.standard_normal((n_rows, 100)), columns=names)
    y = (X["a0"] * X["b0"] > 0).to_numpy().astype(int)
    modalities = [("a", MLPExpert(), names[:50]), ("b", MLPExpert(), names[50:])]
    return X, y, modalities


def image_task(n_rows, size=32, random_state=0):
    """``(X, y, modalities)``: noisy enlarged digits as ``size * size`` pixel columns."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(random_state)
    rows = rng.integers(len(digits.target), size=n_rows)
    scale = size // 8
    images = np.kron(digits.images[rows] / 16, np.ones((scale, scale)))
    images += 0.1 * rng.standard_normal(images.shape)
    X = pd.DataFrame(images.reshape(n_rows, -1).astype(np.float32),
                     columns=[f"px{i}" for i in range(size * size)])
    y = (digits.target[rows] < 5).astype(int)
    modalities = [("image", CNNExpert(input_shape=(1, size, size)), list(X.columns))]
    return X, y, modalities


def image_file_task(n_rows, folder, random_state=0):
    """``(X, y, modalities)``: digit scans written to ``folder`` as PNG files."""
    from sk_i2m2.datasets import make_digit_scans

    return make_digit_scans(folder, n_samples=n_rows, size=32, random_state=random_state)


def volume_task(n_rows, folder, random_state=0):
    """``(X, y, modalities)``: 32^3 NIfTI volumes written to ``folder``, and a table."""
    from sk_i2m2.datasets import make_volume_scans

    X, y, modalities = make_volume_scans(folder, n_samples=n_rows, size=32,
                                         random_state=random_state)
    modalities[0][1].set_params(augment="light")
    return X, y, modalities


# --------------------------------------------------------------------------- GPU use


class GpuSampler:
    """Samples the GPU's utilisation (%) and memory used (MiB) in the background.

    ``nvidia-smi`` streams one line every ``every`` seconds; without it,
    :func:`torch.cuda.utilization` is polled (memory from the CUDA driver). Use as a
    context manager; :meth:`summary` gives mean and maximum.
    """

    def __init__(self, every=SAMPLE_EVERY):
        self.every = every
        self._lines = []  # (nvidia-smi index, UUID, utilisation %, memory MiB)
        self.samples = []  # (utilisation %, memory MiB)
        self._stop = threading.Event()
        self._process = self._thread = None
        self.source = None

    def __enter__(self):
        command = shutil.which("nvidia-smi")
        if command:
            # Every GPU's line, told apart by UUID: nvidia-smi numbers GPUs ignoring
            # CUDA_VISIBLE_DEVICES.
            self.source = "nvidia-smi"
            self._process = subprocess.Popen(
                [command, "--query-gpu=index,uuid,utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", str(int(self.every * 1000))],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._thread = threading.Thread(target=self._read, daemon=True)
        else:
            self.source = "torch.cuda.utilization"
            self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _read(self):
        for line in self._process.stdout:
            fields = [field.strip() for field in line.split(",")]
            try:
                index, uuid = fields[:2]
                utilisation, memory = float(fields[2]), float(fields[3])
            except (ValueError, IndexError):  # "[N/A]", or a message
                continue
            self._lines.append((index, uuid, utilisation, memory))

    def _poll(self):
        while not self._stop.wait(self.every):
            try:
                free, total = torch.cuda.mem_get_info()
                self.samples.append((float(torch.cuda.utilization()),
                                     (total - free) / 2**20))
            except Exception:  # no NVML: nothing to sample
                self.source = None
                return

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
        self._thread.join(timeout=5)

    def summary(self):
        """``{"util_mean", "util_max", "memory_max_mib", "samples"}``; None when none."""
        if self._lines:  # this GPU's lines: by UUID, else by index
            uuid, index = _torch_gpu()
            ours = [line for line in self._lines if uuid and uuid in line[1]]
            ours = ours or [line for line in self._lines if line[0] == index]
            self.samples = [(utilisation, memory) for *_, utilisation, memory in ours]
        if not self.samples:
            return None
        utilisation, memory = np.array(self.samples).T
        return {"util_mean": float(utilisation.mean()), "util_max": float(utilisation.max()),
                "memory_max_mib": float(memory.max()), "samples": len(self.samples)}


def _torch_gpu():
    """``(uuid, index)`` of the GPU torch calls ``cuda:0`` for nvidia-smi; uuid may be None."""
    uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
    uuid = str(uuid).removeprefix("GPU-") if uuid else None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return uuid, visible if visible.isdigit() else "0"


# --------------------------------------------------------------------------- timing


def time_fit(X, y, modalities, device, epochs, batch_size, num_workers=0):
    """Fit once; the fit's and its epochs' seconds and throughputs, as a dict."""
    clf = I2M2Classifier(modalities, max_epochs=epochs, batch_size=batch_size,
                         early_stopping=False, n_bags=1, calibrate=None,
                         device=device, num_workers=num_workers, random_state=0)
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    clf.fit(X, y)
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    epoch_seconds = float(sum(clf.history_[:, "dur"]))
    result = {"device": device, "rows": len(y), "epochs": epochs, "fit_s": seconds,
              "epochs_s": epoch_seconds, "fit_rows_per_s": len(y) * epochs / seconds,
              "train_rows_per_s": len(y) * epochs / epoch_seconds,
              "train_accuracy": float(clf.score(X.iloc[:2000], y[:2000]))}
    if on_cuda:
        result["torch_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def measure(task, n_rows, device, epochs, folder=None, sample_gpu=False):
    """Build ``task`` at ``n_rows`` and time one fit of it on ``device``."""
    if task == "tabular":
        X, y, modalities = tabular_task(n_rows)
    elif task == "images":
        X, y, modalities = image_task(n_rows)
    elif task == "volumes":
        X, y, modalities = volume_task(n_rows, folder / "volumes")
    else:
        X, y, modalities = image_file_task(n_rows, folder)
    num_workers = NUM_WORKERS if task in ("image files", "volumes") else 0
    if not sample_gpu:
        result = time_fit(X, y, modalities, device, epochs, BATCH_SIZE[task], num_workers)
    else:
        with GpuSampler() as sampler:
            result = time_fit(X, y, modalities, device, epochs, BATCH_SIZE[task],
                              num_workers)
        result["gpu"] = sampler.summary()
        result["gpu_source"] = sampler.source
    result.update(task=task, num_workers=num_workers)
    return result


def warm_up(folder):
    """One small fit of each task on the GPU, so that CUDA's start-up is not timed."""
    for task, n_rows in (("tabular", 2_000), ("images", 512), ("image files", 128),
                         ("volumes", 64)):
        measure(task, n_rows, "cuda", 1, folder=folder / "warm-up")


# --------------------------------------------------------------------------- tests


def run_cuda_tests():
    """Run ``pytest -m cuda tests/test_cuda.py``; counts of outcomes and failures."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py",
                   "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        start = time.perf_counter()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        failures = []
        if report.exists():
            for case in ElementTree.parse(report).getroot().iter("testcase"):
                name = case.get("name")
                if case.find("failure") is not None or case.find("error") is not None:
                    counts["failed"] += 1
                    failures.append(name)
                elif case.find("skipped") is not None:
                    counts["skipped"] += 1
                else:
                    counts["passed"] += 1
    return {**counts, "failures": failures, "returncode": run.returncode,
            "seconds": seconds, "tail": run.stdout[-2000:] + run.stderr[-2000:]}


# --------------------------------------------------------------------------- report


def machine():
    """A line naming the GPU, torch, CUDA and the CPU."""
    props = torch.cuda.get_device_properties(0)
    return (f"{torch.cuda.get_device_name(0)} ({props.total_memory / 2**30:.0f} GiB), "
            f"torch {torch.__version__} (CUDA {torch.version.cuda}), "
            f"{os.cpu_count()} CPUs ({torch.get_num_threads()} torch threads), "
            f"{platform.machine()}, Python {platform.python_version()}")


def _number(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report(results, tests, command):
    """The Markdown results page."""
    lines = [
        "# Training throughput on a GPU against the CPU\n",
        f"Command: `{command}`\n",
        f"Machine: {machine()}.\n",
    ]
    if tests is not None:
        outcome = (f"{tests['passed']} passed, {tests['failed']} failed, "
                   f"{tests['skipped']} skipped in {tests['seconds']:.0f} s")
        lines.append(f"CUDA tests (`pytest -m cuda tests/test_cuda.py`): {outcome}.")
        if tests["failures"]:
            lines.append(f"Failed: {', '.join(tests['failures'])}.")
        lines.append("")
    lines += [
        "Throughput counts rows (images) times epochs per second: of the whole fit "
        "(preprocessing included), and of the training epochs alone. GPU utilisation "
        "and memory are sampled every 0.2 s during the GPU fits (memory: the whole "
        "device, as nvidia-smi reports it; torch peak: what torch allocated).\n",
        "| task | device | rows | epochs | batch | fit s | fit rows/s | train rows/s "
        "| GPU speed-up (train) | GPU util mean / max % | GPU memory max MiB "
        "| torch peak MiB | train accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cpu = {r["task"]: r for r in results if r["device"] == "cpu"}
    for r in results:
        speed_up = gpu = ""
        if r["device"] == "cuda" and r["task"] in cpu:
            speed_up = f"{r['train_rows_per_s'] / cpu[r['task']]['train_rows_per_s']:.1f}x"
        if r.get("gpu"):
            gpu = f"{r['gpu']['util_mean']:.0f} / {r['gpu']['util_max']:.0f}"
        workers = f", {r['num_workers']} workers" if r["num_workers"] else ""
        lines.append(
            f"| {r['task']}{workers} | {r['device']} | {r['rows']:,} | {r['epochs']} | "
            f"{BATCH_SIZE[r['task']]} | {r['fit_s']:.1f} | {_number(r['fit_rows_per_s'])} | "
            f"{_number(r['train_rows_per_s'])} | {speed_up} | {gpu} | "
            f"{_number((r.get('gpu') or {}).get('memory_max_mib'))} | "
            f"{_number(r.get('torch_peak_mib'))} | {r['train_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer epochs")
    parser.add_argument("--skip-cpu", action="store_true", help="time the GPU alone")
    parser.add_argument("--skip-tests", action="store_true",
                        help="do not run the tests marked cuda")
    parser.add_argument("--output", type=Path, default=RESULTS / "gpu.md")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"benchmarks.gpu needs a CUDA device, and torch {torch.__version__} sees "
              "none (torch.cuda.is_available() is False); nothing was measured or "
              "written.", file=sys.stderr)
        return 2

    command = "python -m benchmarks.gpu " + " ".join(argv if argv is not None
                                                     else sys.argv[1:])
    tests = None
    if not args.skip_tests:
        tests = run_cuda_tests()
        print(f"CUDA tests: {tests['passed']} passed, {tests['failed']} failed, "
              f"{tests['skipped']} skipped ({tests['seconds']:.0f} s)", file=sys.stderr)
        if tests["failed"] or tests["returncode"] not in (0, 5):
            print(tests["tail"], file=sys.stderr)

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        warm_up(folder)
        for task, (gpu_rows, cpu_rows, epochs) in SIZES[args.quick].items():
            devices = [("cuda", gpu_rows)] + ([] if args.skip_cpu else [("cpu", cpu_rows)])
            for device, n_rows in devices:
                result = measure(task, n_rows, device, epochs, folder=folder / task,
                                 sample_gpu=device == "cuda")
                results.append(result)
                print(f"{task:>12} {device:>4}: {n_rows:,} rows x {epochs} epochs in "
                      f"{result['fit_s']:.1f} s, {result['train_rows_per_s']:,.0f} "
                      "rows/s training", file=sys.stderr)

    text = report(results, tests, command.strip())
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
