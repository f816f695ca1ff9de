"""The 1-D passes that max and average pooling are made of (``pooling.py``), on raw arrays.

A pooling window is separable: its max (sum) is the max (sum) over its rows of each row's max
(sum). So a 2-D pool is a pass along W, then one along H, and a pass is a loop over the
kernel's taps on its axis, each tap one view of the whole array (laid out so that the view is
contiguous, below): ``kernel`` vectorized operations, no window copies, no scatter. A max
pass also records where each tap won: torch keeps a window's first maximum in raster order (a
NaN counts as the maximum and a later NaN replaces an earlier one), which lies in the first
row holding the window's maximum, at that row's first maximum. The backward spreads the
gradient through those masks pass by pass (H, then W), the adjoint of the same views.

:func:`in_blocks` runs a pool's passes on blocks of the batch on several threads (NumPy
releases the GIL inside a ufunc's loop), as many as NumPy's BLAS may use, as PyTorch runs its
pooling kernels on its intra-op threads; ``threadpoolctl.threadpool_limits`` caps both.
"""

from __future__ import annotations

import math

import numpy as np

from tinygen.backend import blas_threads, even_blocks, get_array_module, run_blocks

#: A pool whose input has at least this many elements runs on blocks of the batch on several
#: threads; below it the hand-off costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 17


def in_blocks(kernel, *arrays, size: int | None = None) -> tuple:
    """``kernel(*arrays)`` (a tuple of arrays, each with the batch as its first axis), run
    on blocks of the batch across threads when the pool touches ``size`` elements (default:
    the first array's) of a CPU array, at least PARALLEL_MIN_SIZE, and NumPy may use several
    threads; the blocks' outputs are joined along the batch."""
    first = arrays[0]
    parts = 1
    if (first.size if size is None else size) >= PARALLEL_MIN_SIZE:
        parts = min(blas_threads(first), first.shape[0])
    if parts < 2:
        return kernel(*arrays)
    outputs = run_blocks(lambda low, high: kernel(*(array[low:high] for array in arrays)),
                         even_blocks(first.shape[0], parts))
    xp = get_array_module(first)
    return tuple(xp.concatenate(pieces, axis=0) for pieces in zip(*outputs))


# --------------------------------------------------------------------------- one axis
# A window along one axis is (kernel, stride, dilation, (start pad, end pad)); its taps are
# ``dilation`` apart, and window o's tap t reads padded position o * stride + t * dilation.
#
# A tap's plain strided view steps through memory ``stride`` entries at a time, in short runs
# (one per row of the axes before it): NumPy's strided loops are scalar, several times slower
# than its contiguous ones, and pay a call per run. So a pass first lays the padded axis out
# by phase: with the axes before it flattened into rows and those after it into a block, a
# row's padded positions m * stride + p (m < q, q >= the window count) go to phase p, rows
# end to end, plus ``extra`` windows of padding at the end. One copy; then tap t of every
# window is ONE contiguous run of phase (t * dilation) % stride. Windows past the real count
# read into the next row or the end padding: their results are junk, and are cropped.
def _out(window, size: int) -> int:
    """The number of windows along an axis of ``size``."""
    kernel, stride, dilation, (before, after) = window
    return (before + size + after - dilation * (kernel - 1) - 1) // stride + 1


