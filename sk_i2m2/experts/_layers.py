"""Torch building blocks shared by the experts and the fusion experts."""

from numbers import Integral

from torch import nn


def as_tuple(units):
    """``hidden_units`` may be given as one int or a sequence of ints."""
    if isinstance(units, Integral):
        return (int(units),)
    return tuple(int(u) for u in units)


def mlp(n_inputs, hidden_units, n_outputs, dropout):
    """Linear -> ReLU -> Dropout blocks, then a linear map to ``n_outputs``."""
    layers = []
    for width in as_tuple(hidden_units):
        layers += [nn.Linear(n_inputs, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        n_inputs = width
    layers.append(nn.Linear(n_inputs, n_outputs))
    return nn.Sequential(*layers)
