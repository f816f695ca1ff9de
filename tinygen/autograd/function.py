"""The op contract: one ``Function`` subclass per differentiable op.

A subclass takes its hyperparameters in ``__init__`` and its arrays in ``forward``::

    class Tanh(Function):
        def forward(self, x):               # raw xp arrays in, raw arrays out
            y = get_array_module(x).tanh(x)
            self.save_for_backward(y)       # keep exactly what the derivative needs
            return y

        def backward(self, gy):             # Tensors in, one Tensor (or None) per input out
            (y,) = self.saved_tensors
            # dy/dx = 1 - y^2
            return gy * (1 - y * y)

``backward`` is written with Tensor operations, so with ``create_graph=True`` the engine
records it and second derivatives come for free; otherwise it runs with recording off.

``save_for_backward`` accepts arrays. An array that *is* one of the op's input or output
arrays is saved as that Tensor (so it stays in the graph for higher-order derivatives and is
guarded against in-place changes); any other array is saved as a constant, which is right
only for quantities whose derivative is zero almost everywhere (masks, argmax indices).
A saved output is held without a reference cycle (:class:`_SavedOutput`), so a graph that
is never backpropagated is freed as soon as its last Tensor is.

The arrays of saved inputs and outputs are held read-only while the node is alive and not yet
released (``tensor._Held``): a raw write to one fails at the write instead of giving a wrong
gradient (docs/ARCHITECTURE.md, "Mutation safety").
"""

from __future__ import annotations

import re
import weakref

import numpy as np

from tinygen.autograd.grad_mode import grad_mode
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor, _locks
from tinygen.backend import DeviceError

#: Hold saved arrays read-only while their graph lives. Always on; benchmarks/overhead.py
#: turns it off to measure what it costs.
_LOCK_SAVED_ARRAYS = True

# The start of a word inside a CamelCase class name (see Function.public_name).
_WORD_START = re.compile(r"(?<=[A-Za-z0-9])(?=[A-Z][a-z])")


