"""The VAE family on binarized MNIST: VAE, conv VAE, conditional VAE, and semi-supervised M2.

The encoder q(z|x) gives a mean and a diagonal log-variance; z = mu + sigma * eps with
eps ~ N(0, I) (the reparameterization trick, so gradients flow through the sample); the
decoder gives Bernoulli logits for p(x|z). Training minimizes the negative ELBO,

    -ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)),

with one sample for the expectation and the KL in closed form. This file reads top to bottom:
the modules, the losses, the training loop, evaluation and pictures, and main().
"""

from __future__ import annotations

import math

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

DIGITS = 10
PIXELS = 28 * 28


# =========================================================================== modules
class MLPEncoder(nn.Module):
    """q(z | x [, y]): (N, 784 [+10]) -> mu, logvar, each (N, latent)."""

    def __init__(self, latent: int, hidden: int = 400, condition: int = 0):
        self.hidden = nn.Linear(PIXELS + condition, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x):
        h = F.relu(self.hidden(x))
        return self.mu(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """p(x | z [, y]): (N, latent [+10]) -> Bernoulli logits (N, 784)."""

    def __init__(self, latent: int, hidden: int = 400, condition: int = 0):
        self.hidden = nn.Linear(latent + condition, hidden)
        self.out = nn.Linear(hidden, PIXELS)

    def forward(self, z):
        return self.out(F.relu(self.hidden(z)))


class ConvEncoder(nn.Module):
    """Strided convs down: (N, 784) -> (N, 1, 28, 28) -> 14x14 -> 7x7 -> mu, logvar."""

    def __init__(self, latent: int, channels: int = 32):
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.mu = nn.Linear(2 * channels * 49, latent)
        self.logvar = nn.Linear(2 * channels * 49, latent)

    def forward(self, x):
        h = self.net(x)
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """Transposed convs up (the adjoint pair): z -> 7x7 -> 14x14 -> 28x28 logits (N, 784)."""

    def __init__(self, latent: int, channels: int = 32):
        self.net = nn.Sequential(
            nn.Linear(latent, 2 * channels * 49), nn.ReLU(),
            nn.Unflatten(1, (2 * channels, 7, 7)),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
            nn.Flatten(),
        )

    def forward(self, z):
        return self.net(z)


class VAE(nn.Module):
    """A VAE; ``conditional=True`` feeds a one-hot label to both encoder and decoder (cVAE)."""

    def __init__(self, latent: int = 20, hidden: int = 400, conv: bool = False,
                 conditional: bool = False):
        if conv and conditional:
            raise ValueError("VAE: choose conv=True or conditional=True, not both")
        self.latent = latent
        self.conditional = conditional
        condition = DIGITS if conditional else 0
        if conv:
            self.encoder, self.decoder = ConvEncoder(latent), ConvDecoder(latent)
        else:
            self.encoder = MLPEncoder(latent, hidden, condition)
            self.decoder = MLPDecoder(latent, hidden, condition)

    def encode(self, x, y=None):
        return self.encoder(x if y is None else tg.concatenate([x, y], axis=1))

    def decode(self, z, y=None):
        return self.decoder(z if y is None else tg.concatenate([z, y], axis=1))


class M2(nn.Module):
    """Kingma et al. (2014) M2: a classifier q(y|x), an encoder q(z|x,y), a decoder p(x|y,z)."""

    def __init__(self, latent: int = 50, hidden: int = 500):
        self.latent = latent
        self.classifier = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(),
                                        nn.Linear(hidden, hidden), nn.ReLU(),
                                        nn.Linear(hidden, DIGITS))
        self.vae = VAE(latent, hidden, conditional=True)


# =========================================================================== losses
def one_hot(labels, device: str = "cpu") -> tg.Tensor:
    """Integer labels (N,) -> float32 one-hot (N, 10)."""
    labels = labels.numpy() if isinstance(labels, tg.Tensor) else np.asarray(labels)
    return tg.tensor(np.eye(DIGITS, dtype=np.float32)[labels], device=device)


