"""Indexing ops: gather and its adjoint scatter_add, scatter, index_select, index_add,
take_along_dim, masked_fill, tril/triu, sort/argsort/topk, one_hot and embedding (whose
kernels are in ops/embedding.py).

An index argument is an integer Tensor (PyTorch's LongTensor): it is checked against the
shape it addresses (an index out of range raises, it never wraps around as NumPy's would) and
gets no gradient. Gradients that land on one entry several times (a repeated index) add up.
"""

from __future__ import annotations

import numbers

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import _is_int, tensor_args
from tinygen.autograd.ops.comparison import ValuesIndices, _cut
from tinygen.autograd.ops.conversion import cast, clone
from tinygen.autograd.ops.elementwise import where
from tinygen.autograd.ops.embedding import Embedding
from tinygen.autograd.ops.shape import expand, getitem, reshape
from tinygen.autograd.ops.shape import index_add as index_add_into_zeros
from tinygen.autograd.tensor import Tensor, _axis
from tinygen.backend import get_array_module


def _along(index, dim: int) -> tuple:
    """The advanced index that picks, for each entry of ``index``, the entry at the same
    position on every axis but ``dim`` and at the entry's value on ``dim``."""
    xp = get_array_module(index)
    ndim = index.ndim
    # one arange per axis, shaped to broadcast against index: (1, .., n_d, .., 1)
    grid = [xp.arange(n).reshape((1,) * d + (n,) + (1,) * (ndim - d - 1))
            for d, n in enumerate(index.shape)]
    grid[dim] = index
    return tuple(grid)


