"""Norms: ``torch.norm`` and ``torch.linalg``'s vector_norm, matrix_norm and norm.

A vector p-norm (sum |x_i|^p)^(1/p) for finite p is one op, :class:`VectorNorm`, whose
gradient is 0 where the norm is 0, as PyTorch's (the formula divides by the norm there); the
inf norms are amax/amin of |x| (ties share the gradient, as in PyTorch), and the matrix norms
are compositions of those; the ones over singular values ('nuc', 2, -2) reduce
:func:`~tinygen.autograd.ops.decomposition.svdvals`, as PyTorch's do.
"""

from __future__ import annotations

import builtins
import math
import numbers

from tinygen.autograd.ops.arguments import ints, tensor_args
from tinygen.autograd.ops.axes import movedim
from tinygen.autograd.ops.comparison import _cut
from tinygen.autograd.ops.conversion import cast
from tinygen.autograd.ops.decomposition import svdvals
from tinygen.autograd.ops.elementwise import abs, where
from tinygen.autograd.ops.reduction import _normalize_axes, _Reduction, amax, amin, sum
from tinygen.autograd.ops.shape import reshape, squeeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class VectorNorm(_Reduction):
    """(sum |x_i|^p)^(1/p) over the axes, for a finite ``ord`` p other than 0."""

    def __init__(self, ord: float, axis: tuple, keepdims: bool):  # noqa: A002
        super().__init__(axis, keepdims)
        self.ord = ord

    def forward(self, x):
        self._setup(x)
        xp = get_array_module(x)
        p = self.ord
        if p == 2:
            y = xp.sqrt((x * x).sum(axis=self.axes, keepdims=True))
        elif p == 1:
            y = xp.abs(x).sum(axis=self.axes, keepdims=True)
        else:
            y = (xp.abs(x) ** p).sum(axis=self.axes, keepdims=True) ** (1.0 / p)
        if not self.keepdims:
            y = y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))
        self.save_for_backward(x, y)  # y as the output Tensor: second order needs dy/dx
        return y

    def backward(self, gy):
        # d||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||^(p-1), taken as 0 where ||x|| = 0
        x, y = self.saved_tensors
        y = self._kept(y)
        xp = get_array_module(x.data)
        norm_is_zero = Tensor._from_array(y.data == 0)
        has_norm = Tensor._from_array((y.data != 0).astype(x.dtype))
        # 1 / ||x||^(p-1) on a safe denominator, so no inf or nan reaches even a masked branch
        scale = self._kept(gy) * has_norm * where(norm_is_zero, 1.0, y) ** (1.0 - self.ord)
        if self.ord == 2:
            return x * scale  # x itself, not a masked copy: second order at x_i = 0 needs it
        is_zero = Tensor._from_array(x.data == 0)
        signs = Tensor._from_array(xp.sign(x.data))
        return signs * where(is_zero, 1.0, abs(x)) ** (self.ord - 1.0) * scale


