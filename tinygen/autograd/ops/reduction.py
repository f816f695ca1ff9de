"""Reductions over axes: sum, mean, prod, var, std, max, min, amax, amin, logsumexp; the
scans cumsum and logcumsumexp; and softmax, log_softmax.

Every reduction takes PyTorch's ``dim`` (None, an int or a tuple of ints; the empty tuple
means every axis, as in PyTorch) and ``keepdim``, or NumPy's ``axis`` and ``keepdims``. A 0-d
tensor takes dim 0 or -1. Backward first reshapes the upstream gradient to the keepdims
shape, so it broadcasts against x.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import _is_int, dim_keepdim, ints, real, tensor_args
from tinygen.autograd.ops.comparison import ValuesIndices, argmax, argmin
from tinygen.autograd.ops.conversion import cast, clone
from tinygen.autograd.ops.elementwise import exp, log, maximum, minimum, sqrt
from tinygen.autograd.ops.indexing import Gather
from tinygen.autograd.ops.shape import (
    Expand,
    Reshape,
    concatenate,
    flip,
    getitem,
    reshape,
    squeeze,
)
from tinygen.autograd.tensor import Tensor, _axis
from tinygen.backend import get_array_module


def _normalize_axes(axis, ndim: int, op: str = "reduction") -> tuple:
    """``axis`` as a sorted tuple of non-negative ints, checked against ``ndim``; None and the
    empty tuple mean every axis. A 0-d tensor has no axes to reduce, but takes 0 or -1."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, on the per-op hot path
        return (axis % ndim,)
    axes = ints(op, "dim", axis)
    if not axes:
        return tuple(range(ndim))
    normalized = tuple(_axis(a, builtins.max(ndim, 1), op) for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: dim {axis!r} names an axis twice")
    return tuple(sorted(normalized)) if ndim else ()


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class _Reduction(Function):
    def __init__(self, axis=None, keepdims: bool = False):
        self.axis = axis
        self.keepdims = keepdims

    def _setup(self, x):
        self.axes = _normalize_axes(self.axis, x.ndim, type(self).__name__.lower())
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
        if self.count == 0:  # the mean of nothing is nan, as in PyTorch
            return _full_reduced(x, self.axes, self.keepdims, math.nan)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # d mean(x)/dx_i = 1/n
        return _spread(self._kept(gy) * (1.0 / builtins.max(self.count, 1)), self.input_shape)


def _full_reduced(x, axes: tuple, keepdims: bool, value: float):
    """An array of ``value`` with the shape of x reduced over ``axes``."""
    shape = _keepdims_shape(x.shape, axes) if keepdims else tuple(
        n for i, n in enumerate(x.shape) if i not in axes)
    xp = get_array_module(x)
    return xp.full(shape, value, dtype=x.dtype if x.dtype.kind == "f" else xp.float64)


class Var(_Reduction):
    def __init__(self, axis=None, keepdims: bool = False, correction: int = 1):
        super().__init__(axis, keepdims)
        self.ddof = correction

    def forward(self, x):
        self._setup(x)
        self.save_for_backward(x)
        if self.count - self.ddof > 0:
            return x.var(axis=self.axes, keepdims=self.keepdims, ddof=self.ddof)
        # no degrees of freedom left: the sum of squares over 0, inf or (for 0/0) nan, as
        # PyTorch gives
        if self.count == 0:
            return _full_reduced(x, self.axes, self.keepdims, math.nan)
        xp = get_array_module(x)
        spread = x.var(axis=self.axes, keepdims=self.keepdims)
        return xp.where(spread > 0, xp.inf, xp.nan).astype(spread.dtype)

    def backward(self, gy):
        # d var(x)/dx_i = 2 (x_i - mean(x)) / (n - ddof)
        (x,) = self.saved_tensors
        centered = x - mean(x, axis=self.axes, keepdims=True)
        dof = self.count - self.ddof
        return self._kept(gy) * centered * (2.0 / dof if dof > 0 else math.inf)


class _Extremum(_Reduction):
    """max or min; the gradient is shared evenly among tied extreme entries."""

    def forward(self, x):
        self._setup(x)
        if self.count == 0:
            raise IndexError(f"a{self.name.lower()}: cannot reduce an empty axis: dim "
                             f"{self.axis} of shape {x.shape}")
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
    op_name = "logsumexp"

    def forward(self, x):
        self._setup(x)
        if self.count == 0:  # the log of an empty sum, as in PyTorch
            y = _full_reduced(x, self.axes, self.keepdims, -math.inf)
            self.save_for_backward(x, y)
            return y
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


class CumSum(Function):
    op_name = "cumsum"

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, gy):
        # y_i = sum_{j <= i} x_j, so dL/dx_j = sum_{i >= j} gy_i: a cumsum from the far end
        return flip(CumSum(self.axis).apply(flip(gy, self.axis)), self.axis)


