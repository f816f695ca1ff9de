"""Optimizers: SGD, Adam, AdamW, RMSprop.

``step()`` updates raw arrays under ``no_grad`` through Tensor's in-place methods, so each
update bumps the parameter's version: a graph still holding the old values then refuses to
backward (the engine's mutation guard) instead of giving wrong gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tinygen.autograd.grad_mode import enable_grad, no_grad
from tinygen.backend import device_of, get_array_module
from tinygen.nn.module import Parameter, zero_grads


class Optimizer:
    """Base class: parameter groups with their own hyperparameters, per-parameter state.

    Args:
        params: an iterable of Parameters (e.g. ``model.parameters()``), or of dicts
            ``{"params": [...], "lr": ...}``, one per group; a group's missing
            hyperparameters come from ``defaults``.
        defaults: the subclass's hyperparameters.

    Attributes:
        param_groups: a list of dicts, each with "params" and the group's hyperparameters
            (an lr scheduler changes ``group["lr"]``).
        state: id(parameter) -> that parameter's state ({name: array or number}).
    """

    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups: list[dict] = []
        for group in groups:
            self.add_param_group(group)
        self.state: dict = {}
        self._scratch_arrays: dict = {}  # (shape, dtype, device) -> work array; not state

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. a lower lr)."""
        group = {**self.defaults, **group, "params": list(group["params"])}
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for index, param in enumerate(group["params"]):
            if not isinstance(param, Parameter) and not getattr(param, "requires_grad", False):
                raise TypeError(f"{type(self).__name__}: params[{index}] must be a tensor that "
                                f"requires grad, got {type(param).__name__}")
            if id(param) in seen:
                # it would be updated twice per step
                raise ValueError(f"{type(self).__name__}: parameter {_label(param, index)} "
                                 "appears more than once in the parameter groups")
            seen.add(id(param))
        if not group["lr"] >= 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {group['lr']}")
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        """Subclasses check their own hyperparameters."""

    def _check_range(self, name: str, value, low: float, high: float = math.inf,
                     high_inclusive: bool = False) -> None:
        """Raise a ValueError naming the optimizer and ``name`` unless ``value`` lies in
        [low, high) (or [low, high])."""
        inside = low <= value <= high if high_inclusive else low <= value < high
        if not inside:
            bracket = "]" if high_inclusive else ")"
            raise ValueError(f"{type(self).__name__}: {name} must be in [{low}, {high}"
                             f"{bracket}, got {value}")

    def _scratch(self, like):
        """A work array shaped like ``like``, shared by every parameter of that shape (they
        are updated one after another) and reused across steps."""
        key = (like.shape, like.dtype.str, device_of(like))
        if key not in self._scratch_arrays:
            self._scratch_arrays[key] = get_array_module(like).empty_like(like)
        return self._scratch_arrays[key]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or zero it in place."""
        zero_grads(self._ordered_params(), set_to_none)

    def step(self, closure: Callable[[], object] | None = None):
        """Update every parameter that has a gradient, in place (bumping its version).

        Args:
            closure: as in PyTorch, a function that recomputes the loss (zeroing the
                gradients and calling backward); it runs with gradients enabled, before
                the update.

        Returns:
            What ``closure`` returned, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    state = self.state.setdefault(id(param), {})
                    self._update(param, param.grad.data, state, group)
        return loss

    def _update(self, param, grad, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def _ordered_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """Plain data: {"state": {index: {name: array | number}}, "param_groups": [...]}.

        Parameters are referred to by their position across the groups, as in PyTorch. The
        arrays are the live state (not copies), also as in PyTorch: a checkpoint writes them
        out at once; copy them to keep an in-memory snapshot.
        """
        index_of = {id(p): i for i, p in enumerate(self._ordered_params())}
        state = {index_of[key]: dict(value) for key, value in self.state.items()
                 if key in index_of}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` produced (also after a round trip through a
        checkpoint: string indices, NumPy arrays), checking that the parameters match.

        Raises:
            ValueError: a different number of groups or parameters, or wrongly shaped state.
        """
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"load_state_dict: expected keys 'state' and 'param_groups', "
                                 f"got {sorted(state_dict)}")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: expected {len(self.param_groups)} parameter "
                             f"groups, got {len(groups)}")
        params = self._ordered_params()
        for mine, saved in zip(self.param_groups, groups, strict=True):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(f"load_state_dict: a group has {len(mine['params'])} "
                                 f"parameters, the saved one {len(saved['params'])}")
            mine.update({k: _number(v) for k, v in saved.items() if k != "params"})
        self.state = {}
        for index, value in state_dict["state"].items():
            if not 0 <= int(index) < len(params):
                raise ValueError(f"load_state_dict: state for parameter {index}, but the "
                                 f"optimizer has {len(params)} parameters")
            param = params[int(index)]
            for name, array in value.items():
                if hasattr(array, "shape") and array.shape not in ((), param.shape):
                    raise ValueError(f"load_state_dict: state {name!r} of parameter {index} "
                                     f"has shape {array.shape}, expected {param.shape}")
            xp = get_array_module(param.data)
            self.state[id(param)] = {
                name: xp.array(array, dtype=param.dtype) if hasattr(array, "shape")
                and array.shape == param.shape else _number(array)
                for name, array in value.items()
            }


def _number(value):
    """A NumPy scalar or 0-d array as a Python number; tuples (betas) element by element."""
    if isinstance(value, tuple):
        return tuple(_number(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def _label(param, index: int) -> str:
    return repr(param.name) if param.name else f"params[{index}] of shape {param.shape}"




class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and weight decay, in
    PyTorch's formulation: g += wd p; v = mu v + (1 - dampening) g (v = g at the first step);
    p -= lr (g + mu v if nesterov else v).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        momentum: mu, >= 0 (0: plain SGD).
        dampening: scales the gradient's share of the momentum buffer.
        weight_decay: L2 penalty added to the gradient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _validate(self, group):
        self._check_range("momentum", group["momentum"], 0.0)
        self._check_range("weight_decay", group["weight_decay"], 0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")

    def _update(self, param, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        if group["momentum"]:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= group["momentum"]
                buffer += (1 - group["dampening"]) * grad
            grad = grad + group["momentum"] * buffer if group["nesterov"] else buffer
        param.sub_(group["lr"] * grad)


class Adam(Optimizer):
    """Adam (Kingma and Ba), with PyTorch's bias correction:
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        betas: (b1, b2), each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient (coupled; see AdamW), >= 0.
        amsgrad: use the running maximum of v (Reddi et al.).
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": amsgrad})

    def _validate(self, group):
        for index, beta in enumerate(group["betas"]):
            self._check_range(f"betas[{index}]", beta, 0.0, 1.0)
        self._check_range("eps", group["eps"], 0.0)
        self._check_range("weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        xp = get_array_module(grad)
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        step = state["step"]
        if group["weight_decay"]:
            if self.decoupled:  # AdamW: shrink the weights directly, outside the moments
                param.mul_(1 - group["lr"] * group["weight_decay"])
            else:
                grad = grad + group["weight_decay"] * param.data
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # every temporary goes through one scratch array of the parameter's size: a fresh
        # array per expression costs an allocation and its page faults, per parameter, per
        # step (measured at a third of an MLP VAE step's optimizer time)
        scratch = self._scratch(param.data)
        exp_avg *= beta1
        exp_avg += xp.multiply(grad, 1 - beta1, out=scratch)
        exp_avg_sq *= beta2
        xp.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq += scratch
        second = exp_avg_sq
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        bias1 = 1 - beta1 ** step
        bias2 = 1 - beta2 ** step
        denominator = xp.sqrt(second, out=scratch)  # sqrt(v) / sqrt(1 - b2^t) + eps
        denominator *= 1 / math.sqrt(bias2)
        denominator += group["eps"]
        update = xp.divide(exp_avg, denominator, out=scratch)  # lr / (1 - b1^t) * m / denom
        update *= group["lr"] / bias1
        param.sub_(update)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p -= lr * wd * p before the
    Adam step, outside the moment estimates. Arguments as in Adam (weight_decay 0.01)."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop in PyTorch's form: v = a v + (1 - a) g^2; p -= lr g / (sqrt(v) + eps).

    Args:
        params: parameters or parameter groups (see Optimizer).
        lr: the learning rate, >= 0.
        alpha: the smoothing constant a, in [0, 1].
        eps: added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        momentum: if > 0, a buffer b = mu b + g / (sqrt(v) + eps) and p -= lr b.
        centered: divide by an estimate of the variance, sqrt(v - mean(g)^2), instead.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def _validate(self, group):
        self._check_range("alpha", group["alpha"], 0.0, 1.0, high_inclusive=True)
        self._check_range("momentum", group["momentum"], 0.0)
        self._check_range("eps", group["eps"], 0.0)
        self._check_range("weight_decay", group["weight_decay"], 0.0)

    def _update(self, param, grad, state, group):
        xp = get_array_module(grad)
        if not state:
            state["square_avg"] = xp.zeros_like(param.data)
            if group["momentum"]:
                state["momentum_buffer"] = xp.zeros_like(param.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param.data)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * grad
            denominator = xp.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            denominator = xp.sqrt(square_avg) + group["eps"]
        if group["momentum"]:
            buffer = state["momentum_buffer"]
            buffer *= group["momentum"]
            buffer += grad / denominator
            param.sub_(group["lr"] * buffer)
        else:
            param.sub_(group["lr"] * grad / denominator)
