"""Reordering axes: transpose, t, movedim and swap_last_axes, as PyTorch's; compositions of
``permute`` (``shape.py``)."""

from __future__ import annotations

from tinygen.autograd.ops.arguments import ints, tensor_args
from tinygen.autograd.ops.shape import Permute, permute
from tinygen.autograd.tensor import Tensor, _axis


@tensor_args
def swap_last_axes(x: Tensor) -> Tensor:
    """x with its last two axes swapped (matrix transpose of a batch), unchecked and fast."""
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return Permute(tuple(order)).apply(x)


@tensor_args
def transpose(x: Tensor, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """x with axes ``dim0`` and ``dim1`` swapped, as ``torch.transpose``. Without dims, every
    axis is reversed (NumPy's ``x.T``), a form tinygen's own layers use."""
    if dim0 is None and dim1 is None:
        return permute(x, tuple(reversed(range(x.ndim))))
    if dim0 is None or dim1 is None:
        raise TypeError(f"transpose: pass both dim0 and dim1, got dim0={dim0!r}, dim1={dim1!r}")
    first = _axis(dim0, max(x.ndim, 1), "transpose")
    second = _axis(dim1, max(x.ndim, 1), "transpose")
    if x.ndim == 0 or first == second:
        return x
    order = list(range(x.ndim))
    order[first], order[second] = order[second], order[first]
    return Permute(tuple(order)).apply(x)


@tensor_args
def t(x: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors are returned as they are."""
    if x.ndim > 2:
        raise ValueError(f"t: x must have at most 2 axes, got shape {x.shape}")
    return transpose(x, 0, 1) if x.ndim == 2 else x


@tensor_args
def movedim(x: Tensor, source, destination) -> Tensor:
    """x with the axes ``source`` (an int or a tuple) moved to ``destination``; the other axes
    keep their order."""
    sources = ints("movedim", "source", source)
    targets = ints("movedim", "destination", destination)
    if len(sources) != len(targets):
        raise ValueError(f"movedim: source {source!r} and destination {destination!r} must "
                         "name as many axes")
    n = max(x.ndim, 1)
    sources = tuple(_axis(a, n, "movedim") for a in sources)
    targets = tuple(_axis(a, n, "movedim") for a in targets)
    for name, axes in (("source", sources), ("destination", targets)):
        if len(set(axes)) != len(axes):
            raise ValueError(f"movedim: repeated axis in {name} {axes}")
    if x.ndim == 0:
        return x
    order = [None] * x.ndim
    for s, d in zip(sources, targets):
        order[d] = s
    rest = iter(a for a in range(x.ndim) if a not in sources)
    return permute(x, tuple(next(rest) if a is None else a for a in order))
