"""Reductions over axes: sum, mean, var, max, min, logsumexp; and softmax, log_softmax.

Every reduction takes ``axis`` (None, an int or a tuple of ints) and ``keepdims``. Backward
first reshapes the upstream gradient to the keepdims shape, so it broadcasts against x.
"""

from __future__ import annotations

import builtins
import math

from tinygen.autograd.function import Function
from tinygen.autograd.ops.elementwise import exp
from tinygen.autograd.ops.shape import Expand, Reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _normalize_axes(axis, ndim: int) -> tuple:
    """``axis`` as a sorted tuple of non-negative ints, checked against ``ndim``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis: expected ints in [{-ndim}, {ndim}), got {axis!r}")
        normalized.append(a % builtins.max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis: repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class _Reduction(Function):
    def __init__(self, axis=None, keepdims: bool = False):
        self.axis = axis
        self.keepdims = keepdims

    def _setup(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim)
        self.input_shape = x.shape
        self.kept_shape = _keepdims_shape(x.shape, self.axes)
        self.count = math.prod(x.shape[a] for a in self.axes)

    def _kept(self, g: Tensor) -> Tensor:
        """g reshaped to the keepdims shape, so that it broadcasts against the input."""
        return g if g.shape == self.kept_shape else Reshape(self.kept_shape).apply(g)


def _spread(g: Tensor, shape: tuple) -> Tensor:
    """Broadcast a keepdims-shaped gradient back over the reduced axes (known valid)."""
    return g if g.shape == shape else Expand(shape).apply(g)


class Sum(_Reduction):
    def forward(self, x):
        self._setup(x)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # d sum(x)/dx_i = 1
        return _spread(self._kept(gy), self.input_shape)


class Mean(_Reduction):
    def forward(self, x):
        self._setup(x)
        if self.count == 0:
            raise ValueError(f"mean: the reduced axes {self.axes} of shape {x.shape} are empty")
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # d mean(x)/dx_i = 1/n
        return _spread(self._kept(gy) * (1.0 / self.count), self.input_shape)


class Var(_Reduction):
    def __init__(self, axis=None, keepdims: bool = False, ddof: int = 0):
        super().__init__(axis, keepdims)
        self.ddof = ddof

    def forward(self, x):
        self._setup(x)
        if self.count - self.ddof <= 0:
            raise ValueError(
                f"var: need more than ddof={self.ddof} elements over axes {self.axes}, "
                f"got {self.count}"
            )
        self.save_for_backward(x)
        return x.var(axis=self.axes, keepdims=self.keepdims, ddof=self.ddof)

    def backward(self, gy):
        # d var(x)/dx_i = 2 (x_i - mean(x)) / (n - ddof)
        (x,) = self.saved_tensors
        centered = x - mean(x, axis=self.axes, keepdims=True)
        return self._kept(gy) * centered * (2.0 / (self.count - self.ddof))


class _Extremum(_Reduction):
    """max or min; the gradient is shared evenly among tied extreme entries."""

    def forward(self, x):
        self._setup(x)
        if self.count == 0:
            raise ValueError(f"{self.name.lower()}: cannot reduce an empty axis of {x.shape}")
        y = self._reduce(x, axis=self.axes, keepdims=True)
        hits = (x == y).astype(x.dtype)
        self.save_for_backward(hits / hits.sum(axis=self.axes, keepdims=True))
        return y if self.keepdims else y.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        # d max(x)/dx_i = [x_i is the max] / (number of maxima)
        (share,) = self.saved_tensors
        return self._kept(gy) * share


class Max(_Extremum):
    @staticmethod
    def _reduce(x, axis, keepdims):
        return x.max(axis=axis, keepdims=keepdims)


class Min(_Extremum):
    @staticmethod
    def _reduce(x, axis, keepdims):
        return x.min(axis=axis, keepdims=keepdims)


class LogSumExp(_Reduction):
    def forward(self, x):
        self._setup(x)
        xp = get_array_module(x)
        shift = x.max(axis=self.axes, keepdims=True)
        shift = xp.where(xp.isfinite(shift), shift, 0)  # all -inf rows stay -inf, not nan
        y = xp.log(xp.exp(x - shift).sum(axis=self.axes, keepdims=True)) + shift
        if not self.keepdims:
            y = y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))
        self.save_for_backward(x, y)  # y as the output Tensor: second order needs dy/dx
        return y

    def backward(self, gy):
        # d logsumexp(x)/dx_i = softmax(x)_i = exp(x_i - y)
        x, y = self.saved_tensors
        return self._kept(gy) * exp(x - self._kept(y))


class LogSoftmax(Function):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shift = x.max(axis=self.axis, keepdims=True)
        shifted = x - shift
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d log_softmax(x)/dx: gx = gy - softmax(x) * sum(gy)
        (y,) = self.saved_tensors
        return gy - exp(y) * sum(gy, axis=self.axis, keepdims=True)


class Softmax(Function):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        y = e / e.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # d softmax(x)/dx: gx = y * (gy - sum(gy * y))
        (y,) = self.saved_tensors
        return y * (gy - sum(gy * y, axis=self.axis, keepdims=True))


# --------------------------------------------------------------------------- public wrappers
def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    return Sum(axis, keepdims).apply(x)


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return Mean(axis, keepdims).apply(x)


def var(x: Tensor, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance; ``ddof=1`` gives the unbiased estimate."""
    return Var(axis, keepdims, ddof).apply(x)


def max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Max(axis, keepdims).apply(x)


def min(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Min(axis, keepdims).apply(x)


def logsumexp(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed without overflow."""
    return LogSumExp(axis, keepdims).apply(x)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x, axis), computed without overflow."""
    return LogSoftmax(axis).apply(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return Softmax(axis).apply(x)
