"""Elementwise arithmetic with broadcasting: add, sub, mul, div, neg, pow, exp, log, sqrt,
abs, maximum, minimum, clip, where; plus dtype casts and device moves.

Every binary op here sets ``broadcasts = True``: backward returns gradients of the broadcast
output shape and the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor, _as_tensor
from tinygen.backend import get_array_module


def _as_tensor_pair(a, b) -> tuple[Tensor, Tensor]:
    """Promote a Python/NumPy operand to a constant Tensor matching the other operand."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"expected at least one Tensor operand, got {type(a).__name__} "
                            f"and {type(b).__name__}")
        a = _as_tensor(a, b)
    elif not isinstance(b, Tensor):
        b = _as_tensor(b, a)
    return a, b


class Add(Function):
    broadcasts = True

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        # d(a+b)/da = 1, d(a+b)/db = 1
        return gy, gy


class Sub(Function):
    broadcasts = True

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        # d(a-b)/da = 1, d(a-b)/db = -1
        return gy, (-gy if self.needs_input_grad[1] else None)


class Mul(Function):
    broadcasts = True

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        # d(ab)/da = b, d(ab)/db = a
        a, b = self.saved_tensors
        ga = gy * b if self.needs_input_grad[0] else None
        gb = gy * a if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    broadcasts = True

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = self.saved_tensors
        ga = gy / b if self.needs_input_grad[0] else None
        gb = -gy * a / (b * b) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        # d(-x)/dx = -1
        return -gy


class PowScalar(Function):
    """x ** p for a constant Python exponent p."""

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, x):
        self.save_for_backward(x)
        return x ** self.exponent

    def backward(self, gy):
        # d(x^p)/dx = p * x^(p-1)
        (x,) = self.saved_tensors
        if self.exponent == 2:
            return gy * (2 * x)
        return gy * (self.exponent * pow(x, self.exponent - 1))


class Pow(Function):
    """a ** b for two tensors (a > 0 wherever b's gradient is needed)."""

    broadcasts = True

    def forward(self, a, b):
        y = a ** b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy):
        # d(a^b)/da = b * a^(b-1), d(a^b)/db = a^b * log(a)
        a, b, y = self.saved_tensors
        ga = gy * b * pow(a, b - 1) if self.needs_input_grad[0] else None
        gb = gy * y * log(a) if self.needs_input_grad[1] else None
        return ga, gb


class Exp(Function):
    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d(e^x)/dx = e^x
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        # d(log x)/dx = 1/x
        (x,) = self.saved_tensors
        return gy / x


class Sqrt(Function):
    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d(sqrt x)/dx = 1 / (2 sqrt x)
        (y,) = self.saved_tensors
        return gy / (2 * y)


class Abs(Function):
    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(xp.sign(x))
        return xp.abs(x)

    def backward(self, gy):
        # d|x|/dx = sign(x), a constant away from 0
        (sign,) = self.saved_tensors
        return gy * sign


class Maximum(Function):
    """Elementwise max; at ties the gradient is split evenly, as in PyTorch."""

    broadcasts = True

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(_winner_weights(xp, a, b))
        return xp.maximum(a, b)

    def backward(self, gy):
        # d max(a,b)/da = [a > b] + [a == b]/2, and symmetrically for b
        (weight_a,) = self.saved_tensors
        return gy * weight_a, gy * (1 - weight_a)


class Minimum(Function):
    """Elementwise min; at ties the gradient is split evenly, as in PyTorch."""

    broadcasts = True

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(_winner_weights(xp, b, a))
        return xp.minimum(a, b)

    def backward(self, gy):
        # d min(a,b)/da = [a < b] + [a == b]/2, and symmetrically for b
        (weight_a,) = self.saved_tensors
        return gy * weight_a, gy * (1 - weight_a)


def _winner_weights(xp, a, b):
    """1 where a wins, 0 where b wins, 1/2 at ties (broadcast shape, a's dtype)."""
    dtype = xp.result_type(a, b)
    return (a > b).astype(dtype) + 0.5 * (a == b).astype(dtype)


class Clip(Function):
    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def forward(self, x):
        xp = get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        self.save_for_backward(inside.astype(x.dtype))
        return xp.clip(x, self.low, self.high)

    def backward(self, gy):
        # d clip(x)/dx = 1 inside [low, high], 0 outside
        (inside,) = self.saved_tensors
        return gy * inside


class Where(Function):
    """``condition ? a : b``; the condition (a boolean Tensor) gets no gradient."""

    broadcasts = True

    def forward(self, condition, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(condition.astype(xp.result_type(a, b)))
        return xp.where(condition, a, b)

    def backward(self, gy):
        # d where(c, a, b)/da = c, /db = 1 - c
        (chosen,) = self.saved_tensors
        ga = gy * chosen if self.needs_input_grad[1] else None
        gb = gy * (1 - chosen) if self.needs_input_grad[2] else None
        return None, ga, gb


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        # a cast is the identity on values; the gradient goes back to the input dtype
        return cast(gy, self.input_dtype)


class ToDevice(Function):
    def __init__(self, device: str):
        self.device = device

    def forward(self, x):
        self.input_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        # a copy between devices is the identity on values
        return to_device(gy, self.input_device)


# --------------------------------------------------------------------------- public wrappers
def add(a, b) -> Tensor:
    """a + b, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Add().apply(a, b)


def sub(a, b) -> Tensor:
    """a - b, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Sub().apply(a, b)


def mul(a, b) -> Tensor:
    """a * b, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Mul().apply(a, b)


def div(a, b) -> Tensor:
    """a / b, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Div().apply(a, b)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg().apply(x)


def pow(a, b) -> Tensor:  # noqa: A001 - the conventional name for this op
    """a ** b. A Python-number exponent is a hyperparameter; a Tensor exponent is an input."""
    if isinstance(a, Tensor) and isinstance(b, numbers.Number):
        return PowScalar(b).apply(a)
    a, b = _as_tensor_pair(a, b)
    return Pow().apply(a, b)


def exp(x: Tensor) -> Tensor:
    return Exp().apply(x)


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    return Log().apply(x)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt().apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the conventional name for this op
    return Abs().apply(x)


def maximum(a, b) -> Tensor:
    """Elementwise maximum, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Maximum().apply(a, b)


def minimum(a, b) -> Tensor:
    """Elementwise minimum, broadcasting."""
    a, b = _as_tensor_pair(a, b)
    return Minimum().apply(a, b)


def clip(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - numpy/torch names
    """Clamp x to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given, got neither")
    return Clip(min, max).apply(x)


def where(condition, a, b) -> Tensor:
    """Elementwise ``a if condition else b``, broadcasting all three."""
    a, b = _as_tensor_pair(a, b)
    if not isinstance(condition, Tensor):
        condition = Tensor._from_array(get_array_module(a.data).asarray(condition))
    if condition.dtype != bool:
        raise TypeError(f"where: condition must have dtype bool, got {condition.dtype}")
    return Where().apply(condition, a, b)


def cast(x: Tensor, dtype) -> Tensor:
    """x converted to ``dtype`` (differentiable between float dtypes; a cast to an integer or
    bool dtype ends the graph there, as no gradient flows through rounding)."""
    if np.dtype(dtype).kind != "f":
        with no_grad():
            return Cast(dtype).apply(x)
    return Cast(dtype).apply(x)


def to_device(x: Tensor, device: str) -> Tensor:
    """x copied to ``device`` ("cpu" or "cuda"), differentiably."""
    return ToDevice(backend.check_device(device)).apply(x)
