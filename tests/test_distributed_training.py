"""Data-parallel training of one model (``distributed=True``) on CPU processes (gloo).

The fits here have no dropout, so that a data-parallel fit must follow the fit of a
single process step by step: each step's shards together are the single process's
batch and the gradients are averaged over the batch, so the two models differ by
floating-point rounding only. With dropout the processes draw their own masks and
the fits differ as two seeds would.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import sk_i2m2
from sk_i2m2 import I2M2Classifier
from sk_i2m2._dataset import RowBatches
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import CNNExpert, ConcatFusion, MLPExpert

EXAMPLE = Path(__file__).parents[1] / "examples" / "distributed_training.py"
#: How closely a data-parallel fit follows a single process's: the largest
#: difference in any predicted probability, after every epoch's rounding has added up.
MATCH = 1e-5


def _load_example():
    spec = importlib.util.spec_from_file_location("distributed_training", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torchrun_trains_one_model_on_two_cpu_processes(tmp_path):
    output = tmp_path / "model.zip"
    options = ["--n-samples", "600", "--max-epochs", "12", "--n-bags", "1",
               "--dropout", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node", "2", str(EXAMPLE), "--cpu", *options, "--output", str(output)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reported = re.findall(r"^world size 2, 12 epochs, held-out accuracy (\d\.\d{4})$",
                          result.stdout, re.M)
    assert len(reported) == 1, result.stdout  # rank 0 alone reports ...
    assert result.stdout.count("model written to") == 1  # ... and writes the model
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.zip"]

    # The same model fitted by one process, in this one.
    example = _load_example()
    (X_train, X_test, y_train, y_test), clf = example.make_model(
        example.parse_args(options), device="cpu")
    clf.fit(X_train, y_train)
    parallel = sk_i2m2.load(output)
    assert np.abs(parallel.predict_proba(X_test) - clf.predict_proba(X_test)).max() < MATCH
    assert float(reported[0]) == pytest.approx(clf.score(X_test, y_test), abs=1e-4)
    assert float(reported[0]) > 0.8  # well above chance (0.5)


def _fit(**params):
    X, y, modalities = make_multimodal_classification(n_samples=203, random_state=1)
    modalities = [(name, MLPExpert(hidden_units=(16,), dropout=0), columns)
                  for name, _, columns in modalities]
    # 203 rows: 162 in training folds of the 2 members, so the last batch of 50 (and
    # of 27 in the other member) splits unevenly between the processes.
    weights = np.where(y == 1, 3.0, 1.0)
    clf = I2M2Classifier(modalities, fusion=ConcatFusion(hidden_units=(16,), dropout=0),
                         n_bags=2, max_epochs=6, pretrain_epochs=2, batch_size=56,
                         random_state=0, **params)
    return X, clf.fit(X, y, sample_weight=weights)


def _fit_volumes(**params):
    """A 3D CNN on 6x8x8 volumes given as voxel columns, and a table."""
    rng = np.random.RandomState(0)
    n, shape = 90, (1, 6, 8, 8)
    y = rng.randint(0, 2, n)
    voxels = rng.normal(size=(n, *shape))
    voxels[y == 1, :, :3, :4, :4] += 1.0
    X = pd.DataFrame(voxels.reshape(n, -1), columns=[f"v{i}" for i in range(6 * 8 * 8)])
    X["age"] = rng.normal(size=n)
    modalities = [("mri", CNNExpert(input_shape=shape, hidden_units=(8,), dropout=0),
                   [f"v{i}" for i in range(6 * 8 * 8)]),
                  ("clinical", MLPExpert(hidden_units=(8,), dropout=0), ["age"])]
    clf = I2M2Classifier(modalities, fusion=ConcatFusion(hidden_units=(8,), dropout=0),
                         n_bags=1, calibrate=None, max_epochs=4, batch_size=32,
                         random_state=0, **params)
    return X, clf.fit(X, y)


FITS = {"tables": _fit, "volumes": _fit_volumes}


def _fit_in_process_group(rank, world_size, init_file, output, kind="tables"):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    try:
        X, clf = FITS[kind](distributed=True)
        np.save(output / f"rank{rank}.npy", clf.predict_proba(X))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("kind", list(FITS))
def test_gradients_average_over_the_whole_batch(tmp_path, kind):
    """Uneven shards, row weights, pretraining and an ensemble; volumes: the same model."""
    mp.spawn(_fit_in_process_group, args=(2, tmp_path / "init", tmp_path, kind), nprocs=2)
    X, single = FITS[kind]()
    expected = single.predict_proba(X)
    for rank in (0, 1):  # every process ends with the same model
        assert np.abs(np.load(tmp_path / f"rank{rank}.npy") - expected).max() < MATCH


def test_distributed_without_a_process_group_says_how_to_launch():
    X, y, modalities = make_multimodal_classification(n_samples=60, random_state=0)
    clf = I2M2Classifier(modalities, distributed=True, max_epochs=1)
    with pytest.raises(RuntimeError, match="torchrun.*init_process_group"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


@pytest.mark.parametrize("n_rows, batch_size", [(10, 4), (11, 4), (9, 4), (8, 8)])
def test_shards_of_each_batch_are_the_single_process_batch(n_rows, batch_size):
    world_size = 3
    batches = [list(RowBatches(n_rows, batch_size, shuffle=True,
                               generator=torch.Generator().manual_seed(0)))]
    shards = [list(RowBatches(n_rows, batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(0),
                              shard=(rank, world_size)))
              for rank in range(world_size)]
    kept = [rows for rows in batches[0] if len(rows) >= world_size]
    for rank in range(world_size):
        assert len(shards[rank]) == len(kept) == len(RowBatches(
            n_rows, batch_size, shard=(rank, world_size)))
    for step, rows in enumerate(kept):
        together = torch.cat([shards[rank][step] for rank in range(world_size)])
        assert sorted(together.tolist()) == sorted(rows.tolist())


def test_the_example_parses_its_own_defaults():
    args = _load_example().parse_args([])
    assert isinstance(args, argparse.Namespace) and not args.cpu
