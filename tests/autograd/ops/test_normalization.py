"""Batch norm: properties that the op registry's checks (forward against NumPy, first- and
second-order gradchecks, in tinygen/testing/op_specs_nn.py) do not state."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.testing import arrays, distinct_arrays


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def image_batches():
    """(x, upstream gradient) pairs of (N, C, H, W), batch 1 and odd sizes included."""
    shape = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5),
                      st.integers(1, 5)).filter(lambda s: s[0] * s[2] * s[3] > 1)
    return shape.flatmap(lambda s: st.tuples(distinct_arrays(shape=st.just(s), gap=0.3),
                                             arrays(s)))


@given(image_batches())
def test_batch_norm_input_gradients_sum_to_zero_over_batch_and_space(x_and_upstream):
    x_values, upstream = x_and_upstream
    x = leaf(x_values)
    channels = x.shape[1]
    weight, bias = leaf(np.linspace(0.5, 2.0, channels)), leaf(np.zeros(channels))

    y = F.batch_norm(x, None, None, weight, bias, training=True)
    (gx,) = grad(y, [x], grad_outputs=[upstream])

    np.testing.assert_allclose(gx.numpy().sum(axis=(0, 2, 3)), 0.0, atol=1e-9)


@given(image_batches(), st.booleans())
def test_array_backward_equals_the_recorded_differentiable_backward(x_and_upstream, training):
    # the first-order fast path on raw arrays and the create_graph path are two codings of
    # one closed form: they must agree to rounding
    x_values, upstream = x_and_upstream
    channels = x_values.shape[1]
    inputs = [leaf(x_values), leaf(np.linspace(0.5, 2.0, channels)),
              leaf(np.linspace(-1.0, 1.0, channels))]
    running = (np.linspace(-0.5, 0.5, channels), np.linspace(0.5, 1.5, channels))

    def run(create_graph):
        y = F.batch_norm(*inputs[:1], *(s.copy() for s in running), *inputs[1:],
                         training=training)
        return grad(y, inputs, [upstream], create_graph=create_graph)

    for fast, recorded in zip(run(False), run(True), strict=True):
        np.testing.assert_allclose(fast.numpy(), recorded.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("present", ["weight", "bias"])
def test_batch_norm_takes_weight_or_bias_alone_with_gradients_of_both_orders(present):
    x = leaf(np.random.default_rng(0).standard_normal((3, 2, 2, 3)))
    param = leaf([0.7, 1.3] if present == "weight" else [0.2, -0.4])

    def fn(x, param):
        return F.batch_norm(x, None, None, training=True, **{present: param})

    assert gradcheck(fn, [x, param], mode="full")
    assert gradgradcheck(fn, [x, param])


def test_batch_norm_updates_running_stats_in_place_with_unbiased_variance():
    x_values = np.random.default_rng(0).standard_normal((8, 3, 2, 2))
    running_mean, running_var = np.zeros(3), np.ones(3)

    F.batch_norm(tg.tensor(x_values), running_mean, running_var, training=True, momentum=0.25)

    batch_mean = x_values.mean(axis=(0, 2, 3))
    batch_var = x_values.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(running_mean, 0.25 * batch_mean)
    np.testing.assert_allclose(running_var, 0.75 + 0.25 * batch_var)


def test_eval_gradients_use_the_running_stats_of_the_forward_pass():
    # a training step between forward and backward updates the running stats in place; the
    # eval-mode graph recorded before it must still differentiate what it computed
    rng = np.random.default_rng(1)
    x, weight = leaf(rng.standard_normal((4, 3))), leaf([1.0, 2.0, 3.0])
    running_mean, running_var = rng.standard_normal(3), rng.random(3) + 0.5
    y = F.batch_norm(x, running_mean, running_var, weight, None, training=False)
    expected_x_hat = (x.numpy() - running_mean) / np.sqrt(running_var + 1e-5)

    F.batch_norm(tg.tensor(rng.standard_normal((4, 3)) + 5), running_mean, running_var,
                 training=True)
    (g_weight,) = grad(y.sum(), [weight])

    np.testing.assert_allclose(g_weight.numpy(), expected_x_hat.sum(axis=0), rtol=1e-12)


def test_batch_norm_keeps_float32_with_float64_running_stats():
    x = tg.tensor(np.ones((2, 3), dtype=np.float32))
    y = F.batch_norm(x, np.zeros(3), np.ones(3), training=False)
    assert y.dtype == np.float32


def test_batch_norm_rejects_bad_arguments():
    x = tg.tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match="eval mode.*running_mean"):
        F.batch_norm(x, training=False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\), got \(2,\)"):
        F.batch_norm(x, np.zeros(2), np.ones(2), training=True)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        F.batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\), got \(4,\)"):
        F.batch_norm(x, None, None, tg.tensor(np.ones(4)), training=True)
    with pytest.raises(ValueError, match=r"\(N, C, ...\) with at least 2 axes, got shape"):
        F.batch_norm(tg.tensor(np.ones(3)), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tg.tensor(np.ones((1, 3))), training=True)
