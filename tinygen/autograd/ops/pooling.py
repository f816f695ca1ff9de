"""Pooling: max and average pooling over 1-D and 2-D windows (max pooling optionally with
the indices max_unpool takes), and upsample_nearest2d. The adaptive pools are in
``pooling_adaptive.py``, max_unpool in ``unpooling.py``; both use the geometry helpers here.

Both pools are separable: a window's max (sum) is the max (sum) over its rows of each row's
max (sum). So each runs as two 1-D passes, along W then H, each a loop over the kernel's
taps on that axis with one strided view of the whole array per tap: no window copies, no
scatter. The gradient routing of max pooling factors the same way: torch keeps a window's
first maximum in raster order (a NaN counts as the maximum, and a later NaN replaces an
earlier one), which lies in the first row holding the window's maximum, at that row's first
maximum. Each pass keeps one boolean mask per tap (where that tap won); the gradient goes
back through them pass by pass with strided writes, and they give ``return_indices`` too.

Each backward is a linear map of the upstream gradient written as a differentiable op (two
ops that are each other's adjoint), so second derivatives flow through pooling too. The 1-D
ops are the 2-D ones on a unit height, and every op takes an unbatched input (no N axis).
"""

from __future__ import annotations

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, positive
from tinygen.autograd.ops.conv.functions import single
from tinygen.autograd.ops.shape import expand, reshape, squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the window's winner, PyTorch's: its first
    maximum in raster order, or its last NaN. ``windows`` holds per axis (H, then W) the
    window (kernel, stride, dilation, (start pad, end pad)); the padding is -inf and never
    wins (a window whose input taps are all -inf sends its gradient to the first of them, as
    torch does). With ``return_indices`` a second output holds each winner's flat position
    in its input plane (H*W), as torch reports it; it is an integer constant that receives
    no gradient."""

    def __init__(self, windows, return_indices=False):
        self.windows, self.return_indices = windows, return_indices

    def forward(self, x):
        xp = get_array_module(x)
        rows_window, cols_window = self.windows
        # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
        row_max, col_won = _max_along(x, 3, cols_window)
        y, row_won = _max_along(row_max, 2, rows_window)
        self.save_for_backward(row_won, col_won)  # boolean masks: constants to the graph
        self.input_shape = x.shape
        if not self.return_indices:
            return y
        return y, _winner_index(xp, row_won, col_won, self.windows, x.shape[3])

    def backward(self, gy, gindex=None):
        # dL/dx at each window's winner = the sum of gy over the windows it won; zero elsewhere
        row_won, col_won = self.saved_tensors
        return MaxPool2dScatter(self.windows, self.input_shape).apply(gy, row_won, col_won)


class MaxPool2dScatter(Function):
    """max_pool2d's gradient as an op: each window's value of gy (N, C, oh, ow) added at its
    winning tap of a zero (N, C, H, W), through the winner masks of the two passes."""

    def __init__(self, windows, input_shape):
        self.windows, self.input_shape = windows, input_shape

    def forward(self, gy, row_won, col_won):
        self.save_for_backward(row_won, col_won)
        height, width = self.input_shape[2:]
        # back along H: (N, C, oh, ow) -> (N, C, H, ow); then along W: -> (N, C, H, W)
        rows = _spread_along(gy, 2, self.windows[0], height, row_won)
        return _spread_along(rows, 3, self.windows[1], width, col_won)

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
        # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
        rows = _sum_along(x, 3, self.windows[1], col_won)
        return _sum_along(rows, 2, self.windows[0], row_won)

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
        # along W: (N, C, H, W) -> (N, C, H, ow); then along H: -> (N, C, oh, ow)
        sums = _sum_along(_sum_along(x, 3, self.windows[1]), 2, self.windows[0])
        return sums / _on(xp, self.divisor, x.dtype)

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
        share = gy / _on(xp, self.divisor, gy.dtype)
        # back along H: (N, C, oh, ow) -> (N, C, H, ow); then along W: -> (N, C, H, W)
        rows = _spread_along(share, 2, self.windows[0], height)
        return _spread_along(rows, 3, self.windows[1], width)

    def backward(self, ggx):
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.windows, self.divisor).apply(ggx)


def _on(xp, divisor, dtype):
    """The divisor on the array's device: an int as it is, a per-window array as ``dtype``."""
    return divisor if isinstance(divisor, int) else xp.asarray(divisor, dtype=dtype)


# --------------------------------------------------------------------------- 1-D passes
# A window along one axis is (kernel, stride, dilation, (start pad, end pad)); its taps are
# ``dilation`` apart, and window o's tap t reads padded position o * stride + t * dilation.
def _pad_along(xp, a, axis, pads, value):
    """``a`` with ``pads`` entries of ``value`` before and after it along ``axis``."""
    if not any(pads):
        return a
    widths = [(0, 0)] * a.ndim
    widths[axis] = pads
    return xp.pad(a, widths, constant_values=value)


def _taps(a, axis, window) -> list:
    """One strided view of ``a`` (padded along ``axis``) per tap: view t holds tap t of every
    window along ``axis``, so the axis becomes the number of windows."""
    kernel, stride, dilation, _ = window
    out = (a.shape[axis] - dilation * (kernel - 1) - 1) // stride + 1
    lead = (slice(None),) * axis
    return [a[lead + (slice(t * dilation, t * dilation + stride * (out - 1) + 1, stride),)]
            for t in range(kernel)]


def _tiles(window, length: int) -> bool:
    """Whether the windows tile a padded axis of ``length``: every position read once."""
    kernel, stride, dilation, _ = window
    return stride == kernel == dilation * (kernel - 1) + 1 and length % stride == 0


