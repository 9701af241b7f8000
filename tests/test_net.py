import numpy as np
import pytest
import torch

from sk_i2m2 import I2M2Classifier
from sk_i2m2._dataset import TensorBatches, TensorDictDataset
from sk_i2m2._net import JOINT, PRETRAIN
from sk_i2m2._plan import resolve_predict_batch_size as prediction_batch_size
from sk_i2m2.product import FUSION

from .conftest import FAST


def _dataset(n=10):
    X = {"a": np.arange(n * 2, dtype=float).reshape(n, 2), "b": np.arange(n)[:, None]}
    return TensorDictDataset(X, np.arange(n) % 2)


def test_batches_in_order_cover_every_row_once():
    batches = list(TensorBatches(_dataset(10), batch_size=4))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    rows = torch.cat([Xb.modalities["b"][:, 0] for Xb, _ in batches])
    torch.testing.assert_close(rows, torch.arange(10, dtype=torch.float32))


def test_shuffled_batches_are_a_seeded_permutation_that_keeps_rows_aligned():
    def epoch(seed):
        generator = torch.Generator().manual_seed(seed)
        batches = TensorBatches(_dataset(10), batch_size=3, shuffle=True,
                                generator=generator)
        return list(batches)

    first = epoch(0)
    rows = torch.cat([Xb.modalities["b"][:, 0] for Xb, _ in first])
    assert sorted(rows.tolist()) == list(range(10))
    assert rows.tolist() != list(range(10))
    for Xb, yb in first:  # modalities and labels stay aligned row by row
        a, b = Xb.modalities["a"], Xb.modalities["b"]
        torch.testing.assert_close(a[:, 0], 2 * b[:, 0])
        torch.testing.assert_close(yb, b[:, 0].long() % 2)
    assert [b[1].tolist() for b in epoch(0)] == [b[1].tolist() for b in first]


def test_dataset_rows_work_with_a_plain_dataloader():
    loader = torch.utils.data.DataLoader(_dataset(6), batch_size=4)
    Xb, yb = next(iter(loader))
    assert Xb.modalities["a"].shape == (4, 2) and yb.tolist() == [0, 1, 0, 1]


def test_pretraining_touches_each_expert_only_through_its_own_loss(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, **FAST).fit(X, y)
    net, module = clf.net_, clf.net_.module_
    inputs = {k: torch.as_tensor(v) for k, v in clf.splitter_.transform(X).items()}
    target = torch.as_tensor(np.searchsorted(clf.classes_, y))

    def grads(loss_of_outputs):
        module.zero_grad()
        loss_of_outputs(module.expert_outputs(inputs)).backward()
        return {name: torch.cat([torch.zeros_like(p).flatten() if p.grad is None
                                 else p.grad.flatten() for p in expert.parameters()])
                for name, expert in [*module.unimodal.items(), (FUSION, module.fusion)]}

    pretrain = grads(lambda outputs: net.get_pretrain_loss(outputs, target))
    for name in pretrain:
        alone = grads(lambda outputs, name=name: net.criterion_(outputs.logits[name],
                                                                 target).mean())
        torch.testing.assert_close(pretrain[name], alone[name])
        others = [g for other, g in alone.items() if other != name]
        assert all(torch.count_nonzero(g) == 0 for g in others)

    # The product couples the experts: gradients differ.
    joint = grads(lambda outputs: net.get_loss(module.combine(outputs), target))
    assert not torch.allclose(joint["m0"], pretrain["m0"])


def test_stages_run_in_order_and_are_recorded(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, pretrain_epochs=2, **FAST).fit(X, y)
    assert clf.history_[:, "stage"] == [PRETRAIN] * 2 + [JOINT] * FAST["max_epochs"]


def test_single_expert_skips_pretraining(two_modalities):
    X, y, modalities = two_modalities
    clf = I2M2Classifier(modalities, dependencies="inter", pretrain_epochs=2, **FAST)
    assert clf.fit(X, y).history_[:, "stage"] == [JOINT] * FAST["max_epochs"]


@pytest.mark.parametrize("shapes, rows", [
    ([(40,)], 4096),                 # tables: the largest batch
    ([(3,), (1, 8, 8)], 1024),       # 65 536 values of 8x8 images
    ([(1, 32, 32), (2, 100)], 64),   # the widest decides
    ([(3, 64, 64)], 64),             # never fewer than 64 rows
    ([(1, 4, 4)], 4096),             # nor more than 4096
])
def test_auto_prediction_batches_hold_a_bounded_number_of_values(shapes, rows):
    assert prediction_batch_size("auto", shapes) == rows
    assert prediction_batch_size(100, shapes) == 100
