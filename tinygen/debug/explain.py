"""Why is my gradient None or zero? Name what cuts each path from a tensor to the loss."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module
from tinygen.debug.recording import cut_of, exits_from, listening
from tinygen.debug.trace import quiet_grad

_LIVE = "live"


@dataclass
class GradExplanation:
    """The outcome of :func:`explain_grad`: one line per distinct reason."""

    reasons: list = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.reasons)


def _describe_cut(cut) -> str:
    reason, where, _sources = cut
    if reason == "escape":
        how, exit_site, made_site = where
        if exit_site is None:
            return (f"{how} at {made_site}: it copies a tensor's values into a new leaf, "
                    "without the graph; use the tensor itself (or .clone()) instead")
        return (f"{how} at {exit_site} (its values became a new tensor at {made_site}): "
                "values taken out of the graph carry no gradient back; use tensor ops instead")
    if reason == "detach":
        return f"detach() at {where}"
    if reason == "comparison":
        return f"a comparison (not differentiable) at {where}"
    site = getattr(where, "call_site", "?")
    if where.name == "Cast" and where.dtype.kind != "f":
        return f"a cast to the integer/bool dtype {where.dtype} (at {site})"
    if reason == "no_grad":
        return f"op {where.name} ran under no_grad (at {site})"
    return f"op {where.name} at {site} had no input that requires grad"


def _path_reasons(target: Tensor, loss: Tensor) -> set:
    """For every path target -> loss, the cut nearest the target (or _LIVE if uncut).

    Follows the recorded graph, plus the cuts that ``tinygen.debug.record()`` noted (no_grad
    regions, detach(), ops on constants). Post-order over an explicit stack: no recursion.
    """
    memo: dict = {id(target): {_LIVE}}
    stack = [(loss, False)]
    while stack:
        tensor, expanded = stack.pop()
        key = id(tensor)
        if key in memo and not expanded:
            continue
        producer = tensor.grad_fn
        cut = None if producer is not None else cut_of(tensor)
        sources = producer.inputs if producer is not None else (cut[2] if cut else ())
        if not expanded:
            stack.append((tensor, True))
            stack.extend((s, False) for s in sources if id(s) not in memo)
            continue
        reasons: set = set()
        for source in sources:
            for reason in memo.get(id(source), ()):
                reasons.add(_describe_cut(cut) if cut and reason == _LIVE else reason)
        memo[key] = reasons
    return memo.get(id(loss), set())


def _zero_gradient_culprits(target: Tensor, loss: Tensor) -> list:
    """On live paths, the ops that turn a non-zero upstream gradient into a zero one."""
    culprits = []

    def on_backward(node, output_grads, input_grads):
        upstream_nonzero = any(_nonzero(g) for g in output_grads)
        for index, (tensor, grad) in enumerate(zip(node.inputs, input_grads)):
            if tensor.requires_grad and upstream_nonzero and grad is not None \
                    and not _nonzero(grad):
                culprits.append(_describe_zero(node, index))

    with listening(backward=on_backward):
        (total,) = quiet_grad(loss, [target])  # .grad and the graph stay as they were
    return culprits, total


def _nonzero(tensor) -> bool:
    return tensor is not None and bool(get_array_module(tensor.data).any(tensor.data != 0))


def _describe_zero(node, index) -> str:
    site = getattr(node, "call_site", "?")
    if node.name == "ReLU":
        return f"a ReLU (at {site}) that is dead on the whole batch: all its inputs are <= 0"
    if node.name in ("Mul", "MaskedConv2d") or "Mask" in node.name:
        return f"a mask: op {node.name} (at {site}) multiplies input {index}'s gradient by zeros"
    return f"op {node.name} (at {site}) passes a zero gradient to input {index}"


def explain_grad(tensor: Tensor, loss: Tensor) -> GradExplanation:
    """Explain why ``tensor`` gets a None or zero gradient from ``loss``.

    For each path from the tensor to the loss it names the first thing that cuts it:
    ``detach()``, ``no_grad``, an integer or comparison op, ``requires_grad=False``, a ReLU
    that is dead on the whole batch, or a mask. If there is no path at all, it says so.
    Cuts by detach/no_grad can only be named when the forward ran inside
    ``tinygen.debug.record()``; otherwise the answer says to do that.

    Returns:
        A :class:`GradExplanation`; ``str()`` of it is a readable report.
    """
    if not isinstance(tensor, Tensor) or not isinstance(loss, Tensor):
        raise TypeError("explain_grad: expected (tensor, loss) Tensors, got "
                        f"({type(tensor).__name__}, {type(loss).__name__})")
    explanation = GradExplanation()
    if not tensor.requires_grad:
        explanation.reasons.append(
            "the tensor has requires_grad=False: no gradient is ever computed for it "
            "(call .requires_grad_() or make it a Parameter)")
        return explanation
    reasons = _path_reasons(tensor, loss)
    cuts = sorted(r for r in reasons if r != _LIVE)
    explanation.reasons.extend(f"a path is cut by {cut}" for cut in cuts)
    if _LIVE in reasons and loss.requires_grad:
        culprits, total = _zero_gradient_culprits(tensor, loss)
        explanation.reasons.extend(dict.fromkeys(culprits))
        if _nonzero(total):
            explanation.reasons.append("the gradient is not zero: at least one path is live")
        else:
            explanation.reasons.append("the gradient is zero on every live path")
    if not reasons:
        explanation.reasons.append(_no_path(tensor, loss))
    return explanation


def _recorded(loss: Tensor) -> bool:
    """Whether the loss's forward ran inside tinygen.debug.record()."""
    if loss.grad_fn is not None:
        return getattr(loss.grad_fn, "call_site", None) is not None
    return cut_of(loss) is not None


def _no_path(tensor: Tensor, loss: Tensor) -> str:
    message = "there is no path from the tensor to the loss"
    if loss.grad_fn is None and cut_of(loss) is None:
        message += " (the loss itself has no graph)"
    if not _recorded(loss):
        return message + ("; if you expected one, run the forward inside "
                          "tinygen.debug.record() so cuts by detach(), no_grad, .numpy() or "
                          "tinygen.tensor(...) can be named")
    left = exits_from(tensor)
    if left:
        places = "; ".join(f"{how} at {site}" for how, site in left)
        return (message + f": the graph was left through {places}: values taken out of the "
                "graph carry no gradient back, even when the loss is computed from them; "
                "use tensor ops instead (tinygen has most NumPy functions)")
    return message + (": nothing inside record() cut one (no detach(), no_grad, .numpy() or "
                      "tinygen.tensor(...)), so the loss was computed without this tensor")
