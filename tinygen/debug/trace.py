"""Print the backward tape: every node in the order the engine runs it, with its gradients.

:func:`trace` differentiates the loss without side effects (no ``.grad`` changes, the graph
kept), unless asked: ``backward=True`` accumulates into ``.grad`` as ``loss.backward()`` does,
``retain_graph=False`` frees the graph as a plain backward would.
"""

from __future__ import annotations

import sys

import numpy as np

from tinygen import backend
from tinygen.autograd.engine import backward as run_backward
from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.engine import topological_order
from tinygen.backend import get_array_module
from tinygen.debug.recording import listening

_UNKNOWN_SITE = "?"
_NOT_RECORDED_HINT = (
    "call site '?': the forward ran outside tinygen.debug.record(); run it inside\n"
    "  `with tinygen.debug.record():` to see the line of your code (and the module) that "
    "called each op")
_LEGEND = """\
The backward tape, in the order the engine runs it (the loss first).
  op line:    the op | the module whose forward called it | the line of your code that
              called it | its output's shape, |g_out|: the norm of d loss / d output
  input line: one per input of the op: its shape, then |g_in|, the norm of the gradient the
              op sends back to it; 'total so far' (an input used by several ops) is the norm
              of the sum it has received up to that line; data and constants get none.
  Gradients of at most {values} numbers are printed in full (= [...])."""


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


def graph_tensors(loss, order=None) -> list:
    """Every tensor of the graph behind ``loss`` (the inputs of its ops, then the loss), once."""
    seen: dict = {}
    for node in order if order is not None else topological_order(loss):
        for tensor in node.inputs:
            seen.setdefault(id(tensor), tensor)
    seen.setdefault(id(loss), loss)
    return list(seen.values())


def quiet_grad(loss, tensors, retain_graph: bool = True) -> tuple:
    """``autograd.grad(loss, tensors)`` that leaves every ``.grad`` as it was.

    ``autograd.grad`` already leaves the leaves alone, but hands gradients to intermediates
    that called ``retain_grad()``; those are put back afterwards.
    """
    kept = [(t, t.grad) for t in graph_tensors(loss) if t.grad_fn is not None]
    try:
        return autograd_grad(loss, tensors, retain_graph=retain_graph, allow_unused=True)
    finally:
        for tensor, grad in kept:
            tensor.grad = grad


def module_names(model) -> dict:
    """``{id(module): name}`` as ``model.named_modules()`` names them (the root: its class)."""
    if model is None:
        return {}
    return {id(m): name or type(model).__name__ for name, m in model.named_modules()}


def module_of(node, names: dict) -> str:
    """The module that called ``node``: named as in ``names`` when given and known, else the
    path ``tinygen.debug.record()`` noted (rooted at the outermost module's class), or ''."""
    reference = getattr(node, "module_ref", None)
    module = reference() if reference is not None else None
    if module is not None and id(module) in names:
        return names[id(module)]
    return getattr(node, "module_path", None) or ""


def _matches(path: str, prefix: str) -> bool:
    """Whether ``path`` is module ``prefix`` or inside it, also without its first part (a
    recorded path starts with the outermost module's class, which named_parameters() omits)."""
    candidates = [path]
    if "." in path:
        candidates.append(path.split(".", 1)[1])
    return any(c == prefix or c.startswith(prefix + ".") for c in candidates)


