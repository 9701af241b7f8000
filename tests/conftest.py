import os

import numpy as np
import pytest
import torch

from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import MLPExpert
from sk_i2m2.imaging import ImageLoader

if os.environ.get("PYTEST_XDIST_WORKER"):
    # In parallel (pytest -n auto), one torch thread per worker process: workers
    # with a thread per core each would slow one another many-fold.
    torch.set_num_threads(1)

#: Small networks and few epochs keep the suite fast; tests that measure learning
#: quality set their own sizes. One product, trained for exactly max_epochs, with no
#: temperature: what each test asserts about training is about that product
#: (tests/test_ensemble.py and tests/test_defaults.py cover the defaults).
SINGLE = {"n_bags": 1, "calibrate": None}
FAST = {"max_epochs": 3, "batch_size": 32, "random_state": 0, **SINGLE}


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``cuda`` on a machine without a CUDA device."""
    if torch.cuda.is_available():
        return
    needs_cuda = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(needs_cuda)


def small_modalities(columns_by_name):
    return [(name, MLPExpert(hidden_units=(8,)), cols)
            for name, cols in columns_by_name.items()]


@pytest.fixture
def two_modalities():
    """A mixed-dependency two-modality DataFrame with string labels."""
    X, y, modalities = make_multimodal_classification(
        n_samples=120, n_features=4, dependency="mixed", random_state=0)
    labels = np.array(["control", "impaired"])[y]
    spec = small_modalities({name: cols for name, _, cols in modalities})
    return X, labels, spec


@pytest.fixture
def files_read(monkeypatch):
    """The paths ``ImageLoader`` reads from disk, from now on."""
    paths = []
    original = ImageLoader._read

    def counting_read(self, path):
        paths.append(path)
        return original(self, path)

    monkeypatch.setattr(ImageLoader, "_read", counting_read)
    return paths
