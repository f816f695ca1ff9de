"""The GAN family: the gradient penalty's double backward, detach in the D step, the
classifier-FID, and smoke runs of every script at toy sizes."""

import json

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from models import gan, gan_metrics, gan_toys
from tinygen.train import Checkpoint


def test_gradient_penalty_gradient_matches_central_finite_difference():
    tg.manual_seed(0)
    critic = gan.DCDiscriminator(channels=2, batch_norm=False).double()
    rng = np.random.default_rng(0)
    real = tg.tensor(rng.uniform(-1, 1, (2, 1, 28, 28)))
    fake = tg.tensor(rng.uniform(-1, 1, (2, 1, 28, 28)))

    def penalty():
        tg.manual_seed(1)  # the same interpolation points x_hat in every evaluation
        return gan.gradient_penalty(critic, real, fake)

    penalty().backward()
    h = 1e-6
    for name, index in (("net.0.weight", (1, 0, 2, 3)), ("net.2.weight", (3, 1, 0, 2)),
                        ("net.5.weight", (0, 2, 3, 4))):
        weight = dict(critic.named_parameters())[name]
        analytic = weight.grad.numpy()[index]
        original = weight.data.copy()
        values = []
        for sign in (1, -1):
            shifted = original.copy()
            shifted[index] += sign * h
            weight.data = shifted
            values.append(penalty().item())
        weight.data = original
        numeric = (values[0] - values[1]) / (2 * h)
        assert abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric)), name


def test_discriminator_step_on_detached_fakes_leaves_generator_grads_none():
    tg.manual_seed(0)
    G, D = gan.build("gan", latent=4, hidden=8, channels=2, dropout=0.0)
    x = tg.randn(3, 1, 28, 28)
    fake = G(tg.randn(3, 4))

    gan.discriminator_loss("gan", D(x), D(fake.detach())).backward()

    assert all(p.grad is None for p in G.parameters())
    assert all(p.grad is not None for p in D.parameters())
    gan.generator_loss("gan", D(fake)).backward()  # the G step: no detach, so G learns
    assert all(p.grad is not None for p in G.parameters())


def test_frechet_distance_is_zero_for_a_set_with_itself_and_grows_with_a_shift():
    features = np.random.default_rng(0).normal(size=(500, 8)) @ np.diag(np.arange(1.0, 9.0))

    assert gan_metrics.frechet_distance(features, features) < 1e-6
    # equal covariances: the distance is exactly the squared shift of the mean, 8 * s^2
    for shift in (0.5, 1.0):
        distance = gan_metrics.frechet_distance(features, features + shift)
        assert distance == pytest.approx(8 * shift ** 2, rel=1e-6)


class _DigitInFirstPixels(nn.Module):
    """A stand-in classifier: an image's digit is written in its first ten pixels."""

    def features(self, x):
        return x.reshape(x.shape[0], -1)[:, :10]  # (N, 1, 28, 28) -> (N, 10)

    def forward(self, x):
        return self.features(x) * 50.0  # near one-hot probabilities


def test_coverage_counts_digits_with_five_percent_and_reports_the_rarest_share():
    # 1000 samples; "7" gets exactly 5% (it counts), "9" 1.5% (it does not)
    counts = [155, 115, 115, 115, 115, 115, 115, 50, 90, 15]
    digits = np.repeat(np.arange(10), counts)
    samples = np.zeros((len(digits), 784), dtype=np.float32)
    samples[np.arange(len(digits)), digits] = 1.0

    metrics = gan_metrics.sample_metrics(_DigitInFirstPixels(), samples, samples)

    assert metrics["modes_covered"] == 9  # "7" at exactly 5% counts, "9" at 1.5% does not
    assert metrics["rarest_digit_share"] == pytest.approx(0.015)


def test_trace_sqrt_product_matches_diagonal_closed_form():
    a, b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 0.25])
    # tr((AB)^(1/2)) = sum sqrt(a_i b_i) for diagonal matrices
    assert gan_metrics.trace_sqrt_product(a, b) == pytest.approx(2 + 2 + 1.5)


