"""What the debugging tools need to see during the forward pass: call sites and cuts.

The engine exposes observation points (``tinygen.autograd.hooks.observers``); this module
multiplexes them, so several tools can listen at once, and offers :func:`record`, which notes
for every op the line of user code that called it, and for every tensor made outside the
graph (under ``no_grad``, by ``detach()``, or from inputs that need no gradient) where it came
from. Nothing is recorded outside a ``record()`` block, so normal runs pay nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref

from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.hooks import observers

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_forward_listeners: list = []
_backward_listeners: list = []
_detach_listeners: list = []

# id(tensor) -> (weakref to tensor, reason, Function or source tensor): tensors made outside
# the graph, so explain_grad can name the cut. Kept only inside record().
cuts: dict = {}


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
        function.module_path = observers.module_stack[-1][0]
    if not function.inputs:  # not recorded: remember why these outputs are off the graph
        reason = "no_grad" if not is_grad_enabled() else "inputs need no grad"
        for output in outputs:
            cuts[id(output)] = (weakref.ref(output), reason, function, inputs)


def _note_detach(sources, result, reason):
    if not observers.in_backward:
        cuts[id(result)] = (weakref.ref(result), reason, user_call_site(), tuple(sources))


@contextlib.contextmanager
def record():
    """Record call sites and graph cuts for the debugging tools, inside this block.

    Example::

        with tinygen.debug.record():
            loss = model_loss(batch)
        tinygen.debug.trace(loss)            # shows file:line for every op
        tinygen.debug.explain_grad(w, loss)  # can name a detach() or no_grad cut
    """
    cuts.clear()
    with listening(forward=_note_call_site, detach=_note_detach):
        yield


def cut_of(tensor):
    """The recorded reason a tensor is off the graph, or None (only within record())."""
    entry = cuts.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1:]
