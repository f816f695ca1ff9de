"""Math functions beyond arithmetic: log1p, expm1, rsqrt, square, reciprocal, sin, cos, erf,
logaddexp, xlogy, lerp; the piecewise-constant sign, floor, ceil and round (zero gradient, as
PyTorch defines it, at the jumps too) and nan_to_num (gradient 1 where the input was finite);
floor_divide and remainder (Python's ``//`` and ``%``).

NumPy has no erf, and an op keeps one code path for NumPy and CuPy, so erf is computed here
from W. J. Cody's rational Chebyshev approximations (see :func:`_erf`): within a few units in
the last place of float64 everywhere, which tests/autograd/ops/test_elementwise_math.py checks
against ``math.erf``.
"""

from __future__ import annotations

import math

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import real, tensor_args
from tinygen.autograd.ops.elementwise import (
    PowScalar,
    _as_tensor_pair,
    _divide,
    _elementwise_pair,
    _operand,
    div,
    exp,
    sign_array,
    where,
)
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class Log1p(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log1p(x)

    def backward(self, gy):
        # d log(1 + x)/dx = 1 / (1 + x)
        (x,) = self.saved_tensors
        return gy / (1 + x)


class Expm1(Function):
    def forward(self, x):
        y = get_array_module(x).expm1(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d(e^x - 1)/dx = e^x = y + 1
        (y,) = self.saved_tensors
        return gy * (y + 1)


class Rsqrt(Function):
    def forward(self, x):
        y = 1 / get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d x^(-1/2)/dx = -x^(-3/2) / 2 = -y^3 / 2
        (y,) = self.saved_tensors
        return gy * (-0.5 * y * y * y)


class Reciprocal(Function):
    def forward(self, x):
        y = 1 / x
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d(1/x)/dx = -1/x^2 = -y^2
        (y,) = self.saved_tensors
        return gy * -(y * y)


class Sin(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).sin(x)

    def backward(self, gy):
        # d sin(x)/dx = cos(x)
        (x,) = self.saved_tensors
        return gy * cos(x)


class Cos(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).cos(x)

    def backward(self, gy):
        # d cos(x)/dx = -sin(x)
        (x,) = self.saved_tensors
        return gy * -sin(x)


class Erf(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return _erf(x)

    def backward(self, gy):
        # d erf(x)/dx = 2/sqrt(pi) * e^(-x^2)
        (x,) = self.saved_tensors
        return gy * (_TWO_OVER_SQRT_PI * exp(-(x * x)))


class LogAddExp(Function):
    broadcasts = True
    op_name = "logaddexp"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a, b).logaddexp(a, b)

    def backward(self, gy):
        # d log(e^a + e^b)/da = e^a / (e^a + e^b) = sigmoid(a - b), and 1 - that for b
        a, b = self.saved_tensors
        share = _sigmoid_of_difference(a, b)
        ga = gy * share if self.needs_input_grad[0] else None
        gb = gy * (1 - share) if self.needs_input_grad[1] else None
        return ga, gb


def _sigmoid_of_difference(a, b):
    """sigmoid(a - b) in differentiable ops, as 1 / (1 + e^(b-a)) where a >= b and as
    e^(a-b) / (1 + e^(a-b)) elsewhere: no exponent is positive (nothing overflows, a = +inf
    gives 1), each branch is smooth (second derivatives hold at a = b), and it stays exact
    however large a and b are (unlike e^(a - logaddexp(a, b)))."""
    ahead = a.data >= b.data
    e = exp(where(ahead, b - a, a - b))
    return where(ahead, 1.0, e) / (1 + e)


class XLogY(Function):
    """x * log(y), defined as 0 where x == 0 (unless y is NaN), as ``torch.xlogy``.

    Its gradients are PyTorch's: log(y) for x (the true derivative, also at x = 0), except
    0 where x == 0 and y <= 0 (there the function is the constant 0 in x); x / y for y.
    """

    broadcasts = True
    op_name = "xlogy"

    def forward(self, x, y):
        xp = get_array_module(x, y)
        self.save_for_backward(x, y)
        # log(1) = 0 where x == 0, so 0 * log(y) never makes a NaN from y = 0 or y = inf;
        # y == y is False for NaN, which must propagate
        return x * xp.log(xp.where((x == 0) & (y == y), 1, y))

    def backward(self, gy):
        # d/dx = log(y), as xlogy(gy, y) (0 where gy is 0) and 0 where x == 0 and y <= 0
        # (log(1) there: no log(0) is taken); d/dy = x / y (NaN at x = y = 0, as PyTorch)
        x, y = self.saved_tensors
        gx = g_y = None
        if self.needs_input_grad[0]:
            gx = xlogy(gy, where((x.data == 0) & (y.data <= 0), 1.0, y))
        if self.needs_input_grad[1]:
            g_y = gy * x / y
        return gx, g_y


class _PiecewiseConstant(Function):
    """An op that is constant between its jumps. PyTorch defines its gradient as zero
    everywhere, at the jumps too, so backward returns zeros (not None: x.grad is a zero
    tensor, as in PyTorch)."""

    def backward(self, gy):
        # d step(x)/dx = 0
        return Tensor._from_array(get_array_module(gy.data).zeros_like(gy.data))


class Sign(_PiecewiseConstant):
    def forward(self, x):
        return sign_array(x)


class Floor(_PiecewiseConstant):
    def forward(self, x):
        return get_array_module(x).floor(x) if x.dtype.kind == "f" else x.copy()


class Ceil(_PiecewiseConstant):
    def forward(self, x):
        return get_array_module(x).ceil(x) if x.dtype.kind == "f" else x.copy()


class Round(_PiecewiseConstant):
    """Round half to even, to ``decimals`` places (negative: to tens, hundreds, ...)."""

    def __init__(self, decimals: int = 0):
        self.decimals = decimals

    def forward(self, x):
        xp = get_array_module(x)
        if x.dtype.kind != "f":
            return x.copy()
        if self.decimals == 0:
            return xp.rint(x)
        # PyTorch's order of operations: scale up, round, scale back by the same power of 10
        scale = x.dtype.type(10.0 ** abs(self.decimals))
        if self.decimals > 0:
            return xp.rint(x * scale) / scale
        return xp.rint(x / scale) * scale


class NanToNum(Function):
    def __init__(self, nan: float, posinf, neginf):
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).nan_to_num(x, nan=self.nan, posinf=self.posinf,
                                              neginf=self.neginf)

    def backward(self, gy):
        # d/dx = 1 where x is finite, 0 where a NaN or an infinity was replaced
        (x,) = self.saved_tensors
        return gy * get_array_module(x.data).isfinite(x.data)


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


class Remainder(Function):
    """a - b * floor(a / b), computed as C's fmod shifted into b's sign (exact, as PyTorch's
    and Python's ``%``): the result has b's sign."""

    broadcasts = True

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a, b).remainder(a, b)

    def backward(self, gy):
        # d/da = 1, d/db = -floor(a / b) (the quotient is piecewise constant)
        a, b = self.saved_tensors
        gb = -gy * div(a, b, rounding_mode="floor") if self.needs_input_grad[1] else None
        return gy, gb


