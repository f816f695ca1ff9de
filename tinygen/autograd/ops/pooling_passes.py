"""The 1-D passes that max and average pooling are made of (``pooling.py``), on raw arrays.

A pooling window is separable: its max (sum) is the max (sum) over its rows of each row's max
(sum). So a 2-D pool is a pass along W, then one along H, and a pass is a loop over the
kernel's taps on its axis, each tap one view of the whole array (laid out so that the view is
contiguous, below): ``kernel`` vectorized operations, no window copies, no scatter. A max
pass also records where each tap won: torch keeps a window's first maximum in raster order (a
NaN counts as the maximum and a later NaN replaces an earlier one), which lies in the first
row holding the window's maximum, at that row's first maximum. The backward spreads the
gradient through those masks pass by pass (H, then W), the adjoint of the same views.

Each pass streams over the whole array it reads several times (a copy into phases, a compare
or an add per tap), so :func:`in_chunks` runs a pool's passes on chunks of its planes (the
N * C axis) small enough that one chunk's arrays stay in a core's cache, and the chunks on as
many threads as NumPy's BLAS may use (NumPy releases the GIL inside a ufunc's loop), as
PyTorch runs its pooling kernels on its intra-op threads; ``threadpool_limits`` caps both.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from tinygen.backend import blas_threads, even_blocks, get_array_module, run_blocks

#: A chunk of planes holds about this much of the pool's input (bytes): the passes over it
#: then stay in cache (1 MiB of L2 a core, 32 MiB of L3 shared, on the 2-core EPYC measured)
#: instead of streaming each of their arrays through memory. Forward + backward at one
#: thread, CPU ms, whole batch -> chunks of 256 KiB / 1 MiB / 2 MiB / 4 MiB (min of 30,
#: interleaved, load ~5): max_pool2d 3x3 s2 p1 on (64, 64, 32, 32) 22.6 -> 22.3 / 17.4 /
#: 16.6 / 16.8; max_pool2d 2x2 on (64, 64, 24, 24) 6.7 -> 8.9 / 6.8 / 6.4 / 6.2; avg_pool2d
#: 2x2 on (64, 64, 32, 32) 6.9 -> 8.5 / 7.0 / 6.9 / 6.8 (small chunks pay more Python per
#: pass than the cache saves; 2 MiB leaves two threads several chunks each).
CHUNK_BYTES = 1 << 21
#: A pool whose input has at least this many elements runs its chunks on several threads;
#: below it the hand-off costs about what it saves. A second chunk and the hand-off to the
#: worker add 0.16-0.25 ms of serial work (max_pool2d 2x2, forward + backward, two chunks run
#: one after the other on a loaded machine: 0.44 -> 0.60 ms at 147K elements, 0.78 -> 0.94
#: at 295K, 1.49 -> 1.74 at 590K), so two threads gain at most 15% at 2^17 elements and 30%
#: at 2^18.
PARALLEL_MIN_SIZE = 1 << 18


def in_chunks(kernel, *arrays, size: int | None = None, out=None) -> tuple:
    """``kernel(*arrays)``: a tuple of arrays, each with the planes (N * C) as its first axis
    like every array it takes, run on chunks of about CHUNK_BYTES of the pool's input (it
    touches ``size`` elements, default the first array's), the chunks split between threads
    when the pool touches at least PARALLEL_MIN_SIZE elements of a CPU array and NumPy may
    use several threads. Each chunk's outputs are written into the joined outputs; with
    ``out`` (the joined first output, contiguous) the kernel gets its chunk of it as ``out=``
    and writes it there itself (no copy of the largest output). Preallocated outputs may
    also come among ``arrays``: cut into the same chunks, the kernel writes its chunk of
    them in place (and returns ``()`` when that is all it writes)."""
    first = arrays[0]
    planes = first.shape[0]
    size = first.size if size is None else size
    if get_array_module(first) is not np:  # a GPU runs the whole batch in one launch a pass
        return kernel(*arrays) if out is None else kernel(*arrays, out=out)
    parts = blas_threads(first) if size >= PARALLEL_MIN_SIZE else 1
    count = -(-size * first.itemsize // CHUNK_BYTES)
    count = min(planes, -(-count // parts) * parts)  # as many chunks on each thread
    if count < 2:
        return kernel(*arrays) if out is None else kernel(*arrays, out=out)
    outputs = []  # the joined outputs, allocated once a first chunk gives their shapes
    allocating = threading.Lock()

    def run(low, high):
        if out is None:
            pieces = kernel(*(array[low:high] for array in arrays))
        else:
            pieces = kernel(*(array[low:high] for array in arrays), out=out[low:high])
        with allocating:
            if not outputs:
                outputs.extend(np.empty((planes,) + piece.shape[1:], dtype=piece.dtype)
                               for piece in pieces)
                if out is not None:
                    outputs[0] = out
        for output, piece in zip(outputs[out is not None:], pieces[out is not None:]):
            output[low:high] = piece

    spans = even_blocks(planes, count)
    run_blocks(lambda start, stop: [run(*span) for span in spans[start:stop]],
               even_blocks(count, min(parts, count)))
    return tuple(outputs)


def planes(a):
    """(N, C, H, W) -> (N * C, 1, H, W): the pools' passes see each plane as a sample."""
    return a.reshape((-1, 1) + a.shape[2:])


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
def window_count(window, size: int) -> int:
    """The number of windows along an axis of ``size``."""
    kernel, stride, dilation, (before, after) = window
    return (before + size + after - dilation * (kernel - 1) - 1) // stride + 1


