"""Tests of :mod:`sk_i2m2.experts`: parameter holders that build torch modules."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from torch import nn

import sk_i2m2.experts._preprocessing
from sk_i2m2.experts import (
    BaseExpert,
    ChannelScaler,
    CNNExpert,
    ConcatFusion,
    MedianImputeScaler,
    MLPExpert,
    SequenceExpert,
    TorchExpert,
    table_preprocessor,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def n_modules(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def parameter_ids(module):
    return {id(p) for p in module.parameters()}


class FlatNet(nn.Module):
    """A user module for flat inputs: no ``input_shape`` in its signature."""

    def __init__(self, n_outputs, hidden=4, n_inputs=5):
        super().__init__()
        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_outputs))

    def forward(self, x):
        assert x.ndim == 2
        return self.net(x)


class ShapedNet(nn.Module):
    """A user module that asks for ``input_shape`` and checks what it receives."""

    def __init__(self, input_shape, n_outputs, hidden=4):
        super().__init__()
        self.input_shape = input_shape
        self.hidden = hidden
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), hidden),
                                 nn.ReLU(), nn.Linear(hidden, n_outputs))

    def forward(self, x):
        assert tuple(x.shape[1:]) == self.input_shape
        return self.net(x)


# --------------------------------------------------------------------- build


@pytest.mark.parametrize("expert, shape", [
    (MLPExpert(hidden_units=(8,)), (5,)),
    (MLPExpert(hidden_units=(8, 4), dropout=0.0), (5,)),
    (MLPExpert(hidden_units=(8,), linear=True), (5,)),
    (CNNExpert(input_shape=(1, 8, 8), channels=(4, 8)), (1, 8, 8)),
    (CNNExpert(input_shape=(1, 8, 8), channels=(4,), pooled_size=1), (1, 8, 8)),
    (CNNExpert(input_shape=(3, 16, 15), channels=(4,), hidden_units=6), (3, 16, 15)),
    (SequenceExpert(input_shape=(2, 32), channels=(4, 8)), (2, 32)),
    (TorchExpert(FlatNet, hidden=6), (5,)),
    (TorchExpert(ShapedNet, input_shape=(2, 3, 4)), (2, 3, 4)),
], ids=["mlp", "mlp_deep", "mlp_linear", "cnn_1x8x8", "cnn_global_pool", "cnn_3x16x15",
        "sequence", "torch_flat", "torch_shaped"])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_build_maps_samples_to_n_outputs(expert, shape, n_outputs):
    module = expert.build(shape, n_outputs)
    assert isinstance(module, nn.Module)
    module.eval()
    x = torch.randn(4, *shape)
    out = module(x)
    assert out.shape == (4, n_outputs)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # Samples also travel flattened (the splitter's arrays are reshaped per expert).
    torch.testing.assert_close(module(x.reshape(4, -1)) if len(shape) > 1 else out, out)
    # Rows are independent: the output of one row does not depend on the batch.
    torch.testing.assert_close(module(x[:1]), out[:1])
    # Every parameter takes part in the forward pass.
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_the_linear_path_adds_a_logistic_map_of_the_inputs():
    module = MLPExpert(hidden_units=(8,), dropout=0.0, linear=True).build((5,), 3)
    x = torch.randn(6, 5)
    with torch.no_grad():
        expected = module.deep(x) + x @ module.wide.weight.T + module.wide.bias
        torch.testing.assert_close(module(x), expected)
        for parameter in module.deep.parameters():
            parameter.zero_()
        # With the perceptron silenced, what is left is a multinomial logistic map.
        torch.testing.assert_close(module(x), x @ module.wide.weight.T + module.wide.bias)


@pytest.mark.parametrize("pooled_size, n_features", [(1, 8), (2, 8 * 4), (3, 8 * 9)])
def test_cnn_features_are_pooled_to_a_grid_that_keeps_where_they_lie(pooled_size,
                                                                     n_features):
    module = CNNExpert(input_shape=(1, 12, 12), channels=(8,), hidden_units=4,
                       pooled_size=pooled_size).build((1, 12, 12), 2)
    assert module.head[0].in_features == n_features
    module.eval()
    # The same blob in the top-left or the bottom-right corner: global pooling cannot
    # tell them apart (one conv layer, no padding effect at the centre of each), a
    # grid can.
    top_left, bottom_right = torch.zeros(2, 1, 12, 12), torch.zeros(2, 1, 12, 12)
    top_left[:, :, 2:4, 2:4] = 1.0
    bottom_right[:, :, 8:10, 8:10] = 1.0
    features = [module.features(image)[0] for image in (top_left, bottom_right)]
    assert torch.allclose(features[0], features[1], atol=1e-6) == (pooled_size == 1)


def test_each_build_gives_fresh_weights():
    expert = MLPExpert(hidden_units=(8,))
    first, second = expert.build((5,), 2), expert.build((5,), 2)
    assert parameter_ids(first).isdisjoint(parameter_ids(second))
    assert not torch.equal(first[0].weight, second[0].weight)


def test_cnn_expert_convolves_with_given_channels_and_kernel():
    module = CNNExpert(input_shape=(3, 16, 15), channels=(4, 6), kernel_size=5).build(
        (3, 16, 15), 2)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 4, (5, 5)), (4, 6, (5, 5))]
    module = SequenceExpert(input_shape=(2, 32), channels=3, kernel_size=7).build(
        (2, 32), 2)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (2, 3, (7,))]


@pytest.mark.parametrize("make", [
    lambda units: MLPExpert(hidden_units=units, dropout=0.0).build((5,), 3),
    lambda units: CNNExpert(input_shape=(1, 8, 8), channels=(2,), hidden_units=units,
                            dropout=0.0).build((1, 8, 8), 3),
    lambda units: SequenceExpert(input_shape=(1, 16), channels=(2,), hidden_units=units,
                                 dropout=0.0).build((1, 16), 3),
    lambda units: ConcatFusion(embedding_dim=4, hidden_units=units, dropout=0.0).build(
        {"a": (MLPExpert(hidden_units=2), (5,))}, 3).head,
], ids=["mlp", "cnn", "sequence", "fusion_head"])
def test_hidden_units_accepts_an_int_or_a_tuple(make):
    def widths(module):
        return [m.out_features for m in module.modules() if isinstance(m, nn.Linear)]

    as_int, as_tuple = make(7), make((7,))
    assert widths(as_int)[-2:] == widths(as_tuple)[-2:] == [7, 3]
    assert len(widths(as_int)) == len(widths(as_tuple))
    assert widths(make((7, 5)))[-3:] == [7, 5, 3]
    assert widths(make(np.int64(6)))[-2:] == [6, 3]


@pytest.mark.parametrize("expert, shape", [
    (MLPExpert(hidden_units=(8, 4)), (5,)),
    (CNNExpert(input_shape=(1, 8, 8), channels=(2,), hidden_units=(4, 4)), (1, 8, 8)),
    (SequenceExpert(input_shape=(1, 16), channels=(2,), hidden_units=(4,)), (1, 16)),
], ids=["mlp", "cnn", "sequence"])
def test_dropout_zero_builds_no_dropout_layer(expert, shape):
    with_dropout = expert.build(shape, 2)
    assert n_modules(with_dropout, nn.Dropout) == len(expert.hidden_units)
    assert all(m.p == 0.1 for m in with_dropout.modules() if isinstance(m, nn.Dropout))
    without = clone(expert).set_params(dropout=0).build(shape, 2)
    assert n_modules(without, nn.Dropout) == 0
    without.train()  # no randomness left, even in training mode
    x = torch.randn(3, *shape)
    torch.testing.assert_close(without(x), without(x))


def test_concat_fusion_without_dropout_is_deterministic_in_training_mode():
    fusion = ConcatFusion(embedding_dim=4, hidden_units=(6,), dropout=0.0).build(
        {"a": (MLPExpert(hidden_units=(3,), dropout=0.0), (5,))}, 2)
    fusion.train()
    x = torch.randn(8, 5)
    torch.testing.assert_close(fusion({"a": x}), fusion({"a": x}))
    assert not any(isinstance(m, nn.Dropout) for m in fusion.modules())


# --------------------------------------------------------------------- TorchExpert


def test_torch_expert_passes_input_shape_only_when_accepted():
    flat = TorchExpert(FlatNet, hidden=6).build((5,), 3)
    assert isinstance(flat, FlatNet)
    assert flat.hidden == 6

    shaped = TorchExpert(ShapedNet, input_shape=(2, 3), hidden=5).build((2, 3), 3)
    inner = [m for m in shaped.modules() if isinstance(m, ShapedNet)]
    assert len(inner) == 1
    assert inner[0].input_shape == (2, 3)
    assert inner[0].hidden == 5
    assert shaped(torch.randn(4, 6)).shape == (4, 3)
    assert shaped(torch.randn(4, 2, 3)).shape == (4, 3)


def test_torch_expert_accepts_a_factory_function():
    calls = []

    def factory(n_outputs, input_shape, width=2):
        calls.append((n_outputs, input_shape, width))
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), n_outputs))

    module = TorchExpert(factory, width=9).build((2, 4), 3)
    assert calls == [(3, (2, 4), 9)]
    assert module(torch.randn(5, 8)).shape == (5, 3)


def test_torch_expert_module_kwargs_are_parameters():
    expert = TorchExpert(FlatNet, hidden=7)
    params = expert.get_params()
    assert params["hidden"] == 7
    assert params["module"] is FlatNet
    assert params["input_shape"] is None
    assert params["preprocessor"] == "auto"
    assert expert.build((5,), 2).hidden == 7

    assert expert.set_params(hidden=9) is expert
    assert expert.get_params()["hidden"] == 9
    assert expert.build((5,), 2).hidden == 9

    copy = clone(expert)
    assert copy is not expert
    assert copy.get_params() == expert.get_params()
    assert copy.build((5,), 2).hidden == 9
    assert "hidden=9" in repr(expert)


def test_torch_expert_set_params_reaches_a_kwarg_not_given_at_construction():
    # set_params registers new module kwargs (TorchExpert.set_params) so a grid search
    # can tune a module argument left at its default.
    expert = TorchExpert(FlatNet)
    expert.set_params(hidden=3)
    assert expert.get_params()["hidden"] == 3
    assert expert.build((5,), 2).hidden == 3
    assert clone(expert).get_params()["hidden"] == 3


def test_torch_expert_factory_must_return_a_module():
    expert = TorchExpert(lambda n_outputs: torch.zeros(n_outputs))
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        expert.build((5,), 2)


def test_torch_expert_input_shape_must_match_the_columns():
    expert = TorchExpert(ShapedNet, input_shape=(2, 3))
    assert expert.sample_shape(6, "signal") == (2, 3)
    with pytest.raises(ValueError, match=r"Modality 'signal'.*input_shape=\(2, 3\)"):
        expert.sample_shape(7, "signal")
    assert TorchExpert(FlatNet).sample_shape(11, "signal") == (11,)


# --------------------------------------------------------------------- ConcatFusion


def test_concat_fusion_builds_one_encoder_per_modality():
    specs = {
        "clinical": (MLPExpert(hidden_units=(8,)), (5,)),
        "image": (CNNExpert(input_shape=(1, 8, 8), channels=(4,)), (1, 8, 8)),
        "signal": (SequenceExpert(input_shape=(2, 16), channels=(3,)), (2, 16)),
    }
    fusion = ConcatFusion(embedding_dim=6, hidden_units=(10,))
    module = fusion.build(specs, 3)
    assert isinstance(module, nn.Module)
    assert list(module.encoders) == list(specs)
    owned = [parameter_ids(e) for e in module.encoders.values()] + [
        parameter_ids(module.head)]
    assert all(owned)
    assert sum(map(len, owned)) == len(set().union(*owned))  # no parameter shared
    first_head_layer = next(m for m in module.head.modules() if isinstance(m, nn.Linear))
    assert first_head_layer.in_features == 6 * len(specs)

    module.eval()
    inputs = {"clinical": torch.randn(4, 5), "image": torch.randn(4, 1, 8, 8),
              "signal": torch.randn(4, 2, 16)}
    out = module(inputs)
    assert out.shape == (4, 3)
    for name, encoder in module.encoders.items():
        assert encoder(inputs[name]).shape == (4, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_concat_fusion_encoders_do_not_share_weights_with_unimodal_experts():
    expert = MLPExpert(hidden_units=(8,))
    unimodal = expert.build((5,), 2)
    fusion = ConcatFusion(embedding_dim=4).build(
        {"a": (expert, (5,)), "b": (expert, (5,))}, 2)
    assert parameter_ids(unimodal).isdisjoint(parameter_ids(fusion))
    assert parameter_ids(fusion.encoders["a"]).isdisjoint(
        parameter_ids(fusion.encoders["b"]))
    # Changing the unimodal expert's weights leaves the fusion output unchanged.
    fusion.eval()
    x = torch.randn(3, 5)
    before = fusion({"a": x, "b": x}).detach().clone()
    with torch.no_grad():
        for p in unimodal.parameters():
            p.add_(1.0)
    torch.testing.assert_close(fusion({"a": x, "b": x}), before)


def test_concat_fusion_uses_every_modality():
    module = ConcatFusion(embedding_dim=4, dropout=0.0).build(
        {"a": (MLPExpert(hidden_units=(8,), dropout=0.0), (3,)),
         "b": (MLPExpert(hidden_units=(8,), dropout=0.0), (2,))}, 2)
    a, b = torch.randn(16, 3), torch.randn(16, 2)
    base = module({"a": a, "b": b})
    assert not torch.allclose(module({"a": a + 1.0, "b": b}), base)
    assert not torch.allclose(module({"a": a, "b": b + 1.0}), base)
    # A modality masked out of a row no longer reaches that row's logits.
    present = {"a": torch.arange(16) % 2 == 0, "b": torch.ones(16, dtype=torch.bool)}
    masked = module({"a": a, "b": b}, present)
    changed = module({"a": a + 1.0, "b": b}, present)
    torch.testing.assert_close(changed[1::2], masked[1::2])
    assert not torch.allclose(changed[::2], masked[::2])


def test_concat_fusion_params_and_validation():
    fusion = ConcatFusion(embedding_dim=8, hidden_units=4, dropout=0.2)
    assert fusion.get_params() == {"embedding_dim": 8, "hidden_units": 4, "dropout": 0.2}
    assert clone(fusion).set_params(embedding_dim=3).embedding_dim == 3
    with pytest.raises(ValueError, match="embedding_dim"):
        ConcatFusion(embedding_dim=0).build({"a": (MLPExpert(), (5,))}, 2)


# --------------------------------------------------------------------- preprocessors


def test_experts_are_clonable_parameter_holders():
    for expert in [MLPExpert(hidden_units=(3,)), CNNExpert(input_shape=(3, 4, 4)),
                   SequenceExpert(input_shape=(2, 8)), TorchExpert(FlatNet, hidden=2)]:
        assert isinstance(expert, BaseExpert)
        copy = clone(expert)
        assert type(copy) is type(expert)
        assert copy.get_params() == expert.get_params()


def test_default_preprocessors():
    X = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": ["x", "y", "x"]})
    table = MLPExpert().make_preprocessor(X)
    out = table.fit_transform(X)
    assert out.shape == (3, 3)
    assert np.isfinite(out).all()

    image = CNNExpert(input_shape=(3, 2, 2)).make_preprocessor(np.zeros((4, 12)))
    assert isinstance(image, MedianImputeScaler)
    assert isinstance(image.scaler, ChannelScaler)
    assert image.scaler.n_channels == 3
    signal = SequenceExpert(input_shape=(2, 8)).make_preprocessor(np.zeros((4, 16)))
    assert signal.scaler.n_channels == 2

    assert MLPExpert(preprocessor="passthrough").make_preprocessor(X) == "passthrough"
    custom = ChannelScaler()
    made = MLPExpert(preprocessor=custom).make_preprocessor(X)
    assert isinstance(made, ChannelScaler)
    assert made is not custom
    with pytest.raises(ValueError, match="preprocessor"):
        MLPExpert(preprocessor="scale").make_preprocessor(X)


def test_shaped_experts_check_input_shape():
    assert CNNExpert(input_shape=(3, 4, 5)).sample_shape(60, "image") == (3, 4, 5)
    with pytest.raises(ValueError, match=r"Modality 'image'.*3 or 4 axes"):
        CNNExpert(input_shape=(4, 5)).sample_shape(20, "image")
    with pytest.raises(ValueError, match=r"Modality 'image'.*61 values"):
        CNNExpert(input_shape=(3, 4, 5)).sample_shape(61, "image")
    assert SequenceExpert(input_shape=(2, 8)).sample_shape(16, "ecg") == (2, 8)
    with pytest.raises(ValueError, match=r"Modality 'ecg'.*2 axes"):
        SequenceExpert(input_shape=(2, 2, 4)).sample_shape(16, "ecg")


# --------------------------------------------------------------------- ChannelScaler


def test_channel_scaler_standardises_each_channel():
    rng = np.random.default_rng(0)
    images = np.stack([rng.normal(5.0, 3.0, size=(20, 4, 4)),
                       rng.normal(-2.0, 0.1, size=(20, 4, 4))], axis=1)
    X = images.reshape(20, -1)
    scaler = ChannelScaler(n_channels=2).fit(X)
    out = scaler.transform(X)
    assert out.shape == X.shape
    per_channel = out.reshape(20, 2, -1)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(per_channel.std(axis=(0, 2)), 1, atol=1e-10)
    np.testing.assert_allclose(scaler.mean_, images.mean(axis=(0, 2, 3)))
    # One statistic per channel keeps the contrast between pixels of a channel.
    pixel_std = X.std(axis=0).reshape(2, -1)
    out_std = out.std(axis=0).reshape(2, -1)
    np.testing.assert_allclose(
        out_std / pixel_std, np.broadcast_to(1 / scaler.scale_[:, None], (2, 16)))


def test_channel_scaler_handles_constant_channels_and_nan():
    X = np.column_stack([np.full(5, 3.0), np.full(5, 3.0), np.arange(5.0), np.arange(5.0)])
    X[0, 2] = np.nan
    out = ChannelScaler(n_channels=2).fit_transform(X)
    np.testing.assert_array_equal(out[:, :2], 0.0)
    assert np.isnan(out[0, 2])
    assert np.isfinite(np.delete(out.ravel(), 2)).all()


def test_channel_scaler_rejects_columns_not_divisible_by_channels():
    with pytest.raises(ValueError, match="10 columns cannot be split into 3 channels"):
        ChannelScaler(n_channels=3).fit(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="n_channels"):
        ChannelScaler(n_channels=0).fit(np.zeros((4, 10)))


def test_channel_scaler_checks_width_and_keeps_feature_names():
    X = pd.DataFrame(np.arange(12.0).reshape(3, 4), columns=["p0", "p1", "p2", "p3"])
    scaler = ChannelScaler(n_channels=2).fit(X)
    assert scaler.get_feature_names_out().tolist() == ["p0", "p1", "p2", "p3"]
    from_array = ChannelScaler(n_channels=2).fit(X.to_numpy())
    assert from_array.get_feature_names_out().tolist() == ["x0", "x1", "x2", "x3"]
    with pytest.raises(ValueError, match="6 features"):
        from_array.transform(np.zeros((2, 6)))


def test_only_the_cnn_expert_reads_files():
    # A module keyword that happens to be called "loader" stays the module's.
    from sk_i2m2.experts import CNNExpert, TorchExpert
    from sk_i2m2.imaging import ImageLoader
    from sk_i2m2.imaging._files import ImageFiles
    paths = pd.DataFrame({"scan": ["a.png", "b.png"]})
    pixels = pd.DataFrame({"p0": [0.0, 1.0], "p1": [1.0, 0.0]})
    assert not isinstance(TorchExpert(torch.nn.Linear, loader="auto")
                          .make_preprocessor(pixels), ImageFiles)
    source = CNNExpert(input_shape=(1, 4, 4), loader="auto").make_preprocessor(paths, "scan")
    assert isinstance(source, ImageFiles) and isinstance(source.loader, ImageLoader)
    assert not isinstance(CNNExpert(input_shape=(1, 1, 2)).make_preprocessor(pixels),
                          ImageFiles)


def test_channel_scaler_fitted_by_chunks_of_rows_as_on_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 12)) + np.repeat([0.0, 1e4, -5.0], 4)
    X[rng.random(X.shape) < 0.1] = np.nan
    whole = ChannelScaler(n_channels=3).fit(X)
    chunked = ChannelScaler(n_channels=3)
    for rows in (slice(0, 7), slice(7, 8), slice(8, 50)):
        chunked.partial_fit(X[rows])
    np.testing.assert_allclose(chunked.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(chunked.scale_, whole.scale_, rtol=1e-12)
    np.testing.assert_array_equal(chunked.n_samples_seen_, whole.n_samples_seen_)
    # The same statistics as numpy's over all of each channel's values.
    per_channel = X.reshape(50, 3, 4)
    np.testing.assert_allclose(whole.mean_, np.nanmean(per_channel, axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(whole.scale_, np.nanstd(per_channel, axis=(0, 2)), rtol=1e-12)
    # A new fit starts afresh.
    np.testing.assert_array_equal(ChannelScaler(n_channels=3).fit(X[:5]).fit(X).mean_,
                                  whole.mean_)


# --------------------------------------------------------------------- MedianImputeScaler


def _hard_table(n_rows=400, seed=0):
    """Numbers of every scale, missing values, an all-missing and a constant column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "unit": rng.standard_normal(n_rows),
        "skewed": rng.lognormal(0.0, 2.0, n_rows),
        # Unix times: a large offset beside a small spread, which rounding the raw
        # values to float32 would destroy.
        "timestamp": 1.7e9 + rng.uniform(0, 86_400, n_rows),
        "tiny": rng.standard_normal(n_rows) * 1e-6,
        "count": rng.poisson(3.0, n_rows),  # integers
        "nullable": pd.array(rng.integers(0, 100, n_rows), dtype="Int64"),
        "empty": np.nan,
        "constant": 7.0,
    })
    for column in ["unit", "skewed", "timestamp", "tiny", "nullable"]:
        X.loc[rng.random(n_rows) < 0.2, column] = np.nan if column != "nullable" else pd.NA
    return X


