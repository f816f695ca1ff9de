"""Pooling: max and average pooling over 1-D and 2-D windows (max pooling optionally with
the indices max_unpool takes), and upsample_nearest2d. The adaptive pools are in
``pooling_adaptive.py``, max_unpool in ``unpooling.py``; both use the geometry helpers here.

Each pool is two separable 1-D passes, along W then H, each a loop over the kernel's taps
with one view of the whole array per tap (``pooling_passes.py``), on cache-sized chunks of
the planes (N * C), on threads: no window copies, no scatter. Max pooling keeps, per pass,
where each tap won (torch's winner: a window's first maximum in raster order, or its last
NaN), and its gradient goes back through those masks. Each backward is a linear map of the
upstream gradient written as a differentiable op (two ops that are each other's adjoint), so
second derivatives flow through pooling too. The 1-D ops are the 2-D ones on a unit height,
and every op takes an unbatched input (no N axis).
"""

from __future__ import annotations

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, positive, tensor_args
from tinygen.autograd.ops.conv.functions import single
from tinygen.autograd.ops.pooling_passes import (
    in_chunks,
    max_along,
    phase_count,
    planes,
    spread_along,
    sum_along,
    window_count,
    winner_index,
)
from tinygen.autograd.ops.shape import expand, reshape, squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the window's winner, PyTorch's: its first
    maximum in raster order, or its last NaN. ``windows`` holds per axis (H, then W) the
    window (kernel, stride, dilation, (start pad, end pad)); the padding is -inf (an integer
    type's least) and never wins (a window whose input taps are all -inf sends its gradient
    to the first of them, as torch does). With ``return_indices`` a second output holds each
    winner's flat position in its input plane (H*W), as torch reports it; it is an integer
    constant that receives no gradient."""

    def __init__(self, windows, return_indices=False):
        self.windows, self.return_indices = windows, return_indices

    def forward(self, x):
        xp = get_array_module(x)
        (rows_window, cols_window), (n, c, height, width) = self.windows, x.shape
        oh, ow = window_count(rows_window, height), window_count(cols_window, width)
        y = xp.empty((n, c, oh, ow), dtype=x.dtype)
        if not (self.needs_input_grad or self.return_indices):
            # not recorded (no_grad, or an input that needs no gradient): the max alone,
            # about half the work
            def values(block, out):
                # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
                row_max, _ = max_along(block, 3, cols_window, winners=False)
                max_along(row_max, 2, rows_window, out=out, winners=False)
                return ()  # each chunk's output written in place

            in_chunks(values, planes(x), planes(y))
            return y
        # the passes' winner masks over the planes: (N * C, taps, 1, ...), the phase
        # layout's q >= ow (oh) windows along the pass's axis; stored tap-major, so that a
        # chunk's mask of one tap is one contiguous run (a run per plane took 20% longer)
        col_won = xp.moveaxis(xp.empty(
            (cols_window[0], n * c, 1, height, phase_count(cols_window, width)), bool), 0, 1)
        row_won = xp.moveaxis(xp.empty(
            (rows_window[0], n * c, 1, phase_count(rows_window, height), ow), bool), 0, 1)

        def passes(block, out, rows_won, cols_won):
            # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
            row_max, _ = max_along(block, 3, cols_window, won=cols_won)
            max_along(row_max, 2, rows_window, out=out, won=rows_won)
            return ()  # each chunk's outputs written in place

        in_chunks(passes, planes(x), planes(y), row_won, col_won)
        self.save_for_backward(row_won, col_won)  # boolean masks: constants to the graph
        self.input_shape = x.shape
        if not self.return_indices:
            return y
        index = winner_index(xp, row_won, col_won, self.windows, x.shape[2:], y.shape[2:])
        return y, index.reshape(y.shape)  # (N * C, 1, oh, ow) -> (N, C, oh, ow)

    def backward(self, gy, gindex=None):
        # dL/dx at each window's winner = the sum of gy over the windows it won; zero elsewhere
        row_won, col_won = self.saved_tensors
        return MaxPool2dScatter(self.windows, self.input_shape).apply(gy, row_won, col_won)


class MaxPool2dScatter(Function):
    """max_pool2d's gradient as an op: each window's value of gy (N, C, oh, ow) added at its
    winning tap of a zero (N, C, H, W), through the winner masks of the two passes (over the
    planes, as MaxPool2d keeps them)."""

    def __init__(self, windows, input_shape):
        self.windows, self.input_shape = windows, input_shape

    def forward(self, gy, row_won, col_won):
        self.save_for_backward(row_won, col_won)
        (rows_window, cols_window), (height, width) = self.windows, self.input_shape[2:]

        xp = get_array_module(gy)
        # one look for inf and NaN in gy serves both passes where the H windows are
        # disjoint: each value the H pass leaves is then one of gy's times a mask, or 0
        # (overlapping windows add, and a sum of finite values may overflow)
        finite = bool(xp.isfinite(gy).all())
        _, stride, dilation, _ = rows_window
        rows_finite = finite if stride >= dilation * (rows_window[0] - 1) + 1 else None

        def passes(block, rows_won, cols_won, out):
            # back along H: (N, C, oh, ow) -> (N, C, H, ow); then along W: -> (N, C, H, W)
            rows = spread_along(block, 2, rows_window, height, rows_won, finite=finite)
            return (spread_along(rows, 3, cols_window, width, cols_won, out, rows_finite),)

        gx = xp.empty(self.input_shape, dtype=gy.dtype)
        in_chunks(passes, planes(gy), row_won, col_won, size=gx.size, out=planes(gx))
        return gx

    def backward(self, ggx):
        # a scatter is linear: its gradient is its adjoint, the gather at the same winners
        row_won, col_won = self.saved_tensors
        return MaxPool2dGather(self.windows).apply(ggx, row_won, col_won), None, None


class MaxPool2dGather(Function):
    """The transpose of MaxPool2dScatter: each window's winning tap read from (N, C, H, W)
    (max_pool2d with the winners held fixed), (N, C, oh, ow)."""

    def __init__(self, windows):
        self.windows = windows

    def forward(self, x, row_won, col_won):
        self.save_for_backward(row_won, col_won)
        self.input_shape = x.shape
        rows_window, cols_window = self.windows

        def passes(block, rows_won, cols_won):
            # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
            rows = sum_along(block, 3, cols_window, cols_won)
            return (sum_along(rows, 2, rows_window, rows_won),)

        (y,) = in_chunks(passes, planes(x), row_won, col_won)
        return y.reshape(x.shape[:2] + y.shape[2:])  # (N * C, 1, oh, ow) -> (N, C, oh, ow)

    def backward(self, gy):
        # the adjoint of the gather is the scatter
        row_won, col_won = self.saved_tensors
        scatter = MaxPool2dScatter(self.windows, self.input_shape)
        return scatter.apply(gy, row_won, col_won), None, None


class AvgPool2d(Function):
    """Each window's sum over its divisor: the kernel size, or per window (an (oh, ow) array)
    the taps PyTorch counts (the zero padding or not, never a ceil-mode overhang).
    ``windows`` as in MaxPool2d; the padding is zeros."""

    def __init__(self, windows, divisor):
        self.windows, self.divisor = windows, divisor

    def forward(self, x):
        xp = get_array_module(x)
        self.input_shape = x.shape
        rows_window, cols_window = self.windows
        if _global(self.windows, x.shape):
            # (N, C, H, W) -> (N, C) -> (N, C, 1, 1): one pass, too quick to share out
            # (einsum's summing loop beats sum's reduction over short planes)
            sums = xp.einsum("nchw->nc", x)[:, :, None, None]
            return sums / _on(xp, self.divisor, x.dtype)
        divisor = _on(xp, self.divisor, x.dtype)
        out_size = tuple(window_count(window, size)
                         for window, size in zip(self.windows, x.shape[2:]))
        y = xp.empty(x.shape[:2] + out_size, dtype=x.dtype if x.dtype.kind == "f" else float)

        def passes(block, out):
            # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
            sums = sum_along(sum_along(block, 3, cols_window), 2, rows_window, out=out)
            return (xp.divide(sums, divisor, out=sums),)  # while the chunk is in cache

        in_chunks(passes, planes(x), out=planes(y))
        return y

    def backward(self, gy):
        # avg_pool2d is linear: its gradient is the adjoint, spreading gy/divisor over windows
        return AvgPool2dAdjoint(self.windows, self.divisor, self.input_shape).apply(gy)


class AvgPool2dAdjoint(Function):
    """The transpose of avg_pool2d: each window's value over its divisor, added to its taps."""

    def __init__(self, windows, divisor, input_shape):
        self.windows, self.divisor, self.input_shape = windows, divisor, input_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        height, width = self.input_shape[2:]
        rows_window, cols_window = self.windows
        if _global(self.windows, self.input_shape):  # (N, C, 1, 1) -> (N, C, H, W)
            divisor = _on(xp, self.divisor, gy.dtype)
            return xp.broadcast_to(gy / divisor, self.input_shape).copy()

        def passes(gy, out):
            # each window's share, while the chunk is in cache; then back along H:
            # (N, C, oh, ow) -> (N, C, H, ow), and along W: -> (N, C, H, W)
            share = gy / _on(xp, self.divisor, gy.dtype)
            rows = spread_along(share, 2, rows_window, height)
            return (spread_along(rows, 3, cols_window, width, out=out),)

        gx = xp.empty(self.input_shape, dtype=gy.dtype if gy.dtype.kind == "f" else float)
        in_chunks(passes, planes(gy), size=gx.size, out=planes(gx))
        return gx

    def backward(self, ggx):
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.windows, self.divisor).apply(ggx)


