"""The codes behind the usual pictures of a latent-variable model, and the scatter plot of a 2-D
latent space.

A generator or decoder turns codes into images; these functions choose the codes: the same
codes under every class (style kept, class changed), straight paths between codes, a
direction in code space that moves a measured property, and a lattice over a 2-D latent
space. Decode their output and tile it with :func:`tinygen.train.save_image_grid`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def class_rows(codes: np.ndarray, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The same codes once per class, for a grid with one row per class and one column per
    code: what a conditional model keeps (the codes: style) and what it changes (the class).

    Args:
        codes: (K, d) latent codes.
        classes: the number of classes.

    Returns:
        (codes tiled to (classes * K, d), their class labels (classes * K,): 0 K times, then
        1 K times, ...).
    """
    codes = np.asarray(codes)
    return np.tile(codes, (classes, 1)), np.repeat(np.arange(classes), len(codes))


def latent_paths(codes: np.ndarray, steps: int = 10) -> np.ndarray:
    """Straight paths between consecutive pairs of codes (0 to 1, 2 to 3, ...), ``steps``
    points each, both ends included: decoded, each path is a row of an interpolation grid,
    and smooth morphs along it show that the decoder is not a lookup table.

    Args:
        codes: (2P, d) latent codes.
        steps: points per path.

    Returns:
        (P, steps, d) in the codes' dtype (float32 codes give float32 paths).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) % 2:
        raise ValueError(f"latent_paths: codes must be (2P, d), got shape {codes.shape}")
    weights = np.linspace(0, 1, steps, dtype=codes.dtype)[:, None]  # (steps, 1)
    return np.stack([(1 - weights) * start + weights * end
                     for start, end in zip(codes[0::2], codes[1::2])])


def latent_direction(codes: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """Vector arithmetic in code space (the "smiling woman" of the DCGAN paper): the mean
    code of the ``count`` highest-scoring samples minus that of the ``count`` lowest.

    Args:
        codes: (N, d) codes that the samples were generated from.
        scores: (N,) a property measured on each sample (e.g. its ink).
        count: samples averaged at each end, at most N.

    Returns:
        (d,): a direction along which the property grows.
    """
    if not 0 < count <= len(codes) or len(scores) != len(codes):
        raise ValueError(f"latent_direction: need {len(codes)} scores and 0 < count <= "
                         f"{len(codes)}, got {len(scores)} scores and count={count}")
    order = np.argsort(scores)
    return codes[order[-count:]].mean(axis=0) - codes[order[:count]].mean(axis=0)


def latent_lattice(count: int = 15, extent: float = 2.5) -> np.ndarray:
    """A ``count`` x ``count`` lattice over [-extent, extent]^2 in row-major picture order
    (z[1] falls down the rows, z[0] grows along them): decoded and tiled with ``nrow=count``,
    it draws the manifold a 2-D latent space has learnt. Returns float32 (count^2, 2)."""
    axis = np.linspace(-extent, extent, count, dtype=np.float32)
    return np.array([[a, b] for b in axis[::-1] for a in axis], dtype=np.float32)


def save_latent_scatter(codes, labels: np.ndarray, path: str | os.PathLike, title: str = "",
                        label: str = "class") -> Path:
    """A scatter plot of 2-D codes (N, 2) (Tensor or array) coloured by their labels (N,),
    with a colour bar named ``label``, saved as a PNG. Returns the path."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    codes = backend.to_numpy(codes.data if isinstance(codes, Tensor) else codes)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"save_latent_scatter: codes must be (N, 2), got shape {codes.shape}")
    figure, axes = plt.subplots(figsize=(6, 5))
    points = axes.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4)
    figure.colorbar(points, ax=axes, label=label)
    axes.set(title=title, xlabel="z[0]", ylabel="z[1]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
