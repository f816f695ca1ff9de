"""Binary cross-entropy on probabilities and on logits: op classes, for PyTorch's edge
behaviour at probabilities 0 and 1 and for stability at logits of +-1e4."""

from __future__ import annotations

import numpy as np

from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.activation import log_sigmoid, sigmoid
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.elementwise import log, maximum
from tinygen.autograd.ops.loss.arguments import (
    apply_reduction,
    check_input,
    float_operand,
    optional_weight,
    resolve_reduction,
    same_shape,
)
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

# PyTorch's floors: log p >= -100 in binary_cross_entropy, and its gradient's denominator
# p (1 - p) >= 1e-12 (a float32 constant there, which the float64 gradient shows at p = 0)
_LOG_FLOOR = -100.0
_BCE_EPS = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """Elementwise -[y log p + (1-y) log(1-p)] on probabilities, each log floored at -100
    (PyTorch's clamp: a certain wrong answer costs 100, not infinity)."""

    def forward(self, probability, target):
        xp = get_array_module(probability)
        self.save_for_backward(probability, target)
        with np.errstate(divide="ignore"):  # log(0) = -inf, floored just below
            log_p = xp.maximum(xp.log(probability), _LOG_FLOOR)
            log_q = xp.maximum(xp.log1p(-probability), _LOG_FLOOR)
        return (target - 1) * log_q - target * log_p

    def backward(self, gy):
        # dL/dp = (p - y) / (p (1-p)), the denominator floored at 1e-12 as PyTorch's;
        # dL/dy = log(1-p) - log p (unfloored, as PyTorch's target gradient)
        probability, target = self.saved_tensors
        g_probability = g_target = None
        if self.needs_input_grad[0]:
            spread = maximum(probability * (1 - probability), _BCE_EPS)
            g_probability = gy * (probability - target) / spread
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                g_target = gy * (log(1 - probability) - log(probability))
        return g_probability, g_target


class BinaryCrossEntropyWithLogits(Function):
    """Elementwise softplus(z) - y z, i.e. -[y log sigmoid(z) + (1-y) log(1-sigmoid(z))]."""

    broadcasts = True

    def forward(self, logits, target):
        xp = get_array_module(logits)
        self.save_for_backward(logits, target)
        # softplus(z) - y z = (|z|/2 + (1/2 - y) z) + log1p(e^-|z|): e^-|z| <= 1 never
        # overflows, and the linear part is summed first, so that it cancels exactly for a
        # confident right answer (y = 1, z > 0) and the tiny log1p term survives whole
        magnitude = xp.abs(logits)
        # an array even for 0-d logits, where NumPy's ufuncs return scalars
        softplus_tail = xp.negative(magnitude, out=xp.empty_like(logits))
        xp.exp(softplus_tail, out=softplus_tail)
        xp.log1p(softplus_tail, out=softplus_tail)
        magnitude *= 0.5
        loss = (0.5 - target) * logits  # the broadcast shape, so += below never grows it
        loss += magnitude
        loss += softplus_tail
        return loss

    def backward(self, gy):
        # dL/dz = sigmoid(z) - y, dL/dy = -z
        logits, target = self.saved_tensors
        g_logits = g_target = None
        if self.needs_input_grad[0]:
            if is_grad_enabled():
                g_logits = gy * (sigmoid(logits) - target)
            else:
                g_logits = Tensor._from_array(_sigmoid_minus(logits.data, target.data, gy.data))
        if self.needs_input_grad[1]:
            g_target = -gy * logits
        return g_logits, g_target


def _sigmoid_minus(z, y, gy):
    """(sigmoid(z) - y) * gy on raw arrays; sigmoid(z) = (1 + tanh(z/2)) / 2 is exact at
    +-1e4 and takes about a third of the time of the exp-and-select form."""
    xp = get_array_module(z)
    probability = xp.multiply(z, 0.5, out=xp.empty_like(z))  # an array even for 0-d z
    xp.tanh(probability, out=probability)
    probability *= 0.5
    probability += 0.5
    result = probability - y  # the broadcast shape of z and y, as gy has
    result *= gy
    return result


@tensor_args
def binary_cross_entropy(input: Tensor, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``target`` under Bernoulli(``input``), on probabilities.

    -w [y log p + (1-y) log(1-p)] with each log floored at -100, as PyTorch: p = 0 or 1
    gives a finite loss, and the gradient's denominator p (1-p) is floored at 1e-12.
    For logits, :func:`binary_cross_entropy_with_logits` is stabler.

    Args:
        input: probabilities in [0, 1], any shape.
        target: floats (usually in [0, 1]) of input's shape.
        weight: a rescaling weight that broadcasts to input's shape.
        size_average, reduce: PyTorch's deprecated reduction flags (see
            :func:`resolve_reduction`).
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or input's shape for "none".
    """
    op = "binary_cross_entropy"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    target = float_operand("target", target, "input", input, op)
    same_shape("input", input, "target", target, op)
    weight = optional_weight(op, "weight", weight, input, exact=False)
    xp = get_array_module(input.data)
    outside = (input.data < 0) | (input.data > 1) | xp.isnan(input.data)
    if input.data.size and bool(outside.any()):
        raise ValueError(f"{op}: input must hold probabilities in [0, 1], got values in "
                         f"[{float(xp.nanmin(input.data))}, {float(xp.nanmax(input.data))}]"
                         f"{' and nan' if bool(xp.isnan(input.data).any()) else ''}")
    loss = BinaryCrossEntropy().apply(input, target)
    if weight is not None:
        loss = loss * weight
    return apply_reduction(loss, reduction)


@tensor_args
def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy of ``target`` under Bernoulli(sigmoid(input)), stable for any
    finite logit (exact and finite at +-1e4).

    -w [pos_weight y log sigmoid(z) + (1-y) log(1 - sigmoid(z))], as PyTorch.

    Args:
        input: logits, any shape (0-d included).
        target: floats in [0, 1] of input's shape.
        weight: a rescaling weight that broadcasts to input's shape.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".
        pos_weight: the weight of the positive term, broadcasting to input's shape: (C,)
            weighs each of the C classes of a multi-label (N, C) input.

    Returns:
        A scalar, or input's shape for "none".
    """
    op = "binary_cross_entropy_with_logits"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    target = float_operand("target", target, "input", input, op)
    same_shape("input", input, "target", target, op)
    weight = optional_weight(op, "weight", weight, input, exact=False)
    pos_weight = optional_weight(op, "pos_weight", pos_weight, input, exact=False)
    loss = BinaryCrossEntropyWithLogits().apply(input, target)
    if pos_weight is not None:
        # (1-y) softplus(z) + p y softplus(-z) = [softplus(z) - y z] + (p-1) y softplus(-z),
        # softplus(-z) = -log sigmoid(z): exact everywhere (softplus turns linear past 20)
        loss = loss - (pos_weight - 1) * target * log_sigmoid(input)
    if weight is not None:
        loss = loss * weight
    return apply_reduction(loss, reduction)
