"""Normalization (batch, layer, group, instance norm, F.normalize): properties that the op
registry's checks (forward against NumPy, first- and second-order gradchecks, in
tinygen/testing/op_specs_nn.py and op_specs_math.py) do not state."""

import math

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


# --------------------------------------------------------------------------- (N, C, ...) inputs
@pytest.mark.parametrize("shape", [(4, 3, 5), (2, 3, 2, 2, 3)])
def test_batch_norm_on_any_spatial_rank_equals_the_image_case(shape):
    x_values = np.random.default_rng(1).standard_normal(shape)
    as_image = x_values.reshape(shape[0], shape[1], -1, 1)  # (N, C, *S) -> (N, C, prod(S), 1)
    stats = [np.zeros(3), np.ones(3)], [np.zeros(3), np.ones(3)]

    y = F.batch_norm(tg.tensor(x_values), *stats[0], training=True)
    y_image = F.batch_norm(tg.tensor(as_image), *stats[1], training=True)

    np.testing.assert_allclose(y.numpy(), y_image.numpy().reshape(shape), rtol=1e-12)
    for mine, reference in zip(stats[0], stats[1], strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-12)


def test_batch_norm_of_ncl_has_gradients_of_both_orders():
    x = leaf(np.random.default_rng(2).standard_normal((3, 2, 4)))
    weight, bias = leaf([0.7, 1.3]), leaf([0.1, -0.2])

    def fn(x, weight, bias):
        return F.batch_norm(x, None, None, weight, bias, training=True)

    assert gradcheck(fn, [x, weight, bias], mode="full")
    assert gradgradcheck(fn, [x, weight, bias])


# --------------------------------------------------------------------------- layer / group norm
def test_layer_norm_rejects_a_shape_that_is_not_the_inputs_trailing_shape():
    x = tg.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape=\(3,\) must be the "
                                         r"input's trailing shape, got input shape \(2, 3, 4\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(3, 4\), got "
                                         r"\(4,\)"):
        F.layer_norm(x, (3, 4), weight=tg.ones(4))


def test_layer_norm_rows_have_zero_mean_and_unit_variance():
    x = tg.tensor(np.random.default_rng(3).standard_normal((5, 6)) * 4 + 2)
    y = F.layer_norm(x, [6], eps=1e-15).numpy()  # eps must be > 0; this one is invisible
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0, rtol=1e-12)


def test_group_norm_with_one_group_per_channel_is_instance_norm():
    x = tg.tensor(np.random.default_rng(4).standard_normal((2, 3, 4, 5)))
    np.testing.assert_allclose(F.group_norm(x, 3).numpy(), F.instance_norm(x).numpy(),
                               rtol=1e-12)


def test_group_norm_rejects_bad_groups_and_inputs():
    with pytest.raises(ValueError, match="group_norm: the input's 6 channels must divide into "
                                         "num_groups=4 groups"):
        F.group_norm(tg.ones(2, 6, 3), 4)
    with pytest.raises(ValueError, match="group_norm: expected more than 1 value per channel"):
        F.group_norm(tg.ones(1, 2), 2)
    with pytest.raises(ValueError, match="group_norm: input must be .N, C, .... with at least 2"):
        F.group_norm(tg.ones(4), 1)
    with pytest.raises(ValueError, match="num_groups must be a positive int, got 0"):
        F.group_norm(tg.ones(2, 4), 0)


# --------------------------------------------------------------------------- instance norm
def test_instance_norm_updates_running_stats_with_the_batch_average_of_instance_stats():
    x_values = np.random.default_rng(5).standard_normal((4, 3, 6)) + 1
    running_mean, running_var = np.zeros(3), np.ones(3)

    F.instance_norm(tg.tensor(x_values), running_mean, running_var, momentum=0.25)

    np.testing.assert_allclose(running_mean, 0.25 * x_values.mean(axis=2).mean(axis=0))
    np.testing.assert_allclose(running_var,
                               0.75 + 0.25 * x_values.var(axis=2, ddof=1).mean(axis=0))


def test_instance_norm_with_running_stats_normalizes_with_them():
    x_values = np.random.default_rng(6).standard_normal((2, 3, 4))
    mean, var = np.array([0.5, -1.0, 0.0]), np.array([2.0, 0.5, 1.0])

    y = F.instance_norm(tg.tensor(x_values), mean.copy(), var.copy(), use_input_stats=False)

    expected = (x_values - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


def test_instance_norm_rejects_one_spatial_element_and_missing_stats():
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element "
                                         r"when using input statistics, got input shape "
                                         r"\(2, 3, 1\)"):
        F.instance_norm(tg.ones(2, 3, 1))
    with pytest.raises(ValueError, match="instance_norm: use_input_stats=False needs "
                                         "running_mean and running_var"):
        F.instance_norm(tg.ones(2, 3, 4), use_input_stats=False)


# --------------------------------------------------------------------------- normalize
def test_normalize_keeps_a_zero_vector_zero_with_a_finite_gradient():
    x = leaf([[0.0, 0.0], [3.0, 4.0]])

    y = F.normalize(x)
    y.sum().backward()

    np.testing.assert_allclose(y.numpy(), [[0.0, 0.0], [0.6, 0.8]])
    # the zero row divides by eps, a constant: its gradient is 1 / eps
    np.testing.assert_allclose(x.grad.numpy()[0], [1e12, 1e12])
    assert np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
def test_normalize_gives_unit_p_norms_over_a_tuple_of_dims(p):
    x = tg.tensor(np.random.default_rng(7).standard_normal((2, 3, 4)))
    y = F.normalize(x, p=p, dim=(1, 2)).numpy()
    norms = np.abs(y).max(axis=(1, 2)) if p == math.inf else \
        (np.abs(y) ** p).sum(axis=(1, 2)) ** (1 / p)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)
