"""The backward engine: reverse-mode differentiation over the recorded graph.

The graph is a DAG of Function nodes; each node knows its input Tensors and each Tensor knows
the node that produced it. ``backward`` sorts the nodes reachable from the outputs with an
iterative depth-first search (no recursion, so a chain of 100,000 ops is fine), then visits
them in reverse topological order, so that every node's output gradients are complete before
its own backward runs.
"""

from __future__ import annotations

from tinygen.autograd.grad_mode import set_grad_enabled
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor, _as_tensor
from tinygen.backend import get_array_module


def _topological_order(roots, targets=None):
    """Nodes reachable from ``roots`` in post-order (inputs before the ops that use them).

    With ``targets`` (ids of tensors whose gradient autograd.grad returns) the result keeps
    only nodes whose backward leads to a target, plus the nodes that produce a target; the
    second return value is the set of nodes whose backward must actually run.
    """
    order, visited, through = [], set(), set()
    stack = [(node, False) for node in roots if node is not None]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            if targets is not None and any(
                id(t) in targets or t._ctx in through for t in node.inputs
            ):
                through.add(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for parent in node.inputs:
            if parent._ctx is not None and parent._ctx not in visited:
                stack.append((parent._ctx, False))
    if targets is None:
        return order, None
    producers = {node for node in order if node in targets.producers}
    return [node for node in order if node in through or node in producers], through


_reduction_axes: dict = {}  # (broadcast shape, input shape) -> axes to sum; shapes repeat


def _reduce_to_shape(grad: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back to the shape of the input it belongs to."""
    if grad.shape == shape:
        return grad
    key = (grad.shape, shape)
    axes = _reduction_axes.get(key)
    if axes is None:
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
        )
        if len(_reduction_axes) < 4096:
            _reduction_axes[key] = axes
    reduced = _ops.sum(grad, axis=axes, keepdims=True) if axes else grad
    return _ops.reshape(reduced, shape) if reduced.shape != shape else reduced


def _check_grad_shape(node, index, grad, tensor):
    if grad.shape != tensor.shape:
        raise RuntimeError(
            f"op {node.name} returned a gradient of shape {grad.shape} for input {index}, "
            f"whose shape is {tensor.shape}"
        )


def _initial_gradients(outputs, grad_outputs):
    grads = []
    for output, grad in zip(outputs, grad_outputs):
        if grad is None:
            if output.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for one-element outputs; got shape "
                    f"{output.shape}: pass gradient= (or grad_outputs=) of that shape"
                )
            xp = get_array_module(output._data)
            grad = Tensor._from_array(xp.ones(output.shape, dtype=output.dtype))
        else:
            grad = _as_tensor(grad, output)
            if grad.shape != output.shape:
                raise RuntimeError(
                    f"gradient: expected shape {output.shape} (the output's), got {grad.shape}"
                )
        grads.append(grad)
    return grads


class _Capture:
    """The tensors autograd.grad differentiates with respect to, and their gradients."""

    def __init__(self, tensors):
        self.grads = {id(t): None for t in tensors}
        self.producers: dict = {}  # node -> {output index: id(tensor)} for non-leaf targets
        for tensor in tensors:
            if tensor._ctx is not None:
                self.producers.setdefault(tensor._ctx, {})[tensor._out_index] = id(tensor)

    def __contains__(self, key) -> bool:
        return key in self.grads

    def add(self, key, grad) -> None:
        old = self.grads[key]
        self.grads[key] = grad if old is None else old + grad


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None):
    """The core loop: accumulate into leaves' .grad, or into ``capture`` when it is given."""
    if retain_graph is None:
        retain_graph = create_graph
    for position, output in enumerate(outputs):
        if not output.requires_grad:
            raise RuntimeError(
                f"outputs[{position}] does not require grad and has no grad_fn: nothing in its "
                "computation requires grad (was it computed under no_grad, or detached?)"
            )
    pending: dict = {}
    for output, grad in zip(outputs, _initial_gradients(outputs, grad_outputs)):
        if output._ctx is None:
            _deliver(output, grad, capture, create_graph)
        else:
            _add_pending(pending, output, grad)
    order, through = _topological_order([o._ctx for o in outputs], capture)
    observers.in_backward = True
    try:
        _visit_nodes(order, through, pending, retain_graph, create_graph, capture)
    finally:
        observers.in_backward = False


def _visit_nodes(order, through, pending, retain_graph, create_graph, capture):
    """Run each node's backward in reverse topological order, routing gradients onward."""
    with set_grad_enabled(create_graph):
        for node in reversed(order):
            output_grads = pending.pop(node, None)
            if output_grads is None:
                continue
            if node._n_outputs > 1:
                output_grads = _fill_missing(node, output_grads)
            if node._retained or capture is not None:
                _retain_intermediate(node, output_grads, capture)
                if through is not None and node not in through:
                    continue  # it only produces a captured tensor; nothing upstream is wanted
            node.check_not_released()
            input_grads = node.backward(*output_grads)
            if type(input_grads) is not tuple:
                input_grads = tuple(input_grads) if type(input_grads) is list else (input_grads,)
            if observers.backward is not None:
                observers.backward(node, output_grads, input_grads)
            inputs = node.inputs
            if len(input_grads) != len(inputs):
                raise RuntimeError(
                    f"op {node.name}.backward returned {len(input_grads)} gradients for "
                    f"{len(inputs)} inputs"
                )
            for index, tensor in enumerate(inputs):
                grad = input_grads[index]
                if grad is None or not tensor.requires_grad:
                    continue
                if grad._data.shape != tensor._data.shape:
                    if node.broadcasts:
                        grad = _reduce_to_shape(grad, tensor.shape)
                    else:
                        _check_grad_shape(node, index, grad, tensor)
                if tensor._ctx is None:
                    _deliver(tensor, grad, capture, create_graph)
                else:
                    _add_pending(pending, tensor, grad)
            if not retain_graph:
                node.release()


def _add_pending(pending, tensor, grad):
    node = tensor._ctx
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * node._n_outputs
    index = tensor._out_index
    slots[index] = grad if slots[index] is None else slots[index] + grad
    if tensor._retains_grad:
        if node._retained is None:
            node._retained = {}
        node._retained[index] = tensor


def _fill_missing(node, output_grads):
    """An output that received no gradient contributes zero (e.g. an unused LSTM state)."""
    if not any(g is None for g in output_grads):
        return output_grads
    xp = get_array_module(*(g._data for g in output_grads if g is not None))
    return [
        Tensor._from_array(xp.zeros(shape, dtype=dtype)) if grad is None else grad
        for grad, (shape, dtype) in zip(output_grads, node._output_meta)
    ]


def _retain_intermediate(node, output_grads, capture):
    """Hand finished gradients of non-leaf tensors to retain_grad() and autograd.grad."""
    if node._retained:
        for index, tensor in node._retained.items():
            grad = output_grads[index]
            if tensor.grad is not None:
                grad = tensor.grad + grad
            tensor.grad = grad if grad.requires_grad else grad.detach()
    if capture is not None and node in capture.producers:
        for index, key in capture.producers[node].items():
            capture.add(key, output_grads[index])


def _deliver(leaf, grad, capture, create_graph):
    """Accumulate a finished gradient into a leaf (or into the capture)."""
    if capture is not None:
        if id(leaf) in capture:
            capture.add(id(leaf), grad)
        return
    if leaf.grad is not None:
        leaf.grad = leaf.grad + grad
    elif create_graph:
        # a recorded copy: the same gradient Tensor can reach several leaves (a + b) or be
        # the caller's upstream gradient, and .grad must never alias another array
        leaf.grad = grad + 0.0
    else:
        leaf.grad = Tensor._from_array(grad._data.copy())  # own the memory: grads never alias


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of every leaf they depend on.

    Args:
        tensors: a Tensor or a sequence of Tensors to differentiate.
        grad_tensors: the upstream gradient for each (None means 1 for one-element tensors).
        retain_graph: keep the saved arrays for another backward (default: ``create_graph``).
        create_graph: record the backward itself, for higher-order derivatives.
        inputs: if given, accumulate only into these leaves' ``.grad``.
    """
    outputs, grad_outputs = _as_sequences(tensors, grad_tensors)
    if inputs is None:
        _run_backward(outputs, grad_outputs, retain_graph, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    results = grad(outputs, inputs, grad_outputs, retain_graph=retain_graph,
                   create_graph=create_graph, allow_unused=True)
    for leaf, result in zip(inputs, results):
        if result is not None:
            _deliver(leaf, result, None, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: the Tensors (leaves or intermediates) to differentiate with respect to.
        grad_outputs: upstream gradients, one per output (None: ones for scalars).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: record the gradient computation, so the result can be differentiated.
        allow_unused: return None for an input the outputs do not depend on, instead of
            raising.

    Returns:
        A tuple with one gradient Tensor (or None) per input.
    """
    outputs, grad_outputs = _as_sequences(outputs, grad_outputs, bare_gradient=False)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, Tensor) or not tensor.requires_grad:
            raise RuntimeError(f"inputs[{position}] is not a Tensor that requires grad")
    capture = _Capture(inputs)
    _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture)
    results = []
    for position, tensor in enumerate(inputs):
        result = capture.grads[id(tensor)]
        if result is None and not allow_unused:
            raise RuntimeError(
                f"inputs[{position}] (shape {tensor.shape}) was not used to compute the "
                "outputs; pass allow_unused=True to get None for it"
            )
        if result is not None and not create_graph:
            result = result.detach()
        results.append(result)
    return tuple(results)


def _as_sequences(tensors, grads, bare_gradient=True):
    if isinstance(tensors, Tensor):
        tensors = [tensors]
        # autograd.grad's grad_outputs is a sequence (one per output), as in PyTorch; a bare
        # gradient is accepted too for a single output
        one = not bare_gradient and isinstance(grads, (list, tuple)) and len(grads) == 1 and (
            grads[0] is None or hasattr(grads[0], "shape"))
        grads = list(grads) if one else [grads]
    else:
        tensors = list(tensors)
        grads = [None] * len(tensors) if grads is None else list(grads)
    if len(grads) != len(tensors):
        raise ValueError(f"grad_outputs: expected {len(tensors)} gradients, got {len(grads)}")
    return tensors, grads


from tinygen.autograd import ops as _ops  # noqa: E402 - ops import the engine's Tensor
