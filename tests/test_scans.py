"""The image expert learns from a few hundred scans at package defaults.

The task of ``benchmarks/scans.py`` (which also times it): 300 digit scans from
files, 100 held out. A logistic regression on the pixels reaches about 0.9.
"""

import numpy as np
from sklearn.model_selection import train_test_split

from sk_i2m2 import I2M2Classifier
from sk_i2m2.datasets import make_digit_scans


def test_make_digit_scans_writes_one_png_per_row(tmp_path):
    X, y, modalities = make_digit_scans(tmp_path, n_samples=40, size=16, random_state=1)
    assert X.shape == (40, 1) and set(np.unique(y)) == {0, 1}
    assert sorted(str(path) for path in tmp_path.glob("*.png")) == sorted(X["scan"])
    (name, expert, columns), = modalities
    assert name == "scan" and columns == ["scan"]
    assert expert.input_shape == (1, 16, 16) and expert.loader == "auto"


def test_at_defaults_the_cnn_learns_300_scans(tmp_path):
    # 16x16 scans (the 8x8 digits enlarged): the estimator's defaults at a quarter of
    # the pixels of the benchmark's 32x32, which keeps the suite within its minutes.
    X, y, modalities = make_digit_scans(tmp_path, n_samples=300, size=16, random_state=0)
    train, test = train_test_split(np.arange(300), test_size=100, stratify=y,
                                   random_state=0)
    clf = I2M2Classifier(modalities, random_state=0).fit(X.iloc[train], y[train])
    accuracy = (clf.predict(X.iloc[test]) == y[test]).mean()
    # 0.95 on this draw; at 32x32, 0.91 to 0.96 over three draws
    # (benchmarks/results/scans.md), where the previous release reached 0.58 to 0.69.
    assert accuracy >= 0.85
