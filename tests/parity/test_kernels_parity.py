"""Forward (and gradient) parity of the kernel ops with PyTorch CPU."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape", [(16, 5), (4, 3, 5, 7), (1, 2, 3, 3)])
def test_batch_norm_matches_torch_with_running_stats_over_several_steps(shape):
    channels = shape[1]
    weight, bias = rand(channels, seed=1) + 1.5, rand(channels, seed=2)
    ours_mean, ours_var = np.zeros(channels), np.ones(channels)
    theirs_mean, theirs_var = torch.zeros(channels, dtype=torch.float64), torch.ones(
        channels, dtype=torch.float64)
    for step in range(4):
        x = rand(*shape, seed=10 + step) * 2 + step
        for training in (True, False):
            ours = F.batch_norm(tg.tensor(x), ours_mean, ours_var, tg.tensor(weight),
                                tg.tensor(bias), training=training, momentum=0.2)
            theirs = TF.batch_norm(torch.tensor(x), theirs_mean, theirs_var,
                                   torch.tensor(weight), torch.tensor(bias), training=training,
                                   momentum=0.2)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours_mean, theirs_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours_var, theirs_var.numpy(), rtol=1e-12)


def test_batch_norm_gradients_match_torch():
    x, gy = rand(6, 3, 4, 4), rand(6, 3, 4, 4, seed=5)
    weight, bias = rand(3, seed=1) + 1.5, rand(3, seed=2)
    ours = [tg.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    F.batch_norm(ours[0], None, None, ours[1], ours[2], training=True).backward(gy)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    TF.batch_norm(theirs[0], None, None, theirs[1], theirs[2], training=True).backward(
        torch.tensor(gy))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_batch_norm_float32_fast_path_matches_torch_float32():
    # the raw-array backward in float32 (per-channel einsum sums) against PyTorch's kernel
    x = (rand(16, 8, 7, 5) * 3 + 2).astype(np.float32)
    gy = rand(16, 8, 7, 5, seed=5).astype(np.float32)
    weight, bias = (rand(8, seed=1) + 1.5).astype(np.float32), rand(8, seed=2).astype(np.float32)
    ours = [tg.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    y = F.batch_norm(ours[0], None, None, ours[1], ours[2], training=True)
    y_ref = TF.batch_norm(theirs[0], None, None, theirs[1], theirs[2], training=True)
    y.backward(gy)
    y_ref.backward(torch.tensor(gy))
    assert y.dtype == np.float32 and ours[0].grad.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), y_ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_lstm_cell_matches_torch_lstm_cell():
    batch, inputs, hidden = 3, 5, 4
    cell = torch.nn.LSTMCell(inputs, hidden).double()
    x, h0, c0 = rand(batch, inputs), rand(batch, hidden, seed=1), rand(batch, hidden, seed=2)
    with torch.no_grad():
        h_ref, c_ref = cell(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    w_ih, w_hh = cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy()
    b = cell.bias_ih.detach().numpy() + cell.bias_hh.detach().numpy()
    gates = tg.tensor(x) @ tg.tensor(w_ih.T) + tg.tensor(h0) @ tg.tensor(w_hh.T) + tg.tensor(b)
    h, c = F.lstm_cell(gates, tg.tensor(c0))
    np.testing.assert_allclose(h.numpy(), h_ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), c_ref.numpy(), rtol=1e-12)


def test_lstm_cell_gradients_match_torch_lstm_cell():
    batch, hidden = 3, 4
    gates, c0 = rand(batch, 4 * hidden) * 2, rand(batch, hidden, seed=1)
    gh, gc = rand(batch, hidden, seed=2), rand(batch, hidden, seed=3)
    ours = [tg.tensor(a, requires_grad=True) for a in (gates, c0)]
    h, c = F.lstm_cell(*ours)
    tg.autograd.backward([h, c], [gh, gc])
    # PyTorch's cell from weights that pass the gates through: x = gates, W_ih = I, h0 = 0
    cell = torch.nn.LSTMCell(4 * hidden, hidden).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.eye(4 * hidden, dtype=torch.float64))
        cell.weight_hh.zero_()
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    theirs = [torch.tensor(a, requires_grad=True) for a in (gates, c0)]
    h_ref, c_ref = cell(theirs[0], (torch.zeros(batch, hidden, dtype=torch.float64), theirs[1]))
    torch.autograd.backward([h_ref, c_ref], [torch.tensor(gh), torch.tensor(gc)])
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(reduction):
    logits, target = rand(6, 5) * 3, np.random.default_rng(1).random((6, 5))
    classes = np.array([0, 4, 2, 1, 3, 3])
    pairs = [
        (F.binary_cross_entropy_with_logits(tg.tensor(logits), target, reduction=reduction),
         TF.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(target),
                                             reduction=reduction)),
        (F.cross_entropy(tg.tensor(logits), classes, reduction=reduction),
         TF.cross_entropy(torch.tensor(logits), torch.tensor(classes), reduction=reduction)),
        (F.mse_loss(tg.tensor(logits), target, reduction=reduction),
         TF.mse_loss(torch.tensor(logits), torch.tensor(target), reduction=reduction)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_matches_torch_at_extreme_logits(dtype):
    logits = np.array([[1e4, -1e4, 30.0, -30.0, 0.0]], dtype=dtype)
    target = np.array([[1.0, 1.0, 0.0, 0.5, 0.25]], dtype=dtype)
    ours = tg.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(ours, target, reduction="sum")
    loss_ref = TF.binary_cross_entropy_with_logits(theirs, torch.tensor(target),
                                                   reduction="sum")
    loss.backward()
    loss_ref.backward()
    np.testing.assert_allclose(loss.numpy(), loss_ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_density_terms_match_torch_distributions():
    dist = torch.distributions
    mu, logvar, x = rand(4, 3), rand(4, 3, seed=1) * 0.5, rand(4, 3, seed=2)
    std = torch.tensor(np.exp(0.5 * logvar))
    normal = dist.Normal(torch.tensor(mu), std)
    kl = dist.kl_divergence(normal, dist.Normal(0.0, 1.0)).sum(dim=1)
    nll = -normal.log_prob(torch.tensor(x)).sum(dim=1)
    np.testing.assert_allclose(F.gaussian_kl(tg.tensor(mu), tg.tensor(logvar), "none").numpy(),
                               kl.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        F.gaussian_nll(x, tg.tensor(mu), tg.tensor(logvar), "none").numpy(), nll.numpy(),
        rtol=1e-12)
    bits = (np.random.default_rng(3).random((4, 3)) > 0.5).astype(float)
    bernoulli = -dist.Bernoulli(logits=torch.tensor(mu)).log_prob(torch.tensor(bits)).sum(1)
    np.testing.assert_allclose(F.bernoulli_nll(tg.tensor(mu), bits, "none").numpy(),
                               bernoulli.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_pooling_matches_torch(kernel, stride, padding):
    x = rand(2, 3, 7, 6)
    for ours_fn, theirs_fn in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        ours = ours_fn(tg.tensor(x), kernel, stride, padding)
        theirs = theirs_fn(torch.tensor(x), kernel, stride, padding)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    gy = rand(*ours.shape, seed=4)
    for ours_fn, theirs_fn in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        x_ours, x_theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours_fn(x_ours, kernel, stride, padding).backward(gy)
        theirs_fn(x_theirs, kernel, stride, padding).backward(torch.tensor(gy))
        np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-12)
    upsampled = F.upsample_nearest2d(tg.tensor(x), 2)
    expected = TF.interpolate(torch.tensor(x), scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(upsampled.numpy(), expected.numpy())
