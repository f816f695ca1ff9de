"""The "winograd" conv layout (tinygen.autograd.ops.conv.winograd): the rule that picks it,
drawn shapes forced onto it against the definition and through gradcheck and gradgradcheck
at 1 and 2 pinned threads, and its float32 error against float64."""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.autograd.ops.conv import layouts, parallel, winograd
from tinygen.autograd.ops.conv.reference import reference_conv2d, reference_conv_transpose2d
from tinygen.testing import arrays

PAD_ONE = ((1, 1), (1, 1))


@contextlib.contextmanager
def _forced(threads: int):
    """Every 3x3 stride-1 conv and weight gradient on the winograd layout however small, at
    ``threads`` pinned BLAS threads, and on blocks of the batch (one per thread)."""
    with mock.patch.object(winograd, "MIN_CHANNELS", 1), \
            mock.patch.object(winograd, "MIN_SIDE", 1), \
            mock.patch.object(winograd, "MAX_THREADS", threads), \
            mock.patch.object(parallel, "PARALLEL_MIN_MACS", 0), threadpool_limits(threads):
        yield


@st.composite
def winograd_problem(draw):
    """A 3x3 stride-1 conv with odd and even output sizes, asymmetric or no padding, and a
    batch that splits into blocks."""
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, 3 - 2 * padding), 7)), draw(st.integers(3, 7))
    x = draw(arrays((draw(st.integers(1, 4)), c_in, h, w)))
    weight = draw(arrays((c_out, c_in, 3, 3)))
    return x, weight, padding


def test_winograd_is_left_to_the_gemm_layouts_when_tinygen_may_use_two_threads():
    x = np.zeros((64, 64, 8, 8), np.float32)
    weight_shape = (64, 64, 3, 3)
    layouts_by_threads = {}

    for threads in (1, 2):
        with threadpool_limits(threads):
            layouts_by_threads[threads] = layouts.choose_layout(
                x, weight_shape, (8, 8), (1, 1), PAD_ONE, (1, 1), 1)
            # inside a conv's blocks BLAS is held to one thread, but the rule still sees two
            layouts_by_threads[threads, "block"] = parallel.in_blocks(
                lambda low, high: layouts.choose_layout(
                    x[low:high], weight_shape, (8, 8), (1, 1), PAD_ONE, (1, 1), 1),
                [(0, 32), (32, 64)])

    assert layouts_by_threads[1] == "winograd"
    assert layouts_by_threads[1, "block"] == ["winograd"] * 2
    assert layouts_by_threads[2] != "winograd"
    assert "winograd" not in layouts_by_threads[2, "block"]


@pytest.mark.parametrize("in_channels, out_channels, side, expected", [
    (64, 64, 8, True),
    (63, 64, 8, False),  # fewer input channels than MIN_CHANNELS
    (64, 63, 8, False),  # fewer output channels
    (64, 64, 7, False),  # maps narrower than MIN_SIDE
])
def test_winograd_takes_3x3_stride_1_convs_from_64_channels_and_8x8_maps(
        in_channels, out_channels, side, expected):
    x = np.zeros((2, in_channels, side, side), np.float32)
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, (out_channels, in_channels, 3, 3), (side, side),
                                       (1, 1), PAD_ONE, (1, 1), 1)
    assert (layout == "winograd") == expected


@pytest.mark.parametrize("stride, dilation, groups", [((2, 2), (1, 1), 1),
                                                      ((1, 1), (2, 2), 1),
                                                      ((1, 1), (1, 1), 2)])
def test_winograd_is_only_for_plain_3x3_stride_1_convs(stride, dilation, groups):
    x = np.zeros((2, 64, 16, 16), np.float32)
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, (64, 64 // groups, 3, 3), (8, 8), stride, PAD_ONE,
                                       dilation, groups)
    assert layout != "winograd"


