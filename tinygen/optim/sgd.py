"""SGD: stochastic gradient descent with momentum, Nesterov and weight decay.

The update is array code on the raw arrays, in place, through scratch arrays reused across
steps (see :class:`~tinygen.optim.Optimizer`).
"""

from __future__ import annotations

from tinygen.backend import get_array_module
from tinygen.optim.optimizer import (
    _NON_NEGATIVE,
    Optimizer,
    _descent,
    _torch_only_flags,
    elementwise,
)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and weight decay, in
    PyTorch's formulation: g = -g if maximize; g += wd p; v = mu v + (1 - dampening) g
    (v = g at the first step); p -= lr (g + mu v if nesterov else v).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        momentum: mu, >= 0 (0: plain SGD).
        dampening: scales the gradient's share of the momentum buffer, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead.
        foreach, fused: PyTorch's kernel choices, accepted and ignored.
        differentiable: must be False.
    """

    _RANGES = {"momentum": _NON_NEGATIVE, "dampening": _NON_NEGATIVE,
               "weight_decay": _NON_NEGATIVE}
    _FLAGS = ("nesterov", "maximize")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize})

    def _validate(self, group):
        super()._validate(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _state_layout(self, group):
        return (), ("momentum_buffer",) if group["momentum"] else ()

    def _update(self, p, grad, state, group):
        buffer, first = None, False
        if group["momentum"]:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = get_array_module(p).empty_like(p)
                first = True
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        elementwise(_sgd_kernel, (p, grad, buffer, self._scratch(p),
                                  self._descent_scratch(p, maximize, weight_decay)),
                    lr=group["lr"], momentum=group["momentum"],
                    dampening=group["dampening"], nesterov=group["nesterov"],
                    maximize=maximize, weight_decay=weight_decay, first=first)


def _sgd_kernel(p, grad, buffer, work, grad_work, *, lr, momentum, dampening, nesterov,
                maximize, weight_decay, first) -> None:
    """One SGD update of ``p`` in place (or of one block of rows of every array)."""
    xp = get_array_module(p)
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    if buffer is not None:
        if first:
            buffer[...] = g  # v = g at the first step, undamped, as PyTorch clones it
        else:
            buffer *= momentum
            if dampening:
                buffer += xp.multiply(g, 1 - dampening, out=work)
            else:
                buffer += g
        g = xp.add(g, xp.multiply(buffer, momentum, out=work), out=work) if nesterov else buffer
    p -= xp.multiply(g, lr, out=work)
