"""Backprop replay: one self-contained HTML page that steps through a graph's forward and
backward, node by node.

:func:`replay` walks the graph behind a loss, runs a backward that touches no ``.grad``
(``autograd.grad`` with the graph retained) while listening to every node, and writes what it
saw as a JSON tape inside one HTML file with the page's script and style inlined: no server,
no network. Small tensors travel as their values; large ones as statistics, a histogram and a
down-sampled heat map, computed here so the page stays small.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.engine import topological_order
from tinygen.backend import to_numpy
from tinygen.debug.recording import listening
from tinygen.nn.module import Module

#: Tensors with at most this many elements travel as their values.
SMALL = 64
_HEAT_SIDE = 32  # a heat map is block-averaged down to at most this many rows and columns
_HIST_BINS = 16
_MAX_MAPS = 64  # feature maps tiled into a heat map
_ASSETS = Path(__file__).with_name("replay_assets")
_derivations: dict = {}  # Function subclass -> its backward's derivation line


def replay(loss, path: str | os.PathLike = "backprop.html", *, model: Module | None = None,
           title: str | None = None, fold: bool | None = None) -> Path:
    """Write a page that replays ``loss``'s forward and backward, step by step.

    The page draws the graph (ops with their call sites and modules, tensors with shape and
    dtype, parameters by module path; large graphs fold by module and unfold on click) and
    steps through the forward, then the backward (buttons, arrow keys, a slider). At each
    backward step it shows the upstream gradient, each local gradient, what it adds to the
    input's accumulated gradient, and the op's derivation line. Run the forward inside
    ``tinygen.debug.record()`` so ops know their call sites and modules.

    Neither ``.grad`` nor the graph changes: the replay runs its own backward with the graph
    retained, so ``loss.backward()`` works as usual afterwards. Call it before that backward
    (or after one with ``retain_graph=True``).

    Args:
        loss: a one-element Tensor with a graph.
        path: where to write the HTML file.
        model: names parameters by their ``named_parameters()`` path (otherwise by
            ``Tensor.name``, which ``named_parameters()`` sets).
        title: the page's title (default: the file name).
        fold: open the graph folded by module (default: when it has more than 40 ops).

    Returns:
        The path written.
    """
    if loss.grad_fn is None:
        raise ValueError("replay: loss has no graph (grad_fn is None); nothing to replay")
    if loss.numel() != 1:
        raise ValueError(f"replay: loss must have one element, got shape {tuple(loss.shape)}")
    path = Path(path)
    tape = record_tape(loss, model=model)
    tape["title"] = title or path.name
    tape["fold"] = fold
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(tape), encoding="utf-8")
    return path


def record_tape(loss, *, model: Module | None = None) -> dict:
    """The replay's data: the graph, the forward order and every backward step, as JSON-ready
    Python values (what :func:`replay` writes into the page)."""
    names = {id(p): name for name, p in model.named_parameters()} if model is not None else {}
    order = topological_order(loss)
    tensors: dict = {}  # id(tensor) -> its entry; ids are positions in the graph's list
    keep: list = []  # the tensors themselves, so no id is reused while we record

    def tensor_id(tensor) -> int:
        entry = tensors.get(id(tensor))
        if entry is None:
            keep.append(tensor)
            name = names.get(id(tensor)) or tensor.name or ""
            entry = tensors[id(tensor)] = _tensor_entry(tensor, name, len(tensors))
        return entry["id"]

    op_index = {node: index for index, node in enumerate(order)}
    ops = [{"id": index, "op": node.name, "module": getattr(node, "module_path", None) or "",
            "call_site": getattr(node, "call_site", None) or "",
            "derivation": derivation(node), "inputs": [tensor_id(t) for t in node.inputs]}
           for index, node in enumerate(order)]
    tensor_id(loss)
    for entry, tensor in zip(tensors.values(), keep):
        entry["producer"] = op_index.get(tensor.grad_fn)
    leaves = [t for t in keep if t.is_leaf and t.requires_grad]
    steps = _backward_steps(loss, leaves, op_index, tensors)
    return {"ops": ops, "tensors": list(tensors.values()), "loss": tensors[id(loss)]["id"],
            "forward": list(range(len(order))), "backward": steps["backward"],
            "grads": steps["grads"], "small": SMALL}


def _tensor_entry(tensor, name: str, index: int) -> dict:
    kind = ("parameter" if tensor.is_leaf and tensor.requires_grad
            else "leaf" if tensor.is_leaf else "intermediate")
    return {"id": index, "name": name, "kind": kind,
            "requires_grad": bool(tensor.requires_grad), "shape": list(tensor.shape),
            "dtype": str(tensor.dtype), "value": summarize(to_numpy(tensor.data))}


def _backward_steps(loss, leaves, op_index, tensors) -> dict:
    """Run a backward that fills no ``.grad``, noting each node's gradients as it goes."""
    # the engine hands retain_grad() tensors their gradient: put back what they held
    saved_grads = [(t, t.grad) for t in _graph_tensors(loss)]
    accumulated: dict = {}
    steps: list = []

    def on_backward(node, output_grads, input_grads):
        if node not in op_index:
            return
        local, before, after = [], [], []
        for tensor, grad in zip(node.inputs, input_grads):
            if grad is None or not tensor.requires_grad:
                local.append(None), before.append(None), after.append(None)
                continue
            value = _sum_to_shape(to_numpy(grad.data), tuple(tensor.shape))
            key = id(tensor)
            previous = accumulated.get(key)
            accumulated[key] = value if previous is None else previous + value
            local.append(summarize(value))
            before.append(None if previous is None else summarize(previous))
            after.append(summarize(accumulated[key]))
        steps.append({"op": op_index[node],
                      "upstream": [summarize(to_numpy(g.data)) for g in output_grads],
                      "local": local, "before": before, "after": after})

    try:
        with listening(backward=on_backward):
            autograd_grad(loss, leaves, retain_graph=True, allow_unused=True)
    except RuntimeError as error:
        raise RuntimeError(f"replay: {error} (call replay before loss.backward(), or run that "
                           "backward with retain_graph=True)") from error
    finally:
        for tensor, grad in saved_grads:
            tensor.grad = grad
    grads = {tensors[id(t)]["id"]: summarize(accumulated[id(t)])
             for t in leaves if id(t) in accumulated}
    return {"backward": steps, "grads": grads}


