"""How a Tensor shows itself in a notebook: ``Tensor._repr_html_`` is :func:`tensor_card`.

Only NumPy here (the Tensor is read through its public attributes), so the module sits below
the Tensor.
"""

from __future__ import annotations

import html

import numpy as np

#: Tensors with at most this many elements show every value; larger ones NumPy's summary.
SHOW_ALL = 100

_STYLE = ("font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; "
          "border: 1px solid #d0d7e2; border-radius: 4px; padding: 6px 8px; "
          "display: inline-block; background: #fbfcfe; color: #1d2330")


def tensor_html(values: np.ndarray, *, device: object = "cpu", requires_grad: bool = False,
                grad_fn: str | None = None, name: str | None = None) -> str:
    """An HTML card for a tensor: shape, dtype, device, autograd state, statistics, values.

    Args:
        values: the tensor's values as a NumPy array.
        device: where the tensor lives (its str is shown: 'cpu', 'cuda:0').
        requires_grad: whether it requires grad.
        grad_fn: the name of the op that made it, or None for a leaf.
        name: its name (a parameter's module path), if any.

    Returns:
        The HTML fragment.
    """
    values = np.asarray(values)
    facts = [f"shape ({', '.join(str(n) for n in values.shape)})", str(values.dtype), str(device)]
    if grad_fn is not None:
        facts.append(f"grad_fn=&lt;{html.escape(grad_fn)}&gt;")
    elif requires_grad:
        facts.append("requires_grad")
    title = "tensor" if not name else f"tensor <b>{html.escape(name)}</b>"
    rows = [f"<div>{title} &middot; " + " &middot; ".join(facts) + "</div>"]
    if values.size and values.dtype.kind in "biuf":
        rows.append(f"<div style='color:#4a5568'>{_statistics(values)}</div>")
    text = np.array2string(values, separator=", ", threshold=SHOW_ALL, edgeitems=3,
                           precision=4)
    rows.append(f"<pre style='margin:4px 0 0'>{html.escape(text)}</pre>")
    return f"<div class='tinygen-tensor' style='{_STYLE}'>" + "".join(rows) + "</div>"


def tensor_card(tensor) -> str:
    """``Tensor._repr_html_``: :func:`tensor_html` of a Tensor (read through its public
    attributes, so this module needs no import of the Tensor)."""
    grad_fn = tensor.grad_fn
    return tensor_html(tensor.numpy(), device=tensor.device, requires_grad=tensor.requires_grad,
                       grad_fn=None if grad_fn is None else grad_fn.name, name=tensor.name)


def _statistics(values: np.ndarray) -> str:
    data = values.astype(np.float64)
    finite = data[np.isfinite(data)]
    parts = []
    if finite.size:
        parts = [f"{label} {value:.4g}" for label, value in (
            ("mean", finite.mean()), ("std", finite.std()), ("min", finite.min()),
            ("max", finite.max()))]
    if finite.size < data.size:
        parts.append(f"non-finite {data.size - finite.size}")
    return " &nbsp; ".join(parts)