@tensor_args
def vector_norm(x: Tensor, ord: float = 2, dim=None, keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """The vector ``ord``-norm over ``dim`` (every entry when None), as
    ``torch.linalg.vector_norm``.

    Args:
        x: a floating tensor.
        ord: p in (sum |x_i|^p)^(1/p); inf and -inf give max |x_i| and min |x_i|; 0 counts
            the nonzero entries (no gradient).
        dim: an int, a tuple of ints, or None.
        keepdim: keep the reduced axes with size 1.
        dtype: compute in this dtype.

    Returns:
        x reduced over ``dim``.
    """
    if dtype is not None:
        x = cast(x, dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"vector_norm: x must be a floating tensor, got dtype {x.dtype}")
    if not isinstance(ord, numbers.Real) or isinstance(ord, bool) or math.isnan(ord):
        raise TypeError(f"vector_norm: ord must be a number, got {ord!r}")
    axes = _normalize_axes(dim, x.ndim, "vector_norm")
    if math.prod(x.shape[a] for a in axes) == 0 and (ord < 0 or math.isinf(ord)):
        raise ValueError(f"vector_norm: the {ord} norm of an empty tensor is undefined "
                         f"(reducing dim {dim} of shape {x.shape})")
    if math.isinf(ord):
        return (amax if ord > 0 else amin)(abs(x), axes, keepdim)
    if ord == 0:
        counts = (x.data != 0).sum(axis=axes, keepdims=keepdim).astype(x.dtype)
        return _cut(counts, x)
    return VectorNorm(float(ord), axes, keepdim).apply(x)


@tensor_args
def matrix_norm(x: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """The matrix norm over the two axes ``dim``, as ``torch.linalg.matrix_norm``.

    Args:
        x: a floating tensor of at least 2 axes (leading axes are a batch).
        ord: "fro" (the root of the sum of squares), "nuc" (the sum of the singular
            values), 2 / -2 (the largest / smallest singular value), 1 / -1 (the largest /
            smallest column sum of |x|), inf / -inf (the largest / smallest row sum of |x|).
        dim: the two axes (rows, columns) of the matrices.
        keepdim: keep the reduced axes with size 1.

    Returns:
        x reduced over the two axes.
    """
    if x.ndim < 2:
        raise ValueError(f"matrix_norm: x must have at least 2 axes, got shape {x.shape}")
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(_normalize_axes(d, x.ndim, "matrix_norm")[0] for d in dims)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"matrix_norm: dim must be two different axes, got {dim!r}")
    if ord == "fro":
        return vector_norm(x, 2, axes, keepdim, dtype=dtype)
    if ord in ("nuc", 2, -2):
        return _singular_value_norm(x, ord, axes, keepdim, dtype)
    if ord not in (1, -1, math.inf, -math.inf):
        raise ValueError(f"matrix_norm: ord must be one of 'fro', 'nuc', inf, -inf, 1, -1, "
                         f"2, -2, got {ord!r}")
    if dtype is not None:
        x = cast(x, dtype)
    # ord 1: column sums (over the rows) then the largest; ord inf: row sums then the largest
    summed, picked = axes if builtins.abs(ord) == 1 else axes[::-1]
    sums = sum(abs(x), summed, keepdim=True)
    y = (amax if ord > 0 else amin)(sums, picked, keepdim=True)
    return y if keepdim else squeeze(y, axes)


def _singular_value_norm(x: Tensor, ord, axes: tuple, keepdim: bool,  # noqa: A002
                         dtype) -> Tensor:
    """The sum ("nuc"), the largest (2) or the smallest (-2) singular value of the matrices
    on ``axes``."""
    if dtype is not None:
        x = cast(x, dtype)
    # (..., rows, ..., cols, ...) -> (..., rows, cols): svdvals works on the last two axes
    values = svdvals(movedim(x, axes, (-2, -1)))
    if ord == "nuc" or (ord == 2 and values.shape[-1] == 0):
        y = sum(values, -1)  # the largest of no singular values is 0, as in PyTorch
    elif ord == 2:
        y = amax(values, -1)
    elif values.shape[-1] == 0:
        raise IndexError(f"matrix_norm: ord=-2 (the smallest singular value) of an empty "
                         f"matrix is undefined (axes {axes} of shape {x.shape})")
    else:
        y = amin(values, -1)
    if not keepdim:
        return y
    # (...) -> x's shape with both matrix axes of size 1
    return reshape(y, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


@tensor_args
def linalg_norm(x: Tensor, ord=None, dim=None, keepdim: bool = False, *,  # noqa: A002
                dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm over one axis, a matrix norm over two.

    With ``dim`` None: the 2-norm of every entry when ``ord`` is None too, otherwise x must
    be 1-d (a vector norm) or 2-d (a matrix norm).
    """
    if dim is None:
        if ord is None:
            return vector_norm(x, 2, None, keepdim, dtype=dtype)
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: with ord={ord!r} and no dim, x must be 1-d or 2-d, got "
                             f"shape {x.shape}")
        dim = tuple(range(x.ndim))
    dims = ints("norm", "dim", dim)
    if len(dims) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm, but dim {dim!r} names one "
                             "axis")
        return vector_norm(x, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
    if len(dims) != 2:
        raise ValueError(f"norm: dim must name 1 or 2 axes, got {dim!r}")
    return matrix_norm(x, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)


@tensor_args
def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.norm``: with a number ``p`` (or None, meaning 2), the vector p-norm over
    ``dim`` (every entry when None); with "fro", the 2-norm over at most two axes; with
    "nuc", the sum of the singular values of the matrices on the two axes ``dim`` (the
    only two axes of x when None).

    Args:
        x: a floating tensor.
        p: "fro", "nuc", None or a number (inf and -inf too).
        dim: None, an int or a tuple of ints.
        keepdim: keep the reduced axes with size 1.

    Returns:
        x reduced over ``dim``.
    """
    if isinstance(p, str):
        dims = dim if dim is None or isinstance(dim, int) else ints("norm", "dim", dim)
        if p == "fro" and (dims is None or isinstance(dims, int) or len(dims) <= 2):
            return vector_norm(x, 2, dims, keepdim, dtype=dtype)
        if p not in ("fro", "nuc"):
            raise ValueError(f"norm: p must be 'fro', 'nuc' or a number, got {p!r}")
        return matrix_norm(x, p, tuple(range(x.ndim)) if dims is None else dims, keepdim,
                           dtype=dtype)
    return vector_norm(x, 2 if p is None else p, dim, keepdim, dtype=dtype)
