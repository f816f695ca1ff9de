"""Whether new operations are recorded for backward: ``no_grad`` and ``enable_grad``."""

from __future__ import annotations

import contextlib


class _GradMode:
    """One flag, read on every op; an object attribute keeps that read cheap."""

    enabled = True


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded."""
    return grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager and decorator that sets recording on or off, then restores it."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.previous: list[bool] = []

    def __enter__(self):
        self.previous.append(grad_mode.enabled)
        grad_mode.enabled = self.mode
        return self

    def __exit__(self, *exc_info):
        grad_mode.enabled = self.previous.pop()
        return False


class no_grad(set_grad_enabled):
    """Do not record operations: for evaluation, sampling and optimizer updates.

    Usable as ``with tinygen.no_grad():`` and as ``@tinygen.no_grad()``.
    """

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record operations again inside a ``no_grad`` region."""

    def __init__(self):
        super().__init__(True)
