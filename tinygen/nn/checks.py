"""The argument and input checks the layers share.

Every error names the layer, the argument, what was expected and what was given, and is
raised before any array routine runs: a TypeError for a value of the wrong type (a string, a
float where an int is needed, a bool where a number is needed, a non-Tensor input, an input
dtype that does not match the layer's parameters), a ValueError for a value of the right type
out of its range (zero, negative, NaN, inf, a tuple of the wrong length, an unknown mode, a
wrong ndim or feature count), as PyTorch raises them.

The constructor checks run once per layer. The input check of a forward is a few attribute
reads: ``isinstance``, ``ndim``, one array-type (device) and one dtype comparison.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygen.autograd.tensor import Tensor, tensor
from tinygen.backend import DeviceError


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _kind(value) -> str:
    return f"{type(value).__name__} {value!r}"


# --------------------------------------------------------------------------- constructors
def count(layer: str, name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, which must be >= ``minimum`` (a size, a count, a factor)."""
    if not _is_int(value):
        raise TypeError(f"{layer}: {name} must be an int, got {_kind(value)}")
    if value < minimum:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(
            minimum, f"an int >= {minimum}")
        raise ValueError(f"{layer}: {name} must be {expected}, got {value!r}")
    return int(value)


def ints(layer: str, name: str, value, length: int, minimum: int = 1) -> tuple:
    """An int, or a tuple or list of ``length`` ints, each >= ``minimum``, as a tuple."""
    values = (value,) * length if _is_int(value) else value
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {length} ints, got "
                        f"{_kind(value)}")
    if len(values) != length:
        raise ValueError(f"{layer}: {name} must have {length} entries, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def optional_ints(layer: str, name: str, value, length: int, minimum: int = 1):
    """None, or :func:`ints` (an int, or a tuple of ``length`` ints)."""
    return None if value is None else ints(layer, name, value, length, minimum)


def number(layer: str, name: str, value, low: float = -math.inf, high: float = math.inf, *,
           above: bool = False, infinite: bool = False):
    """A real number in [low, high] (or (low, high] with ``above``), never NaN, and finite
    unless ``infinite``; returned unchanged."""
    if not _is_real(value):
        raise TypeError(f"{layer}: {name} must be a number, got {_kind(value)}")
    if math.isnan(value) or (math.isinf(value) and not infinite):
        raise ValueError(f"{layer}: {name} must be a finite number, got {value!r}")
    if value < low or value > high or (above and value == low):
        if high == math.inf:
            where = f"{'>' if above else '>='} {low:g}"
        else:
            where = f"in {'(' if above else '['}{low:g}, {high:g}]"
        raise ValueError(f"{layer}: {name} must be {where}, got {value!r}")
    return value


def flag(layer: str, name: str, value) -> bool:
    """A bool (NumPy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: {name} must be a bool, got {_kind(value)}")
    return bool(value)


def choice(layer: str, name: str, value, options: tuple) -> str:
    """One of the strings ``options``."""
    if isinstance(value, str) and value in options:
        return value
    expected = repr(options[-1]) if len(options) == 1 else (
        ", ".join(map(repr, options[:-1])) + f" or {options[-1]!r}")
    if not isinstance(value, str):
        raise TypeError(f"{layer}: {name} must be {expected}, got {_kind(value)}")
    raise ValueError(f"{layer}: {name} must be {expected}, got {value!r}")


def integer(layer: str, name: str, value, optional: bool = False):
    """An int of any sign (an axis, checked against the input's ndim in forward), or None
    when ``optional``."""
    if value is None and optional:
        return None
    if not _is_int(value):
        raise TypeError(f"{layer}: {name} must be an int, got {_kind(value)}")
    return int(value)


def weight_tensor(layer: str, name: str, value) -> Tensor | None:
    """None, or a floating Tensor; an array or a list of floats becomes one, as
    ``tinygen.tensor`` makes it (PyTorch takes Tensors only)."""
    if value is None:
        return None
    if not isinstance(value, Tensor):
        try:
            kind = np.asarray(value).dtype.kind if isinstance(
                value, (np.ndarray, list, tuple)) else ""
        except ValueError:  # a ragged list
            kind = ""
        if kind != "f":
            raise TypeError(f"{layer}: {name} must be a floating Tensor or None, got "
                            f"{_kind(value)}")
        value = tensor(value)
    if value.dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a floating Tensor, got dtype {value.dtype}")
    return value


# --------------------------------------------------------------------------- inputs
def check_input(layer: str, x, ndim: tuple | None = None, like: Tensor | None = None,
                floating: bool = False, name: str = "input") -> None:
    """Raise unless ``x`` is a Tensor with one of the ``ndim`` numbers of axes and, given a
    parameter ``like``, of its dtype and on its device (else, with ``floating``, of a
    floating dtype).

    A float64 input to a float32 layer is refused, as PyTorch refuses it: the policy that no
    op's kernel sees two floating dtypes; convert one side with ``.to(dtype=...)``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: {name} must be a Tensor, got {type(x).__name__}")
    data = x.data  # one property read; the checks below look at the raw array
    if ndim is not None and data.ndim not in ndim:
        dims = " or ".join(f"{n}-D" for n in ndim)
        raise ValueError(f"{layer}: expected a {dims} {name}, got shape {x.shape}")
    if like is not None:
        reference = like.data
        if type(data) is not type(reference):  # NumPy's ndarray or CuPy's: the device
            raise DeviceError(f"{layer}: expected {name} on {like.device} (the layer's "
                              f"parameters' device), got one on {x.device}")
        if data.dtype != reference.dtype:
            raise TypeError(f"{layer}: expected {name} of dtype {like.dtype} (the layer's "
                            f"parameters' dtype), got {x.dtype}")
    elif floating and data.dtype.kind != "f":
        raise TypeError(f"{layer}: expected a floating-point {name}, got dtype {x.dtype}")


def check_features(layer: str, x: Tensor, axis: int, expected: int, what: str) -> None:
    """Raise unless ``x`` has ``expected`` entries on ``axis``, naming the layer and shape."""
    if not -x.ndim <= axis < x.ndim or x.shape[axis] != expected:
        raise ValueError(f"{layer}: expected input with {expected} {what} on axis {axis}, got "
                         f"shape {x.shape}")
