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
