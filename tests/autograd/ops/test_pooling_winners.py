"""Which entry of a max-pooling window wins: PyTorch's rule, checked against loops.

PyTorch's CPU kernel scans a window's input taps in raster order, starting from the first
one, and lets a tap replace the running winner when it is greater or is NaN. So of tied
maxima the first wins, of several NaNs the last, and the -inf padding never does (a
window of -inf sends its gradient to its first input tap). The window's whole gradient goes
to that one entry; overlapping windows add up. The registry's inputs never tie, so these
tests draw inputs made of ties, NaN and -inf (entries from {0, 1, NaN, -inf}) and check
values, indices and gradients against that scan written out as loops. The upstream
gradients are distinct powers of two, so every sum is exact and a misrouted share shows.
tests/autograd/ops/test_pooling_torch.py runs the same kind of inputs beside torch.
"""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad

TIE_HEAVY = st.sampled_from([0.0, 1.0, 1.0, 0.0, math.nan, -math.inf])


def _pooled_length(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    room = (size + 2 * pad - dilation * (kernel - 1) - 1) / stride
    out = (math.ceil(room) if ceil_mode else math.floor(room)) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # a last window must start inside the input or its start-side padding
    return out


def _scan_reference(x, upstream, kernel, stride, padding, dilation, ceil_mode):
    """Values, flat indices and the input gradient by PyTorch's scan, one window at a time.
    A dilated window can fall wholly in the padding: its value is -inf and its index -1
    (torch reports a position outside the plane there, which no caller can use)."""
    n, c, height, width = x.shape
    oh, ow = (_pooled_length(size, *axis, ceil_mode) for size, axis in
              zip((height, width), zip(kernel, stride, padding, dilation)))
    values, indices = np.empty((n, c, oh, ow)), np.empty((n, c, oh, ow), dtype=np.int64)
    gx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    best, winner = -math.inf, None
                    for a in range(kernel[0]):
                        row = i * stride[0] - padding[0] + a * dilation[0]
                        for e in range(kernel[1]):
                            col = j * stride[1] - padding[1] + e * dilation[1]
                            if not (0 <= row < height and 0 <= col < width):
                                continue
                            value = x[b, ch, row, col]
                            if winner is None or value > best or math.isnan(value):
                                best, winner = value, (row, col)
                    values[b, ch, i, j] = best
                    if winner is None:  # all padding (dilated): no entry, no gradient
                        indices[b, ch, i, j] = -1
                        continue
                    indices[b, ch, i, j] = winner[0] * width + winner[1]
                    gx[b, ch][winner] += upstream[b, ch, i, j]
    return values, indices, gx


@st.composite
def _pooling_cases(draw):
    """(x, kwargs): a tie-heavy (N, C, H, W) input and a geometry with a nonempty output."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    ceil_mode = draw(st.booleans())
    sizes = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 7))
                  for k, p, d in zip(kernel, padding, dilation))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + sizes
    x = draw(arrays(np.float64, shape, elements=TIE_HEAVY))
    return x, {"kernel_size": kernel, "stride": stride, "padding": padding,
               "dilation": dilation, "ceil_mode": ceil_mode}


@given(_pooling_cases())
def test_max_pool2d_values_indices_and_gradient_follow_pytorchs_scan(case):
    x_values, kwargs = case
    x = tg.tensor(x_values, requires_grad=True)
    y, indices = F.max_pool2d(x, return_indices=True, **kwargs)
    upstream = 2.0 ** -np.arange(y.numel()).reshape(y.shape)
    (gx,) = grad(y, [x], [upstream])

    expected_values, expected_indices, expected_gx = _scan_reference(
        x_values, upstream, kwargs["kernel_size"], kwargs["stride"], kwargs["padding"],
        kwargs["dilation"], kwargs["ceil_mode"])
    np.testing.assert_array_equal(y.numpy(), expected_values)
    found = expected_indices >= 0
    np.testing.assert_array_equal(indices.numpy()[found], expected_indices[found])
    np.testing.assert_array_equal(gx.numpy(), expected_gx)


@given(_pooling_cases())
def test_max_pool2d_without_a_graph_gives_the_recorded_values(case):
    # under no_grad (and on an input needing no gradient) only the values are computed;
    # the recorded forward's values are checked against the scan above
    x_values, kwargs = case
    x = tg.tensor(x_values, requires_grad=True)
    recorded = F.max_pool2d(x, **kwargs)

    with tg.no_grad():
        unrecorded = F.max_pool2d(x, **kwargs)
    constant = F.max_pool2d(tg.tensor(x_values), **kwargs)

    np.testing.assert_array_equal(unrecorded.numpy(), recorded.numpy())
    np.testing.assert_array_equal(constant.numpy(), recorded.numpy())


def test_max_pool2d_sends_a_window_of_nans_gradient_to_its_last_nan():
    nan = math.nan
    x = tg.tensor(np.array([[[[nan, 1.0], [nan, 2.0]]]]), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    (gx,) = grad(y, [x], [np.full((1, 1, 1, 1), 3.0)])

    assert math.isnan(y.item()) and indices.item() == 2
    np.testing.assert_array_equal(gx.numpy()[0, 0], [[0.0, 0.0], [3.0, 0.0]])


def test_max_pool2d_never_lets_padding_win_a_window_of_minus_infinity():
    # every window of the padded 2x2 plane holds only -inf: each goes to its first input tap
    x = tg.tensor(np.full((1, 1, 2, 2), -math.inf), requires_grad=True)
    y, indices = F.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    (gx,) = grad(y, [x], [np.array([[[[1.0, 2.0], [4.0, 8.0]]]])])

    np.testing.assert_array_equal(indices.numpy()[0, 0], [[0, 0], [0, 0]])
    np.testing.assert_array_equal(gx.numpy()[0, 0], [[15.0, 0.0], [0.0, 0.0]])


def test_max_pool2d_keeps_a_non_finite_upstream_gradient_off_the_losing_entries():
    x = tg.tensor(np.array([[[[1.0, 3.0, 0.0, 2.0], [2.0, 0.0, 5.0, 1.0]]]]), requires_grad=True)
    y = F.max_pool2d(x, 2, stride=(1, 1))  # overlapping windows: winners 3, 5, 5
    (gx,) = grad(y, [x], [np.array([[[[math.inf, math.nan, 1.0]]]])])

    np.testing.assert_array_equal(gx.numpy()[0, 0], [[0.0, math.inf, 0.0, 0.0],
                                                     [0.0, 0.0, math.nan, 0.0]])


def test_max_pool2d_double_backward_gathers_at_the_winners():
    # d/d(upstream) <grad_x, c> = c read at each window's winner (first maximum)
    x = tg.tensor(np.array([[[[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]]]),
                  requires_grad=True)
    upstream = tg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    (gx,) = grad(F.max_pool2d(x, 2, stride=1), [x], [upstream], create_graph=True)
    weights = np.arange(9.0).reshape(1, 1, 3, 3)
    (g_upstream,) = grad((gx * tg.tensor(weights)).sum(), [upstream])

    # windows' first maxima: (0, 0), (0, 1), (1, 0), (1, 2)
    np.testing.assert_array_equal(g_upstream.numpy()[0, 0], [[0.0, 1.0], [3.0, 5.0]])


@given(_pooling_cases())
def test_max_pool2d_gradient_and_its_adjoint_agree(case):
    # <scatter(u), v> = <u, gather(v)>: the double backward is the transpose of the backward
    x_values, kwargs = case
    x = tg.tensor(np.nan_to_num(x_values, nan=0.5, neginf=-1.0), requires_grad=True)
    y = F.max_pool2d(x, **kwargs)
    rng = np.random.default_rng(0)
    u = tg.tensor(rng.standard_normal(y.shape), requires_grad=True)
    v = rng.standard_normal(x.shape)
    (gx,) = grad(y, [x], [u], create_graph=True)
    (gather_v,) = grad((gx * tg.tensor(v)).sum(), [u])

    np.testing.assert_allclose((gx.numpy() * v).sum(), (u.numpy() * gather_v.numpy()).sum(),
                               rtol=1e-12, atol=1e-12)


def test_avg_pool2d_of_a_global_window_is_the_plane_mean_and_spreads_evenly():
    x_values = np.random.default_rng(1).standard_normal((2, 3, 5, 4))
    x = tg.tensor(x_values, requires_grad=True)
    y = F.avg_pool2d(x, (5, 4))
    (gx,) = grad(y, [x], [np.full((2, 3, 1, 1), 20.0)])

    np.testing.assert_allclose(y.numpy(), x_values.mean(axis=(2, 3), keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(gx.numpy(), np.ones((2, 3, 5, 4)), rtol=1e-15)
