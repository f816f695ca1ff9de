"""Gradient clipping."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


@no_grad()
def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float | str = 2.0, eps: float = 1e-6, *,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    As torch.nn.utils.clip_grad_norm_: the norm is taken over all gradients as if they were
    concatenated into one vector, and each is multiplied by max_norm / (norm + eps) when
    that is below 1. The gradients change in place (``Tensor.mul_``, bumping their version).

    Args:
        parameters: a tensor or an iterable of tensors; those without ``.grad`` are skipped.
        max_norm: the largest norm allowed, > 0.
        norm_type: p of the p-norm (> 0), or ``math.inf`` (or "inf") for the largest
            absolute entry.
        eps: keeps the scale finite when the norm is 0, >= 0 (PyTorch fixes it at 1e-6).
        error_if_nonfinite: raise a RuntimeError when the norm is NaN or infinite, instead
            of scaling every gradient by it.

    Returns:
        The total norm before clipping, as a float (accumulated in float64).
    """
    where = "clip_grad_norm_"
    for name, value in (("max_norm", max_norm), ("eps", eps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{where}: {name} must be a real number, got "
                            f"{type(value).__name__} {value!r}")
    if not max_norm > 0:
        raise ValueError(f"{where}: max_norm must be > 0, got {max_norm}")
    if not eps >= 0:
        raise ValueError(f"{where}: eps must be >= 0, got {eps}")
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        norm_type = math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{where}: norm_type must be a real number or 'inf', got "
                        f"{type(norm_type).__name__} {norm_type!r}")
    if not norm_type > 0:
        raise ValueError(f"{where}: norm_type must be > 0 or math.inf, got {norm_type}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    elif isinstance(parameters, str) or not isinstance(parameters, Iterable):
        raise TypeError(f"{where}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}")
    parameters = list(parameters)
    for index, param in enumerate(parameters):
        if not isinstance(param, Tensor):
            raise TypeError(f"{where}: parameters[{index}] must be a Tensor, got "
                            f"{type(param).__name__}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    xp = get_array_module(grads[0].data)
    if math.isinf(norm_type):
        total = max((float(xp.abs(g.data).max()) for g in grads if g.numel()), default=0.0)
    else:
        powered = sum(float(xp.sum(xp.abs(g.data.astype("float64")) ** norm_type))
                      for g in grads)
        # through NumPy: a Python float overflowing in ** raises instead of giving inf
        total = float(np.power(np.float64(powered), 1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{where}: the total norm of order {norm_type} of the gradients "
                           f"is {total}, so they cannot be clipped (error_if_nonfinite=True)")
    scale = max_norm / (total + eps) if total + eps > 0 else math.inf  # eps 0, norm 0
    if scale < 1:
        for g in grads:
            g.mul_(scale)
    return total
