"""Fusion experts: the inter-modality factor of the product.

A fusion expert is a scikit-learn style parameter holder, like the experts, with one
job: :meth:`BaseFusion.build` a torch module that reads every modality at once.

The contract, which every fusion expert (built-in or a user's) follows:

* ``build(modalities, n_outputs)`` receives ``{name: (expert, sample_shape)}`` for
  every modality, in order, and the number of classes; it returns an
  :class:`torch.nn.Module`. Each modality's ``expert.build(sample_shape, d)`` gives an
  encoder of that modality to ``d`` features, with weights of its own, for fusion
  experts that want to see each modality through the same kind of network as its
  unimodal expert.
* The module is called as ``module(inputs, present)``: ``inputs`` maps each modality
  name to its ``(n, *sample_shape)`` float tensor, ``present`` to an ``(n,)`` boolean
  mask of the rows holding that modality. Rows lacking a modality hold zeros in its
  tensor; **they must not influence the output** (mask them), so that a row's
  prediction is the same whatever was filled in for what it lacks.
* It returns ``(n, n_outputs)`` logits.
"""

from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from torch import nn

from ._layers import mlp

__all__ = ["AttentionFusion", "BaseFusion", "ConcatFusion"]


class BaseFusion(BaseEstimator):
    """Base class of the fusion (inter-modality) experts; subclasses define :meth:`build`.

    See the module docstring for the contract the built module follows.
    """

    def build(self, modalities, n_outputs):  # pragma: no cover - abstract
        """Return the fusion module.

        Parameters
        ----------
        modalities : dict
            ``{name: (expert, sample_shape)}`` for every modality, in order.
        n_outputs : int
            Number of classes.

        Returns
        -------
        torch.nn.Module
            Called as ``module(inputs, present)`` with ``{name: (n, *sample_shape)}``
            tensors and ``{name: (n,)}`` boolean masks; returns ``(n, n_outputs)``
            logits, uninfluenced by the rows a modality's mask marks absent.
        """
        raise NotImplementedError


class ConcatFusion(BaseFusion):
    """One encoder per modality, concatenated, then an MLP.

    Each encoder is built by that modality's own expert spec
    (``expert.build(shape, embedding_dim)``) with weights of its own, so the fusion
    expert sees every modality through the same kind of network as its unimodal
    expert, but learns features for the joint decision. A missing modality's
    embedding is set to zero.

    Parameters
    ----------
    embedding_dim : int, default=32
        Output size of each modality's encoder.
    hidden_units : int or tuple of int, default=(64,)
        Hidden layers of the head over the concatenated embeddings.
    dropout : float, default=0.1
        Dropout on the concatenated embeddings and after each hidden layer.
    """

    _parameter_constraints = {
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, embedding_dim=32, hidden_units=(64,), dropout=0.1):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout

    def build(self, modalities, n_outputs):
        self._validate_params()
        encoders = {
            name: expert.build(shape, self.embedding_dim)
            for name, (expert, shape) in modalities.items()
        }
        head = mlp(self.embedding_dim * len(encoders), self.hidden_units, n_outputs,
                   self.dropout)
        return _ConcatFusionModule(encoders, head, self.dropout)


class _ConcatFusionModule(nn.Module):
    def __init__(self, encoders, head, dropout):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.joint = nn.Sequential(nn.ReLU(), *([nn.Dropout(dropout)] if dropout else []))
        self.head = head

    def forward(self, inputs, present=None):
        """Logits from every modality's embedding; a missing modality's is zero.

        ``present=None`` means every row holds every modality.
        """
        embeddings = [encoder(inputs[name]) for name, encoder in self.encoders.items()]
        if present is not None:
            embeddings = [embedding * present[name].unsqueeze(1).to(embedding.dtype)
                          for embedding, name in zip(embeddings, self.encoders, strict=True)]
        return self.head(self.joint(torch.cat(embeddings, dim=1)))


