"""Tensor's operators and methods: each one calls the op wrapper of the same name.

``a + b`` is ``ops.add(a, b)``, ``t.sum(dim=1)`` is ``ops.sum(t, dim=1)``: the maths lives in
``tinygen/autograd/ops/``, one place, and this file is only the PyTorch-shaped surface over it
(the names, argument names and defaults a PyTorch user types). ``Tensor`` inherits it.

The ops build Tensors and these methods call the ops: the one import circle tinygen keeps
(docs/ARCHITECTURE.md says why). ``_ops`` closes it at the first call, not at import time.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor_math_methods import TensorMathMethods, _OpsOnFirstUse

_ops = _OpsOnFirstUse(globals())


#: PyTorch's tensor type names (``x.type()``), by dtype
_TYPE_NAMES = {np.dtype(dtype): name for dtype, name in (
    (np.float32, "FloatTensor"), (np.float64, "DoubleTensor"), (np.float16, "HalfTensor"),
    (np.int64, "LongTensor"), (np.int32, "IntTensor"), (np.int16, "ShortTensor"),
    (np.int8, "CharTensor"), (np.uint8, "ByteTensor"), (np.bool_, "BoolTensor"))}


def _sizes(args) -> tuple:
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class TensorMethods(TensorMathMethods):
    """The operator and method surface of :class:`~tinygen.autograd.tensor.Tensor` (the
    arithmetic and elementwise math in :class:`TensorMathMethods`)."""

    __slots__ = ()

    # Comparisons are not differentiable: they return plain boolean tensors.
    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)

    def __eq__(self, other):
        return _ops.eq(self, other)

    def __ne__(self, other):
        return _ops.ne(self, other)

    __hash__ = object.__hash__
    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__

    # ------------------------------------------------------------------ backward, devices
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``. See :func:`autograd.backward`."""
        from tinygen.autograd.engine import backward  # the engine is built on Tensor

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
        """This tensor on ``device`` and/or as ``dtype``; differentiable.

        As PyTorch's: ``t.to("cuda")``, ``t.to(tinygen.float64)``, ``t.to(device, dtype)``,
        ``t.to(other)`` (other's device and dtype), each optionally followed by the bools
        ``non_blocking, copy``. Returns ``self`` when nothing changes (unless ``copy``).
        ``non_blocking`` is accepted and has no effect: copies here are synchronous.
        """
        flags = [arg for arg in args if isinstance(arg, bool)]  # (non_blocking, copy)
        copy = flags[1] if len(flags) > 1 else copy
        for arg in args:
            if isinstance(arg, bool):
                continue
            if isinstance(arg, TensorMethods):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, (str, backend.device)):
                device = arg
            else:
                dtype = arg
        result = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            result = _ops.cast(result, dtype)
        if device is not None and backend.check_device(device) != result.device:
            result = _ops.to_device(result, backend.check_device(device))
        return _ops.clone(result) if copy and result is self else result

    def cpu(self):
        return self.to(device="cpu")

    def cuda(self, device=None):
        return self.to(device="cuda" if device is None else device)

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    def astype(self, dtype):
        return self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def type(self, dtype=None, non_blocking=False):
        """With no ``dtype``, the type's name as PyTorch spells it (``"tinygen.FloatTensor"``,
        ``"tinygen.cuda.FloatTensor"``); else this tensor as ``dtype`` (a dtype, or such a
        name, whose ``cuda.`` part picks the device), as :meth:`to`."""
        if dtype is None:
            cuda = "cuda." if self.device == "cuda" else ""
            return f"tinygen.{cuda}{_TYPE_NAMES[np.dtype(self.dtype)]}"
        if not isinstance(dtype, str):
            return self.to(dtype=dtype)
        prefix, _, name = dtype.rpartition(".")
        dtypes = {type_name: kind for kind, type_name in _TYPE_NAMES.items()}
        if name not in dtypes:
            raise ValueError(f"type: dtype must be a dtype or one of {sorted(dtypes)} "
                             f"(optionally as 'tinygen.cuda.<name>'), got {dtype!r}")
        return self.to("cuda" if prefix.endswith("cuda") else "cpu", dtypes[name])

    # ------------------------------------------------------------------ new tensors like this
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return _ops.new_zeros(self, *size, dtype=dtype, device=device,
                              requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return _ops.new_ones(self, *size, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return _ops.new_empty(self, *size, dtype=dtype, device=device,
                              requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return _ops.new_full(self, size, fill_value, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        return _ops.new_tensor(self, data, dtype=dtype, device=device,
                               requires_grad=requires_grad)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        return _ops.sum(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        return _ops.mean(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        return _ops.prod(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
            keepdims=None):
        return _ops.var(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
            keepdims=None):
        return _ops.std(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """The largest entry; with ``dim``, the named tuple (values, indices), as PyTorch."""
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """The smallest entry; with ``dim``, the named tuple (values, indices), as PyTorch."""
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=(), keepdim=False):
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        return _ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False, *, axis=None):
        return _ops.argmax(self, dim, keepdim, axis=axis)

    def argmin(self, dim=None, keepdim=False, *, axis=None):
        return _ops.argmin(self, dim, keepdim, axis=axis)

    def logsumexp(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.logsumexp(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def cumsum(self, dim, *, dtype=None):
        return _ops.cumsum(self, dim, dtype=dtype)

    def logcumsumexp(self, dim):
        return _ops.logcumsumexp(self, dim)

    def norm(self, p="fro", dim=None, keepdim=False):
        return _ops.norm(self, p, dim, keepdim)

    def softmax(self, dim=-1, *, axis=None):
        return _ops.softmax(self, dim, axis=axis)

    def log_softmax(self, dim=-1, *, axis=None):
        return _ops.log_softmax(self, dim, axis=axis)

    def all(self, dim=None, keepdim=False):
        return _ops.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return _ops.any(self, dim, keepdim)

    # ------------------------------------------------------------------ shape
    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return _ops.transpose(self, -2, -1)

    def reshape(self, *shape):
        return _ops.reshape(self, _sizes(shape))

    def view(self, *shape):
        return _ops.reshape(self, _sizes(shape))

    def reshape_as(self, other):
        return _ops.reshape(self, other.shape)

    def view_as(self, other):
        return _ops.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _ops.flatten(self, start_dim, end_dim)

    def unflatten(self, dim, sizes):
        return _ops.unflatten(self, dim, sizes)

    def transpose(self, dim0, dim1):
        return _ops.transpose(self, dim0, dim1)

    def t(self):
        return _ops.t(self)

    def permute(self, *dims):
        return _ops.permute(self, _sizes(dims))

    def movedim(self, source, destination):
        return _ops.movedim(self, source, destination)

    def expand(self, *sizes):
        return _ops.expand(self, _sizes(sizes))

    def expand_as(self, other):
        return _ops.expand(self, other.shape)

    def broadcast_to(self, shape):
        return _ops.expand(self, tuple(shape))

    def squeeze(self, dim=None, *, axis=None):
        return _ops.squeeze(self, dim, axis=axis)

    def unsqueeze(self, dim):
        return _ops.unsqueeze(self, dim)

    def flip(self, *dims):
        return _ops.flip(self, _sizes(dims))

    def roll(self, shifts, dims=None):
        return _ops.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return _ops.repeat(self, _sizes(sizes))

    def tile(self, *dims):
        return _ops.tile(self, _sizes(dims))

    def tril(self, diagonal=0):
        return _ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return _ops.triu(self, diagonal)

    def narrow(self, dim, start, length):
        return _ops.narrow(self, dim, start, length)

    def chunk(self, chunks, dim=0):
        return _ops.chunk(self, chunks, dim)

    def split(self, split_size_or_sections, dim=0):
        return _ops.split(self, split_size_or_sections, dim)

    def unbind(self, dim=0):
        return _ops.unbind(self, dim)

    def contiguous(self):
        return self

    def clone(self):
        return _ops.clone(self)

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def gather(self, dim, index):
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src):
        return _ops.scatter(self, dim, index, src)

    def scatter_add(self, dim, index, src):
        return _ops.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return _ops.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def take_along_dim(self, indices, dim=None):
        return _ops.take_along_dim(self, indices, dim)

    def sort(self, dim=-1, descending=False, *, stable=False):
        return _ops.sort(self, dim, descending, stable=stable)

    def argsort(self, dim=-1, descending=False, *, stable=False):
        return _ops.argsort(self, dim, descending, stable=stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's name
        return _ops.topk(self, k, dim, largest, sorted)

    # ------------------------------------------------------------------ random sampling
    def bernoulli(self, p=None, *, generator=None):
        return _ops.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        return _ops.multinomial(self, num_samples, replacement, generator=generator)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        return _ops.normal_(self, mean, std, generator=generator)

    def uniform_(self, from_=0.0, to=1.0, *, generator=None):
        return _ops.uniform_(self, from_, to, generator=generator)
