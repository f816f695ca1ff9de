"""Elementwise arithmetic with broadcasting: add, sub, mul, div (true, truncated or floored),
neg, pow, exp, log, sqrt, abs, maximum, minimum, clamp (alias clip), where. Dtype casts,
device moves and the operands' type promotion are in ``conversion.py``; the math functions
beyond arithmetic (log1p, sin, erf, xlogy, lerp, floor, remainder, ...) in ``special.py``.

Every binary op here sets ``broadcasts = True``: backward returns gradients of the broadcast
output shape and the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import weak_operand
from tinygen.autograd.ops.conversion import _promoted
from tinygen.autograd.tensor import DEFAULT_FLOAT, Tensor, _as_tensor
from tinygen.backend import get_array_module


def _as_tensor_pair(a, b, op: str = "elementwise op") -> tuple[Tensor, Tensor]:
    """Promote a Python/NumPy operand to a constant Tensor matching the other operand; an
    operand that is not numbers (None, a str) is a TypeError naming ``op``."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}: expected at least one Tensor operand, got "
                            f"{type(a).__name__} and {type(b).__name__}")
        a = _operand(op, a, b)
    elif not isinstance(b, Tensor):
        b = _operand(op, b, a)
    return a, b


def _operand(op: str, value, like: Tensor) -> Tensor:
    tensor = _as_tensor(value, like)
    if tensor.dtype.kind not in "fiub":
        raise TypeError(f"{op}: expected a Tensor or a number, got {type(value).__name__}")
    return tensor


def _elementwise_pair(a, b, op: str = "elementwise op") -> tuple[Tensor, Tensor]:
    """:func:`_as_tensor_pair`, then :func:`_promoted`: the operands of a binary elementwise
    op (maximum, pow, xlogy, ...)."""
    return _promoted(*_as_tensor_pair(a, b, op))


def _arithmetic_pair(op: str, a, b, alpha=1) -> tuple[Tensor, Tensor]:
    """The operands of add, sub, mul or div: two Python numbers become 0-d tensors of
    PyTorch's result dtype (bool, int64, or float32 when either is a float), as
    ``torch.add(2.0, 3)`` gives ``tensor(5.)``; otherwise as :func:`_as_tensor_pair`."""
    # first the cases every backward's arithmetic takes (gy * b, 1 - y * y, gy * mask), which
    # need no promotion and no checks: two Tensors of one dtype, or a weak_operand beside one
    if type(alpha) is int and alpha == 1:
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype is b._data.dtype:
            return a, b
        if isinstance(a, Tensor) and (weak := weak_operand(a, b)) is not None:
            return a, weak
        if isinstance(b, Tensor) and (weak := weak_operand(b, a)) is not None:
            return weak, b
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _elementwise_pair(a, b, op)
    elif all(isinstance(v, numbers.Real) for v in (a, b)):
        kinds = {np.asarray(v).dtype.kind for v in (a, b)}
        dtype = DEFAULT_FLOAT if "f" in kinds else np.bool_ if kinds == {"b"} else np.int64
        a, b = Tensor(np.asarray(a, dtype=dtype)), Tensor(np.asarray(b, dtype=dtype))
    else:
        raise TypeError(f"{op}: expected Tensors or real numbers, got {type(a).__name__} "
                        f"and {type(b).__name__}")
    if type(alpha) is int and alpha == 1:  # the default: nothing to check
        return a, b
    if not isinstance(alpha, numbers.Number):
        raise TypeError(f"{op}: alpha must be a number, got {alpha!r}")
    if isinstance(alpha, float) and a.dtype.kind != "f" and b.dtype.kind != "f":
        raise TypeError(f"{op}: alpha must be an int for integer inputs, got alpha={alpha}")
    return a, b


class Add(Function):
    """a + alpha * b."""

    broadcasts = True
    backward_on_arrays = True

    def __init__(self, alpha=1):
        self.alpha = alpha

    def forward(self, a, b):
        return a + b if self.alpha == 1 else a + self.alpha * b

    def backward(self, gy):
        # d(a + alpha b)/da = 1, d(a + alpha b)/db = alpha
        return gy, (gy if self.alpha == 1 else gy * self.alpha)


