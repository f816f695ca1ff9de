"""Seeing backprop: tape trace, graph export, grad explainer and NaN locator.

- :func:`trace` prints the backward tape in execution order, with the gradients each op
  receives and sends; it changes no ``.grad`` and keeps the graph unless asked.
- :func:`to_dot` exports the graph as Graphviz DOT (PNG/SVG when Graphviz is installed), with
  the gradient of the loss on every tensor.
- :func:`explain_grad` names what cuts the gradient between a tensor and the loss.
- :func:`detect_anomaly` stops at the first op that makes a NaN or Inf.
- :func:`check_causal` proves an autoregressive image model sees only the past, and draws
  its receptive field.
- :func:`replay` writes one HTML page that steps through the forward and backward.
- :func:`graph` and :func:`image_grid` show a graph (SVG) and images (PNG) in a notebook.
- :func:`record` notes call sites and graph cuts (``detach()``, ``no_grad``, and values taken
  out by ``.numpy()``, ``.item()``, ``.data`` or ``tinygen.tensor(t)``), so the tools can
  point at user code.
"""

from tinygen.debug.anomaly import AnomalyError, detect_anomaly
from tinygen.debug.causal import CausalityError, CausalReport, check_causal
from tinygen.debug.display import GraphView, ImageGrid, graph, image_grid
from tinygen.debug.dot import to_dot
from tinygen.debug.explain import GradExplanation, explain_grad
from tinygen.debug.recording import record, user_call_site
from tinygen.debug.replay import replay
from tinygen.debug.trace import trace

__all__ = [
    "AnomalyError", "CausalReport", "CausalityError", "GradExplanation", "check_causal",
    "detect_anomaly", "explain_grad", "graph", "GraphView", "image_grid", "ImageGrid",
    "record", "replay", "to_dot", "trace", "user_call_site",
]
