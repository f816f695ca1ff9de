"""Loss modules: PyTorch's ``nn.*Loss`` classes, each a thin holder of the settings of one
function in ``tinygen.nn.functional``.

Names, constructor arguments (the legacy ``size_average``/``reduce`` included) and defaults
are PyTorch's; class weights (``weight``, ``pos_weight``) are registered buffers, so they
are in the state dict and follow ``Module.to``, as in PyTorch (a weight left as None is
saved nowhere, as there).
"""

from __future__ import annotations

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.ops.loss import resolve_reduction
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import check_input, choice, flag, integer, number, weight_tensor
from tinygen.nn.module import Module


class _Loss(Module):
    """Holds ``reduction``, resolved from the legacy flags as PyTorch's ``_Loss`` does."""

    reductions = ("mean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        name = type(self).__name__
        for label, legacy in (("size_average", size_average), ("reduce", reduce)):
            if legacy is not None:
                flag(name, label, legacy)
        if size_average is not None or reduce is not None:
            reduction = resolve_reduction(name, size_average, reduce)
        self.reduction = choice(name, "reduction", reduction, self.reductions)

    def _check(self, input, *others) -> None:
        """Raise unless ``input`` is a floating Tensor and every other operand given as an
        array or Tensor broadcasts against it (the elementwise losses' contract)."""
        name = type(self).__name__
        check_input(name, input, floating=True)
        for other in others:
            if isinstance(other, (Tensor, np.ndarray)) and other.shape != input.shape and (
                    not _broadcastable(other.shape, input.shape)):
                raise ValueError(f"{name}: expected operands that broadcast to the input's "
                                 f"shape {input.shape}, got shape {other.shape}")

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with a per-class (or per-element) ``weight`` buffer."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight_tensor(type(self).__name__, "weight", weight))


def _broadcastable(a: tuple, b: tuple) -> bool:
    """Whether shapes ``a`` and ``b`` broadcast together (NumPy's rule, trailing axes)."""
    return all(m == n or m == 1 or n == 1 for m, n in zip(reversed(a), reversed(b)))


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities: :func:`~tinygen.nn.functional.binary_cross_entropy`.

    Args:
        weight: a rescaling weight broadcasting to the input's shape (a buffer).
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits:
    :func:`~tinygen.nn.functional.binary_cross_entropy_with_logits`.

    Args:
        weight: a rescaling weight broadcasting to the input's shape (a buffer).
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
        pos_weight: the positive terms' weight, e.g. (C,) for C labels (a buffer).
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight_tensor("BCEWithLogitsLoss", "weight", weight))
        self.register_buffer("pos_weight", weight_tensor("BCEWithLogitsLoss", "pos_weight",
                                                         pos_weight))

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices: :func:`~tinygen.nn.functional.nll_loss`.

    Args:
        weight: (C,) per-class weights (a buffer).
        size_average, reduce: PyTorch's deprecated reduction flags.
        ignore_index: a target value that is skipped.
        reduction: "mean" (weighted by the counted targets' weights), "sum" or "none".
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = integer("NLLLoss", "ignore_index", ignore_index)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input)
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy from scores: :func:`~tinygen.nn.functional.cross_entropy` (class-index
    or probability targets).

    Args:
        weight: (C,) per-class weights (a buffer).
        size_average, reduce: PyTorch's deprecated reduction flags.
        ignore_index: a class-index target value that is skipped.
        reduction: "mean", "sum" or "none".
        label_smoothing: in [0, 1].
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = integer("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = number("CrossEntropyLoss", "label_smoothing", label_smoothing,
                                      0.0, 1.0)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input)
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class KLDivLoss(_Loss):
    """KL divergence from log-probabilities: :func:`~tinygen.nn.functional.kl_div`.

    Args:
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "batchmean" (the KL divergence per sample), "sum", "none", or "mean"
            (over every element; warns, as PyTorch).
        log_target: whether the target holds log-probabilities.
    """

    reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = flag("KLDivLoss", "log_target", log_target)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MSELoss(_Loss):
    """Squared error: :func:`~tinygen.nn.functional.mse_loss`.

    Args:
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Absolute error: :func:`~tinygen.nn.functional.l1_loss`.

    Args:
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above: :func:`~tinygen.nn.functional.smooth_l1_loss`.

    Args:
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
        beta: the width of the quadratic zone, >= 0.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = number("SmoothL1Loss", "beta", beta, 0.0)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, linear above: :func:`~tinygen.nn.functional.huber_loss`.

    Args:
        reduction: "mean", "sum" or "none".
        delta: where the loss turns linear, > 0.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = number("HuberLoss", "delta", delta, 0.0, above=True)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with given variances:
    :func:`~tinygen.nn.functional.gaussian_nll_loss`; called as ``loss(input, target, var)``.

    Args:
        full: add the constant 0.5 log(2 pi).
        eps: the floor of the variance.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full = flag("GaussianNLLLoss", "full", full)
        self.eps = number("GaussianNLLLoss", "eps", eps, 0.0, above=True)

    def forward(self, input: Tensor, target, var) -> Tensor:
        self._check(input, target, var)
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood: :func:`~tinygen.nn.functional.poisson_nll_loss`.

    Args:
        log_input: whether the input is the log of the rate.
        full: add Stirling's approximation of log(target!).
        size_average, reduce: PyTorch's deprecated reduction flags.
        eps: keeps log(input) finite when not ``log_input``.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input = flag("PoissonNLLLoss", "log_input", log_input)
        self.full = flag("PoissonNLLLoss", "full", full)
        self.eps = number("PoissonNLLLoss", "eps", eps, 0.0)

    def forward(self, log_input: Tensor, target) -> Tensor:
        self._check(log_input, target)
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -y (x1 - x2) + margin): :func:`~tinygen.nn.functional.margin_ranking_loss`;
    called as ``loss(input1, input2, target)``.

    Args:
        margin: the required gap.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = number("MarginRankingLoss", "margin", margin)

    def forward(self, input1: Tensor, input2: Tensor, target) -> Tensor:
        self._check(input1, input2, target)
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """x for y = 1, max(0, margin - x) for y = -1:
    :func:`~tinygen.nn.functional.hinge_embedding_loss`.

    Args:
        margin: the distance beyond which a dissimilar pair costs nothing.
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = number("HingeEmbeddingLoss", "margin", margin)

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)): :func:`~tinygen.nn.functional.soft_margin_loss`.

    Args:
        size_average, reduce: PyTorch's deprecated reduction flags.
        reduction: "mean", "sum" or "none".
    """

    def forward(self, input: Tensor, target) -> Tensor:
        self._check(input, target)
        return F.soft_margin_loss(input, target, reduction=self.reduction)
