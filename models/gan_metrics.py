"""Sample-quality numbers for the GAN family, from a small MNIST classifier of our own.

A GAN has no likelihood to report, so "it works" needs another yardstick. Following the
Inception-score / FID recipe, with a tiny MNIST classifier in place of Inception:

- **classifier-FID**: the Fréchet distance between Gaussians fitted to the penultimate-layer
  features of real test images and of generated ones,
  ``|mu_r - mu_g|^2 + tr(C_r + C_g - 2 (C_r C_g)^(1/2))``; 0 for identical statistics;
- **mode coverage**: how many of the 10 digits receive at least 5% of the samples;
- **confidence**: ``exp(E_x KL(p(y|x) || p(y)))``, the Inception-score analogue (1 to 10;
  high when each sample is clearly one digit and the digits are balanced);
- **class accuracy** of a conditional generator: how often the classifier agrees with the
  label the sample was drawn for.

The classifier (a small conv net with a 64-unit feature layer) trains on the bundled split in
under a minute the first time it is asked for and is cached as a checkpoint, so every GAN run is
measured with the same network. :func:`make_evaluator` gives ``models.gan`` its measurement of
fresh samples during training. Run ``python -m models.gan_metrics`` to train the classifier
and print the metrics of the test set against itself and against a shifted copy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen import backend
from tinygen.data import DataLoader, default_split
from tinygen.optim import Adam, update_bn
from tinygen.train import Checkpoint

DIGITS = 10
PIXELS = 28 * 28
CLASSIFIER_PATH = Path("runs/gan_classifier/feature_cnn.npz")


# =========================================================================== the classifier
class FeatureClassifier(nn.Module):
    """A small conv net whose last hidden layer is the feature space of the FID:
    pixels in [0, 1] (N, 1, 28, 28) -> 14x14 -> 7x7 -> features (N, 64) -> logits (N, 10).

    Convolutions, not an MLP: the yardstick has to read strokes the way a person does. An
    MLP of the same cost reached only 95% test accuracy, which caps any class accuracy it
    could certify for a conditional generator below what the cGAN target asks for.
    """

    def __init__(self, width: int = 16, features: int = 64):
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.hidden = nn.Linear(2 * width * 7 * 7, features)
        self.head = nn.Linear(features, DIGITS)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, w, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 2w, 7, 7)
        return F.relu(self.hidden(x.reshape(x.shape[0], -1)))  # (N, 2w*7*7) -> (N, 64)

    def forward(self, x):
        return self.head(self.features(x))


def train_classifier(epochs: int = 4, seed: int = 0) -> tuple[FeatureClassifier, float]:
    """Train the classifier on t10k[:8000] (pixels / 255); returns it and its accuracy on
    t10k[8000:]. Under a minute on two CPU cores.

    It seeds tinygen's generators with ``seed`` for its own draws and gives them back as
    they were (:func:`random_state_kept`).
    """
    with random_state_kept():
        return _train_classifier(epochs, seed)


def _train_classifier(epochs: int, seed: int) -> tuple[FeatureClassifier, float]:
    tg.manual_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = default_split()
    x_train = as_images(train_images / np.float32(255))
    loader = DataLoader(x_train, train_labels, batch_size=128, shuffle=True, seed=seed)
    model = FeatureClassifier()
    optimizer = Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
    model.eval()
    x_test = as_images(test_images / np.float32(255))
    accuracy = float((predict(model, x_test).argmax(axis=1) == test_labels).mean())
    return model, accuracy


def load_classifier(path: str | Path = CLASSIFIER_PATH, verbose: bool = True
                    ) -> FeatureClassifier:
    """The cached classifier, trained and saved first if there is no file at ``path``.

    Neither loading nor training it moves tinygen's random generators, so a run draws the
    same numbers whether the yardstick was cached or not, fresh or resumed.

    Raises:
        CheckpointError: ``path`` is a file but not a readable classifier checkpoint (delete
            it to train a new one).
    """
    path = Path(path)
    if not path.exists():
        model, accuracy = train_classifier()
        Checkpoint(path, model=model).save(step=0, epoch=0)
        if verbose:
            print(f"trained the metric classifier: test accuracy {accuracy:.2%}; cached in "
                  f"{path}")
        return model.eval()
    with random_state_kept():  # the initial weights, about to be overwritten, draw numbers
        model = FeatureClassifier()
    # restore_rng=False: loading the yardstick must not rewind the caller's random draws
    Checkpoint(path, model=model).load(restore_rng=False)
    return model.eval()


@contextlib.contextmanager
def random_state_kept():
    """Run a block with tinygen's random generators put back as they were on the way out:
    the block's draws (and any ``manual_seed`` in it) leave the caller's stream alone."""
    saved = backend.get_rng_state()
    try:
        yield
    finally:
        backend.set_rng_state(saved)


# =========================================================================== the metrics
def as_images(images: np.ndarray) -> np.ndarray:
    """Any (N, ...) array of 784 pixels in [0, 1] -> float32 (N, 1, 28, 28)."""
    return np.asarray(images, dtype=np.float32).reshape(len(images), 1, 28, 28)


@tg.no_grad()
def predict(model: FeatureClassifier, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Class probabilities (N, 10) of images in [0, 1], any shape (N, ...) with 784 pixels."""
    images = as_images(images)
    return np.concatenate([F.softmax(model(tg.tensor(images[i:i + batch])), axis=1).numpy()
                           for i in range(0, len(images), batch)])


