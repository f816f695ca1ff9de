"""Toy 2-D distributions for GAN demos: a ring, a mixture of Gaussians on a circle, two moons.

Each returns float32 points of shape (n, 2), drawn from its own generator seeded by ``seed``,
so a dataset is the same on every run and never disturbs tinygen's global generator.
"""

from __future__ import annotations

import numpy as np

from tinygen.data.arguments import seed as check_seed
from tinygen.nn.checks import count, number


def _check(n: int, name: str, seed, **scales) -> None:
    """``n`` a positive int, ``seed`` a seed, each of ``scales`` a finite number >= 0."""
    count(name, "n", n)
    check_seed(name, seed)
    for label, value in scales.items():
        number(name, label, value, 0.0)


def ring(n: int, radius: float = 1.0, noise: float = 0.05, seed: int | None = None
         ) -> np.ndarray:
    """Points at uniform angles on a circle of ``radius``, with Gaussian radial noise."""
    _check(n, "ring", seed, radius=radius, noise=noise)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radius + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype(np.float32)


def gaussian_mixture(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                     seed: int | None = None) -> np.ndarray:
    """An equal mixture of ``modes`` isotropic Gaussians centred evenly on a circle: the
    standard mode-collapse test (8 modes, radius 2, std 0.02 as in the unrolled-GAN paper)."""
    _check(n, "gaussian_mixture", seed, radius=radius, std=std)
    count("gaussian_mixture", "modes", modes)
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, modes, n)
    angle = 2.0 * np.pi * mode / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (centres + std * rng.standard_normal((n, 2))).astype(np.float32)


def mixture_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The (modes, 2) centres of :func:`gaussian_mixture`, for counting covered modes."""
    count("mixture_centres", "modes", modes)
    number("mixture_centres", "radius", radius, 0.0)
    angle = 2.0 * np.pi * np.arange(modes) / modes
    return (radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)).astype(np.float32)


def moons(n: int, noise: float = 0.05, seed: int | None = None) -> np.ndarray:
    """Two interleaving half circles (the upper one centred at 0, the lower at (1, 0.5)),
    ``n // 2`` points on the first and the rest on the second, in random order."""
    _check(n, "moons", seed, noise=noise)
    rng = np.random.default_rng(seed)
    upper = n // 2
    theta = rng.uniform(0.0, np.pi, n)
    x = np.where(np.arange(n) < upper, np.cos(theta), 1.0 - np.cos(theta))
    y = np.where(np.arange(n) < upper, np.sin(theta), 0.5 - np.sin(theta))
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return points[rng.permutation(n)].astype(np.float32)