def test_ring_map_sends_gaussian_noise_to_a_ring():
    z = np.random.default_rng(0).standard_normal((1000, 2))
    radii = np.linalg.norm(gan_toys.ring_map(z), axis=1)
    np.testing.assert_allclose(radii, 1 + np.linalg.norm(z, axis=1) / 10)


def test_bilinear_game_simultaneous_diverges_and_extragradient_converges():
    start = np.hypot(1.0, 1.0)
    final = {rule: np.hypot(*gan_toys.bilinear_trajectory(rule, steps=100)[-1])
             for rule in ("simultaneous", "alternating", "extragradient")}
    assert final["simultaneous"] > 1.5 * start
    assert final["extragradient"] < 0.8 * start
    assert 0.5 * start < final["alternating"] < 1.5 * start


def test_toy_demos_write_frames_gif_and_plots(tmp_path):
    metrics = gan_toys.main(["--steps", "6", "--frames", "2", "--saturation-steps", "3",
                             "--out", str(tmp_path)])

    for name in ("ring_map.png", "ring.gif", "mixture.gif", "bilinear_game.png",
                 "saturation.png", "report.html", "frames/ring_00006.png"):
        assert (tmp_path / name).is_file(), name
    assert {"ring_ring_error", "mixture_modes_covered", "bilinear_simultaneous_distance",
            "saturating_grad_norm"} <= set(metrics)


def test_the_metric_classifier_leaves_the_runs_random_draws_alone(tmp_path, monkeypatch):
    """Trained (the cache missing: it seeds its own draws) or loaded (its initial weights
    draw numbers before the checkpoint overwrites them), a run draws the same numbers."""
    def quick_training(epochs, seed):  # the real one takes a minute; this draws as it does
        tg.manual_seed(seed)
        return gan_metrics.FeatureClassifier(), 0.5

    monkeypatch.setattr(gan_metrics, "_train_classifier", quick_training)
    tg.manual_seed(3)
    expected = tg.randn(5).numpy()
    for _ in ("missing: trained and cached", "cached: loaded"):
        tg.manual_seed(3)
        gan_metrics.load_classifier(tmp_path / "classifier.npz", verbose=False)
        np.testing.assert_array_equal(tg.randn(5).numpy(), expected)
    assert (tmp_path / "classifier.npz").is_file()


@pytest.fixture(scope="module")
def classifier_path(tmp_path_factory):
    """A one-epoch metric classifier, so the smoke runs need not train the real one."""
    path = tmp_path_factory.mktemp("classifier") / "checkpoint.npz"
    model, _ = gan_metrics.train_classifier(epochs=1)
    Checkpoint(path, model=model).save(step=0)
    return path


@pytest.mark.parametrize("model, extra", [
    ("gan", ["--steps", "4", "--k", "2"]),
    ("cgan", ["--steps", "4"]),
    ("wgan-gp", ["--steps", "2", "--k", "2", "--channels", "2"]),
])
def test_quick_run_writes_pictures_and_sample_metrics(tmp_path, classifier_path, model, extra):
    metrics = gan.main(["--model", model, "--quick", "--out", str(tmp_path), "--hidden", "16",
                        "--eval-every", "2", "--eval-samples", "100", "--final-samples", "100",
                        "--classifier", str(classifier_path), *extra])

    assert np.isfinite(metrics["classifier_fid"])
    assert 0 <= metrics["modes_covered"] <= 10
    # two steps log no training losses and one evaluation: nothing for metrics.png to draw
    for name in ("samples.png", "interpolation.png", "thickness_arithmetic.png",
                 "nearest_neighbours.png", "report.html", "checkpoint.npz"):
        assert (tmp_path / name).is_file(), name
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [r["step"] for r in records if r.get("split") == "samples"][0] == 2
    assert 'class="snapshot" data-step="2"' in (tmp_path / "report.html").read_text()
    if model == "cgan":
        assert (tmp_path / "samples_by_digit.png").is_file()
        assert 0 <= metrics["class_accuracy"] <= 1


def test_epochs_set_the_number_of_generator_steps(tmp_path, classifier_path):
    """Without --steps, --epochs counts passes over the 8000 training images, one batch per
    generator step: 8000 // 2000 = 4 steps per epoch."""
    metrics = gan.main(["--model", "gan", "--epochs", "2", "--batch-size", "2000",
                        "--hidden", "16", "--out", str(tmp_path), "--eval-every", "100",
                        "--eval-samples", "100", "--final-samples", "100",
                        "--classifier", str(classifier_path)])

    assert metrics["steps"] == 8