class Sub(Function):
    """a - alpha * b."""

    broadcasts = True
    backward_on_arrays = True

    def __init__(self, alpha=1):
        self.alpha = alpha

    def forward(self, a, b):
        return a - b if self.alpha == 1 else a - self.alpha * b

    def backward(self, gy):
        # d(a - alpha b)/da = 1, d(a - alpha b)/db = -alpha
        return gy, (-gy if self.alpha == 1 else gy * -self.alpha)


class Mul(Function):
    broadcasts = True
    backward_on_arrays = True

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
    backward_on_arrays = True

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = self.saved_tensors
        ga = gy / b if self.needs_input_grad[0] else None
        gb = -gy * a / (b * b) if self.needs_input_grad[1] else None
        return ga, gb


class RoundedDiv(Function):
    """a / b rounded toward zero ("trunc") or down ("floor", Python's ``//``)."""

    broadcasts = True

    def __init__(self, rounding_mode: str, op_name: str = "div"):
        self.rounding_mode = rounding_mode
        self.op_name = op_name

    def forward(self, a, b):
        xp = get_array_module(a, b)
        if self.rounding_mode == "floor":
            return xp.floor_divide(a, b)
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            return xp.trunc(a / b)
        floored = xp.floor_divide(a, b)  # integers: exact, one up where floor passed below 0
        return floored + ((xp.remainder(a, b) != 0) & ((a < 0) != (b < 0)))

    def backward(self, gy):
        # a rounded quotient is piecewise constant: d/da = d/db = 0 (PyTorch's, at jumps too)
        zeros = Tensor._from_array(get_array_module(gy.data).zeros_like(gy.data))
        return zeros, zeros


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        # d(-x)/dx = -1
        return -gy


class PowScalar(Function):
    """x ** p for a constant Python exponent p."""

    op_name = "pow"

    def __init__(self, exponent: float):
        self.exponent = exponent

    def forward(self, x):
        self.save_for_backward(x)
        return x ** self.exponent

    def backward(self, gy):
        # d(x^p)/dx = p * x^(p-1); 0 everywhere for p = 0 (PyTorch's: not NaN at x = 0)
        (x,) = self.saved_tensors
        if self.exponent == 0:
            return Tensor._from_array(get_array_module(x.data).zeros_like(x.data))
        if self.exponent == 2:
            return gy * (2 * x)
        return gy * (self.exponent * pow(x, self.exponent - 1))


class Pow(Function):
    """a ** b for two tensors (a > 0, or a == 0 <= b, wherever b's gradient is needed)."""

    broadcasts = True

    def forward(self, a, b):
        y = a ** b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy):
        # d(a^b)/da = b * a^(b-1), 0 where b == 0; d(a^b)/db = a^b * log(a), 0 where
        # a == 0 <= b (PyTorch's masks: 0^0 and 0^b are flat in the direction that exists)
        a, b, y = self.saved_tensors
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = where(b.data == 0, 0.0, gy * (b * pow(a, b - 1)))
        if self.needs_input_grad[1]:
            gb = gy * where((a.data == 0) & (b.data >= 0), 0.0, y * log(a))
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
    """Elementwise max; the gradient as PyTorch's (see :func:`_shares`)."""

    broadcasts = True

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(*_shares(xp, a, b))
        return xp.maximum(a, b)

    def backward(self, gy):
        # d max(a,b)/da = [not a < b] - [a == b]/2, and symmetrically for b
        share_a, share_b = self.saved_tensors
        return gy * share_a, gy * share_b


class Minimum(Function):
    """Elementwise min; the gradient as PyTorch's (see :func:`_shares`)."""

    broadcasts = True

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(*_shares(xp, b, a))  # a's min share is b's max share
        return xp.minimum(a, b)

    def backward(self, gy):
        # d min(a,b)/da = [not a > b] - [a == b]/2, and symmetrically for b
        share_a, share_b = self.saved_tensors
        return gy * share_a, gy * share_b


