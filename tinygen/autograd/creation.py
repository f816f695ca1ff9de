"""Tensor factories: zeros, ones, full, randn, rand, randint, arange, linspace, eye, *_like.

Random factories draw from tinygen's own generators (``tinygen.manual_seed`` seeds them), so
results are reproducible on both backends and independent of NumPy's global state.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import DEFAULT_FLOAT, Tensor


def _shape(shape) -> tuple:
    """Accept ``zeros(2, 3)`` and ``zeros((2, 3))``; reject negative sizes by name."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for size in shape:
        if not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"shape: expected non-negative ints, got {tuple(shape)}")
    return tuple(int(size) for size in shape)


def _make(array, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def _xp_dtype(device, dtype):
    device = backend.check_device(device)
    return backend.array_module_for(device), np.dtype(DEFAULT_FLOAT if dtype is None else dtype)


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` is given)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` is given)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.ones(_shape(shape), dtype=dtype), requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tinygen's generator for ``device``."""
    xp, dtype = _xp_dtype(device, dtype)
    generator = backend.get_generator(backend.check_device(device))
    return _make(generator.standard_normal(_shape(shape)).astype(dtype), requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from tinygen's generator for ``device``."""
    xp, dtype = _xp_dtype(device, dtype)
    generator = backend.get_generator(backend.check_device(device))
    return _make(generator.random(_shape(shape)).astype(dtype), requires_grad)


def randint(low: int, high: int, shape, device=None) -> Tensor:
    """Integers uniform on [low, high) (int64) from tinygen's generator."""
    if high <= low:
        raise ValueError(f"randint: expected high > low, got low={low}, high={high}")
    generator = backend.get_generator(backend.check_device(device))
    return _make(generator.integers(low, high, size=_shape((shape,))).astype(np.int64), False)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    """Evenly spaced values in [start, stop); int64 for int arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero, got 0")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int64 if ints else DEFAULT_FLOAT
    xp = backend.array_module_for(backend.check_device(device))
    return _make(xp.arange(start, stop, step, dtype=dtype), False)


def linspace(start: float, stop: float, num: int, dtype=None, device=None) -> Tensor:
    """``num`` evenly spaced values from start to stop inclusive."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.linspace(start, stop, num, dtype=dtype), False)


def eye(n: int, m: int | None = None, dtype=None, device=None) -> Tensor:
    """An identity matrix of shape (n, m or n)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.eye(n, m, dtype=dtype), False)


def zeros_like(other: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape, dtype and device of ``other``."""
    return zeros(other.shape, dtype=dtype or other.dtype, device=other.device,
                 requires_grad=requires_grad)


def ones_like(other: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape, dtype and device of ``other``."""
    return ones(other.shape, dtype=dtype or other.dtype, device=other.device,
                requires_grad=requires_grad)


def full_like(other: Tensor, fill_value, dtype=None) -> Tensor:
    return full(other.shape, fill_value, dtype=dtype or other.dtype, device=other.device)


def randn_like(other: Tensor, dtype=None) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``other``."""
    return randn(other.shape, dtype=dtype or other.dtype, device=other.device)


def rand_like(other: Tensor, dtype=None) -> Tensor:
    return rand(other.shape, dtype=dtype or other.dtype, device=other.device)
