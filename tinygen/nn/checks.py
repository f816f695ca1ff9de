"""The input check the layers share: an input must have the size a layer was built for."""

from __future__ import annotations

from tinygen.autograd.tensor import Tensor


def check_features(layer: str, x: Tensor, axis: int, expected: int, what: str) -> None:
    """Raise unless ``x`` has ``expected`` entries on ``axis``, naming the layer and shape."""
    if x.ndim == 0 or x.shape[axis] != expected:
        raise ValueError(f"{layer}: expected input with {expected} {what} on axis {axis}, got "
                         f"shape {x.shape}")
