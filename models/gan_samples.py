"""Samples of a trained GAN-family generator: batches in [0, 1], and the pictures of a run
(samples, one row per digit for the cGAN, latent interpolations, a "thickness" direction
found by vector arithmetic in z, and nearest training images).

``models.gan`` draws its pictures and its evaluation samples with these; they work on any
generator ``G(z, labels)`` with MNIST-shaped outputs in [-1, 1].
"""

from __future__ import annotations

import numpy as np

import tinygen as tg
from models import gan_metrics
from tinygen.train import (
    class_rows,
    latent_direction,
    latent_paths,
    nearest_neighbours,
    save_captioned_grid,
    save_image_grid,
)

DIGITS = 10


@tg.no_grad()
def generate(G, count: int, latent: int, labels=None, z=None, batch: int = 500) -> np.ndarray:
    """``count`` samples in [0, 1], (count, 1, 28, 28), with G in eval mode (batch norm's
    running statistics, so a sample does not depend on the rest of its batch)."""
    G.eval()
    z = tg.randn(count, latent).numpy() if z is None else np.asarray(z, dtype=np.float32)
    images = [G(tg.tensor(z[i:i + batch]), None if labels is None else labels[i:i + batch])
              .numpy() for i in range(0, count, batch)]
    return (np.concatenate(images) + 1) / 2


def progress_samples(G, args) -> np.ndarray:
    """64 samples of the same 64 codes at every call, for the report's slider of samples over
    training; the codes come from their own generator (seeded by ``--seed``), so drawing them
    leaves the run's random stream alone. The cGAN's are the digits 0, 1, ..., 9, 0, ..."""
    z = np.random.default_rng((args.seed, 2)).standard_normal((64, args.latent),
                                                              dtype=np.float32)
    return generate(G, 64, args.latent, gan_metrics.digit_labels(64, args.model == "cgan"), z)


@tg.no_grad()
def save_pictures(G, args, x_train, fixed_noise) -> dict:
    """Samples (one row per digit for the cGAN), latent interpolations, the thickness
    direction found by averaging z, and each sample beside its nearest training image.
    ``x_train`` is in [0, 1], like the samples. Returns the ink (mean pixel sum) at both ends
    and the middle of the thickness direction, and the mean distance to the nearest
    training image."""
    out, latent = args.out, args.latent
    conditional = args.model == "cgan"
    if conditional:  # one row per digit, the same 10 noise vectors in every row
        z, labels = class_rows(fixed_noise[:10], DIGITS)
        samples = generate(G, 100, latent, labels, z)
        save_image_grid(samples, out / "samples_by_digit.png", nrow=10)
    samples = generate(G, 64, latent, gan_metrics.digit_labels(64, conditional), fixed_noise[:64])
    save_image_grid(samples, out / "samples.png", nrow=8)

    # six linear paths between pairs of latent codes, one per row (one digit per row for cGAN)
    paths = latent_paths(fixed_noise[:12]).reshape(60, latent)  # (6, 10, latent) -> (60, latent)
    path_labels = None if not conditional else np.repeat(np.arange(6), 10)
    interpolation = generate(G, 60, latent, path_labels, paths)
    save_image_grid(interpolation, out / "interpolation.png", nrow=10)

    # vector arithmetic (the lecture's "smiling woman"): average z of the thickest and of the
    # thinnest tenth of samples, by ink; their difference is a "thickness" direction in z
    z = tg.randn(2000, latent).numpy()
    labels = gan_metrics.digit_labels(2000, conditional)
    ink = generate(G, 2000, latent, labels, z).sum(axis=(1, 2, 3))
    direction = latent_direction(z, ink, count=200)
    scales = np.linspace(-1.5, 1.5, 7, dtype=np.float32)
    # 8 codes, each moved along the direction by every scale: (8, 7, latent) -> (56, latent)
    arithmetic = (fixed_noise[:8, None, :] + scales[None, :, None] * direction).reshape(
        -1, latent)
    arithmetic_labels = None if not conditional else np.repeat(np.arange(8), len(scales))
    rows = generate(G, len(arithmetic), latent, arithmetic_labels, arithmetic)
    save_captioned_grid(rows, out / "thickness_arithmetic.png", nrow=len(scales),
                        title="Each row: one code moved along the thickness direction in z, "
                              "from thinner (left) to thicker (right).",
                        column_labels=[f"{scale:+.1f}" for scale in scales])
    row_ink = rows.sum(axis=(1, 2, 3)).reshape(8, len(scales)).mean(axis=0)  # (8*7,) -> (7,)

    # nearest training image (L2 in pixels) of 8 samples: samples on top, neighbours below
    neighbours, distances = nearest_neighbours(samples[:8], x_train)
    save_captioned_grid(np.concatenate([samples[:8], x_train[neighbours]]),
                        out / "nearest_neighbours.png", nrow=8,
                        title="Top: samples. Bottom: the training image nearest to each (L2 in "
                              "pixels); a copy would mean memorisation.",
                        row_labels=["sample", "nearest"])
    return {"ink_minus": float(row_ink[0]), "ink_zero": float(row_ink[len(scales) // 2]),
            "ink_plus": float(row_ink[-1]), "nearest_neighbour_distance": float(distances.mean())}
