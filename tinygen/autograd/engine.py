"""The backward engine: reverse-mode differentiation over the recorded graph.

The graph is a DAG of Function nodes; each node knows its input Tensors and each Tensor knows
the node that produced it (``grad_fn``). Backward is four steps, read in ``_run_backward``:

1. order the nodes reachable from the outputs (an iterative depth-first search: no
   recursion, so a chain of 100,000 ops is fine);
2. visit them in reverse order, so that every node's output gradients are complete before
   its own backward runs, and call that backward;
3. route each input gradient onward: into a leaf's ``.grad``, or into the pending gradients
   of the node that produced the input;
4. release the node's saved arrays (unless ``retain_graph``).

Everything else is a named step outside that loop: ``_Capture.prune`` (autograd.grad runs
only the nodes that lead to its inputs), ``_Router.collect`` (retain_grad and captured
intermediates get their finished gradients there) and the observers (hooks for debug tools).

Without ``create_graph`` nothing the backward computes is recorded, so the gradients travel
as raw arrays ("arrays mode"): a node whose op sets ``backward_on_arrays`` runs its one
formula on arrays, any other gets its output gradients wrapped as Tensors and hands back its
results' arrays; leaves' ``.grad`` and autograd.grad's results are Tensors again. With a
debug observer installed, or with ``create_graph``, every gradient is a Tensor throughout.
"""

from __future__ import annotations

from tinygen.autograd.grad_mode import set_grad_enabled
from tinygen.autograd.hooks import observers
from tinygen.autograd.tensor import Tensor, _as_tensor
from tinygen.backend import get_array_module


def topological_order(outputs) -> list:
    """The Function nodes that ``outputs`` (a Tensor or Tensors) depend on, inputs first.

    Every node comes after the nodes that produced its inputs; ``reversed()`` of it is the
    order backward visits them in.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    order, visited = [], set()
    # a node is pushed again under a None marker when first met, so it is appended once
    # everything pushed above the marker (its inputs' producers) is: no tuple per push
    stack = [t._ctx for t in outputs if t._ctx is not None]
    while stack:
        node = stack.pop()
        if node is None:
            order.append(stack.pop())
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append(node)
        stack.append(None)
        for parent in node.inputs:
            producer = parent._ctx
            if producer is not None and producer not in visited:
                stack.append(producer)
    return order


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None):
    """The core loop: accumulate into leaves' .grad, or into ``capture`` when it is given."""
    retain_graph = create_graph if retain_graph is None else retain_graph
    _check_outputs(outputs)
    # arrays mode (see the module docstring); the observers see Tensors, as users write them
    arrays = not create_graph and observers.forward is None and observers.backward is None
    router = _Router(capture, create_graph, arrays)
    send, collect = router.send, router.collect
    for output, grad in zip(outputs, _initial_gradients(outputs, grad_outputs)):
        send(output, grad._data if arrays else grad)
    order = topological_order(outputs)
    if capture is not None:
        order = capture.prune(order)
    observers.in_backward = True
    try:
        with set_grad_enabled(create_graph):
            for node in reversed(order):
                output_grads = collect(node)
                if output_grads is None:
                    continue  # no gradient reached it, or it only produces a captured tensor
                input_grads = _call_backward(node, output_grads, arrays)
                owned = node.owned_grads if arrays else ()
                for index, tensor in enumerate(node.inputs):
                    grad = input_grads[index]
                    if grad is not None and tensor.requires_grad:
                        if grad.shape != tensor._data.shape:
                            grad = _fit_to_input(node, index, grad, tensor)
                        send(tensor, grad, index in owned)
                if not retain_graph:
                    node.release()
    finally:
        observers.in_backward = False


def _check_gradient_types(node, input_grads) -> None:
    """Raise a TypeError naming the op if its backward returned a gradient that is not a
    Tensor (or None) for an input that requires grad."""
    for index, (tensor, grad) in enumerate(zip(node.inputs, input_grads)):
        if grad is not None and tensor.requires_grad and not isinstance(grad, Tensor):
            raise TypeError(
                f"{node.name}.backward returned {type(grad).__name__} for input {index}; "
                "return a Tensor (wrap with tinygen.tensor) or None"
            ) from None


