"""Losses: numerical stability, PyTorch's edge behaviour (ignored targets, empty batches,
probabilities 0 and 1, 0-d inputs), the reduction conventions and argument errors. Values and
gradients of both orders on drawn inputs run from the op registry (op_specs_nn.py,
op_specs_loss.py); tests/parity/test_loss_parity.py compares with PyTorch."""

import warnings

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
    per_element = F.binary_cross_entropy_with_logits(tg.tensor(logits), bits,
                                                     reduction="none").numpy()
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
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target must have "
                                         r"the shape of input \(2, 3\), got \(3,\)"):
        F.binary_cross_entropy_with_logits(logits, np.zeros(3))
    with pytest.raises(TypeError, match=r"nll_loss: target must hold integer class indices "
                                        r"\(int64\), got dtype float64"):
        F.nll_loss(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: target must have shape \(2,\) for "
                                         r"input of shape \(2, 3\), got \(3,\)"):
        F.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(IndexError, match=r"cross_entropy: target must hold class indices in "
                                         r"\[0, 3\) \(or ignore_index=-100\), got 3"):
        F.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(IndexError, match=r"nll_loss: .*got -1"):
        F.nll_loss(logits, np.array([-1, 0]))
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


# --------------------------------------------------------------------------- binary
def test_bce_at_probabilities_zero_and_one_is_finite_as_pytorch():
    # each log is floored at -100; the gradient's denominator p (1 - p) at 1e-12 (float32's)
    p = tg.tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.5]), requires_grad=True)
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.25])

    loss = F.binary_cross_entropy(p, y, reduction="none")
    loss.sum().backward()

    floor = float(np.float32(1e-12))
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 100.0, 100.0, np.log(2)], rtol=1e-12)
    np.testing.assert_allclose(p.grad.numpy(), [0.0, 0.0, -1 / floor, 1 / floor, 1.0],
                               rtol=1e-12)


def test_bce_refuses_inputs_that_are_not_probabilities():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities "
                                         r"in \[0, 1\], got values in \[0.5, 1.5\]"):
        F.binary_cross_entropy(tg.tensor(np.array([0.5, 1.5])), np.ones(2))
    with pytest.raises(TypeError, match=r"binary_cross_entropy: target must be a float array "
                                        r"like input \(float64\), got dtype int64"):
        F.binary_cross_entropy(tg.tensor(np.array([0.5])), np.array([1]))


def test_bce_with_logits_takes_zero_dim_logits():
    logit = tg.tensor(np.array(0.3), requires_grad=True)

    loss = F.binary_cross_entropy_with_logits(logit, np.array(1.0))
    loss.backward()

    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), np.log1p(np.exp(-0.3)), rtol=1e-14)
    np.testing.assert_allclose(logit.grad.item(), 1 / (1 + np.exp(-0.3)) - 1, rtol=1e-14)


def test_pos_weight_scales_only_the_positive_term_per_class():
    logits = tg.tensor(np.array([[0.5, -1.0], [2.0, 0.0]]))
    target = np.array([[1.0, 0.0], [0.0, 1.0]])
    pos_weight = np.array([3.0, 0.5])

    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none",
                                              pos_weight=pos_weight)

    plain = F.binary_cross_entropy_with_logits(logits, target, reduction="none").numpy()
    np.testing.assert_allclose(loss.numpy(), plain * np.where(target == 1, pos_weight, 1.0),
                               rtol=1e-14)


def test_a_reduction_passed_where_pytorch_has_weight_is_named_in_the_error():
    with pytest.raises(TypeError, match=r"weight must be a float array, got the string 'none' "
                                        r"\(pass it as reduction='none'\)"):
        F.binary_cross_entropy_with_logits(tg.tensor(np.zeros(2)), np.zeros(2), "none")


# --------------------------------------------------------------------------- classes
def test_nll_with_every_target_ignored_is_nan_with_zero_gradients_as_pytorch():
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)

    loss = F.nll_loss(x, np.full(3, -100))
    loss.backward()

    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


