"""What makes image fits and explanations cheap on a CPU: the one-cycle learning rate
for 2D images, bfloat16 training steps, and integrated gradients refined per row."""

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback

from sk_i2m2 import I2M2Classifier, _attribution
from sk_i2m2._attribution import TOLERANCE, integrated_gradients
from sk_i2m2._plan import ONE_CYCLE_EPOCHS, ONE_CYCLE_PEAK, resolve_one_cycle
from sk_i2m2.experts import CNNExpert, MLPExpert
from sk_i2m2.experts._neural import _ConvNet, cpu_has_bfloat16

IMAGE = [("scan", CNNExpert(input_shape=(1, 8, 8)), list(range(64)))]
VOLUME = [("scan", CNNExpert(input_shape=(1, 4, 4, 4)), list(range(64)))]
TABLE = [("clinical", MLPExpert(), ["a", "b"])]


@pytest.mark.parametrize(("modalities", "n_iter_no_change", "max_epochs", "epochs"), [
    (IMAGE + TABLE, "auto", 200, ONE_CYCLE_EPOCHS),  # 240 rows: 4 steps an epoch
    (IMAGE, "auto", 20, 0),  # max_epochs too few for the cycle: constant rate
    (IMAGE, 10, 200, 0),  # an explicit patience keeps the constant rate
    (VOLUME + TABLE, "auto", 200, 0),  # volumes: constant rate
    (TABLE, "auto", 200, 0),  # tables: constant rate
])
def test_one_cycle_is_for_2d_images_at_auto_patience(modalities, n_iter_no_change,
                                                     max_epochs, epochs):
    assert resolve_one_cycle(n_iter_no_change, max_epochs, modalities, 240, 64) == epochs


def test_one_cycle_takes_about_180_steps_when_epochs_are_short():
    # 40 rows, one step an epoch: 180 epochs, if max_epochs allows them.
    assert resolve_one_cycle("auto", 200, IMAGE, 40, 64) == 180
    assert resolve_one_cycle("auto", 150, IMAGE, 40, 64) == 0


def _image_rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    images = rng.normal(size=(n, 64)).astype(np.float32)
    images[:, :32] += y[:, None]  # the upper half is bright in class 1
    return pd.DataFrame(images), y


def test_a_2d_image_fit_trains_on_the_cycle_and_keeps_its_best_epoch():
    X, y = _image_rows(n=80)
    lrs = []

    class Probe(Callback):
        def on_batch_end(self, net, training, **kwargs):
            if training:
                lrs.append(net.optimizer_.param_groups[0]["lr"])

    clf = I2M2Classifier(IMAGE, n_bags=2, lr=1e-3, callbacks=[("probe", Probe())],
                         random_state=0).fit(X, y)
    assert clf.n_iter_no_change_ == 180  # 40 training rows: one step an epoch
    member_epochs = [sum(1 for epoch in clf.history_ if epoch["member"] == k)
                     for k in range(2)]
    assert member_epochs == [180, 180]
    first_member = np.asarray(lrs[:180])
    assert first_member.max() == pytest.approx(ONE_CYCLE_PEAK * 1e-3, rel=0.01)
    assert first_member.argmax() == pytest.approx(0.3 * 180, abs=2)  # warm-up: 30%
    assert first_member[-1] < 1e-5  # annealed
    # Early stopping kept the epoch of the best held-out loss, wherever it lay.
    history = [epoch for epoch in clf.history_ if epoch["member"] == 0]
    best = min(epoch["valid_loss"] for epoch in history)
    assert any(epoch["valid_loss_best"] and epoch["valid_loss"] == best for epoch in history)
    assert clf.score(X, y) > 0.9


def test_bfloat16_is_for_training_steps_of_2d_networks_only():
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output.dtype
        return hook

    image = _ConvNet((1, 8, 8), (4,), 3, (8,), 0.0, 2)
    volume = _ConvNet((1, 4, 4, 4), (4,), 3, (8,), 0.0, 2)
    image.features[0].register_forward_hook(record("image"))
    volume.features[0].register_forward_hook(record("volume"))
    x2, x3 = torch.randn(5, 64), torch.randn(5, 64)
    image.train(), volume.train()
    image(x2), volume(x3)
    assert seen["image"] == (torch.bfloat16 if cpu_has_bfloat16() else torch.float32)
    assert seen["volume"] == torch.float32
    image.eval()
    with torch.no_grad():
        output = image(x2)
    assert seen["image"] == torch.float32 and output.dtype == torch.float32
    _ConvNet.bfloat16_training = False
    try:
        image.train()
        image(x2)
        assert seen["image"] == torch.float32
    finally:
        _ConvNet.bfloat16_training = True


def test_integrated_gradients_stop_each_row_when_its_attributions_add_up():
    torch.manual_seed(0)
    n, width = 6, 5
    inputs = {"x": torch.randn(n, width)}
    baselines = {"x": torch.zeros(width)}
    weights = torch.randn(width)
    evaluated = []

    def linear(path, rows):
        evaluated.append(len(rows))
        return path["x"] @ weights

    attributions, at_input, at_baseline = integrated_gradients(linear, inputs, baselines)
    # A linear score is integrated exactly at the first pass: 9 points, no refinement.
    assert sum(evaluated) == 9 * n
    torch.testing.assert_close(attributions["x"], inputs["x"] * weights)

    # A kinked score (a ReLU): rows refine until they add up, or reach 64 intervals.
    evaluated.clear()
    shift = torch.linspace(-1.0, 1.0, width)

    def kinked(path, rows):
        evaluated.append(len(rows))
        return torch.relu(path["x"] * 3.0 - shift).sum(dim=1)

    attributions, at_input, at_baseline = integrated_gradients(kinked, inputs, baselines)
    assert 9 * n < sum(evaluated) < 65 * n  # some rows refined, not every one to 64
    first_steps = _attribution.FIRST_STEPS
    _attribution.FIRST_STEPS = 10**9  # every row on all 64 intervals
    try:
        full = integrated_gradients(kinked, inputs, baselines)[0]["x"]
    finally:
        _attribution.FIRST_STEPS = first_steps
    change = at_input - at_baseline
    gap = (attributions["x"].sum(dim=1) - change).abs()
    # Each row adds up within the tolerance, or took all 64 intervals.
    done = gap <= TOLERANCE * change.abs().clamp(min=1.0)
    refined_to_the_end = torch.isclose(attributions["x"], full).all(dim=1)
    assert (done | refined_to_the_end).all()
    assert ((full.sum(dim=1) - change).abs() <= 0.05 * change.abs().clamp(min=1.0)).all()