def _call_backward(node, output_grads, arrays: bool) -> tuple:
    """Run one node's backward and check that it returned one gradient per input: arrays in
    and out in arrays mode, Tensors otherwise."""
    if node._released:
        node.check_not_released()  # raises, naming the op
    on_arrays = arrays and node.backward_on_arrays
    if on_arrays:
        node._on_arrays = True  # its saved_tensors hand out arrays for this call
        try:
            input_grads = node.backward(*output_grads)
        finally:
            node._on_arrays = False
    elif arrays:
        if len(output_grads) == 1:
            input_grads = node.backward(Tensor._from_array(output_grads[0]))
        else:
            input_grads = node.backward(*[Tensor._from_array(g) for g in output_grads])
    else:
        input_grads = node.backward(*output_grads)
    if type(input_grads) is not tuple:
        input_grads = tuple(input_grads) if type(input_grads) is list else (input_grads,)
    if observers.backward is not None:
        observers.backward(node, output_grads, input_grads)
    if len(input_grads) != len(node.inputs):
        raise RuntimeError(
            f"op {node.name}.backward returned {len(input_grads)} gradients for "
            f"{len(node.inputs)} inputs"
        )
    if on_arrays:
        return input_grads
    try:  # a backward written in Tensor ops must return Tensors (or None)
        if len(input_grads) == 1:
            (grad,) = input_grads
            unwrapped = (None if grad is None else grad._data,)
        else:
            unwrapped = tuple([None if g is None else g._data for g in input_grads])
    except AttributeError:
        _check_gradient_types(node, input_grads)  # raises for an input that requires grad
        unwrapped = tuple([g._data if isinstance(g, Tensor) else None for g in input_grads])
    return unwrapped if arrays else input_grads


_reduction_axes: dict = {}  # (broadcast shape, input shape) -> axes to sum; shapes repeat


def _fit_to_input(node, index, grad, tensor) -> Tensor:
    """A broadcasting op's gradient summed back to its input's shape; any other op's checked."""
    if not node.broadcasts:
        raise RuntimeError(
            f"op {node.name} returned a gradient of shape {grad.shape} for input {index}, "
            f"whose shape is {tensor.shape}"
        )
    shape = tensor.shape
    key = (grad.shape, shape)
    axes = _reduction_axes.get(key)
    if axes is None:
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
        )
        if len(_reduction_axes) < 4096:
            _reduction_axes[key] = axes
    reduced = grad.sum(axis=axes, keepdims=True) if axes else grad
    return reduced.reshape(shape) if reduced.shape != shape else reduced


class _Router:
    """Where finished gradients go: leaves' ``.grad`` (or the capture), and pending sums.

    ``pending`` maps a node to one gradient slot per output; a slot sums every gradient
    routed to that output, and the node's backward runs once its slots are complete.
    """

    def __init__(self, capture, create_graph, arrays):
        self.capture, self.create_graph, self.arrays = capture, create_graph, arrays
        self.pending: dict = {}

    def send(self, tensor, grad, owned: bool = False) -> None:
        """Deliver ``grad`` to a leaf, or add it to the pending sum of the tensor's node.
        ``owned``: a raw array nothing else refers to (``Function.owned_grads``)."""
        node = tensor._ctx
        if node is None:
            _deliver(tensor, grad, self.capture, self.create_graph, owned)
            return
        slots = self.pending.get(node)
        if slots is None:
            slots = self.pending[node] = [None] * node._n_outputs
        index = tensor._out_index
        slots[index] = grad if slots[index] is None else slots[index] + grad
        if tensor._retains_grad:
            if node._retained is None:
                node._retained = {}
            node._retained[index] = tensor

    def collect(self, node):
        """The node's finished output gradients, or None if its backward need not run."""
        output_grads = self.pending.pop(node, None)
        if output_grads is None:
            return None
        if node._n_outputs > 1:
            output_grads = _fill_missing(node, output_grads, self.arrays)
        if node._retained:
            _retain(node, output_grads)
        capture = self.capture
        if capture is not None:
            capture.take(node, output_grads)
            if node not in capture.through:
                return None  # it only produces a captured tensor; nothing upstream is wanted
        return output_grads


