"""Optimizers with per-coordinate step sizes beyond Adam: Adagrad, Adadelta, Adamax, NAdam.

Each follows torch.optim's update rule term for term (the same state names, the same order
of operations), so a run started in PyTorch continues here on the same trajectory. The
update is array code on the raw arrays, in place, through scratch arrays reused across
steps (see :class:`~tinygen.optim.Optimizer`). ``maximize=True`` ascends: the gradient's
sign is flipped before anything else.
"""

from __future__ import annotations

import numpy as np

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


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): each coordinate's step shrinks with the sum of its
    squared gradients. At step t (from 1):
    g = -g if maximize; g += wd p; lr_t = lr / (1 + (t - 1) lr_decay); s += g^2;
    p -= lr_t g / (sqrt(s) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        lr_decay: how fast the learning rate itself decays, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        initial_accumulator_value: the sum's starting value, >= 0. As in PyTorch, the
            constructor's value starts every parameter's sum, in every group.
        eps: added to the denominator, >= 0.
        foreach, fused: PyTorch's kernel choices, accepted and ignored.
        maximize: ascend the objective instead.
        differentiable: must be False.
    """

    _RANGES = {"lr_decay": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE,
               "initial_accumulator_value": _NON_NEGATIVE, "eps": _NON_NEGATIVE}
    _FLAGS = ("maximize",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "maximize": maximize})
        # PyTorch creates the state at construction, so a state_dict taken before the first
        # step already holds every parameter's (step 0, initial sum)
        for param in self._ordered_params():
            self._init_state(param.data, self.state.setdefault(id(param), {}))

    def _init_state(self, p, state: dict) -> None:
        state["step"] = 0
        state["sum"] = get_array_module(p).full_like(
            p, self.defaults["initial_accumulator_value"])

    def _state_layout(self, group):
        return (("step",), ("sum",))

    def _update(self, p, grad, state, group):
        if not state:  # a parameter of a group added after construction
            self._init_state(p, state)
        state["step"] += 1
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        elementwise(_adagrad_kernel, (p, grad, state["sum"], self._scratch(p),
                                      self._descent_scratch(p, maximize, weight_decay)),
                    lr=group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"]),
                    eps=group["eps"], maximize=maximize, weight_decay=weight_decay)


def _adagrad_kernel(p, grad, total, work, grad_work, *, lr, eps, maximize,
                    weight_decay) -> None:
    """One Adagrad update of ``p`` in place (or of one block of rows of every array), with
    the step's decayed learning rate ``lr``."""
    xp = get_array_module(p)
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    total += xp.multiply(g, g, out=work)
    _rms_step_(p, g, total, eps, lr, work)


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012): the step is the ratio of two running RMS values, of past
    updates and of past gradients, so it carries the parameter's units. At each step:
    g = -g if maximize; g += wd p; v = rho v + (1 - rho) g^2;
    d = sqrt(u + eps) / sqrt(v + eps) g; u = rho u + (1 - rho) d^2; p -= lr d.

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: scales the update d, >= 0 (1.0: Zeiler's rule unchanged).
        rho: the running averages' decay, in [0, 1].
        eps: added inside both square roots, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        foreach, capturable: PyTorch's kernel choices, accepted and ignored.
        maximize: ascend the objective instead.
        differentiable: must be False.
    """

    _RANGES = {"rho": (0.0, 1.0, True), "eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE}
    _FLAGS = ("maximize",)

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def _state_layout(self, group):
        return (("step",), ("square_avg", "acc_delta"))

    def _update(self, p, grad, state, group):
        xp = get_array_module(p)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)  # v
            state["acc_delta"] = xp.zeros_like(p)  # u
        state["step"] += 1
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        elementwise(_adadelta_kernel, (
            p, grad, state["square_avg"], state["acc_delta"], self._scratch(p),
            self._scratch(p, "other"), self._descent_scratch(p, maximize, weight_decay)),
            lr=group["lr"], rho=group["rho"], eps=group["eps"], maximize=maximize,
            weight_decay=weight_decay)


def _adadelta_kernel(p, grad, square_avg, acc_delta, work, other, grad_work, *, lr, rho, eps,
                     maximize, weight_decay) -> None:
    """One Adadelta update of ``p`` in place (or of one block of rows of every array)."""
    xp = get_array_module(p)
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    square_avg *= rho
    _addcmul_(square_avg, g, 1 - rho, work)
    # sqrt(u + eps) / sqrt(v + eps) as one square root of the ratio: a pass fewer
    delta = xp.add(acc_delta, eps, out=work)
    delta /= xp.add(square_avg, eps, out=other)
    delta = xp.sqrt(delta, out=work)
    delta *= g
    acc_delta *= rho
    _addcmul_(acc_delta, delta, 1 - rho, other)
    p -= delta if lr == 1 else xp.multiply(delta, lr, out=work)


class Adamax(Optimizer):
    """Adamax (Kingma and Ba, 2015, section 7.1): Adam with the infinity norm in place of
    the second moment. At step t (from 1):
    g = -g if maximize; g += wd p; m = b1 m + (1 - b1) g; u = max(b2 u, |g| + eps);
    p -= lr / (1 - b1^t) * m / u.

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        betas: (b1, b2), each in [0, 1).
        eps: added to |g| inside the maximum, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        foreach, capturable: PyTorch's kernel choices, accepted and ignored.
        maximize: ascend the objective instead.
        differentiable: must be False.
    """

    _RANGES = {"eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE}
    _FLAGS = ("maximize",)

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def _state_layout(self, group):
        return (("step",), ("exp_avg", "exp_inf"))

    def _update(self, p, grad, state, group):
        xp = get_array_module(p)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)  # m
            state["exp_inf"] = xp.zeros_like(p)  # u
        state["step"] += 1
        maximize, weight_decay = group["maximize"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        elementwise(_adamax_kernel, (
            p, grad, state["exp_avg"], state["exp_inf"], self._scratch(p),
            self._descent_scratch(p, maximize, weight_decay)),
            beta1=beta1, beta2=beta2, eps=group["eps"],
            step_size=group["lr"] / (1 - beta1 ** state["step"]), maximize=maximize,
            weight_decay=weight_decay)


def _adamax_kernel(p, grad, exp_avg, exp_inf, work, grad_work, *, beta1, beta2, eps,
                   step_size, maximize, weight_decay) -> None:
    """One Adamax update of ``p`` in place (or of one block of rows of every array)."""
    xp = get_array_module(p)
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    _moving_average_(exp_avg, g, beta1, work)
    exp_inf *= beta2
    bound = xp.abs(g, out=work)
    bound += eps
    xp.maximum(exp_inf, bound, out=exp_inf)
    update = xp.multiply(exp_avg, step_size, out=work)  # (lr_t m) / u, the rule's order
    update /= exp_inf
    p -= update


class NAdam(Optimizer):
    """NAdam (Dozat, 2016): Adam with Nesterov momentum, whose momentum coefficient warms up
    over the first steps. At step t (from 1):
    mu_t = b1 (1 - 0.96^(t psi) / 2), with psi = momentum_decay; M_t = mu_1 ... mu_t;
    g = -g if maximize; g += wd p (or, decoupled, p *= 1 - lr wd); m = b1 m + (1 - b1) g;
    v = b2 v + (1 - b2) g^2; d = sqrt(v / (1 - b2^t)) + eps;
    p -= lr (1 - mu_t) / (1 - M_t) g / d + lr mu_{t+1} / (1 - M_t mu_{t+1}) m / d.

    The product M_t is kept in float32, as PyTorch keeps it (a float32 scalar tensor under
    its default dtype), so that both follow the same trajectory.

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        betas: (b1, b2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: the weight decay, >= 0.
        momentum_decay: psi, how fast mu_t rises towards b1, >= 0.
        decoupled_weight_decay: shrink the weights directly (as AdamW) instead of adding
            the L2 penalty's gradient.
        foreach, capturable: PyTorch's kernel choices, accepted and ignored.
        maximize: ascend the objective instead.
        differentiable: must be False.
    """

    _RANGES = {"eps": _NON_NEGATIVE, "weight_decay": _NON_NEGATIVE,
               "momentum_decay": _NON_NEGATIVE}
    _FLAGS = ("decoupled_weight_decay", "maximize")

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        _torch_only_flags(self, differentiable)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    def _state_layout(self, group):
        return (("step", "mu_product"), ("exp_avg", "exp_avg_sq"))

    def _update(self, p, grad, state, group):
        xp = get_array_module(p)
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0  # M_t
            state["exp_avg"] = xp.zeros_like(p)  # m
            state["exp_avg_sq"] = xp.zeros_like(p)  # v
        state["step"] += 1
        step, lr, weight_decay = state["step"], group["lr"], group["weight_decay"]
        decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
        coupled_decay = 0.0 if decoupled else weight_decay
        beta1, beta2 = group["betas"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
        mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
        state["mu_product"] = mu_product
        elementwise(_nadam_kernel, (
            p, grad, state["exp_avg"], state["exp_avg_sq"], self._scratch(p),
            self._scratch(p, "other"), self._descent_scratch(p, maximize, coupled_decay)),
            shrink=1 - lr * weight_decay if decoupled else 1.0, maximize=maximize,
            weight_decay=coupled_decay, beta1=beta1, beta2=beta2, bias2=1 - beta2 ** step,
            eps=group["eps"], grad_scale=lr * (1.0 - mu) / (1.0 - mu_product),
            momentum_scale=lr * mu_next / (1.0 - mu_product * mu_next))


def _nadam_kernel(p, grad, exp_avg, exp_avg_sq, work, denominator, grad_work, *, shrink,
                  maximize, weight_decay, beta1, beta2, bias2, eps, grad_scale,
                  momentum_scale) -> None:
    """One NAdam update of ``p`` in place (or of one block of rows of every array), in the
    rule's order of operations: its two terms may nearly cancel, so each rounding shows."""
    xp = get_array_module(p)
    if shrink != 1.0:  # decoupled weight decay
        p *= shrink
    g = _descent(p, grad, grad_work, maximize, weight_decay)
    _moving_average_(exp_avg, g, beta1, work)
    exp_avg_sq *= beta2
    _addcmul_(exp_avg_sq, g, 1 - beta2, work)
    xp.divide(exp_avg_sq, bias2, out=denominator)
    xp.sqrt(denominator, out=denominator)
    denominator += eps
    for term, scale in ((g, grad_scale), (exp_avg, momentum_scale)):
        update = xp.multiply(term, scale, out=work)
        update /= denominator
        p -= update