def _gemm_weight_grad(x, gy, pads):
    """The weight gradient of a 3x3 stride-1 conv on the GEMM layouts (winograd ruled out)."""
    with mock.patch.object(winograd, "MIN_CHANNELS", np.inf):
        return layouts.conv2d_weight_grad(x, gy, (gy.shape[1], x.shape[1], 3, 3), (1, 1),
                                          pads, (1, 1), 1)


@pytest.mark.parametrize("threads", [1, 2])
@given(winograd_problem(), st.data())
def test_forced_winograd_weight_gradient_matches_the_gemm_layouts(threads, problem, data):
    x_values, w_values, padding = problem
    pads = ((padding,) * 2,) * 2
    out_hw = tuple(size + 2 * padding - 2 for size in x_values.shape[2:])
    gy = data.draw(arrays((x_values.shape[0], w_values.shape[0]) + out_hw))
    with _forced(threads):
        layout = layouts.choose_layout(x_values, w_values.shape, out_hw, (1, 1), pads, (1, 1),
                                       1)
        assume(layout != "dense")
        assert layout == "winograd"
        g_weight = layouts.conv2d_weight_grad(x_values, gy, w_values.shape, (1, 1), pads,
                                              (1, 1), 1)
    np.testing.assert_allclose(g_weight, _gemm_weight_grad(x_values, gy, pads), rtol=1e-10,
                               atol=1e-10)


def test_a_winograd_weight_gradient_of_fewer_output_rows_uses_only_their_windows():
    """A weight gradient may meet fewer outputs than the input has windows (a transposed
    conv's output_padding rows): the windows past them take no part."""
    rng = np.random.default_rng(5)
    x, gy = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((2, 4, 4, 5))
    expected = _gemm_weight_grad(x[:, :, :6], gy, ((0, 0), (0, 1)))  # 4 rows of windows
    with _forced(1):
        g_weight = winograd.winograd_weight_grad(x, gy, ((0, 0), (0, 1)))
    np.testing.assert_allclose(g_weight, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2])
@given(winograd_problem(), st.data())
def test_forced_winograd_matches_the_definition_with_or_without_bias(threads, problem, data):
    x_values, w_values, padding = problem
    bias = data.draw(st.one_of(st.none(), arrays((w_values.shape[0],))))
    out_hw = tuple(size + 2 * padding - 2 for size in x_values.shape[2:])
    with _forced(threads):
        layout = layouts.choose_layout(x_values, w_values.shape, out_hw, (1, 1),
                                       ((padding,) * 2,) * 2, (1, 1), 1)
        assume(layout != "dense")  # a 3x3 unpadded input: one window, dense comes first
        assert layout == "winograd"
        y = F.conv2d(tg.tensor(x_values), tg.tensor(w_values),
                     None if bias is None else tg.tensor(bias), padding=padding).numpy()
    np.testing.assert_allclose(y, reference_conv2d(x_values, w_values, bias, padding=padding),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2])
@given(winograd_problem())
def test_stride_1_transposed_convs_correlate_through_winograd(threads, problem):
    """The input gradient of a 3x3 stride-1 conv: a correlation with the flipped kernel, on
    the winograd layout (a padding above 2 crops the correlation's input)."""
    x_values, w_values, padding = problem
    w_values = w_values.transpose(1, 0, 2, 3)  # (C, O, 3, 3), C = x's channels
    h, w = x_values.shape[2:]
    assume(min(h, w) + 2 - 2 * padding >= 1)
    with _forced(threads), mock.patch.object(winograd, "winograd_conv2d",
                                             wraps=winograd.winograd_conv2d) as spy:
        y = F.conv_transpose2d(tg.tensor(x_values), tg.tensor(w_values),
                               padding=padding).numpy()
    # more input than output channels may take col2im, and a correlation of a 3x3 unpadded
    # input is dense
    assume(spy.called)
    np.testing.assert_allclose(
        y, reference_conv_transpose2d(x_values, w_values, padding=padding),
        rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, padding", [((3, 2, 5, 6), 1), ((2, 3, 4, 4), 0),
                                            ((4, 2, 3, 5), 2)])
