"""Pooling: max and average pooling over 1-D and 2-D windows, their adaptive forms, and
upsample_nearest2d.

Windows are read through a strided view (``backend.sliding_windows``), never copied one by
one. Each backward is a linear map of the upstream gradient written as a differentiable op,
so second derivatives flow through pooling too. The 1-D ops are the 2-D ones on a unit
height, and every op takes an unbatched input (no N axis) as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, positive
from tinygen.autograd.ops.conv.functions import single
from tinygen.autograd.ops.reduction import mean
from tinygen.autograd.ops.shape import (
    concatenate,
    expand,
    getitem,
    index_add,
    reshape,
    squeeze,
    unsqueeze,
)
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the window's first maximum in raster order,
    as PyTorch's does. ``pads`` is ((top, bottom), (left, right)) of -inf."""

    def __init__(self, kernel, stride, pads, dilation=(1, 1)):
        self.kernel, self.stride, self.pads, self.dilation = kernel, stride, pads, dilation

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        padded = xp.pad(x, ((0, 0), (0, 0)) + self.pads, constant_values=-xp.inf) \
            if any(map(sum, self.pads)) else x
        n, c, hp, wp = padded.shape
        windows = backend.sliding_windows(padded, self.kernel, self.stride, self.dilation)
        oh, ow = windows.shape[2:4]
        # (N, C, oh, ow, kh, kw) -> (N, C, oh, ow, kh*kw): one copy, then a last-axis argmax
        taps = windows.reshape(n, c, oh, ow, kh * kw)
        winner = taps.argmax(axis=-1)
        y = xp.take_along_axis(taps, winner[..., None], axis=-1)[..., 0]
        # the winner's flat position in the padded (Hp, Wp) plane
        rows = xp.arange(oh).reshape(oh, 1) * sh + (winner // kw) * dh
        cols = xp.arange(ow).reshape(1, ow) * sw + (winner % kw) * dw
        flat_index = (rows * wp + cols).reshape(n * c, oh * ow)
        self.save_for_backward(flat_index)  # integer positions: a constant to the graph
        self.padded_shape = padded.shape
        return y

    def backward(self, gy):
        # dL/dx at each window's max = the sum of gy over the windows it won; zero elsewhere
        (flat_index,) = self.saved_tensors
        n, c, hp, wp = self.padded_shape
        xp = get_array_module(gy.data)
        plane_rows = xp.arange(n * c).reshape(n * c, 1)
        # (N, C, oh, ow) -> (N*C, oh*ow): one row of gradients per image plane
        flat = reshape(gy, (n * c, -1))
        scattered = index_add(flat, (plane_rows, flat_index.data), (n * c, hp * wp))
        # (N*C, Hp*Wp) -> (N, C, Hp, Wp), then drop the padding
        gx = reshape(scattered, (n, c, hp, wp))
        (top, bottom), (left, right) = self.pads
        if top or bottom or left or right:
            gx = getitem(gx, (slice(None), slice(None), slice(top, hp - bottom),
                              slice(left, wp - right)))
        return gx


class AvgPool2d(Function):
    """Each window's sum over its divisor: the kernel size, or per window (an (oh, ow) array)
    the taps PyTorch counts (the zero padding or not, never a ceil-mode overhang)."""

    def __init__(self, kernel, stride, pads, divisor):
        self.kernel, self.stride, self.pads, self.divisor = kernel, stride, pads, divisor

    def forward(self, x):
        xp = get_array_module(x)
        padded = xp.pad(x, ((0, 0), (0, 0)) + self.pads) if any(map(sum, self.pads)) else x
        self.input_shape = x.shape
        sums = backend.sliding_windows(padded, self.kernel, self.stride).sum(axis=(4, 5))
        return sums / _on(xp, self.divisor, x.dtype)

    def backward(self, gy):
        # avg_pool2d is linear: its gradient is the adjoint, spreading gy/divisor over windows
        return AvgPool2dAdjoint(self.kernel, self.stride, self.pads, self.divisor,
                                self.input_shape).apply(gy)


class AvgPool2dAdjoint(Function):
    """The transpose of avg_pool2d: each window's value over its divisor, added to its taps."""

    def __init__(self, kernel, stride, pads, divisor, input_shape):
        self.kernel, self.stride, self.pads, self.divisor = kernel, stride, pads, divisor
        self.input_shape = input_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw), ((top, bottom), (left, right)) = self.kernel, self.stride, self.pads
        n, c, h, w = self.input_shape
        oh, ow = gy.shape[2:]
        out = xp.zeros((n, c, top + h + bottom, left + w + right), dtype=gy.dtype)
        share = gy / _on(xp, self.divisor, gy.dtype)
        for i in range(kh):  # kh*kw strided slice-adds instead of a scatter
            for j in range(kw):
                out[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        return out[:, :, top:top + h, left:left + w]

    def backward(self, ggx):
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.kernel, self.stride, self.pads, self.divisor).apply(ggx)