class LogSoftmax(Function):
    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:  # nothing to normalise (and no max to shift by)
            y = x.copy()
        else:
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
        if x.size == 0:  # nothing to normalise (and no max to shift by)
            y = x.copy()
        else:
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
    if axis is not None or keepdims is not None:  # the NumPy spellings; skipped when unused
        dim, keepdim = dim_keepdim("sum", dim, keepdim, axis, keepdims)
    return Sum(dim, keepdim).apply(x if dtype is None else _as_dtype(x, dtype))


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None, axis=None,
         keepdims=None) -> Tensor:
    """Mean over ``dim`` (every axis when None), optionally in ``dtype``."""
    if axis is not None or keepdims is not None:
        dim, keepdim = dim_keepdim("mean", dim, keepdim, axis, keepdims)
    return Mean(dim, keepdim).apply(x if dtype is None else _as_dtype(x, dtype))


def _unbiased_overload(dim, unbiased) -> tuple:
    """PyTorch's ``var(x, unbiased)`` overload: a bool second argument is ``unbiased``."""
    return (None, dim) if isinstance(dim, bool) else (dim, unbiased)


def _correction(op: str, unbiased, correction) -> int:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass unbiased or correction, not both")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    return real(op, "correction", correction)  # PyTorch takes a float correction too


@tensor_args
def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Variance over ``dim``, divided by n - correction: unbiased (correction=1) by default,
    as in PyTorch; ``correction=0`` (or ``unbiased=False``) is NumPy's default. As in PyTorch,
    ``var(x, False)`` reads the bool as ``unbiased``."""
    dim, unbiased = _unbiased_overload(dim, unbiased)
    dim, keepdim = dim_keepdim("var", dim, keepdim, axis, keepdims)
    return Var(dim, keepdim, _correction("var", unbiased, correction)).apply(x)


@tensor_args
def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None,
        axis=None, keepdims=None) -> Tensor:
    """Standard deviation: the square root of :func:`var` (unbiased by default)."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


@tensor_args
def var_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(var, mean) over ``dim``, as ``torch.var_mean``."""
    dim, unbiased = _unbiased_overload(dim, unbiased)
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x, dim, keepdim))


@tensor_args
def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The largest entries over ``dim`` (every axis when empty); ties share the gradient."""
    return Max(None if dim == () else dim, keepdim).apply(x)


@tensor_args
def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The smallest entries over ``dim`` (every axis when empty); ties share the gradient."""
    return Min(None if dim == () else dim, keepdim).apply(x)


def _extreme(op: str, x, dim, keepdim, axis, keepdims, reduce, arg):
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
        return (maximum if op == "max" else minimum)(x, dim)
    dim, keepdim = dim_keepdim(op, dim, keepdim, axis, keepdims)
    if dim is None:
        return reduce(x)
    if not _is_int(dim):
        raise TypeError(f"{op}: dim must be an int (use amax/amin for several), got {dim!r}")
    axis = _axis(dim, builtins.max(x.ndim, 1), op)
    if x.ndim and x.shape[axis] == 0:
        raise IndexError(f"{op}: cannot reduce the empty dim {dim} of shape {x.shape}")
    indices = arg(x, dim, True)
    if x.ndim == 0:
        return ValuesIndices(clone(x), indices)
    # the value is gathered at the returned index, so the gradient goes to that entry only
    # (amax shares it among ties instead, as PyTorch's max(x, dim) and amax differ)
    values = Gather(axis).apply(x, indices)
    if keepdim:
        return ValuesIndices(values, indices)
    return ValuesIndices(squeeze(values, axis), squeeze(indices, axis))


@tensor_args
def max(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,  # noqa: A001
        keepdims=None):
    """The largest entry, or with ``dim`` the named tuple (values, indices), as PyTorch's;
    ``max(a, b)`` with two tensors is the elementwise maximum."""
    return _extreme("max", x, dim, keepdim, axis, keepdims, amax, argmax)


@tensor_args
def min(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,  # noqa: A001
        keepdims=None):
    """The smallest entry, or with ``dim`` the named tuple (values, indices), as PyTorch's;
    ``min(a, b)`` with two tensors is the elementwise minimum."""
    return _extreme("min", x, dim, keepdim, axis, keepdims, amin, argmin)


@tensor_args
def prod(x: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The product of the entries over ``dim`` (an int; every entry when None), optionally in
    ``dtype``; integer and bool tensors multiply in int64, as in PyTorch.

    The product is a tree of pairwise products (half the entries times the other half,
    repeated), so every derivative is a product of the other entries, never a division:
    exact where x holds zeros, to any order.
    """
    if dim is not None and not _is_int(dim):
        raise TypeError(f"prod: dim must be an int or None, got {dim!r}")
    x = _as_dtype(x, "int64" if dtype is None and x.dtype.kind in "biu" else dtype)
    if dim is None:
        y = _pairwise_product(reshape(x, (-1,)), 0)  # (n,) -> (1,)
        return reshape(y, (1,) * x.ndim if keepdim else ())
    axis = _axis(dim, builtins.max(x.ndim, 1), "prod")
    if x.ndim == 0:
        return clone(x)
    y = _pairwise_product(x, axis)
    return y if keepdim else squeeze(y, axis)