def _global(windows, shape) -> bool:
    """Whether one window covers each whole (padded) plane of an input of ``shape``."""
    return all(kernel == before + size + after
               for (kernel, _, _, (before, after)), size in zip(windows, shape[2:]))


def _on(xp, divisor, dtype):
    """The divisor on the array's device: an int as it is, a per-window array as ``dtype``."""
    return divisor if isinstance(divisor, int) else xp.asarray(divisor, dtype=dtype)


# --------------------------------------------------------------------------- geometry
def batched(op: str, x: Tensor, spatial: int, pool):
    """Run ``pool`` on a batched x; an unbatched one gets a unit batch axis and loses it
    (from every output, when ``pool`` returns a tuple)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}; wrap arrays "
                        "and lists with tinygen.tensor(...)")
    if x.ndim == spatial + 1:
        return map_outputs(pool(unsqueeze(x, 0)), lambda t: squeeze(t, 0))
    if x.ndim != spatial + 2:
        layout = "(N, C, H, W) or (C, H, W)" if spatial == 2 else "(N, C, L) or (C, L)"
        raise ValueError(f"{op}: input must be {layout}, got shape {x.shape}")
    return pool(x)


def map_outputs(result, change):
    """``change`` applied to a Tensor, or to each Tensor of a tuple."""
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
    """For a 4-D x and pair arguments: the output size (oh, ow), and per axis (H, then W)
    the window (kernel, stride, dilation, (start pad, end pad)) the pooling ops take."""
    sizes = [_output_size(op, x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a],
                          ceil_mode) for a in range(2)]
    outs = tuple(out for out, _ in sizes)
    windows = tuple((kernel[a], stride[a], dilation[a], (padding[a], padding[a] + sizes[a][1]))
                    for a in range(2))
    return outs, windows


def pool_pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An (h, w) argument as torch's 2-D pools read it: an int, a 1-tuple (both axes) or a
    pair."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return pair(name, value, minimum)


def pool_args(op, spatial, kernel_size, stride, padding, dilation=1):
    """Pairs (on a unit height for the 1-D ops) of kernel, stride, padding and dilation;
    a stride of None or () is the kernel size, as in torch. A bad one's error names ``op``."""
    try:
        return _pool_pairs(spatial, kernel_size, stride, padding, dilation)
    except ValueError as error:
        raise ValueError(f"{op}: {error}") from None


