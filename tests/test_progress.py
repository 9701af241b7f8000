"""Progress on long work: with verbose=1, bars in a terminal and plain lines in a log
file; silence with verbose=0."""

import re

import pytest
from sklearn.linear_model import LogisticRegression

from sk_i2m2 import I2M2Classifier, _sklearn_experts, _training
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import MLPExpert, SklearnExpert

from .conftest import FAST


@pytest.fixture
def data():
    X, y, modalities = make_multimodal_classification(n_samples=120, random_state=0)
    return X, y, [(name, MLPExpert(hidden_units=(8,)), columns)
                  for name, _, columns in modalities]


@pytest.fixture
def terminal(monkeypatch):
    """Progress written as to a terminal (captured output is a file)."""
    for module in (_training, _sklearn_experts):
        monkeypatch.setattr(module, "progress_to_terminal", lambda: True)


def test_verbose_0_is_silent(data, capfd):
    X, y, modalities = data
    I2M2Classifier(modalities, **{**FAST, "n_bags": 2}).fit(X, y)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""


def test_verbose_1_shows_epochs_and_batches_of_each_member(data, capfd, terminal):
    X, y, modalities = data
    # 2 members, each trains on 60 rows (2 batches of 32) and validates on 60 (1 batch).
    I2M2Classifier(modalities, verbose=1, **{**FAST, "n_bags": 2,
                                              "early_stopping": False}).fit(X, y)
    printed = capfd.readouterr()
    assert printed.out == ""  # bars go to stderr, the table is not printed
    for member in ("member 1/2", "member 2/2"):
        # The epoch bar reaches its end, with the last losses.
        assert re.search(rf"{member}: 100%\S* 3/3 \[.*train_loss=\d\.\d{{4}}, "
                         r"valid_loss=\d\.\d{4}", printed.err), printed.err[-2000:]
    assert re.search(r" 3/3 \[", printed.err)  # a batch bar: 2 training + 1 validation


def test_verbose_1_shows_the_cross_fitting_of_sklearn_experts(data, capfd, terminal):
    X, y, modalities = data
    name, _, columns = modalities[0]
    modalities = [(name, SklearnExpert(LogisticRegression(), cv=4), columns), modalities[1]]
    I2M2Classifier(modalities, verbose=1, **FAST).fit(X, y)
    err = capfd.readouterr().err
    assert re.search(rf"cross-fitting '{name}': 100%\S* 4/4", err), err[-2000:]
    assert re.search(r"training: 100%\S* 3/3", err)


def test_verbose_1_into_a_file_writes_a_few_plain_lines(data, capfd):
    X, y, modalities = data
    name, _, columns = modalities[0]
    modalities = [(name, SklearnExpert(LogisticRegression(), cv=3), columns), modalities[1]]
    # At the defaults: five members, early-stopped.
    I2M2Classifier(modalities, verbose=1, random_state=0).fit(X, y)
    err = capfd.readouterr().err
    assert "\r" not in err and "\x1b" not in err  # no bars, no cursor movements
    assert len(err.encode()) < 20_000
    lines = err.splitlines()
    # A header: the rows, then each modality's presence.
    assert lines[0] == f"I2M2Classifier: {len(X)} rows, 2 modalities"
    assert lines[1].startswith(f"  {name} (SklearnExpert): {len(X)} present")
    assert lines[3] == f"cross-fitting {name!r}: 3 folds" + lines[3].split("folds")[1]
    # A closing line: members, epochs, calibration, expert weights, time.
    assert re.fullmatch(r"I2M2Classifier fitted in \d+\.\d s: 5 members, \d+ to \d+ epochs "
                        r"\(median \d+\); temperature \d\.\d+; expert weights "
                        rf".*\b{name} \d\.\d\d\b.*\bfusion \d\.\d\d\b.*", lines[-1]), lines[-1]
    for member in range(1, 6):
        assert f"member {member}/5: at most 200 epochs" in lines
        done = [line for line in lines if line.startswith(f"member {member}/5: done after")]
        assert len(done) == 1 and re.search(r"best valid_loss \d\.\d{4} at epoch \d+",
                                            done[0]), done
    assert any(re.fullmatch(r"member 1/5: epoch 10/200, train_loss \d\.\d{4}, "
                            r"valid_loss \d\.\d{4}", line) for line in lines), lines