def _pairwise_product(x: Tensor, axis: int) -> Tensor:
    """The product over ``axis``, kept as a size-1 axis: log2(n) halving steps."""
    if x.shape[axis] == 0:
        return sum(x, axis, keepdim=True) + 1  # the empty product
    leftovers = []
    while x.shape[axis] > 1:
        n = x.shape[axis]
        half = n // 2
        if n % 2:
            leftovers.append(_part(x, axis, n - 1, n))
        x = _part(x, axis, 0, half) * _part(x, axis, half, 2 * half)
    for leftover in leftovers:
        x = x * leftover
    return x


@tensor_args
def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sums along ``dim``: y_i = x_0 + ... + x_i, optionally in ``dtype`` (integer and
    bool tensors sum in int64, as in PyTorch)."""
    x = _as_dtype(x, "int64" if dtype is None and x.dtype.kind in "biu" else dtype)
    axis = _axis(dim, builtins.max(x.ndim, 1), "cumsum")
    return clone(x) if x.ndim == 0 else CumSum(axis).apply(x)


@tensor_args
def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """Running log-sum-exp along ``dim``: y_i = log(exp(x_0) + ... + exp(x_i)), computed
    without overflow or underflow.

    A log-depth scan (Hillis and Steele): after the step with offset s, y_i holds the
    log-sum-exp of the 2s entries ending at i. Each step is a stable, differentiable
    log-add-exp of two shifted copies, so every derivative stays finite too.
    """
    axis = _axis(dim, builtins.max(x.ndim, 1), "logcumsumexp")
    if x.ndim == 0:
        return clone(x)
    n = x.shape[axis]
    y, offset = x, 1
    while offset < n:
        shifted = _logaddexp(_part(y, axis, offset, n), _part(y, axis, 0, n - offset))
        y = concatenate([_part(y, axis, 0, offset), shifted], axis)
        offset *= 2
    return y


def _part(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    """x[start:stop] along ``axis`` (a view)."""
    return getitem(x, (slice(None),) * axis + (slice(start, stop),))


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)), shifted by a constant m = max(a, b): the identity holds for any
    constant, so every derivative is exact, and the shift keeps the exps in [0, 1]."""
    xp = get_array_module(a.data)
    shift = xp.maximum(a.data, b.data)
    shift = Tensor._from_array(xp.where(xp.isfinite(shift), shift, 0))
    return shift + log(exp(a - shift) + exp(b - shift))


@tensor_args
def logsumexp(x: Tensor, dim=None, keepdim: bool = False, *, axis=None,
              keepdims=None) -> Tensor:
    """log(sum(exp(x))) over ``dim``, computed without overflow."""
    dim, keepdim = dim_keepdim("logsumexp", dim, keepdim, axis, keepdims)
    return LogSumExp(dim, keepdim).apply(x)


@tensor_args
def log_softmax(x: Tensor, dim: int = -1, *, axis=None, dtype=None) -> Tensor:
    """x - logsumexp(x, dim), computed without overflow."""
    dim, _ = dim_keepdim("log_softmax", None if axis is not None else dim, False, axis)
    axis = _axis(dim, builtins.max(x.ndim, 1), "log_softmax")  # NumPy's AxisError named
    return LogSoftmax(axis if x.ndim else dim).apply(_as_dtype(x, dtype))


@tensor_args
def softmax(x: Tensor, dim: int = -1, *, axis=None, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed without overflow."""
    dim, _ = dim_keepdim("softmax", None if axis is not None else dim, False, axis)
    axis = _axis(dim, builtins.max(x.ndim, 1), "softmax")  # NumPy's AxisError named
    return Softmax(axis if x.ndim else dim).apply(_as_dtype(x, dtype))
