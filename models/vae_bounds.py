"""The importance-weighted (IWAE) bound on log p(x) of a VAE with a Bernoulli decoder, in
chunks: the number to set beside an autoregressive model's NLL, at the memory of a training
batch.

Burda, Grosse and Salakhutdinov (2016): with k samples z_i ~ q(z|x),

    log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],

a bound that tightens as k grows (k = 1 is the ELBO).
"""

from __future__ import annotations

import math

import numpy as np

import tinygen as tg
import tinygen.nn.functional as F


@tg.no_grad()
def importance_weighted_bound(vae, x, k: int, y=None, rows: int = 1024) -> np.ndarray:
    """The IWAE lower bound on log p(x) with k samples, per image (nats): (N,).

    Args:
        vae: a model with ``encode(x, y) -> (mu, logvar)`` and ``decode(z, y) -> logits``.
        x: binary images (N, D); y: their conditions (N, C), or None.
        k: importance samples per image.
        rows: (sample, image) pairs decoded at once.

    At most ``rows`` (sample, image) pairs are decoded at once, so memory stays that of a
    training batch or so whatever k and N are; the draws, and so the bound, do not depend
    on ``rows``.
    """
    n = x.shape[0]
    codes = [vae.encode(x[i:i + rows], None if y is None else y[i:i + rows])
             for i in range(0, n, rows)]
    mu, logvar = (tg.concatenate(parts, axis=0) for parts in zip(*codes))
    std = (0.5 * logvar).exp()
    samples = max(1, rows // n)  # samples per draw; with more than `rows` images, one
    images = max(1, rows // samples)
    log_weights = np.empty((k, n))
    for first in range(0, k, samples):
        size = min(samples, k - first)
        eps = tg.randn(size, *mu.shape, dtype=mu.dtype)  # (size, N, latent): one draw
        for start in range(0, n, images):
            part = slice(start, start + images)
            log_weights[first:first + size, part] = _log_weights(
                vae, x[part], None if y is None else y[part], mu[part], std[part],
                logvar[part], eps[:, part])
    top = log_weights.max(axis=0)
    return top + np.log(np.exp(log_weights - top).mean(axis=0))


def _log_weights(vae, x, y, mu, std, logvar, eps) -> np.ndarray:
    """log p(x, z) - log q(z|x) at z = mu + std * eps, for eps (S, N, latent): (S, N)."""
    size, n = eps.shape[:2]
    z = mu + std * eps                                                 # (S, N, latent)
    flat_y = None if y is None else tg.concatenate([y] * size, axis=0)
    logits = vae.decode(z.reshape(size * n, -1), flat_y).reshape(size, n, -1)
    log_px_z = -F.binary_cross_entropy_with_logits(
        logits, tg.concatenate([x.reshape(1, *x.shape)] * size, axis=0),
        reduction="none").sum(axis=2)
    log_pz = -0.5 * (z * z + math.log(2 * math.pi)).sum(axis=2)
    log_qz = -0.5 * (eps * eps + math.log(2 * math.pi) + logvar).sum(axis=2)
    return (log_px_z + log_pz - log_qz).numpy()
