"""The 1-D passes that max and average pooling are made of (``pooling.py``), on raw arrays.

A pooling window is separable: its max (sum) is the max (sum) over its rows of each row's max
(sum). So a 2-D pool is a pass along W, then one along H, and a pass is a loop over the
kernel's taps on its axis, each tap one strided view of the whole array: ``kernel``
vectorized operations, no window copies, no scatter. A max pass also records where each tap
won: torch keeps a window's first maximum in raster order (a NaN counts as the maximum and a
later NaN replaces an earlier one), which lies in the first row holding the window's maximum,
at that row's first maximum. The backward spreads the gradient through those masks pass by
pass (H, then W) with strided writes.

:func:`in_blocks` runs a pool's passes on blocks of the batch on several threads (NumPy
releases the GIL inside a ufunc's loop), as many as NumPy's BLAS may use, as PyTorch runs its
pooling kernels on its intra-op threads; ``threadpoolctl.threadpool_limits`` caps both.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tinygen.backend import blas_threads, get_array_module

#: A pool whose input has at least this many elements runs on blocks of the batch on several
#: threads; below it the hand-off costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 17
_pools: dict = {}  # process id -> ThreadPoolExecutor (a forked child makes its own)


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
    pool = _pools.get(os.getpid())
    if pool is None:
        pool = _pools[os.getpid()] = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="tinygen-pool")
    cuts = [first.shape[0] * index // parts for index in range(parts + 1)]
    blocks = [pool.submit(kernel, *(array[low:high] for array in arrays))
              for low, high in zip(cuts, cuts[1:])]
    outputs = [block.result() for block in blocks]
    xp = get_array_module(first)
    return tuple(xp.concatenate(parts, axis=0) for parts in zip(*outputs))


# --------------------------------------------------------------------------- one axis
# A window along one axis is (kernel, stride, dilation, (start pad, end pad)); its taps are
# ``dilation`` apart, and window o's tap t reads padded position o * stride + t * dilation.
#
# Along the last axis a tap's view would step through memory ``stride`` entries at a time,
# in short runs, one per row: NumPy's strided loops are scalar (about ten times slower than
# its contiguous ones) and pay a call per run. So there the padded rows are laid end to end
# in one flat buffer, each ``stride * q`` long (q >= the real window count), and split by
# position modulo the stride into ``stride`` contiguous phases: one copy, after which tap t
# of every window of every row is ONE contiguous run of a phase. Windows past the real count
# read into the next row or the tail: their results are junk, and are cropped.
def _out(window, size: int) -> int:
    kernel, stride, dilation, (before, after) = window
    return (before + size + after - dilation * (kernel - 1) - 1) // stride + 1


def _flat(window, size: int) -> tuple[int, int, int]:
    """Along the last axis: (q windows a row, row width stride * q, extra windows a tap may
    shift by past the last row)."""
    kernel, stride, dilation, (before, after) = window
    q = -(-(before + size + after) // stride)
    return q, q * stride, (kernel - 1) * dilation // stride


def _pad_along(xp, a, axis, pads, value):
    """``a`` with ``pads`` entries of ``value`` before and after it along ``axis``."""
    if not any(pads):
        return a
    widths = [(0, 0)] * a.ndim
    widths[axis] = pads
    return xp.pad(a, widths, constant_values=value)


def _phases(xp, a, window, value):
    """``a`` padded along its last axis (by ``value``) in the flat row layout, split into
    its phases: (stride, rows * q + extra), row p holding the positions equal to p modulo
    the stride."""
    (_, stride, _, (before, _)), size = window, a.shape[-1]
    q, width, extra = _flat(window, size)
    if width == size and not before and not extra:
        buffer = xp.ascontiguousarray(a).reshape(-1)
    else:
        buffer = xp.empty(a.size // size * width + extra * stride, dtype=a.dtype)
        rows = buffer[:buffer.size - extra * stride].reshape(a.shape[:-1] + (width,))
        rows[..., before:before + size] = a
        rows[..., :before] = value
        rows[..., before + size:] = value
        buffer[buffer.size - extra * stride:] = value
    # (windows, stride) -> (stride, windows): one strided copy
    return buffer.reshape(1, -1) if stride == 1 else buffer.reshape(-1, stride).T.copy()


def _row_taps(phases, shape, window) -> list:
    """The taps of the flat row layout, each a contiguous run of a phase shaped
    (*shape[:-1], q): window m of a row read at m * stride + t * dilation of that row."""
    kernel, stride, dilation, _ = window
    q = _flat(window, shape[-1])[0]
    count = phases.shape[1] - _flat(window, shape[-1])[2]  # the windows of all rows
    views = []
    for t in range(kernel):
        shift, phase = divmod(t * dilation, stride)
        views.append(phases[phase, shift:shift + count].reshape(shape[:-1] + (q,)))
    return views


def _taps(xp, a, axis, window, value) -> list:
    """One view per tap of ``a`` padded by ``value`` along ``axis``: view t holds tap t of
    every window, the axis becoming the windows (q of them along the last axis)."""
    if axis == a.ndim - 1:
        return _row_taps(_phases(xp, a, window, value), a.shape, window)
    kernel, stride, dilation, pads = window
    padded = _pad_along(xp, a, axis, pads, value)
    out = _out(window, a.shape[axis])
    lead = (slice(None),) * axis
    return [padded[lead + (slice(t * dilation, t * dilation + stride * (out - 1) + 1, stride),)]
            for t in range(kernel)]


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
    last NaN). ``won`` is (N, kernel, *windows) booleans, batch first as in_blocks splits it;
    along the last axis it keeps the flat layout's q windows a row."""
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
    taps = _taps(xp, a, axis, window, 0)
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
    last = axis == g.ndim - 1
    length = _flat(window, size)[1] if last else shape[axis]
    # every position is written when the windows tile the axis (the flat rows: all of them)
    tiles = stride == kernel == dilation * (kernel - 1) + 1 and length % stride == 0
    if last:
        q, width, extra = _flat(window, size)
        if q > g.shape[-1]:  # the junk windows of the flat layout get nothing
            g = xp.concatenate([g, xp.zeros(g.shape[:-1] + (q - g.shape[-1],), g.dtype)], -1)
        phases = (xp.empty if tiles else xp.zeros)((stride, g.size + extra), dtype=g.dtype)
        views = _row_taps(phases, g.shape[:-1] + (size,), window)
    else:
        total = (xp.empty if tiles else xp.zeros)(shape, dtype=g.dtype)
        out = g.shape[axis]
        views = [total[(slice(None),) * axis + (slice(t * dilation, t * dilation + stride * (
            out - 1) + 1, stride),)] for t in range(kernel)]
    disjoint = stride >= dilation * (kernel - 1) + 1  # no position in two windows
    finite = won is None or bool(xp.isfinite(g).all())
    product = xp.empty_like(g) if won is not None and finite and not disjoint else None
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
    if last:
        # (stride, windows) -> (windows, stride): the phases interleaved back into rows,
        # one long strided copy per phase
        rows = phases[0, :g.size] if stride == 1 else xp.empty((g.size, stride), g.dtype)
        for phase in range(stride if stride > 1 else 0):
            rows[:, phase] = phases[phase, :g.size]
        total = rows.reshape(g.shape[:-1] + (width,))
    return total[(slice(None),) * axis + (slice(before, before + size),)]


def winner_index(xp, row_won, col_won, windows, width: int):
    """Each window's winner as its flat position row * W + column in the unpadded input
    plane: (N, C, oh, ow) int64."""
    (_, sh, dh, (top, _)), (_, sw, dw, (left, _)) = windows
    oh, ow = row_won.shape[-2:]
    # (N, kh, C, oh, ow) -> (N, C, oh, ow): the winning tap along H, and the row it reads
    rows = xp.arange(oh).reshape(oh, 1) * sh + row_won.argmax(axis=1) * dh - top
    # (N, kw, C, H, q) -> (N, C, H, ow), read at each window's row -> (N, C, oh, ow)
    col_tap = xp.take_along_axis(col_won.argmax(axis=1)[..., :ow], rows, axis=2)
    cols = xp.arange(ow).reshape(1, ow) * sw + col_tap * dw - left
    return (rows * width + cols).astype(xp.int64, copy=False)
