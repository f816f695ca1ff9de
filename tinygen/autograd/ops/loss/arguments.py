"""Argument checks and reductions shared by the losses: each error names the loss, the
argument, what it expects and what it got."""

from __future__ import annotations

import math
import warnings

import numpy as np

from tinygen.autograd.ops.reduction import mean, sum
from tinygen.autograd.tensor import Tensor, _as_tensor
from tinygen.backend import get_array_module

REDUCTIONS = ("mean", "sum", "none")


def resolve_reduction(op: str, size_average=None, reduce=None, reduction: str = "mean",
                      allowed: tuple = REDUCTIONS) -> str:
    """The reduction a loss uses, from ``reduction`` or PyTorch's legacy pair.

    ``size_average`` and ``reduce`` (deprecated in PyTorch, still accepted there) override
    ``reduction`` when either is given: ``reduce=False`` is "none", else ``size_average=False``
    is "sum", else "mean". A warning says which ``reduction`` to write instead.

    Args:
        op: the loss's name, for messages.
        size_average, reduce: the legacy flags (None: not given).
        reduction: the reduction asked for.
        allowed: the reductions this loss knows.

    Returns:
        The reduction's name.

    Raises:
        ValueError: ``reduction`` is not one of ``allowed``.
    """
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else "mean" if size_average else "sum"
        warnings.warn(f"{op}: size_average and reduce are deprecated (as in PyTorch), use "
                      f"reduction={reduction!r} instead", UserWarning, stacklevel=3)
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def check_input(op: str, input, name: str = "input") -> None:
    """A loss's input must be a float Tensor (arrays are converted only for targets)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must have a floating dtype, got {input.dtype}")


def apply_reduction(values: Tensor, reduction: str) -> Tensor:
    """"mean" or "sum" over every element, or the values as they are ("none")."""
    if reduction == "mean":
        return mean(values)
    if reduction == "sum":
        return sum(values)
    return values


def per_sample(values: Tensor, reduction: str) -> Tensor:
    """Sum over all non-batch axes, then reduce over the batch."""
    if values.ndim > 1:
        values = sum(values, axis=tuple(range(1, values.ndim)))
    return apply_reduction(values, reduction)


def same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor, op: str) -> None:
    """``b`` must have ``a``'s shape (no broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(f"{op}: {name_b} must have the shape of {name_a} {a.shape}, "
                         f"got {b.shape}")


def float_operand(name: str, value, like_name: str, like: Tensor, op: str,
                  numbers: bool = False) -> Tensor:
    """``value`` as a float Tensor in ``like``'s dtype (data given as arrays is converted;
    a Tensor that requires grad is left as it is). Integer or boolean data is refused, or,
    with ``numbers`` (a regression target, as PyTorch promotes it), converted."""
    if isinstance(value, str):  # a reduction passed by position, where PyTorch's order has
        raise TypeError(f"{op}: {name} must be a float array, got the string {value!r} (pass "
                        f"it as reduction={value!r})")
    operand = _as_tensor(value, like)
    if operand.dtype.kind != "f" and not (numbers and operand.dtype.kind in "iub"):
        raise TypeError(f"{op}: {name} must be a float array like {like_name} ({like.dtype}), "
                        f"got dtype {operand.dtype}")
    if operand.dtype != like.dtype and not operand.requires_grad:
        operand = Tensor._from_array(operand.data.astype(like.dtype))
    return operand


def broadcast_target(op: str, input: Tensor, target: Tensor) -> None:
    """PyTorch's rule for the regression losses: a target of another shape broadcasts, with
    a warning (it is almost always a mistake, (N, 1) against (N,) say); one that does not
    broadcast is an error."""
    if target.shape == input.shape:
        return
    try:
        shape = np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: target must have the shape of input {input.shape} (or "
                         f"broadcast with it), got {target.shape}") from None
    warnings.warn(f"{op}: target shape {target.shape} differs from input shape "
                  f"{input.shape}; they broadcast to {shape}, which is likely not what was "
                  f"meant: give them the same shape", UserWarning, stacklevel=3)


def optional_weight(op: str, name: str, weight, input: Tensor, exact: bool) -> Tensor | None:
    """A weight Tensor in input's dtype: of input's shape (``exact``), or broadcasting to it."""
    if weight is None:
        return None
    weight = float_operand(name, weight, "input", input, op)
    fits = weight.shape == input.shape
    if not exact and not fits:
        try:
            fits = np.broadcast_shapes(weight.shape, input.shape) == input.shape
        except ValueError:
            fits = False
    if not fits:
        expected = "input's shape" if exact else "a shape that broadcasts to input's shape"
        raise ValueError(f"{op}: {name} must have {expected} {input.shape}, got {weight.shape}")
    return weight


def divide_or_nan(total: Tensor, count) -> Tensor:
    """``total / count``, as PyTorch: nan when ``count`` is 0 (nothing was counted), with no
    gradient then reaching the terms of ``total`` (each was weighted by 0). ``count`` is a
    Tensor (summed weights) or a number; no host synchronisation is needed."""
    if not isinstance(count, Tensor):
        if count == 0:
            return total + math.nan
        return total / count
    xp = get_array_module(count.data)
    empty = count.data == 0
    safe = count + empty.astype(count.dtype)  # count, or 1 where it is 0
    return total / safe + Tensor._from_array(xp.where(empty, math.nan, 0.0).astype(total.dtype))
