"""``Tensor``: an array (NumPy or CuPy), its gradient, and the op that made it."""

from __future__ import annotations

import numbers

import numpy as np

from tinygen import backend
from tinygen.autograd.display import tensor_card
from tinygen.autograd.grad_mode import grad_mode
from tinygen.autograd.hooks import observers as _observers
from tinygen.autograd.tensor_methods import TensorMethods

DEFAULT_FLOAT = np.float32
_FLOAT_KINDS = "f"


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind in _FLOAT_KINDS


class Tensor(TensorMethods):
    """A multi-dimensional array that records the ops applied to it for backward.

    Create tensors with :func:`tinygen.tensor` (which copies its data) or the factories
    (``zeros``, ``randn``, ...). ``Tensor(array)`` itself shares an array of the right dtype and
    device, as ``torch.Tensor(ndarray)`` and ``tinygen.as_tensor`` do.

    Attributes:
        data: the raw array (``numpy.ndarray`` or ``cupy.ndarray``). Assigning to it counts as
            an in-place change for the mutation guard. While a live graph saves the array for
            backward, a NumPy array is read-only: write through the in-place methods
            (``add_``, ``copy_``, ...) instead (see docs/ARCHITECTURE.md, "Mutation safety").
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
        self._adopt(_to_array(data, dtype, device, copy=False, op="Tensor"), requires_grad,
                    name)

    def _adopt(self, array, requires_grad: bool, name: str | None = None) -> None:
        """Set up a new leaf around ``array``."""
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

    # Fast constructors used by Function.apply; they skip argument validation. One body for
    # both, as every op output comes this way: ``_from_op(array, function, index)`` is the
    # output ``index`` of a recorded op, ``_from_array(array)`` a constant.
    @classmethod
    def _from_array(cls, array, function=None, index: int = 0) -> Tensor:
        tensor = cls.__new__(cls)
        if type(array) is not np.ndarray and not hasattr(array, "__cuda_array_interface__"):
            array = np.asarray(array)  # NumPy reductions return scalars; keep arrays only
        tensor._data = array
        tensor.grad = None
        tensor.requires_grad = function is not None
        tensor._ctx = function
        tensor._out_index = index
        tensor._version = [0]
        tensor.name = None
        tensor._retains_grad = False
        return tensor

    _from_op = _from_array

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

    _repr_html_ = tensor_card  # Jupyter's display: shape, dtype, device, statistics, values

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
        array = self._data
        if type(array) is np.ndarray and not array.flags.writeable:
            with _writable(self, what):  # saved by a live graph, or a read-only input
                update(array)
            return self
        update(array)
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


def _to_array(data, dtype, device, copy: bool, op: str = "tensor"):
    """Build the raw array for a new tensor: float32 by default for Python floats.

    With ``copy`` the result never shares memory with ``data`` (PyTorch's ``torch.tensor``);
    without it, an array of the right dtype and device is used as it is (``as_tensor``).
    Ragged nested lists (ValueError) and data that is not numbers (TypeError: strings,
    None, objects, complex) are refused with errors naming ``op``.
    """
    if isinstance(data, Tensor):
        data = data._data
    target_device = backend.check_device(device) if device is not None else None
    xp = backend.get_array_module(data)
    if target_device is not None:
        xp = backend.array_module_for(target_device)
    fresh = False  # whether the array built so far is already a new one of ours
    if dtype is None and not hasattr(data, "dtype"):
        probe = _probe(data, op)
        if probe.dtype.kind == "f" or probe.dtype == object:
            dtype = DEFAULT_FLOAT
        elif probe.dtype.kind in "iu" and probe.dtype != np.int64:
            dtype = np.int64
        # a list or a number becomes a new array; an object with __array__ may share its own
        fresh = isinstance(data, (list, tuple, numbers.Number))
        data = probe
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fiub":
            raise TypeError(f"{op}(): dtype must be a float, int or bool dtype, got {dtype}")
    if target_device is not None and backend.device_of(data) != target_device:
        data = backend.to_device(np.asarray(data) if xp is np else data, target_device)
        fresh = True
    try:
        array = xp.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as error:  # a dict, a string among numbers, ...
        raise TypeError(f"{op}(): expected numbers, got {error}") from None
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{op}(): expected numbers (float, int, bool), got dtype {array.dtype}")
    # asarray converts an array of another dtype into new memory; an array of the same dtype,
    # or any other object (a torch tensor, anything with __array__), may come back shared
    source_dtype = getattr(data, "dtype", None)
    converted = isinstance(source_dtype, np.dtype) and source_dtype != array.dtype
    if copy and not fresh and not converted:
        array = array.copy()
    return array


def _probe(data, op: str):
    """``np.asarray(data)`` for a list or number; ragged nesting and None refused."""
    try:
        probe = np.asarray(data)
    except ValueError:  # find the first depth whose lists differ in length (or type)
        level, depth = [data], 0
        while len(lengths := {len(x) if isinstance(x, (list, tuple)) else -1
                              for x in level}) == 1 and -1 not in lengths:
            level, depth = [item for x in level for item in x], depth + 1
        raise ValueError(f"{op}(): the nested lists are ragged: at depth {depth} they have "
                         f"lengths {sorted(lengths)} (-1: a number)") from None
    if probe.dtype == object and any(item is None for item in probe.flat):
        raise TypeError(f"{op}(): expected numbers, got None in data")
    return probe


def tensor(data, requires_grad: bool = False, dtype=None, device=None, name=None) -> Tensor:
    """Create a tensor from a list, scalar or array, always copying it (as ``torch.tensor``).

    Python floats become float32 (pass ``dtype=np.float64`` for double), Python ints int64;
    NumPy/CuPy arrays keep their dtype unless ``dtype`` is given. The tensor owns its memory:
    a later change to ``data`` does not show in it, and a read-only array gives a writable
    tensor. ``tinygen.as_tensor`` and ``tinygen.from_numpy`` share the array instead.

    Args:
        data: a Python number or (nested) list, a NumPy or CuPy array, or a Tensor.
        requires_grad: record ops on it for backward (needs a floating dtype).
        dtype: the dtype (None: inferred as above).
        device: "cpu" or "cuda" (None: where ``data`` is).
        name: a label for error messages and debug output.

    Returns:
        A new leaf Tensor.
    """
    result = Tensor.__new__(Tensor)
    result._adopt(_to_array(data, dtype, device, copy=True, op="tensor"), requires_grad, name)
    return result


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


# --------------------------------------------------------------------------- mutation safety
# While a live graph saves a NumPy array for backward, tinygen holds the array read-only, so a
# raw write (``w.data[...] = 0``, ``a = w.data; a += 1``, ``np.add(a, 1, out=a)``) fails at
# the write instead of giving a wrong gradient later. Several graphs may save one array: each
# holds its own lock, and the array is writable again when the last one is released (by
# backward, or when the graph is freed). The sanctioned writers (Tensor's in-place methods,
# the optimizers through them, nn.init, load_state_dict, batch norm's running statistics)
# lift the lock for their write through ``_writable`` and bump the version of every tensor
# saved with the array, so the mutation guard names the op at backward. CuPy arrays have no
# read-only flag: on the GPU the version counter is the only guard.
# The locking side (``function._Held``) lives with the op contract; the registry and the
# sanctioned write live here, beside the in-place methods that use them.

_locks: dict = {}  # id(array) -> [array, deferred views, holders...] (function._Held)


class _writable:
    """``with _writable(target, what) as array:`` a sanctioned in-place write.

    ``target`` is a Tensor or a raw array. Lifts tinygen's lock on the array for the write,
    bumps the version of every tensor a live graph saved with it (and of ``target``), so that
    backward through those graphs raises the mutation guard's error naming the op, and locks
    the array again. An array that was read-only before tinygen saw it (a read-only NumPy
    input shared by ``from_numpy``) is refused with an error naming ``what`` and the tensor.
    """

    __slots__ = ("tensor", "array", "what", "reopened")

    def __init__(self, target, what: str):
        self.tensor = target if isinstance(target, Tensor) else None
        self.array = target._data if self.tensor is not None else target
        self.what = what
        self.reopened = ()

    def __enter__(self):
        array = self.array
        if type(array) is np.ndarray and not array.flags.writeable:
            self.reopened = _open_for_write(array, self.what, self.tensor)
        return array

    def __exit__(self, *exc_info) -> bool:
        for array, relock in self.reopened:
            if relock:
                array.setflags(False)
        if self.tensor is not None:
            self.tensor._version[0] += 1
        return False


def _open_for_write(array, what: str, tensor) -> list:
    """Make ``array`` and the arrays it views writable for a sanctioned write; return each
    array reopened and whether to lock it again afterwards."""
    chain = []
    link = array
    while type(link) is np.ndarray:
        chain.append(link)
        link = link.base
    root = chain[-1]
    if not root.flags.writeable and id(root) not in _locks:
        who = f"'{tensor.name}'" if tensor is not None and tensor.name else (
            f"of shape {array.shape}")
        raise ValueError(
            f"{what}: the tensor {who} shares a read-only NumPy array (tinygen.from_numpy "
            "and as_tensor share their input's memory), so it cannot be changed in place; "
            "copy it with tinygen.tensor(array), or make the array writable first"
        )
    if any(stride == 0 and size > 1 for stride, size in zip(array.strides, array.shape)):
        raise RuntimeError(
            f"{what}: unsupported operation: more than one element of the written-to tensor "
            "refers to a single memory location (an expanded tensor); clone() it first"
        )
    reopened = []
    locked_above = False
    for link in reversed(chain):  # bases first: NumPy reopens a view only after its base
        locked_above = locked_above or id(link) in _locks
        if not link.flags.writeable:
            link.setflags(True)
            reopened.append((link, locked_above))
        entry = _locks.get(id(link))
        if entry is not None:
            for version, _ in entry[2:]:
                version[0] += 1
    return reopened


def lock_holders(target) -> list:
    """The ops whose live graphs hold ``target`` read-only (a Tensor or a NumPy array).

    A raw write to an array a graph saved for backward fails inside NumPy ("assignment
    destination is read-only"); this names who holds it. Run that graph's backward (or drop
    it) first, or write through the tensor's in-place methods under ``no_grad``.

    Returns:
        One op name per lock held on the array or on an array it is a view of; empty when
        tinygen holds no lock on it.
    """
    array = target._data if isinstance(target, Tensor) else target
    names = []
    while type(array) is np.ndarray:
        entry = _locks.get(id(array))
        if entry is not None:
            names.extend(op for _, op in entry[2:])
        array = array.base
    return names
