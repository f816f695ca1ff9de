"""Adaptive pooling: average and max pooling to a fixed output size, as compositions of
slicing, means, reshapes and gathers (their gradients come free, second order included);
where the output size divides the input's, the windows tile it and the ordinary average or
max pool runs them.

PyTorch's adaptive windows along an axis of length L pooled to ``out`` are
[floor(i L / out), ceil((i + 1) L / out)): they tile the input when ``out`` divides L and
overlap by one entry otherwise. :func:`adaptive_mean_along` is shared with interpolate's
'area' mode, which is adaptive average pooling of any number of spatial axes.
"""

from __future__ import annotations

import numpy as np

from tinygen.autograd.ops.arguments import positive
from tinygen.autograd.ops.pooling import (
    avg_pool1d,
    avg_pool2d,
    batched,
    max_pool1d,
    max_pool2d,
)
from tinygen.autograd.ops.reduction import mean
from tinygen.autograd.ops.shape import concatenate, getitem, reshape, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _adaptive_sizes(op, output_size, input_sizes) -> tuple:
    """output_size as one int per axis; None (or a None entry) keeps the input's size."""
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size,) * len(input_sizes)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != len(input_sizes):
        raise ValueError(f"{op}: output_size must be an int, None or {len(input_sizes)} of "
                         f"them, got {output_size!r}")
    return tuple(size if out is None else _output_length(op, out)
                 for out, size in zip(output_size, input_sizes))


