"""Pooling and upsampling: properties beyond the registry's value and gradient checks."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad
from tinygen.testing import arrays


def test_max_pool2d_sends_each_window_gradient_to_its_maximum():
    x = tg.tensor(np.array([[[[1.0, 5.0, 2.0], [4.0, 3.0, 0.0], [7.0, 6.0, 8.0]]]]),
                  requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)  # windows' maxima: 5, 5, 7, 8
    (gx,) = grad(y, [x], [np.ones((1, 1, 2, 2))])
    np.testing.assert_array_equal(y.numpy()[0, 0], [[5.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(gx.numpy()[0, 0], [[0, 2, 0], [0, 0, 0], [1, 0, 1]])


@given(st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(2, 5), st.integers(2, 5))
       .flatmap(lambda s: st.tuples(arrays(s), st.integers(1, 2))))
def test_avg_pool2d_gradient_is_its_adjoint(x_and_stride):
    # <avg_pool(x), u> = <x, avg_pool^T(u)>: the backward is the transpose of the forward
    x_values, stride = x_and_stride
    x = tg.tensor(x_values, requires_grad=True)
    y = F.avg_pool2d(x, 2, stride=stride)
    u = np.random.default_rng(0).standard_normal(y.shape)
    (gx,) = grad(y, [x], [u])
    np.testing.assert_allclose((y.numpy() * u).sum(), (x_values * gx.numpy()).sum(),
                               rtol=1e-12, atol=1e-12)


def test_upsample_nearest2d_gradient_sums_each_block():
    x = tg.tensor(np.zeros((1, 1, 2, 2)), requires_grad=True)
    y = F.upsample_nearest2d(x, 2)
    (gx,) = grad(y, [x], [np.arange(16.0).reshape(1, 1, 4, 4)])
    np.testing.assert_array_equal(gx.numpy()[0, 0], [[10, 18], [42, 50]])


def test_pooling_validates_its_arguments():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"max_pool2d: padding must be in \[0, kernel_size // "
                                         r"2\], got 2 for kernel_size 2"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: input must be \(N, C, H, W\) or "
                                         r"\(C, H, W\), got shape \(4, 4\)"):
        F.avg_pool2d(tg.tensor(np.ones((4, 4))), 2)
    with pytest.raises(ValueError, match=r"kernel_size: expected an int >= 1 or a pair of them, "
                                         r"got \(2, 2, 2\)"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="stride: expected an int >= 1 or a pair of them, got 0"):
        F.avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match=r"padding: expected an int >= 0 or a pair of them, "
                                         r"got \(1, -1\)"):
        F.max_pool2d(x, 2, padding=(1, -1))
    with pytest.raises(ValueError, match="max_pool2d: the output is empty: a window spans 5 but "
                                         "the padded input is 4"):
        F.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="scale_factor must be a positive int, got 1.5"):
        F.upsample_nearest2d(x, 1.5)


@pytest.mark.parametrize(("pool", "kwargs"), [
    (F.max_pool2d, {"kernel_size": 2, "ceil_mode": True}),
    (F.avg_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    (F.adaptive_avg_pool2d, {"output_size": (2, 3)}),
    (F.adaptive_max_pool2d, {"output_size": 2}),
])
def test_2d_pooling_of_an_unbatched_image_is_that_of_a_batch_of_one(pool, kwargs):
    image = np.random.default_rng(0).standard_normal((3, 5, 7))
    alone = pool(tg.tensor(image), **kwargs)
    batched = pool(tg.tensor(image[None]), **kwargs)
    np.testing.assert_array_equal(alone.numpy(), batched.numpy()[0])


@pytest.mark.parametrize(("pool", "kwargs"), [
    (F.max_pool1d, {"kernel_size": 3, "stride": 2, "dilation": 2}),
    (F.avg_pool1d, {"kernel_size": 2, "ceil_mode": True}),
    (F.adaptive_avg_pool1d, {"output_size": 4}),
    (F.adaptive_max_pool1d, {"output_size": 3}),
])
def test_1d_pooling_is_2d_pooling_of_a_unit_height(pool, kwargs):
    signal = np.random.default_rng(1).standard_normal((2, 3, 9))
    pool_2d = {F.max_pool1d: F.max_pool2d, F.avg_pool1d: F.avg_pool2d,
               F.adaptive_avg_pool1d: F.adaptive_avg_pool2d,
               F.adaptive_max_pool1d: F.adaptive_max_pool2d}[pool]
    as_2d = {k: (1, v) if k in ("kernel_size", "stride", "dilation", "output_size") else v
             for k, v in kwargs.items()}
    expected = pool_2d(tg.tensor(signal[:, :, None, :]), **as_2d).numpy()[:, :, 0]
    np.testing.assert_array_equal(pool(tg.tensor(signal), **kwargs).numpy(), expected)
    np.testing.assert_array_equal(pool(tg.tensor(signal[0]), **kwargs).numpy(), expected[0])


def test_max_pool2d_ceil_mode_adds_a_last_partial_window():
    x = tg.tensor(np.arange(25.0).reshape(1, 1, 5, 5))
    assert F.max_pool2d(x, 2).shape == (1, 1, 2, 2)
    y = F.max_pool2d(x, 2, ceil_mode=True)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_avg_pool2d_divides_partial_windows_as_pytorch_does():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    # count_include_pad: the corner window holds 4 ones among 9 taps
    assert F.avg_pool2d(x, 3, 1, 1).numpy()[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).numpy()[0, 0, 0, 0] == 1.0
    assert F.avg_pool2d(x, 2, divisor_override=3).numpy()[0, 0, 0, 0] == pytest.approx(4 / 3)
    # ceil mode's last window counts only the taps inside the padded input
    np.testing.assert_allclose(F.avg_pool2d(tg.tensor(np.ones((1, 1, 5, 5))), 2,
                                            ceil_mode=True).numpy(), np.ones((1, 1, 3, 3)))


def test_adaptive_max_pool2d_sends_a_tie_to_the_first_maximum_in_raster_order():
    values = np.zeros((1, 1, 3, 3))
    values[0, 0, 0, 2] = values[0, 0, 1, 0] = 1.0  # tied maxima: (0, 2) comes first
    x = tg.tensor(values, requires_grad=True)
    y, indices = F.adaptive_max_pool2d(x, 1, return_indices=True)
    (gx,) = grad(y, [x], [np.ones((1, 1, 1, 1))])
    assert indices.numpy().item() == 2 and not indices.requires_grad
    np.testing.assert_array_equal(gx.numpy()[0, 0], [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_adaptive_avg_pool2d_windows_overlap_where_the_size_does_not_divide():
    x = tg.tensor(np.arange(5.0).reshape(1, 1, 1, 5))
    # windows [0, 2), [1, 4), [3, 5) along the row
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, (1, 3)).numpy()[0, 0, 0],
                               [0.5, 2.0, 3.5])
    assert F.adaptive_avg_pool2d(x, (None, 1)).shape == (1, 1, 1, 1)


def test_new_pooling_ops_name_themselves_and_the_bad_argument():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"max_pool1d: input must be \(N, C, L\) or \(C, L\), "
                                         r"got shape \(1, 1, 4, 4\)"):
        F.max_pool1d(x, 2)
    with pytest.raises(ValueError, match=r"stride: expected an int >= 1 or a 1-tuple of one, "
                                         r"got \(1, 2\)"):
        F.avg_pool1d(tg.tensor(np.ones((1, 4))), 2, stride=(1, 2))
    with pytest.raises(ValueError, match="output_size must be a positive int, got 0"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be an int, "
                                         r"None or 2 of them, got \(1, 2, 3\)"):
        F.adaptive_max_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match="avg_pool2d: divisor_override must be a nonzero int "
                                         "or None, got 0"):
        F.avg_pool2d(x, 2, divisor_override=0)


def test_max_pool2d_indices_are_flat_positions_in_the_unpadded_input_plane():
    values = np.array([[1.0, 5.0, 2.0], [4.0, 3.0, 0.0], [7.0, 6.0, 8.0]])
    x = tg.tensor(values[None, None])
    # padding 1: windows rows {-1, 0} / {1, 2} by columns {-1, 0} / {1, 2}; their maxima
    # 1, 5 / 7, 8 sit at (0, 0), (0, 1), (2, 0), (2, 2) of the 3 x 3 input
    y, indices = F.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[0, 1], [6, 8]])
    np.testing.assert_array_equal(values.ravel()[indices.numpy()[0, 0]], y.numpy()[0, 0])
    assert indices.dtype == np.int64


def test_max_pool_indices_take_no_gradient_and_the_values_keep_theirs():
    x = tg.tensor(np.array([[[3.0, 1.0, 4.0, 1.0, 5.0]]]), requires_grad=True)
    y, indices = F.max_pool1d(x, 2, stride=1, return_indices=True)
    (gx,) = grad(y, [x], [np.ones((1, 1, 4))])
    np.testing.assert_array_equal(indices.numpy()[0, 0], [0, 2, 2, 4])
    assert not indices.requires_grad and y.requires_grad
    np.testing.assert_array_equal(gx.numpy()[0, 0], [1, 0, 2, 0, 1])


def test_max_pool_of_an_unbatched_input_returns_unbatched_indices():
    image = np.random.default_rng(3).standard_normal((2, 5, 6))
    alone = F.max_pool2d(tg.tensor(image), 3, 2, 1, return_indices=True)
    batched = F.max_pool2d(tg.tensor(image[None]), 3, 2, 1, return_indices=True)
    for one, of_batch in zip(alone, batched):
        np.testing.assert_array_equal(one.numpy(), of_batch.numpy()[0])


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_2d_pool_arguments_take_one_tuples_and_an_empty_stride_as_torch_does(pool):
    x = tg.tensor(np.random.default_rng(4).standard_normal((1, 2, 6, 6)))
    expected = pool(x, 2, 2, 1).numpy()
    np.testing.assert_array_equal(pool(x, (2,), (), (1,)).numpy(), expected)
    np.testing.assert_array_equal(pool(x, (2, 2), [], (1, 1)).numpy(), expected)


def test_avg_pool2d_divides_by_a_negative_divisor_override():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, divisor_override=-2).numpy(), -2.0)


def test_max_unpool2d_writes_each_value_at_its_index_and_zeros_elsewhere():
    x = tg.tensor(np.random.default_rng(5).standard_normal((2, 3, 6, 4)), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    restored = F.max_unpool2d(y, indices, 2)
    kept = restored.numpy() != 0
    assert restored.shape == x.shape and kept.sum() == y.numel()
    np.testing.assert_array_equal(restored.numpy()[kept], x.numpy()[kept])
    # and its gradient reads the upstream gradient back at the same positions
    u = np.random.default_rng(6).standard_normal(restored.shape)
    (gy,) = grad(restored, [y], [u])
    np.testing.assert_array_equal(gy.numpy(), np.take_along_axis(
        u.reshape(2, 3, -1), indices.numpy().reshape(2, 3, -1), axis=2).reshape(y.shape))


def test_max_unpool_takes_unbatched_inputs_and_an_output_size():
    signal = np.random.default_rng(7).standard_normal((3, 9))
    y, indices = F.max_pool1d(tg.tensor(signal), 2, return_indices=True)
    alone = F.max_unpool1d(y, indices, 2, output_size=9)
    batched = F.max_unpool1d(y.unsqueeze(0), indices.unsqueeze(0), 2, output_size=(1, 3, 9))
    assert alone.shape == (3, 9)
    np.testing.assert_array_equal(alone.numpy(), batched.numpy()[0])


def test_max_unpool_names_the_bad_argument():
    y, indices = F.max_pool2d(tg.tensor(np.ones((1, 1, 4, 4))), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool2d: output_size \(6, 6\): axis 0 must be "
                                         r"between 2 and 6 \(exclusive\), got 6"):
        F.max_unpool2d(y, indices, 2, output_size=(6, 6))
    with pytest.raises(ValueError, match="max_unpool2d: output_size must have 2 or 4 entries"):
        F.max_unpool2d(y, indices, 2, output_size=(4, 4, 4))
    with pytest.raises(IndexError, match=r"max_unpool2d: indices must lie in \[0, 16\) \(the "
                                         r"unpooled plane\), got 99"):
        F.max_unpool2d(y, indices * 0 + 99, 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices must be an integer Tensor"):
        F.max_unpool2d(y, y, 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: indices must have the input's shape "
                                         r"\(1, 1, 2, 2\), got \(1, 1, 2, 1\)"):
        F.max_unpool2d(y, indices[..., :1], 2)


def test_max_pool2d_gradient_overflowing_in_overlapping_windows_stays_inf_not_nan():
    # overlapping windows add their huge upstream values at a shared winner: inf there (as
    # in float32 arithmetic), and 0, never NaN (inf * 0), at every entry no window chose
    x_values = np.random.default_rng(0).standard_normal((1, 1, 5, 5)).astype(np.float32)
    upstream = np.full((1, 1, 3, 3), 3e38, dtype=np.float32)
    expected = np.zeros((5, 5))
    for i in range(3):
        for j in range(3):
            row, col = np.unravel_index(x_values[0, 0, i:i + 3, j:j + 3].argmax(), (3, 3))
            expected[i + row, j + col] += 3e38
    x = tg.tensor(x_values, requires_grad=True)

    with np.errstate(over="ignore"):
        (gx,) = grad(F.max_pool2d(x, 3, stride=1), [x], [upstream])
        expected = expected.astype(np.float32)  # 6e38 and 9e38 -> inf

    np.testing.assert_array_equal(gx.numpy()[0, 0], expected)
