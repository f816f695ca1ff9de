"""Adam and AdamW (Adam with decoupled weight decay).

The update is array code on the raw arrays, in place, through scratch arrays reused across
steps (see :class:`~tinygen.optim.Optimizer`).
"""

from __future__ import annotations

import math

from tinygen.backend import get_array_module
from tinygen.optim.optimizer import (
    _NON_NEGATIVE,
    Optimizer,
    _addcmul_,
    _descent,
    _moving_average_,
    _rms_step_,
    _torch_only_flags,
    elementwise,
)


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's bias correction:
    g = -g if maximize; g += wd p (or, decoupled, p *= 1 - lr wd);
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        betas: (b1, b2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient (or, decoupled, the shrink rate of
            the weights), >= 0.
        amsgrad: use the running maximum of v (Reddi et al.).
        maximize: ascend the objective instead.
        decoupled_weight_decay: shrink the weights directly, outside the moments (AdamW).
        foreach, fused, capturable: PyTorch's kernel choices, accepted and ignored.
        differentiable: must be False.
    """

    _RANGES = {"eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE}
    _FLAGS = ("amsgrad", "maximize", "decoupled_weight_decay")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad,
                                  "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _state_layout(self, group):
        arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
        return ("step",), arrays if group["amsgrad"] else arrays[:2]

    def _update(self, p, grad, state, group):
        xp = get_array_module(p)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        step, lr, weight_decay = state["step"], group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        decoupled = group["decoupled_weight_decay"]
        coupled_decay = 0.0 if decoupled else weight_decay
        # lr / c1 * m / (sqrt(v) / sqrt(c2) + eps) = (lr sqrt(c2) / c1) m / (sqrt(v) +
        # eps sqrt(c2)), c = 1 - b^t: two passes fewer than dividing out each correction
        root_c2 = math.sqrt(1 - beta2 ** step)
        elementwise(_adam_kernel, (
            p, grad, state["exp_avg"], state["exp_avg_sq"],
            state["max_exp_avg_sq"] if group["amsgrad"] else None, self._scratch(p),
            self._descent_scratch(p, group["maximize"], coupled_decay)),
            shrink=1 - lr * weight_decay if decoupled else 1.0, maximize=group["maximize"],
            weight_decay=coupled_decay, beta1=beta1, beta2=beta2,
            eps=group["eps"] * root_c2, step_size=lr * root_c2 / (1 - beta1 ** step))


def _adam_kernel(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, work, grad_work, *, shrink,
                 maximize, weight_decay, beta1, beta2, eps, step_size) -> None:
    """One Adam update of ``p`` in place (or of one block of rows of every array), with the
    bias corrections folded into ``eps`` and ``step_size``."""
    xp = get_array_module(p)
    if shrink != 1.0:  # AdamW: shrink the weights directly, outside the moments
        p *= shrink
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    _moving_average_(exp_avg, g, beta1, work)
    exp_avg_sq *= beta2
    _addcmul_(exp_avg_sq, g, 1 - beta2, work)
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        second = xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    _rms_step_(p, exp_avg, second, eps, step_size, work)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p *= 1 - lr wd before the
    Adam step, outside the moment estimates. Arguments as in Adam (weight_decay 0.01);
    ``decoupled_weight_decay`` is always True, as in PyTorch."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         differentiable=differentiable, decoupled_weight_decay=True)