def _on(xp, divisor, dtype):
    """The divisor on the array's device: an int as it is, a per-window array as ``dtype``."""
    return divisor if isinstance(divisor, int) else xp.asarray(divisor, dtype=dtype)


# --------------------------------------------------------------------------- geometry
def _batched(op: str, x: Tensor, spatial: int, pool):
    """Run ``pool`` on a batched x; an unbatched one gets a unit batch axis and loses it."""
    if x.ndim == spatial + 1:
        return _map_outputs(pool(unsqueeze(x, 0)), lambda t: squeeze(t, 0))
    if x.ndim != spatial + 2:
        layout = "(N, C, H, W) or (C, H, W)" if spatial == 2 else "(N, C, L) or (C, L)"
        raise ValueError(f"{op}: input must be {layout}, got shape {x.shape}")
    return pool(x)


def _map_outputs(result, change):
    return tuple(change(t) for t in result) if isinstance(result, tuple) else change(result)


def _output_size(op, size, kernel, stride, pad, dilation, ceil_mode) -> tuple[int, int]:
    """PyTorch's pooled length along one axis, and the padding a ceil-mode window adds past
    the input's end-side padding: (out, extra)."""
    if pad > kernel // 2:
        raise ValueError(f"{op}: padding must be in [0, kernel_size // 2], got {pad} for "
                         f"kernel_size {kernel}")
    span = dilation * (kernel - 1) + 1
    room = size + 2 * pad - span
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or its start-side padding
    if out < 1:
        raise ValueError(f"{op}: the output is empty: a window spans {span} but the padded "
                         f"input is {size + 2 * pad} (input {size}, padding {pad})")
    return out, max(0, (out - 1) * stride + span - size - 2 * pad)


def _pool_geometry(op, x, kernel, stride, padding, dilation, ceil_mode):
    """Per axis (out, ((start pad, end pad))) for a 4-D x and pair arguments."""
    sizes = [_output_size(op, x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a],
                          ceil_mode) for a in range(2)]
    outs = tuple(out for out, _ in sizes)
    pads = tuple((padding[a], padding[a] + sizes[a][1]) for a in range(2))
    return outs, pads


def _as_args(spatial, kernel_size, stride, padding, dilation=1):
    """Pairs (on a unit height for the 1-D ops) of kernel, stride, padding and dilation."""
    if spatial == 2:
        kernel = pair("kernel_size", kernel_size)
        return (kernel, kernel if stride is None else pair("stride", stride),
                pair("padding", padding, minimum=0), pair("dilation", dilation))
    kernel = (1, single("kernel_size", kernel_size))
    return (kernel, kernel if stride is None else (1, single("stride", stride)),
            (0, single("padding", padding, 0)), (1, single("dilation", dilation)))


def _no_indices(op: str, return_indices: bool) -> None:
    if return_indices:
        raise NotImplementedError(f"{op}: return_indices=True is not supported (tinygen has no "
                                  f"max_unpool); got return_indices={return_indices!r}")


