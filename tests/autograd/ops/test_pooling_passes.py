"""The 1-D pooling passes (tinygen/autograd/ops/pooling_passes.py) against plain NumPy.

Each pass lays its axis out by phase, computes windows past the real count, and crops them;
these tests draw the geometry (kernel, stride, dilation, both paddings) and the axis (H or
W), and check the passes against windows cut one by one from an explicitly padded array.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tinygen.autograd.ops.pooling_passes import max_along, spread_along, sum_along


@st.composite
def _passes(draw):
    """(a, axis, window): a (N, C, H, W) array and a window with at least one output."""
    kernel, stride, dilation = (draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                                draw(st.integers(1, 2)))
    pads = (draw(st.integers(0, kernel // 2)), draw(st.integers(0, kernel + 1)))
    axis = draw(st.sampled_from([2, 3]))
    span = dilation * (kernel - 1) + 1
    size = draw(st.integers(max(1, span - sum(pads)), 9))
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 3)), 3, 4]
    shape[axis] = size
    a = np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal(shape)
    return a, axis, (kernel, stride, dilation, pads)


def _windows(a, axis, window, value):
    """(..., out, kernel) along ``axis``: every window's taps, cut from a padded copy."""
    kernel, stride, dilation, pads = window
    widths = [(0, 0)] * a.ndim
    widths[axis] = pads
    padded = np.moveaxis(np.pad(a, widths, constant_values=value), axis, -1)
    out = (padded.shape[-1] - dilation * (kernel - 1) - 1) // stride + 1
    taps = [[o * stride + t * dilation for t in range(kernel)] for o in range(out)]
    return padded[..., taps]


@given(_passes())
def test_sum_along_sums_each_windows_taps(case):
    a, axis, window = case
    expected = np.moveaxis(_windows(a, axis, window, 0.0).sum(-1), -1, axis)

    np.testing.assert_allclose(sum_along(a, axis, window), expected, rtol=1e-12, atol=1e-12)


@given(_passes())
def test_spread_along_is_the_adjoint_of_sum_along(case):
    a, axis, window = case
    total = sum_along(a, axis, window)
    g = np.random.default_rng(1).standard_normal(total.shape)

    spread = spread_along(g, axis, window, a.shape[axis])

    assert spread.shape == a.shape
    np.testing.assert_allclose((total * g).sum(), (a * spread).sum(), rtol=1e-10, atol=1e-12)


@given(_passes())
def test_max_along_marks_each_windows_first_maximum_once(case):
    a, axis, window = case
    windows = _windows(a, axis, window, -np.inf)
    best, won = max_along(a, axis, window)

    np.testing.assert_array_equal(best, np.moveaxis(windows.max(-1), -1, axis))
    # the masks of the real windows: (N, kernel, ...) -> (..., out, kernel) like ``windows``
    real = np.moveaxis(won, 1, -1)[(slice(None),) * axis + (slice(0, best.shape[axis]),)]
    first = np.eye(window[0], dtype=bool)[windows.argmax(-1)]  # distinct draws: no ties
    first[np.isneginf(windows.max(-1))] = False  # all padding (dilated): nothing wins
    np.testing.assert_array_equal(np.moveaxis(real, axis, -2), first)