def _shares(xp, a, b):
    """a's and b's shares of max(a, b)'s gradient (broadcast shape, the result dtype): 1 to
    the larger, 1/2 each at a tie, 1 to both where a or b is NaN (as PyTorch: no comparison
    holds there). min(a, b) is max with the roles swapped."""
    dtype = xp.result_type(a, b)
    tie = 0.5 * (a == b).astype(dtype)
    return (~(a < b)).astype(dtype) - tie, (~(a > b)).astype(dtype) - tie


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


# --------------------------------------------------------------------------- public wrappers
def add(input, other, *, alpha=1) -> Tensor:  # noqa: A002 - PyTorch's names
    """input + alpha * other, broadcasting, as ``torch.add``.

    Args:
        input, other: Tensors or numbers (two numbers give a 0-d tensor).
        alpha: other's multiplier (an int for integer operands).

    Returns:
        The broadcast sum.
    """
    a, b = _arithmetic_pair("add", input, other, alpha)
    return Add(alpha).apply(a, b)


def sub(input, other, *, alpha=1) -> Tensor:  # noqa: A002 - PyTorch's names
    """input - alpha * other, broadcasting, as ``torch.sub`` (arguments as :func:`add`)."""
    a, b = _arithmetic_pair("sub", input, other, alpha)
    return Sub(alpha).apply(a, b)


def mul(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """input * other, broadcasting (two numbers give a 0-d tensor)."""
    a, b = _arithmetic_pair("mul", input, other)
    return Mul().apply(a, b)


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    """input / other, broadcasting, as ``torch.div``.

    Args:
        input, other: Tensors or numbers (two numbers give a 0-d tensor).
        rounding_mode: None (true division, promoted as NumPy: integers divide to
            float64), "trunc" (rounded toward zero) or "floor" (rounded down, as ``//``); the
            rounded quotients keep the operands' dtype and have gradient zero.

    Returns:
        The broadcast quotient.
    """
    return _divide("div", input, other, rounding_mode)


def _divide(op: str, input, other, rounding_mode) -> Tensor:  # noqa: A002 - PyTorch's names
    a, b = _arithmetic_pair(op, input, other)
    if rounding_mode is None:
        return Div().apply(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"{op}: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    return RoundedDiv(rounding_mode, op).apply(a, b)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg().apply(x)


def pow(a, b) -> Tensor:  # noqa: A001 - the conventional name for this op
    """a ** b. A Python-number exponent is a hyperparameter; a Tensor exponent is an input."""
    if isinstance(a, Tensor) and isinstance(b, numbers.Number):
        return PowScalar(b).apply(a)
    a, b = _elementwise_pair(a, b, "pow")
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
    a, b = _elementwise_pair(a, b, "maximum")
    return Maximum().apply(a, b)


def minimum(a, b) -> Tensor:
    """Elementwise minimum, broadcasting."""
    a, b = _elementwise_pair(a, b, "minimum")
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
    if not isinstance(x, Tensor):
        raise TypeError(f"clamp: x must be a Tensor, got {type(x).__name__}")
    bounds = [bound if isinstance(bound, Tensor) else _operand("clamp", bound, x)
              for bound in (min, max) if bound is not None]
    x, *bounds = _promoted(x, *bounds)
    return Clamp(min is not None, max is not None).apply(x, *bounds)


clip = clamp


def where(condition, a, b) -> Tensor:
    """Elementwise ``a if condition else b``, broadcasting all three."""
    a, b = _elementwise_pair(a, b, "where")
    if not isinstance(condition, Tensor):
        condition = Tensor._from_array(get_array_module(a.data).asarray(condition))
    if condition.dtype != bool:
        raise TypeError(f"where: condition must have dtype bool, got {condition.dtype}")
    return Where().apply(condition, a, b)