def test_minibatch_std_sees_the_batch_spread_and_is_differentiable_twice():
    layer = gan.MinibatchStd()
    copies = tg.tensor(np.ones((4, 3, 2, 2)))
    spread_map = layer(copies).numpy()[:, 3]
    np.testing.assert_allclose(spread_map, 1e-4)  # sqrt(0 + 1e-8): a batch of copies
    x = tg.tensor(np.random.default_rng(0).normal(size=(3, 2, 2, 2)), requires_grad=True)
    tg.autograd.gradcheck(layer, [x])
    tg.autograd.gradgradcheck(layer, [x])
    D = gan.DCDiscriminator(channels=2, minibatch_std=True)
    assert D(tg.randn(4, 1, 28, 28)).shape == (4,)
    with pytest.raises(ValueError, match=r"x must be \(N, C, H, W\), got shape \(4, 3\)"):
        layer(tg.randn(4, 3))


def test_packed_discriminator_judges_images_in_groups():
    # eval: no batch statistics, so one group can be judged alone; float64, so that the
    # batch of 3 and the batch of 1 (different BLAS kernels) agree to rounding
    D = gan.DCDiscriminator(channels=2, pack=2).double().eval()
    x = tg.randn(6, 1, 28, 28, dtype="float64")
    logits = D(x)
    assert logits.shape == (3,)
    # the second logit is D's net on images 2 and 3 stacked as channels
    np.testing.assert_allclose(logits.numpy()[1],
                               D.net(x[2:4].reshape(1, 2, 28, 28)).numpy().reshape(()),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="batch size 5 is not a multiple of pack=2"):
        D(tg.randn(5, 1, 28, 28))
    with pytest.raises(ValueError, match="pack must be an int >= 1, got 0"):
        gan.DCDiscriminator(channels=2, pack=0)


def test_averaged_generator_is_sampled_and_checkpointed(tmp_path, classifier_path):
    metrics = gan.main(["--model", "dcgan", "--quick", "--steps", "3", "--channels", "2",
                        "--ema", "0.9", "--pack", "2", "--out", str(tmp_path),
                        "--eval-every", "3", "--eval-samples", "100", "--final-samples", "100",
                        "--classifier", str(classifier_path)])

    assert np.isfinite(metrics["classifier_fid"]) and np.isfinite(metrics["raw_classifier_fid"])
    with np.load(tmp_path / "checkpoint.npz") as saved:
        assert any(key.startswith("objects/generator_average/") for key in saved.files)


def test_label_smoothing_moves_the_real_target():
    """With target 0.9 the BCE on real logits is minimal where sigmoid(logit) = 0.9."""
    logit = float(np.log(0.9 / 0.1))
    real = tg.tensor([logit - 0.1, logit, logit + 0.1], requires_grad=True)
    fake = tg.tensor([-50.0, -50.0, -50.0])
    gan.discriminator_loss("dcgan", real, fake, real_target=0.9).backward()
    gradient = real.grad.numpy()
    assert gradient[0] < 0 < gradient[2] and abs(gradient[1]) < 1e-6


@pytest.mark.parametrize("flags, message", [
    (["--real-label", "1.5"], "--real-label must be in (0, 1], got 1.5"),
    (["--mismatch-weight", "-1"], "argument --mismatch-weight: expected a number >= 0, got -1"),
    (["--model", "wgan-gp", "--minibatch-std"], "--minibatch-std needs --model dcgan or lsgan"),
    (["--ema", "1"], "--ema must be in [0, 1), got 1.0"),
    (["--pack", "0"], "argument --pack: expected a positive integer, got 0"),
    (["--model", "wgan-gp", "--pack", "2"], "--pack needs --model dcgan or lsgan"),
    (["--pack", "3"], "--batch-size 64 must be a multiple of --pack 3"),
])
def test_bad_flags_are_refused_with_the_value(flags, message, capsys):
    with pytest.raises(SystemExit):
        gan.main(flags)
    assert message in capsys.readouterr().err