@pytest.mark.parametrize("reduction, expected", [("mean", np.nan), ("sum", 0.0)])
def test_cross_entropy_of_an_empty_batch(reduction, expected):
    loss = F.cross_entropy(tg.tensor(np.zeros((0, 3))), np.zeros(0, dtype=np.int64),
                           reduction=reduction)
    np.testing.assert_array_equal(loss.numpy(), expected)


def test_ignore_index_may_name_a_real_class():
    x = np.log(np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]))
    loss = F.nll_loss(tg.tensor(x), np.array([1, 0, 1]), ignore_index=0)
    np.testing.assert_allclose(loss.item(), -(np.log(0.8) + np.log(0.5)) / 2, rtol=1e-14)


def test_weighted_mean_divides_by_the_weights_of_the_counted_targets():
    x = np.log(np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]))
    weight = np.array([2.0, 3.0])
    loss = F.nll_loss(tg.tensor(x), np.array([1, 0, -100]), weight=weight)
    np.testing.assert_allclose(loss.item(), -(3 * np.log(0.8) + 2 * np.log(0.6)) / 5,
                               rtol=1e-14)


def test_unbatched_cross_entropy_is_the_batch_of_one():
    scores = np.array([0.3, -1.2, 2.0])
    single = F.cross_entropy(tg.tensor(scores), np.array(2), label_smoothing=0.2)
    batch = F.cross_entropy(tg.tensor(scores[None]), np.array([2]), label_smoothing=0.2)
    assert single.shape == ()
    np.testing.assert_allclose(single.item(), batch.item(), rtol=1e-14)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_one_hot_probability_targets_equal_class_indices(label_smoothing):
    rng = np.random.default_rng(4)
    scores, classes = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))
    one_hot = np.moveaxis(np.eye(3)[classes], -1, 1)  # (N, d) -> (N, d, C) -> (N, C, d)

    by_index = F.cross_entropy(tg.tensor(scores), classes, reduction="none",
                               label_smoothing=label_smoothing)
    by_probability = F.cross_entropy(tg.tensor(scores), one_hot, reduction="none",
                                     label_smoothing=label_smoothing)

    np.testing.assert_allclose(by_probability.numpy(), by_index.numpy(), rtol=1e-13)


def test_classification_losses_name_the_argument_the_expected_and_the_actual_value():
    scores = tg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in "
                                         r"\[0.0, 1.0\], got 1.5"):
        F.cross_entropy(scores, np.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"nll_loss: weight must have shape \(3,\) \(one per "
                                         r"class\), got \(2,\)"):
        F.nll_loss(scores, np.array([0, 1]), weight=np.ones(2))
    with pytest.raises(ValueError, match=r"cross_entropy: a probability target must have the "
                                         r"shape of input \(2, 3\), got \(2, 4\)"):
        F.cross_entropy(scores, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"ignore_index is not supported for probability "
                                         r"targets .*got ignore_index=1"):
        F.cross_entropy(scores, np.zeros((2, 3)), ignore_index=1)
    with pytest.raises(ValueError, match=r"nll_loss: input must have shape \(C,\), \(N, C\) or "
                                         r"\(N, C, d1, ...\), got a 0-d tensor"):
        F.nll_loss(tg.tensor(np.array(1.0)), np.array(0))
    with pytest.raises(ValueError, match=r"nll_loss: reduction must be one of .*, got 'avg'"):
        F.nll_loss(scores, np.array([0, 1]), reduction="avg")
    with pytest.raises(TypeError, match=r"cross_entropy: input must be a Tensor, got ndarray"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]))


# --------------------------------------------------------------------------- divergences
def test_kl_div_counts_zero_targets_as_zero_and_batchmean_is_per_sample():
    log_q = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]))
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.2, 0.6]])
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(p > 0, p * (np.log(p) - log_q), 0.0)

    loss = F.kl_div(tg.tensor(log_q), p, reduction="batchmean")

    np.testing.assert_allclose(loss.item(), pointwise.sum() / 2, rtol=1e-14)


def test_kl_div_warns_that_mean_is_not_the_divergence_as_pytorch():
    with pytest.warns(UserWarning, match="'batchmean' divides by the batch size only"):
        F.kl_div(tg.tensor(np.zeros((2, 2))), np.full((2, 2), 0.5))