def _fill_missing(node, output_grads, arrays: bool):
    """An output that received no gradient contributes zero (e.g. an unused LSTM state)."""
    if not any(g is None for g in output_grads):
        return output_grads
    xp = get_array_module(*(g if arrays else g._data for g in output_grads if g is not None))
    wrap = (lambda array: array) if arrays else Tensor._from_array
    return [
        wrap(xp.zeros(shape, dtype=dtype)) if grad is None else grad
        for grad, (shape, dtype) in zip(output_grads, node._output_meta)
    ]


def _retain(node, output_grads) -> None:
    """Hand finished gradients to the node's outputs that called retain_grad()."""
    for index, tensor in node._retained.items():
        grad = output_grads[index]
        if type(grad) is not Tensor:  # arrays mode: .grad owns its memory, as a leaf's
            grad = Tensor._from_array(grad.copy())
        if tensor.grad is not None:
            grad = tensor.grad + grad
        tensor.grad = grad if grad.requires_grad else grad.detach()


def _deliver(leaf, grad, capture, create_graph, owned=False):
    """Accumulate a finished gradient into a leaf (or into the capture). ``owned``: the
    gradient is a raw array nothing else refers to (``Function.owned_grads``)."""
    if capture is not None:
        if id(leaf) in capture:
            capture.add(id(leaf), grad)
        return
    if type(grad) is not Tensor:  # arrays mode: a new .grad that owns its memory
        if leaf.grad is not None:
            grad = leaf.grad._data + grad
        elif not owned:
            grad = grad.copy()
        leaf.grad = Tensor._from_array(grad)
        return
    if leaf.grad is not None:
        leaf.grad = leaf.grad + grad
    elif create_graph:
        # a recorded copy: the same gradient Tensor can reach several leaves (a + b) or be
        # the caller's upstream gradient, and .grad must never alias another array
        leaf.grad = grad + 0.0
    else:
        leaf.grad = Tensor._from_array(grad._data.copy())  # own the memory: grads never alias


class _Capture:
    """The tensors autograd.grad differentiates with respect to, and their gradients."""

    def __init__(self, tensors):
        self.grads = {id(t): None for t in tensors}
        self.producers: dict = {}  # node -> {output index: id(tensor)} for non-leaf targets
        self.through: set = set()  # nodes whose backward leads to a target, from prune()
        for tensor in tensors:
            if tensor._ctx is not None:
                self.producers.setdefault(tensor._ctx, {})[tensor._out_index] = id(tensor)

    def __contains__(self, key) -> bool:
        return key in self.grads

    def add(self, key, grad) -> None:
        old = self.grads[key]
        self.grads[key] = grad if old is None else old + grad

    def prune(self, order) -> list:
        """Keep the nodes whose backward leads to a target, and the targets' producers."""
        through = self.through
        for node in order:  # inputs first, so a node's inputs are decided before it
            if any(id(t) in self.grads or t._ctx in through for t in node.inputs):
                through.add(node)
        return [node for node in order if node in through or node in self.producers]

    def take(self, node, output_grads) -> None:
        """Record the finished gradients of the node's outputs that are targets."""
        for index, key in self.producers.get(node, {}).items():
            self.add(key, output_grads[index])


def _check_outputs(outputs) -> None:
    for position, output in enumerate(outputs):
        if not output.requires_grad:
            raise RuntimeError(
                f"outputs[{position}] does not require grad and has no grad_fn: nothing in its "
                "computation requires grad (was it computed under no_grad, or detached?)"
            )


def _initial_gradients(outputs, grad_outputs):
    grads = []
    for output, grad in zip(outputs, grad_outputs):
        if grad is None:
            if output._data.size != 1:
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
            result = result.detach() if type(result) is Tensor else Tensor._from_array(result)
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
