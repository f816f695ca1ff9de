"""``tinygen.accelerator``: PyTorch's device-agnostic accelerator queries."""

from __future__ import annotations

from tinygen import backend


def is_available() -> bool:
    """True when a GPU is usable through CuPy."""
    return backend.gpu_available()


def current_accelerator() -> backend.device | None:
    """``device("cuda")`` when a GPU is usable, else None (as PyTorch on a CPU-only host)."""
    return backend.device("cuda") if is_available() else None


def device_count() -> int:
    return 1 if is_available() else 0
