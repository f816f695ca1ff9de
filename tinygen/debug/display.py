"""Notebook views: a graph as SVG (:func:`graph`), a batch of images as PNG (:func:`image_grid`).

Jupyter shows an object through its ``_repr_svg_`` / ``_repr_png_`` methods; these two
classes hold what to draw and draw it on demand, with no library beyond NumPy and Pillow.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tinygen.autograd.engine import topological_order
from tinygen.nn.module import Module
from tinygen.train.images import make_grid

_LAYER_GAP, _NODE_GAP, _CHAR, _MARGIN = 30, 14, 6.4, 12


class GraphView:
    """The graph behind a tensor, drawn as layered SVG: ops (boxes, with the module and call
    site recorded by ``tinygen.debug.record()``) and tensors (pills: name, shape, dtype).

    Attributes:
        nodes: one dict per node (``kind`` 'op' or 'tensor', ``label`` lines, ``layer``).
        edges: (from, to) indices into ``nodes``, in the direction data flows.
    """

    def __init__(self, loss, *, model: Module | None = None):
        if loss.grad_fn is None:
            raise ValueError("graph: the tensor has no graph (grad_fn is None); nothing to draw")
        names = {id(p): n for n, p in model.named_parameters()} if model is not None else {}
        order = topological_order(loss)
        self.nodes: list[dict] = []
        self.edges: list[tuple[int, int]] = []
        index: dict = {}  # id(op or tensor) -> node index

        def tensor(t) -> int:
            if id(t) not in index:
                name = names.get(id(t)) or t.name or ("loss" if t is loss else "")
                shape = "(" + ", ".join(str(n) for n in t.shape) + ")"
                index[id(t)] = self._add("tensor", [f"{name} {shape} {t.dtype}".strip()],
                                         parameter=t.is_leaf and t.requires_grad)
                if t.grad_fn is not None:
                    self.edges.append((index[id(t.grad_fn)], index[id(t)]))
            return index[id(t)]

        for node in order:
            where = "  ".join(filter(None, (getattr(node, "module_path", None),
                                            getattr(node, "call_site", None))))
            index[id(node)] = self._add("op", [node.name] + ([where] if where else []))
            for t in node.inputs:
                self.edges.append((tensor(t), index[id(node)]))
        tensor(loss)
        self._assign_layers()

    def _add(self, kind: str, label: list[str], parameter: bool = False) -> int:
        self.nodes.append({"kind": kind, "label": label, "parameter": parameter, "layer": 0})
        return len(self.nodes) - 1

    def _assign_layers(self) -> None:
        """Longest path from the inputs (Kahn's order); a leaf sits just above its first
        reader, not at the top."""
        count = len(self.nodes)
        readers: dict = {i: [] for i in range(count)}
        indegree = [0] * count
        for a, b in self.edges:
            readers[a].append(b)
            indegree[b] += 1
        layer = [0] * count
        ready = [i for i in range(count) if not indegree[i]]
        while ready:
            a = ready.pop()
            for b in readers[a]:
                layer[b] = max(layer[b], layer[a] + 1)
                indegree[b] -= 1
                if not indegree[b]:
                    ready.append(b)
        made = {b for _, b in self.edges}
        for i in range(count):
            if i not in made and readers[i]:  # a leaf
                layer[i] = min(layer[b] for b in readers[i]) - 1
        low = min(layer)
        for i, node in enumerate(self.nodes):
            node["layer"] = layer[i] - low

    def _positions(self) -> tuple[dict, float, float]:
        rows: dict = {}
        for i, node in enumerate(self.nodes):
            rows.setdefault(node["layer"], []).append(i)
        preds: dict = {i: [] for i in range(len(self.nodes))}
        for a, b in self.edges:
            preds[b].append(a)
        place: dict = {}
        for depth in sorted(rows):  # one barycentre sweep down keeps edges short enough
            row = rows[depth]
            row.sort(key=lambda i: (np.mean([place[p] for p in preds[i] if p in place])
                                    if any(p in place for p in preds[i]) else 0.0))
            for position, i in enumerate(row):
                place[i] = position
        boxes, width, y = {}, 0.0, float(_MARGIN)
        for depth in sorted(rows):
            x, height = float(_MARGIN), 0.0
            for i in rows[depth]:
                label = self.nodes[i]["label"]
                w = max(len(line) for line in label) * _CHAR + 16
                h = 14 * len(label) + 10
                boxes[i] = [x, y, w, h]
                x += w + _NODE_GAP
                height = max(height, h)
            for i in rows[depth]:  # centre the row later, once the widest is known
                boxes[i].append(x - _NODE_GAP)
            width = max(width, x - _NODE_GAP)
            y += height + _LAYER_GAP
        for box in boxes.values():
            box[0] += (width - box.pop()) / 2
        return boxes, width + _MARGIN, y

    def _repr_svg_(self) -> str:
        """The drawing, as an SVG document (what Jupyter shows)."""
        boxes, width, height = self._positions()
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
                 f'height="{height:.0f}" font-family="Helvetica, Arial, sans-serif" '
                 'font-size="11">']
        for a, b in self.edges:
            xa, ya, wa, ha = boxes[a]
            xb, yb, wb, _ = boxes[b]
            x1, y1, x2, y2 = xa + wa / 2, ya + ha, xb + wb / 2, yb
            mid = (y1 + y2) / 2
            parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} '
                         f'{x2:.1f},{y2:.1f}" fill="none" stroke="#9aa5b8"/>')
        for i, node in enumerate(self.nodes):
            x, y, w, h = boxes[i]
            fill = "#dbe9f6" if node["parameter"] else "#fff" if node["kind"] == "op" \
                else "#f3f5f9"
            radius = 6 if node["kind"] == "op" else h / 2
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" '
                         f'rx="{radius:.0f}" fill="{fill}" stroke="#5b6b86"/>')
            for k, line in enumerate(node["label"]):
                colour = "#6b7588" if k else "#1d2330"
                parts.append(f'<text x="{x + 8:.1f}" y="{y + 16 + 14 * k:.1f}" '
                             f'fill="{colour}">{html.escape(line)}</text>')
        parts.append("</svg>")
        return "\n".join(parts)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the SVG to ``path`` and return it."""
        path = Path(path)
        path.write_text(self._repr_svg_(), encoding="utf-8")
        return path


def graph(loss, *, model: Module | None = None) -> GraphView:
    """The graph behind ``loss`` as an object a notebook draws (SVG); ``.save(path)`` writes it.

    Args:
        loss: a Tensor with a graph (run its forward inside ``tinygen.debug.record()`` to
            see modules and call sites on the ops).
        model: names parameters by their ``named_parameters()`` path.

    Returns:
        A :class:`GraphView`.
    """
    return GraphView(loss, model=model)


class ImageGrid:
    """A batch of images tiled as ``tinygen.train.make_grid`` tiles them, shown as PNG.

    Attributes:
        pixels: the grid as uint8, (H, W) for grayscale or (H, W, 3) for RGB.
    """

    def __init__(self, images, **grid_options):
        grid = make_grid(images, **grid_options)
        pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)
        # (C, H, W) -> (H, W) or (H, W, 3): Pillow's layouts
        self.pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)

    def _repr_png_(self) -> bytes:
        """The grid as PNG bytes (what Jupyter shows)."""
        buffer = io.BytesIO()
        Image.fromarray(self.pixels).save(buffer, format="PNG")
        return buffer.getvalue()


def image_grid(images, **grid_options) -> ImageGrid:
    """A batch of images as an object a notebook shows as one PNG grid.

    Args:
        images: (B, C, H, W), (C, H, W) or (H, W); Tensor, NumPy or CuPy (as ``make_grid``).
        **grid_options: ``nrow``, ``padding``, ``normalize``, ``value_range``, ``pad_value``
            of :func:`tinygen.train.make_grid`.

    Returns:
        An :class:`ImageGrid`.
    """
    return ImageGrid(images, **grid_options)