def _graph_tensors(loss) -> list:
    seen = {id(loss): loss}
    for node in topological_order(loss):
        for tensor in node.inputs:
            seen.setdefault(id(tensor), tensor)
    return list(seen.values())


def _sum_to_shape(array: np.ndarray, shape: tuple) -> np.ndarray:
    """A broadcast gradient summed back to the input's shape, as the engine does."""
    if array.shape == shape:
        return array
    extra = array.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and array.shape[extra + i] != 1)
    return array.sum(axis=axes).reshape(shape)


def derivation(node) -> str:
    """The comment the op's ``backward`` opens with (its derivation; a comment running over
    several lines is joined), or ''."""
    cls = type(node)
    if cls not in _derivations:
        try:
            source = inspect.getsource(cls.backward)
        except (OSError, TypeError):
            source = ""
        block: list = []
        for line in (line.strip() for line in source.splitlines()):
            if line.startswith("#"):
                block.append(line.lstrip("#").strip())
            elif block:
                break
        _derivations[cls] = " ".join(block)
    return _derivations[cls]


def _number(value) -> float | str:
    """A float JSON can carry: 6 significant digits, non-finite values as strings."""
    value = float(value)
    if math.isfinite(value):
        return float(f"{value:.6g}")
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def summarize(array: np.ndarray) -> dict:
    """What the page shows of one array: values if small, else statistics, a histogram and a
    heat map (always the statistics)."""
    array = np.asarray(array)
    summary: dict = {"shape": list(array.shape), "dtype": str(array.dtype), "n": int(array.size)}
    if array.size == 0:
        return summary
    values = array.astype(np.float64)
    finite = values[np.isfinite(values)]
    summary["stats"] = {
        "mean": _number(values.mean()), "std": _number(values.std()),
        "min": _number(values.min()), "max": _number(values.max()),
        "norm": _number(np.sqrt((values ** 2).sum())), "nonfinite": int(values.size -
                                                                       finite.size)}
    if array.size <= SMALL:
        # full precision: the page's values are the gradients themselves, not a rounding
        summary["values"] = [v if math.isfinite(v) else _number(v)
                             for v in values.reshape(-1).tolist()]
        return summary
    if finite.size:
        counts, edges = np.histogram(finite, bins=_HIST_BINS)
        summary["hist"] = {"lo": _number(edges[0]), "hi": _number(edges[-1]),
                           "counts": counts.tolist()}
    summary["heat"] = _heat_map(values)
    return summary