# --------------------------------------------------------------------------- erf
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_ONE_OVER_SQRT_PI = 1 / math.sqrt(math.pi)
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
# (1969), 631-637; the coefficients of his SPECFUN routine CALERF, highest degree first, each
# denominator monic. Three ranges of |x|:
#   |x| <= 0.46875:      erf(x)  = x * N(x^2) / D(x^2)
#   0.46875 < |x| <= 4:  erfc(x) = e^(-x^2) * N(|x|) / D(|x|)
#   |x| > 4:             erfc(x) = e^(-x^2) / |x| * (1/sqrt(pi) - z N(z) / D(z)), z = 1/x^2
_NEAR = ((1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
          3.77485237685302021e02, 3.20937758913846947e03),
         (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03))
_MIDDLE = ((2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
            6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
            1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03),
           (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
            1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
            3.43936767414372164e03, 1.23033935480374942e03))
_TAIL = ((1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
          1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4),
         (1.0, 2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3))
# erfc(27) < 1e-318: beyond it erf is +-1 in float64, and e^(-x^2) must not see inf
_SATURATION = 27.0


def _ratio(z, coefficients):
    """N(z) / D(z) by Horner's rule, in place on two work arrays."""
    numerator, denominator = coefficients
    top = z * numerator[0]
    top += numerator[1]
    bottom = z + denominator[1]  # D is monic: 1 * z + d1
    for a, b in zip(numerator[2:], denominator[2:]):
        top *= z
        top += a
        bottom *= z
        bottom += b
    top /= bottom
    return top


def _erf(x):
    """erf on a raw array, by Cody's approximations.

    Each range is evaluated on every entry, its argument clipped into the range so that
    nothing overflows, and the right one is kept by mask arithmetic (one nonzero term plus
    an exact zero: exact, and cheaper than xp.where or boolean indexing, measured on NumPy).
    NaN propagates through the arithmetic; erf(-0.0) is -0.0 by the final copysign.
    """
    xp = get_array_module(x)
    y = xp.abs(x)
    s = xp.minimum(y, 0.46875)
    near = _ratio(s * s, _NEAR)
    near *= s
    w = xp.clip(y, 0.46875, _SATURATION)
    middle = _ratio(xp.minimum(w, 4.0), _MIDDLE)
    t = xp.maximum(w, 4.0)
    z = 1 / (t * t)
    tail = _ratio(z, _TAIL)
    tail *= -z
    tail += _ONE_OVER_SQRT_PI
    tail /= t
    beyond = w > 4.0
    middle *= ~beyond
    tail *= beyond
    middle += tail
    # e^(-w^2) as e^(-u^2) e^(-(w-u)(w+u)) with u = w to 4 bits: u^2 is exact, so the
    # rounding of w^2 (magnified by w^2 in the exponent) never reaches the result
    u = xp.trunc(w * 16) / 16
    erf_far = 0.5 - xp.exp(-(u * u)) * xp.exp(-(w - u) * (w + u)) * middle
    erf_far += 0.5
    far = y > 0.46875
    erf_far *= far
    near *= ~far
    near += erf_far
    return xp.copysign(near, x)


