"""Classification losses: negative log-likelihood and cross-entropy over C classes (class
indices, with weights, ignore_index and label smoothing; or class probabilities), and the
margin losses on +-1 labels."""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.activation import log_sigmoid, relu
from tinygen.autograd.ops.arguments import real, tensor_args
from tinygen.autograd.ops.elementwise import where
from tinygen.autograd.ops.loss.arguments import (
    apply_reduction,
    broadcast_target,
    check_input,
    divide_or_nan,
    float_operand,
    resolve_reduction,
)
from tinygen.autograd.ops.reduction import log_softmax, softmax, sum
from tinygen.autograd.ops.shape import getitem, permute, reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _class_rows(op: str, input: Tensor) -> tuple[Tensor, tuple]:
    """input as (M, C) rows of class scores, and the target shape that goes with it:
    (C,) -> (1, C) with target (); (N, C) with target (N,); (N, C, d1, ...) with target
    (N, d1, ...)."""
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (C,), (N, C) or (N, C, d1, ...), got "
                         f"a 0-d tensor")
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if input.ndim == 1:
        return reshape(input, (1, classes)), ()  # (C,) -> (1, C)
    if input.ndim == 2:
        return input, input.shape[:1]
    # (N, C, d1, ...) -> (N, d1, ..., C) -> (N*d1*..., C)
    moved = permute(input, (0, *range(2, input.ndim), 1))
    return reshape(moved, (-1, classes)), input.shape[:1] + input.shape[2:]


def _class_indices(op: str, target, input: Tensor, target_shape: tuple, ignore_index: int):
    """The class-index target as an int array (M,) on input's device, checked: integer
    dtype, the shape that goes with input, every index in [0, C) or ignore_index."""
    data = _raw_target(target)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (int64), got dtype "
                        f"{data.dtype}")
    if tuple(data.shape) != target_shape:
        raise ValueError(f"{op}: target must have shape {target_shape} for input of shape "
                         f"{input.shape}, got {tuple(data.shape)}")
    data = backend.to_device(data, backend.check_device(input.device)).reshape(-1)
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    outside = ((data < 0) | (data >= classes)) & (data != ignore_index)
    if bool(outside.any()):
        raise IndexError(f"{op}: target must hold class indices in [0, {classes}) (or "
                         f"ignore_index={ignore_index}), got {int(data[outside][0])}")
    return data


def _raw_target(target):
    """The target's array: a Tensor's, a NumPy or CuPy array as it is, else a NumPy array."""
    if isinstance(target, Tensor):
        return target.data
    return target if hasattr(target, "dtype") and hasattr(target, "shape") else np.asarray(
        target)


def _class_weight(op: str, weight, input: Tensor, classes: int) -> Tensor | None:
    if weight is None:
        return None
    weight = float_operand("weight", weight, "input", input, op)
    if weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},) (one per class), got "
                         f"{weight.shape}")
    return weight


def _check_probability_target(op, target, input, ignore_index):
    if target.shape != input.shape:
        raise ValueError(f"{op}: a probability target must have the shape of input "
                         f"{input.shape}, got {target.shape}")
    if ignore_index >= 0:
        raise ValueError(f"{op}: ignore_index is not supported for probability targets "
                         f"(float target); got ignore_index={ignore_index}")


class PickedNLL(Function):
    """(scores (M, C)) -> -log_softmax(scores)[i, t_i] (``from_logits``) or -scores[i, t_i]
    per row, times ``kept`` (0 where the target is ignored), summed and divided by
    ``divisor`` (1 for "sum", the rows counted for "mean"), or per row for "none": the
    common nll_loss and cross_entropy (2-d scores, no class weight, no smoothing) as one op,
    about 14 op calls fewer forward and backward than the composition. Its first-order
    backward runs on raw arrays; a recorded one (create_graph) is the same formula in Tensor
    ops, so second derivatives are exact (the registry's gradcheck and gradgradcheck take
    the two)."""

    def __init__(self, index, kept, reduction: str, from_logits: bool):
        self.index, self.kept = index, kept  # (M,) ints, (M,) 0/1 in the scores' dtype
        self.reduction, self.from_logits = reduction, from_logits
        count = float(kept.sum()) if reduction == "mean" else 1.0
        self.divisor = count or 1.0  # all ignored: the loss is nan and no gradient flows
        self.nan = not count

    def forward(self, scores):
        xp = get_array_module(scores)
        picked = scores[xp.arange(scores.shape[0]), self.index]  # (M,)
        if self.from_logits:
            shift = scores.max(axis=1)
            # log_softmax(x)[t] = x[t] - max - log(sum(exp(x - max)))
            exp = xp.exp(scores - shift[:, None])
            total = exp.sum(axis=1)
            picked = picked - shift - xp.log(total)
            self.cache_for_backward(exp=exp, total=total)  # softmax, for the raw backward
        losses = -picked * self.kept
        self.save_for_backward(scores)
        if self.reduction == "none":
            return losses
        total = losses.sum() / self.divisor
        return total + xp.nan if self.nan else total

    def backward(self, g):
        # d/dx[i, c] = g_i kept_i / divisor * (softmax(x)[i, c] - [c == t_i]) from logits,
        # -g_i kept_i / divisor * [c == t_i] from log-probabilities
        (scores,) = self.saved_tensors
        xp = get_array_module(scores.data)
        rows = scores.shape[0]
        if not is_grad_enabled():  # first order (every training step): the same on raw arrays
            return Tensor._from_array(self._raw_backward(scores.data, g.data))
        picks = xp.zeros(scores.shape, dtype=scores.dtype)
        picks[xp.arange(rows), self.index] = 1
        # (M,) -> (M, 1): one weight per row, against the class axis
        per_row = Tensor._from_array((self.kept / self.divisor).reshape(rows, 1))
        per_row = per_row * (reshape(g, (rows, 1)) if g.ndim else g)
        if self.from_logits:
            return (softmax(scores, dim=1) - Tensor._from_array(picks)) * per_row
        return Tensor._from_array(-picks) * per_row

    def _raw_backward(self, scores, g):
        xp = get_array_module(scores)
        rows = scores.shape[0]
        if self.from_logits:
            gx = self.cached("exp") / self.cached("total")[:, None]  # softmax
        else:
            gx = xp.zeros_like(scores)
        gx[xp.arange(rows), self.index] -= 1
        # (M,) -> (M, 1)
        gx *= (self.kept * (g / self.divisor)).reshape(rows, 1)
        return gx


