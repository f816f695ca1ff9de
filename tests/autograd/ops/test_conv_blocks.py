"""Convs on blocks of the batch across threads (tinygen.autograd.ops.conv.parallel): the same
outputs and first and second derivatives as on one block, in every layout; the cuts; the BLAS
thread limit held during the blocks and restored after."""

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
from tinygen.autograd.ops.conv import layouts, parallel
from tinygen.autograd.ops.conv.reference import reference_conv2d, reference_conv_transpose2d
from tinygen.testing import arrays

NO_PADS = ((0, 0), (0, 0))


@st.composite
def block_problem(draw):
    """A conv or transposed conv with a batch of 2 to 5 and a shape from every layout's
    domain: 1x1, dense, stride-1 flat rows, strided (per image / batch-last / channel-major),
    grouped, a 1x1 input to a transposed conv (dense) and its strided phases."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, 1))
    transposed = draw(st.booleans())
    low = 1 if transposed else kernel
    size = draw(st.integers(low, kernel + 4))
    x = draw(arrays((draw(st.integers(2, 5)), c_in, size, size)))
    weight_shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
    weight = draw(arrays(weight_shape + (kernel, kernel)))
    if transposed and (size - 1) * stride - 2 * padding + kernel < 1:
        padding = 0
    return transposed, x, weight, {"stride": stride, "padding": padding, "groups": groups}


@contextlib.contextmanager
def _on_blocks(threads: int):
    """``threadpool_limits(threads)`` with every conv run on blocks, however small (the drawn
    ones are far below the size that would)."""
    with mock.patch.object(parallel, "PARALLEL_MIN_MACS", 0), threadpool_limits(threads):
        yield


def _conv(transposed, config):
    op = F.conv_transpose2d if transposed else F.conv2d
    return lambda x, w: op(x, w, **config)


def _results(conv, x_values, w_values):
    """The output, both gradients of a fixed probe, and the second derivatives of their
    squared norm: everything a block could get wrong."""
    x = tg.tensor(x_values, requires_grad=True)
    w = tg.tensor(w_values, requires_grad=True)
    y = conv(x, w)
    probe = tg.tensor(np.cos(np.arange(y.numel())).reshape(y.shape))
    gx, gw = grad(y, [x, w], probe, create_graph=True)
    ggx, ggw = grad((gx * gx).sum() + (gw * gw).sum(), [x, w])
    return [t.numpy() for t in (y, gx, gw, ggx, ggw)]


@given(block_problem())
def test_convs_on_blocks_equal_those_on_one_block_to_both_orders(problem):
    transposed, x_values, w_values, config = problem
    conv = _conv(transposed, config)
    with _on_blocks(1):
        one_block = _results(conv, x_values, w_values)
    with _on_blocks(2):
        on_blocks = _results(conv, x_values, w_values)
    for expected, actual in zip(one_block, on_blocks):
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@given(block_problem())
def test_convs_on_blocks_match_the_definition(problem):
    transposed, x_values, w_values, config = problem
    reference = reference_conv_transpose2d if transposed else reference_conv2d
    with _on_blocks(2):
        y = _conv(transposed, config)(tg.tensor(x_values), tg.tensor(w_values)).numpy()
    np.testing.assert_allclose(y, reference(x_values, w_values, **config), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize("transposed", [False, True])
def test_convs_on_blocks_pass_gradcheck_and_gradgradcheck(transposed):
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((3, 4, 5, 5)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
    conv = _conv(transposed, {"stride": 2, "padding": 1, "groups": 2})
    with _on_blocks(2):
        assert gradcheck(conv, [x, w])
        assert gradgradcheck(conv, [x, w])


def test_the_forward_keeps_each_blocks_cols_for_the_weight_gradient():
    """A strided conv keeps its cols; on blocks, one per block keyed by its image range, and
    the weight gradient from them equals the one that cuts them again."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((5, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((5, 4, 3, 3))
    args = ((2, 2), ((0, 0), (0, 0)), (1, 1), 1)
    with _on_blocks(2):
        _, cols = layouts.conv2d(x, w, *args)
        kept = layouts.conv2d_weight_grad(x, gy, w.shape, *args, cols=cols)
        fresh = layouts.conv2d_weight_grad(x, gy, w.shape, *args)
    assert sorted(cols) == [(0, 2), (2, 5)]
    np.testing.assert_allclose(kept, fresh, rtol=1e-12, atol=1e-12)
    with _on_blocks(1):  # fewer threads in the backward: the blocks no longer match
        np.testing.assert_allclose(layouts.conv2d_weight_grad(x, gy, w.shape, *args,
                                                              cols=cols), fresh, rtol=1e-12)


