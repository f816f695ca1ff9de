"""Inverted dropout: zero each entry with probability p, scale the rest by 1/(1-p)."""

from __future__ import annotations

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Randomly zero entries of x during training; the identity in evaluation.

    The mask comes from tinygen's generator for x's device, so ``tinygen.manual_seed`` makes
    it reproducible. It multiplies x as a constant, so the gradient is masked the same way.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    generator = backend.get_generator(x.device)
    keep = generator.random(x.shape) >= p
    scale = keep.astype(x.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._from_array(scale)
