"""Shape ops: reshape, flatten/unflatten, permute, expand, squeeze/unsqueeze, getitem (and
its adjoint index_add), narrow, cat, stack, split/chunk/unbind, pad (NumPy-style widths;
PyTorch's F.pad is in ``tiling.py``), flip. Transpose, t and movedim are in ``axes.py``,
clone in ``conversion.py``.

None of these does arithmetic, so each backward is the inverse rearrangement of the
upstream gradient.
"""

from __future__ import annotations

import math
import numbers

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import (
    _is_int,
    dim_keepdim,
    integer,
    ints,
    positive,
    tensor_args,
    tensor_list,
)
from tinygen.autograd.ops.conversion import _promoted
from tinygen.autograd.tensor import Tensor, _axis, _raw
from tinygen.backend import get_array_module


class Reshape(Function):
    returns_view = True
    backward_on_arrays = True  # its formula runs on Tensors and on arrays alike

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        # reshape moves no values: the gradient is reshaped back
        return gy.reshape(self.input_shape)


class Permute(Function):
    returns_view = True

    def __init__(self, axes: tuple):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        # the gradient is permuted back by the inverse permutation
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return Permute(tuple(inverse)).apply(gy)


class Expand(Function):
    """Broadcast x to a larger shape (a read-only view, no copy)."""

    broadcasts = True  # the engine sums the gradient back to x's shape
    returns_view = True

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        # each input entry was copied to many outputs: the engine sums their gradients
        return gy


class GetItem(Function):
    """x[index] for basic (slices, ints, None, Ellipsis) and advanced (integer/bool array)
    indexing. Its adjoint, used in backward, is :class:`IndexAdd`."""

    def __init__(self, index):
        self.index = index
        # advanced indexing copies; a lone slice (the common x[a:b]) is basic
        self.returns_view = type(index) is slice or _is_basic_index(index)

    def forward(self, x):
        self.input_shape = x.shape
        try:
            return x[self.index]
        except IndexError as error:  # NumPy's words, with the op, the index and the shape
            raise IndexError(f"getitem: index {self.index!r} does not fit shape {x.shape}: "
                             f"{error}") from None

    def backward(self, gy):
        # each selected entry's gradient is added back where it came from (repeats add up);
        # the index and shape are known valid, so the op is applied without the wrapper
        return IndexAdd(self.index, self.input_shape).apply(gy)


class IndexAdd(Function):
    """zeros(shape) with ``values`` added at ``index``: the adjoint of x[index]."""

    def __init__(self, index, shape: tuple):
        self.index = index
        self.shape = shape

    def forward(self, values):
        xp = get_array_module(values)
        out = xp.zeros(self.shape, dtype=values.dtype)
        try:
            if type(self.index) is slice or _is_basic_index(self.index):
                out[self.index] = values  # basic indexing never selects an entry twice
            else:
                backend.scatter_add(out, self.index, values)
        except (IndexError, ValueError) as error:
            raise type(error)(f"index_add: values of shape {values.shape} do not fit index "
                              f"{self.index!r} of shape {self.shape}: {error}") from None
        return out

    def backward(self, gy):
        # index_add is linear; its adjoint is gathering at the same index
        return getitem(gy, self.index)


def _is_basic_index(index) -> bool:
    entries = index if isinstance(index, tuple) else (index,)
    return all(
        entry is None or entry is Ellipsis or isinstance(entry, (int, slice))
        for entry in entries
    )


class Concatenate(Function):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        # each input receives its own slice of the gradient
        return split(gy, self.sizes, axis=self.axis)


class Stack(Function):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy):
        # each input receives the gradient's slice at its position along axis
        count = gy.shape[self.axis]
        pieces = split(gy, [1] * count, axis=self.axis)
        return tuple(squeeze(piece, self.axis) for piece in pieces)


