"""Export the graph behind a tensor as Graphviz DOT, rendered to PNG/SVG when possible."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

from tinygen.autograd.engine import topological_order
from tinygen.backend import get_array_module, to_numpy
from tinygen.debug.trace import graph_tensors, module_names, module_of, quiet_grad
from tinygen.nn.module import Parameter

_INSTALL_HINT = ("Graphviz's `dot` program is not installed, so only the .dot file was "
                 "written. Install it (Debian/Ubuntu: `apt-get install graphviz`; macOS: "
                 "`brew install graphviz`; conda: `conda install graphviz`) to render PNG/SVG.")
_VALUES = 4  # tensors of at most this many numbers show their values, not statistics


def _stats(data) -> str:
    if data.size == 0 or data.dtype.kind != "f":
        return ""
    if data.size <= _VALUES:
        return "= " + " ".join(f"{float(v):.3g}" for v in to_numpy(data).ravel())
    xp = get_array_module(data)
    return (f"mean {float(xp.mean(data)):.3g} std {float(xp.std(data)):.3g}\\n"
            f"min {float(data.min()):.3g} max {float(data.max()):.3g}")


def _tensor_label(tensor, name: str, grad) -> str:
    lines = [name, f"{tuple(tensor.shape)} {tensor.dtype}", _stats(tensor.data)]
    if grad is not None:
        lines.append("grad: " + _stats(grad.data))
    return "\\n".join(line for line in lines if line)


def _gradients(loss, tensors) -> dict:
    """``{id(t): d loss / d t}`` for every tensor of the graph that requires grad, computed
    without touching ``.grad``; ``{}`` when that cannot be done (the graph was freed by a
    backward, or the loss is not a scalar): the labels then show ``.grad`` where it is set."""
    wanted = [t for t in tensors if t.requires_grad]
    if not wanted or loss.grad_fn is None or loss.data.size != 1:
        return {}
    try:
        grads = quiet_grad(loss, wanted)
    except RuntimeError:
        return {}
    return {id(t): g for t, g in zip(wanted, grads) if g is not None}


def _recorded_names(order, modules: dict) -> dict:
    """Parameters named ``module path.attribute`` from the module each op was called in
    (known when the forward ran inside ``tinygen.debug.record()``)."""
    names: dict = {}
    for node in order:
        reference = getattr(node, "module_ref", None)
        module = reference() if reference is not None else None
        if module is None:
            continue
        path = module_of(node, modules)
        for attribute, value in vars(module).items():
            if isinstance(value, Parameter):
                names.setdefault(id(value), f"{path}.{attribute}" if path else attribute)
    return names


def _fallback_name(tensor, loss) -> str:
    if tensor is loss:
        return "loss"
    if tensor.grad_fn is not None:
        return "tensor"
    if isinstance(tensor, Parameter):
        return "parameter"
    return "leaf" if tensor.requires_grad else "constant"


def to_dot(loss, path=None, *, parameter_names: dict | None = None, model=None,
           grads: bool = True) -> str:
    """Describe the graph that produced ``loss`` in DOT and optionally write/render it.

    Nodes are ops (boxes) and tensors (ellipses, leaves filled). Tensor nodes show the shape,
    dtype and data statistics (the values, for tensors of at most 4 numbers), and the
    gradient of the loss with respect to that tensor: for every tensor of a live graph,
    computed here without touching ``.grad``; once a backward has freed the graph, ``.grad``
    where it is set (leaves, and tensors that called ``retain_grad()``).

    Parameters are named by their module path: from ``model.named_parameters()`` when
    ``model`` is given, from ``parameter_names`` (a ``{name: tensor}`` mapping), from the
    module each op was called in when the forward ran inside ``tinygen.debug.record()``, or
    by ``Tensor.name``. Other tensors are labelled parameter, leaf, constant, tensor or loss.

    Args:
        loss: the Tensor whose graph to draw.
        path: where to write. ``.dot`` writes the text; ``.png``/``.svg`` also renders it with
            Graphviz when installed (otherwise a warning says how to install it).
        parameter_names: ``{name: tensor}``, e.g. ``dict(model.named_parameters())``.
        model: the Module whose parameters (and modules) to name.
        grads: show gradients (False: data only, and no backward pass is run).

    Returns:
        The DOT text.
    """
    order = topological_order(loss)
    modules = module_names(model)
    names = _recorded_names(order, modules)
    named = dict(parameter_names or {})
    if model is not None:
        named.update(model.named_parameters())
    names.update({id(t): name for name, t in named.items()})
    tensors = graph_tensors(loss, order)
    computed = _gradients(loss, tensors) if grads else {}
    lines = ["digraph tinygen {", "  rankdir=BT;", "  node [fontname=Helvetica, fontsize=10];"]
    seen: set = set()

    def tensor_node(tensor) -> str:
        key = f"t{id(tensor)}"
        if key not in seen:
            seen.add(key)
            name = names.get(id(tensor)) or tensor.name or _fallback_name(tensor, loss)
            grad = computed.get(id(tensor), tensor.grad) if grads else None
            label = _tensor_label(tensor, name, grad)
            style = ', style=filled, fillcolor="#dbe9f6"' if tensor.is_leaf else ""
            lines.append(f'  {key} [shape=ellipse, label="{label}"{style}];')
            if tensor.grad_fn is not None:
                lines.append(f"  f{id(tensor.grad_fn)} -> {key};")
        return key

    for node in order:
        site = getattr(node, "call_site", None)
        label = node.name + (f"\\n{site}" if site else "")
        lines.append(f'  f{id(node)} [shape=box, style=rounded, label="{label}"];')
        for tensor in node.inputs:
            lines.append(f"  {tensor_node(tensor)} -> f{id(node)};")
    tensor_node(loss)
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        _write(text, Path(path))
    return text


def _write(text: str, path: Path) -> None:
    if path.suffix not in (".png", ".svg"):
        path.write_text(text)
        return
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(text)
    program = shutil.which("dot")
    if program is None:
        warnings.warn(_INSTALL_HINT, stacklevel=3)
        return
    subprocess.run([program, f"-T{path.suffix[1:]}", str(dot_path), "-o", str(path)],
                   check=True, capture_output=True)
