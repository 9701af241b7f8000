"""The product-of-experts torch module.

    p(y | x, x') ∝ q_x(y | x) · q_x'(y | x') · q_xx'(y | x, x')

Each factor is an expert with its own weights; the combined log-probability is the sum
of the experts' ``log_softmax``, renormalised.
"""

import torch
from torch import nn

FUSION = "fusion"


def combine_log_proba(expert_logits):
    """Renormalised sum of each expert's log-probabilities.

    Parameters
    ----------
    expert_logits : dict of str to Tensor
        ``(n, n_classes)`` logits of each expert.

    Returns
    -------
    Tensor
        ``(n, n_classes)`` normalised log-probabilities of the product.
    """
    total = None
    for logits in expert_logits.values():
        log_proba = torch.log_softmax(logits, dim=1)
        total = log_proba if total is None else total + log_proba
    return torch.log_softmax(total, dim=1)


class ProductOfExperts(nn.Module):
    """One torch module holding every expert of the product.

    Parameters
    ----------
    unimodal : dict of str to Module
        One intra-modality expert per modality name (empty for ``"inter"``).
    fusion : Module or None
        The inter-modality expert, called with every modality as keyword
        (None for ``"intra"``).
    """

    def __init__(self, unimodal, fusion=None):
        super().__init__()
        if not unimodal and fusion is None:
            raise ValueError("A product of experts needs at least one expert.")
        self.unimodal = nn.ModuleDict(unimodal)
        self.fusion = fusion

    @property
    def expert_names(self):
        names = list(self.unimodal)
        return names + [FUSION] if self.fusion is not None else names

    def expert_logits(self, **modalities):
        """Each expert's own ``(n, n_classes)`` logits, keyed by expert name."""
        logits = {name: expert(modalities[name]) for name, expert in self.unimodal.items()}
        if self.fusion is not None:
            logits[FUSION] = self.fusion(**modalities)
        return logits

    def forward(self, **modalities):
        """Combined log-probabilities of the product, ``(n, n_classes)``."""
        return combine_log_proba(self.expert_logits(**modalities))