# --------------------------------------------------------------------------- max, average
def _max_pool(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    kernel, stride, padding, dilation = _as_args(spatial, kernel_size, stride, padding,
                                                 dilation)

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        _, pads = _pool_geometry(op, x4, kernel, stride, padding, dilation, ceil_mode)
        y = MaxPool2d(kernel, stride, pads, dilation).apply(x4)
        return squeeze(y, 2) if spatial == 1 else y

    return _batched(op, x, spatial, pool)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.max_pool2d; stride defaults to kernel_size. Of tied maxima the first
    in raster order gets the gradient.

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding, dilation: ints or (h, w) pairs; padding (of -inf) at
            most half the kernel.
        ceil_mode: round the output size up (a last, partial window) instead of down.
        return_indices: must be False (no max_unpool2d to use them).

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - d (k - 1) - 1) // s + 1 (rounded up in ceil_mode,
        keeping every window's start inside the input or its top/left padding).
    """
    _no_indices("max_pool2d", return_indices)
    return _max_pool("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over each kernel_size window of (N, C, L) or unbatched (C, L), as
    torch.nn.functional.max_pool1d: max_pool2d on a unit height.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding, dilation: ints (or 1-tuples); stride defaults to
            kernel_size.
        ceil_mode: round the output length up instead of down.
        return_indices: must be False.

    Returns:
        (N, C, L_out) with L_out = (L + 2p - d (k - 1) - 1) // s + 1.
    """
    _no_indices("max_pool1d", return_indices)
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode)


def _window_counts(size, out, kernel, stride, pad, count_include_pad) -> np.ndarray:
    """PyTorch's divisor along one axis: the taps of each window inside the padded input
    (or the input alone); a window with none divides its zero sum by 1."""
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad)
    if not count_include_pad:
        starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
    return np.maximum(ends - starts, 1)