class Function:
    """Base class of every differentiable op. Use ``Op(hyper...).apply(*tensors)``."""

    #: Elementwise ops set this: the engine sums their gradients back to the input shapes.
    broadcasts = False
    #: Ops whose outputs may be views of their first input (reshape, transpose, slicing) set
    #: this: the outputs then share the input's version counter, so changing the input in
    #: place is caught even when only a view of it was saved for backward.
    returns_view = False
    #: Ops whose backward formula uses only what NumPy/CuPy arrays and Tensors share (``+``,
    #: ``-``, ``*``, ``/``, ``.reshape``) set this: without ``create_graph`` the engine runs
    #: that one formula on raw arrays (``gy``, ``saved_tensors`` and the returned gradients
    #: are arrays; docs/ARCHITECTURE.md, "The engine loop"). Kept to the hottest ops.
    backward_on_arrays = False
    #: Inputs (by position) whose gradient the raw backward (the one without
    #: ``create_graph``) always returns in a new array that nothing else refers to. The engine
    #: hands such an array to a leaf's ``.grad`` as it is, where it would otherwise copy it so
    #: that ``.grad`` owns its memory: a large weight's gradient (an embedding table, a
    #: linear layer's weight) is then not copied once more per step.
    #: tests/autograd/test_owned_grads.py checks the claim for every op that makes it.
    owned_grads: tuple = ()

    # Filled by apply() when the call is recorded.
    inputs: tuple = ()
    needs_input_grad: tuple = ()
    _saved = None
    _saved_entries: tuple = ()
    _cache = None  # name -> raw array, from cache_for_backward(); freed by release()
    _retained = None  # output index -> Tensor, for outputs that called retain_grad()
    _n_outputs = 1
    _output_meta: tuple = ()  # (shape, dtype) per output, kept for multi-output ops only
    _released = False
    _recording = False
    _held = None  # the read-only locks on the saved arrays, from _apply_recorded
    _on_arrays = False  # set by the engine while a backward_on_arrays backward runs on arrays

    def forward(self, *arrays):
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    # ------------------------------------------------------------------ saving for backward
    def save_for_backward(self, *arrays) -> None:
        """Keep arrays that backward needs. A no-op when the call is not being recorded."""
        if self._recording:
            self._saved = arrays

    def cache_for_backward(self, **arrays) -> None:
        """Keep raw intermediate arrays that a fused backward reuses (im2col columns, gates).

        The one sanctioned place for arrays outside ``save_for_backward``: they are not
        Tensors, carry no mutation guard and no second derivative, so a backward may use
        them only for first-order raw-array work whose inputs it also saved (their guard
        covers the cache). Unlike saved tensors they are kept even when the call is not
        recorded, because an op run inside another op's backward hands its cache on (a
        transposed conv reuses the columns its input-gradient conv cut). ``release()``
        frees them with the rest of the node.
        """
        self._cache = arrays

    def cached(self, name: str):
        """An array kept by ``cache_for_backward``, or None if none was kept under ``name``."""
        self.check_not_released()
        return None if self._cache is None else self._cache.get(name)

    @property
    def saved_tensors(self) -> tuple:
        """The saved values as Tensors, after checking that none was changed in place (their
        arrays while the engine runs a ``backward_on_arrays`` backward on arrays)."""
        self.check_not_released()
        saved = tuple([self._resolve(entry) for entry in self._saved_entries])
        if self._on_arrays:  # the engine runs this backward on arrays: hand it theirs
            return tuple([None if tensor is None else tensor._data for tensor in saved])
        return saved

    def check_not_released(self) -> None:
        """Raise a clear error if backward already ran through this node and freed it."""
        if self._released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time: op {self.name}'s saved "
                "arrays were freed by the first backward. Pass retain_graph=True to the first "
                "backward (or autograd.grad) if you need to backward twice."
            )

    def _resolve(self, entry):
        if entry is None:
            return None
        tensor, version = entry
        if type(tensor) is _SavedOutput:
            tensor = tensor.resolve(self)
        if tensor._version[0] != version:
            who = f"'{tensor.name}'" if tensor.name else f"of shape {tensor.shape}"
            raise RuntimeError(
                f"The tensor {who} saved for backward by op {self.name} was modified in place "
                f"after the forward pass (version {tensor._version[0]}, expected {version}). Its "
                "gradients would be wrong. Run backward before changing it (for example, before "
                "optimizer.step()), or use a copy."
            )
        return tensor

    @property
    def name(self) -> str:
        return type(self).__name__

    #: The public function's name where the class name does not give it (``MatMul``:
    #: "matmul"); None derives it from the class name (``LSTMCell``: "lstm_cell").
    op_name: str | None = None

    @property
    def public_name(self) -> str:
        """The name a user called this op by, for error messages (``conv2d``, ``relu``)."""
        if self.op_name is not None:
            return self.op_name
        # an underscore before each capital that starts a lowercase run after another
        # letter or digit: BatchNorm -> batch_norm, LSTMCell -> lstm_cell, ReLU -> relu
        return _WORD_START.sub("_", type(self).__name__.lstrip("_")).lower()

    def release(self) -> None:
        """Free the graph after backward (unless retain_graph): saved arrays and inputs, and
        the read-only locks on them."""
        self._saved_entries = ()
        self._cache = None
        self._released = True
        if self._held is not None:
            self._held.release()
            self._held = None

    # ------------------------------------------------------------------ calling the op
    def apply(self, *inputs: Tensor):
        """Run forward on the inputs' arrays and, if needed, record the call for backward.

        Refuses, naming the op (:attr:`public_name`): an input that is not a Tensor
        (TypeError), tensors on different devices (``DeviceError``), and two different
        floating dtypes (TypeError): no forward ever sees mixed floats. Elementwise wrappers
        promote their operands first, as PyTorch does (docs/ARCHITECTURE.md, "Errors and
        dtypes").
        """
        # A non-Tensor input fails at its first ``._data``: the AttributeError is turned into
        # the op's TypeError below, so the happy path pays no isinstance check per input.
        try:
            count = len(inputs)
            if count == 2:
                first, second = inputs[0]._data, inputs[1]._data
                if type(first) is not type(second):
                    _raise_device_mix(self, inputs)
                if first.dtype is not second.dtype:  # identity: one compare when they match
                    _check_dtypes(self, inputs)
            elif count > 2:
                _check_same_device(self, inputs)
            if grad_mode.enabled:
                for tensor in inputs:
                    if tensor.requires_grad:
                        return self._apply_recorded(inputs)
            # Not recorded (no_grad, or constants only): this path must stay cheap, because
            # every backward with create_graph=False runs its Tensor arithmetic through it.
            if count == 1:
                raw = self.forward(inputs[0]._data)
            elif count == 2:
                raw = self.forward(first, second)
            else:
                raw = self.forward(*[t._data for t in inputs])
        except (AttributeError, TypeError, ValueError) as error:
            _explain_failure(self, inputs, error)
            raise
        except MemoryError as error:  # as PyTorch's allocator: a RuntimeError naming the op
            raise RuntimeError(f"{self.public_name}: out of memory: {error}") from None
        if type(raw) is tuple:
            result = tuple([Tensor._from_array(y) for y in raw])
        else:
            result = Tensor._from_array(raw)
        if self.returns_view:
            _share_version(inputs[0], result)
        if observers.forward is not None:
            observers.forward(self, inputs, result if type(result) is tuple else (result,))
        return result

    def _apply_recorded(self, inputs):
        self._recording = True
        # spelled out for one and two inputs, the common calls: a comprehension costs a
        # function call of its own (Python 3.11)
        count = len(inputs)
        if count == 1:
            arrays = (inputs[0]._data,)
            self.needs_input_grad = (inputs[0].requires_grad,)
        elif count == 2:
            first, second = inputs
            arrays = (first._data, second._data)
            self.needs_input_grad = (first.requires_grad, second.requires_grad)
        else:
            arrays = tuple([t._data for t in inputs])
            self.needs_input_grad = tuple([t.requires_grad for t in inputs])
        raw = self.forward(*arrays)
        self.inputs = inputs
        if type(raw) is tuple:
            outputs = tuple([Tensor._from_op(y, self, i) for i, y in enumerate(raw)])
            self._n_outputs = len(outputs)
            self._output_meta = tuple([(y.shape, y.dtype) for y in outputs])
            result = outputs
        else:
            result = Tensor._from_op(raw, self, 0)
            outputs = (result,)
        if self.returns_view:
            _share_version(inputs[0], result)
        if self._saved is not None:
            raws = raw if type(raw) is tuple else (raw,)
            self._saved_entries = self._entries(self._saved, arrays, outputs, raws)
            self._saved = None
        if observers.forward is not None:
            observers.forward(self, inputs, outputs)
        return result

    def _entries(self, saved, arrays, wrapped, raws):
        entries = []
        shared = []  # (array, version counter) of each saved input or output, to lock
        for array in saved:
            if array is None:
                entries.append(None)
                continue
            tensor = None
            for candidate, source in zip(self.inputs, arrays):
                if array is source:
                    tensor = candidate
                    break
            else:
                # A ufunc on a 0-d array returns a NumPy scalar, which the output Tensor
                # wraps in a new array: match the raw output too, or a saved output would
                # silently become a constant (wrong second derivatives, no mutation guard).
                for candidate, source in zip(wrapped, raws):
                    if array is candidate._data or array is source:
                        entries.append((_SavedOutput(candidate), candidate._version[0]))
                        shared.append((candidate._data, candidate._version))
                        break
                else:
                    entries.append((Tensor._from_array(array), 0))  # a constant: ours alone
                continue
            entries.append((tensor, tensor._version[0]))
            shared.append((tensor._data, tensor._version))
        if shared and _LOCK_SAVED_ARRAYS:
            self._held = _Held()
            self._held.lock(shared, type(self).__name__)
        return tuple(entries)


