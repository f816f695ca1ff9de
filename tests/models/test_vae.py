"""The VAE family's losses: KL, the reparameterization gradient, M2's enumeration, overfitting."""

import math
import tracemalloc

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
import tinygen.optim as optim
from models import vae


def binary_batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor((rng.random((n, vae.PIXELS)) > 0.7).astype(np.float32))


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    tg.manual_seed(0)
    model = vae.VAE(latent=3, hidden=16)
    mu, logvar = model.encode(binary_batch())
    z = vae.reparameterize(tg.tensor(np.repeat(mu.numpy()[None], 20_000, 0)),
                           tg.tensor(np.repeat(logvar.numpy()[None], 20_000, 0))).numpy()
    m, lv = mu.numpy()[None], logvar.numpy()[None]
    log_q = -0.5 * (np.log(2 * np.pi) + lv + (z - m) ** 2 / np.exp(lv))
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
    monte_carlo = (log_q - log_p).sum(axis=2).mean(axis=0)
    closed = F.gaussian_kl(mu, logvar, reduction="none").numpy()
    np.testing.assert_allclose(monte_carlo, closed, atol=0.05)


def test_reparameterized_gradient_matches_the_score_function_estimate():
    # d/dmu E_{z ~ N(mu, s^2)}[z^2] = 2 mu, by pathwise and by score-function estimates
    mu_value, log_std = 0.7, math.log(0.5)
    tg.manual_seed(1)
    mu = tg.tensor(np.full(200_000, mu_value), requires_grad=True)
    logvar = tg.tensor(np.full(200_000, 2 * log_std))
    z = vae.reparameterize(mu, logvar)
    (z * z).mean().backward()
    pathwise = mu.grad.numpy().sum()
    samples = np.random.default_rng(2).normal(mu_value, 0.5, 200_000)
    score = (samples ** 2 * (samples - mu_value) / 0.25).mean()
    assert abs(pathwise - 2 * mu_value) < 0.02
    assert abs(score - pathwise) < 0.05


def test_m2_unlabelled_loss_equals_the_explicit_sum_over_labels():
    tg.manual_seed(3)
    model = vae.M2(latent=4, hidden=16)
    model.eval()  # no dropout: both calls of the classifier below give the same q(y|x)
    x = binary_batch(n=3)
    tg.manual_seed(4)
    enumerated = vae.m2_unlabelled_loss(model, x).numpy()
    q_y = F.softmax(model.classifier(x), axis=1).numpy()
    tg.manual_seed(4)  # the same noise: one draw of eps for the 10 stacked copies
    explicit = np.zeros(3)
    stacked = []
    for digit in range(vae.DIGITS):
        y = vae.one_hot(np.full(3, digit))
        stacked.append((x, y))
    x_all = tg.concatenate([pair[0] for pair in stacked], axis=0)
    y_all = tg.concatenate([pair[1] for pair in stacked], axis=0)
    losses = vae.negative_elbo(model.vae, x_all, y_all).numpy().reshape(vae.DIGITS, 3)
    for digit in range(vae.DIGITS):
        explicit += q_y[:, digit] * (losses[digit] + math.log(vae.DIGITS))
    explicit += (q_y * np.log(q_y)).sum(axis=1)
    np.testing.assert_allclose(enumerated, explicit, rtol=1e-5)


def test_m2_classifier_drops_out_in_training_and_is_deterministic_in_eval():
    tg.manual_seed(7)
    classifier = vae.ConvClassifier(dropout=0.5)
    x = binary_batch(n=5)
    assert classifier(x).shape == (5, vae.DIGITS)
    classifier.train()
    assert not np.allclose(classifier(x).numpy(), classifier(x).numpy())
    classifier.eval()
    np.testing.assert_array_equal(classifier(x).numpy(), classifier(x).numpy())


def test_dynamic_binarization_draws_fresh_bernoulli_pixels_of_the_grey_levels():
    tg.manual_seed(8)
    grey = tg.tensor(np.tile(np.array([0.0, 0.25, 0.5, 1.0], np.float32), (20_000, 1)))
    first, second = vae.dynamic_binarize(grey).numpy(), vae.dynamic_binarize(grey).numpy()
    assert first.dtype == np.float32 and set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_allclose(first.mean(axis=0), [0.0, 0.25, 0.5, 1.0], atol=0.02)
    assert (first != second).mean() > 0.1  # a new draw each call: an augmentation


