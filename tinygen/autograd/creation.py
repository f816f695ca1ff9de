"""Tensor factories: zeros, ones, full, empty, randn, rand, randint, arange, linspace, eye,
their *_like forms and the ``Tensor.new_*`` ones, as_tensor, from_numpy; the queries is_tensor
and numel. The random draws from given tensors (bernoulli, multinomial, normal, randperm,
normal_, uniform_) are in ``sampling.py``.

The factories take PyTorch's arguments: sizes as varargs or one sequence, and the keywords
``dtype``, ``device`` and ``requires_grad``. Random factories draw from tinygen's own
generators (``tinygen.manual_seed`` seeds them), so results are reproducible on both backends
and independent of NumPy's global state.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import DEFAULT_FLOAT, Tensor, _to_array


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


def _dtype_of(value):
    """PyTorch's dtype for a Python scalar: bool, int64, or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    return np.int64 if isinstance(value, numbers.Integral) else DEFAULT_FLOAT


def _generator(op: str, device: str, generator):
    """The generator to draw from: the one given (a NumPy or CuPy ``Generator``, standing in
    for PyTorch's ``torch.Generator``), else tinygen's own for ``device``."""
    if generator is None:
        return backend.get_generator(device)
    if not all(hasattr(generator, name) for name in ("random", "standard_normal")):
        raise TypeError(f"{op}: generator must be a NumPy or CuPy Generator (e.g. "
                        f"numpy.random.default_rng(seed)), got {type(generator).__name__}")
    return generator


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` is given)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.zeros(_shape(size), dtype=dtype), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` is given)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.ones(_shape(size), dtype=dtype), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are unspecified, as ``torch.empty`` (here: zeros, so no stale
    memory leaks into a result)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``.

    Args:
        size: the shape (a sequence of ints).
        fill_value: the value; its kind sets the dtype when ``dtype`` is None, as PyTorch's:
            bool, int64 for an int, float32 for a float.
        dtype, device, requires_grad: as :func:`zeros`.

    Returns:
        The tensor.
    """
    xp, dtype = _xp_dtype(device, _dtype_of(fill_value) if dtype is None else dtype)
    return _make(xp.full(_shape((size,)), fill_value, dtype=dtype), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from tinygen's generator for ``device``."""
    xp, dtype = _xp_dtype(device, dtype)
    generator = backend.get_generator(backend.check_device(device))
    return _make(generator.standard_normal(_shape(size)).astype(dtype), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from tinygen's generator for ``device``."""
    xp, dtype = _xp_dtype(device, dtype)
    generator = backend.get_generator(backend.check_device(device))
    return _make(generator.random(_shape(size)).astype(dtype), requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high), as ``torch.randint``: ``randint(high,
    size)`` or ``randint(low, high, size)``.

    Args:
        low, high: the range (low defaults to 0).
        size: the shape (a sequence of ints).
        generator: a NumPy/CuPy Generator to draw from instead of tinygen's.
        dtype: int64 by default; a float dtype holds the same integers.
        device, requires_grad: as :func:`zeros` (requires_grad only with a float dtype).

    Returns:
        The tensor.
    """
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None or high is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size), "
                        f"got low={low}, high={high}, size={size}")
    if high <= low:
        raise ValueError(f"randint: expected high > low, got low={low}, high={high}")
    device = backend.check_device(device)
    draws = _generator("randint", device, generator).integers(low, high, size=_shape((size,)))
    dtype = np.int64 if dtype is None else dtype
    return _make(backend.to_device(draws, device).astype(dtype), requires_grad)


def arange(start=0, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start to end (excluded) in steps of step, as ``torch.arange``:
    ``arange(end)``, ``arange(start, end)``, ``arange(start, end, step)`` or ``end=``.

    Args:
        start, end, step: numbers (step non-zero).
        dtype: int64 when all three are ints, else float32, unless given.
        device, requires_grad: as :func:`zeros`.

    Returns:
        A 1-D tensor of ceil((end - start) / step) values, start + i * step (computed in
        float64 for a float dtype, then rounded once).
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero, got 0")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else DEFAULT_FLOAT
    xp, dtype = _xp_dtype(device, dtype)
    if dtype.kind != "f":
        return _make(xp.arange(start, end, step, dtype=dtype), requires_grad)
    return _make(xp.arange(start, end, step, dtype=np.float64).astype(dtype), requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive, as ``torch.linspace``.

    Args:
        start, end: numbers or 0-d tensors.
        steps: the number of values, >= 0.
        dtype: float32 unless given; device, requires_grad: as :func:`zeros`.

    Returns:
        A 1-D tensor.
    """
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.linspace(start, end, int(steps), dtype=dtype), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """An identity matrix of shape (n, m or n)."""
    xp, dtype = _xp_dtype(device, dtype)
    return _make(xp.eye(n, m, dtype=dtype), requires_grad)


# --------------------------------------------------------------------------- like, new_*
def _on(factory, like: Tensor, size, *args, dtype, device, requires_grad) -> Tensor:
    """``factory(size, *args)`` with like's dtype and device unless given."""
    return factory(size, *args, dtype=like.dtype if dtype is None else dtype,
                   device=like.device if device is None else device,
                   requires_grad=requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002 - PyTorch's name
               requires_grad: bool = False) -> Tensor:
    """Zeros with the shape, dtype and device of ``input`` (unless given)."""
    return _on(zeros, input, input.shape, dtype=dtype, device=device,
               requires_grad=requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002 - PyTorch's name
              requires_grad: bool = False) -> Tensor:
    """Ones with the shape, dtype and device of ``input`` (unless given)."""
    return _on(ones, input, input.shape, dtype=dtype, device=device,
               requires_grad=requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002 - PyTorch's name
               requires_grad: bool = False) -> Tensor:
    """An unspecified (here: zero) tensor with the shape, dtype and device of ``input``."""
    return _on(empty, input, input.shape, dtype=dtype, device=device,
               requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None,  # noqa: A002 - PyTorch's name
              device=None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with the shape, dtype and device of ``input``."""
    return _on(full, input, input.shape, fill_value, dtype=dtype, device=device,
               requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002 - PyTorch's name
               requires_grad: bool = False) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``input``."""
    return _on(randn, input, input.shape, dtype=dtype, device=device,
               requires_grad=requires_grad)


def rand_like(input: Tensor, *, dtype=None, device=None,  # noqa: A002 - PyTorch's name
              requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) with the shape, dtype and device of ``input``."""
    return _on(rand, input, input.shape, dtype=dtype, device=device,
               requires_grad=requires_grad)


def new_zeros(self: Tensor, *size, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """``Tensor.new_zeros(*size)``: zeros with self's dtype and device unless given."""
    return _on(zeros, self, _shape(size), dtype=dtype, device=device,
               requires_grad=requires_grad)


def new_ones(self: Tensor, *size, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``Tensor.new_ones(*size)``: ones with self's dtype and device unless given."""
    return _on(ones, self, _shape(size), dtype=dtype, device=device,
               requires_grad=requires_grad)


def new_empty(self: Tensor, *size, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """``Tensor.new_empty(*size)``: as :func:`empty`, with self's dtype and device."""
    return _on(empty, self, _shape(size), dtype=dtype, device=device,
               requires_grad=requires_grad)


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``Tensor.new_full(size, fill_value)``: with self's dtype and device unless given."""
    return _on(full, self, size, fill_value, dtype=dtype, device=device,
               requires_grad=requires_grad)


def new_tensor(self: Tensor, data, *, dtype=None, device=None,
               requires_grad: bool = False) -> Tensor:
    """``Tensor.new_tensor(data)``: a new leaf holding a copy of ``data`` (a Tensor's values
    too), with self's dtype and device unless given."""
    copied = Tensor(data, dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device).data.copy()
    return _make(copied, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a Tensor, sharing its memory where it can, as ``torch.as_tensor``: a
    Tensor is returned as it is (converted, differentiably, if ``dtype`` or ``device``
    differ); a NumPy/CuPy array of the right dtype and device is wrapped without a copy.

    Args:
        data: a Tensor, an array, a list or a scalar.
        dtype, device: the target (None: data's own; float32 for Python floats).

    Returns:
        The tensor.
    """
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if _is_array(data) and (dtype is None or np.dtype(dtype) == data.dtype) and (
            device is None or backend.check_device(device) == backend.device_of(data)):
        return Tensor._from_array(data)
    return Tensor._from_array(_to_array(data, dtype, device, copy=False, op="as_tensor"))


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory and dtype, as ``torch.from_numpy``: writes to
    one show in the other.

    A read-only array is shared too, and stays read-only: the tensor reads it as it is, but
    an in-place method on the tensor (``add_``, ``copy_``, ``t[0] = v``, an optimizer step)
    raises ValueError naming the method, and a raw write to ``t.data`` fails inside NumPy
    ("assignment destination is read-only"). Copy it with ``tinygen.tensor(ndarray)`` (or
    make the array writable) to change it. PyTorch shares it with a warning and lets the
    write through.

    Args:
        ndarray: a NumPy array of a float, int or bool dtype.

    Returns:
        A leaf Tensor over the same memory.
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    if not _is_array(ndarray):
        raise TypeError(f"from_numpy: expected a float, int or bool array, got dtype "
                        f"{ndarray.dtype}")
    return Tensor._from_array(ndarray)


def _is_array(data) -> bool:
    """Whether ``data`` is a NumPy/CuPy array of a dtype a Tensor holds as it is."""
    return isinstance(data, backend.get_array_module(data).ndarray) and \
        data.dtype.kind in "fiub"


# --------------------------------------------------------------------------- queries
def is_tensor(obj) -> bool:
    """Whether ``obj`` is a tinygen Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002 - PyTorch's name
    """The number of elements of ``input``."""
    return input.numel()
