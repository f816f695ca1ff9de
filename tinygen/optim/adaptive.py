"""Optimizers with per-coordinate step sizes beyond Adam: Adagrad, Adadelta, Adamax, NAdam.

Each follows torch.optim's update rule term for term (the same state names, the same order
of operations), so a run started in PyTorch continues here on the same trajectory. The
update happens on raw arrays under ``no_grad`` (see :class:`~tinygen.optim.Optimizer`).
``maximize=True`` ascends: the gradient's sign is flipped before anything else.
"""

from __future__ import annotations

import numpy as np

from tinygen.backend import get_array_module
from tinygen.optim.optimizer import Optimizer


def _signed(grad, group: dict):
    """The gradient to descend: ``-grad`` when the group maximizes."""
    return -grad if group["maximize"] else grad


def _moving_average_(average, value, weight: float) -> None:
    """average += weight (value - average) in place: torch's ``lerp_(value, weight)``."""
    average += weight * (value - average)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): each coordinate's step shrinks with the sum of its
    squared gradients. At step t (from 1):
    g += wd p; lr_t = lr / (1 + (t - 1) lr_decay); s += g^2; p -= lr_t g / (sqrt(s) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        lr_decay: how fast the learning rate itself decays, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        initial_accumulator_value: the sum's starting value, >= 0. As in PyTorch, the
            constructor's value starts every parameter's sum, in every group.
        eps: added to the denominator, >= 0.
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "maximize": maximize})
        # PyTorch creates the state at construction, so a state_dict taken before the first
        # step already holds every parameter's (step 0, initial sum)
        for param in self._ordered_params():
            self._init_state(param, self.state.setdefault(id(param), {}))

    def _validate(self, group):
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check_range(name, group[name], 0.0)

    def _init_state(self, param, state: dict) -> None:
        state["step"] = 0
        state["sum"] = get_array_module(param.data).full_like(
            param.data, self.defaults["initial_accumulator_value"])

    def _update(self, param, grad, state, group):
        if not state:  # a parameter of a group added after construction
            self._init_state(param, state)
        state["step"] += 1
        grad = _signed(grad, group)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        xp = get_array_module(grad)
        state["sum"] += grad * grad
        denominator = xp.sqrt(state["sum"])
        denominator += group["eps"]
        param.sub_(lr * grad / denominator)


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012): the step is the ratio of two running RMS values, of past
    updates and of past gradients, so it carries the parameter's units. At each step:
    g += wd p; v = rho v + (1 - rho) g^2; d = sqrt(u + eps) / sqrt(v + eps) g;
    u = rho u + (1 - rho) d^2; p -= lr d.

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: scales the update d, >= 0 (1.0: Zeiler's rule unchanged).
        rho: the running averages' decay, in [0, 1].
        eps: added inside both square roots, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def _validate(self, group):
        self._check_range("rho", group["rho"], 0.0, 1.0, high_inclusive=True)
        self._check_range("eps", group["eps"], 0.0)
        self._check_range("weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        xp = get_array_module(grad)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)  # v
            state["acc_delta"] = xp.zeros_like(param.data)  # u
        state["step"] += 1
        grad = _signed(grad, group)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        rho, eps = group["rho"], group["eps"]
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * grad * grad
        delta = xp.sqrt(acc_delta + eps)
        delta /= xp.sqrt(square_avg + eps)
        delta *= grad
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param.add_(delta, alpha=-group["lr"])


class Adamax(Optimizer):
    """Adamax (Kingma and Ba, 2015, section 7.1): Adam with the infinity norm in place of
    the second moment. At step t (from 1):
    g += wd p; m = b1 m + (1 - b1) g; u = max(b2 u, |g| + eps);
    p -= lr / (1 - b1^t) * m / u.

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        betas: (b1, b2), each in [0, 1).
        eps: added to |g| inside the maximum, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})

    def _validate(self, group):
        for index, beta in enumerate(group["betas"]):
            self._check_range(f"betas[{index}]", beta, 0.0, 1.0)
        self._check_range("eps", group["eps"], 0.0)
        self._check_range("weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        xp = get_array_module(grad)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)  # m
            state["exp_inf"] = xp.zeros_like(param.data)  # u
        state["step"] += 1
        grad = _signed(grad, group)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        beta1, beta2 = group["betas"]
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        _moving_average_(exp_avg, grad, 1 - beta1)
        exp_inf *= beta2
        xp.maximum(exp_inf, xp.abs(grad) + group["eps"], out=exp_inf)
        lr = group["lr"] / (1 - beta1 ** state["step"])
        param.sub_(lr * exp_avg / exp_inf)


class NAdam(Optimizer):
    """NAdam (Dozat, 2016): Adam with Nesterov momentum, whose momentum coefficient warms up
    over the first steps. At step t (from 1):
    mu_t = b1 (1 - 0.96^(t psi) / 2), with psi = momentum_decay; M_t = mu_1 ... mu_t;
    g += wd p (or, decoupled, p *= 1 - lr wd); m = b1 m + (1 - b1) g;
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
        maximize: ascend the objective instead.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    def _validate(self, group):
        for index, beta in enumerate(group["betas"]):
            self._check_range(f"betas[{index}]", beta, 0.0, 1.0)
        for name in ("eps", "weight_decay", "momentum_decay"):
            self._check_range(name, group[name], 0.0)

    def _update(self, param, grad, state, group):
        xp = get_array_module(grad)
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0  # M_t
            state["exp_avg"] = xp.zeros_like(param.data)  # m
            state["exp_avg_sq"] = xp.zeros_like(param.data)  # v
        state["step"] += 1
        step = state["step"]
        grad = _signed(grad, group)
        lr, weight_decay = group["lr"], group["weight_decay"]
        if weight_decay:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * param.data
        beta1, beta2 = group["betas"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
        mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
        state["mu_product"] = mu_product
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _moving_average_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        denominator = xp.sqrt(exp_avg_sq / (1 - beta2 ** step))
        denominator += group["eps"]
        param.sub_(lr * (1.0 - mu) / (1.0 - mu_product) * grad / denominator)
        param.sub_(lr * mu_next / (1.0 - mu_product * mu_next) * exp_avg / denominator)