class _SavedOutput:
    """An op's own output, saved for its backward without a reference cycle.

    Holding the output Tensor itself would close a loop (output -> its op -> the output),
    and a graph that is never backpropagated (a GAN generator's forward in the
    discriminator step) would then wait for Python's cycle collector, keeping every array
    of the graph alive for several steps: a DCGAN's heap grew by 340 MB over its first 300
    steps, and each step paid page faults for fresh memory. So the output is held by weak
    reference, with its array and version counter; if the caller dropped it, an equivalent
    Tensor (same array, op, output index and version counter) stands in, as PyTorch does
    for saved outputs.
    """

    __slots__ = ("ref", "array", "index", "version")

    def __init__(self, tensor):
        self.ref = weakref.ref(tensor)
        self.array, self.index, self.version = tensor._data, tensor._out_index, tensor._version

    def resolve(self, function):
        tensor = self.ref()
        if tensor is None:
            tensor = Tensor._from_op(self.array, function, self.index)
            tensor._version = self.version
        return tensor


def _share_version(source, outputs) -> None:
    for output in outputs if type(outputs) is tuple else (outputs,):
        output._version = source._version
        if source.name is not None:  # so the mutation guard can name what was changed
            output.name = source.name if source.name.startswith("view of ") else (
                f"view of {source.name}")


def _check_same_device(function, inputs):
    """Three or more inputs: one device, and at most one floating dtype among them."""
    first = inputs[0]._data
    device, dtype = type(first), first.dtype
    mixed = False
    for tensor in inputs[1:]:
        data = tensor._data
        if type(data) is not device:
            _raise_device_mix(function, inputs)
        mixed = mixed or data.dtype is not dtype
    if mixed:
        _check_dtypes(function, inputs)


def _check_dtypes(function, inputs):
    """Refuse two different floating dtypes (integer and bool inputs, indices and masks,
    may sit beside a float). Only called when the inputs' dtypes are not one object."""
    floats = [(i, t._data.dtype) for i, t in enumerate(inputs) if t._data.dtype.kind in "fc"]
    if len({dtype for _, dtype in floats}) > 1:
        shown = ", ".join(f"input {i}: {dtype}" for i, dtype in floats)
        raise TypeError(
            f"{function.public_name}: expected tensors of one floating dtype, got {shown}; "
            "convert one with .to(dtype) first (only elementwise arithmetic promotes, as in "
            "PyTorch)"
        )