class Split(Function):
    returns_view = True

    """Cut x along ``axis`` into pieces of the given sizes (several outputs)."""

    def __init__(self, sizes: list, axis: int):
        self.sizes = sizes
        self.axis = axis

    def forward(self, x):
        bounds = [0]
        for size in self.sizes:
            bounds.append(bounds[-1] + size)
        selector = [slice(None)] * x.ndim
        pieces = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            selector[self.axis] = slice(start, stop)
            pieces.append(x[tuple(selector)])
        return tuple(pieces)

    def backward(self, *gys):
        # the pieces' gradients, laid side by side again (missing ones arrive as zeros)
        return concatenate(gys, axis=self.axis)


class Pad(Function):
    """Constant padding; ``pad_width`` is NumPy-style ((before, after) per axis)."""

    def __init__(self, pad_width: tuple, value: float = 0.0):
        self.pad_width = pad_width
        self.value = value

    def forward(self, x):
        xp = get_array_module(x)
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        # the padding is constant: the gradient is the unpadded window
        window = tuple(slice(before, n - after)
                       for (before, after), n in zip(self.pad_width, gy.shape))
        return getitem(gy, window)


class Flip(Function):
    returns_view = True

    def __init__(self, axes: tuple):
        self.axes = axes

    def forward(self, x):
        return get_array_module(x).flip(x, axis=self.axes)

    def backward(self, gy):
        # flipping is its own inverse
        return flip(gy, self.axes)


# --------------------------------------------------------------------------- public wrappers
def reshape(x: Tensor, shape) -> Tensor:
    """x with a new shape of the same size; one entry may be -1."""
    if type(shape) is not tuple:
        shape = ints("reshape", "shape", shape)
    if not isinstance(x, Tensor):
        raise TypeError(f"reshape: x must be a Tensor, got {type(x).__name__}")
    inferred = -1 in shape
    known = math.prod(n for n in shape if n != -1) if inferred else math.prod(shape)
    if type(known) is not int:  # a float or a bool among the sizes
        ints("reshape", "shape", shape)
    numel = x._data.size
    if (known != numel if not inferred else (
            shape.count(-1) > 1 or known == 0 or numel % known)):
        raise ValueError(f"reshape: cannot view shape {x.shape} ({numel} elements) as {shape}")
    if x._data.shape == shape:
        return x
    return Reshape(shape).apply(x)


@tensor_args
def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the axes start_dim..end_dim (inclusive) into one; a 0-d tensor becomes 1-d."""
    start = _axis(start_dim, max(x.ndim, 1), "flatten")
    end = _axis(end_dim, max(x.ndim, 1), "flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim "
                         f"({end_dim}) for shape {x.shape}")
    # (..., d_start, ..., d_end, ...) -> (..., d_start * ... * d_end, ...); the size is
    # spelled out, as -1 is ambiguous when another axis is empty
    merged = math.prod(x.shape[start:end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


@tensor_args
def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Split axis ``dim`` into axes of ``sizes`` (one may be -1), the inverse of flatten."""
    axis = _axis(dim, x.ndim, "unflatten")
    sizes = ints("unflatten", "sizes", sizes, allow_int=False)
    known = math.prod(n for n in sizes if n != -1)
    length = x.shape[axis]
    if not sizes or sizes.count(-1) > 1 or (-1 not in sizes and known != length) or (
            -1 in sizes and (known == 0 or length % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to the size {length} of "
                         f"dim {dim} of shape {x.shape}")
    sizes = tuple(length // known if n == -1 else n for n in sizes)
    # (..., d, ...) -> (..., *sizes, ...)
    return reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1:])


@tensor_args
def permute(x: Tensor, axes) -> Tensor:
    """Reorder all axes: ``axes`` is a permutation of range(x.ndim)."""
    axes = ints("permute", "dims", axes)
    axes = tuple(a % x.ndim for a in axes) if x.ndim else axes
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: axes must be a permutation of 0..{x.ndim - 1}, got {axes}")
    return Permute(axes).apply(x)


