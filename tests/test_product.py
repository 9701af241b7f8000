import pytest
import torch
from torch import nn

from sk_i2m2.product import FUSION, ProductOfExperts, combine_log_proba


class Concat(nn.Module):
    def __init__(self, n_outputs):
        super().__init__()
        self.linear = nn.Linear(5, n_outputs)

    def forward(self, inputs, present):
        return self.linear(torch.cat([inputs["a"], inputs["b"]], dim=1))


def test_combined_log_proba_is_renormalised_product():
    torch.manual_seed(0)
    logits = {"a": torch.randn(6, 3), "b": torch.randn(6, 3), FUSION: torch.randn(6, 3)}
    combined = combine_log_proba(logits).exp()
    product = torch.ones(6, 3)
    for value in logits.values():
        product = product * torch.softmax(value, dim=1)
    expected = product / product.sum(dim=1, keepdim=True)
    torch.testing.assert_close(combined, expected)
    torch.testing.assert_close(combined.sum(dim=1), torch.ones(6))


def test_single_expert_product_is_that_expert():
    logits = torch.randn(4, 2)
    torch.testing.assert_close(combine_log_proba({"a": logits}), torch.log_softmax(logits, 1))


def test_module_holds_named_experts_and_forwards_keywords():
    module = ProductOfExperts({"a": nn.Linear(2, 3), "b": nn.Linear(3, 3)}, Concat(3))
    assert module.expert_names == ["a", "b", FUSION]
    inputs = {"a": torch.randn(4, 2), "b": torch.randn(4, 3)}
    logits = module.expert_outputs(inputs).logits
    assert list(logits) == ["a", "b", FUSION]
    torch.testing.assert_close(module(**inputs), combine_log_proba(logits))
    torch.testing.assert_close(module(inputs), module(**inputs))


def test_module_without_experts_is_refused():
    with pytest.raises(ValueError, match="at least one expert"):
        ProductOfExperts({}, None)
