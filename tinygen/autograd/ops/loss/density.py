"""Divergences and density terms: PyTorch's kl_div, and the latent-variable models' terms in
nats per sample (gaussian_kl, gaussian_nll, bernoulli_nll)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.elementwise import exp, log, where
from tinygen.autograd.ops.loss.arguments import (
    apply_reduction,
    check_input,
    float_operand,
    per_sample,
    resolve_reduction,
    same_shape,
)
from tinygen.autograd.ops.loss.binary import BinaryCrossEntropyWithLogits
from tinygen.autograd.ops.reduction import sum
from tinygen.autograd.tensor import Tensor


@tensor_args
def kl_div(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || model) pointwise, with ``input`` the model's log-probabilities.

    target (log target - input), the 0 log 0 terms taken as 0; with ``log_target`` the
    target is given as log-probabilities too: exp(t) (t - input). Input and target broadcast.

    Args:
        input: log-probabilities, any shape.
        target: probabilities (or log-probabilities with ``log_target``), broadcasting with
            input.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "batchmean" (the sum over the batch size input.shape[0]: the KL
            divergence per sample), "sum", "none", or "mean", which averages over every
            element (not the KL divergence; PyTorch warns about it, and so does this).
        log_target: whether target holds log-probabilities.

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "kl_div"
    legacy = size_average is not None or reduce is not None
    reduction = resolve_reduction(op, size_average, reduce, reduction,
                                  allowed=("mean", "batchmean", "sum", "none"))
    if reduction == "mean" and not legacy:
        warnings.warn("kl_div: reduction='mean' divides the total loss by both the batch size "
                      "and the support size; 'batchmean' divides by the batch size only, which "
                      "is the KL divergence per sample", UserWarning, stacklevel=2)
    check_input(op, input)
    target = float_operand("target", target, "input", input, op, numbers=True)
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: target must broadcast with input {input.shape}, got "
                         f"{target.shape}") from None
    if log_target:
        pointwise = exp(target) * (target - input)
    else:
        zero = Tensor._from_array(target.data == 0)
        # t log t with 0 log 0 = 0 (PyTorch's xlogy); the log of 1 stands in for the log of 0
        pointwise = target * log(where(zero, 1.0, target)) - target * input
    if reduction == "batchmean":
        total = sum(pointwise)
        return total / input.shape[0] if input.ndim else total
    return apply_reduction(pointwise, reduction)



# --------------------------------------------------------------------------- density terms
@tensor_args
def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in nats per sample: the VAE's KL term.

    KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)), summed over every axis but the first.

    Args:
        mu, logvar: (N, ...) mean and log-variance of the diagonal Gaussian.
        reduction: "mean" over the batch of per-sample KLs, "sum", or "none".

    Returns:
        A scalar, or (N,) for "none".
    """
    resolve_reduction("gaussian_kl", reduction=reduction)
    same_shape("mu", mu, "logvar", logvar, "gaussian_kl")
    return per_sample(-0.5 * (1.0 + logvar - mu * mu - exp(logvar)), reduction)


@tensor_args
def gaussian_nll(x, mu: Tensor, logvar: Tensor, reduction: str = "mean") -> Tensor:
    """-log N(x; mu, diag(exp(logvar))) in nats per sample (a Gaussian decoder's loss).

    Args:
        x: (N, ...) floats, the observed values.
        mu, logvar: x's shape, the Gaussian's mean and log-variance.
        reduction: "mean" over the batch of per-sample NLLs (each summed over every axis
            but the first), "sum", or "none".

    Returns:
        A scalar, or (N,) for "none".
    """
    resolve_reduction("gaussian_nll", reduction=reduction)
    x = float_operand("x", x, "mu", mu, "gaussian_nll")
    same_shape("mu", mu, "x", x, "gaussian_nll")
    same_shape("mu", mu, "logvar", logvar, "gaussian_nll")
    difference = x - mu
    per_element = 0.5 * (math.log(2 * math.pi) + logvar + difference * difference * exp(-logvar))
    return per_sample(per_element, reduction)


@tensor_args
def bernoulli_nll(logits: Tensor, x, reduction: str = "mean") -> Tensor:
    """-log Bernoulli(x; sigmoid(logits)) in nats per sample (a binary decoder's loss).

    Args:
        logits: (N, ...) Bernoulli logits.
        x: floats in [0, 1] of logits' shape (binarized pixels).
        reduction: "mean" over the batch of per-sample NLLs (each summed over every axis
            but the first), "sum", or "none".

    Returns:
        A scalar, or (N,) for "none".
    """
    resolve_reduction("bernoulli_nll", reduction=reduction)
    x = float_operand("x", x, "logits", logits, "bernoulli_nll")
    same_shape("logits", logits, "x", x, "bernoulli_nll")
    data = x.data
    if data.size and not bool(((data >= 0) & (data <= 1)).all()):  # NaN fails too
        raise ValueError(f"bernoulli_nll: x must hold values in [0, 1] (a negative NLL "
                         f"otherwise), got values in [{float(data.min())}, {float(data.max())}]")
    return per_sample(BinaryCrossEntropyWithLogits().apply(logits, x), reduction)