@tensor_args
def expand(x: Tensor, shape) -> Tensor:
    """Broadcast x to ``shape`` (NumPy broadcasting rules; -1 keeps a size)."""
    shape = ints("expand", "shape", shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: shape {shape} has fewer axes than the input {x.shape}")
    if any(n < 0 for n in shape[:lead]) or any(n < -1 for n in shape):
        raise ValueError(f"expand: sizes must be >= 0 (-1 keeps an existing axis, not a new "
                         f"leading one), got {shape} for input {x.shape}")
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    for have, want in zip(x.shape, shape[lead:]):
        if have != want and have != 1:
            raise ValueError(f"expand: cannot broadcast shape {x.shape} to {shape}")
    if shape == x.shape:
        return x
    return Expand(shape).apply(x)


broadcast_to = expand


@tensor_args
def squeeze(x: Tensor, dim=None, *, axis=None) -> Tensor:
    """Drop the axes of size 1 among ``dim`` (an int or a tuple; every axis when None). As in
    PyTorch, a named axis whose size is not 1 is left as it is."""
    dim, _ = dim_keepdim("squeeze", dim, False, axis)
    if dim is None:
        axes = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        axes = {_axis(a, max(x.ndim, 1), "squeeze") for a in ints("squeeze", "dim", dim)}
        axes = {a for a in axes if x.ndim and x.shape[a] == 1}
    # drop the size-1 axes: (..., 1, ...) -> (..., ...)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


@tensor_args
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert an axis of size 1 at ``dim`` (negative counts from the end of the result)."""
    position = _axis(dim, x.ndim + 1, "unsqueeze")
    # (..., ...) -> (..., 1, ...)
    return reshape(x, x.shape[:position] + (1,) + x.shape[position:])


def getitem(x: Tensor, index) -> Tensor:
    """x[index]. Integer/bool Tensors in the index are used as arrays."""
    if type(index) is slice:  # the common x[a:b]: nothing to unwrap
        return GetItem(index).apply(x)
    if isinstance(index, tuple):
        index = tuple(_raw(i) for i in index)
    else:
        index = _raw(index)
    if isinstance(index, list):
        index = get_array_module(x.data).asarray(index)
    return GetItem(index).apply(x)


@tensor_args
def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The ``length`` entries of x from ``start`` along ``dim`` (a view; negative start
    counts from the end)."""
    axis = _axis(dim, x.ndim, "narrow")
    size = x.shape[axis]
    start, length = integer("narrow", "start", start), integer("narrow", "length", length)
    if not -size <= start <= size:
        raise IndexError(f"narrow: start must be in [{-size}, {size}], got {start}")
    if start < 0:
        start += size
    if length < 0 or start + length > size:
        raise ValueError(f"narrow: start ({start}) + length ({length}) must lie in [0, {size}] "
                         f"(the size of dim {dim})")
    return getitem(x, (slice(None),) * axis + (slice(start, start + length),))


def index_add(values: Tensor, index, shape: tuple) -> Tensor:
    """A tensor of zeros of ``shape`` with ``values`` added at ``index`` (repeats sum): the
    adjoint of x[index]. PyTorch's ``index_add(x, dim, index, source)`` is ``tinygen.index_add``
    (ops/indexing.py)."""
    return IndexAdd(index, ints("index_add", "shape", shape, allow_int=False)).apply(values)


def cat(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along an existing axis ``dim``."""
    dim, _ = dim_keepdim("cat", None if axis is not None else dim, False, axis)
    tensors = tensor_list("cat", tensors)
    # PyTorch skips 1-d empty tensors, a legacy placeholder, whatever the others' shape
    tensors = [t for t in tensors if t.shape != (0,)] or tensors
    axis = _axis(dim, tensors[0].ndim, "cat")
    try:
        return Concatenate(axis).apply(*_promoted(*tensors))
    except (ValueError, IndexError):  # NumPy's words replaced by the shapes that differ
        raise ValueError(f"cat: the tensors must match in every dim but {dim}, got shapes "
                         f"{[t.shape for t in tensors]}") from None


concatenate = cat


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join same-shaped tensors along a new axis ``dim``."""
    dim, _ = dim_keepdim("stack", None if axis is not None else dim, False, axis)
    tensors = tensor_list("stack", tensors)
    if len({t.shape for t in tensors}) > 1:
        raise ValueError(f"stack: expects each tensor to be equal size, got shapes "
                         f"{[t.shape for t in tensors]}")
    return Stack(_axis(dim, tensors[0].ndim + 1, "stack")).apply(*_promoted(*tensors))



@tensor_args
def split(x: Tensor, split_size_or_sections, dim: int = 0, *, axis=None) -> tuple:
    """Cut x along ``dim`` into pieces of ``split_size_or_sections`` entries (an int: the
    last piece may be shorter) or of the listed sizes, as ``torch.split``."""
    dim, _ = dim_keepdim("split", None if axis is not None else dim, False, axis)
    axis = _axis(dim, x.ndim, "split")
    sizes = split_size_or_sections
    length = x.shape[axis]
    if _is_int(sizes):
        if sizes < 0 or (sizes == 0 and length):
            raise ValueError(f"split: piece size must be positive (0 only for an empty axis), "
                             f"got {sizes} for an axis of length {length}")
        # an empty axis is one empty piece, as torch.split gives
        sizes = [0] if length == 0 else (
            [sizes] * (length // sizes) + ([length % sizes] if length % sizes else []))
    sizes = list(ints("split", "split_size_or_sections", sizes))
    if any(n < 0 for n in sizes):
        raise ValueError(f"split: sizes must be >= 0, got {sizes}")
    if sum(sizes) != length:
        raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, "
                         f"but axis {axis} has length {length}")
    return Split(sizes, axis).apply(x)


@tensor_args
def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut x along ``dim`` into ``chunks`` pieces of ceil(size / chunks) entries (the last
    shorter; fewer pieces when the size runs out first), as ``torch.chunk``."""
    chunks = positive("chunk: chunks", chunks)
    axis = _axis(dim, x.ndim, "chunk")
    length = x.shape[axis]
    if length == 0:
        return split(x, [0] * chunks, axis)
    return split(x, -(-length // chunks), axis)


@tensor_args
def unbind(x: Tensor, dim: int = 0) -> tuple:
    """The slices of x along ``dim``, that axis removed."""
    axis = _axis(dim, x.ndim, "unbind")
    if x.shape[axis] == 0:
        return ()
    return tuple(squeeze(piece, axis) for piece in split(x, 1, axis))


@tensor_args
def pad(x: Tensor, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding. ``pad_width``: an int, or one (before, after) pair per axis."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"pad: value must be a real number, got {value!r}")
    if x.ndim == 0:
        raise ValueError("pad: a 0-d tensor has no axis to pad")
    if _is_int(pad_width):
        pad_width = ((pad_width, pad_width),) * x.ndim
    if not isinstance(pad_width, (tuple, list)) or not all(
            len(ints("pad", "pad_width", pair)) == 2 for pair in pad_width):
        raise ValueError(f"pad: pad_width must be an int or {x.ndim} (before, after) pairs "
                         f"of ints, got {pad_width!r}")
    pad_width = tuple((int(before), int(after)) for before, after in pad_width)
    if len(pad_width) != x.ndim or any(b < 0 or a < 0 for b, a in pad_width):
        raise ValueError(f"pad: pad_width must be {x.ndim} non-negative (before, after) "
                         f"pairs, got {pad_width}")
    return Pad(pad_width, value).apply(x)


@tensor_args
def flip(x: Tensor, dims=None, *, axis=None) -> Tensor:
    """Reverse the order of entries along ``dims`` (an int or a tuple)."""
    dims, _ = dim_keepdim("flip", dims, False, axis)
    axes = tuple(_axis(a, x.ndim, "flip") for a in ints("flip", "dims", dims))
    if len(set(axes)) != len(axes):
        raise ValueError(f"flip: dims {dims!r} name an axis twice")
    return Flip(axes).apply(x)