@given(st.integers(0, 9), st.integers(1, 4))
def test_batch_blocks_cut_the_batch_into_contiguous_runs_one_per_thread(n, threads):
    x = np.zeros((n, 1, 1, 1))
    with threadpool_limits(threads):
        blocks = parallel.batch_blocks(x, parallel.PARALLEL_MIN_MACS)
        small = parallel.batch_blocks(x, parallel.PARALLEL_MIN_MACS - 1)
    assert len(blocks) == max(1, min(threads, n))
    assert blocks[0][0] == 0 and blocks[-1][1] == n
    assert all(high == low for (_, high), (low, _) in zip(blocks, blocks[1:]))
    assert all(high > low for low, high in blocks) or n == 0
    assert small == [(0, n)]


@pytest.mark.parametrize("macs, blocks", [(parallel.PARALLEL_MIN_MACS, 2),
                                           (parallel.PARALLEL_MIN_MACS - 1, 1)])
def test_blocks_run_blas_on_one_thread_and_restore_it_after(macs, blocks):
    """Two blocks on two threads, or a conv too small to split on one: BLAS on one thread
    inside either way."""
    x = np.zeros((4, 1, 1, 1))
    seen = []
    with threadpool_limits(2):
        parallel.in_blocks(lambda low, high: seen.append(tg.backend.blas_threads(x)),
                           parallel.batch_blocks(x, macs))
        after = tg.backend.blas_threads(x)
    assert seen == [1] * blocks
    assert after == 2


def test_a_dense_conv_runs_whole_on_blas_threads_only_when_large():
    x, weight = np.ones((4, 3, 2, 2)), np.ones((5, 3, 2, 2))
    seen = []
    real = layouts.dense_conv2d

    def spy(*args):
        seen.append(tg.backend.blas_threads(x))
        return real(*args)

    with threadpool_limits(2), mock.patch.object(layouts, "dense_conv2d", spy):
        for whole_min_macs in (1 << 40, 0):
            with mock.patch.object(parallel, "WHOLE_MIN_MACS", whole_min_macs):
                layouts.conv2d(x, weight, (1, 1), NO_PADS, (1, 1), 1)
    assert seen == [1, 2]


def test_a_failing_block_raises_and_still_restores_the_blas_threads():
    x = np.zeros((4, 1, 1, 1))

    def work(low, high):
        raise RuntimeError(f"block {low}:{high}")

    with threadpool_limits(2):
        with pytest.raises(RuntimeError, match="block 0:2"):
            parallel.in_blocks(work, parallel.batch_blocks(x, parallel.PARALLEL_MIN_MACS))
        assert tg.backend.blas_threads(x) == 2


@pytest.mark.parametrize("transposed", [False, True])
def test_a_dense_conv_stays_one_block(transposed):
    """A conv whose kernel covers its input (and its adjoint from a 1x1 input) is one GEMM
    with no copies: blocks would only split it, so it runs as one."""
    x = np.ones((4, 3, 1, 1) if transposed else (4, 3, 2, 2))
    weight = np.ones((3, 5, 2, 2) if transposed else (5, 3, 2, 2))
    with _on_blocks(2), mock.patch.object(layouts, "in_blocks",
                                          wraps=parallel.in_blocks) as spy:
        if transposed:
            y = layouts.conv_transpose2d(x, weight, (2, 2), (1, 1), NO_PADS, (1, 1), 1)
        else:
            y, cols = layouts.conv2d(x, weight, (1, 1), NO_PADS, (1, 1), 1)
            assert cols == {(0, 4): None}
            layouts.conv2d_weight_grad(x, np.ones((4, 5, 1, 1)), weight.shape, (1, 1), NO_PADS,
                                       (1, 1), 1)
    assert all(len(call.args[1]) == 1 for call in spy.call_args_list)
    assert y.shape == ((4, 5, 2, 2) if transposed else (4, 5, 1, 1))