def test_forced_winograd_passes_gradcheck_and_gradgradcheck(threads, shape, padding):
    rng = np.random.default_rng(sum(shape) + padding)
    x = tg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tg.tensor(rng.standard_normal((3, shape[1], 3, 3)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(3), requires_grad=True)

    def conv(x, w, b):
        return F.conv2d(x, w, b, padding=padding)

    with _forced(threads), \
            mock.patch.object(winograd, "winograd_conv2d",
                              wraps=winograd.winograd_conv2d) as forward, \
            mock.patch.object(winograd, "winograd_weight_grad",
                              wraps=winograd.winograd_weight_grad) as weight_grad:
        assert gradcheck(conv, [x, w, b])
        assert gradgradcheck(conv, [x, w, b])
    assert forward.called and weight_grad.called


@pytest.mark.parametrize("channels", [64, 256])
def test_winograd_float32_error_grows_at_most_as_the_root_of_the_summed_terms(channels):
    """|y32 - y64| <= sqrt(9 C) eps32 (|x| * |w|) per output pixel, with (|x| * |w|) the conv
    of the absolute values: the rounding errors of the 9C products' sum add up like a random
    walk, and the transforms (sums of at most 4 inputs, 9 taps, 9 products, with
    coefficients 1/2 and 1) scale it by a small constant. Positive data, where no cancellation
    hides the error, reached 0.35 of the bound at 64-512 channels; the im2col GEMMs 0.25."""
    rng = np.random.default_rng(channels)
    x32 = rng.uniform(0, 1, (2, channels, 8, 8)).astype(np.float32)
    w32 = rng.uniform(0, 1, (64, channels, 3, 3)).astype(np.float32)
    x, w = x32.astype(np.float64), w32.astype(np.float64)
    with threadpool_limits(1):
        assert layouts.choose_layout(x32, w32.shape, (8, 8), (1, 1), PAD_ONE, (1, 1),
                                     1) == "winograd"
        y32 = layouts.conv2d(x32, w32, (1, 1), PAD_ONE, (1, 1), 1)[0]
        y = layouts.conv2d(x, w, (1, 1), PAD_ONE, (1, 1), 1)[0]
        absolute = layouts.conv2d(np.abs(x), np.abs(w), (1, 1), PAD_ONE, (1, 1), 1)[0]
    bound = np.sqrt(9 * channels) * np.finfo(np.float32).eps * absolute
    assert y32.dtype == np.float32
    assert np.all(np.abs(y32 - y) <= bound)


@pytest.mark.parametrize("batch, side", [(2, 8), (8, 16)])
def test_winograd_weight_gradient_float32_error_grows_at_most_as_the_root_of_its_terms(
        batch, side):
    """|gW32 - gW64| <= sqrt(N oh ow) eps32 (|x| * |gy|) per tap, (|x| * |gy|) the weight
    gradient of the absolute values: each tap sums N*oh*ow products, the same random-walk
    growth as above. Positive data reached 0.21 of the bound (the GEMM layouts 0.30)."""
    rng = np.random.default_rng(batch)
    x32 = rng.uniform(0, 1, (batch, 64, side, side)).astype(np.float32)
    gy32 = rng.uniform(0, 1, (batch, 64, side, side)).astype(np.float32)
    x, gy = x32.astype(np.float64), gy32.astype(np.float64)
    args = ((64, 64, 3, 3), (1, 1), PAD_ONE, (1, 1), 1)
    with threadpool_limits(1):
        assert layouts.choose_layout(x32, args[0], (side, side), *args[1:]) == "winograd"
        g32 = layouts.conv2d_weight_grad(x32, gy32, *args)
        g = layouts.conv2d_weight_grad(x, gy, *args)
        absolute = layouts.conv2d_weight_grad(np.abs(x), np.abs(gy), *args)
    bound = np.sqrt(batch * side * side) * np.finfo(np.float32).eps * absolute
    assert g32.dtype == np.float32
    assert np.all(np.abs(g32 - g) <= bound)