def _picked_nll(op, scores: Tensor, target, ignore_index: int, reduction: str,
                from_logits: bool) -> Tensor:
    """:class:`PickedNLL` of (M, C) scores and a checked class-index target."""
    index = _class_indices(op, target, scores, scores.shape[:1], ignore_index)
    xp = get_array_module(scores.data)
    kept = index != ignore_index
    safe_index = xp.where(kept, index, 0)
    return PickedNLL(safe_index, kept.astype(scores.dtype), reduction,
                     from_logits).apply(scores)


def _index_loss(op, log_probs: Tensor, target, weight, ignore_index: int, reduction: str,
                label_smoothing: float = 0.0) -> Tensor:
    """-w[t] log_probs[t] per position (0 where t == ignore_index), mixed with the uniform
    smoothing term -sum_c w_c log_probs[c] / C; "mean" divides by the summed w[t] of the
    positions not ignored, as PyTorch."""
    rows, target_shape = _class_rows(op, log_probs)
    classes = rows.shape[1]
    index = _class_indices(op, target, log_probs, target_shape, ignore_index)
    weight = _class_weight(op, weight, log_probs, classes)
    xp = get_array_module(rows.data)
    kept = index != ignore_index
    safe_index = xp.where(kept, index, 0)
    kept = kept.astype(log_probs.dtype)
    picked = getitem(rows, (xp.arange(rows.shape[0]), safe_index))  # (M,)
    if weight is None:
        target_weight = Tensor._from_array(kept)
    else:
        target_weight = getitem(weight, safe_index) * kept
    losses = -picked * target_weight
    if label_smoothing:
        smooth = -sum(rows if weight is None else rows * weight, dim=1) * kept
        losses = (1 - label_smoothing) * losses + (label_smoothing / classes) * smooth
    if reduction == "none":
        return reshape(losses, target_shape)
    if reduction == "sum":
        return sum(losses)
    count = sum(target_weight) if weight is not None else float(kept.sum())
    return divide_or_nan(sum(losses), count)


