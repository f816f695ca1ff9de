"""Print the backward tape: every node in the order the engine runs it, with gradient norms."""

from __future__ import annotations

import sys

from tinygen.autograd.engine import backward as run_backward
from tinygen.autograd.engine import topological_order
from tinygen.backend import get_array_module
from tinygen.debug.recording import listening


def _norm(tensor) -> float:
    if tensor is None:
        return float("nan")
    data = tensor.data
    return float(get_array_module(data).sqrt((data.astype("float64") ** 2).sum()))


def _depths(loss) -> dict:
    """Distance (in ops) of every node from the loss, for ``max_depth``."""
    depth = {loss.grad_fn: 0}
    for node in reversed(topological_order(loss)):
        for parent in node.inputs:
            producer = parent.grad_fn
            if producer is not None:
                depth[producer] = min(depth.get(producer, 1 << 30), depth[node] + 1)
    return depth


def trace(loss, *, ops=None, module=None, max_depth=None, retain_graph=False,
          file=None) -> list[dict]:
    """Run backward from ``loss`` and print the tape in execution order.

    Each line shows the op, its forward call site (file:line, when the forward ran inside
    ``tinygen.debug.record()``), input and output shapes, the upstream gradient's norm, each
    local input gradient's norm, and the gradient accumulated so far for that input.

    Args:
        loss: a scalar Tensor with a graph.
        ops: only show these op names (e.g. ``{"Mul", "Conv2d"}``).
        module: only show ops called from a module whose path starts with this prefix.
        max_depth: only show nodes at most this many ops away from the loss.
        retain_graph: keep the graph after this backward (to trace again, or to backward).
        file: where to print (default: sys.stdout).

    Returns:
        One dict per shown node, with the same fields as the printed line.
    """
    out = file or sys.stdout
    if loss.grad_fn is None:
        raise ValueError("trace: loss has no graph (grad_fn is None); nothing to trace")
    depths = _depths(loss)
    accumulated: dict = {}
    rows: list[dict] = []

    def on_backward(node, output_grads, input_grads):
        for tensor, grad in zip(node.inputs, input_grads):
            if grad is not None and tensor.requires_grad:
                key = id(tensor)
                accumulated[key] = grad.data + accumulated[key] if key in accumulated \
                    else grad.data
        if ops is not None and node.name not in ops:
            return
        path = getattr(node, "module_path", None) or ""
        if module is not None and not path.startswith(module):
            return
        if max_depth is not None and depths.get(node, 0) > max_depth:
            return
        rows.append({
            "step": len(rows), "op": node.name, "module": path,
            "call_site": getattr(node, "call_site", None) or "?",
            "input_shapes": [tuple(t.shape) for t in node.inputs],
            "output_shapes": [tuple(g.shape) for g in output_grads],
            "upstream_norm": [_norm(g) for g in output_grads],
            "input_grad_norms": [None if g is None else _norm(g) for g in input_grads],
            "accumulated_norms": [
                _accumulated_norm(accumulated, t) if t.requires_grad else None
                for t in node.inputs
            ],
        })
        print(_format(rows[-1]), file=out)

    print(f"{'#':>3} {'op':<14} {'call site':<28} {'in -> out shapes':<34} "
          f"{'|upstream|':>10}  local |g_in| (accumulated)", file=out)
    with listening(backward=on_backward):
        run_backward(loss, retain_graph=retain_graph)
    return rows


def _accumulated_norm(accumulated, tensor):
    data = accumulated.get(id(tensor))
    if data is None:
        return None
    return float(get_array_module(data).sqrt((data.astype("float64") ** 2).sum()))


def _format(row) -> str:
    shapes = ", ".join(str(s) for s in row["input_shapes"]) + " -> " + ", ".join(
        str(s) for s in row["output_shapes"])
    grads = "  ".join(
        "-" if local is None else f"{local:.3g}" if total is None else f"{local:.3g} ({total:.3g})"
        for local, total in zip(row["input_grad_norms"], row["accumulated_norms"])
    )
    upstream = ", ".join(f"{n:.3g}" for n in row["upstream_norm"])
    site = row["call_site"][-28:]
    return f"{row['step']:>3} {row['op']:<14} {site:<28} {shapes:<34} {upstream:>10}  {grads}"
