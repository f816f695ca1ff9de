"""Helpers shared by the layer modules: a uniformly initialised parameter and the check that
an input has the size a layer was built for."""

from __future__ import annotations

import numpy as np

from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.module import Parameter


def uniform_parameter(shape, bound: float) -> Parameter:
    """A float32 Parameter of ``shape`` drawn from U(-bound, bound)."""
    return init.uniform_(Parameter(np.empty(shape, dtype=np.float32)), -bound, bound)


def check_features(layer: str, x: Tensor, axis: int, expected: int, what: str) -> None:
    """Raise unless ``x`` has ``expected`` entries on ``axis``, naming the layer and shape."""
    if x.ndim == 0 or x.shape[axis] != expected:
        raise ValueError(f"{layer}: expected input with {expected} {what} on axis {axis}, got "
                         f"shape {x.shape}")
