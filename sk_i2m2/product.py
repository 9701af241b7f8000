"""The product-of-experts torch module.

    p(y | x, x') ∝ q_x(y | x) · q_x'(y | x') · q_xx'(y | x, x')

Each factor is an expert with its own weights; the combined log-probability is the sum
of the experts' ``log_softmax``, renormalised.

A row may lack a modality. The splitter marks that by filling the row's block of that
modality with NaN; here the row then drops that modality's factors: its unimodal
expert is left out of the product, and the fusion expert sees the modality's
embedding masked to zero.
"""

import torch
from torch import nn

FUSION = "fusion"
#: Suffix of the inputs that carry a fixed expert's log-probabilities.
FIXED = "__log_proba"


def combine_log_proba(expert_logits, available=None, weights=None, bias=None,
                      temperature=None):
    """Renormalised sum of the log-probabilities of the experts available per row.

    Parameters
    ----------
    expert_logits : dict of str to Tensor
        ``(n, n_classes)`` logits of each expert.
    available : dict of str to Tensor or None
        ``(n,)`` boolean mask per expert; None means every expert sees every row.
    weights : Tensor or None
        One weight per expert, in the order of ``expert_logits`` (I2M2 itself:
        None, every weight 1).
    bias : Tensor or None
        ``(n_classes,)`` added to the sum (I2M2 itself: None).
    temperature : Tensor or None
        Scalar dividing the sum before it is renormalised (``calibrate="temperature"``).

    Returns
    -------
    Tensor
        ``(n, n_classes)`` normalised log-probabilities of the product.
    """
    total = None
    for k, (name, logits) in enumerate(expert_logits.items()):
        log_proba = torch.log_softmax(logits, dim=1)
        if available is not None:
            log_proba = log_proba * available[name].unsqueeze(1)
        if weights is not None:
            log_proba = log_proba * weights[k]
        total = log_proba if total is None else total + log_proba
    if bias is not None:
        total = total + bias
    if temperature is not None:
        total = total / temperature
    return torch.log_softmax(total, dim=1)


def presence(modalities):
    """``{name: (n,) bool}``: which rows hold each modality (missing rows are NaN)."""
    return {name: ~torch.isnan(x.reshape(len(x), -1)[:, 0])
            for name, x in modalities.items() if not name.endswith(FIXED)}


class ProductOfExperts(nn.Module):
    """One torch module holding every expert of the product.

    Parameters
    ----------
    unimodal : dict of str to Module
        One intra-modality expert per modality name (empty for ``"inter"``).
    fusion : Module or None
        The inter-modality expert, called as ``fusion(inputs, present)`` with dicts
        of every modality's tensor and presence mask (None for ``"intra"``).
    modality_dropout : float, default=0.0
        In training mode, the probability that a row loses each of its modalities
        (never all of them), so that the product learns to predict without it.
    fixed : tuple of str, default=()
        Experts whose log-probabilities are given, not computed: fitted scikit-learn
        classifiers. Each arrives as the input ``<name>__log_proba``; a modality name,
        or ``"fusion"`` for a fixed inter-modality expert.
    """

    def __init__(self, unimodal, fusion=None, modality_dropout=0.0, fixed=()):
        super().__init__()
        if not unimodal and fusion is None and not fixed:
            raise ValueError("A product of experts needs at least one expert.")
        if fusion is not None and FUSION in fixed:
            raise ValueError("The fusion expert is either a module or fixed, not both.")
        self.unimodal = nn.ModuleDict(unimodal)
        self.fusion = fusion
        self.modality_dropout = modality_dropout
        self.fixed = tuple(fixed)
        # Learnt per-expert weights and class biases (expert_weights="learn"); by
        # default none, as in I2M2: every expert counts once.
        self.register_buffer("expert_weights", None)
        self.register_buffer("class_bias", None)
        # Set after training by calibrate="temperature"; None: no temperature.
        self.register_buffer("temperature", None)

    @property
    def trainable(self):
        """Whether any expert learns by gradient (fitted classifiers do not)."""
        return any(parameter.requires_grad for parameter in self.parameters())

    @property
    def expert_names(self):
        names = list(self.unimodal) + [name for name in self.fixed if name != FUSION]
        has_fusion = self.fusion is not None or FUSION in self.fixed
        return names + [FUSION] if has_fusion else names

    def _drop_modalities(self, present):
        kept = {name: mask & (torch.rand(mask.shape, device=mask.device)
                              >= self.modality_dropout)
                for name, mask in present.items()}
        # A row that would lose every modality keeps what it had.
        emptied = ~torch.stack(list(kept.values())).any(dim=0)
        return {name: kept[name] | (emptied & present[name]) for name in present}

    def expert_outputs(self, **modalities):
        """Each expert's logits and the rows it sees.

        Returns
        -------
        logits : dict of str to Tensor
            ``(n, n_classes)`` per expert name (modality names and ``"fusion"``).
        available : dict of str to Tensor
            ``(n,)`` boolean mask per expert: a unimodal expert sees the rows holding
            its modality; the fusion expert sees rows holding any modality.
        """
        present = presence(modalities)
        if self.training and self.modality_dropout:
            present = self._drop_modalities(present)
        # Missing rows enter the experts as zeros; their outputs are masked later.
        inputs = {name: torch.where(mask.view(-1, *[1] * (modalities[name].dim() - 1)),
                                    modalities[name], 0.0)
                  for name, mask in present.items()}
        any_present = torch.stack(list(present.values())).any(dim=0)
        logits = {name: expert(inputs[name]) for name, expert in self.unimodal.items()}
        available = {name: present[name] for name in self.unimodal}
        for name in self.fixed:
            rows = any_present if name == FUSION else present[name]
            # Rows the fixed expert cannot see hold NaN; they are masked out below.
            logits[name] = torch.where(rows.unsqueeze(1), modalities[name + FIXED], 0.0)
            available[name] = rows
        if self.fusion is not None:
            logits[FUSION] = self.fusion(inputs, present)
            available[FUSION] = any_present
        return logits, available

    def expert_logits(self, **modalities):
        """Each expert's own ``(n, n_classes)`` logits, keyed by expert name."""
        return self.expert_outputs(**modalities)[0]

    def combine(self, logits, available):
        """The product of the experts' outputs (see :meth:`expert_outputs`)."""
        return combine_log_proba(logits, available, weights=self.expert_weights,
                                 bias=self.class_bias, temperature=self.temperature)

    def forward(self, **modalities):
        """Combined log-probabilities of the product, ``(n, n_classes)``."""
        return self.combine(*self.expert_outputs(**modalities))
