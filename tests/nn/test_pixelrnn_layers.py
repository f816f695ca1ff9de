"""PixelRNN layers: skew/unskew, Row LSTM and Diagonal BiLSTM shapes, receptive fields,
causality behind a mask-A conv, gradients, and the per-pixel recurrence the samplers use."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
from tinygen.autograd import gradcheck
from tinygen.autograd.ops.skew import skew, unskew
from tinygen.testing.strategies import arrays


def image_shapes():
    return st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5))


@given(image_shapes().flatmap(arrays))
def test_unskew_inverts_skew_and_skew_puts_row_i_at_offset_i(x):
    y = skew(tg.tensor(x)).numpy()

    np.testing.assert_array_equal(unskew(tg.tensor(y)).numpy(), x)
    height, width = x.shape[2:]
    assert y.shape[3] == width + height - 1
    for i in range(height):
        np.testing.assert_array_equal(y[:, :, i, i:i + width], x[:, :, i])
        assert not y[:, :, i, :i].any() and not y[:, :, i, i + width:].any()


@given(image_shapes().flatmap(lambda s: st.tuples(
    arrays(s), arrays((s[0], s[1], s[2], s[3] + s[2] - 1)))))
def test_unskew_is_the_adjoint_of_skew(pair):
    x, y = pair
    # <skew(x), y> = <x, unskew(y)>: the identity that makes each the other's backward
    left = (skew(tg.tensor(x)).numpy() * y).sum()
    right = (x * unskew(tg.tensor(y)).numpy()).sum()
    np.testing.assert_allclose(left, right, rtol=1e-12, atol=1e-12)


@given(image_shapes().flatmap(arrays))
def test_skew_channels_last_is_skew_with_the_channels_moved_last(x):
    # (N, C, H, W) -> (N, H, W, C)
    x_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))

    y_last = skew(tg.tensor(x_last), channels_last=True).numpy()

    # (N, C, H, W+H-1) -> (N, H, W+H-1, C)
    np.testing.assert_array_equal(y_last, skew(tg.tensor(x)).numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(unskew(tg.tensor(y_last), channels_last=True).numpy(),
                                  x_last)


def behind_mask_a(layer, channels=3):
    """A mask-A conv, then ``layer``: causal in raster order if the layer is."""
    tg.manual_seed(0)
    return nn.Sequential(nn.MaskedConv2d(1, channels, 3, mask_type="A"), layer)


@pytest.mark.parametrize("make", [lambda: nn.RowLSTM(3, 4, kernel_size=3),
                                  lambda: nn.DiagonalBiLSTM(3, 4)], ids=["row", "diag"])
def test_layer_maps_channels_to_hidden_and_is_causal_behind_a_mask_a_conv(make):
    model = behind_mask_a(make())

    y = model(tg.randn(2, 1, 5, 6))
    report = tg.check_causal(model, (1, 5, 6))

    assert y.shape == (2, 4, 5, 6)
    assert len(report.checked) == 30


def input_field(layer, shape, i, j):
    """(H, W) bool map of the input pixels that output pixel (i, j) of ``layer`` reads."""
    x = tg.randn(1, *shape, requires_grad=True)
    layer(x)[0, :, i, j].sum().backward()
    return np.abs(x.grad.numpy()[0]).sum(0) != 0


def test_row_lstm_sees_a_triangle_above_and_k_pixels_of_its_row():
    tg.manual_seed(1)
    field = input_field(nn.RowLSTM(2, 3, kernel_size=3), (2, 5, 7), 3, 3)

    expected = np.zeros((5, 7), dtype=bool)
    expected[3, 2:4] = True  # the mask-B 1x3 input conv: the pixel and its left neighbour
    expected[2, 1:5] = True  # one more column each side per row above, from the 3-wide
    expected[1, 0:6] = True  # state conv (so it reaches past pixels to the right)
    expected[0, :] = True
    np.testing.assert_array_equal(field, expected)


def test_diagonal_bilstm_sees_all_rows_above_and_the_left_of_its_row():
    tg.manual_seed(2)
    field = input_field(nn.DiagonalBiLSTM(2, 3), (2, 5, 6), 3, 2)

    assert field[:3].all()  # the shifted right-to-left direction covers every row above
    assert field[3, :3].all() and not field[3, 3:].any()  # itself and its left (not right)
    assert not field[4].any()


def test_diagonal_lstm_forward_equals_the_per_pixel_recurrence():
    # the skewed, one-diagonal-per-step forward must compute the grid recurrence
    # state(i, j) = cell(input(i, j), h(i-1, j), state(i, j-1)), zero outside the image,
    # which is what the fast sampler runs pixel by pixel
    tg.manual_seed(3)
    lstm = nn.DiagonalLSTM(2, 3).double()
    x = tg.randn(2, 2, 4, 5, dtype=np.float64)
    n, _, height, width = x.shape
    zero = tg.zeros(n, 3, dtype=np.float64)
    h = [[zero] * width for _ in range(height + 1)]  # h[i + 1][j]: row -1 is zeros
    expected = np.zeros((n, 3, height, width))

    for i in range(height):
        h_left = c_left = zero
        for j in range(width):
            gates = lstm.input_gates(x[:, :, i, j])
            h_left, c_left = lstm.step(gates, h[i][j], h_left, c_left)
            h[i + 1][j] = h_left
            expected[:, :, i, j] = h_left.numpy()

    np.testing.assert_allclose(lstm(x).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: nn.RowLSTM(2, 2, kernel_size=3),
                                  lambda: nn.DiagonalBiLSTM(2, 2)], ids=["row", "diag"])
def test_layer_gradients_match_finite_differences(make):
    tg.manual_seed(4)
    layer = make().double()
    x = tg.randn(2, 2, 3, 4, dtype=np.float64, requires_grad=True)

    assert gradcheck(layer, [x], mode="full")


def test_row_lstm_rejects_an_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        nn.RowLSTM(2, 2, kernel_size=2)
