"""Argument checks shared by the op wrappers and the layers: one definition each.

Each names the argument, what it expects and what it got, so a bad hyperparameter fails at
the call that passed it rather than deep inside an array routine.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import operator
import sys

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
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    if math.isnan(number) or too_low or (high is not None and number > high):
        if high is None:
            wanted = "a number" if low is None else f"{'>' if low_open else '>='} {low!r}"
        else:
            wanted = f"in {'(' if low_open else '['}{low!r}, {high!r}]"
        raise ValueError(f"{op}: {name} must be {wanted}, got {value!r}")
    return number


def integer(op: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int (not a bool, not a float; a one-element integer Tensor counts, as
    in PyTorch), at least ``minimum`` if given."""
    if not _is_int(value):
        try:
            index = None if isinstance(value, bool) else operator.index(value)
        except TypeError:
            index = None
        if index is None:
            raise TypeError(f"{op}: {name} must be an int, got {value!r}")
        value = index
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def flag(op: str, name: str, value) -> bool:
    """``value`` as a bool: a bool (or NumPy bool), refused otherwise (keepdim, training)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {value!r}")
    return bool(value)


def ints(op: str, name: str, value, allow_int: bool = True) -> tuple:
    """``value`` as a tuple of ints: a sequence of ints, or (with ``allow_int``) one int
    (a shape, dims, sizes, shifts); bools, floats, None and strs are refused (TypeError)."""
    if allow_int and _is_int(value):
        return (int(value),)
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        expected = "an int or a sequence of ints" if allow_int else "a sequence of ints"
        raise TypeError(f"{op}: {name} must be {expected}, got {value!r}")
    return tuple(int(v) for v in value)


def tensor_list(op: str, tensors) -> list:
    """``tensors`` as a non-empty list of Tensors (cat, stack), or an error naming ``op``."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected at least one tensor, got none")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{op}: tensors[{index}] must be a Tensor, got "
                            f"{type(tensor).__name__}")
    return list(tensors)


def floating(op: str, name: str, tensor) -> None:
    """Refuse a tensor that is not of a floating dtype (TypeError naming op and dtype)."""
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must have a floating dtype, got {tensor.dtype}")


def _names(error: BaseException, name: str) -> bool:
    """Whether an error's message or notes name the function ``name`` (without case or
    underscores: ``batch_norm`` matches "BatchNorm")."""
    key = name.replace("_", "").lower()
    text = " ".join([str(error), *getattr(error, "__notes__", ())])
    return key in text.replace("_", "").lower()


def tensor_args(function):
    """Decorate a public op wrapper so that a non-Tensor where a Tensor is expected is a
    TypeError naming the function and the argument.

    The parameters checked are those annotated ``Tensor`` (``Tensor | None`` also takes
    None). The check runs only after the wrapper raised, so a valid call pays one call frame
    and nothing else. An error raised with all arguments well typed passes through, with a
    note (PEP 678) naming this function when its message names only the inner op that
    raised it (``glu`` calling ``split``): the traceback then shows the call the user made.
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
            error = sys.exc_info()[1]
            if not _names(error, function.__name__):
                error.add_note(f"in {function.__name__}()")
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
    return dim, flag(op, "keepdim", keepdim)


def weak_operand(tensor: Tensor, other) -> Tensor | None:
    """``other`` as a constant of ``tensor``'s dtype where promotion gives that dtype, or None
    to take the general path. ``tensor`` must be a floating NumPy tensor, and ``other`` a
    Python int or float (a Python number never widens a floating tensor, as in PyTorch) or a
    bool mask, array or Tensor (float with bool is float). The arithmetic wrappers' fast path:
    the mask is cast here, as promotion would, because NumPy's float-with-bool loop and the
    dtype check of two dtypes cost more than the cast (1.75 against 0.5 + 0.5 µs, (4, 4))."""
    data = tensor._data
    if type(data) is np.ndarray and data.dtype.kind == "f":
        if type(other) is float or type(other) is int:
            return Tensor._from_array(np.asarray(other, dtype=data.dtype))
        mask = other._data if type(other) is Tensor else other
        if type(mask) is np.ndarray and mask.dtype.kind == "b":
            return Tensor._from_array(mask.astype(data.dtype))
    return None
