"""What the debugging tools need to see during the forward pass: call sites and cuts.

The engine exposes observation points (``tinygen.autograd.hooks.observers``); this module
multiplexes them, so several tools can listen at once, and offers :func:`record`, which notes
for every op the line of user code that called it, and for every tensor made outside the
graph (under ``no_grad``, by ``detach()``, or from inputs that need no gradient) where it came
from.

It also notes where values leave the graph: ``.numpy()``, ``.item()``, ``.tolist()`` and
``.data`` read in user code on a tensor that requires grad, and a new leaf made from such a
tensor or array by ``tinygen.tensor(...)`` / ``Tensor(...)``. Those are plain methods, not
ops, so the engine has no observation point there: inside ``record()`` they are wrapped on
the Tensor class, and put back when the block ends. Nothing is recorded or wrapped outside a
``record()`` block, so normal runs pay nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import weakref

from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor

# the module, not the function ``tinygen.autograd.tensor`` that the package exports
tensor_module = sys.modules[Tensor.__module__]
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_forward_listeners: list = []
_backward_listeners: list = []
_detach_listeners: list = []

# id(tensor) -> (weakref to tensor, reason, Function or source tensor): tensors made outside
# the graph, so explain_grad can name the cut. Kept only inside record().
cuts: dict = {}

# Where values left the graph in user code, inside record(): (weakref to the tensor, how,
# call site, the graph it was computed from), in order; and id(array) -> (weakref to the
# array, that record) for the arrays handed out (``.numpy()``, ``.data``), so that a leaf
# made from one is linked to its source.
exits: list = []
_exited_arrays: dict = {}
_pending: list = []  # (array made by _to_array, source tensor, how, site) for the next leaf
_originals: dict = {}  # what record() wrapped on the Tensor class, to put back


def user_call_site(skip_package: str = _PACKAGE_DIR) -> str:
    """``file:line`` of the innermost frame outside the tinygen package (the user's code)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(skip_package):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


def _dispatch_forward(function, inputs, outputs):
    for listener in list(_forward_listeners):
        listener(function, inputs, outputs)


def _dispatch_backward(node, output_grads, input_grads):
    for listener in list(_backward_listeners):
        listener(node, output_grads, input_grads)


def _dispatch_detach(sources, result, reason):
    for listener in list(_detach_listeners):
        listener(sources, result, reason)


def _sync():
    observers.forward = _dispatch_forward if _forward_listeners else None
    observers.backward = _dispatch_backward if _backward_listeners else None
    observers.detach = _dispatch_detach if _detach_listeners else None


@contextlib.contextmanager
def listening(forward=None, backward=None, detach=None):
    """Install listeners on the engine's observation points for the duration of a block."""
    pairs = [(_forward_listeners, forward), (_backward_listeners, backward),
             (_detach_listeners, detach)]
    for registry, listener in pairs:
        if listener is not None:
            registry.append(listener)
    _sync()
    try:
        yield
    finally:
        for registry, listener in pairs:
            if listener is not None:
                registry.remove(listener)
        _sync()


def _note_call_site(function, inputs, outputs):
    if observers.in_backward:
        return
    function.call_site = user_call_site()
    if observers.module_stack:
        path, module = observers.module_stack[-1]
        function.module_path = path
        function.module_ref = weakref.ref(module)  # named later by a model's named_modules()
    if not function.inputs:  # not recorded: remember why these outputs are off the graph
        reason = "no_grad" if not is_grad_enabled() else "inputs need no grad"
        for output in outputs:
            cuts[id(output)] = (weakref.ref(output), reason, function, inputs)


def _note_detach(sources, result, reason):
    if not observers.in_backward:
        cuts[id(result)] = (weakref.ref(result), reason, user_call_site(), tuple(sources))


def _in_user_code() -> bool:
    """Whether the code that called the wrapped method is outside tinygen."""
    return not sys._getframe(3).f_code.co_filename.startswith(_PACKAGE_DIR)


def _graph_of(tensor) -> dict:
    """``{id: weakref}`` of the tensor and every tensor its graph was computed from."""
    found = {id(tensor): weakref.ref(tensor)}
    stack = [tensor]
    while stack:
        node = stack.pop().grad_fn
        if node is None:
            continue
        for source in node.inputs:
            if id(source) not in found:
                found[id(source)] = weakref.ref(source)
                stack.append(source)
    return found


def _note_exit(tensor, how: str, result) -> None:
    if not tensor.requires_grad or observers.in_backward or not _in_user_code():
        return
    # the tensors it was computed from, kept now: the tensor itself is often a temporary
    # (``mu.exp().numpy()``) that is gone by the time explain_grad asks
    entry = (weakref.ref(tensor), how, user_call_site(), _graph_of(tensor))
    exits.append(entry)
    if result is not None and hasattr(result, "shape"):
        try:
            _exited_arrays[id(result)] = (weakref.ref(result), entry)
        except TypeError:  # a NumPy scalar: no weak reference, and no identity to follow
            pass


def _wrapped_exit(method, how: str):
    def exit_method(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        _note_exit(self, how, result)
        return result
    exit_method.__name__ = method.__name__
    exit_method.__doc__ = method.__doc__
    return exit_method


def _data_getter(original):
    def data(self):
        result = original.fget(self)
        _note_exit(self, "`.data`", result)
        return result
    return property(data, original.fset, original.fdel, original.__doc__)


def _wrapped_to_array(to_array):
    def linked_to_array(data, *args, **kwargs):
        array = to_array(data, *args, **kwargs)
        source = None
        if isinstance(data, Tensor) and data.requires_grad:
            source = (data, "`tinygen.tensor(t)`", None)
        else:
            known = _exited_arrays.get(id(data))
            if known is not None and known[0]() is data and known[1][0]() is not None:
                tensor_ref, how, site, _ = known[1]
                source = (tensor_ref(), how, site)
        if source is not None:
            _pending[:] = [(array, *source)]
        return array
    return linked_to_array


def _wrapped_adopt(adopt):
    def linked_adopt(self, array, *args, **kwargs):
        adopt(self, array, *args, **kwargs)
        if _pending and _pending[0][0] is array:
            _, source, how, exit_site = _pending.pop()
            cuts[id(self)] = (weakref.ref(self), "escape", (how, exit_site, user_call_site()),
                              (source,))
        _pending.clear()
    return linked_adopt


def _wrap_exits() -> None:
    """Wrap the Tensor methods through which values leave the graph (inside record())."""
    for name in ("numpy", "item", "tolist", "data", "_adopt"):
        # the class's own attribute (None: inherited, so unwrapping deletes the wrapper)
        _originals[name] = Tensor.__dict__.get(name)
    _originals["_to_array"] = tensor_module._to_array
    Tensor.numpy = _wrapped_exit(Tensor.numpy, "`.numpy()`")
    Tensor.item = _wrapped_exit(Tensor.item, "`.item()`")
    Tensor.tolist = _wrapped_exit(Tensor.tolist, "`.tolist()`")
    Tensor.data = _data_getter(inspect.getattr_static(Tensor, "data"))
    Tensor._adopt = _wrapped_adopt(Tensor._adopt)
    tensor_module._to_array = _wrapped_to_array(_originals["_to_array"])


def _unwrap_exits() -> None:
    tensor_module._to_array = _originals.pop("_to_array")
    for name, original in _originals.items():
        if original is None:
            delattr(Tensor, name)
        else:
            setattr(Tensor, name, original)
    _originals.clear()
    _pending.clear()


@contextlib.contextmanager
def record():
    """Record call sites and graph cuts for the debugging tools, inside this block.

    Example::

        with tinygen.debug.record():
            loss = model_loss(batch)
        tinygen.debug.trace(loss)            # shows file:line for every op
        tinygen.debug.explain_grad(w, loss)  # can name a detach() or no_grad cut
    """
    outermost = not _originals
    if outermost:
        cuts.clear()
        exits.clear()
        _exited_arrays.clear()
        _wrap_exits()
    try:
        with listening(forward=_note_call_site, detach=_note_detach):
            yield
    finally:
        if outermost:
            _unwrap_exits()


def exits_from(tensor) -> list:
    """The recorded exits (``(how, call site)``) of any tensor computed from ``tensor``
    (or of the tensor itself), in order."""
    found = []
    for _, how, site, graph in exits:
        reference = graph.get(id(tensor))
        if reference is not None and reference() is tensor and (how, site) not in found:
            found.append((how, site))
    return found


def cut_of(tensor):
    """The recorded reason a tensor is off the graph, or None (only within record())."""
    entry = cuts.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1:]