def _float64_pipeline(scaler=None):
    """What MedianImputeScaler replaces, in float64."""
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         StandardScaler() if scaler is None else scaler)


@pytest.mark.parametrize("chunk_values", [None, 1, 37])
def test_median_impute_scaler_matches_imputer_then_scaler_in_float64(monkeypatch,
                                                                      chunk_values):
    # None: one chunk; 1: one column, then one row, at a time; 37: uneven chunks.
    if chunk_values is not None:
        monkeypatch.setattr(sk_i2m2.experts._preprocessing, "_CHUNK_VALUES", chunk_values)
    X = _hard_table()
    expected = _float64_pipeline().fit(X)
    scaler = MedianImputeScaler().fit(X)
    out = scaler.transform(X)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_array_equal(scaler.statistics_, expected[0].statistics_)
    assert scaler.statistics_[list(X.columns).index("empty")] == 0
    np.testing.assert_allclose(scaler.scaler_.mean_, expected[1].mean_, rtol=1e-9)
    np.testing.assert_allclose(scaler.scaler_.scale_, expected[1].scale_, rtol=1e-9)
    reference = expected.transform(X)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)
    if chunk_values is None:  # the same operations in float64, then the same rounding
        np.testing.assert_array_equal(out, reference.astype(np.float32))
    np.testing.assert_array_equal(out[:, list(X.columns).index("empty")], 0)
    # New rows, including values the fit never saw missing.
    new = _hard_table(50, seed=1)
    np.testing.assert_allclose(scaler.transform(new), expected.transform(new),
                               rtol=1e-5, atol=1e-6)
    assert list(scaler.get_feature_names_out()) == list(X.columns)
    # An array gives the same numbers; its columns are numbered.
    values = X.astype(float).to_numpy()
    from_array = MedianImputeScaler().fit(values)
    np.testing.assert_array_equal(from_array.transform(values), out)
    assert list(from_array.get_feature_names_out()) == [f"x{i}" for i in range(X.shape[1])]