def _heat_map(values: np.ndarray) -> dict:
    """A 2-D picture of the array, at most _HEAT_SIDE square, as hex bytes: 0..254 map
    v / max|v| from -1 to 1 (a diverging colour scale centred on zero), ff is no value."""
    if values.ndim <= 1:
        grid = values.reshape(1, -1)  # (n,) -> (1, n)
    elif values.ndim == 2 or values.shape[-2] * values.shape[-1] < 16:
        # a matrix, or tiny maps (a 1x1 or 3x3 conv kernel): (N, ...) -> (N, rest)
        grid = values.reshape(values.shape[0], -1)
    else:  # (..., H, W): the first _MAX_MAPS maps tiled in a near-square grid
        height, width = values.shape[-2:]
        maps = values.reshape(-1, height, width)[:_MAX_MAPS]  # (..., H, W) -> (M, H, W)
        cols = math.ceil(math.sqrt(len(maps)))
        rows = math.ceil(len(maps) / cols)
        padded = np.full((rows * cols, height, width), np.nan)
        padded[:len(maps)] = maps
        # (rows*cols, H, W) -> (rows, H, cols, W) -> (rows*H, cols*W)
        grid = padded.reshape(rows, cols, height, width).transpose(0, 2, 1, 3).reshape(
            rows * height, cols * width)
    grid = _block_mean(grid)
    scale = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0
    levels = np.where(np.isfinite(grid),
                      np.round((np.clip(grid / (scale or 1.0), -1, 1) + 1) * 127), 255)
    return {"rows": grid.shape[0], "cols": grid.shape[1], "scale": _number(scale),
            "hex": levels.astype(np.uint8).tobytes().hex()}


def _block_mean(grid: np.ndarray) -> np.ndarray:
    """Average blocks of cells so neither side exceeds _HEAT_SIDE (NaN cells ignored)."""
    rows, cols = grid.shape
    step_r, step_c = math.ceil(rows / _HEAT_SIDE), math.ceil(cols / _HEAT_SIDE)
    if step_r == 1 and step_c == 1:
        return grid
    out_r, out_c = math.ceil(rows / step_r), math.ceil(cols / step_c)
    padded = np.full((out_r * step_r, out_c * step_c), np.nan)
    padded[:rows, :cols] = np.where(np.isfinite(grid), grid, np.nan)
    # (R, C) -> (R/sr, sr, C/sc, sc): one block per (row, col) of the result
    blocks = padded.reshape(out_r, step_r, out_c, step_c)
    counts = np.isfinite(blocks).sum(axis=(1, 3))
    sums = np.nansum(blocks, axis=(1, 3))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def render_html(tape: dict) -> str:
    """The page: the tape as JSON, with the stylesheet and scripts inlined."""
    data = json.dumps(tape, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    template = (_ASSETS / "replay.html").read_text(encoding="utf-8")
    pieces = {
        "{{TITLE}}": _escape(tape.get("title", "backprop replay")),
        "{{CSS}}": (_ASSETS / "replay.css").read_text(encoding="utf-8"),
        "{{DATA}}": data,
        "{{GRAPH_JS}}": (_ASSETS / "graph.js").read_text(encoding="utf-8"),
        "{{REPLAY_JS}}": (_ASSETS / "replay.js").read_text(encoding="utf-8"),
    }
    # one pass, so a placeholder inside the data (a tensor named "{{CSS}}") stays as it is
    return re.sub(r"{{[A-Z_]+}}", lambda match: pieces[match.group(0)], template)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
