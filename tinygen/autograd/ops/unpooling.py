"""max_unpool1d / max_unpool2d: the partial inverse of max pooling, which writes each pooled
value back at the position its ``return_indices`` index names and zeros everywhere else.

Unpooling is a scatter of the input into a zero plane, so its gradient is the gather that
reads the upstream gradient back at the same positions; that gather is a differentiable
op, so second derivatives come free. The 1-D op is the 2-D one on a unit width, as in
PyTorch.
"""

from __future__ import annotations

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.pooling import batched, pool_args
from tinygen.autograd.ops.shape import getitem, reshape, squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MaxUnpool2d(Function):
    """Each value of (N, C, h, w) written at its flat index into a zero (N, C, oh, ow)
    plane. Of several values sent to one position one stays: NumPy keeps the last, as
    torch's CPU kernel does (max pooling's indices repeat only where one input wins
    several overlapping windows, and then the values are equal too)."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x, indices):
        xp = get_array_module(x)
        n, c = x.shape[:2]
        oh, ow = self.output_size
        plane_rows = xp.arange(n * c).reshape(n * c, 1)
        out = xp.zeros((n * c, oh * ow), dtype=x.dtype)
        # (N, C, h, w) -> (N*C, h*w): one row of values and of positions per plane
        out[plane_rows, indices.reshape(n * c, -1)] = x.reshape(n * c, -1)
        self.save_for_backward(indices)
        # (N*C, oh*ow) -> (N, C, oh, ow)
        return out.reshape(n, c, oh, ow)

    def backward(self, gy):
        # dL/dx = gy read back at each value's position (a gather); the indices get none
        (indices,) = self.saved_tensors
        n, c, oh, ow = gy.shape
        xp = get_array_module(gy.data)
        plane_rows = xp.arange(n * c).reshape(n * c, 1)
        # (N, C, oh, ow) -> (N*C, oh*ow), gathered to (N*C, h*w) -> (N, C, h, w)
        gx = getitem(reshape(gy, (n * c, oh * ow)),
                     (plane_rows, indices.data.reshape(n * c, -1)))
        return reshape(gx, indices.shape), None


def _unpooled_sizes(op, input_sizes, kernel, stride, padding, output_size) -> tuple:
    """PyTorch's unpooled size per axis: (in - 1) stride - 2 padding + kernel by default; a
    given output_size (spatial, or with N and C in front) must lie strictly within one
    stride of that."""
    spatial = len(input_sizes)
    default = tuple((size - 1) * s + k - 2 * p
                    for size, k, s, p in zip(input_sizes, kernel, stride, padding))
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, (tuple, list)) or not all(
                isinstance(size, (int, np.integer)) and not isinstance(size, bool)
                for size in output_size):
            raise TypeError(f"{op}: output_size must be a tuple of ints, got {output_size!r}")
        sizes = tuple(output_size)
        if len(sizes) == spatial + 2:
            sizes = sizes[2:]
        if len(sizes) != spatial:
            raise ValueError(f"{op}: output_size must have {spatial} or {spatial + 2} entries, "
                             f"got {output_size!r}")
        for axis, (size, expected, s) in enumerate(zip(sizes, default, stride)):
            if not expected - s < size < expected + s:
                raise ValueError(f"{op}: output_size {tuple(output_size)!r}: axis {axis} must "
                                 f"be between {expected - s} and {expected + s} (exclusive), "
                                 f"got {size}")
    if min(sizes) < 0:
        raise ValueError(f"{op}: the unpooled size must not be negative, got {sizes}")
    return tuple(int(size) for size in sizes)


def _check_indices(op: str, input: Tensor, indices: Tensor, plane: int) -> None:
    if indices.shape != input.shape:
        raise ValueError(f"{op}: indices must have the input's shape {input.shape}, got "
                         f"{indices.shape}")
    if indices.numel():
        low, high = int(indices.data.min()), int(indices.data.max())
        if low < 0 or high >= plane:
            raise IndexError(f"{op}: indices must lie in [0, {plane}) (the unpooled plane), "
                             f"got {low if low < 0 else high}")


def _unpool(op, input, indices, spatial, kernel, stride, padding, output_size):
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
        kind = indices.dtype if isinstance(indices, Tensor) else type(indices).__name__
        raise TypeError(f"{op}: indices must be an integer Tensor (int64, from max pooling's "
                        f"return_indices), got {kind}")

    def unpool(x4):
        ind4 = indices if indices.ndim == x4.ndim else unsqueeze(indices, 0)
        if spatial == 1:  # (N, C, L) -> (N, C, L, 1): torch's unit width
            x4, ind4 = unsqueeze(x4, 3), unsqueeze(ind4, 3)
        sizes = _unpooled_sizes(op, x4.shape[2:2 + spatial], kernel[-spatial:],
                                stride[-spatial:], padding[-spatial:], output_size)
        out_hw = sizes + (1,) * (2 - spatial)
        _check_indices(op, x4, ind4, out_hw[0] * out_hw[1])
        y = MaxUnpool2d(out_hw).apply(x4, ind4)
        return squeeze(y, 3) if spatial == 1 else y

    return batched(op, input, spatial, unpool)


@tensor_args
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool2d, as torch.nn.functional.max_unpool2d: each value
    of input goes to the flat position (row * W + column) its index names; every other
    entry is zero.

    Args:
        input: (N, C, h, w) or (C, h, w), a max pool's values.
        indices: int64 of input's shape: max_pool2d(..., return_indices=True)'s indices.
        kernel_size, stride, padding: the pool's (ints, 1-tuples or (h, w) pairs; stride
            defaults to kernel_size).
        output_size: (H, W) (or (N, C, H, W)) when the default (h - 1) stride - 2 padding +
            kernel is not the pooled input's size; within one stride of the default.

    Returns:
        (N, C, H, W) (or (C, H, W)); its gradient is gy read back at the indices.
    """
    kernel, stride, padding, _ = pool_args("max_unpool2d", 2, kernel_size, stride, padding)
    return _unpool("max_unpool2d", input, indices, 2, kernel, stride, padding, output_size)


@tensor_args
def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of max_pool1d, as torch.nn.functional.max_unpool1d.

    Args:
        input: (N, C, l) or (C, l), a max pool's values.
        indices: int64 of input's shape: max_pool1d(..., return_indices=True)'s indices.
        kernel_size, stride, padding: the pool's (ints or 1-tuples; stride defaults to
            kernel_size).
        output_size: (L,) (or (N, C, L)) when the default (l - 1) stride - 2 padding +
            kernel is not the pooled input's length; within one stride of the default.

    Returns:
        (N, C, L) (or (C, L)).
    """
    kernel, stride, padding, _ = pool_args("max_unpool1d", 1, kernel_size, stride, padding)
    if isinstance(output_size, int):
        output_size = (output_size,)
    return _unpool("max_unpool1d", input, indices, 1, kernel, stride, padding, output_size)

