"""Export the graph behind a tensor as Graphviz DOT, rendered to PNG/SVG when possible."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

from tinygen.autograd.engine import topological_order
from tinygen.backend import get_array_module

_INSTALL_HINT = ("Graphviz's `dot` program is not installed, so only the .dot file was "
                 "written. Install it (Debian/Ubuntu: `apt-get install graphviz`; macOS: "
                 "`brew install graphviz`; conda: `conda install graphviz`) to render PNG/SVG.")


def _stats(data) -> str:
    if data.size == 0 or data.dtype.kind != "f":
        return ""
    xp = get_array_module(data)
    return (f"mean {float(xp.mean(data)):.3g} std {float(xp.std(data)):.3g}\\n"
            f"min {float(data.min()):.3g} max {float(data.max()):.3g}")


def _tensor_label(tensor, fallback: str) -> str:
    name = tensor.name or fallback
    lines = [name, f"{tuple(tensor.shape)} {tensor.dtype}", _stats(tensor.data)]
    if tensor.grad is not None:
        lines.append("grad: " + _stats(tensor.grad.data))
    return "\\n".join(line for line in lines if line)


def to_dot(loss, path=None, *, parameter_names: dict | None = None) -> str:
    """Describe the graph that produced ``loss`` in DOT and optionally write/render it.

    Nodes are ops (boxes) and tensors (ellipses, leaves filled). Tensor nodes show the shape,
    dtype and data statistics, and gradient statistics once backward has run. Parameters are
    named by their module path (``Tensor.name``, set by ``Module.named_parameters()``), or by
    ``parameter_names`` (a ``{name: tensor}`` mapping such as ``dict(model.named_parameters())``).

    Args:
        loss: the Tensor whose graph to draw.
        path: where to write. ``.dot`` writes the text; ``.png``/``.svg`` also renders it with
            Graphviz when installed (otherwise a warning says how to install it).

    Returns:
        The DOT text.
    """
    names = {id(t): name for name, t in (parameter_names or {}).items()}
    lines = ["digraph tinygen {", "  rankdir=BT;", "  node [fontname=Helvetica, fontsize=10];"]
    seen: set = set()

    def tensor_node(tensor) -> str:
        key = f"t{id(tensor)}"
        if key not in seen:
            seen.add(key)
            label = _tensor_label(tensor, names.get(id(tensor), "leaf" if tensor.is_leaf
                                                    else "tensor"))
            style = ', style=filled, fillcolor="#dbe9f6"' if tensor.is_leaf else ""
            lines.append(f'  {key} [shape=ellipse, label="{label}"{style}];')
            if tensor.grad_fn is not None:
                lines.append(f"  f{id(tensor.grad_fn)} -> {key};")
        return key

    for node in topological_order(loss):
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