def _masked(xp, values, mask, finite: bool):
    """``values`` where ``mask``, else 0: a product when every value is ``finite`` (fast), a
    select otherwise, since NaN or inf times 0 would leak into the positions left out."""
    if finite:
        return values * mask
    return xp.where(mask, values, xp.zeros((), dtype=values.dtype))


def _inside(tap: int, window, size: int, out: int) -> tuple[int, int]:
    """The windows [first, end) whose ``tap`` reads the input, not its padding, along an axis
    of ``size`` with ``out`` windows."""
    kernel, stride, dilation, (before, _) = window
    offset = tap * dilation
    first = -(-(before - offset) // stride)
    end = -(-(before + size - offset) // stride)
    return min(max(first, 0), out), min(max(end, 0), out)


def _lowest(dtype):
    """The padding of a max pool, which no entry exceeds: -inf, or an integer type's least."""
    if dtype.kind == "f":
        return -np.inf
    return False if dtype.kind == "b" else np.iinfo(dtype).min


def _max_along(a, axis, window):
    """The max of each window along ``axis`` of ``a``, and where each tap won: (max, won)
    with won[t] true where tap t is the window's winner (its first maximum; its last NaN).
    ``won`` is (kernel, *max.shape) booleans."""
    xp = get_array_module(a)
    taps = _taps(_pad_along(xp, a, axis, window[3], _lowest(a.dtype)), axis, window)
    best = taps[0].copy() if len(taps) == 1 else xp.maximum(taps[0], taps[1])
    for tap in taps[2:]:
        xp.maximum(best, tap, out=best)
    won = xp.empty((len(taps),) + best.shape, dtype=bool)
    lead = (slice(None),) * axis
    free = None  # the windows no earlier tap has won
    for t, tap in enumerate(taps):
        hit = won[t]
        xp.equal(tap, best, out=hit)
        # the padding never wins: torch's kernel reads only the input's taps
        first, end = _inside(t, window, a.shape[axis], best.shape[axis])
        hit[lead + (slice(None, first),)] = False
        hit[lead + (slice(end, None),)] = False
        if free is None:
            free = ~hit
            continue
        xp.logical_and(hit, free, out=hit)
        if t < len(taps) - 1:
            xp.logical_xor(free, hit, out=free)
    nan = xp.isnan(best)
    if bool(nan.any()):
        # a NaN compares unequal to itself, so NaN windows have no winner yet: their last NaN
        for t in reversed(range(len(taps))):
            hit = xp.logical_and(xp.isnan(taps[t]), nan)
            xp.logical_or(won[t], hit, out=won[t])
            xp.logical_xor(nan, hit, out=nan)
    return best, won


def _sum_along(a, axis, window, won=None):
    """The sum of each window's taps along ``axis`` of ``a`` (zero padded), or with ``won``
    (from :func:`_max_along`) the value of each window's winning tap."""
    xp = get_array_module(a)
    padded = _pad_along(xp, a, axis, window[3], 0)
    if won is None and window[0] == padded.shape[axis]:
        return padded.sum(axis=axis, keepdims=True)  # one window over the whole axis
    taps = _taps(padded, axis, window)
    if won is not None:
        finite = bool(xp.isfinite(padded).all())
        taps = [_masked(xp, tap, won[t], finite) for t, tap in enumerate(taps)]
    total = taps[0] + taps[1] if len(taps) > 1 else taps[0].copy()
    for tap in taps[2:]:
        xp.add(total, tap, out=total)
    return total


def _spread_along(g, axis, window, size, won=None):
    """The adjoint of :func:`_sum_along`: each window's value of ``g`` added to each of its
    taps (with ``won``: to its winning tap only) along ``axis``, which becomes ``size`` long
    once the padding is cut off."""
    xp = get_array_module(g)
    kernel, stride, dilation, (before, after) = window
    shape = list(g.shape)
    shape[axis] = before + size + after
    if won is None and kernel == shape[axis]:  # one window over the whole axis
        total = xp.broadcast_to(g, tuple(shape)).copy()
    else:
        tiles = _tiles(window, shape[axis])
        total = xp.empty(shape, dtype=g.dtype) if tiles else xp.zeros(shape, dtype=g.dtype)
        disjoint = stride >= dilation * (kernel - 1) + 1  # no position in two windows
        finite = won is None or bool(xp.isfinite(g).all())
        for t, view in enumerate(_taps(total, axis, window)):
            if won is not None and finite and disjoint:
                xp.multiply(g, won[t], out=view)  # straight into place, no temporary
                continue
            part = g if won is None else _masked(xp, g, won[t], finite)
            if disjoint:
                view[...] = part
            else:
                view += part
    lead = (slice(None),) * axis
    return total[lead + (slice(before, before + size),)]


def _winner_index(xp, row_won, col_won, windows, width: int):
    """Each window's winner as its flat position row * W + column in the unpadded input
    plane: (N, C, oh, ow) int64."""
    (_, sh, dh, (top, _)), (_, sw, dw, (left, _)) = windows
    oh, ow = row_won.shape[-2:]
    # (kh, N, C, oh, ow) -> (N, C, oh, ow): the winning tap along H, and the row it reads
    rows = xp.arange(oh).reshape(oh, 1) * sh + row_won.argmax(axis=0) * dh - top
    # (kw, N, C, H, ow) -> (N, C, H, ow), read at each window's row -> (N, C, oh, ow)
    col_tap = xp.take_along_axis(col_won.argmax(axis=0), rows, axis=2)
    cols = xp.arange(ow).reshape(1, ow) * sw + col_tap * dw - left
    return (rows * width + cols).astype(xp.int64, copy=False)


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