class Gather(Function):
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` (for dim=1): entries of x picked along
    ``dim``. Its adjoint, used in backward, is :class:`ScatterAdd` into zeros."""

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x, index):
        self.input_shape = x.shape
        self.save_for_backward(index)
        return x[_along(index, self.dim)]

    def backward(self, gy):
        # each picked entry's gradient goes back where it was picked from (repeats add up)
        (index,) = self.saved_tensors
        zeros = Tensor._from_array(get_array_module(gy.data).zeros(self.input_shape, gy.dtype))
        return ScatterAdd(self.dim).apply(zeros, index, gy), None


class ScatterAdd(Function):
    """x with each entry of ``src`` added at its ``index`` along ``dim`` (src has the index's
    shape here; the wrapper crops a larger one)."""

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x, index, src):
        self.save_for_backward(index)
        out = x.copy()
        backend.scatter_add(out, _along(index, self.dim), src)
        return out

    def backward(self, gy):
        # out = x + (src added at index): dL/dx = gy, dL/dsrc = gy gathered at index
        (index,) = self.saved_tensors
        gx = gy if self.needs_input_grad[0] else None
        gsrc = Gather(self.dim).apply(gy, index) if self.needs_input_grad[2] else None
        return gx, None, gsrc


class Scatter(Function):
    """x with each entry of ``src`` written at its ``index`` along ``dim``."""

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x, index, src):
        self.save_for_backward(index)
        out = x.copy()
        out[_along(index, self.dim)] = src
        return out

    def backward(self, gy):
        # an overwritten entry of x has no effect on out (gradient 0); each src entry gets
        # the gradient of the place it was written to
        (index,) = self.saved_tensors
        gx = gsrc = None
        if self.needs_input_grad[0]:
            kept = get_array_module(gy.data).ones(gy.shape, dtype=gy.dtype)
            kept[_along(index.data, self.dim)] = 0
            gx = gy * Tensor._from_array(kept)
        if self.needs_input_grad[2]:
            gsrc = Gather(self.dim).apply(gy, index)
        return gx, None, gsrc


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two axes, zeros elsewhere."""

    def __init__(self, diagonal: int, upper: bool):
        self.diagonal = diagonal
        self.upper = upper

    def forward(self, x):
        xp = get_array_module(x)
        rows, cols = x.shape[-2:]
        # entry (i, j) is on or below diagonal k when j - i <= k
        offset = xp.arange(cols)[None, :] - xp.arange(rows)[:, None]
        keep = offset >= self.diagonal if self.upper else offset <= self.diagonal
        return xp.where(keep, x, xp.zeros((), dtype=x.dtype))

    def backward(self, gy):
        # keeping a triangle is a projection, its own adjoint
        return Triangle(self.diagonal, self.upper).apply(gy)


# --------------------------------------------------------------------------- argument checks
def _index(op: str, index, like: Tensor, name: str = "index") -> Tensor:
    """``index`` as an integer Tensor on ``like``'s device (a list or array is accepted)."""
    if not isinstance(index, Tensor):
        index = Tensor._from_array(get_array_module(like.data).asarray(index))
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer tensor, got dtype {index.dtype}")
    return index


def _check_bounds(op: str, index: Tensor, size: int, dim: int) -> None:
    data = index.data
    if data.size and (int(data.min()) < 0 or int(data.max()) >= size):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {size}: expected "
                         f"values in [0, {size - 1}], got values in [{int(data.min())}, "
                         f"{int(data.max())}]")


def _check_index_shape(op: str, index: Tensor, dim: int, x: Tensor, src=None) -> None:
    """PyTorch's rule: index has x's number of axes and is no larger than x on every axis but
    ``dim``, and no larger than src on every axis."""
    if index.ndim != x.ndim or (src is not None and src.ndim != x.ndim):
        shapes = f"x {x.shape}, index {index.shape}" + (
            "" if src is None else f", src {src.shape}")
        raise ValueError(f"{op}: index (and src) must have as many axes as x, got {shapes}")
    for d, n in enumerate(index.shape):
        if (d != dim and n > x.shape[d]) or (src is not None and n > src.shape[d]):
            raise ValueError(f"{op}: index of shape {index.shape} must be no larger than x "
                             f"{x.shape} on every axis but dim {dim}" +
                             ("" if src is None else f", nor larger than src {src.shape}"))


def _as_one_axis(x: Tensor, index: Tensor, dim, op: str):
    """(x, index, axis) with 0-d operands seen as 1-D, so one code path serves both."""
    if x.ndim == 0:
        _axis(dim, 1, op)
        as_vector = reshape(index, (1,)) if index.ndim == 0 else index
        return reshape(x, (1,)), as_vector, 0
    return x, index, _axis(dim, x.ndim, op)


# --------------------------------------------------------------------------- public wrappers
@tensor_args
def gather(x: Tensor, dim: int, index) -> Tensor:
    """Entries of x picked along ``dim``, as ``torch.gather``.

    Args:
        x: any shape.
        dim: the axis indexed.
        index: an integer tensor with x's number of axes, no larger than x on the others.

    Returns:
        A tensor of the index's shape: ``out[i][j][k] = x[i][index[i][j][k]][k]`` (dim=1).
    """
    index = _index("gather", index, x)
    if index.numel() == 0:  # nothing picked: PyTorch checks no shapes then
        empty = get_array_module(x.data).zeros(index.shape, dtype="int64")
        return getitem(reshape(x, (-1,)), empty)
    flat, flat_index, axis = _as_one_axis(x, index, dim, "gather")
    _check_index_shape("gather", flat_index, axis, flat)
    _check_bounds("gather", flat_index, flat.shape[axis], axis)
    return reshape(Gather(axis).apply(flat, flat_index), index.shape)


def _scatter(op: str, function, x: Tensor, dim: int, index, src) -> Tensor:
    index = _index(op, index, x)
    if isinstance(src, numbers.Number):
        src = Tensor._from_array(get_array_module(x.data).full(index.shape, src, x.dtype))
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}: src must be a Tensor or a number, got {type(src).__name__}")
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: src must have x's dtype {x.dtype}, got {src.dtype}")
    flat, flat_index, axis = _as_one_axis(x, index, dim, op)
    flat_src = reshape(src, (1,)) if src.ndim == 0 else src
    _check_index_shape(op, flat_index, axis, flat, flat_src)
    _check_bounds(op, flat_index, flat.shape[axis], axis)
    if flat_src.shape != flat_index.shape:  # only the leading block of src is used
        flat_src = getitem(flat_src, tuple(slice(0, n) for n in flat_index.shape))
    return reshape(function(axis).apply(flat, flat_index, flat_src), x.shape)


@tensor_args
def scatter(x: Tensor, dim: int, index, src) -> Tensor:
    """x with ``src`` written at ``index`` along ``dim`` (out of place), as ``torch.scatter``.

    Args:
        x: any shape.
        dim: the axis indexed.
        index: an integer tensor with x's number of axes (see :func:`gather`).
        src: a tensor at least as large as index on every axis, or a number.

    Returns:
        A tensor of x's shape: ``out[i][index[i][j]] = src[i][j]`` (dim=1). Where an index
        repeats, one of the writes wins; each written entry of src still gets its gradient.
    """
    return _scatter("scatter", Scatter, x, dim, index, src)


@tensor_args
def scatter_add(x: Tensor, dim: int, index, src) -> Tensor:
    """x with ``src`` added at ``index`` along ``dim`` (repeats sum), as ``torch.scatter_add``.

    Returns:
        A tensor of x's shape: ``out[i][index[i][j]] += src[i][j]`` (dim=1).
    """
    return _scatter("scatter_add", ScatterAdd, x, dim, index, src)


@tensor_args
def index_select(x: Tensor, dim: int, index) -> Tensor:
    """The slices of x at the positions ``index`` (a vector) along ``dim``.

    Returns:
        x's shape with ``dim`` resized to ``len(index)``.
    """
    index = _index("index_select", index, x)
    if index.ndim > 1:
        raise IndexError(f"index_select: index must be a vector (0-d or 1-d), got shape "
                         f"{index.shape}")
    flat, _, axis = _as_one_axis(x, index, dim, "index_select")
    _check_bounds("index_select", index, flat.shape[axis], axis)
    y = getitem(flat, (slice(None),) * axis + (index.data.reshape(-1),))
    return reshape(y, ()) if x.ndim == 0 and index.numel() == 1 else y


@tensor_args
def take_along_dim(x: Tensor, indices, dim: int | None = None) -> Tensor:
    """Entries of x picked by ``indices`` along ``dim``, x and indices broadcasting on the
    other axes (``numpy.take_along_axis``); with dim None, x and indices are flattened. A
    negative index counts from the end, as in PyTorch (gather takes none)."""
    indices = _index("take_along_dim", indices, x, "indices")
    if dim is None:
        flat = reshape(x, (-1,))
        return gather(flat, 0, _from_the_end(reshape(indices, (-1,)), flat.shape[0]))
    if indices.ndim != x.ndim:
        raise ValueError(f"take_along_dim: x and indices must have the same number of axes, "
                         f"got shapes {x.shape} and {indices.shape}")
    if x.ndim == 0:
        return gather(x, dim, indices)
    axis = _axis(dim, x.ndim, "take_along_dim")
    others = [(n, m) for d, (n, m) in enumerate(zip(x.shape, indices.shape)) if d != axis]
    if any(n != m and 1 not in (n, m) for n, m in others):
        raise ValueError(f"take_along_dim: shapes {x.shape} and {indices.shape} do not "
                         f"broadcast on the axes other than dim {axis}")
    sides = [m if n == 1 else n for n, m in zip(x.shape, indices.shape)]  # 1 stretches to 0
    x_shape = tuple(sides[:axis]) + (x.shape[axis],) + tuple(sides[axis + 1:])
    index_shape = tuple(sides[:axis]) + (indices.shape[axis],) + tuple(sides[axis + 1:])
    xp = get_array_module(indices.data)
    index = _from_the_end(indices, x.shape[axis])
    index = Tensor._from_array(xp.broadcast_to(index.data, index_shape))
    return gather(expand(x, x_shape), axis, index)


def _from_the_end(index: Tensor, size: int) -> Tensor:
    """Negative indices in [-size, 0) counted from the end; others are left to gather's
    range check."""
    data = index.data
    if not data.size or int(data.min()) >= 0:
        return index
    if int(data.min()) < -size:
        raise IndexError(f"take_along_dim: index out of range for a dim of size {size}: "
                         f"expected values in [{-size}, {size - 1}], got {int(data.min())}")
    return Tensor._from_array(get_array_module(data).where(data < 0, data + size, data))


@tensor_args
def index_add(x: Tensor, dim: int, index, source: Tensor, *, alpha=1) -> Tensor:
    """x with the slices of ``source`` (times ``alpha``) added at the positions ``index`` along
    ``dim``, repeats adding up, as ``torch.index_add``.

    Args:
        x: any shape.
        dim: the axis indexed.
        index: a vector (or 0-d) of positions along dim.
        source: x's shape with dim of length len(index).

    Returns:
        A tensor of x's shape.
    """
    index = _index("index_add", index, x)
    if index.ndim > 1:
        raise IndexError(f"index_add: index must be a vector (0-d or 1-d), got shape "
                         f"{index.shape}")
    flat, _, axis = _as_one_axis(x, index, dim, "index_add")
    _check_bounds("index_add", index, flat.shape[axis], axis)
    positions = index.data.reshape(-1)
    src = reshape(source, (1,)) if source.ndim == 0 else source
    expected = flat.shape[:axis] + (positions.shape[0],) + flat.shape[axis + 1:]
    if src.shape != expected or source.dtype != x.dtype:
        raise ValueError(f"index_add: source must have shape {expected} and dtype {x.dtype}, "
                         f"got {source.shape} and {source.dtype}")
    added = index_add_into_zeros(src if alpha == 1 else src * alpha,
                                 (slice(None),) * axis + (positions,), flat.shape)
    return reshape(flat + added, x.shape)


@tensor_args
def masked_fill(x: Tensor, mask, value) -> Tensor:
    """x with ``value`` (a number or a 0-d tensor) where the boolean ``mask`` is true; mask
    broadcasts against x. A tensor value gets the gradient of the entries it filled."""
    if not isinstance(mask, Tensor) or mask.dtype != bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"masked_fill: mask must be a bool Tensor, got {got}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                             f"{value.shape}")
        value = value if value.dtype == x.dtype else cast(value, x.dtype)
    elif isinstance(value, numbers.Number):
        value = Tensor._from_array(get_array_module(x.data).asarray(value, dtype=x.dtype))
    else:
        raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got "
                        f"{type(value).__name__}")
    return where(mask, value, x)


def _triangle(op: str, x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have at least 2 axes, got shape {x.shape}")
    if not _is_int(diagonal):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    return Triangle(int(diagonal), upper).apply(x)


@tensor_args
def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (entries (i, j) with j - i <= diagonal)."""
    return _triangle("tril", x, diagonal, upper=False)


@tensor_args
def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (entries (i, j) with j - i >= diagonal)."""
    return _triangle("triu", x, diagonal, upper=True)


def _order(data, axis: int, descending: bool):
    """Stable sorting permutation along ``axis`` (NaN sorts above everything, as in PyTorch):
    a descending order is the reverse of the ascending order of the reversed input, so
    equal entries keep their order both ways."""
    xp = get_array_module(data)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    reverse = xp.argsort(xp.flip(data, axis), axis=axis, kind="stable")
    return (data.shape[axis] - 1) - xp.flip(reverse, axis)


@tensor_args
def sort(x: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """x sorted along ``dim``, as ``torch.sort``; always stable (equal entries keep their
    order), and NaN sorts above every number.

    Returns:
        The named tuple (values, indices); values get the gradient, indices are int64.
    """
    if x.ndim == 0:
        _axis(dim, 1, "sort")
        return ValuesIndices(clone(x), _cut(get_array_module(x.data).zeros((), "int64"), x))
    axis = _axis(dim, x.ndim, "sort")
    indices = _cut(_order(x.data, axis, descending).astype("int64"), x)
    return ValuesIndices(Gather(axis).apply(x, indices), indices)


@tensor_args
def argsort(x: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The indices that sort x along ``dim`` (stable), as ``torch.argsort`` (int64)."""
    return sort(x, dim, descending).indices


@tensor_args
def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (or smallest) entries along ``dim``, as ``torch.topk``.

    Returns:
        The named tuple (values, indices), always in sorted order; among equal entries the
        earlier ones come first (PyTorch leaves that order unspecified).
    """
    dim = -1 if dim is None else dim
    size = x.shape[_axis(dim, max(x.ndim, 1), "topk")] if x.ndim else 1
    if not _is_int(k) or not 0 <= k <= size:
        raise ValueError(f"topk: k must be an int in [0, {size}] (the size of dim {dim}), "
                         f"got {k!r}")
    values, indices = sort(x, dim, descending=largest)
    if x.ndim == 0:
        return ValuesIndices(values, indices)
    axis = _axis(dim, x.ndim, "topk")
    first_k = (slice(None),) * axis + (slice(0, k),)
    return ValuesIndices(getitem(values, first_k), getitem(indices, first_k))


@tensor_args
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices as one-hot rows, as ``torch.nn.functional.one_hot``.

    Args:
        tensor: an integer tensor of class indices, any shape.
        num_classes: the row length; -1 takes the largest index + 1.

    Returns:
        An int64 tensor of shape (*tensor.shape, num_classes), with no gradient.
    """
    if not isinstance(tensor, Tensor) or tensor.dtype.kind not in "iu":
        got = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise TypeError(f"one_hot: tensor must be an integer tensor of class indices, got {got}")
    data = tensor.data
    if not _is_int(num_classes) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 or a non-negative int, got "
                         f"{num_classes!r}")
    if num_classes == -1:
        if data.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass it")
        num_classes = int(data.max()) + 1
    if data.size and (int(data.min()) < 0 or int(data.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes - 1}] "
                         f"(num_classes={num_classes}), got values in [{int(data.min())}, "
                         f"{int(data.max())}]")
    xp = get_array_module(data)
    # (*shape, 1) == (num_classes,) -> (*shape, num_classes)
    return _cut((data[..., None] == xp.arange(num_classes)).astype(xp.int64), tensor)


@tensor_args
def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` looked up by ``input``, as ``torch.nn.functional.embedding``.

    Args:
        input: an integer tensor of row indices, any shape.
        weight: (num_embeddings, embedding_dim).
        padding_idx: a row that gets no gradient (negative counts from the end).
        max_norm, norm_type, scale_grad_by_freq: not supported (an error unless default).
        sparse: accepted; the gradient is always dense.

    Returns:
        (*input.shape, embedding_dim).
    """
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError("embedding: max_norm and scale_grad_by_freq are not "
                                  "supported")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        got = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"embedding: weight must be a 2-d tensor (num_embeddings, "
                         f"embedding_dim), got {got}")
    indices = _index("embedding", input, weight, "input")
    count = weight.shape[0]
    if padding_idx is not None:
        if not _is_int(padding_idx) or not -count <= padding_idx < count:
            raise ValueError(f"embedding: padding_idx must be an int in [{-count}, "
                             f"{count - 1}] (num_embeddings={count}), got {padding_idx!r}")
        padding_idx = int(padding_idx) % count
    _check_bounds("embedding", indices, count, 0)
    return Embedding(padding_idx).apply(weight, indices)
