"""Properties of the kernel ops that the op registry's checks do not state."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad
from tinygen.autograd.ops.recurrent import lstm_cell_composite
from tinygen.testing import arrays


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


@given(st.tuples(st.integers(2, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))
       .flatmap(lambda shape: st.tuples(arrays(shape), arrays(shape))))
def test_batch_norm_input_gradients_sum_to_zero_over_batch_and_space(x_and_upstream):
    x_values, upstream = x_and_upstream
    x_values = x_values + np.arange(x_values.size).reshape(x_values.shape)  # no zero variance
    x = leaf(x_values)
    channels = x.shape[1]
    weight, bias = leaf(np.linspace(0.5, 2.0, channels)), leaf(np.zeros(channels))
    y = F.batch_norm(x, None, None, weight, bias, training=True)
    (gx,) = grad(y, [x], grad_outputs=[upstream])
    np.testing.assert_allclose(gx.numpy().sum(axis=(0, 2, 3)), 0.0, atol=1e-9)


def test_batch_norm_updates_running_stats_in_place_with_unbiased_variance():
    x_values = np.random.default_rng(0).standard_normal((8, 3, 2, 2))
    running_mean, running_var = np.zeros(3), np.ones(3)
    F.batch_norm(tg.tensor(x_values), running_mean, running_var, training=True, momentum=0.25)
    batch_mean = x_values.mean(axis=(0, 2, 3))
    batch_var = x_values.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(running_mean, 0.25 * batch_mean)
    np.testing.assert_allclose(running_var, 0.75 + 0.25 * batch_var)


def test_batch_norm_rejects_bad_arguments():
    x = tg.tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match="eval mode.*running_mean"):
        F.batch_norm(x, training=False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\), got \(2,\)"):
        F.batch_norm(x, np.zeros(2), np.ones(2), training=True)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, H, W\)"):
        F.batch_norm(tg.tensor(np.ones(3)), training=True)


@given(st.tuples(st.integers(1, 3), st.integers(1, 4)).flatmap(
    lambda nh: st.tuples(arrays((nh[0], 4 * nh[1])), arrays(nh), arrays(nh), arrays(nh))))
def test_fused_lstm_cell_equals_the_composed_cell_forward_and_gradients(data):
    gates_values, c_values, gh, gc = data
    fused_inputs = [leaf(gates_values), leaf(c_values)]
    composed_inputs = [leaf(gates_values), leaf(c_values)]
    fused = F.lstm_cell(*fused_inputs)
    composed = lstm_cell_composite(*composed_inputs)
    for a, b in zip(fused, composed, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
    fused_grads = grad(list(fused), fused_inputs, [gh, gc])
    composed_grads = grad(list(composed), composed_inputs, [gh, gc])
    for a, b in zip(fused_grads, composed_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


def test_lstm_cell_counts_a_missing_gradient_as_zero():
    gates, c_prev = leaf(np.full((1, 4), 0.3)), leaf([[0.5]])
    h, _c = F.lstm_cell(gates, c_prev)
    h.sum().backward()  # c is unused
    only_h = gates.grad.numpy().copy()
    gates.grad = None
    h, c = F.lstm_cell(gates, c_prev)
    (h.sum() + 0.0 * c.sum()).backward()
    np.testing.assert_allclose(gates.grad.numpy(), only_h)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_finite_and_exact_at_extreme_logits(dtype):
    logits = tg.tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype), requires_grad=True)
    target = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0.0, 0.0, 1e4, 1e4])
    loss.sum().backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [0.0, 0.0, 1.0, -1.0])


def test_losses_reject_bad_reductions_shapes_and_targets():
    logits = tg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(logits, np.zeros((2, 3)), reduction="avg")
    with pytest.raises(ValueError, match=r"target must have the shape of logits \(2, 3\)"):
        F.binary_cross_entropy_with_logits(logits, np.zeros(3))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        F.cross_entropy(logits, np.array([0, 3]))


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mu, logvar = np.array([[0.5, -1.0]]), np.array([[0.2, -0.7]])
    std = np.exp(0.5 * logvar)
    z = mu + std * rng.standard_normal((200_000, 2))
    log_q = -0.5 * (np.log(2 * np.pi) + logvar + (z - mu) ** 2 / std ** 2)
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
    monte_carlo = (log_q - log_p).sum(axis=1).mean()
    closed_form = F.gaussian_kl(tg.tensor(mu), tg.tensor(logvar)).item()
    assert abs(monte_carlo - closed_form) < 0.01


def test_dropout_is_identity_in_eval_and_reproducible_with_a_seed():
    x = tg.tensor(np.ones((100,)))
    assert F.dropout(x, 0.5, training=False) is x
    tg.manual_seed(3)
    first = F.dropout(x, 0.5).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(first, F.dropout(x, 0.5).numpy())
    assert set(np.unique(first)) <= {0.0, 2.0}
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        F.dropout(x, 1.0)


def test_pooling_validates_its_arguments():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="padding must be in"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.avg_pool2d(tg.tensor(np.ones((4, 4))), 2)
    assert F.max_pool2d(x, 2).shape == (1, 1, 2, 2)
