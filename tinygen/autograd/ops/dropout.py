"""Inverted dropout: zero each entry with probability p, scale the rest by 1/(1-p)."""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Randomly zero entries of x during training; the identity in evaluation.

    The mask comes from tinygen's generator for x's device, so ``tinygen.manual_seed`` makes
    it reproducible. It multiplies x as a constant, so the gradient is masked the same way.

    Args:
        x: any shape.
        p: the probability of zeroing an entry, in [0, 1).
        training: drop (and scale the rest by 1/(1-p)) if True; return x itself if False.

    Returns:
        A tensor of x's shape and dtype.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    generator = backend.get_generator(x.device)
    # uniforms drawn in x's dtype when the generator offers it: half the memory traffic of
    # float64 for float32 training
    draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    scale = (generator.random(x.shape, dtype=draw_dtype) >= p).astype(x.dtype)
    scale *= 1.0 / (1.0 - p)
    return x * Tensor._from_array(scale)
