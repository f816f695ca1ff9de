"""Regression losses: squared, absolute, smooth L1 and Huber errors, and PyTorch's Gaussian
and Poisson negative log-likelihoods."""

from __future__ import annotations

import math

import numpy as np

from tinygen.autograd.ops.arguments import real, tensor_args
from tinygen.autograd.ops.elementwise import abs, exp, log, where
from tinygen.autograd.ops.loss.arguments import (
    apply_reduction,
    broadcast_target,
    check_input,
    float_operand,
    optional_weight,
    resolve_reduction,
)
from tinygen.autograd.ops.reduction import sum
from tinygen.autograd.ops.shape import reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _difference(op: str, input: Tensor, target) -> Tensor:
    check_input(op, input)
    target = float_operand("target", target, "input", input, op, numbers=True)
    broadcast_target(op, input, target)
    return input - target


def _weighted(op: str, loss: Tensor, weight, input: Tensor, reduction: str,
              mean_by_weight: bool) -> Tensor:
    """PyTorch's elementwise ``weight`` (input's shape): "mean" is sum(w l) / sum(w) where
    ``mean_by_weight`` (mse_loss, l1_loss), else mean(w l) (huber_loss)."""
    if weight is None:
        return apply_reduction(loss, reduction)
    weight = optional_weight(op, "weight", weight, input, exact=True)
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return sum(loss) / sum(weight)
    return apply_reduction(loss, reduction)


@tensor_args
def mse_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Squared error (input - target)^2.

    Args:
        input: any shape.
        target: input's shape (another shape that broadcasts is used, with a warning, as
            PyTorch); integer data is converted to input's dtype.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".
        weight: per-element weights of input's shape; "mean" is then sum(w l) / sum(w).

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "mse_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    difference = _difference(op, input, target)
    return _weighted(op, difference * difference, weight, input, reduction, True)


@tensor_args
def l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Absolute error |input - target|.

    Args:
        input: any shape.
        target: input's shape (broadcasting with a warning, as :func:`mse_loss`).
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".
        weight: per-element weights of input's shape; "mean" is then sum(w l) / sum(w).

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "l1_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    return _weighted(op, abs(_difference(op, input, target)), weight, input, reduction, True)


@tensor_args
def smooth_l1_loss(input: Tensor, target, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0
    is the L1 loss.

    Args:
        input: any shape.
        target: input's shape (broadcasting with a warning, as :func:`mse_loss`).
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".
        beta: the width of the quadratic zone, >= 0.

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "smooth_l1_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    real(op, "beta", beta, low=0)
    difference = _difference(op, input, target)
    magnitude = abs(difference)
    if beta == 0:
        return apply_reduction(magnitude, reduction)
    inside = Tensor._from_array(magnitude.data < beta)
    loss = where(inside, 0.5 / beta * difference * difference, magnitude - 0.5 * beta)
    return apply_reduction(loss, reduction)


@tensor_args
def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target): delta
    times :func:`smooth_l1_loss` with beta = delta.

    Args:
        input: any shape.
        target: input's shape (broadcasting with a warning, as :func:`mse_loss`).
        reduction: "mean" over all elements, "sum", or "none".
        delta: where the loss turns from quadratic to linear, > 0.
        weight: per-element weights of input's shape; "mean" is then mean(w l), as PyTorch.

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "huber_loss"
    reduction = resolve_reduction(op, reduction=reduction)
    real(op, "delta", delta, low=0, low_open=True)
    difference = _difference(op, input, target)
    magnitude = abs(difference)
    inside = Tensor._from_array(magnitude.data < delta)
    loss = where(inside, 0.5 * difference * difference, delta * (magnitude - 0.5 * delta))
    return _weighted(op, loss, weight, input, reduction, False)


def _gaussian_variance(op: str, var, input: Tensor) -> Tensor:
    """var as a Tensor that broadcasts against input, by PyTorch's rules: input's shape;
    one axis short (the last: one variance per sample), unsqueezed; or input's shape with
    size 1 on exactly one axis. A float is one variance for all."""
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var must be >= 0, got {var}")
        xp = get_array_module(input.data)
        return Tensor._from_array(xp.full(input.shape, var, dtype=input.dtype))
    var = float_operand("var", var, "input", input, op)
    if bool((var.data < 0).any()):
        raise ValueError(f"{op}: var must be >= 0 everywhere, got a minimum of "
                         f"{float(var.data.min())}")
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1]:
        return reshape(var, var.shape + (1,))  # (..., ) -> (..., 1)
    if var.ndim == input.ndim and np.sum(
            [v for i, v in zip(input.shape, var.shape) if i != v]) == 1:
        return var
    raise ValueError(f"{op}: var must have input's shape {input.shape}, that shape without "
                     f"its last axis, or a size of 1 on one axis; got {var.shape}")


@tensor_args
def gaussian_nll_loss(input: Tensor, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """PyTorch's Gaussian negative log-likelihood: 0.5 (log var + (input - target)^2 / var),
    plus 0.5 log(2 pi) with ``full``.

    var is clamped to at least ``eps`` for the value only: the gradient passes to var as if
    unclamped (PyTorch clamps under no_grad). tinygen's own :func:`gaussian_nll` (a
    log-variance, summed per sample) is a different function.

    Args:
        input: the Gaussian's mean (expectations), any shape.
        target: samples, broadcasting with input.
        var: variances: input's shape, input's shape without its last axis, input's shape
            with one axis of size 1, or a float.
        full: add the constant 0.5 log(2 pi).
        eps: the floor of var.
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "gaussian_nll_loss"
    reduction = resolve_reduction(op, reduction=reduction)
    check_input(op, input)
    target = float_operand("target", target, "input", input, op, numbers=True)
    var = _gaussian_variance(op, var, input)
    xp = get_array_module(var.data)
    var = var + Tensor._from_array(xp.maximum(var.data, eps) - var.data)  # clamped, grad 1
    difference = input - target
    loss = 0.5 * (log(var) + difference * difference / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return apply_reduction(loss, reduction)


@tensor_args
def poisson_nll_loss(input: Tensor, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood of counts ``target`` with rate ``input``.

    exp(input) - target input with ``log_input`` (input is the log-rate), else
    input - target log(input + eps); ``full`` adds Stirling's approximation of log(target!),
    target log target - target + 0.5 log(2 pi target), where target > 1.

    Args:
        input: log-rates (``log_input``) or rates, any shape.
        target: counts, broadcasting with input.
        log_input: whether input is the log of the rate.
        full: add the Stirling term.
        size_average, reduce: PyTorch's deprecated reduction flags.
        eps: keeps log(input) finite at input = 0 when not ``log_input``.
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "poisson_nll_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    target = float_operand("target", target, "input", input, op, numbers=True)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        counted = Tensor._from_array(target.data > 1)
        safe = where(counted, target, 2.0)  # the log's argument where the term is dropped
        stirling = safe * log(safe) - safe + 0.5 * log(2 * math.pi * safe)
        loss = loss + where(counted, stirling, 0.0)
    return apply_reduction(loss, reduction)
