"""Elementwise arithmetic with broadcasting: add, sub, mul, div, neg, pow, exp, log, sqrt,
abs, maximum, minimum, clamp (alias clip), lerp, where; plus dtype casts and device moves.
The math functions beyond arithmetic (log1p, sin, erf, xlogy, floor, ...) are in
``special.py``.

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
        self.save_for_backward(sign_array(x))
        return get_array_module(x).abs(x)

    def backward(self, gy):
        # d|x|/dx = sign(x), a constant away from 0 (0 at 0 and at NaN, as PyTorch)
        (sign,) = self.saved_tensors
        return gy * sign


def sign_array(x):
    """PyTorch's sign on a raw array: [x > 0] - [x < 0], so 0 at NaN (NumPy's sign gives
    NaN there)."""
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


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


class Clamp(Function):
    """min(max(x, low), high), each bound optional; the bounds are inputs (a Python number
    arrives as a constant), so a tensor bound gets its gradient where it binds."""

    broadcasts = True

    def __init__(self, has_low: bool, has_high: bool):
        self.has_low, self.has_high = has_low, has_high

    def _bounds(self, bounds):
        return (bounds[0] if self.has_low else None), (bounds[-1] if self.has_high else None)

    def forward(self, x, *bounds):
        xp = get_array_module(x, *bounds)
        low, high = self._bounds(bounds)
        self.save_for_backward(x, *bounds)  # backward rebuilds the masks it needs from these
        y = x if low is None else xp.maximum(x, low)
        return y if high is None else xp.minimum(y, high)

    def backward(self, gy):
        # d/dx = [low <= x <= high] (1 at ties, as PyTorch); d/dlow = [x < low < high],
        # d/dhigh = [x > high or high < low]; with one bound: [x < low], [x > high]
        x, *bounds = (t.data for t in self.saved_tensors)
        low, high = self._bounds(bounds)
        grads = []
        if self.needs_input_grad[0]:
            inside = True if low is None else x >= low
            grads.append(gy * (inside if high is None else (x <= high) & inside))
        else:
            grads.append(None)
        if self.has_low:
            below = (x < low) & (low < high) if self.has_high else x < low
            grads.append(gy * below if self.needs_input_grad[1] else None)
        if self.has_high:
            above = (x > high) | (high < low) if self.has_low else x > high
            grads.append(gy * above if self.needs_input_grad[-1] else None)
        return tuple(grads)


class Lerp(Function):
    """start + weight * (end - start), in PyTorch's two-sided form: exact at weight 0 and 1."""

    broadcasts = True

    def forward(self, start, end, weight):
        xp = get_array_module(start, end, weight)
        self.save_for_backward(start, end, weight)
        difference = end - start
        return xp.where(xp.abs(weight) < 0.5, start + weight * difference,
                        end - difference * (1 - weight))

    def backward(self, gy):
        # d/dstart = 1 - weight, d/dend = weight, d/dweight = end - start
        start, end, weight = self.saved_tensors
        g_start = gy * (1 - weight) if self.needs_input_grad[0] else None
        g_end = gy * weight if self.needs_input_grad[1] else None
        g_weight = gy * (end - start) if self.needs_input_grad[2] else None
        return g_start, g_end, g_weight


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


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Clamp x into [min, max], as ``torch.clamp``; ``clip`` is an alias.

    Args:
        x: the input.
        min, max: the bounds, each a Python number, a Tensor (broadcast against x) or None;
            at least one must be given. Where min > max the result is max, as in PyTorch.

    Returns:
        The broadcast of x and the tensor bounds. Gradients follow PyTorch: x gets 1 where
        min <= x <= max (ties included); a tensor min gets 1 where x < min (and min < max),
        a tensor max where x > max (or max < min). A Python-number bound is a constant.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given, got neither")
    bounds = [_as_tensor(bound, x) for bound in (min, max) if bound is not None]
    return Clamp(min is not None, max is not None).apply(x, *bounds)


clip = clamp


def lerp(start: Tensor, end, weight) -> Tensor:
    """start + weight * (end - start), broadcasting, as ``torch.lerp``.

    Args:
        start: the tensor at weight 0.
        end: the tensor (or number) at weight 1.
        weight: a Python number or a Tensor.

    Returns:
        The interpolation; exactly ``end`` where weight is 1 (PyTorch's two-sided formula).
    """
    start, end = _as_tensor_pair(start, end)
    return Lerp().apply(start, end, _as_tensor(weight, start))


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