# --------------------------------------------------------------------------- regression
def test_regression_target_of_another_shape_broadcasts_with_a_warning():
    x = tg.tensor(np.zeros((3, 1)))
    with pytest.warns(UserWarning, match=r"mse_loss: target shape \(3,\) differs from input "
                                         r"shape \(3, 1\); they broadcast to \(3, 3\)"):
        loss = F.mse_loss(x, np.array([1.0, 2.0, 3.0]), reduction="none")
    assert loss.shape == (3, 3)
    with pytest.raises(ValueError, match=r"l1_loss: target must have the shape of input "
                                         r"\(3, 1\) \(or broadcast with it\), got \(2, 2\)"):
        F.l1_loss(x, np.zeros((2, 2)))


def test_regression_targets_may_be_integers_as_pytorch_promotes_them():
    x = tg.tensor(np.array([0.5, 1.5], dtype=np.float32))
    loss = F.mse_loss(x, np.array([1, 1]))
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), 0.25)


def test_huber_is_delta_times_smooth_l1_with_beta_delta():
    rng = np.random.default_rng(5)
    x, y = tg.tensor(rng.standard_normal(20) * 3), rng.standard_normal(20)
    huber = F.huber_loss(x, y, reduction="none", delta=1.5)
    smooth = F.smooth_l1_loss(x, y, reduction="none", beta=1.5)
    np.testing.assert_allclose(huber.numpy(), 1.5 * smooth.numpy(), rtol=1e-14)


def test_weighted_mse_mean_divides_by_the_summed_weights():
    x, y, w = np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([1.0, 3.0])
    loss = F.mse_loss(tg.tensor(x), y, weight=w)
    np.testing.assert_allclose(loss.item(), (1 + 3 * 4) / 4, rtol=1e-14)


def test_regression_losses_name_the_argument_the_expected_and_the_actual_value():
    x = tg.tensor(np.zeros(3))
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be >= 0, got -1"):
        F.smooth_l1_loss(x, np.zeros(3), beta=-1)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be > 0, got 0"):
        F.huber_loss(x, np.zeros(3), delta=0)
    with pytest.raises(ValueError, match=r"mse_loss: weight must have input's shape \(3,\), "
                                         r"got \(1,\)"):
        F.mse_loss(x, np.zeros(3), weight=np.ones(1))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var must be >= 0 everywhere, got "
                                         r"a minimum of -1.0"):
        F.gaussian_nll_loss(x, np.zeros(3), np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var must have input's shape "
                                         r"\(2, 3\), .*got \(3, 2\)"):
        F.gaussian_nll_loss(tg.tensor(np.zeros((2, 3))), np.zeros((2, 3)), np.ones((3, 2)))


def test_gaussian_nll_loss_clamps_the_variance_for_the_value_only():
    # PyTorch clamps var to eps under no_grad: the gradient reaches var as if unclamped
    var = tg.tensor(np.array([0.0, 2.0]), requires_grad=True)
    loss = F.gaussian_nll_loss(tg.tensor(np.array([1.0, 1.0])), np.zeros(2), var,
                               reduction="sum", eps=1e-3)
    loss.backward()
    expected = 0.5 * (np.log([1e-3, 2.0]) + 1 / np.array([1e-3, 2.0]))
    np.testing.assert_allclose(loss.item(), expected.sum(), rtol=1e-14)
    np.testing.assert_allclose(var.grad.numpy(), 0.5 * (1 / np.array([1e-3, 2.0])
                                                        - 1 / np.array([1e-3, 2.0]) ** 2))


# --------------------------------------------------------------------------- legacy flags
@pytest.mark.parametrize("size_average, reduce, reduction", [
    (None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none"),
])
def test_legacy_size_average_and_reduce_pick_the_reduction_with_a_warning(size_average, reduce,
                                                                          reduction):
    x, y = tg.tensor(np.array([1.0, 3.0])), np.zeros(2)
    with pytest.warns(UserWarning, match=f"use reduction='{reduction}' instead"):
        legacy = F.l1_loss(x, y, size_average=size_average, reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(legacy.numpy(),
                                      F.l1_loss(x, y, reduction=reduction).numpy())