def _flat(window, size: int) -> tuple[int, int]:
    """The phase layout of an axis of ``size``: (q windows a row, extra windows at the end,
    as far as a tap may shift)."""
    kernel, stride, dilation, (before, after) = window
    return -(-(before + size + after) // stride), (kernel - 1) * dilation // stride


def phase_count(window, size: int) -> int:
    """The q >= window_count windows a row of the phase layout has along an axis of ``size``:
    the length of that axis in :func:`max_along`'s masks."""
    return _flat(window, size)[0]


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
        first, end, start = _phase_span(phase, window, size, q)
        # (rows * q, block) -> (rows, q, block): phase's positions of each row
        target = phases[phase, :rows * q].reshape(rows, q, block)
        target[:, :first] = value
        target[:, first:end] = source[:, start:start + stride * (end - first):stride]
        target[:, end:] = value
    return phases


def _phase_span(phase: int, window, size: int, q: int) -> tuple[int, int, int]:
    """The positions m in [first, end) of ``phase`` (of q) that read the input of ``size``,
    not its padding, and the input position the first of them reads: (first, end, start)."""
    _, stride, _, (before, _) = window
    # padded position m * stride + phase is the input's m * stride + phase - before
    first = min(q, max(0, -(-(before - phase) // stride)))
    end = min(q, max(first, -(-(before + size - phase) // stride)))
    start = first * stride + phase - before
    return first, end, start


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


def _plain_taps(a, axis, window) -> list | None:
    """The taps along ``axis`` of a contiguous ``a`` as plain strided views, where each runs
    as one loop over the whole array (no padding, no window reaching past its row's share of
    ``stride``): a sum reads them once, faster than copying them into phases. None where
    they would not."""
    kernel, stride, dilation, pads = window
    if any(pads) or a.shape[axis] % stride or (kernel - 1) * dilation >= stride or not (
            a.flags.c_contiguous):
        return None
    lead = (slice(None),) * axis
    return [a[lead + (slice(t * dilation, None, stride),)] for t in range(kernel)]


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


def max_along(a, axis, window, out=None, won=None, winners: bool = True):
    """The max of each window along ``axis`` (not 0) of ``a``, and where each tap won:
    (max, won) with won[:, t] true where tap t is the window's winner (its first maximum; its
    last NaN). ``won`` is (N, kernel, *windows) booleans, batch first as in_chunks cuts it,
    with the phase layout's q windows along ``axis`` (:func:`phase_count`; those past the
    real count are junk). Written into ``out`` (contiguous) and ``won`` where given; without
    ``winners``, the max alone (won None: no backward will ask where)."""
    xp = get_array_module(a)
    taps = _taps(xp, a, axis, window, _lowest(a.dtype))
    count = window_count(window, a.shape[axis])
    # the max straight into ``out`` when the phase layout has no junk windows to crop
    best = out if out is not None and taps[0].shape[axis] == count else None
    if len(taps) > 1:
        best = xp.maximum(taps[0], taps[1], out=best)
    elif best is None:
        best = taps[0].copy()
    else:
        best[...] = taps[0]
    for tap in taps[2:]:
        xp.maximum(best, tap, out=best)
    if winners:
        if won is None:  # tap-major, so that each tap's mask won[:, t] is one contiguous run
            won = xp.moveaxis(xp.empty((len(taps),) + best.shape, dtype=bool), 0, 1)
        _mark_winners(xp, taps, best, won, axis, window, a.shape[axis])
    if out is not None and best is not out:
        out[...] = _crop(best, axis, count)
        return out, won
    return _crop(best, axis, count), won


def _mark_winners(xp, taps, best, won, axis, window, size: int) -> None:
    """won[:, t] = where tap t is its window's winner: its first maximum, its last NaN;
    never a tap that reads the padding."""
    lead = (slice(None),) * axis
    # the windows no earlier tap has won; in the end the last tap's mask, since outside NaN
    # windows (fixed below) the maximum no earlier tap equals is the last tap's
    free = won[:, -1]
    free[...] = True
    for t in range(len(taps)):
        hit = won[:, t]
        if t < len(taps) - 1:
            xp.equal(taps[t], best, out=hit)
        # the padding never wins: torch's kernel reads only the input's taps
        first, end = _inside(t, window, size, best.shape[axis])
        if first > 0:
            hit[lead + (slice(None, first),)] = False
        if end < best.shape[axis]:
            hit[lead + (slice(end, None),)] = False
        if t == len(taps) - 1:
            break
        if t > 0:
            xp.logical_and(hit, free, out=hit)
        xp.logical_xor(free, hit, out=free)
    if best.dtype.kind == "f" and best.size and bool(xp.isnan(best.max())):
        # a NaN compares unequal to itself, so NaN windows have no winner yet (but the last
        # tap's mask, all that is left free): their last NaN wins
        nan = xp.isnan(best)
        xp.logical_and(won[:, -1], ~nan, out=won[:, -1])
        for t in reversed(range(len(taps))):
            hit = xp.logical_and(xp.isnan(taps[t]), nan)
            xp.logical_or(won[:, t], hit, out=won[:, t])
            xp.logical_xor(nan, hit, out=nan)


def sum_along(a, axis, window, won=None, out=None):
    """The sum of each window's taps along ``axis`` of ``a`` (zero padded), or with ``won``
    (from :func:`max_along`) the value of each window's winning tap; written into ``out``
    (that shape) if given."""
    xp = get_array_module(a)
    kernel, _, _, (before, after) = window
    if won is None and kernel == before + a.shape[axis] + after:
        # one window over the whole axis
        return a.sum(axis=axis, keepdims=True, out=out)
    taps = _plain_taps(a, axis, window) if won is None else None
    taps = _taps(xp, a, axis, window, 0) if taps is None else taps
    if won is not None:
        finite = bool(xp.isfinite(a).all())
        taps = [_masked(xp, tap, won[:, t], finite) for t, tap in enumerate(taps)]
    count = window_count(window, a.shape[axis])
    if out is not None and taps[0].shape[axis] != count:  # phases' junk windows to crop
        out[...] = sum_along(a, axis, window, won)
        return out
    if len(taps) == 1:
        if out is None:
            return taps[0].copy()
        out[...] = taps[0]
        return out
    total = xp.add(taps[0], taps[1], out=out)
    for tap in taps[2:]:
        xp.add(total, tap, out=total)
    return _crop(total, axis, count)


def spread_along(g, axis, window, size, won=None, out=None, finite=None):
    """The adjoint of :func:`sum_along`: each window's value of ``g`` added to each of its
    taps (with ``won``: to its winning tap only) along ``axis``, which becomes ``size`` long
    once the padding is cut off; written into ``out`` (contiguous, that shape) if given.
    ``finite``: whether every value of ``g`` is finite, if the caller knows (masking with
    ``won`` is then a product)."""
    xp = get_array_module(g)
    kernel, stride, dilation, (before, after) = window
    shape = g.shape[:axis] + (size,) + g.shape[axis + 1:]
    if out is None:
        out = xp.empty(shape, dtype=g.dtype)
    if won is None and kernel == before + size + after:  # one window over the whole axis
        out[...] = g
        return out
    # every position is written when the windows tile the axis
    tiles = stride == kernel == dilation * (kernel - 1) + 1
    if won is None and axis == g.ndim - 1:
        views = _plain_taps(out, axis, window)
        if views is not None:  # disjoint windows, each tap's positions written once
            if not tiles:
                out[...] = 0
            for view in views:
                view[...] = g
            return out
    q, extra = _flat(window, size)
    rows, block = math.prod(g.shape[:axis]), math.prod(g.shape[axis + 1:])
    if won is None and tiles and before == after == 0 and q * stride == size:
        # windows that tile the axis exactly: g copied straight into each tap's strided view
        # of ``out`` (a copy into phases and one back would be two passes a tap). Not with
        # ``won``: a product of a bool mask into a strided view runs NumPy's buffered loop,
        # twice as slow as the product into phases and its copy back (max_pool2d 2x2)
        # (*shape[:axis], size, ...) -> (*shape[:axis], q, stride, ...)
        target = out.reshape(g.shape[:axis] + (q, stride) + g.shape[axis + 1:])
        for t in range(kernel):
            target[(slice(None),) * (axis + 1) + (t,)] = g
        return out
    if q > g.shape[axis]:  # the junk windows of the phase layout get nothing
        pad = list(g.shape)
        pad[axis] = q - g.shape[axis]
        g = xp.concatenate([g, xp.zeros(tuple(pad), dtype=g.dtype)], axis)
    phases = (xp.empty if tiles else xp.zeros)((stride, rows * q + extra, block), g.dtype)
    if finite is None:
        finite = won is None or bool(xp.isfinite(g).all())
    product, written = None, set()  # one temporary for all taps; the phases written so far
    for t, view in enumerate(_phase_taps(phases, shape, axis, window)):
        phase = t * dilation % stride
        if phase not in written:  # the phase's first tap: its share straight into place
            written.add(phase)
            if won is None:
                view[...] = g
            elif finite:
                xp.multiply(g, won[:, t], out=view)
            else:
                view[...] = _masked(xp, g, won[:, t], finite)
            continue
        if won is None:
            part = g
        elif finite:
            product = xp.multiply(g, won[:, t], out=product)
            part = product
        else:
            part = _masked(xp, g, won[:, t], finite)
        view += part
    # the phases interleaved back, the padding cut off: one strided copy per phase
    target = out.reshape(rows, size, block)  # (*shape[:axis], size, ...) -> (rows, size, block)
    for phase in range(stride):
        first, end, start = _phase_span(phase, window, size, q)
        # (rows * q, block) -> (rows, q, block): phase's positions of each row
        source = phases[phase, :rows * q].reshape(rows, q, block)
        target[:, start:start + stride * (end - first):stride] = source[:, first:end]
    return out


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
