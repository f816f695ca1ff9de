"""Gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable

from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


@no_grad()
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, eps: float = 1e-6) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    As torch.nn.utils.clip_grad_norm_: the norm is taken over all gradients as if they were
    concatenated into one vector, and each is multiplied by max_norm / (norm + eps) when
    that is below 1. The gradients change in place (``Tensor.mul_``, bumping their version).

    Args:
        parameters: a tensor or an iterable of tensors; those without ``.grad`` are skipped.
        max_norm: the largest norm allowed, > 0.
        norm_type: p of the p-norm (> 0), or ``math.inf`` for the largest absolute entry.
        eps: keeps the scale finite when the norm is 0.

    Returns:
        The total norm before clipping, as a float (accumulated in float64).
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be > 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or math.inf, got "
                         f"{norm_type}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    xp = get_array_module(grads[0].data)
    if math.isinf(norm_type):
        total = max((float(xp.abs(g.data).max()) for g in grads if g.numel()), default=0.0)
    else:
        total = sum(float(xp.sum(xp.abs(g.data.astype("float64")) ** norm_type))
                    for g in grads) ** (1.0 / norm_type)
    scale = max_norm / (total + eps)
    if scale < 1:
        for g in grads:
            g.mul_(scale)
    return total