def trace(loss, *, ops=None, module=None, max_depth=None, model=None, backward=False,
          retain_graph=True, values=8, file=None) -> list[dict]:
    """Differentiate ``loss`` and print the backward tape in execution order.

    Each op line shows the op, the module that called it, its forward call site (file:line,
    when the forward ran inside ``tinygen.debug.record()``), its output's shape and the
    gradient arriving there; one line per input follows, with the gradient the op sends it.
    A legend printed above the table says what each column means.

    By default nothing changes: ``.grad`` stays as it was and the graph is kept, so tracing
    twice, or calling ``loss.backward()`` afterwards, works as if trace had never run.

    Args:
        loss: a scalar Tensor with a graph.
        ops: only show these op names (e.g. ``{"Mul", "Conv2d"}``).
        module: only show ops called from this module or its submodules, named as
            ``named_modules()`` names them (``"conv2"``, ``"encoder.mu"``); the recorded path
            (``"TinyConv.conv2"``) works too. Pass ``model`` to name modules that were called
            directly rather than through the model's forward.
        max_depth: only show nodes at most this many ops away from the loss.
        model: the Module whose ``named_modules()`` names the module column.
        backward: also accumulate the gradients into ``.grad``, as ``loss.backward()`` does.
        retain_graph: keep the graph (default); False frees it, as a plain backward does.
        values: print gradients of at most this many numbers in full (0: norms only).
        file: where to print (default: sys.stdout).

    Returns:
        One dict per shown node, with the same fields as the printed lines.
    """
    out = file or sys.stdout
    if loss.grad_fn is None:
        raise ValueError("trace: loss has no graph (grad_fn is None); nothing to trace")
    order = topological_order(loss)
    depths = _depths(loss)
    names = module_names(model)
    accumulated: dict = {}
    rows: list[dict] = []
    recorded_modules: dict = {}

    def on_backward(node, output_grads, input_grads):
        totals = []  # per input: the sum of the gradients it has received so far, and how many
        for tensor, grad in zip(node.inputs, input_grads):
            key = id(tensor)
            if grad is not None and tensor.requires_grad:
                total, count = accumulated.get(key, (0, 0))
                accumulated[key] = (grad.data + total, count + 1)
            totals.append(accumulated.get(key, (None, 0)))
        path = module_of(node, names)
        if path:
            recorded_modules[path] = None
        if ops is not None and node.name not in ops:
            return
        if module is not None and not _matches(path, module):
            return
        if max_depth is not None and depths.get(node, 0) > max_depth:
            return
        rows.append({
            "step": len(rows), "op": node.name, "module": path,
            "call_site": getattr(node, "call_site", None) or _UNKNOWN_SITE,
            "input_shapes": [tuple(t.shape) for t in node.inputs],
            "output_shapes": [tuple(g.shape) for g in output_grads],
            "upstream_norm": [_norm(g) for g in output_grads],
            "upstream": [_small(g, values) for g in output_grads],
            "needs_grad": [bool(t.requires_grad) for t in node.inputs],
            "input_grad_norms": [None if g is None else _norm(g) for g in input_grads],
            "input_grads": [_small(g, values) for g in input_grads],
            "accumulated_norms": [None if total is None else _array_norm(total)
                                  for total, _ in totals],
            "contributions": [count for _, count in totals],
        })

    with listening(backward=on_backward):
        if backward:
            run_backward(loss, retain_graph=retain_graph)
        else:
            leaves = [t for t in graph_tensors(loss, order)
                      if t.grad_fn is None and t.requires_grad]
            quiet_grad(loss, leaves, retain_graph=retain_graph)
    _print_table(rows, out, values)
    if module is not None and not rows:
        print(_no_module_match(module, recorded_modules, model), file=out)
    return rows


def _no_module_match(module, recorded: dict, model) -> str:
    if not recorded:
        return (f"trace: no op matched module={module!r}: no op knows its module, because the "
                "forward ran outside tinygen.debug.record() (run it inside one)")
    known = ", ".join(sorted(recorded))
    hint = "" if model is not None else (
        "; pass model=<your model> to name them as model.named_modules() does")
    return (f"trace: no op matched module={module!r}; the modules that called ops are: "
            f"{known}{hint}")


def _small(tensor, limit):
    """The values of a gradient of at most ``limit`` numbers, as a NumPy array, else None."""
    if tensor is None or tensor.data.size > limit:
        return None
    return backend.to_numpy(tensor.data)


def _array_norm(data) -> float:
    return float(get_array_module(data).sqrt((data.astype("float64") ** 2).sum()))


def _text(array) -> str:
    return np.array2string(np.asarray(array), precision=4, separator=", ",
                           max_line_width=10_000, suppress_small=True).replace("\n", "")


def _print_table(rows, out, values) -> None:
    print(_LEGEND.format(values=values), file=out)
    if any(row["call_site"] == _UNKNOWN_SITE for row in rows):
        print(_NOT_RECORDED_HINT, file=out)
    if not rows:
        return
    op_width = max(2, *(len(row["op"]) for row in rows))
    module_width = max(6, *(len(row["module"]) for row in rows))
    site_width = max(9, *(len(row["call_site"]) for row in rows))
    print(f"{'#':>3}  {'op':<{op_width}}  {'module':<{module_width}}  "
          f"{'call site':<{site_width}}  output shape, |g_out|", file=out)
    for row in rows:
        print(_format(row, op_width, module_width, site_width), file=out)


def _format(row, op_width, module_width, site_width) -> str:
    outputs = "; ".join(
        f"{shape} |g_out| {norm:.4g}" + ("" if small is None else f", g_out = {_text(small)}")
        for shape, norm, small in zip(row["output_shapes"], row["upstream_norm"],
                                      row["upstream"]))
    lines = [f"{row['step']:>3}  {row['op']:<{op_width}}  {row['module'] or '-':<{module_width}}"
             f"  {row['call_site']:<{site_width}}  {outputs}"]
    indent = " " * 5
    for index, shape in enumerate(row["input_shapes"]):
        head = f"{indent}input {index} {shape}: "
        local = row["input_grad_norms"][index]
        if not row["needs_grad"][index]:
            lines.append(head + "needs no gradient (data or a constant)")
            continue
        if local is None:
            lines.append(head + "no gradient (the op's backward returned None for it)")
            continue
        text = f"|g_in| {local:.4g}"
        if row["contributions"][index] > 1:
            text += f", total so far {row['accumulated_norms'][index]:.4g}"
        small = row["input_grads"][index]
        if small is not None:
            text += f", g_in = {_text(small)}"
        lines.append(head + text)
    return "\n".join(lines)
