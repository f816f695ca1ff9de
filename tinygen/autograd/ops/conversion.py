"""Copies that keep the values, differentiable (dtype casts, device moves, clone), and
PyTorch's type promotion for the elementwise ops: ``elementwise.py`` and ``special.py``
promote their operands through :func:`_promoted`, so no forward ever sees two floating
dtypes (docs/ARCHITECTURE.md, "Errors and dtypes")."""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        # a copy passes its gradient through unchanged
        return gy


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        # a cast is the identity on values; the gradient goes back to the input dtype
        return cast(gy, self.input_dtype)


class ToDevice(Function):
    def __init__(self, device: str):
        self.device = device

    def forward(self, x):
        self.input_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        # a copy between devices is the identity on values
        return to_device(gy, self.input_device)


def _promoted(*tensors: Tensor) -> tuple:
    """Elementwise operands in PyTorch's result dtype, so that no forward sees two floating
    dtypes: float32 with float64 gives float64 (the float32 operand's gradient comes back
    float32 through the cast), an integer or bool tensor beside a float one takes the float
    dtype, and a 0-d tensor does not widen a tensor with axes of its own kind
    (``randn(3) + tensor(2.0, dtype=float64)`` stays float32). Integer-only operands keep
    NumPy's promotion. One identity compare per operand when the dtypes already agree."""
    first = tensors[0]._data.dtype
    for tensor in tensors[1:]:
        if tensor._data.dtype is not first:
            break
    else:
        return tensors
    dtype = _result_dtype(tensors)
    if dtype.kind != "f":
        return tensors
    return tuple(t if t.dtype == dtype else cast(t, dtype) for t in tensors)


def _result_dtype(tensors) -> np.dtype:
    """PyTorch's type promotion: the highest category (bool < integer < float) wins, and
    within it the dtypes of operands with axes outrank 0-d ones."""
    category = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
    top = max(category[t.dtype.kind] for t in tensors)
    leading = [t for t in tensors if category[t.dtype.kind] == top]
    with_axes = [t for t in leading if t.ndim > 0]
    return np.result_type(*(t.dtype for t in (with_axes or leading)))


def cast(x: Tensor, dtype) -> Tensor:
    """x converted to ``dtype`` (differentiable between float dtypes; a cast to an integer or
    bool dtype ends the graph there, as no gradient flows through rounding)."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        raise TypeError(f"cast: dtype must be a dtype or its name, got {dtype!r}") from None
    if kind not in "fiub":
        raise TypeError(f"cast: dtype must be a float, int or bool dtype, got {dtype!r}")
    if kind != "f":
        with no_grad():
            return Cast(dtype).apply(x)
    return Cast(dtype).apply(x)


def to_device(x: Tensor, device: str) -> Tensor:
    """x copied to ``device`` ("cpu" or "cuda"), differentiably."""
    try:
        device = backend.check_device(device)
    except backend.DeviceError as error:
        raise backend.DeviceError(f"to_device: {error}") from None
    return ToDevice(device).apply(x)


def clone(x: Tensor) -> Tensor:
    """A copy of x that shares no memory with it; differentiable."""
    return Clone().apply(x)
