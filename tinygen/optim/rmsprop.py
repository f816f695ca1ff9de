"""RMSprop: the step divided by a running RMS of the gradient.

The update is array code on the raw arrays, in place, through scratch arrays reused across
steps (see :class:`~tinygen.optim.Optimizer`).
"""

from __future__ import annotations

from tinygen.backend import get_array_module
from tinygen.optim.optimizer import (
    _NON_NEGATIVE,
    Optimizer,
    _addcmul_,
    _descent,
    _moving_average_,
    _torch_only_flags,
    elementwise,
)


class RMSprop(Optimizer):
    """RMSprop in PyTorch's form: g = -g if maximize; g += wd p; v = a v + (1 - a) g^2;
    p -= lr g / (sqrt(v) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        alpha: the smoothing constant a, in [0, 1].
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        momentum: if > 0, a buffer b = mu b + g / (sqrt(v) + eps) and p -= lr b.
        centered: divide by an estimate of the variance, sqrt(v - mean(g)^2), instead.
        capturable, foreach: PyTorch's kernel choices, accepted and ignored.
        maximize: ascend the objective instead.
        differentiable: must be False.
    """

    _RANGES = {"alpha": (0.0, 1.0, True), "momentum": _NON_NEGATIVE,
               "eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE}
    _FLAGS = ("centered", "maximize")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered, "maximize": maximize})

    def _state_layout(self, group):
        arrays = ("square_avg",) + ("momentum_buffer",) * bool(group["momentum"]) + (
            "grad_avg",) * bool(group["centered"])
        return (), arrays  # "step" may be absent: tinygen's older checkpoints lack it

    def _update(self, p, grad, state, group):
        xp = get_array_module(p)
        if not state:
            state["square_avg"] = xp.zeros_like(p)
        # a buffer the group's options need and the state lacks (an option switched on
        # mid-run) starts at zero, as the first step's would
        for name, needed in (("momentum_buffer", group["momentum"]),
                             ("grad_avg", group["centered"])):
            if needed and name not in state:
                state[name] = xp.zeros_like(p)
        state["step"] = state.get("step", 0) + 1  # absent from tinygen's older checkpoints
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        elementwise(_rmsprop_kernel, (
            p, grad, state["square_avg"], state["grad_avg"] if group["centered"] else None,
            state["momentum_buffer"] if group["momentum"] else None, self._scratch(p),
            self._scratch(p, "other") if group["centered"] and not group["momentum"] else None,
            self._descent_scratch(p, maximize, weight_decay)),
            lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            momentum=group["momentum"], maximize=maximize, weight_decay=weight_decay)


def _rmsprop_kernel(p, grad, square_avg, grad_avg, buffer, work, other, grad_work, *, lr,
                    alpha, eps, momentum, maximize, weight_decay) -> None:
    """One RMSprop update of ``p`` in place (or of one block of rows of every array)."""
    xp = get_array_module(p)
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    square_avg *= alpha
    _addcmul_(square_avg, g, 1 - alpha, work)
    if grad_avg is not None:
        # b = a b + (1 - a) g as written (torch lerps): v - b^2 cancels almost entirely when
        # a is small, and this form keeps the documented rule's roundings there
        _moving_average_(grad_avg, g, alpha, work)
        average = xp.subtract(square_avg, xp.multiply(grad_avg, grad_avg, out=work),
                              out=work)
        average = xp.sqrt(average, out=work)
    else:
        average = xp.sqrt(square_avg, out=work)
    average += eps
    if buffer is not None:
        buffer *= momentum
        buffer += xp.divide(g, average, out=work)
        update = xp.multiply(buffer, lr, out=work)
    elif other is not None:  # centered: (lr g) / d in the written rule's order, for d
        update = xp.multiply(g, lr, out=other)  # may nearly vanish (v - b^2 cancels)
        update /= average
    else:  # (g / d) lr: one array fewer in the cache, and d is at least sqrt(v)
        update = xp.divide(g, average, out=work)
        update *= lr
    p -= update