def _flat(window, size: int) -> tuple[int, int]:
    """The phase layout of an axis of ``size``: (q windows a row, extra windows at the end,
    as far as a tap may shift)."""
    kernel, stride, dilation, (before, after) = window
    return -(-(before + size + after) // stride), (kernel - 1) * dilation // stride


def _phases(xp, a, axis, window, value):
    """``a`` padded by ``value`` along ``axis``, in the phase layout: (stride, rows * q +
    extra, block), rows the product of the axes before ``axis``, block of those after."""
    _, stride, _, (before, _) = window
    size = a.shape[axis]
    q, extra = _flat(window, size)
    rows, block = math.prod(a.shape[:axis]), math.prod(a.shape[axis + 1:])
    source = a.reshape(rows, size, block)
    phases = xp.empty((stride, rows * q + extra, block), dtype=a.dtype)
    phases[:, rows * q:] = value
    for phase in range(stride):
        # padded position m * stride + phase is the input's m * stride + phase - before
        first = min(q, max(0, -(-(before - phase) // stride)))
        end = min(q, max(first, -(-(before + size - phase) // stride)))
        start = first * stride + phase - before
        # (rows * q, block) -> (rows, q, block): phase's positions of each row
        target = phases[phase, :rows * q].reshape(rows, q, block)
        target[:, :first] = value
        target[:, first:end] = source[:, start:start + stride * (end - first):stride]
        target[:, end:] = value
    return phases


def _phase_taps(phases, shape, axis, window) -> list:
    """The taps of the phase layout of an array of ``shape``: view t is ``shape`` with q
    windows along ``axis``, window m reading padded position m * stride + t * dilation."""
    kernel, stride, dilation, _ = window
    q, extra = _flat(window, shape[axis])
    count = phases.shape[1] - extra  # rows * q
    views = []
    for t in range(kernel):
        shift, phase = divmod(t * dilation, stride)
        # (rows * q, block) -> (*shape[:axis], q, *shape[axis + 1:])
        views.append(phases[phase, shift:shift + count].reshape(
            shape[:axis] + (q,) + shape[axis + 1:]))
    return views


def _taps(xp, a, axis, window, value) -> list:
    """One contiguous view per tap of ``a`` padded by ``value`` along ``axis``: view t holds
    tap t of every window, ``axis`` becoming q >= the number of windows."""
    return _phase_taps(_phases(xp, a, axis, window, value), a.shape, axis, window)


def _plain_taps(a, window) -> list | None:
    """The taps along the last axis of a contiguous ``a`` as plain strided views, where each
    runs as one loop over the whole array (no padding, no window reaching past its row's
    share of ``stride``): a sum reads them once, faster than copying them into phases. None
    where they would not."""
    kernel, stride, dilation, pads = window
    if any(pads) or a.shape[-1] % stride or (kernel - 1) * dilation >= stride or not (
            a.flags.c_contiguous):
        return None
    return [a[..., t * dilation::stride] for t in range(kernel)]


def _crop(a, axis, stop):
    """``a``'s first ``stop`` entries along ``axis`` (a view)."""
    return a[(slice(None),) * axis + (slice(0, stop),)]


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


def max_along(a, axis, window):
    """The max of each window along ``axis`` (not 0) of ``a``, and where each tap won:
    (max, won) with won[:, t] true where tap t is the window's winner (its first maximum; its
    last NaN). ``won`` is (N, kernel, *windows) booleans, batch first as in_blocks splits it,
    with the phase layout's q windows along ``axis`` (those past the real count are junk)."""
    xp = get_array_module(a)
    taps = _taps(xp, a, axis, window, _lowest(a.dtype))
    best = taps[0].copy() if len(taps) == 1 else xp.maximum(taps[0], taps[1])
    for tap in taps[2:]:
        xp.maximum(best, tap, out=best)
    won = xp.empty(best.shape[:1] + (len(taps),) + best.shape[1:], dtype=bool)
    lead = (slice(None),) * axis
    free = None  # the windows no earlier tap has won
    for t, tap in enumerate(taps):
        hit = won[:, t]
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
            xp.logical_or(won[:, t], hit, out=won[:, t])
            xp.logical_xor(nan, hit, out=nan)
    return _crop(best, axis, _out(window, a.shape[axis])), won


def sum_along(a, axis, window, won=None):
    """The sum of each window's taps along ``axis`` of ``a`` (zero padded), or with ``won``
    (from :func:`max_along`) the value of each window's winning tap."""
    xp = get_array_module(a)
    kernel, _, _, (before, after) = window
    if won is None and kernel == before + a.shape[axis] + after:
        return a.sum(axis=axis, keepdims=True)  # one window over the whole axis
    taps = _plain_taps(a, window) if won is None and axis == a.ndim - 1 else None
    taps = _taps(xp, a, axis, window, 0) if taps is None else taps
    if won is not None:
        finite = bool(xp.isfinite(a).all())
        taps = [_masked(xp, tap, won[:, t], finite) for t, tap in enumerate(taps)]
    total = taps[0] + taps[1] if len(taps) > 1 else taps[0].copy()
    for tap in taps[2:]:
        xp.add(total, tap, out=total)
    return _crop(total, axis, _out(window, a.shape[axis]))


def spread_along(g, axis, window, size, won=None):
    """The adjoint of :func:`sum_along`: each window's value of ``g`` added to each of its
    taps (with ``won``: to its winning tap only) along ``axis``, which becomes ``size`` long
    once the padding is cut off."""
    xp = get_array_module(g)
    kernel, stride, dilation, (before, after) = window
    shape = list(g.shape)
    shape[axis] = before + size + after
    if won is None and kernel == shape[axis]:  # one window over the whole axis
        total = xp.broadcast_to(g, tuple(shape)).copy()
        return total[(slice(None),) * axis + (slice(before, before + size),)]
    # every position is written when the windows tile the axis
    tiles = stride == kernel == dilation * (kernel - 1) + 1
    if won is None and axis == g.ndim - 1:
        total = (xp.empty if tiles else xp.zeros)(g.shape[:-1] + (size,), dtype=g.dtype)
        views = _plain_taps(total, window)
        if views is not None:  # disjoint windows, each tap's positions written once
            for view in views:
                view[...] = g
            return total
    q, extra = _flat(window, size)
    if q > g.shape[axis]:  # the junk windows of the phase layout get nothing
        pad = list(g.shape)
        pad[axis] = q - g.shape[axis]
        g = xp.concatenate([g, xp.zeros(tuple(pad), dtype=g.dtype)], axis)
    rows, block = math.prod(g.shape[:axis]), math.prod(g.shape[axis + 1:])
    phases = (xp.empty if tiles else xp.zeros)((stride, rows * q + extra, block), g.dtype)
    disjoint = stride >= dilation * (kernel - 1) + 1  # no position in two windows
    finite = won is None or bool(xp.isfinite(g).all())
    product = xp.empty_like(g) if won is not None and finite and not disjoint else None
    views = _phase_taps(phases, g.shape[:axis] + (size,) + g.shape[axis + 1:], axis, window)
    for t, view in enumerate(views):
        if won is not None and finite and disjoint:
            xp.multiply(g, won[:, t], out=view)  # the product straight into place
            continue
        if won is None:
            part = g
        elif finite:
            part = xp.multiply(g, won[:, t], out=product)  # one temporary for all taps
        else:
            part = _masked(xp, g, won[:, t], finite)
        if disjoint:
            view[...] = part
        else:
            view += part
    # the phases interleaved back: (rows, q, stride, block), one copy per phase
    total = xp.empty((rows, q, stride, block), dtype=g.dtype)
    for phase in range(stride):
        total[:, :, phase] = phases[phase, :rows * q].reshape(rows, q, block)
    # (rows, q * stride, block), cropped to the input -> (*g.shape[:axis], size, ...)
    total = total.reshape(rows, q * stride, block)[:, before:before + size]
    return total.reshape(g.shape[:axis] + (size,) + g.shape[axis + 1:])


def winner_index(xp, row_won, col_won, windows, input_size, out_size):
    """Each window's winner as its flat position row * W + column in the unpadded input
    plane: (N, C, oh, ow) int64. ``row_won`` and ``col_won`` are the H and W passes' masks
    (with the phase layout's junk windows past ``out_size``), ``input_size`` is (H, W)."""
    (_, sh, dh, (top, _)), (_, sw, dw, (left, _)) = windows
    oh, ow = out_size
    # (N, kh, C, q, ow) -> (N, C, oh, ow): the winning tap along H, and the row it reads
    rows = xp.arange(oh).reshape(oh, 1) * sh + row_won[..., :oh, :].argmax(axis=1) * dh - top
    # (N, kw, C, H, q) -> (N, C, H, ow), read at each window's row -> (N, C, oh, ow)
    col_tap = xp.take_along_axis(col_won[..., :ow].argmax(axis=1), rows, axis=2)
    cols = xp.arange(ow).reshape(1, ow) * sw + col_tap * dw - left
    return (rows * input_size[1] + cols).astype(xp.int64, copy=False)
