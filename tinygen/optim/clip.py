"""Gradient clipping."""

from __future__ import annotations

import math

from tinygen.autograd.grad_mode import no_grad
from tinygen.backend import get_array_module


@no_grad()
def clip_grad_norm_(parameters, max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm``.

    Returns:
        The total norm before clipping (a float), as PyTorch does.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    xp = get_array_module(grads[0].data)
    total = math.sqrt(sum(float(xp.sum(g.data.astype("float64") ** 2)) for g in grads))
    scale = max_norm / (total + eps)
    if scale < 1:
        for g in grads:
            g.data *= scale  # .grad tensors are never saved for backward: safe in place
    return total
