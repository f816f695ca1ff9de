"""Activations: relu, leaky_relu, elu, selu, celu, gelu, silu, mish, hardtanh, relu6,
hardsigmoid, softsign, sigmoid, tanh, softplus, log_sigmoid (prelu and glu, which work along
an axis, are in ``activation_axes.py``).

Names, arguments and defaults are ``torch.nn.functional``'s, and so is the gradient at every
kink (relu and hardtanh give 0 there, leaky_relu and prelu their negative slope) and at a NaN
input (relu, elu and hardtanh pass the gradient there, hardsigmoid does not). The forward
passes stay finite for inputs as large as ±1e4: nothing exponentiates a large positive number.

``inplace``: PyTorch overwrites the input with the result when ``inplace=True``. tinygen always
computes out of place and returns a new tensor (the autograd graph may need the input), so the
flag is accepted for compatibility and changes nothing but memory use in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.arguments import real, tensor_args
from tinygen.autograd.ops.elementwise import abs, exp, where
from tinygen.autograd.ops.special import _erf, erf
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

# Klambauer et al. (2017), "Self-Normalizing Neural Networks", the constants PyTorch uses
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2 / math.pi)
_ONE_OVER_SQRT_TWO_PI = 1 / math.sqrt(2 * math.pi)
_GELU_KAPPA = 0.044715  # the cubic term of GELU's tanh approximation


#: NumPy 2.4's maximum runs 4x slower against a scalar than against an array (no SIMD loop
#: for a stride-0 operand: 265 against 68 µs on 692k float32), so a large relu takes its
#: max against a zero block of this many entries, a block of x at a time
_ZERO_BLOCK = 1 << 14
_zero_blocks: dict = {}  # dtype -> a read-only block of _ZERO_BLOCK zeros


def _relu_array(x):
    """max(x, 0), one pass: on a NumPy array of at least two blocks, block by block against
    a zero block (the same values as the scalar form, signed zeros and NaN included;
    256 -> 146 µs on a 64x16x26x26 float32 map)."""
    xp = get_array_module(x)
    if xp is not np or x.size < 2 * _ZERO_BLOCK or not x.flags.c_contiguous:
        return xp.maximum(x, 0)
    zeros = _zero_blocks.get(x.dtype)
    if zeros is None:
        zeros = _zero_blocks[x.dtype] = np.zeros(_ZERO_BLOCK, dtype=x.dtype)
        zeros.flags.writeable = False
    y = np.empty_like(x)
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)  # x's shape -> (size,), views
    for start in range(0, x.size, _ZERO_BLOCK):
        stop = min(start + _ZERO_BLOCK, x.size)
        np.maximum(flat_x[start:stop], zeros[:stop - start], out=flat_y[start:stop])
    return y


class ReLU(Function):
    backward_on_arrays = True  # the mask is taken from the raw array either way

    def forward(self, x):
        # one pass, and the output doubles as the mask: no separate mask array to keep
        y = _relu_array(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d relu(x)/dx = [x > 0] = not [relu(x) <= 0], which passes the gradient at NaN (as
        # PyTorch's threshold_backward)
        (y,) = self.saved_tensors
        return gy * ~((y.data if isinstance(y, Tensor) else y) <= 0)


class LeakyReLU(Function):
    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        # the slope, 1 where x > 0 and negative_slope elsewhere, built by arithmetic on the
        # mask: each entry is one nonzero term plus an exact zero, so it is exact, and it is
        # 15x faster than xp.where with scalar branches (NumPy 2.4, measured on 400k floats)
        positive = x > 0
        slope = positive.astype(x.dtype)
        slope += ~positive * x.dtype.type(self.negative_slope)  # in x's dtype, not float64
        self.save_for_backward(slope)
        return x * slope

    def backward(self, gy):
        # d leaky_relu(x)/dx = 1 if x > 0 else negative_slope
        (slope,) = self.saved_tensors
        return gy * slope


class ELU(Function):
    """scale * x for x > 0, else alpha * scale * (e^(input_scale x) - 1): PyTorch's one
    kernel behind elu, selu and celu."""

    def __init__(self, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0):
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale

    def forward(self, x):
        xp = get_array_module(x)
        negative_part = (self.alpha * self.scale) * xp.expm1(xp.minimum(x, 0) * self.input_scale)
        y = xp.where(x > 0, x * self.scale if self.scale != 1 else x, negative_part)
        self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        # d elu(x)/dx = scale if x > 0 else input_scale * alpha * scale * e^(input_scale x)
        #             = input_scale * (y + alpha * scale)
        x, y = self.saved_tensors
        # As PyTorch: the branch is x <= 0 (a NaN takes the positive one), and the slope's
        # own derivative is taken on x < 0 only (0 at x = 0). y is masked before use, so an
        # infinite y on the positive side never meets a zero (inf * 0 would be NaN).
        y_negative = where(x.data < 0, y, 0.0)
        negative = gy * (self.input_scale * (y_negative + self.alpha * self.scale))
        return where(x.data <= 0, negative, gy * self.scale if self.scale != 1 else gy)


class Hardtanh(Function):
    def __init__(self, min_val: float, max_val: float):
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        # PyTorch's mask: 0 at both edges and beyond; a NaN passes the gradient
        outside = (x <= self.min_val) | (x >= self.max_val)
        self.save_for_backward((~outside).astype(x.dtype))
        return get_array_module(x).clip(x, self.min_val, self.max_val)

    def backward(self, gy):
        # d hardtanh(x)/dx = [min_val < x < max_val]
        (inside,) = self.saved_tensors
        return gy * inside


class Hardsigmoid(Function):
    def forward(self, x):
        # PyTorch's mask: 1/6 strictly inside (-3, 3), so 0 at the edges and at NaN
        inside = (x > -3) & (x < 3)
        self.save_for_backward(inside * x.dtype.type(1 / 6))
        return get_array_module(x).clip(x + 3, 0, 6) / 6

    def backward(self, gy):
        # d hardsigmoid(x)/dx = [-3 < x < 3] / 6
        (slope,) = self.saved_tensors
        return gy * slope


class GELU(Function):
    """x * Phi(x), Phi the standard normal CDF; or its tanh approximation.

    The forward keeps Phi(x) (or the tanh) in the backward cache, so that a first-order
    backward costs no second erf (erf is the expensive part: GELU forward and backward took
    38 ms on 1M float32 without the cache, measured on NumPy); a recorded backward
    (create_graph=True) recomputes it with differentiable ops, for second derivatives.
    """

    def __init__(self, approximate: str = "none"):
        self.approximate = approximate

    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        if self.approximate == "tanh":
            t = xp.tanh(_SQRT_TWO_OVER_PI * (x + _GELU_KAPPA * (x * x * x)))
            self.cache_for_backward(t=t)
            return 0.5 * x * (1 + t)
        cdf = 0.5 * (1 + _erf(x * _SQRT_HALF))
        self.cache_for_backward(cdf=cdf)
        return x * cdf

    def backward(self, gy):
        # exact: d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi);
        # tanh: d/dx [x/2 (1 + t)] = (1 + t)/2 + x/2 (1 - t^2) u', t = tanh u,
        # u = sqrt(2/pi) (x + kappa x^3), u' = sqrt(2/pi) (1 + 3 kappa x^2)
        (x,) = self.saved_tensors
        if not is_grad_enabled():  # first order: on raw arrays, with the cached Phi or t
            x = x.data
            slope = self._slope(x, self.cached("cdf"), self.cached("t"),
                                get_array_module(x).exp)
            return Tensor._from_array(gy.data * slope)
        if self.approximate == "tanh":
            t = tanh(_SQRT_TWO_OVER_PI * (x + _GELU_KAPPA * (x * x * x)))
            return gy * self._slope(x, None, t, exp)
        return gy * self._slope(x, 0.5 * (1 + erf(x * _SQRT_HALF)), None, exp)

    def _slope(self, x, cdf, t, exp):
        """dy/dx from x and Phi(x) or t, in arrays or in Tensors (exp: the matching exp)."""
        if self.approximate == "tanh":
            u_slope = _SQRT_TWO_OVER_PI * (1 + 3 * _GELU_KAPPA * (x * x))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * u_slope
        return cdf + x * (_ONE_OVER_SQRT_TWO_PI * exp(-0.5 * (x * x)))


class Sigmoid(Function):
    def forward(self, x):
        y = _stable_sigmoid(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d sigmoid(x)/dx = y (1 - y)
        (y,) = self.saved_tensors
        return gy * (y * (1 - y))


class Tanh(Function):
    backward_on_arrays = True  # 1 - y * y means the same on Tensors and on arrays

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d tanh(x)/dx = 1 - y^2
        (y,) = self.saved_tensors
        return gy * (1 - y * y)


class Softplus(Function):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        scaled = x * self.beta if self.beta != 1 else x
        y = _stable_softplus(scaled)
        if self.beta != 1:
            y /= self.beta
        return xp.where(scaled > self.threshold, x, y)

    def backward(self, gy):
        # d/dx = sigmoid(beta x), and 1 on the linear part beta x > threshold
        (x,) = self.saved_tensors
        scaled = x * self.beta if self.beta != 1 else x
        linear = scaled.data > self.threshold
        return gy * (sigmoid(scaled) * ~linear + linear)


class LogSigmoid(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return -_stable_softplus(-x)

    def backward(self, gy):
        # d log sigmoid(x)/dx = 1 - sigmoid(x) = sigmoid(-x)
        (x,) = self.saved_tensors
        return gy * sigmoid(-x)


def _stable_sigmoid(x):
    """1 / (1 + e^-x) through e^-|x| <= 1, so neither branch overflows."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    # the numerator is 1 where x >= 0, else e; written as mask arithmetic (each entry one
    # exact term plus an exact zero; e <= 1 is finite) since xp.where is slow on NumPy
    return ((x < 0) * e + (x >= 0)) / (1 + e)