def test_median_impute_scaler_with_channel_scaler_matches_the_signal_pipeline(monkeypatch):
    monkeypatch.setattr(sk_i2m2.experts._preprocessing, "_CHUNK_VALUES", 50)
    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 5.0, size=(60, 2 * 8))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 3] = np.nan
    expected = _float64_pipeline(ChannelScaler(n_channels=2)).fit_transform(X)
    out = MedianImputeScaler(ChannelScaler(n_channels=2)).fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_median_impute_scaler_refuses_what_the_imputer_refuses():
    scaler = MedianImputeScaler()
    for text in (pd.DataFrame({"a": ["x", "y"]}), np.array([[1.0], ["y"]], dtype=object)):
        with pytest.raises(ValueError, match="non-numeric data: could not convert"):
            scaler.fit(text)
    with pytest.raises(ValueError, match="0 sample"):
        scaler.fit(pd.DataFrame({"a": []}, dtype=float))
    with pytest.raises(ValueError, match="scaler"):
        MedianImputeScaler(scaler="standard").fit(np.zeros((2, 2)))
    fitted = scaler.fit(np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="3 features"):
        fitted.transform(np.zeros((2, 3)))


def test_table_preprocessor_output_is_unchanged_on_a_categorical_mix():
    X = _hard_table().assign(
        site=lambda frame: np.where(np.arange(len(frame)) % 3, "north", None),
        flag=lambda frame: np.arange(len(frame)) % 2 == 0,
        grade=lambda frame: pd.Categorical(np.array(["a", "b", "c", "a"] * 100)))
    numeric = [i for i, c in enumerate(X.columns) if c not in ("site", "flag", "grade")]
    # The preprocessor of the previous release, in float64.
    previous = ColumnTransformer(
        [("numeric", _float64_pipeline(), numeric),
         ("categorical", make_pipeline(
             FunctionTransformer(sk_i2m2.experts._as_object, feature_names_out="one-to-one"),
             SimpleImputer(strategy="most_frequent", keep_empty_features=True),
             OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
          [i for i in range(X.shape[1]) if i not in numeric])],
        sparse_threshold=0, verbose_feature_names_out=False)
    expected = previous.fit_transform(X)
    current = table_preprocessor(X)
    out = current.fit_transform(X)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert list(current.get_feature_names_out()) == list(previous.get_feature_names_out())
