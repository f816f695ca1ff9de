"""Argument checks of the data API: datasets, arrays, seeds, paths, devices, hashes.

As the layers' checks (:mod:`tinygen.nn.checks`, whose generic ones the data API uses too),
each names the function, the argument, what it expects and what it got: a TypeError for the
wrong kind of value, a ValueError for a value out of range.
"""

from __future__ import annotations

import os
import re

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor


def _kind(value) -> str:
    return type(value).__name__


def dataset(function: str, name: str, value):
    """A map-style dataset: anything with ``__len__`` and ``__getitem__``."""
    if not (hasattr(value, "__len__") and hasattr(value, "__getitem__")) or isinstance(
            value, (str, bytes)):
        raise TypeError(f"{function}: {name} must be a dataset (with __len__ and "
                        f"__getitem__), got {_kind(value)}")
    return value


def rows(function: str, name: str, value, kinds: str = "biuf"):
    """An array, Tensor or nested list with a first axis and a dtype of ``kinds`` (NumPy's
    dtype kinds: b bool, i/u integers, f floats); returned unchanged (a list as an array)."""
    if isinstance(value, Tensor):
        array = value.data
    elif isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        array = value
    elif isinstance(value, (list, tuple)):
        try:
            array = value = np.asarray(value)
        except ValueError:  # a ragged list
            raise TypeError(f"{function}: {name} must be a rectangular array, got a ragged "
                            f"{_kind(value)}") from None
    else:
        raise TypeError(f"{function}: {name} must be an array or a Tensor, got "
                        f"{_kind(value)}")
    if array.dtype.kind not in kinds:
        raise TypeError(f"{function}: {name} must hold numbers of kind {kinds!r}, got dtype "
                        f"{array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{function}: {name} must have a first (example) axis, got a 0-d "
                         f"array")
    return value


def seed(function: str, value, name: str = "seed"):
    """None, a non-negative int, or a NumPy SeedSequence / Generator (what
    ``np.random.default_rng`` takes)."""
    if value is None or isinstance(value, (np.random.SeedSequence, np.random.Generator)):
        return value
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{function}: {name} must be None or an int, got {_kind(value)} "
                        f"{value!r}")
    if value < 0:
        raise ValueError(f"{function}: {name} must be a non-negative int, got {value!r}")
    return value


def generator(function: str, value) -> np.random.Generator | None:
    """None or a ``np.random.Generator``."""
    if value is not None and not isinstance(value, np.random.Generator):
        raise TypeError(f"{function}: generator must be None or a np.random.Generator, got "
                        f"{_kind(value)}")
    return value


def path(function: str, name: str, value, optional: bool = False):
    """A str or os.PathLike (None too when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{function}: {name} must be a str or os.PathLike path, got "
                        f"{_kind(value)}")
    return value


def sha256(function: str, value, name: str = "sha256") -> str:
    """A SHA-256 as 64 hexadecimal digits."""
    if not isinstance(value, str):
        raise TypeError(f"{function}: {name} must be a str of 64 hex digits, got "
                        f"{_kind(value)}")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ValueError(f"{function}: {name} must be 64 hex digits, got {value!r}")
    return value.lower()


def device(function: str, value) -> str:
    """A device name, as ``backend.check_device`` accepts it, or an error naming
    ``function``."""
    try:
        return backend.check_device(value)
    except backend.DeviceError as error:
        raise backend.DeviceError(f"{function}: {error}") from None