def _output_length(op: str, value) -> int:
    """One entry of output_size, which must be a positive int; the error names ``op``."""
    try:
        return positive("output_size", value)
    except ValueError as error:
        raise ValueError(f"{op}: {error}") from None


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: [floor(i L / o), ceil((i + 1) L / o))."""
    i = np.arange(out)
    return (i * size) // out, -(-(i + 1) * size // out)


def adaptive_mean_along(x: Tensor, axis: int, out: int) -> Tensor:
    """The mean of each adaptive window along ``axis`` (``out`` of them), laid side by side.

    Equal windows that tile the axis are one reshape and a mean; otherwise each window is a
    slice and its mean, joined by one concatenation.
    """
    size = x.shape[axis]
    if size % out == 0:
        # (..., L, ...) -> (..., out, L // out, ...), then the mean over each block
        blocks = reshape(x, x.shape[:axis] + (out, size // out) + x.shape[axis + 1:])
        return mean(blocks, axis + 1)
    starts, ends = _adaptive_bounds(size, out)
    lead = (slice(None),) * axis
    return concatenate([mean(getitem(x, lead + (slice(int(s), int(e)),)), axis, keepdim=True)
                        for s, e in zip(starts, ends)], axis)


def _adaptive_avg(op, x, spatial, output_size):
    def pool(x_batched):
        outs = _adaptive_sizes(op, output_size, x_batched.shape[2:])
        sizes = x_batched.shape[2:]
        if all(size % out == 0 for size, out in zip(sizes, outs)):
            # equal windows that tile the input: an ordinary average pool
            kernel = tuple(size // out for size, out in zip(sizes, outs))
            return (avg_pool2d if spatial == 2 else avg_pool1d)(x_batched, kernel)
        # the mean over a rectangle is the mean over its rows of the means over its columns
        for a in range(spatial):
            x_batched = adaptive_mean_along(x_batched, 2 + a, outs[a])
        return x_batched

    return batched(op, x, spatial, pool)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size, as torch.nn.functional.adaptive_avg_pool2d:
    output pixel (i, j) averages rows [floor(i H / oh), ceil((i + 1) H / oh)) and likewise
    the columns.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: (oh, ow), or one int for both; None keeps that input size.

    Returns:
        (N, C, oh, ow) (or (C, oh, ow)).
    """
    return _adaptive_avg("adaptive_avg_pool2d", input, 2, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output length, as torch.nn.functional.adaptive_avg_pool1d.

    Args:
        input: (N, C, L) or (C, L).
        output_size: the output length (an int, or a 1-tuple).

    Returns:
        (N, C, output_size) (or (C, output_size)).
    """
    if isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = output_size[0]
    return _adaptive_avg("adaptive_avg_pool1d", input, 1,
                         _output_length("adaptive_avg_pool1d", output_size))


def _adaptive_max_index(x, outs):
    """The flat (H*W) position of each adaptive window's winner, on raw arrays: (N, C, oh,
    ow) integers. As in torch's kernel, the winner is the first maximum in raster order, and
    a NaN counts as the maximum with a later NaN replacing an earlier one (the last NaN)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    tables = []
    for size, out in zip((h, w), outs):
        starts, ends = _adaptive_bounds(size, out)
        width = int((ends - starts).max())
        # (out, width) indices of each window; short windows repeat their last index, which
        # comes after the original in raster order: it never wins a tie, and where it is a
        # window's last NaN it names the same entry
        tables.append(xp.asarray(np.minimum(starts[:, None] + np.arange(width),
                                            ends[:, None] - 1)))
    rows, cols = tables
    # (N, C, oh, Lh, ow, Lw) -> (N, C, oh, ow, Lh*Lw), each window's taps in raster order
    windows = x[:, :, rows[:, :, None, None], cols[None, None, :, :]]
    taps = rows.shape[1] * cols.shape[1]  # named, not -1: an empty batch reshapes too
    windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, outs[0], outs[1], taps)
    winner = windows.argmax(axis=-1)
    nan = xp.isnan(windows)
    if bool(nan.any()):
        # the last NaN of a window: the first one in the reversed taps
        last_nan = nan.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        winner = xp.where(nan.any(axis=-1), last_nan, winner)
    lw = cols.shape[1]
    # window (i, j)'s winning tap back to its input row and column: (N, C, oh, ow) each
    row = rows[xp.arange(outs[0])[:, None], winner // lw]
    col = cols[xp.arange(outs[1])[None, :], winner % lw]
    return row * w + col


def _adaptive_max(op, x, spatial, output_size, return_indices):
    def pool(x_batched):
        sizes = x_batched.shape[2:]
        outs = _adaptive_sizes(op, output_size, sizes)
        if all(size > 0 and size % out == 0 for size, out in zip(sizes, outs)):
            # equal windows that tile the input: an ordinary max pool, whose winners are the
            # same (the first maximum in raster order, or the last NaN), on its fast passes
            kernel = tuple(size // out for size, out in zip(sizes, outs))
            if spatial == 1:
                return max_pool1d(x_batched, kernel[0], return_indices=return_indices)
            return max_pool2d(x_batched, kernel, return_indices=return_indices)
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x_batched = unsqueeze(x_batched, 2)
        n, c, h, w = x_batched.shape
        outs = (1,) * (2 - spatial) + outs
        index = _adaptive_max_index(x_batched.data, outs)
        xp = get_array_module(index)
        # a gather of the winners: the gradient goes to each window's maximum alone
        # (N, C, H, W) -> (N*C, H*W), then (N*C, oh*ow) -> (N, C, oh, ow)
        y = getitem(reshape(x_batched, (n * c, h * w)),
                    (xp.arange(n * c)[:, None], index.reshape(n * c, outs[0] * outs[1])))
        y = reshape(y, (n, c) + outs[2 - spatial:])
        if not return_indices:
            return y
        return y, Tensor._from_array(index.reshape((n, c) + outs[2 - spatial:]))

    return batched(op, x, spatial, pool)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output size, as torch.nn.functional.adaptive_max_pool2d: the
    windows of :func:`adaptive_avg_pool2d`; of tied maxima the first in raster order gets
    the gradient.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: (oh, ow), or one int for both; None keeps that input size.
        return_indices: also return each maximum's flat position in its (H, W) plane.

    Returns:
        (N, C, oh, ow) (or (C, oh, ow)), and with return_indices the int64 positions of the
        same shape (no gradient).
    """
    return _adaptive_max("adaptive_max_pool2d", input, 2, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output length, as torch.nn.functional.adaptive_max_pool1d.

    Args:
        input: (N, C, L) or (C, L).
        output_size: the output length (an int, or a 1-tuple).
        return_indices: also return each maximum's position along L.

    Returns:
        (N, C, output_size) (or (C, output_size)), and with return_indices the positions.
    """
    if isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = output_size[0]
    return _adaptive_max("adaptive_max_pool1d", input, 1,
                         _output_length("adaptive_max_pool1d", output_size),
                         return_indices)
