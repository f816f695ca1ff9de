"""Inverted dropout: zero each entry (or each whole channel) with probability p, scale the
rest by 1/(1-p)."""

from __future__ import annotations

import warnings

import numpy as np

from tinygen import backend
from tinygen.autograd.ops.arguments import flag, floating, tensor_args
from tinygen.autograd.tensor import Tensor


def _check_p(op: str, p, x: Tensor, training) -> None:
    """p in [0, 1], a floating input (a mask scaled by 1/(1-p) has no integer meaning; PyTorch
    fails inside its kernel), training a bool."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    floating(op, "input", x)
    flag(op, "training", training)


def _drop(x: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    """x times a kept-or-not mask of ``mask_shape`` (broadcast over x) scaled by 1/(1-p)."""
    if not training or p == 0.0:
        return x
    if p == 1.0:  # everything dropped (PyTorch multiplies by zero, as here)
        xp = backend.get_array_module(x.data)
        return x * Tensor._from_array(xp.zeros((), dtype=x.dtype))
    generator = backend.get_generator(x.device)
    # uniforms drawn in x's dtype when the generator offers it: half the memory traffic of
    # float64 for float32 training
    draw_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    scale = (generator.random(mask_shape, dtype=draw_dtype) >= p).astype(x.dtype)
    scale *= 1.0 / (1.0 - p)
    return x * Tensor._from_array(scale)


@tensor_args
def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Randomly zero entries of x during training; the identity in evaluation, as
    torch.nn.functional.dropout.

    The mask comes from tinygen's generator for x's device, so ``tinygen.manual_seed`` makes
    it reproducible. It multiplies x as a constant, so the gradient is masked the same way.

    Args:
        x: any shape.
        p: the probability of zeroing an entry, in [0, 1]; p = 1 zeroes everything.
        training: drop (and scale the rest by 1/(1-p)) if True; return x itself if False.
        inplace: accepted for PyTorch code; tinygen has no in-place autograd ops, so the
            result is always a new tensor (x is left as it was).

    Returns:
        A tensor of x's shape and dtype.
    """
    _check_p("dropout", p, x, training)
    return _drop(x, p, training, x.shape)


@tensor_args
def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or unbatched (C, L) with probability p during
    training, as torch.nn.functional.dropout1d.

    Args:
        input: (N, C, L) or (C, L).
        p, training, inplace: as in :func:`dropout`.

    Returns:
        A tensor of input's shape: each (n, c) channel either zero or scaled by 1/(1-p).
    """
    _check_p("dropout1d", p, input, training)
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: input must be (N, C, L) or unbatched (C, L), got shape "
                         f"{input.shape}")
    channels = input.ndim - 1  # the axes a mask entry covers: (N, C) or (C,)
    return _drop(input, p, training, input.shape[:channels] + (1,))


@tensor_args
def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) with probability p during training, as
    torch.nn.functional.dropout2d.

    A 3-D input is read as PyTorch 2 reads it, with a warning: as (N, C, L), dropping 1-D
    channels (use :func:`dropout1d` to say so).

    Args:
        input: (N, C, H, W), or (N, C, L).
        p, training, inplace: as in :func:`dropout`.

    Returns:
        A tensor of input's shape: each (n, c) channel either zero or scaled by 1/(1-p).
    """
    _check_p("dropout2d", p, input, training)
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: input must be (N, C, H, W) (or (N, C, L)), got shape "
                         f"{input.shape}")
    if input.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is read as (N, C, L) and whole 1-D channels are "
                      "dropped, as in PyTorch; use dropout1d for that", UserWarning,
                      stacklevel=2)
    return _drop(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2))
