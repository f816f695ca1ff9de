"""Activations along an axis: prelu (one learned slope per channel, axis 1) and glu (one
half of an axis gates the other), as ``torch.nn.functional``'s; compositions of the
elementwise activations in ``activation.py``."""

from __future__ import annotations

from tinygen.autograd.ops.activation import sigmoid
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.elementwise import where
from tinygen.autograd.ops.shape import split
from tinygen.autograd.tensor import Tensor, _axis


@tensor_args
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, else weight * x, with one learned slope per channel (axis 1) or one
    shared slope, as ``torch.nn.functional.prelu``.

    Args:
        input: (N, C, ...), or any shape when ``weight`` has one element.
        weight: the slopes, 0-d or (C,) (or (1,)).

    Returns:
        A tensor of the input's shape. At x = 0 the gradient is weight (PyTorch's choice).
    """
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-d or 1-D, got shape {weight.shape}")
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim > 1 else 1
        if input.ndim == 0 or weight.numel() != channels:
            raise ValueError(f"prelu: weight must have 1 entry or one per channel (input "
                             f"axis 1: {channels}), got weight shape {weight.shape} for "
                             f"input shape {input.shape}")
    if weight.ndim != input.ndim:
        # (C,) -> (1, C, 1, ...): one slope per channel, broadcast over batch and space;
        # a single slope takes the input's rank, so that a 0-d input stays 0-d (as PyTorch)
        shape = [1] * input.ndim
        if input.ndim > 1:
            shape[1] = weight.numel()
        weight = weight.reshape(tuple(shape))
    return where(input.data > 0, input, weight * input)


@tensor_args
def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the first and second halves of x along ``dim``.

    Args:
        input: a tensor whose ``dim`` axis has an even length.
        dim: the axis to halve.

    Returns:
        A tensor of the input's shape with that axis halved.
    """
    if input.ndim == 0:
        raise ValueError("glu: input must have at least one axis (it is halved), got a 0-d "
                         "tensor")
    axis = _axis(dim, input.ndim, "glu")
    length = input.shape[axis]
    if length % 2:
        raise ValueError(f"glu: the halved axis must have an even length, but axis {axis} "
                         f"has length {length}")
    a, b = split(input, [length // 2] * 2, axis)  # two halves, also of an empty axis
    return a * sigmoid(b)
