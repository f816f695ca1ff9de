"""``Tensor``: an array (NumPy or CuPy), its gradient, and the op that made it."""

from __future__ import annotations

import numbers

import numpy as np

from tinygen import backend
from tinygen.autograd.grad_mode import grad_mode
from tinygen.autograd.hooks import observers as _observers
from tinygen.autograd.tensor_methods import TensorMethods

DEFAULT_FLOAT = np.float32
_FLOAT_KINDS = "f"


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind in _FLOAT_KINDS


class Tensor(TensorMethods):
    """A multi-dimensional array that records the ops applied to it for backward.

    Create tensors with :func:`tinygen.tensor` or the factories (``zeros``, ``randn``, ...).

    Attributes:
        data: the raw array (``numpy.ndarray`` or ``cupy.ndarray``). Assigning to it (including
            ``t.data -= lr * g``) counts as an in-place change for the mutation guard.
        grad: the accumulated gradient (a Tensor), or None.
        requires_grad: whether ops on this tensor are recorded.
        name: an optional label used in error messages and debug output.
    """

    __slots__ = (
        "_data", "grad", "requires_grad", "_ctx", "_out_index", "_version", "name",
        "_retains_grad", "__weakref__",
    )
    # NumPy must not broadcast its ufuncs over a Tensor: ``2.0 * t`` calls Tensor.__rmul__.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None,
                 name: str | None = None):
        array = _to_array(data, dtype, device)
        if requires_grad and not _is_float(array.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating dtype, got dtype={array.dtype}"
            )
        self._data = array
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._out_index = 0
        self._version = [0]  # shared with views of this tensor (see Function.returns_view)
        self.name = name
        self._retains_grad = False

    # Fast constructors used by Function.apply; they skip argument validation.
    @classmethod
    def _from_array(cls, array) -> Tensor:
        tensor = cls.__new__(cls)
        if type(array) is not np.ndarray and not hasattr(array, "__cuda_array_interface__"):
            array = np.asarray(array)  # NumPy reductions return scalars; keep arrays only
        tensor._data = array
        tensor.grad = None
        tensor.requires_grad = False
        tensor._ctx = None
        tensor._out_index = 0
        tensor._version = [0]
        tensor.name = None
        tensor._retains_grad = False
        return tensor

    @classmethod
    def _from_op(cls, array, function, index: int) -> Tensor:
        tensor = cls._from_array(array)
        tensor.requires_grad = True
        tensor._ctx = function
        tensor._out_index = index
        return tensor

    # ------------------------------------------------------------------ attributes
    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, array):
        if isinstance(array, Tensor):
            array = array._data
        if tuple(array.shape) != self._data.shape:
            raise ValueError(
                f"data: expected an array of shape {self._data.shape}, got {tuple(array.shape)}"
            )
        self._data = array
        self._version[0] += 1

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None):
        """The shape (a tuple), or with ``dim`` the extent of that axis, as PyTorch's."""
        if dim is None:
            return self._data.shape
        return self._data.shape[_axis(dim, self._data.ndim, "size")]

    def numel(self) -> int:
        """The number of elements."""
        return self._data.size

    nelement = numel

    def dim(self) -> int:
        """The number of axes (``ndim``)."""
        return self._data.ndim

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return _is_float(self._data.dtype)

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def grad_fn(self):
        """The Function that produced this tensor (None for leaves)."""
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        """The sub-tensors along the first axis (differentiable), as PyTorch iterates."""
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, got "
                            f"dtype={self.dtype}, shape={self.shape}")
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self._data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): expected a tensor with 1 element, got shape {self.shape}")
        return self._data.item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's array, cut from the graph."""
        result = Tensor._from_array(self._data)
        if _observers.detach is not None:
            _observers.detach((self,), result, "detach")
        return result

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self._ctx is not None:
            self._retains_grad = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not _is_float(self.dtype):
            raise TypeError(f"requires_grad needs a floating dtype, got dtype={self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Drop the accumulated gradient (the same as ``t.grad = None``)."""
        self.grad = None

    # ------------------------------------------------------------------ in-place updates
    def _check_inplace(self, what: str) -> None:
        if grad_mode.enabled and self.requires_grad:
            raise RuntimeError(
                f"{what}: in-place change of a tensor that requires grad is not recorded; "
                "do it under tinygen.no_grad() (as optimizers do)"
            )

    def _inplace(self, what: str, update) -> Tensor:
        self._check_inplace(what)
        update(self._data)
        self._version[0] += 1
        return self

    def add_(self, other, alpha=1.0) -> Tensor:
        value = _raw(other)
        return self._inplace("add_", lambda a: a.__iadd__(value * alpha if alpha != 1 else value))

    def sub_(self, other, alpha=1.0) -> Tensor:
        value = _raw(other)
        return self._inplace("sub_", lambda a: a.__isub__(value * alpha if alpha != 1 else value))

    def mul_(self, other) -> Tensor:
        value = _raw(other)
        return self._inplace("mul_", lambda a: a.__imul__(value))

    def copy_(self, source) -> Tensor:
        value = _raw(source)
        return self._inplace("copy_", lambda a: a.__setitem__(Ellipsis, value))

    def fill_(self, value) -> Tensor:
        return self._inplace("fill_", lambda a: a.fill(value))

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def __setitem__(self, index, value) -> None:
        value = _raw(value)
        self._inplace("__setitem__", lambda a: a.__setitem__(_raw_index(index), value))


# --------------------------------------------------------------------------- helpers
def _axis(dim, ndim: int, op: str) -> int:
    """``dim`` as a non-negative axis of an ``ndim``-axis tensor, or an error naming it."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or not (
            -ndim <= dim < ndim):
        raise IndexError(f"{op}: dim must be an int in [{-ndim}, {ndim - 1}], got {dim!r}")
    return int(dim) % ndim


def _raw(value):
    return value._data if isinstance(value, Tensor) else value


def _raw_index(index):
    if isinstance(index, tuple):
        return tuple(_raw(i) for i in index)
    return _raw(index)


def _to_array(data, dtype, device):
    """Build the raw array for a new tensor: float32 by default for Python floats."""
    if isinstance(data, Tensor):
        data = data._data
    target_device = backend.check_device(device) if device is not None else None
    xp = backend.get_array_module(data)
    if target_device is not None:
        xp = backend.array_module_for(target_device)
    if dtype is None and not hasattr(data, "dtype"):
        probe = np.asarray(data)
        if probe.dtype.kind == "f" or probe.dtype == object:
            dtype = DEFAULT_FLOAT
        elif probe.dtype.kind in "iu" and probe.dtype != np.int64:
            dtype = np.int64
        data = probe
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fiub":
            raise TypeError(f"dtype: expected a float, int or bool dtype, got {dtype}")
    if target_device is not None and backend.device_of(data) != target_device:
        data = backend.to_device(np.asarray(data) if xp is np else data, target_device)
    return xp.asarray(data, dtype=dtype)


def tensor(data, requires_grad: bool = False, dtype=None, device=None, name=None) -> Tensor:
    """Create a tensor from a list, scalar or array.

    Python floats become float32 (pass ``dtype=np.float64`` for double), Python ints int64;
    NumPy/CuPy arrays keep their dtype unless ``dtype`` is given. The array is not copied when
    it already has the right dtype and device.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device, name=name)


def _as_tensor(value, like: Tensor) -> Tensor:
    """Wrap a Python/NumPy scalar or array as a constant on ``like``'s device and dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number):
        xp = backend.get_array_module(like._data)
        dtype = like.dtype if _is_float(like.dtype) or isinstance(value, numbers.Integral) \
            else DEFAULT_FLOAT
        return Tensor._from_array(xp.asarray(value, dtype=dtype))
    return Tensor._from_array(backend.get_array_module(like._data).asarray(value))

