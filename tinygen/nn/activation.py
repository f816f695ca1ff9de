"""Activation layers: elementwise functions (the output has the input's shape), PReLU with its
learned slopes, GLU, and Softmax / LogSoftmax along one axis.

Constructors take PyTorch's arguments, positionally or by keyword (``nn.ReLU(True)``,
``nn.LeakyReLU(0.2, inplace=True)``), and the reprs read as PyTorch's. ``inplace`` is kept and
shown but changes nothing: tinygen computes out of place (see ``tinygen.nn.functional.relu``).
"""

from __future__ import annotations

import warnings

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.tensor import Tensor, _axis
from tinygen.nn.checks import check_input, choice, count, flag, integer, number
from tinygen.nn.module import Module, Parameter


class _Activation(Module):
    """An elementwise function without settings; ``floating``: whether its math needs a
    floating input (exp, division), where an integer or bool input is refused."""

    function = None
    floating = True

    def forward(self, input: Tensor) -> Tensor:
        check_input(type(self).__name__, input, floating=type(self).floating)
        return type(self).function(input)


class _InplaceActivation(_Activation):
    """An elementwise function whose only setting is PyTorch's ``inplace`` flag."""

    def __init__(self, inplace: bool = False):
        self.inplace = flag(type(self).__name__, "inplace", inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_InplaceActivation):
    """max(x, 0)."""

    function = staticmethod(F.relu)
    floating = False


class ReLU6(_InplaceActivation):
    """min(max(x, 0), 6)."""

    function = staticmethod(F.relu6)
    floating = False


class SELU(_InplaceActivation):
    """scale * elu(x, alpha) with the self-normalizing constants."""

    function = staticmethod(F.selu)


class SiLU(_InplaceActivation):
    """x * sigmoid(x)."""

    function = staticmethod(F.silu)


class Mish(_InplaceActivation):
    """x * tanh(softplus(x))."""

    function = staticmethod(F.mish)


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3) / 6."""

    function = staticmethod(F.hardsigmoid)

    def extra_repr(self) -> str:
        return ""  # as PyTorch's Hardsigmoid


class Sigmoid(_Activation):
    """1 / (1 + exp(-x))."""

    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x)."""

    function = staticmethod(F.tanh)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), finite for any finite x."""

    function = staticmethod(F.logsigmoid)


class Softsign(_Activation):
    """x / (1 + |x|)."""

    function = staticmethod(F.softsign)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, a smooth ReLU; x itself where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta = number("Softplus", "beta", beta)
        if beta == 0:
            raise ValueError("Softplus: beta must be nonzero (the output divides by it), got 0")
        self.threshold = number("Softplus", "threshold", threshold, infinite=True)

    def forward(self, input: Tensor) -> Tensor:
        check_input("Softplus", input, floating=True)
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _inplace_suffix(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = number("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = flag("LeakyReLU", "inplace", inplace)

    def forward(self, input: Tensor) -> Tensor:
        check_input("LeakyReLU", input, floating=True)
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self.inplace)}"


class ELU(Module):
    """x for x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        name = type(self).__name__
        self.alpha = number(name, "alpha", alpha)
        self.inplace = flag(name, "inplace", inplace)

    def forward(self, input: Tensor) -> Tensor:
        check_input("ELU", input, floating=True)
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_suffix(self.inplace)}"


class CELU(ELU):
    """x for x > 0, else alpha * (exp(x / alpha) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha, inplace)
        if alpha == 0:
            raise ValueError("CELU: alpha must be nonzero (the input divides by it), got 0")

    def forward(self, input: Tensor) -> Tensor:
        check_input("CELU", input, floating=True)
        return F.celu(input, self.alpha)


class Hardtanh(Module):
    """x clamped into [min_val, max_val] (gradient 0 at the edges, as PyTorch)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        number("Hardtanh", "min_val", min_val, infinite=True)
        number("Hardtanh", "max_val", max_val, infinite=True)
        if not max_val > min_val:
            raise ValueError(f"Hardtanh: max_val must be > min_val, got min_val={min_val}, "
                             f"max_val={max_val}")
        self.min_val, self.max_val = min_val, max_val
        self.inplace = flag("Hardtanh", "inplace", inplace)

    def forward(self, input: Tensor) -> Tensor:
        check_input("Hardtanh", input)
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                f"{_inplace_suffix(self.inplace)}")


class GELU(Module):
    """x * Phi(x), or its tanh approximation with ``approximate='tanh'``."""

    def __init__(self, approximate: str = "none"):
        self.approximate = choice("GELU", "approximate", approximate, ("none", "tanh"))

    def forward(self, input: Tensor) -> Tensor:
        check_input("GELU", input, floating=True)
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class PReLU(Module):
    """x for x > 0, else a * x, with learned slopes a, as torch.nn.PReLU.

    Args:
        num_parameters: 1 (one slope shared by every channel) or the number of channels
            (input axis 1).
        init: the slopes' initial value.

    Shapes:
        the output has the input's shape; weight (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        self.num_parameters = count("PReLU", "num_parameters", num_parameters)
        self.init = number("PReLU", "init", init)
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=np.float32))

    def forward(self, input: Tensor) -> Tensor:
        check_input("PReLU", input, like=self.weight)
        if self.num_parameters != 1 and (input.ndim < 2
                                         or input.shape[1] != self.num_parameters):
            raise ValueError(f"PReLU: expected an input with {self.num_parameters} channels on "
                             f"axis 1 (num_parameters), got shape {input.shape}")
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """a * sigmoid(b) for the two halves a, b of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        self.dim = integer("GLU", "dim", dim)

    def forward(self, input: Tensor) -> Tensor:
        check_input("GLU", input, floating=True)
        dim = _axis(self.dim, input.ndim, "GLU")
        if input.shape[dim] % 2:
            raise ValueError(f"GLU: the halved axis {dim} must have an even length, got shape "
                             f"{input.shape}")
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``.

    ``dim=None`` is PyTorch's deprecated implicit choice (axis 0 for 0-, 1- and 3-D inputs,
    else axis 1), with PyTorch's warning; pass ``dim``.
    """

    function = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None):
        self.dim = integer(type(self).__name__, "dim", dim, optional=True)

    def forward(self, input: Tensor) -> Tensor:
        name = type(self).__name__
        check_input(name, input, floating=True)
        dim = self.dim
        if dim is None:
            warnings.warn(f"Implicit dimension choice for {type(self).__name__} has been "
                          "deprecated. Change the call to include dim=X as an argument.",
                          stacklevel=2)
            dim = 0 if input.ndim in (0, 1, 3) else 1
        _axis(dim, max(input.ndim, 1), name)  # a 0-d input has axes 0 and -1, as in PyTorch
        return type(self).function(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed without overflow."""

    function = staticmethod(F.log_softmax)
