"""Find the op where a NaN or Inf first appears, in forward or in backward."""

from __future__ import annotations

import contextlib

import numpy as np

from tinygen.autograd.hooks import observers
from tinygen.backend import get_array_module
from tinygen.debug.recording import listening, user_call_site


class AnomalyError(FloatingPointError):
    """An op produced a non-finite value. The message names the op, its call site, the input
    ranges and which input went bad."""


def _describe(name, tensor) -> str:
    data = tensor.data
    if data.dtype.kind != "f" or data.size == 0:
        return f"  {name}: shape {tensor.shape}, dtype {data.dtype}"
    xp = get_array_module(data)
    finite = xp.isfinite(data)
    bad = int(data.size - int(finite.sum()))
    if bad == data.size:
        return f"  {name}: shape {tensor.shape}, all {bad} entries non-finite"
    values = data[finite]
    zeros = int((values == 0).sum())
    return (f"  {name}: shape {tensor.shape}, range [{float(values.min()):.4g}, "
            f"{float(values.max()):.4g}], {bad} non-finite, {zeros} exact zeros")


def _all_finite(tensors) -> bool:
    for tensor in tensors:
        data = tensor.data
        if data.dtype.kind == "f" and not bool(get_array_module(data).isfinite(data).all()):
            return False
    return True


class detect_anomaly(contextlib.ContextDecorator):
    """Stop at the first op whose output (forward) or input gradient (backward) is not finite.

    Args:
        every: check only every ``every``-th time the block is entered (a sampled mode for
            training loops: ``with detect_anomaly(every=100):`` around each step costs almost
            nothing on the other 99 steps).

    Raises:
        AnomalyError: naming the op, the line of user code that called it, the input ranges,
            and which input went bad.

    Example::

        detector = tinygen.debug.detect_anomaly()
        with detector:
            loss = model_loss(batch)
            loss.backward()
    """

    def __init__(self, every: int = 1):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive int, got {every!r}")
        self.every = every
        self.entries = 0
        self._stack: list = []

    def __enter__(self):
        self.entries += 1
        active = (self.entries - 1) % self.every == 0
        context = contextlib.ExitStack()
        if active:
            context.enter_context(listening(forward=self._check_forward,
                                            backward=self._check_backward))
            # the check names the op, its line and the bad input: NumPy's own "divide by
            # zero" warnings, which point into tinygen's files, would only come first
            context.enter_context(np.errstate(divide="ignore", invalid="ignore",
                                              over="ignore"))
        self._stack.append(context)
        return self

    def __exit__(self, *exc_info):
        return self._stack.pop().__exit__(*exc_info)

    def _check_forward(self, function, inputs, outputs):
        if observers.in_backward:
            return  # backward's own arithmetic is checked once, per node, in _check_backward
        if function.inputs:  # recorded: keep the call site for backward-time reports
            function.call_site = getattr(function, "call_site", None) or user_call_site()
        if _all_finite(outputs) or not _all_finite(inputs):
            return
        lines = [f"op {function.name} produced a non-finite output in forward",
                 f"  called at {getattr(function, 'call_site', None) or user_call_site()}"]
        lines += [_describe(f"input {i}", t) for i, t in enumerate(inputs)]
        lines += [_describe(f"output {i}", t) for i, t in enumerate(outputs)]
        lines.append(_blame(function.name, inputs, outputs[0]))
        raise AnomalyError("\n".join(lines))

    def _check_backward(self, node, output_grads, input_grads):
        present = [g for g in input_grads if g is not None]
        if _all_finite(present) or not _all_finite(output_grads):
            return
        lines = [f"op {node.name} produced a non-finite gradient in backward",
                 f"  its forward was called at {getattr(node, 'call_site', '<unknown>')}"]
        lines += [_describe(f"forward input {i}", t) for i, t in enumerate(node.inputs)]
        lines += [_describe(f"upstream gradient {i}", g) for i, g in enumerate(output_grads)]
        bad = None
        for i, grad in enumerate(input_grads):
            if grad is not None and not _all_finite([grad]):
                lines.append(f"  the gradient for input {i} went bad")
                bad = grad if bad is None else bad
        lines.append(_blame(node.name, node.inputs, bad))
        raise AnomalyError("\n".join(lines))


# Ops whose result is not finite where one particular input is 0: (input, its role).
_ZERO_SENSITIVE = {
    "Div": (1, "the divisor"), "RoundedDiv": (1, "the divisor"),
    "Remainder": (1, "the divisor"), "Reciprocal": (0, "the input"),
    "Log": (0, "the input"), "Rsqrt": (0, "the input"), "Sqrt": (0, "the input"),
    "Pow": (0, "the base"), "PowScalar": (0, "the base"),
}


def _zero_where_bad(tensor, bad) -> bool:
    """Whether ``tensor`` holds an exact 0 at a position where ``bad`` (an output or gradient
    of the op) is not finite; anywhere, when the two do not broadcast together."""
    data = tensor.data
    if data.dtype.kind != "f" or data.size == 0:
        return False
    xp = get_array_module(data)
    zeros = data == 0
    if bad is None or bad.data.dtype.kind != "f":
        return bool(zeros.any())
    try:
        zeros = xp.broadcast_to(zeros, bad.shape)
    except ValueError:
        return bool(zeros.any())
    return bool((zeros & ~xp.isfinite(bad.data)).any())


def _blame(op: str, inputs, bad=None) -> str:
    """Point at the input most likely responsible: a 0 where the op cannot take one (the
    divisor of a division first), else one holding zeros or extreme values."""
    sensitive = _ZERO_SENSITIVE.get(op)
    if sensitive is not None and sensitive[0] < len(inputs) and _zero_where_bad(
            inputs[sensitive[0]], bad):
        index, role = sensitive
        return (f"  likely cause: input {index} ({role} of {op}) is exactly 0 where the "
                "result is not finite")
    for i, tensor in enumerate(inputs):
        if _zero_where_bad(tensor, bad):
            return f"  likely cause: input {i} contains exact zeros (log, division or sqrt?)"
    for i, tensor in enumerate(inputs):
        data = tensor.data
        if data.dtype.kind == "f" and data.size and float(abs(data).max()) > 80:
            return f"  likely cause: input {i} has large values (exp overflow?)"
    return "  likely cause: an input outside the op's domain"