@tensor_args
def nll_loss(input: Tensor, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices, from log-probabilities.

    loss_i = -weight[t_i] input[i, t_i]; positions whose target is ``ignore_index`` count
    0. "mean" is sum_i loss_i / sum_i weight[t_i] over the positions not ignored (PyTorch's
    weighted mean; nan when every target is ignored).

    Args:
        input: (N, C), (N, C, d1, ...) or unbatched (C,) log-probabilities.
        target: (N,), (N, d1, ...) or () integer class indices in [0, C), or ignore_index.
        weight: (C,) per-class weights.
        size_average, reduce: PyTorch's deprecated reduction flags.
        ignore_index: a target value that is skipped.
        reduction: "mean", "sum", or "none".

    Returns:
        A scalar, or target's shape for "none".
    """
    op = "nll_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    if weight is None and input.ndim == 2 and input.shape[1]:
        return _picked_nll(op, input, target, ignore_index, reduction, from_logits=False)
    return _index_loss(op, input, target, weight, ignore_index, reduction)


@tensor_args
def cross_entropy(input: Tensor, target, weight=None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from unnormalized scores, with class-index or probability targets.

    Class indices: ``nll_loss(log_softmax(input, class dim), target, ...)``, mixed with
    label smoothing eps as (1 - eps) nll + eps/C sum_c -w_c log p_c, with nll_loss's weighted
    mean. Probabilities (a float target of input's shape): -sum_c w_c t_c log p_c per
    position, t smoothed to (1 - eps) t + eps/C; "mean" divides by the number of positions
    (N d1 ...), not by the weights, as PyTorch.

    Args:
        input: (N, C), (N, C, d1, ...) or unbatched (C,) scores.
        target: integer class indices of shape (N,), (N, d1, ...) or (); or floats of
            input's shape (class probabilities).
        weight: (C,) per-class weights.
        size_average, reduce: PyTorch's deprecated reduction flags.
        ignore_index: a class-index target value that is skipped (probability targets
            support none: it must stay negative).
        reduction: "mean", "sum", or "none".
        label_smoothing: eps in [0, 1].

    Returns:
        A scalar, or the shape of input without its class axis for "none".
    """
    op = "cross_entropy"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    real(op, "label_smoothing", label_smoothing, 0.0, 1.0)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (C,), (N, C) or (N, C, d1, ...), got "
                         f"a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    by_index = _raw_target(target).dtype.kind != "f"
    if by_index and weight is None and not label_smoothing and input.ndim == 2 \
            and input.shape[1]:
        return _picked_nll(op, input, target, ignore_index, reduction, from_logits=True)
    log_probs = log_softmax(input, dim=class_dim)
    if by_index:
        return _index_loss(op, log_probs, target, weight, ignore_index, reduction,
                           label_smoothing)
    target = float_operand("target", target, "input", input, op)
    _check_probability_target(op, target, input, ignore_index)
    classes = input.shape[class_dim]
    weight = _class_weight(op, weight, input, classes)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    if weight is not None:
        # (C,) -> (C, 1, ..., 1): against the class axis of (N, C, d1, ...)
        terms = terms * reshape(weight, (classes,) + (1,) * (input.ndim - class_dim - 1))
    losses = -sum(terms, dim=class_dim)
    if reduction == "mean":
        return divide_or_nan(sum(losses), losses.numel())
    return apply_reduction(losses, reduction)



# --------------------------------------------------------------------------- margins
def _signs(op: str, target, input: Tensor) -> Tensor:
    return float_operand("target", target, "input", input, op, numbers=True)


class ClampAtZero(Function):
    """max(z, 0) with PyTorch's clamp_min(z, 0) gradient at every order: 1 where z >= 0
    (a tie included), 0 below and at NaN, where the value stays NaN."""

    def forward(self, z):
        self.save_for_backward(z >= 0)  # a constant mask
        return get_array_module(z).maximum(z, 0)

    def backward(self, gy):
        # d max(z, 0)/dz = [z >= 0]
        (kept,) = self.saved_tensors
        return Kept().apply(gy, kept)


class Kept(Function):
    """where(kept, x, 0) for a constant boolean ``kept``: a selection, so a NaN or inf
    outside ``kept`` reaches neither the value nor any gradient (a product with the 0/1
    mask would make it NaN: the margin loss's double backward at NaN scores)."""

    def forward(self, x, kept):
        self.save_for_backward(kept)
        xp = get_array_module(x)
        return xp.where(kept, x, xp.zeros((), dtype=x.dtype))

    def backward(self, gy):
        # d where(kept, x, 0)/dx = [kept], itself applied by selection
        (kept,) = self.saved_tensors
        return Kept().apply(gy, kept), None


@tensor_args
def margin_ranking_loss(input1: Tensor, input2: Tensor, target, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin): y = 1 asks for x1 > x2 by margin, y = -1 for x2 > x1.

    Args:
        input1, input2: scores, of one number of axes.
        target: +-1, with the same number of axes (the three broadcast).
        margin: the required gap.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "margin_ranking_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input1, "input1")
    check_input(op, input2, "input2")
    target = _signs(op, target, input1)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(f"{op}: input1, input2 and target must have the same number of axes, "
                         f"got shapes {input1.shape}, {input2.shape} and {target.shape}")
    # clamped at 0 as PyTorch does (not relu): the gradient passes at a gap of exactly 0 and
    # is 0, at every order, at a NaN gap
    return apply_reduction(ClampAtZero().apply(-target * (input1 - input2) + margin), reduction)


@tensor_args
def hinge_embedding_loss(input: Tensor, target, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1 (x a distance, y +-1), as PyTorch
    (a target of neither value gets both terms).

    Args:
        input: distances, any shape.
        target: +-1, broadcasting with input.
        margin: the distance beyond which a dissimilar pair costs nothing.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "hinge_embedding_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    target = _signs(op, target, input)
    dissimilar = Tensor._from_array(target.data != 1)
    similar = Tensor._from_array(target.data != -1)
    loss = where(dissimilar, relu(margin - input), 0.0) + where(similar, input, 0.0)
    return apply_reduction(loss, reduction)


@tensor_args
def soft_margin_loss(input: Tensor, target, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)): the logistic loss of scores x against labels y = +-1.

    Args:
        input: scores, any shape.
        target: +-1, broadcasting with input (with a warning when the shapes differ).
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean" over all elements, "sum", or "none".

    Returns:
        A scalar, or the broadcast shape for "none".
    """
    op = "soft_margin_loss"
    reduction = resolve_reduction(op, size_average, reduce, reduction)
    check_input(op, input)
    target = _signs(op, target, input)
    broadcast_target(op, input, target)
    # log(1 + e^-yx) = -log sigmoid(yx): exact everywhere (softplus turns linear past 20)
    return apply_reduction(-log_sigmoid(target * input), reduction)