def _explain_failure(function, inputs, error):
    """After apply failed: raise the op's own error for the causes it can name (an input
    that is not a Tensor, an integer or bool input to float math, shapes that do not
    broadcast); otherwise return and let the original error through. Runs only on the error
    path, so the checks cost a valid call nothing."""
    for index, value in enumerate(inputs):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{function.public_name}: input {index} must be a Tensor, got "
                f"{type(value).__name__}; wrap arrays and lists with tinygen.tensor(...)"
            ) from None
    dtypes = [t._data.dtype for t in inputs]
    # NumPy's casting errors (UFuncTypeError) and its refusal of arithmetic on bools
    numpy_dtype_error = type(error).__module__.startswith("numpy") or "numpy boolean" in str(
        error)
    if isinstance(error, TypeError) and numpy_dtype_error and any(
            d.kind not in "fc" for d in dtypes):
        shown = ", ".join(f"input {i}: {d}" for i, d in enumerate(dtypes))
        raise TypeError(f"{function.public_name}: expected floating tensors, got {shown}; "
                        "convert with .float() or .double() first") from error
    if isinstance(error, ValueError) and function.broadcasts:
        shapes = [t._data.shape for t in inputs]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"{function.public_name}: the input shapes {shapes} do not "
                             "broadcast together") from None


def _raise_device_mix(function, inputs):
    devices = ", ".join(f"input {i}: {t.device}" for i, t in enumerate(inputs))
    raise DeviceError(
        f"op {function.name} got tensors on different devices ({devices}); move them "
        "to one device with .to(device) first"
    )


# --------------------------------------------------------------------------- read-only locks
# While a live graph saves a NumPy array, the array is read-only (docs/ARCHITECTURE.md,
# "Mutation safety"). The registry ``tensor._locks`` maps id(array) to a list
# ``[array, deferred views, holder, holder, ...]``: one holder, ``(version counter, op name)``,
# per lock a live node holds on it. The array is writable again when its last holder lets go.
# Plain lists and tuples, no per-lock objects: this runs for every saved array of every op.


class _Held(list):
    """The locks one graph node holds, as ``(entry, holder)`` pairs; released by the engine
    after backward, or when the node is freed (a graph never backpropagated)."""

    __slots__ = ()

    def lock(self, shared, op: str) -> None:
        """Hold each saved array (and the arrays it is a view of) read-only for this node.

        Args:
            shared: (array, the saved tensor's version counter) pairs.
            op: the node's op name, for ``lock_holders``.
        """
        append = self.append
        for array, version in shared:
            holder = (version, op)
            while type(array) is np.ndarray:
                key = id(array)
                entry = _locks.get(key)
                if entry is None:
                    if array.flags.writeable:
                        array.setflags(False)
                    elif not _ours(array):
                        array = array.base  # read-only before us: we never make it writable
                        continue
                    entry = _locks[key] = [array, None]
                entry.append(holder)
                append((entry, holder))
                array = array.base

    def release(self) -> None:
        """Drop this node's locks, bases before their views (NumPy makes a view writable only
        after its base), the newest first (where backward and freeing find them)."""
        for entry, holder in reversed(self):
            if entry[-1] is holder:
                entry.pop()
            else:  # by identity: equal holders of two tensors may hold different counters
                for index in range(len(entry) - 2, 1, -1):
                    if entry[index] is holder:
                        del entry[index]
                        break
            if len(entry) == 2:
                array = entry[0]
                del _locks[id(array)]
                try:
                    array.setflags(True)
                except ValueError:  # NumPy refuses while its base is read-only
                    _reopen_with_base(array)
                if entry[1] is not None:
                    _reopen_views(entry[1])
        self.clear()

    def __del__(self):
        # a graph dropped without backward frees its locks with it; a released node's list
        # is empty, and most are (the engine releases them), so the test saves a call
        if self:
            self.release()


def _ours(array) -> bool:
    """Whether a read-only array is read-only only because tinygen locks an array it views
    (NumPy makes views of a read-only array read-only); broadcast views stay read-only."""
    if any(stride == 0 and size > 1 for stride, size in zip(array.strides, array.shape)):
        return False
    base = array.base
    while type(base) is np.ndarray:
        if id(base) in _locks:
            return True
        base = base.base
    return False


def _reopen_with_base(array) -> None:
    """Reopen ``array`` once the locked array it views is released by its other holders."""
    base = array.base
    while type(base) is np.ndarray:
        entry = _locks.get(id(base))
        if entry is not None:
            if entry[1] is None:
                entry[1] = []
            entry[1].append(array)
            return
        base = base.base


def _reopen_views(views) -> None:
    """Reopen the views whose own locks ended while their base was still locked."""
    for view in views:
        if id(view) not in _locks:
            try:
                view.setflags(True)
            except ValueError:
                _reopen_with_base(view)
