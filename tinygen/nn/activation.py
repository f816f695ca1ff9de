"""Activation layers: elementwise functions, the output having the input's shape."""

from __future__ import annotations

import tinygen.nn.functional as F
from tinygen.autograd.tensor import Tensor
from tinygen.nn.module import Module


class _Activation(Module):
    """An elementwise function without settings; the output has the input's shape."""

    function = None

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x)


class ReLU(_Activation):
    """max(x, 0)."""

    function = staticmethod(F.relu)


class Sigmoid(_Activation):
    """1 / (1 + exp(-x))."""

    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x)."""

    function = staticmethod(F.tanh)


class Softplus(_Activation):
    """log(1 + exp(x)), a smooth ReLU."""

    function = staticmethod(F.softplus)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x; the output has the input's shape."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, else alpha * (exp(x) - 1); the output has the input's shape."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
