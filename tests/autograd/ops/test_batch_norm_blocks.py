"""Batch norm's passes on blocks of the batch across threads, with per-channel values laid out
at every position (tinygen/autograd/ops/normalization_passes.py): the outputs, gradients and
running statistics of one block and of the (C, 1) operands, forced on small inputs at one and
two pinned threads; the same bits at one and two threads on a large input; first and second
order on blocks."""

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.autograd.ops import normalization_passes
from tinygen.testing import arrays, distinct_arrays


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


@st.composite
def batch_norm_problem(draw):
    """(x, upstream gradient): (N, C), (N, C, L) or (N, C, H, W) with N of 2 to 5."""
    spatial = draw(st.lists(st.integers(1, 3), max_size=2))
    shape = (draw(st.integers(2, 5)), draw(st.integers(1, 3)), *spatial)
    return draw(distinct_arrays(shape=st.just(shape), gap=0.3)), draw(arrays(shape))


@contextlib.contextmanager
def _on_blocks(threads: int):
    """``threadpool_limits(threads)`` with every pass cut into two blocks of the batch and
    per-channel values laid out at every position, however small the input."""
    with mock.patch.object(normalization_passes, "PARALLEL_MIN_SIZE", 0), \
            mock.patch.object(normalization_passes, "EXPAND_MIN_BATCH", 1), \
            threadpool_limits(threads):
        yield


def _results(x_values, upstream, training):
    """The output, the gradients of x, weight and bias, and the running statistics."""
    channels = x_values.shape[1]
    x = leaf(x_values)
    weight, bias = leaf(np.linspace(0.5, 2.0, channels)), leaf(np.linspace(-1, 1, channels))
    running = [np.linspace(-0.5, 0.5, channels), np.linspace(0.5, 1.5, channels)]
    y = F.batch_norm(x, *running, weight, bias, training=training, momentum=0.3)
    grads = grad(y, [x, weight, bias], [upstream])
    return [y.numpy()] + [g.numpy() for g in grads] + running


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("training", [True, False])
@given(problem=batch_norm_problem())
def test_blocks_and_laid_out_operands_give_the_one_pass_result_at_one_and_two_threads(
        problem, training, threads):
    x_values, upstream = problem
    with mock.patch.object(normalization_passes, "EXPAND_MIN_BATCH", 10 ** 9):
        whole = _results(x_values, upstream, training)  # one block, (C, 1) operands
    with _on_blocks(threads):
        blocks = _results(x_values, upstream, training)

    for on_blocks, on_one in zip(blocks, whole, strict=True):
        np.testing.assert_allclose(on_blocks, on_one, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_norm_on_blocks_has_gradients_of_both_orders(threads):
    x = leaf(np.random.default_rng(0).standard_normal((4, 3, 2, 3)))
    weight, bias = leaf([0.7, 1.3, 1.1]), leaf([0.2, -0.4, 0.1])

    def fn(x, weight, bias):
        return F.batch_norm(x, None, None, weight, bias, training=True)

    with _on_blocks(threads):
        assert gradcheck(fn, [x, weight, bias], mode="full")
        assert gradgradcheck(fn, [x, weight, bias])


def test_blocks_give_the_same_bits_at_one_and_two_threads():
    # the blocks depend on the size only: the thread count cannot change a sum
    rng = np.random.default_rng(0)
    x_values = rng.standard_normal((64, 32, 8, 8)).astype(np.float32)
    upstream = rng.standard_normal(x_values.shape).astype(np.float32)
    assert x_values.size >= normalization_passes.PARALLEL_MIN_SIZE

    def results(threads):
        layer = tg.nn.BatchNorm2d(32)
        x = tg.tensor(x_values, requires_grad=True)
        with threadpool_limits(threads):
            y = layer(x)
            grads = grad(y, [x, layer.weight, layer.bias], [upstream])
        return [y.numpy()] + [g.numpy() for g in grads] + [layer.running_var.numpy()]

    for two, one in zip(results(2), results(1), strict=True):
        np.testing.assert_array_equal(two, one)


def test_an_empty_batch_on_blocks_gives_zero_parameter_gradients():
    x = leaf(np.zeros((0, 3, 2, 2)))
    weight, bias = leaf(np.ones(3)), leaf(np.zeros(3))

    with _on_blocks(2):
        y = F.batch_norm(x, None, None, weight, bias, training=True)
        gx, g_weight, g_bias = grad(y, [x, weight, bias], [np.zeros((0, 3, 2, 2))])

    assert y.shape == (0, 3, 2, 2) and gx.shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(g_weight.numpy(), np.zeros(3))
    np.testing.assert_array_equal(g_bias.numpy(), np.zeros(3))