def _stable_softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|)."""
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


# --------------------------------------------------------------------------- public wrappers
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), with gradient 0 at 0 (as PyTorch).

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return ReLU().apply(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, else negative_slope * x (gradient negative_slope at 0).

    Args:
        input: any shape.
        negative_slope: the slope for x <= 0.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return LeakyReLU(real("leaky_relu", "negative_slope", negative_slope)).apply(input)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, else alpha * (e^x - 1).

    Args:
        input: any shape.
        alpha: the negative saturation value's magnitude.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return ELU(real("elu", "alpha", alpha)).apply(input)


@tensor_args
def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants (alpha ~ 1.6733,
    scale ~ 1.0507).

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return ELU(_SELU_ALPHA, _SELU_SCALE).apply(input)


@tensor_args
def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, else alpha * (e^(x/alpha) - 1).

    Args:
        input: any shape.
        alpha: nonzero.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    if real("celu", "alpha", alpha) == 0:
        raise ValueError(f"celu: alpha must be nonzero, got {alpha!r}")
    return ELU(alpha, 1.0, 1.0 / alpha).apply(input)


@tensor_args
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF.

    Args:
        input: any shape.
        approximate: 'none' (exact, through erf) or 'tanh'
            (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).

    Returns:
        A tensor of the input's shape and dtype.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate).apply(input)


@tensor_args
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish).

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return input * sigmoid(input)


@tensor_args
def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)), with softplus never switched to its linear part (as PyTorch's
    mish).

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return input * tanh(Softplus(1.0, math.inf).apply(input))


@tensor_args
def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped into [min_val, max_val]; gradient 1 strictly inside, 0 at the edges (as
    PyTorch; unlike clamp, whose gradient is 1 at the bounds).

    Args:
        input: any shape.
        min_val, max_val: the bounds, min_val <= max_val.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    if real("hardtanh", "min_val", min_val) > real("hardtanh", "max_val", max_val):
        raise ValueError(f"hardtanh: min_val must be <= max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    return Hardtanh(min_val, max_val).apply(input)


@tensor_args
def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6), so the gradient is 0 at 0 and at 6.

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return Hardtanh(0.0, 6.0).apply(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between (gradient 0 at +-3).

    Args:
        input: any shape.
        inplace: accepted; tinygen returns a new tensor (see the module docstring).

    Returns:
        A tensor of the input's shape and dtype.
    """
    return Hardsigmoid().apply(input)


@tensor_args
def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (abs(input) + 1)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x), finite for any finite x."""
    return Sigmoid().apply(input)


def tanh(input: Tensor) -> Tensor:
    return Tanh().apply(input)


@tensor_args
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, finite for any finite x.

    Args:
        input: any shape.
        beta: nonzero; larger is closer to relu.
        threshold: where beta * x > threshold the result is x itself (gradient 1), as in
            PyTorch.

    Returns:
        A tensor of the input's shape and dtype.
    """
    real("softplus", "threshold", threshold)
    if real("softplus", "beta", beta) == 0:
        raise ValueError(f"softplus: beta must be nonzero, got {beta!r}")
    return Softplus(beta, threshold).apply(input)


def log_sigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for any finite x."""
    return LogSigmoid().apply(input)


logsigmoid = log_sigmoid  # torch.nn.functional's spelling
