"""Losses: numerical stability, the reduction conventions and argument errors. Values and
gradients of both orders on drawn inputs run from the op registry (op_specs_nn.py)."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.autograd.ops.loss import BinaryCrossEntropyWithLogits


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_finite_and_exact_at_extreme_logits(dtype):
    logits = tg.tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype), requires_grad=True)
    target = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)

    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss.sum().backward()

    assert loss.dtype == dtype
    np.testing.assert_array_equal(loss.numpy(), [0.0, 0.0, 1e4, 1e4])
    np.testing.assert_array_equal(logits.grad.numpy(), [0.0, 0.0, 1.0, -1.0])


def test_bce_with_logits_keeps_tiny_losses_to_full_relative_precision():
    # softplus(-z) = log1p(e^-z) for a confident, correct prediction: no cancellation
    logits = np.array([20.0, 35.0, -30.0])
    target = np.array([1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(tg.tensor(logits), target, reduction="none")
    np.testing.assert_allclose(loss.numpy(), np.log1p(np.exp(-np.abs(logits))), rtol=1e-14)


def test_bernoulli_nll_is_bce_summed_per_sample():
    rng = np.random.default_rng(0)
    logits, bits = rng.standard_normal((3, 2, 4)), (rng.random((3, 2, 4)) > 0.5) * 1.0
    per_element = F.binary_cross_entropy_with_logits(tg.tensor(logits), bits, "none").numpy()
    nll = F.bernoulli_nll(tg.tensor(logits), bits, reduction="none")
    np.testing.assert_allclose(nll.numpy(), per_element.sum(axis=(1, 2)), rtol=1e-14)


@pytest.mark.parametrize("loss_fn", [F.gaussian_kl, F.bernoulli_nll])
def test_density_terms_reduce_over_the_batch_after_summing_each_sample(loss_fn):
    # "mean" is nats per sample, averaged over the batch: the ELBO's unit
    rng = np.random.default_rng(1)
    a, b = tg.tensor(rng.standard_normal((5, 3))), tg.tensor(rng.random((5, 3)))
    per_sample = loss_fn(a, b, reduction="none")
    assert per_sample.shape == (5,)
    np.testing.assert_allclose(loss_fn(a, b, reduction="sum").item(), per_sample.numpy().sum())
    np.testing.assert_allclose(loss_fn(a, b).item(), per_sample.numpy().mean())


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mu, logvar = np.array([[0.5, -1.0]]), np.array([[0.2, -0.7]])
    std = np.exp(0.5 * logvar)
    z = mu + std * rng.standard_normal((200_000, 2))
    log_q = -0.5 * (np.log(2 * np.pi) + logvar + (z - mu) ** 2 / std ** 2)
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)

    monte_carlo = (log_q - log_p).sum(axis=1).mean()
    closed_form = F.gaussian_kl(tg.tensor(mu), tg.tensor(logvar)).item()

    assert abs(monte_carlo - closed_form) < 0.01  # about 7 standard errors of the estimate


def test_cross_entropy_takes_spatial_targets():
    rng = np.random.default_rng(2)
    logits, target = rng.standard_normal((2, 4, 3, 3)), rng.integers(0, 4, (2, 3, 3))
    loss = F.cross_entropy(tg.tensor(logits), target, reduction="none")
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_losses_name_the_argument_the_expected_and_the_actual_value():
    logits = tg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be one of .*, got 'avg'"):
        F.mse_loss(logits, np.zeros((2, 3)), reduction="avg")
    with pytest.raises(ValueError, match=r"target must have the shape of logits \(2, 3\), "
                                         r"got \(3,\)"):
        F.binary_cross_entropy_with_logits(logits, np.zeros(3))
    with pytest.raises(TypeError, match="target must hold integer class indices, got dtype "
                                        "float64"):
        F.cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\) for logits of shape "
                                         r"\(2, 3\), got \(3,\)"):
        F.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"in \[0, 3\), got range \[0, 3\]"):
        F.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"logvar must have the shape of mu \(2, 3\)"):
        F.gaussian_kl(logits, tg.tensor(np.zeros((3, 2))))
    with pytest.raises(ValueError, match=r"x must have the shape of mu \(2, 3\)"):
        F.gaussian_nll(np.zeros(3), logits, logits)
    with pytest.raises(TypeError, match=r"bernoulli_nll: x must be a float array like logits "
                                        r"\(float64\), got dtype bool"):
        F.bernoulli_nll(logits, np.zeros((2, 3), dtype=bool))


def test_float_data_targets_take_the_dtype_of_the_prediction():
    logits = tg.tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(logits, np.ones((2, 3)))  # float64 data
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32
    assert F.mse_loss(logits, np.ones((2, 3))).dtype == np.float32


def test_bce_op_broadcasts_target_and_logits_with_gradients_of_both_orders():
    # the wrappers require equal shapes; the op itself is elementwise and broadcasts
    rng = np.random.default_rng(3)
    logits = tg.tensor(rng.standard_normal((1, 3)), requires_grad=True)
    target = tg.tensor(rng.random((4, 1)), requires_grad=True)

    def fn(logits, target):
        return BinaryCrossEntropyWithLogits().apply(logits, target)

    expected = np.logaddexp(0, logits.numpy()) - target.numpy() * logits.numpy()
    np.testing.assert_allclose(fn(logits, target).numpy(), expected, rtol=1e-12)
    assert gradcheck(fn, [logits, target], mode="full")
    assert gradgradcheck(fn, [logits, target])
