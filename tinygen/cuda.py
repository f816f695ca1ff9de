"""``tinygen.cuda``: the few ``torch.cuda`` calls a training script makes.

tinygen runs on one GPU through CuPy when one is usable, else on NumPy; these answer the
questions scripts ask before choosing a device (``torch.cuda.is_available()``).
"""

from __future__ import annotations

from tinygen import backend


def is_available() -> bool:
    """True when CuPy imports and a GPU accepts an allocation (never raises)."""
    return backend.gpu_available()


def device_count() -> int:
    """1 when a GPU is usable (tinygen uses one), else 0."""
    return 1 if is_available() else 0


def manual_seed(seed: int) -> None:
    """Seed every device's generator (the same as ``tinygen.manual_seed``)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize() -> None:
    """Wait for the GPU's queued work (a no-op without a GPU)."""
    if is_available():
        backend.cupy.cuda.Device().synchronize()
