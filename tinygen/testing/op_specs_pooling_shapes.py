"""Specs for 2-D pooling with rectangular geometry: kernel, stride, padding and dilation
drawn as (h, w) pairs whose two sides differ, on inputs whose height and width differ.

A square window hides a swapped or shared side (the height's stride applied to the width,
a padding read from the wrong axis); these specs draw the two sides apart whenever the
input leaves room, in every mode (ceil_mode, count_include_pad, divisor_override).

Each reference is written from PyTorch's documented definition, one output entry at a time:
the pooled length per axis, then the taps ``o * stride - padding + dilation * t`` of each
window, of which only those inside the input are read.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import pooling
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, distinct_arrays, floats


def _pooled_length(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """PyTorch's output length along one axis: floor (or ceil) of the span over the stride,
    plus one; in ceil mode a last window that starts past the input and its start-side
    padding is dropped."""
    room = (size + 2 * pad - dilation * (kernel - 1) - 1) / stride
    out = (math.ceil(room) if ceil_mode else math.floor(room)) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _taps(index, size, kernel, stride, pad, dilation) -> list:
    """The input positions window ``index`` reads along one axis (padding taps left out)."""
    start = index * stride - pad
    return [start + dilation * t for t in range(kernel) if 0 <= start + dilation * t < size]


def _padded_taps(index, size, kernel, stride, pad) -> int:
    """How many of the window's taps lie inside the zero-padded input along one axis."""
    start = index * stride - pad
    return sum(1 for t in range(kernel) if -pad <= start + t < size + pad)


def _max_pool2d_reference(x, kernel_size, stride, padding, dilation, ceil_mode):
    n, c, height, width = x.shape
    geometry = list(zip((height, width), kernel_size, stride, padding, dilation))
    oh, ow = (_pooled_length(*axis, ceil_mode) for axis in geometry)
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        rows = _taps(i, *geometry[0])
        for j in range(ow):
            cols = _taps(j, *geometry[1])
            y[:, :, i, j] = np.max(x[:, :, rows, :][:, :, :, cols], axis=(2, 3))
    return y


def _avg_pool2d_reference(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override):
    n, c, height, width = x.shape
    geometry = list(zip((height, width), kernel_size, stride, padding))
    oh, ow = (_pooled_length(*axis, 1, ceil_mode) for axis in geometry)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        rows = _taps(i, *geometry[0], 1)
        for j in range(ow):
            cols = _taps(j, *geometry[1], 1)
            total = x[:, :, rows, :][:, :, :, cols].sum(axis=(2, 3))
            if divisor_override is not None:
                divisor = divisor_override
            elif count_include_pad:
                divisor = _padded_taps(i, *geometry[0]) * _padded_taps(j, *geometry[1])
            else:
                divisor = len(rows) * len(cols)
            y[:, :, i, j] = total / divisor
    return y


def _rectangles() -> st.SearchStrategy:
    """(N, C, H, W) with H and W drawn apart (2-6 each)."""
    return st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(2, 6),
                     st.integers(2, 6)).filter(lambda shape: shape[2] != shape[3])


def _apart(draw, low: int, high: int, other: int) -> int:
    """An int in [low, high] different from ``other`` when the range allows one."""
    choices = [v for v in range(low, high + 1) if v != other]
    return draw(st.sampled_from(choices)) if choices else other


def _geometry(draw, sizes) -> dict:
    """kernel_size, stride and padding pairs, each with its two sides apart where possible."""
    kh = draw(st.integers(1, min(3, sizes[0])))
    kernel = (kh, _apart(draw, 1, min(3, sizes[1]), kh))
    sh = draw(st.integers(1, 3))
    stride = (sh, _apart(draw, 1, 3, sh))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    return {"kernel_size": kernel, "stride": stride, "padding": padding,
            "ceil_mode": draw(st.booleans())}


def _max_pool_kwargs(arrays_):
    @st.composite
    def draw_kwargs(draw):
        sizes = arrays_[0].shape[2:]
        kwargs = _geometry(draw, sizes)
        kwargs["dilation"] = tuple(
            draw(st.sampled_from([d for d in (1, 2) if d * (k - 1) + 1 <= size]))
            for k, size in zip(kwargs["kernel_size"], sizes))
        return kwargs

    return draw_kwargs()


def _avg_pool_kwargs(arrays_):
    @st.composite
    def draw_kwargs(draw):
        kwargs = _geometry(draw, arrays_[0].shape[2:])
        kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
        return kwargs

    return draw_kwargs()


register(OpSpec("max_pool2d_rectangular", pooling.max_pool2d, _max_pool2d_reference,
                st.tuples(distinct_arrays(shape=_rectangles())), kwargs=_max_pool_kwargs))
register(OpSpec("avg_pool2d_rectangular", pooling.avg_pool2d, _avg_pool2d_reference,
                st.tuples(arrays(_rectangles(), elements=floats(-2.0, 2.0))),
                kwargs=_avg_pool_kwargs))
