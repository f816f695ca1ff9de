"""Ops with no gradient: comparisons, masks, tests and indices.

Each returns a new leaf (a boolean or int64 tensor) and records nothing, as in PyTorch: the
result is piecewise constant in the input, so its derivative is zero wherever it exists. The
debug tools are told where such a result cuts a gradient path (``observers.detach``), so
``explain_grad`` can name the comparison that stopped a gradient.
"""

from __future__ import annotations

import numbers
import operator
from collections import namedtuple

import numpy as np

from tinygen.autograd.hooks import observers
from tinygen.autograd.ops.arguments import flag, ints, tensor_args
from tinygen.autograd.tensor import Tensor, _axis, _raw
from tinygen.backend import get_array_module

#: What ``max(x, dim)``, ``sort``, ``topk`` return: PyTorch's (values, indices) pair.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _cut(result, *sources) -> Tensor:
    """Wrap a raw result as a leaf, noting for debug tools which tensors it cut from."""
    result = Tensor._from_array(result)
    if observers.detach is not None:
        observers.detach(tuple(s for s in sources if isinstance(s, Tensor)), result,
                         "comparison")
    return result


def _operand(op: str, value):
    if isinstance(value, Tensor):
        return value._data
    if not isinstance(value, (numbers.Number, np.ndarray)) or np.asarray(value).dtype.kind \
            not in "fiub":
        raise TypeError(f"{op}: expected a Tensor or a number, got {type(value).__name__}")
    return value


def _compared(op: str, a, b, compare) -> Tensor:
    """``compare`` on the raw operands (a boolean tensor), refusing non-numbers and shapes
    that do not broadcast with errors naming ``op``."""
    x, y = _operand(op, a), _operand(op, b)
    try:
        return _cut(compare(x, y), a, b)
    except ValueError:
        raise ValueError(f"{op}: the shapes {np.shape(x)} and {np.shape(y)} do not broadcast "
                         "together") from None


def eq(a, b) -> Tensor:
    """a == b, elementwise (a boolean tensor)."""
    return _compared("eq", a, b, operator.eq)


def ne(a, b) -> Tensor:
    """a != b, elementwise."""
    return _compared("ne", a, b, operator.ne)


def lt(a, b) -> Tensor:
    """a < b, elementwise."""
    return _compared("lt", a, b, operator.lt)


def le(a, b) -> Tensor:
    """a <= b, elementwise."""
    return _compared("le", a, b, operator.le)


def gt(a, b) -> Tensor:
    """a > b, elementwise."""
    return _compared("gt", a, b, operator.gt)


def ge(a, b) -> Tensor:
    """a >= b, elementwise."""
    return _compared("ge", a, b, operator.ge)


@tensor_args
def isnan(x: Tensor) -> Tensor:
    return _cut(get_array_module(x._data).isnan(x._data), x)


@tensor_args
def isinf(x: Tensor) -> Tensor:
    return _cut(get_array_module(x._data).isinf(x._data), x)


@tensor_args
def isfinite(x: Tensor) -> Tensor:
    return _cut(get_array_module(x._data).isfinite(x._data), x)


@tensor_args
def logical_not(x: Tensor) -> Tensor:
    return _cut(get_array_module(x._data).logical_not(x._data), x)


@tensor_args
def logical_and(a: Tensor, b) -> Tensor:
    return _compared("logical_and", a, b, get_array_module(a._data).logical_and)


@tensor_args
def logical_or(a: Tensor, b) -> Tensor:
    return _compared("logical_or", a, b, get_array_module(a._data).logical_or)


def _reduce_dims(x: Tensor, dim, op: str):
    if dim is None:
        return None
    return tuple(_axis(d, max(x.ndim, 1), op) for d in ints(op, "dim", dim))


@tensor_args
def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - PyTorch's name
    """Whether every entry (along ``dim``) is true."""
    axes = _reduce_dims(x, dim, "all")
    keepdim = flag("all", "keepdim", keepdim)
    return _cut(x._data.all(axis=axes if x.ndim else None, keepdims=keepdim), x)


@tensor_args
def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - PyTorch's name
    """Whether some entry (along ``dim``) is true."""
    axes = _reduce_dims(x, dim, "any")
    keepdim = flag("any", "keepdim", keepdim)
    return _cut(x._data.any(axis=axes if x.ndim else None, keepdims=keepdim), x)


def _arg_extreme(x: Tensor, dim, keepdim: bool, axis, op: str, pick) -> Tensor:
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: pass dim or axis, not both (got dim={dim!r}, axis={axis!r})")
        dim = axis
    keepdim = flag(op, "keepdim", keepdim)
    data = x._data
    xp = get_array_module(data)
    if data.size == 0:
        raise ValueError(f"{op}: expected a non-empty tensor, got shape {x.shape}")
    if dim is None:  # the flat index, as PyTorch (a 0-d result, or all-ones with keepdim)
        index = pick(data.reshape(-1), axis=0)
        if keepdim:
            index = xp.asarray(index).reshape((1,) * data.ndim)
        return _cut(xp.asarray(index, dtype=xp.int64), x)
    if data.ndim == 0:
        _axis(dim, 1, op)
        return _cut(xp.zeros((), dtype=xp.int64), x)
    axis = _axis(dim, data.ndim, op)
    return _cut(pick(data, axis=axis, keepdims=keepdim).astype(xp.int64, copy=False), x)


@tensor_args
def argmax(x: Tensor, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
    """The index of the largest entry (along ``dim``; of the flattened tensor without it).
    NaN counts as the largest, and the first of equal maxima wins, as in PyTorch."""
    return _arg_extreme(x, dim, keepdim, axis, "argmax",
                        lambda a, **kw: get_array_module(a).argmax(a, **kw))


@tensor_args
def argmin(x: Tensor, dim=None, keepdim: bool = False, *, axis=None) -> Tensor:
    """The index of the smallest entry (along ``dim``; of the flattened tensor without it)."""
    return _arg_extreme(x, dim, keepdim, axis, "argmin",
                        lambda a, **kw: get_array_module(a).argmin(a, **kw))


@tensor_args
def equal(a: Tensor, b: Tensor) -> bool:
    """True when both have the same shape and the same entries."""
    return a.shape == b.shape and bool((a._data == b._data).all())


@tensor_args
def allclose(a: Tensor, b, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """|a - b| <= atol + rtol * |b| everywhere, as ``torch.allclose``."""
    return bool(get_array_module(a._data).allclose(a._data, _raw(b), rtol=rtol, atol=atol,
                                                   equal_nan=equal_nan))