# --------------------------------------------------------------------------- public wrappers
def log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x."""
    return Log1p().apply(x)


def expm1(x: Tensor) -> Tensor:
    """e^x - 1, accurate for small x."""
    return Expm1().apply(x)


def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x)."""
    return Rsqrt().apply(x)


@tensor_args
def square(x: Tensor) -> Tensor:
    """x * x."""
    return PowScalar(2).apply(x)


def reciprocal(x: Tensor) -> Tensor:
    """1 / x."""
    return Reciprocal().apply(x)


def sin(x: Tensor) -> Tensor:
    return Sin().apply(x)


def cos(x: Tensor) -> Tensor:
    return Cos().apply(x)


def erf(x: Tensor) -> Tensor:
    """The error function, 2/sqrt(pi) * integral of e^(-t^2) from 0 to x."""
    return Erf().apply(x)


def logaddexp(a, b) -> Tensor:
    """log(e^a + e^b), broadcasting, without overflow."""
    a, b = _elementwise_pair(a, b, "logaddexp")
    return LogAddExp().apply(a, b)


def xlogy(x, y) -> Tensor:
    """x * log(y), broadcasting, with xlogy(0, y) = 0 for any y but NaN (``torch.xlogy``);
    gradients as PyTorch's (see :class:`XLogY`)."""
    x, y = _elementwise_pair(x, y, "xlogy")
    return XLogY().apply(x, y)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x (0 for NaN, as PyTorch); zero gradient."""
    return Sign().apply(x)


def floor(x: Tensor) -> Tensor:
    """The largest integer <= x; zero gradient."""
    return Floor().apply(x)


def ceil(x: Tensor) -> Tensor:
    """The smallest integer >= x; zero gradient."""
    return Ceil().apply(x)


@tensor_args
def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """x rounded half to even, to ``decimals`` decimal places, as ``torch.round``; zero
    gradient.

    Args:
        x: the input.
        decimals: places after the point; negative rounds to tens, hundreds, ...

    Returns:
        A tensor of x's shape and dtype.
    """
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    if abs(decimals) > 308:  # 10 ** decimals must stay a finite float64
        raise ValueError(f"round: decimals must be in [-308, 308], got {decimals}")
    return Round(decimals).apply(x)


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """x with NaN, +inf and -inf replaced, as ``torch.nan_to_num``.

    Args:
        x: the input.
        nan: the value for NaN.
        posinf, neginf: the values for +inf and -inf; None: the largest and the lowest
            finite value of x's dtype.

    Returns:
        A tensor of x's shape and dtype; its gradient is 1 where x was finite, else 0.
    """
    for name, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if value is not None or name == "nan":
            real("nan_to_num", name, value)
    return NanToNum(nan, posinf, neginf).apply(x)


@tensor_args
def lerp(start: Tensor, end, weight) -> Tensor:
    """start + weight * (end - start), broadcasting, as ``torch.lerp``.

    Args:
        start: the tensor at weight 0.
        end: the tensor (or number) at weight 1.
        weight: a Python number or a Tensor.

    Returns:
        The interpolation; exactly ``end`` where weight is 1 (PyTorch's two-sided formula).
    """
    start, end = _as_tensor_pair(start, end, "lerp")
    weight = weight if isinstance(weight, Tensor) else _operand("lerp", weight, start)
    return Lerp().apply(start, end, weight)


def floor_divide(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """input // other: the quotient rounded down, as ``torch.floor_divide`` and Python's
    ``//`` (the same as ``div(input, other, rounding_mode="floor")``).

    Args:
        input, other: Tensors or numbers (two numbers give a 0-d tensor).

    Returns:
        The broadcast quotient, in the operands' dtype; its gradient is zero.
    """
    return _divide("floor_divide", input, other, "floor")


def remainder(input, other) -> Tensor:  # noqa: A002 - PyTorch's names
    """input % other with the sign of ``other``, as ``torch.remainder`` and Python's ``%``
    (``torch.fmod``'s result has the sign of input instead).

    Args:
        input, other: a Tensor and a Tensor or number (either way round).

    Returns:
        The broadcast remainder; its gradient is 1 for input and -floor(input / other) for
        other.
    """
    a, b = _elementwise_pair(input, other, "remainder")
    return Remainder().apply(a, b)
