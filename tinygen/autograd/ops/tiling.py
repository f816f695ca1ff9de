"""Ops that lay x's entries out again, larger or shifted: PyTorch's ``F.pad`` (constant,
reflect, replicate and circular modes; a negative pad crops), repeat, tile, roll, and the
stacking helpers hstack, vstack and column_stack.

This ``pad`` is ``tinygen.nn.functional.pad``; ``tinygen.pad`` is the NumPy-style pad of
``shape.py`` (one (before, after) pair per axis, first axis first), which tinygen's layers use.

Each is a composition of shape ops (reshape, expand, slicing, flipping, concatenation)
except roll, so its gradient needs no code of its own: the gradient of a replicated entry is
the sum over its copies.
"""

from __future__ import annotations

import numbers

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import _is_int, ints, tensor_args
from tinygen.autograd.ops.shape import Pad, concatenate, expand, flip, getitem, reshape
from tinygen.autograd.tensor import Tensor, _axis
from tinygen.backend import get_array_module

PAD_MODES = ("constant", "reflect", "replicate", "circular")


class Roll(Function):
    """x shifted cyclically by ``shifts[i]`` entries along ``axes[i]``."""

    def __init__(self, shifts: tuple, axes: tuple):
        self.shifts = shifts
        self.axes = axes

    def forward(self, x):
        return get_array_module(x).roll(x, self.shifts, axis=self.axes)

    def backward(self, gy):
        # rolling back by the same shifts undoes the roll
        return Roll(tuple(-s for s in self.shifts), self.axes).apply(gy)


def _check_amounts(mode: str, size: int, before: int, after: int, axis: int) -> None:
    """PyTorch's limits: reflect pads shorter than the axis, circular pads no longer than
    it, replicate needs an entry to copy."""
    if mode == "replicate" and size == 0:
        raise ValueError(f"pad: mode 'replicate' needs a non-empty axis, axis {axis} is empty")
    if mode == "reflect" and max(before, after) >= size:
        raise ValueError(f"pad: mode 'reflect' pads must be less than the axis size: got "
                         f"({before}, {after}) for axis {axis} of size {size}")
    if mode == "circular" and max(before, after) > size:
        raise ValueError(f"pad: mode 'circular' pads must be at most the axis size: got "
                         f"({before}, {after}) for axis {axis} of size {size}")


def _slice(x: Tensor, axis: int, start: int, stop: int) -> Tensor:
    return getitem(x, (slice(None),) * axis + (slice(start, stop),))


def _pad_from_slices(x: Tensor, sides: list, mode: str) -> Tensor:
    """x padded by non-negative amounts, each side made of views of x (mirrored, an edge
    broadcast, or the far end) joined by one concatenation per axis."""
    for axis, before, after in sides:
        n = x.shape[axis]
        if mode == "reflect":  # x[before], ..., x[1] | x | x[n-2], ..., x[n-1-after]
            left = flip(_slice(x, axis, 1, before + 1), axis)
            right = flip(_slice(x, axis, n - 1 - after, n - 1), axis)
        elif mode == "replicate":  # x[0] repeated | x | x[n-1] repeated
            left = expand(_slice(x, axis, 0, 1), x.shape[:axis] + (before,) + x.shape[axis + 1:])
            right = expand(_slice(x, axis, n - 1, n),
                           x.shape[:axis] + (after,) + x.shape[axis + 1:])
        else:  # circular: the last entries | x | the first entries
            left, right = _slice(x, axis, n - before, n), _slice(x, axis, 0, after)
        pieces = [p for p, count in ((left, before), (x, 1), (right, after)) if count]
        if len(pieces) > 1:
            x = concatenate(pieces, axis)
    return x


