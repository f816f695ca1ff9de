"""Argument checks shared by the op wrappers and the layers: one definition each.

Each names the argument, what it expects and what it got, so a bad hyperparameter fails at
the call that passed it rather than deep inside an array routine.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from tinygen.autograd.tensor import Tensor


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _named(op: str | None, name: str) -> str:
    return name if op is None else f"{op}: {name}"


def positive(name: str, value, op: str | None = None) -> int:
    """``value`` as an int, which must be >= 1 (a channel count, a kernel size, ...).

    ``op``, when given, starts the error message (the public function's name)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{_named(op, name)} must be a positive int, got {value!r}")
    return int(value)


def pair(name: str, value, minimum: int = 1, op: str | None = None) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as a pair of ints ((h, w) arguments).

    ``op``, when given, starts the error message (the public function's name)."""
    values = (value, value) if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != 2 or not all(
            _is_int(v) and v >= minimum for v in values):
        raise ValueError(f"{_named(op, name)}: expected an int >= {minimum} or a pair of "
                         f"them, got {value!r}")
    return int(values[0]), int(values[1])


def real(op: str, name: str, value, low: float | None = None, high: float | None = None,
         low_open: bool = False) -> float:
    """``value`` as a float: a real number (not a bool, not NaN) in [low, high] (or
    (low, high] with ``low_open``), for eps, momentum, a slope, a probability.

    Raises:
        TypeError: not a real number (a str, None, a bool, a Tensor).
        ValueError: NaN, or outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    if math.isnan(value) or too_low or (high is not None and value > high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{op}: {name} must be in {bracket}{low}, {high}], got {value!r}")
    return value


def integer(op: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int (not a bool, not a float), at least ``minimum`` if given."""
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def floating(op: str, name: str, tensor) -> None:
    """Refuse a tensor that is not of a floating dtype (TypeError naming op and dtype)."""
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must have a floating dtype, got {tensor.dtype}")


def tensor_args(function):
    """Decorate a public op wrapper so that a non-Tensor where a Tensor is expected is a
    TypeError naming the function and the argument.

    The parameters checked are those annotated ``Tensor`` (``Tensor | None`` also takes
    None). The check runs only after the wrapper raised, so a valid call pays one call frame
    and nothing else; an error raised with all arguments well typed passes through as it is.
    """
    parameters = inspect.signature(function).parameters
    checked = [(name, "None" in str(p.annotation)) for name, p in parameters.items()
               if str(p.annotation).replace(" | None", "") == "Tensor"]
    names = list(parameters)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            given = {**dict(zip(names, args)), **kwargs}
            for name, optional in checked:
                value = given.get(name)
                if name in given and not isinstance(value, Tensor) and not (
                        optional and value is None):
                    raise TypeError(f"{function.__name__}: {name} must be a Tensor, got "
                                    f"{type(value).__name__}") from None
            raise

    return wrapper


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
