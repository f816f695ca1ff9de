"""Argument checks shared by the op wrappers and the layers: one definition each.

Each names the argument, what it expects and what it got, so a bad hyperparameter fails at
the call that passed it rather than deep inside an array routine.
"""

from __future__ import annotations

import numpy as np


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive(name: str, value) -> int:
    """``value`` as an int, which must be >= 1 (a channel count, a kernel size, ...)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as a pair of ints ((h, w) arguments)."""
    values = (value, value) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != 2 or not all(
            _is_int(v) and v >= minimum for v in values):
        raise ValueError(f"{name}: expected an int >= {minimum} or a pair of them, got "
                         f"{value!r}")
    return int(values[0]), int(values[1])


def dim_keepdim(op: str, dim, keepdim, axis=None, keepdims=None) -> tuple:
    """PyTorch's ``dim``/``keepdim``, or their NumPy aliases ``axis``/``keepdims``.

    Both spellings are accepted everywhere a reduction or shape op takes an axis, as PyTorch
    accepts ``axis=``; giving both spellings of one argument is an error.
    """
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: pass dim or axis, not both (got dim={dim!r}, axis={axis!r})")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)