def test_random_shift_moves_each_image_by_its_own_offset_of_at_most_max_shift():
    tg.manual_seed(9)
    dots = np.zeros((200, vae.PIXELS), np.float32)
    dots[:, 14 * 28 + 14] = 1.0  # one lit pixel in the middle of every image
    shifted = vae.random_shift(tg.tensor(dots), max_shift=2).numpy().reshape(200, 28, 28)
    rows, columns = np.nonzero(shifted.sum(axis=0))
    assert shifted.sum(axis=(1, 2)).tolist() == [1.0] * 200  # moved, not lost or copied
    assert set(rows) == set(columns) == set(range(12, 17))  # every offset in [-2, 2] occurs
    assert len({image.argmax() for image in shifted}) > 1  # images move independently


def test_a_few_steps_overfit_a_tiny_batch():
    tg.manual_seed(5)
    model = vae.VAE(latent=4, hidden=64)
    x = binary_batch(n=4)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = vae.negative_elbo(model, x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first


def test_iwae_bound_is_at_least_the_elbo_and_tightens_with_k():
    tg.manual_seed(6)
    model = vae.VAE(latent=2, hidden=16)
    x = binary_batch(n=5)
    with tg.no_grad():
        elbo = -np.mean([vae.negative_elbo(model, x).numpy() for _ in range(200)], axis=0)
    bound_10 = vae.importance_weighted_bound(model, x, k=10)
    bound_500 = vae.importance_weighted_bound(model, x, k=500)
    assert (bound_10 >= elbo - 1.0).all()
    assert bound_500.mean() >= bound_10.mean() - 0.5


def test_iwae_bound_does_not_depend_on_how_many_rows_go_through_at_once():
    model = vae.VAE(latent=3, hidden=16)
    x = binary_batch(n=7)
    bounds = []
    for rows in (1, 5, 7, 30, 10_000):  # one pair at a time, parts of images, whole draws
        tg.manual_seed(11)
        bounds.append(vae.importance_weighted_bound(model, x, k=9, rows=rows))
    for bound in bounds[1:]:
        np.testing.assert_allclose(bound, bounds[0], rtol=1e-6)


def test_evaluation_peak_memory_stays_within_twice_the_training_peak():
    """The issue's case: the IWAE bound over 1000 test images (k=20 here, 1000 in a full run)
    once held every sample's decoded logits at once, 7x the training peak at k=20 and 33x
    at k=100. Measured with tracemalloc, the data counted in both peaks."""
    tracemalloc.start()
    try:
        args = vae.parse_flags(["--model", "vae"])
        tg.manual_seed(0)
        (x_train, labels), (x_test, test_labels) = vae.load_data(args)
        model, loader, _, _ = vae.model_and_batches(args, x_train, labels)
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
        tracemalloc.reset_peak()
        for x, _ in (batch for _, batch in zip(range(5), loader)):
            loss = vae.negative_elbo(model, x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        training_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        vae.evaluate(model, x_test, test_labels, iwae_ks=(20,), iwae_images=1000)
        evaluation_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert evaluation_peak <= 2 * training_peak, (evaluation_peak / 2**20,
                                                  training_peak / 2**20)


def test_quick_runs_write_their_metrics_and_pictures(tmp_path):
    metrics = vae.main(["--quick", "--model", "vae", "--latent", "2", "--out",
                        str(tmp_path / "2d")])
    assert metrics["test_iwae_nll_k100"] <= metrics["subset_neg_elbo"] + 1.0
    for name in ("reconstructions.png", "samples.png", "interpolation.png", "manifold.png",
                 "latent_scatter.png", "metrics.png", "checkpoint.npz"):
        assert (tmp_path / "2d" / name).exists(), name
    vae.main(["--quick", "--model", "cvae", "--out", str(tmp_path / "cvae")])
    assert (tmp_path / "cvae" / "samples_by_digit.png").exists()
    assert (tmp_path / "cvae" / "style_transfer.png").exists()
    evaluated = vae.main(["--eval-only", "--model", "cvae", "--out", str(tmp_path / "cvae"),
                          "--resume", "--quick"])
    assert "test_neg_elbo" in evaluated


@pytest.mark.slow
def test_m2_quick_run_reports_accuracy_and_its_checkpoint_evaluates_the_same(tmp_path):
    metrics = vae.main(["--quick", "--model", "m2", "--labels", "100", "--out",
                        str(tmp_path / "m2")])
    assert 0.0 <= metrics["accuracy"] <= 1.0
    evaluated = vae.main(["--eval-only", "--model", "m2", "--labels", "100", "--out",
                          str(tmp_path / "m2"), "--resume", "--quick"])
    assert evaluated["accuracy"] == metrics["accuracy"]  # eval mode: no dropout, same model