def reparameterize(mu, logvar):
    """z = mu + sigma * eps, eps ~ N(0, I): the sample is a differentiable function of mu and
    logvar, so the ELBO's gradient reaches the encoder."""
    eps = tg.randn(*mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (0.5 * logvar).exp() * eps


def negative_elbo(vae: VAE, x, y=None):
    """-ELBO per image, in nats: (N,). Bernoulli reconstruction term + closed-form KL."""
    mu, logvar = vae.encode(x, y)
    logits = vae.decode(reparameterize(mu, logvar), y)
    reconstruction = F.bernoulli_nll(logits, x, reduction="none")
    kl = F.gaussian_kl(mu, logvar, reduction="none")
    return reconstruction + kl


def m2_labelled_loss(model: M2, x, labels, alpha: float):
    """Labelled part of M2: -ELBO(x, y) - log p(y) + alpha * cross-entropy of q(y|x); (N,)."""
    y = one_hot(labels, x.device)
    log_prior = math.log(1.0 / DIGITS)
    logits = model.classifier(x)
    classification = F.cross_entropy(logits, labels, reduction="none")
    return negative_elbo(model.vae, x, y) - log_prior + alpha * classification


def m2_unlabelled_loss(model: M2, x):
    """Unlabelled part of M2, enumerating every y (no sampling of y):

        U(x) = sum_y q(y|x) (-ELBO(x, y) - log p(y)) - H(q(y|x)),  shape (N,).
    """
    n = x.shape[0]
    log_q_y = F.log_softmax(model.classifier(x), axis=1)                 # (N, 10)
    q_y = log_q_y.exp()
    # every image once per digit: (N, 784) -> (10*N, 784), labels 0..9 in blocks of N
    x_all = tg.concatenate([x] * DIGITS, axis=0)
    labels_all = np.repeat(np.arange(DIGITS), n)
    per_label = negative_elbo(model.vae, x_all, one_hot(labels_all, x.device))
    per_label = per_label.reshape(DIGITS, n).T - math.log(1.0 / DIGITS)  # (N, 10)
    entropy = -(q_y * log_q_y).sum(axis=1)
    return (q_y * per_label).sum(axis=1) - entropy


@tg.no_grad()
def importance_weighted_bound(vae: VAE, x, k: int, chunk: int = 100, y=None) -> np.ndarray:
    """The IWAE lower bound on log p(x) with k samples, per image (nats): (N,).

    log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)], z_i ~ q(z|x); it tightens as k
    grows, and is the number to set beside an autoregressive model's NLL.
    """
    mu, logvar = vae.encode(x, y)
    std = (0.5 * logvar).exp()
    log_weights = []
    for start in range(0, k, chunk):
        size = min(chunk, k - start)
        eps = tg.randn(size, *mu.shape, dtype=mu.dtype)
        z = mu + std * eps                                         # (size, N, latent)
        flat_z = z.reshape(size * x.shape[0], -1)
        flat_y = None if y is None else tg.concatenate([y] * size, axis=0)
        logits = vae.decode(flat_z, flat_y).reshape(size, x.shape[0], PIXELS)
        log_px_z = -F.binary_cross_entropy_with_logits(
            logits, tg.concatenate([x.reshape(1, *x.shape)] * size, axis=0),
            reduction="none").sum(axis=2)
        log_pz = -0.5 * (z * z + math.log(2 * math.pi)).sum(axis=2)
        log_qz = -0.5 * (eps * eps + math.log(2 * math.pi) + logvar).sum(axis=2)
        log_weights.append((log_px_z + log_pz - log_qz).numpy())
    log_weights = np.concatenate(log_weights, axis=0).astype(np.float64)  # (k, N)
    top = log_weights.max(axis=0)
    return top + np.log(np.exp(log_weights - top).mean(axis=0))
