"""Reductions over axes: sum, mean, var, std, max, min, amax, amin, logsumexp; and softmax,
log_softmax.

Every reduction takes PyTorch's ``dim`` (None, an int or a tuple of ints) and ``keepdim``,
or NumPy's ``axis`` and ``keepdims``. Backward first reshapes the upstream gradient to the
keepdims shape, so it broadcasts against x.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import dim_keepdim
from tinygen.autograd.ops.comparison import ValuesIndices, argmax, argmin
from tinygen.autograd.ops.elementwise import cast, exp, maximum, minimum, sqrt
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
    def __init__(self, axis=None, keepdims: bool = False, correction: int = 1):
        super().__init__(axis, keepdims)
        self.ddof = correction

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
# Each takes PyTorch's dim/keepdim (or NumPy's axis/keepdims); dim may be an int, a tuple of
# ints, or None for every axis.
def _as_dtype(x: Tensor, dtype) -> Tensor:
    return x if dtype is None or np.dtype(dtype) == x.dtype else cast(x, dtype)


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, axis=None,  # noqa: A001
        keepdims=None) -> Tensor:
    """Sum over ``dim`` (every axis when None), optionally in ``dtype``."""
    dim, keepdim = dim_keepdim("sum", dim, keepdim, axis, keepdims)
    return Sum(dim, keepdim).apply(_as_dtype(x, dtype))


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, axis=None,
         keepdims=None) -> Tensor:
    """Mean over ``dim`` (every axis when None), optionally in ``dtype``."""
    dim, keepdim = dim_keepdim("mean", dim, keepdim, axis, keepdims)
    return Mean(dim, keepdim).apply(_as_dtype(x, dtype))


def _correction(op: str, unbiased, correction) -> int:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass unbiased or correction, not both")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    return correction


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Variance over ``dim``, divided by n - correction: unbiased (correction=1) by default,
    as in PyTorch; ``correction=0`` (or ``unbiased=False``) is NumPy's default."""
    dim, keepdim = dim_keepdim("var", dim, keepdim, axis, keepdims)
    return Var(dim, keepdim, _correction("var", unbiased, correction)).apply(x)


def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Standard deviation: the square root of :func:`var` (unbiased by default)."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


def var_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(var, mean) over ``dim``, as ``torch.var_mean``."""
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x, dim, keepdim))


def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The largest entries over ``dim`` (every axis when empty); ties share the gradient."""
    return Max(None if dim == () else dim, keepdim).apply(x)


def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The smallest entries over ``dim`` (every axis when empty); ties share the gradient."""
    return Min(None if dim == () else dim, keepdim).apply(x)


def _extreme(op: str, x, dim, keepdim, axis, keepdims, reduce, arg):
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
        return (maximum if op == "max" else minimum)(x, dim)
    dim, keepdim = dim_keepdim(op, dim, keepdim, axis, keepdims)
    if dim is None:
        return reduce(x)
    if not isinstance(dim, int):
        raise TypeError(f"{op}: dim must be an int (use amax/amin for several), got {dim!r}")
    return ValuesIndices(reduce(x, dim, keepdim), arg(x, dim, keepdim))


def max(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,  # noqa: A001
        keepdims=None):
    """The largest entry, or with ``dim`` the named tuple (values, indices), as PyTorch's;
    ``max(a, b)`` with two tensors is the elementwise maximum."""
    return _extreme("max", x, dim, keepdim, axis, keepdims, amax, argmax)


def min(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,  # noqa: A001
        keepdims=None):
    """The smallest entry, or with ``dim`` the named tuple (values, indices), as PyTorch's;
    ``min(a, b)`` with two tensors is the elementwise minimum."""
    return _extreme("min", x, dim, keepdim, axis, keepdims, amin, argmin)


def logsumexp(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,
              keepdims=None) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed without overflow."""
    dim, keepdim = dim_keepdim("logsumexp", dim, keepdim, axis, keepdims)
    return LogSumExp(dim, keepdim).apply(x)


def log_softmax(x: Tensor, dim: int = -1, *, axis=None, dtype=None) -> Tensor:
    """x - logsumexp(x, dim), computed without overflow."""
    dim, _ = dim_keepdim("log_softmax", None if axis is not None else dim, False, axis)
    return LogSoftmax(dim).apply(_as_dtype(x, dtype))


def softmax(x: Tensor, dim: int = -1, *, axis=None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed without overflow."""
    dim, _ = dim_keepdim("softmax", None if axis is not None else dim, False, axis)
    return Softmax(dim).apply(_as_dtype(x, dtype))
