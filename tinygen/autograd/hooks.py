"""Observation points in the engine, for debugging tools (tinygen.debug).

Each is None unless a tool installs a callable, so the cost when unused is one attribute
read per op. They observe and may raise; they never change values.

- ``forward(function, inputs, outputs)``: after every op's forward (recorded or not).
- ``backward(node, output_grads, input_grads)``: after every node's backward in the engine.
- ``detach(sources, result, reason)``: after an operation that cuts the graph on purpose
  (``Tensor.detach()``, a comparison), so a tool can see the cut.
- ``module_stack``: (dotted path, module) of the nn Modules whose forward is running, kept by
  ``Module.__call__`` only while a forward observer is installed.
- ``in_backward``: True while the engine runs backward, so a forward observer can tell the
  ops that make up a backward pass from the user's own forward ops.
"""

from __future__ import annotations


class _Observers:
    forward = None
    backward = None
    detach = None
    in_backward = False
    module_stack: list = []


observers = _Observers()
