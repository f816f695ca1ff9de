"""The conv's internal paths forced one by one: each conv2d layout writing into the output
with its bias, and the weight product's images per batched GEMM call; each against the
definition and to second order, at 1 and 2 pinned threads (on blocks of the batch)."""

import contextlib
from unittest import mock

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.autograd.ops.conv import gemms, layouts, parallel
from tinygen.autograd.ops.conv.reference import reference_conv2d

#: conv2d layouts that any stride-1 conv may take
STRIDE_ONE_LAYOUTS = ("per_image", "flat_rows", "channel_major", "batch_last")


@contextlib.contextmanager
def forced(layout: str, threads: int):
    """Every conv2d (not its adjoint) in ``layout`` at ``threads`` pinned BLAS threads, on
    blocks of the batch however small."""
    choose = layouts.choose_layout

    def choose_forced(x, weight_shape, out_hw, stride, pads, dilation, groups, **kwargs):
        chosen = choose(x, weight_shape, out_hw, stride, pads, dilation, groups, **kwargs)
        if kwargs.get("transposed") or chosen in ("dense", "winograd"):
            return chosen
        return layout  # also for cols cut by the forward: they are in this layout

    with mock.patch.object(layouts, "choose_layout", choose_forced), \
            mock.patch.object(parallel, "PARALLEL_MIN_MACS", 0), threadpool_limits(threads):
        yield


def _problem(seed, shape=(3, 4, 5, 6), out_channels=6, groups=2, kernel=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    weight = rng.standard_normal((out_channels, shape[1] // groups, kernel, kernel)) / 3
    bias = rng.standard_normal(out_channels)
    return x, weight, bias


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", STRIDE_ONE_LAYOUTS)
def test_each_layout_writes_its_outputs_with_the_bias_and_differentiates_twice(layout, threads):
    # arrange
    x_values, w_values, b_values = _problem(0)
    config = {"padding": 1, "groups": 2}
    expected = reference_conv2d(x_values, w_values, **config) + b_values.reshape(1, -1, 1, 1)
    inputs = [tg.tensor(v, requires_grad=True) for v in (x_values, w_values, b_values)]

    def conv(x, w, b):
        return F.conv2d(x, w, b, **config)

    with forced(layout, threads):
        # act
        y = conv(*inputs).numpy()
        # assert
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
        assert gradcheck(conv, inputs)
        assert gradgradcheck(conv, inputs)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("stack_bytes", [1, 2 * 6 * 18 * 8, 1 << 18])
def test_weight_products_of_any_images_per_call_sum_to_the_definition(stack_bytes, threads):
    # arrange: 5 images; per image a (G=2, O/G=3, K=2*3*3) stack of 108 float64 products,
    # so 1 image per call, 2 (and a last call of 1) or all 5
    x_values, w_values, _ = _problem(1, shape=(5, 4, 5, 6))
    x = tg.tensor(x_values)
    w = tg.tensor(w_values, requires_grad=True)
    probe = np.cos(np.arange(5 * 6 * 5 * 6)).reshape(5, 6, 5, 6)
    # <conv2d(x, W), probe> is linear in W: its gradient is the weight gradient itself,
    # which the definition gives entry by entry as the conv of x with a unit kernel
    expected = np.zeros_like(w_values)
    for index in np.ndindex(w_values.shape):
        unit = np.zeros_like(w_values)
        unit[index] = 1.0
        expected[index] = (reference_conv2d(x_values, unit, padding=1, groups=2) * probe).sum()

    with forced("per_image", threads), mock.patch.object(gemms, "STACK_BYTES", stack_bytes):
        # act
        (F.conv2d(x, w, padding=1, groups=2) * tg.tensor(probe)).sum().backward()
        second = gradgradcheck(lambda x, w: F.conv2d(x, w, padding=1, groups=2),
                               [tg.tensor(x_values[:3], requires_grad=True),
                                tg.tensor(w_values, requires_grad=True)])

    # assert
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-10, atol=1e-10)
    assert second