@tensor_args
def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad (or, with negative amounts, crop) the last axes, as ``torch.nn.functional.pad``.

    Args:
        input: any shape.
        pad: (left, right) amounts for the last axis, then for the one before, and so on:
            ``(1, 1, 2, 0)`` pads the last axis by 1 on each side and the one before by 2
            at its start. A negative amount removes entries.
        mode: "constant" (``value``), "reflect" (mirror, the edge not repeated),
            "replicate" (the edge entry) or "circular" (wrap around). The last three pad the
            last 1 to 3 axes of an input with one or two more axes (batch and channels).
        value: the fill of mode "constant" (default 0).

    Returns:
        input's shape with each padded axis grown by its two amounts.
    """
    amounts = ints("pad", "pad", pad, allow_int=False)
    if not all(_is_int(p) for p in amounts) or len(amounts) % 2:
        raise ValueError(f"pad: pad must be an even number of ints (pairs, last axis first), "
                         f"got {pad!r}")
    count = len(amounts) // 2
    if count > input.ndim:
        raise ValueError(f"pad: {len(amounts)} pad values pad {count} axes, but input has "
                         f"only {input.ndim} (shape {input.shape})")
    if mode not in PAD_MODES:
        raise NotImplementedError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    if mode != "constant":
        if value is not None:
            raise ValueError(f"pad: mode {mode!r} takes no value, got value={value!r}")
        if not (1 <= count <= 3 and input.ndim in (count + 1, count + 2)):
            raise NotImplementedError(
                f"pad: mode {mode!r} pads the last 1 to 3 axes of an input with one or two "
                f"more axes; {len(amounts)} pad values do not fit shape {input.shape}")
    elif value is not None and not isinstance(value, numbers.Number):
        raise TypeError(f"pad: value must be a number, got {type(value).__name__}")
    # (axis, before, after), from the last axis backwards
    sides = [(input.ndim - 1 - i, int(amounts[2 * i]), int(amounts[2 * i + 1]))
             for i in range(count)]
    growth = [(axis, max(before, 0), max(after, 0)) for axis, before, after in sides]
    if mode in ("reflect", "replicate"):
        # PyTorch mirrors about the input's own edges first, then crops the negative amounts
        for axis, before, after in growth:
            _check_amounts(mode, input.shape[axis], before, after, axis)
        return _crop(_pad_from_slices(input, growth, mode), sides)
    # the other modes crop first: a circular pad wraps around what is left
    x = _crop(input, sides)
    if mode == "circular":
        for axis, before, after in growth:
            _check_amounts(mode, x.shape[axis], before, after, axis)
        return _pad_from_slices(x, growth, mode)
    widths = [(0, 0)] * x.ndim
    for axis, before, after in sides:
        widths[axis] = (max(before, 0), max(after, 0))
    if not any(b or a for b, a in widths):
        return x
    return Pad(tuple(widths), 0.0 if value is None else value).apply(x)


def _crop(x: Tensor, sides: list) -> Tensor:
    """x with the negative pad amounts cut off (the constant and circular modes crop before
    they pad)."""
    window = [slice(None)] * x.ndim
    for axis, before, after in sides:
        start, stop = max(-before, 0), x.shape[axis] - max(-after, 0)
        if stop < start:
            raise ValueError(f"pad: cropping ({before}, {after}) is more than the size "
                             f"{x.shape[axis]} of axis {axis}")
        window[axis] = slice(start, stop)
    if all(w == slice(None) or (w.start == 0 and w.stop == n)
           for w, n in zip(window, x.shape)):
        return x
    return getitem(x, tuple(window))


@tensor_args
def repeat(x: Tensor, sizes) -> Tensor:
    """x repeated ``sizes[i]`` times along each axis, as ``torch.Tensor.repeat`` (sizes may
    have more entries than x has axes: x gains leading axes)."""
    sizes = ints("repeat", "sizes", sizes)
    if not all(_is_int(r) and r >= 0 for r in sizes) or len(sizes) < x.ndim:
        raise ValueError(f"repeat: sizes must be at least {x.ndim} non-negative ints (one per "
                         f"axis of shape {x.shape}), got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    # (s0, s1, ..) -> (1, s0, 1, s1, ..) -> (r0, s0, r1, s1, ..) -> (r0 s0, r1 s1, ..)
    interleaved = reshape(x, tuple(v for n in shape for v in (1, n)))
    copies = expand(interleaved, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(copies, tuple(r * n for r, n in zip(sizes, shape)))


@tensor_args
def tile(x: Tensor, dims) -> Tensor:
    """x repeated ``dims[i]`` times along each axis; a short ``dims`` is padded with leading
    ones (unlike repeat), as ``torch.tile``."""
    dims = ints("tile", "dims", dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


@tensor_args
def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """x shifted cyclically by ``shifts`` along ``dims`` (ints or matching tuples); with dims
    None, the flattened x is shifted and the shape restored, as ``torch.roll``."""
    if dims is None:
        flat_shift = shifts if _is_int(shifts) else ints("roll", "shifts", shifts)
        if not _is_int(flat_shift) and len(flat_shift) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        amount = int(flat_shift if _is_int(flat_shift) else flat_shift[0])
        return reshape(Roll((amount,), (0,)).apply(reshape(x, (-1,))), x.shape)
    shifts, dims = ints("roll", "shifts", shifts), ints("roll", "dims", dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    axes = tuple(_axis(d, x.ndim, "roll") for d in dims)
    return Roll(shifts, axes).apply(x)


def _at_least(x: Tensor, ndim: int) -> Tensor:
    if x.ndim >= ndim:
        return x
    # 0-d -> (1,) or (1, 1); (n,) -> (1, n)
    return reshape(x, (1,) * (ndim - x.ndim) + x.shape)


def _tensors(op: str, tensors) -> list:
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"{op}: expected a non-empty sequence of Tensors, got {tensors!r}")
    return tensors


@tensor_args
def hstack(tensors) -> Tensor:
    """Join tensors column-wise: 1-d ones end to end, the others along axis 1."""
    tensors = [_at_least(t, 1) for t in _tensors("hstack", tensors)]
    return concatenate(tensors, 0 if tensors[0].ndim == 1 else 1)


@tensor_args
def vstack(tensors) -> Tensor:
    """Join tensors row-wise along axis 0, 0-d and 1-d ones first made rows (1, n)."""
    return concatenate([_at_least(t, 2) for t in _tensors("vstack", tensors)], 0)


@tensor_args
def column_stack(tensors) -> Tensor:
    """Join tensors as columns: 0-d and 1-d ones become (n, 1) columns, then hstack."""
    tensors = _tensors("column_stack", tensors)
    # (n,) or () -> (n, 1)
    return hstack([reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors])