def _avg_pool(op, x, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override=None):
    kernel, stride, padding, _ = _as_args(spatial, kernel_size, stride, padding)
    if divisor_override is not None:
        divisor_override = positive("divisor_override", divisor_override)

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        outs, pads = _pool_geometry(op, x4, kernel, stride, padding, (1, 1), ceil_mode)
        divisor = divisor_override or kernel[0] * kernel[1]
        if divisor_override is None and (ceil_mode or (padding != (0, 0)
                                                       and not count_include_pad)):
            counts = [_window_counts(x4.shape[2 + a], outs[a], kernel[a], stride[a],
                                     padding[a], count_include_pad) for a in range(2)]
            divisor = np.outer(counts[0], counts[1])
        y = AvgPool2d(kernel, stride, pads, divisor).apply(x4)
        return squeeze(y, 2) if spatial == 1 else y

    return _batched(op, x, spatial, pool)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.avg_pool2d; stride defaults to kernel_size.

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding: ints or (h, w) pairs; zero padding at most half the
            kernel.
        ceil_mode: round the output size up; a last, partial window averages the taps it
            has inside the padded input.
        count_include_pad: count the zero padding in a window's divisor (else only the
            input's taps).
        divisor_override: divide every window's sum by this instead.

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - k) // s + 1 (rounded up in ceil_mode).
    """
    return _avg_pool("avg_pool2d", x, 2, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each kernel_size window of (N, C, L) or unbatched (C, L), as
    torch.nn.functional.avg_pool1d: avg_pool2d on a unit height.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding: ints (or 1-tuples); stride defaults to kernel_size.
        ceil_mode, count_include_pad: as in :func:`avg_pool2d`.

    Returns:
        (N, C, L_out) with L_out = (L + 2p - k) // s + 1 (rounded up in ceil_mode).
    """
    return _avg_pool("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


# --------------------------------------------------------------------------- adaptive
def _adaptive_sizes(op, output_size, input_sizes) -> tuple:
    """output_size as one int per axis; None (or a None entry) keeps the input's size."""
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size,) * len(input_sizes)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != len(input_sizes):
        raise ValueError(f"{op}: output_size must be an int, None or {len(input_sizes)} of "
                         f"them, got {output_size!r}")
    return tuple(size if out is None else positive("output_size", out)
                 for out, size in zip(output_size, input_sizes))


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: [floor(i L / o), ceil((i + 1) L / o))."""
    i = np.arange(out)
    return (i * size) // out, -(-(i + 1) * size // out)


def _adaptive_mean_axis(x: Tensor, axis: int, out: int) -> Tensor:
    """The mean of each adaptive window along ``axis``, the windows laid side by side."""
    starts, ends = _adaptive_bounds(x.shape[axis], out)
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
            x_batched = _adaptive_mean_axis(x_batched, 2 + a, outs[a])
        return x_batched

    return _batched(op, x, spatial, pool)


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
    return _adaptive_avg("adaptive_avg_pool1d", input, 1, positive("output_size", output_size))


def _adaptive_max_index(x, outs):
    """The flat (H*W) position of each adaptive window's first maximum in raster order, on
    raw arrays: (N, C, oh, ow) integers."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    tables = []
    for size, out in zip((h, w), outs):
        starts, ends = _adaptive_bounds(size, out)
        width = int((ends - starts).max())
        # (out, width) indices of each window; short windows repeat their last index, which
        # comes after the original in raster order and so never wins a tie
        tables.append(xp.asarray(np.minimum(starts[:, None] + np.arange(width),
                                            ends[:, None] - 1)))
    rows, cols = tables
    # (N, C, oh, Lh, ow, Lw) -> (N, C, oh, ow, Lh*Lw), each window's taps in raster order
    windows = x[:, :, rows[:, :, None, None], cols[None, None, :, :]]
    windows = windows.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, outs[0], outs[1], -1)
    winner = windows.argmax(axis=-1)
    lw = cols.shape[1]
    # window (i, j)'s winning tap back to its input row and column: (N, C, oh, ow) each
    row = rows[xp.arange(outs[0])[:, None], winner // lw]
    col = cols[xp.arange(outs[1])[None, :], winner % lw]
    return row * w + col


def _adaptive_max(op, x, spatial, output_size, return_indices):
    def pool(x_batched):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x_batched = unsqueeze(x_batched, 2)
        n, c, h, w = x_batched.shape
        outs = _adaptive_sizes(op, output_size, (h, w)[2 - spatial:])
        outs = (1,) * (2 - spatial) + outs
        index = _adaptive_max_index(x_batched.data, outs)
        xp = get_array_module(index)
        # a gather of the winners: the gradient goes to each window's maximum alone
        # (N, C, H, W) -> (N*C, H*W), then (N*C, oh*ow) -> (N, C, oh, ow)
        y = getitem(reshape(x_batched, (n * c, h * w)),
                    (xp.arange(n * c)[:, None], index.reshape(n * c, -1)))
        y = reshape(y, (n, c) + outs[2 - spatial:])
        if not return_indices:
            return y
        return y, Tensor._from_array(index.reshape((n, c) + outs[2 - spatial:]))

    return _batched(op, x, spatial, pool)


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
    return _adaptive_max("adaptive_max_pool1d", input, 1, positive("output_size", output_size),
                         return_indices)


# --------------------------------------------------------------------------- upsampling
def upsample_nearest2d(x: Tensor, scale_factor: int) -> Tensor:
    """Repeat every pixel of (N, C, H, W) scale_factor times along H and W.

    Built from reshape and expand, so its gradient (the sum over each block) comes free.
    """
    s = positive("scale_factor", scale_factor)
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d: x must be (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    # (N, C, H, W) -> (N, C, H, 1, W, 1) -> (N, C, H, s, W, s) -> (N, C, H*s, W*s)
    blocks = expand(reshape(x, (n, c, h, 1, w, 1)), (n, c, h, s, w, s))
    return reshape(blocks, (n, c, h * s, w * s))
