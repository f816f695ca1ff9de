"""Layer norm's fused op (tinygen/autograd/ops/normalization_layer.py): its raw-array first-order
backward against the recorded differentiable one, every combination of weight and bias, the
two-block path (forced on small inputs) at one and two pinned threads, against PyTorch's
definition and at first and second order."""

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

AFFINE = [(True, True), (True, False), (False, True), (False, False)]


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


@st.composite
def layer_norm_problem(draw):
    """(x, upstream gradient, normalized_shape): 1 to 2 leading axes of 1 to 4, and 1 or 2
    normalized axes, rows of at least 2 distinct values."""
    lead = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    trailing = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2).filter(
        lambda t: np.prod(t) > 1))
    shape = tuple(lead + trailing)
    x = draw(distinct_arrays(shape=st.just(shape), gap=0.3))
    return x, draw(arrays(shape)), tuple(trailing)


def _params(shape, has_weight, has_bias):
    size = int(np.prod(shape))
    weight = leaf(np.linspace(0.5, 2.0, size).reshape(shape)) if has_weight else None
    bias = leaf(np.linspace(-1.0, 1.0, size).reshape(shape)) if has_bias else None
    return weight, bias


def _reference(x, shape, weight, bias, eps=1e-5):
    """PyTorch's definition: biased variance over the trailing axes, then scale and shift."""
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    y = centered / np.sqrt((centered ** 2).mean(axis=axes, keepdims=True) + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


@contextlib.contextmanager
def _on_two_blocks(threads: int):
    """``threadpool_limits(threads)`` with every layer norm cut into two blocks of rows,
    however small."""
    with mock.patch.object(normalization_passes, "PARALLEL_MIN_SIZE", 0), \
            threadpool_limits(threads):
        yield


@pytest.mark.parametrize(("has_weight", "has_bias"), AFFINE)
@given(problem=layer_norm_problem())
def test_array_backward_equals_the_recorded_differentiable_backward(problem, has_weight,
                                                                     has_bias):
    # the first-order raw path and the create_graph path: two codings of one closed form
    x_values, upstream, shape = problem
    x = leaf(x_values)
    weight, bias = _params(shape, has_weight, has_bias)
    inputs = [x] + [p for p in (weight, bias) if p is not None]

    def run(create_graph):
        y = F.layer_norm(x, shape, weight, bias)
        return grad(y, inputs, [upstream], create_graph=create_graph)

    for fast, recorded in zip(run(False), run(True), strict=True):
        np.testing.assert_allclose(fast.numpy(), recorded.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("has_weight", "has_bias"), AFFINE)
def test_layer_norm_has_gradients_of_both_orders_with_any_affine_parameters(has_weight,
                                                                            has_bias):
    x = leaf(np.random.default_rng(0).standard_normal((3, 2, 4)))
    weight, bias = _params((2, 4), has_weight, has_bias)
    inputs = [x] + [p for p in (weight, bias) if p is not None]

    def fn(x, *params):
        given_params = iter(params)
        return F.layer_norm(x, (2, 4), next(given_params) if has_weight else None,
                            next(given_params) if has_bias else None)

    assert gradcheck(fn, inputs, mode="full")
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("threads", [1, 2])
@given(problem=layer_norm_problem())
def test_two_row_blocks_give_the_one_block_result_at_one_and_two_threads(problem, threads):
    x_values, upstream, shape = problem
    weight, bias = _params(shape, True, True)

    def results():
        x = leaf(x_values)
        y = F.layer_norm(x, shape, weight, bias)
        return [y.numpy()] + [g.numpy() for g in grad(y, [x, weight, bias], [upstream])]

    whole = results()
    with _on_two_blocks(threads):
        blocks = results()

    for on_blocks, on_one in zip(blocks, whole, strict=True):
        np.testing.assert_allclose(on_blocks, on_one, rtol=1e-12, atol=1e-12)


def test_two_row_blocks_give_the_same_bits_at_one_and_two_threads():
    # the blocks depend on the size only: the thread count cannot change the sums' order
    rng = np.random.default_rng(0)
    x_values = rng.standard_normal((64, 32, 256)).astype(np.float32)
    upstream = rng.standard_normal(x_values.shape).astype(np.float32)
    assert x_values.size >= normalization_passes.PARALLEL_MIN_SIZE
    layer = tg.nn.LayerNorm(256)
    layer.weight.data[...] = rng.uniform(0.5, 2.0, 256)
    layer.bias.data[...] = rng.standard_normal(256)

    def results(threads):
        x = tg.tensor(x_values, requires_grad=True)
        with threadpool_limits(threads):
            y = layer(x)
            grads = grad(y, [x, layer.weight, layer.bias], [upstream])
        return [y.numpy()] + [g.numpy() for g in grads]

    for two, one in zip(results(2), results(1), strict=True):
        np.testing.assert_array_equal(two, one)


@pytest.mark.parametrize("threads", [1, 2])
def test_two_row_blocks_match_the_definition_with_gradients_of_both_orders(threads):
    x = leaf(np.random.default_rng(1).standard_normal((5, 6)))
    weight, bias = _params((6,), True, True)

    def fn(x, weight, bias):
        return F.layer_norm(x, (6,), weight, bias)

    with _on_two_blocks(threads):
        np.testing.assert_allclose(fn(x, weight, bias).numpy(),
                                   _reference(x.numpy(), (6,), weight.numpy(), bias.numpy()),
                                   rtol=1e-12, atol=1e-12)
        assert gradcheck(fn, [x, weight, bias], mode="full")
        assert gradgradcheck(fn, [x, weight, bias])


@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (0, 0)])
def test_layer_norm_of_an_empty_input_is_empty_with_zero_parameter_gradients(shape):
    x = leaf(np.zeros(shape))
    weight, bias = _params(shape[1:], True, True)

    y = F.layer_norm(x, shape[1:], weight, bias)
    gx, g_weight, g_bias = grad(y, [x, weight, bias], [np.ones(shape)])

    assert y.shape == shape and gx.shape == shape
    np.testing.assert_array_equal(g_weight.numpy(), np.zeros(shape[1:]))
    np.testing.assert_array_equal(g_bias.numpy(), np.zeros(shape[1:]))


def test_layer_norm_output_is_not_its_saved_normalized_input():
    # without affine parameters the output is a copy: writing it must not change backward
    x = leaf(np.random.default_rng(2).standard_normal((3, 4)))
    upstream = np.random.default_rng(3).standard_normal((3, 4))
    (expected,) = grad(F.layer_norm(x, (4,)), [x], [upstream])

    y = F.layer_norm(x, (4,))
    with tg.no_grad():
        y.add_(10.0)
    (gx,) = grad(y, [x], [upstream])

    np.testing.assert_array_equal(gx.numpy(), expected.numpy())


def test_layer_norm_refuses_parameters_of_another_dtype():
    x = tg.randn(2, 3)
    with pytest.raises(TypeError, match="layer_norm: weight must have the input's dtype "
                                        "float32, got float64"):
        F.layer_norm(x, (3,), tg.ones(3, dtype=tg.float64))