@tg.no_grad()
def features(model: FeatureClassifier, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Penultimate-layer features (N, 64) of images in [0, 1], float64 for the statistics."""
    images = as_images(images)
    return np.concatenate([model.features(tg.tensor(images[i:i + batch])).numpy()
                           for i in range(0, len(images), batch)]).astype(np.float64)


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """tr((A B)^(1/2)) for symmetric positive semi-definite A and B.

    A B is not symmetric, but it is similar to A^(1/2) B A^(1/2), which is, and similar
    matrices share eigenvalues; so the trace is the sum of square roots of the eigenvalues of
    that symmetric product, found with ``eigh`` (no scipy needed, and no complex round-off).
    """
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    product = root_a @ cov_b @ root_a
    product = (product + product.T) / 2  # symmetric up to round-off; make it exactly so
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(product), 0, None)).sum())


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d) and (M, d)."""
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    distance = (np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * trace_sqrt_product(cov_a, cov_b))
    return float(max(distance, 0.0))  # round-off can leave -1e-12 for identical sets


def sample_metrics(model: FeatureClassifier, samples: np.ndarray, real: np.ndarray,
                   labels: np.ndarray | None = None,
                   real_features: np.ndarray | None = None) -> dict:
    """All the numbers for one batch of samples in [0, 1] against real images in [0, 1].

    Args:
        model: the metric classifier.
        samples: generated images (N, ...) with 784 pixels each.
        real: real test images (M, ...), the reference of the FID.
        labels: for a conditional generator, the digit each sample was drawn for (N,).
        real_features: ``features(model, real)``, if already computed (it is the same for
            every evaluation of a run).

    Returns:
        ``classifier_fid``, ``modes_covered`` (of 10), ``rarest_digit_share`` (the share of
        the samples that the least generated digit gets; coverage counts the digits with at
        least 0.05), ``confidence`` (1..10), and ``class_accuracy`` when labels are given.
    """
    probabilities = predict(model, samples)
    counts = np.bincount(probabilities.argmax(axis=1), minlength=DIGITS)
    marginal = probabilities.mean(axis=0)
    kl = (probabilities * (np.log(probabilities + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    metrics = {
        "classifier_fid": frechet_distance(
            features(model, real) if real_features is None else real_features,
            features(model, samples)),
        "modes_covered": int((counts >= 0.05 * len(samples)).sum()),
        "rarest_digit_share": float(counts.min() / len(samples)),
        "confidence": float(np.exp(kl.mean())),
    }
    if labels is not None:
        metrics["class_accuracy"] = float((probabilities.argmax(axis=1) == labels).mean())
    return metrics



# =========================================================================== during training
def digit_labels(count: int, conditional: bool) -> np.ndarray | None:
    """The labels a cGAN's ``count`` samples are drawn for: 0, 1, ..., 9, 0, 1, ..., so every
    digit gets its share (None for an unconditional generator)."""
    return np.arange(count) % DIGITS if conditional else None


def refresh_batch_norm(G_average, args, step: int, batches: int = 20) -> None:
    """Batch-norm statistics for the averaged generator's own weights, from ``batches``
    batches of noise (drawn from their own generator, so evaluating leaves the training
    run's random stream as it was)."""
    rng = np.random.default_rng((args.seed, step, 1))
    noise = []
    for _ in range(batches):
        z = tg.tensor(rng.standard_normal((args.batch_size, args.latent), dtype=np.float32),
                      device=args.device)
        labels = rng.integers(0, DIGITS, args.batch_size) if args.model == "cgan" else None
        noise.append((z, labels))
    update_bn(noise, G_average)


def make_evaluator(G, args, classifier: FeatureClassifier, real_test: np.ndarray,
                   generate: Callable, G_average=None) -> Callable[..., dict]:
    """A function (step, count=args.eval_samples) -> :func:`sample_metrics` of ``count``
    fresh samples of ``G``, drawn by ``generate`` (``models.gan_samples.generate``); the
    cGAN's are drawn for the digits 0, 1, ..., 9, 0, ... With an averaged generator, its
    samples give the metrics and G's the same ones prefixed "raw_", both from the same
    noise."""
    real_features = []  # the test set's features: computed at the first evaluation, kept

    def evaluate(step: int, count: int | None = None) -> dict:
        count = count or args.eval_samples
        labels = digit_labels(count, args.model == "cgan")
        z = tg.randn(count, args.latent).numpy()
        if not real_features:
            real_features.append(features(classifier, real_test))
        metrics = sample_metrics(classifier, generate(G, count, args.latent, labels, z),
                                 real_test, labels, real_features[0])
        if G_average is None:
            return metrics
        refresh_batch_norm(G_average, args, step)
        averaged = sample_metrics(classifier, generate(G_average, count, args.latent, labels, z),
                                  real_test, labels, real_features[0])
        return {**averaged, **{f"raw_{name}": value for name, value in metrics.items()}}
    return evaluate


def main() -> dict:
    classifier = load_classifier()
    _, (test_images, test_labels) = default_split()
    real = test_images / np.float32(255)
    halves = real[:1000], real[1000:]
    metrics = {
        "test_vs_test": sample_metrics(classifier, halves[1], halves[0], test_labels[1000:]),
        "test_vs_shifted_test": sample_metrics(classifier, np.clip(halves[1] + 0.3, 0, 1),
                                               halves[0]),
    }
    for name, values in metrics.items():
        print(name, {key: round(value, 3) for key, value in values.items()})
    return metrics


if __name__ == "__main__":
    main()
