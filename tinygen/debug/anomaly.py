"""Find the op where a NaN or Inf first appears, in forward or in backward."""

from __future__ import annotations

import contextlib

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
        context = (listening(forward=self._check_forward, backward=self._check_backward)
                   if active else contextlib.nullcontext())
        context.__enter__()
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
        lines.append(_blame(inputs))
        raise AnomalyError("\n".join(lines))

    def _check_backward(self, node, output_grads, input_grads):
        present = [g for g in input_grads if g is not None]
        if _all_finite(present) or not _all_finite(output_grads):
            return
        lines = [f"op {node.name} produced a non-finite gradient in backward",
                 f"  its forward was called at {getattr(node, 'call_site', '<unknown>')}"]
        lines += [_describe(f"forward input {i}", t) for i, t in enumerate(node.inputs)]
        lines += [_describe(f"upstream gradient {i}", g) for i, g in enumerate(output_grads)]
        for i, grad in enumerate(input_grads):
            if grad is not None and not _all_finite([grad]):
                lines.append(f"  the gradient for input {i} went bad")
        lines.append(_blame(node.inputs))
        raise AnomalyError("\n".join(lines))


def _blame(inputs) -> str:
    """Point at the input most likely responsible: one holding zeros or extreme values."""
    for i, tensor in enumerate(inputs):
        data = tensor.data
        if data.dtype.kind == "f" and data.size and bool((data == 0).any()):
            return f"  likely cause: input {i} contains exact zeros (log, division or sqrt?)"
    for i, tensor in enumerate(inputs):
        data = tensor.data
        if data.dtype.kind == "f" and data.size and float(abs(data).max()) > 80:
            return f"  likely cause: input {i} has large values (exp overflow?)"
    return "  likely cause: an input outside the op's domain"
