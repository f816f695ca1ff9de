"""The layout rule's measured thresholds (choose_layout): each pinned on a case at its edge,
and each layout so chosen checked against the definition and to second order."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.autograd.ops.conv import layouts
from tinygen.autograd.ops.conv.reference import reference_conv2d, reference_conv_transpose2d

NO_PADS = ((0, 0), (0, 0))
PAD_ONE = ((1, 1), (1, 1))


@pytest.mark.parametrize("x_shape, weight_shape, expected", [
    # K = 8*9 = 72 taps > 2P = 32 on 4x4 outputs: one GEMM over the batch
    ((2, 8, 4, 4), (4, 8, 3, 3), "channel_major"),
    # 16x16 = 256 outputs (WIDE_PIXELS): per image whatever the taps (K = 1152)
    ((2, 128, 16, 16), (4, 128, 3, 3), "flat_rows"),
])
def test_per_image_layouts_take_wide_maps_whatever_their_taps(x_shape, weight_shape, expected):
    x = np.zeros(x_shape, np.float32)
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, weight_shape, x_shape[2:], (1, 1), PAD_ONE, (1, 1),
                                       1)
    assert layout == expected


@pytest.mark.parametrize("in_channels, groups, expected", [
    (3, 1, "flat_rows"),  # 3*3*3 = 27 cols per output pixel: FLAT_MIN_TAPS
    (2, 1, "per_image"),  # 18: plain per-image GEMMs, no output-sized copies
    (4, 4, "flat_rows"),  # depthwise: 9 taps per group but 36 cols per pixel in all
])
def test_stride_one_convs_cut_flat_rows_only_from_27_cols_per_pixel(in_channels, groups,
                                                                    expected):
    x = np.zeros((2, in_channels, 8, 8), np.float32)
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, (4, in_channels // groups, 3, 3), (8, 8), (1, 1),
                                       PAD_ONE, (1, 1), groups)
    assert layout == expected


@pytest.mark.parametrize("in_channels, out_channels, expected", [
    (8, 2, "correlation"),  # cols C*kh*kw per output pixel: 4x col2im's taps O*kh*kw
    (9, 2, "col2im_per_image"),  # more than 4x: col2im
])
def test_stride_one_transposed_convs_correlate_while_the_cols_are_at_most_4x_the_taps(
        in_channels, out_channels, expected):
    # 6x6 -> 6x6 (padding 1): the same number of input and output pixels
    x = np.zeros((2, in_channels, 6, 6))
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, (in_channels, out_channels, 3, 3), (6, 6), (1, 1),
                                       PAD_ONE, (1, 1), 1, transposed=True)
    assert layout == expected


@pytest.mark.parametrize("size, batch, expected", [
    (16, 8, "phases"),  # 2-tap phases: maps of 16 (m - 1) or more
    (15, 8, "col2im_per_image"),  # narrower; 15 wide > a quarter of the batch
    (4, 16, "col2im_batch_last"),  # 4 wide: a quarter of the batch
])
def test_strided_transposed_convs_by_phases_only_on_maps_of_sixteen_or_more(size, batch,
                                                                          expected):
    x = np.zeros((batch, 2, size, size))
    out = 2 * size
    with threadpool_limits(1):
        layout = layouts.choose_layout(x, (2, 3, 4, 4), (out, out), (2, 2), PAD_ONE, (1, 1), 1,
                                       transposed=True)
    assert layout == expected


@pytest.mark.parametrize("transposed, x_shape, weight_shape, config", [
    (False, (2, 128, 16, 16), (2, 128, 3, 3), {"padding": 1}),
    (False, (2, 3, 8, 8), (2, 3, 3, 3), {"padding": 1}),
    (False, (2, 2, 8, 8), (2, 2, 3, 3), {"padding": 1}),
    (True, (2, 8, 6, 6), (8, 2, 3, 3), {"padding": 1}),
    (True, (2, 9, 6, 6), (9, 2, 3, 3), {"padding": 1}),
    (True, (1, 2, 15, 15), (2, 3, 4, 4), {"padding": 1, "stride": 2}),
    (True, (16, 2, 4, 4), (2, 3, 4, 4), {"padding": 1, "stride": 2}),
])
def test_the_layouts_at_the_edges_match_the_definition_and_differentiate_twice(
        transposed, x_shape, weight_shape, config):
    rng = np.random.default_rng(7)
    x_values, w_values = rng.standard_normal(x_shape), rng.standard_normal(weight_shape) / 9
    op, reference = ((F.conv_transpose2d, reference_conv_transpose2d) if transposed else
                     (F.conv2d, reference_conv2d))

    def conv(x, w):
        return op(x, w, **config)

    with threadpool_limits(1):
        y = conv(tg.tensor(x_values), tg.tensor(w_values)).numpy()
        np.testing.assert_allclose(y, reference(x_values, w_values, **config), rtol=1e-10,
                                   atol=1e-10)
        if x_values.size <= 600:  # finite differences on every entry: the small cases
            inputs = [tg.tensor(x_values, requires_grad=True),
                      tg.tensor(w_values, requires_grad=True)]
            assert gradcheck(conv, inputs)
            assert gradgradcheck(conv, inputs)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kernel, stride, padding, groups", [
    (1, 1, 0, 1), (3, 1, 1, 1), (4, 2, 1, 1), (3, 1, 1, 2), (2, 2, 0, 2)])
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(kernel, stride, padding,
                                                                      groups, threads):
    # as PyTorch: (0, C, H, W) in, (0, O, oh, ow) out, dL/dx empty, dL/dW and dL/db zero
    x = tg.tensor(np.zeros((0, 4, 6, 6)), requires_grad=True)
    w = tg.tensor(np.ones((4, 4 // groups, kernel, kernel)), requires_grad=True)
    b = tg.tensor(np.ones(4), requires_grad=True)
    size = (6 + 2 * padding - kernel) // stride + 1
    transposed_size = (6 - 1) * stride - 2 * padding + kernel

    with threadpool_limits(threads):
        for function, side in ((F.conv2d, size), (F.conv_transpose2d, transposed_size)):
            x.grad = w.grad = b.grad = None
            y = function(x, w, b, stride=stride, padding=padding, groups=groups)
            y.sum().backward()

            assert y.shape == (0, 4, side, side)
            assert x.grad.shape == x.shape
            np.testing.assert_array_equal(w.grad.numpy(), np.zeros(w.shape))
            np.testing.assert_array_equal(b.grad.numpy(), np.zeros(4))