def _pool_pairs(spatial, kernel_size, stride, padding, dilation):
    if isinstance(stride, (tuple, list)) and len(stride) == 0:
        stride = None
    if spatial == 2:
        kernel = pool_pair("kernel_size", kernel_size)
        return (kernel, kernel if stride is None else pool_pair("stride", stride),
                pool_pair("padding", padding, minimum=0), pool_pair("dilation", dilation))
    kernel = (1, single("kernel_size", kernel_size))
    return (kernel, kernel if stride is None else (1, single("stride", stride)),
            (0, single("padding", padding, 0)), (1, single("dilation", dilation)))


# --------------------------------------------------------------------------- max, average
def _max_pool(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    kernel, stride, padding, dilation = pool_args(op, spatial, kernel_size, stride, padding,
                                                  dilation)

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        _, windows = _pool_geometry(op, x4, kernel, stride, padding, dilation, ceil_mode)
        y = MaxPool2d(windows, bool(return_indices)).apply(x4)
        if return_indices:  # the indices leave the graph: a constant, like torch's
            y = (y[0], Tensor._from_array(y[1].data))
        return map_outputs(y, lambda t: squeeze(t, 2)) if spatial == 1 else y

    return batched(op, x, spatial, pool)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.max_pool2d; stride defaults to kernel_size. Of tied maxima the first
    in raster order wins (its index is returned, and it gets the gradient).

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding, dilation: ints, 1-tuples or (h, w) pairs (stride None
            or () is kernel_size); padding (of -inf) at most half the kernel.
        ceil_mode: round the output size up (a last, partial window) instead of down.
        return_indices: also return each maximum's flat position in its (H, W) input
            plane (row * W + column), the indices max_unpool2d takes.

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - d (k - 1) - 1) // s + 1 (rounded up in ceil_mode,
        keeping every window's start inside the input or its top/left padding); with
        return_indices, (values, int64 indices of the same shape, no gradient).
    """
    return _max_pool("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over each kernel_size window of (N, C, L) or unbatched (C, L), as
    torch.nn.functional.max_pool1d: max_pool2d on a unit height.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding, dilation: ints (or 1-tuples); stride defaults to
            kernel_size.
        ceil_mode: round the output length up instead of down.
        return_indices: also return each maximum's position along L (for max_unpool1d).

    Returns:
        (N, C, L_out) with L_out = (L + 2p - d (k - 1) - 1) // s + 1; with return_indices,
        (values, int64 indices).
    """
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


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
    kernel, stride, padding, _ = pool_args(op, spatial, kernel_size, stride, padding)
    if divisor_override is not None and (
            not isinstance(divisor_override, (int, np.integer))
            or isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a nonzero int or None, got "
                         f"{divisor_override!r}")

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        outs, windows = _pool_geometry(op, x4, kernel, stride, padding, (1, 1), ceil_mode)
        divisor = int(divisor_override or kernel[0] * kernel[1])
        if divisor_override is None and (ceil_mode or (padding != (0, 0)
                                                       and not count_include_pad)):
            counts = [_window_counts(x4.shape[2 + a], outs[a], kernel[a], stride[a],
                                     padding[a], count_include_pad) for a in range(2)]
            divisor = np.outer(counts[0], counts[1])
        y = AvgPool2d(windows, divisor).apply(x4)
        return squeeze(y, 2) if spatial == 1 else y

    return batched(op, x, spatial, pool)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.avg_pool2d; stride defaults to kernel_size.

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding: ints, 1-tuples or (h, w) pairs (stride None or () is
            kernel_size); zero padding at most half the kernel.
        ceil_mode: round the output size up; a last, partial window averages the taps it
            has inside the padded input.
        count_include_pad: count the zero padding in a window's divisor (else only the
            input's taps).
        divisor_override: divide every window's sum by this nonzero int instead.

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


# --------------------------------------------------------------------------- upsampling
@tensor_args
def upsample_nearest2d(x: Tensor, scale_factor: int) -> Tensor:
    """Repeat every pixel of (N, C, H, W) scale_factor times along H and W.

    Built from reshape and expand, so its gradient (the sum over each block) comes free.
    """
    s = positive("scale_factor", scale_factor, op="upsample_nearest2d")
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d: x must be (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    # (N, C, H, W) -> (N, C, H, 1, W, 1) -> (N, C, H, s, W, s) -> (N, C, H*s, W*s)
    blocks = expand(reshape(x, (n, c, h, 1, w, 1)), (n, c, h, s, w, s))
    return reshape(blocks, (n, c, h * s, w * s))