class AttentionFusion(BaseFusion):
    """One token per modality and a class token, mixed by a small transformer encoder.

    Each modality's token is its encoder's output (``expert.build(shape,
    embedding_dim)``, weights of its own, as in :class:`ConcatFusion`) plus a learned
    embedding of the modality. A learned class token joins them; the encoder's output
    at the class token goes through a LayerNorm and a linear head to the logits. A
    missing modality's token is masked out of the attention (the class token never
    is), so it has no influence on the row's output.

    Parameters
    ----------
    embedding_dim : int, default=32
        Size of the tokens (the transformer's ``d_model``); must be divisible by
        ``n_heads``.
    n_heads : int, default=4
        Number of attention heads.
    n_layers : int, default=1
        Number of transformer encoder layers.
    feedforward_dim : int or None, default=None
        Width of each layer's feed-forward block; None means ``2 * embedding_dim``.
    dropout : float, default=0.1
        Dropout in the attention and feed-forward blocks.
    """

    _parameter_constraints = {
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "feedforward_dim": [Interval(Integral, 1, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, embedding_dim=32, n_heads=4, n_layers=1, feedforward_dim=None,
                 dropout=0.1):
        self.embedding_dim = embedding_dim
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.feedforward_dim = feedforward_dim
        self.dropout = dropout

    def build(self, modalities, n_outputs):
        self._validate_params()
        if self.embedding_dim % self.n_heads:
            raise ValueError(
                f"AttentionFusion: embedding_dim={self.embedding_dim} is not divisible "
                f"by n_heads={self.n_heads}; each head takes embedding_dim // n_heads "
                "features. Pick an embedding_dim that is a multiple of n_heads."
            )
        encoders = {
            name: expert.build(shape, self.embedding_dim)
            for name, (expert, shape) in modalities.items()
        }
        feedforward_dim = (2 * self.embedding_dim if self.feedforward_dim is None
                           else self.feedforward_dim)
        layer = nn.TransformerEncoderLayer(
            d_model=self.embedding_dim, nhead=self.n_heads,
            dim_feedforward=feedforward_dim, dropout=self.dropout,
            batch_first=True, norm_first=True,
        )
        # Nested tensors would drop the padded tokens in eval mode and take another
        # numerical path than training; the plain path keeps masking exact everywhere.
        transformer = nn.TransformerEncoder(layer, num_layers=self.n_layers,
                                            enable_nested_tensor=False)
        return _AttentionFusionModule(encoders, transformer, self.embedding_dim, n_outputs)


class _AttentionFusionModule(nn.Module):
    def __init__(self, encoders, transformer, embedding_dim, n_outputs):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        # Small initial values, as for transformer position embeddings, so that the
        # tokens start out dominated by what the encoders read.
        self.modality_embedding = nn.Parameter(
            0.02 * torch.randn(len(encoders), embedding_dim))
        self.class_token = nn.Parameter(0.02 * torch.randn(1, 1, embedding_dim))
        self.transformer = transformer
        # norm_first layers leave their output unnormalised: normalise before the head.
        self.head = nn.Sequential(nn.LayerNorm(embedding_dim),
                                  nn.Linear(embedding_dim, n_outputs))

    def forward(self, inputs, present=None):
        """Logits read off the class token; missing modalities are masked out.

        ``present=None`` means every row holds every modality.
        """
        tokens = torch.stack(
            [encoder(inputs[name]) for name, encoder in self.encoders.items()], dim=1)
        tokens = tokens + self.modality_embedding
        n = tokens.shape[0]
        tokens = torch.cat([self.class_token.expand(n, -1, -1), tokens], dim=1)
        ignore = None
        if present is not None:
            # True = ignore. The class token is always attended to, so no row's
            # attention is fully masked (which would give NaN).
            absent = torch.stack([~present[name] for name in self.encoders], dim=1)
            ignore = torch.cat(
                [torch.zeros(n, 1, dtype=torch.bool, device=absent.device), absent], dim=1)
        out = self.transformer(tokens, src_key_padding_mask=ignore)
        return self.head(out[:, 0])
