"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (or per step).

Each schedule except ReduceLROnPlateau is a closed form of the step count, so that
``state_dict()`` needs only the step and the base learning rates, and a resumed run lands on
the same lr. Names, arguments and the lr sequences follow ``torch.optim.lr_scheduler``.
"""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from tinygen.optim.schedule_arguments import (
    check_gamma,
    check_int,
    check_optimizer,
    check_real,
    check_state_dict,
    cycle_length,
    is_real,
    per_group,
)


class LRScheduler:
    """Sets each group's lr to ``get_lr()[i]`` at every step; subclasses define ``get_lr``
    from ``last_epoch`` and ``base_lrs``. Construction applies step 0, as PyTorch's
    schedulers do.

    Args:
        optimizer: anything with ``param_groups`` (a list of dicts with "lr").

    Attributes:
        base_lrs: each group's lr when the scheduler was made.
        last_epoch: how many times ``step()`` ran (PyTorch's name: it counts steps, or
            epochs when stepped once per epoch).
    """

    def __init__(self, optimizer):
        check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def get_lr(self) -> list[float]:
        """Each group's learning rate at step ``last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def _apply(self) -> None:
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr

    def step(self) -> None:
        """Advance one step and set the groups' learning rates for it."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group now."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """{"last_epoch": int, "base_lrs": [float, ...]}: plain data for a checkpoint."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the step and base rates, and set the groups' learning rates to match."""
        check_state_dict(self, state_dict, ("last_epoch", "base_lrs"))
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: "
                             f"{len(state_dict['base_lrs'])} base lrs for "
                             f"{len(self.optimizer.param_groups)} parameter groups")
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        self._apply()


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps: lr = base_lr gamma^(t // s).

    Args:
        optimizer: the optimizer whose groups' lr to set.
        step_size: steps between decays, >= 1.
        gamma: the decay factor, >= 0.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        check_int("StepLR", "step_size", step_size, 1)
        check_gamma("StepLR", gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone: lr = base_lr gamma^(number of
    milestones <= t). A milestone listed twice decays twice, as in PyTorch.

    Args:
        optimizer: the optimizer whose groups' lr to set.
        milestones: the steps at which to decay (ints, in any order).
        gamma: the decay factor, >= 0.
    """

    def __init__(self, optimizer, milestones: Iterable[int], gamma: float = 0.1):
        if isinstance(milestones, (str, Mapping)) or not isinstance(milestones, Iterable):
            raise TypeError(f"MultiStepLR: milestones must be a list of ints, got "
                            f"{type(milestones).__name__}")
        milestones = list(milestones)
        for index, milestone in enumerate(milestones):
            if isinstance(milestone, bool) or not isinstance(milestone, int):
                raise TypeError(f"MultiStepLR: milestones[{index}] must be an int, got "
                                f"{milestone!r}")
        check_gamma("MultiStepLR", gamma)
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(optimizer)

    def get_lr(self):
        passed = sum(count for milestone, count in self.milestones.items()
                     if milestone <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every step: lr = base_lr gamma^t.

    Args:
        optimizer: the optimizer whose groups' lr to set.
        gamma: the decay factor, >= 0.
    """

    def __init__(self, optimizer, gamma: float):
        check_gamma("ExponentialLR", gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base lr to ``eta_min`` over ``T_max`` steps:
    lr = eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 (rising again after
    T_max, as PyTorch's does).

    Args:
        optimizer: the optimizer whose groups' lr to set.
        T_max: steps from the base lr down to eta_min, >= 1.
        eta_min: the smallest lr.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 - torch name
        check_int("CosineAnnealingLR", "T_max", T_max, 1)
        check_real("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self):
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class LinearWarmup(LRScheduler):
    """Ramp the lr linearly from ``start_factor * base_lr`` to ``base_lr`` over
    ``warmup_steps`` steps, then hold it (torch's LinearLR with end_factor 1).

    Args:
        optimizer: the optimizer whose groups' lr to set.
        warmup_steps: steps to reach the base lr, >= 1.
        start_factor: the fraction of the base lr at step 0, in [0, 1].
    """

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0):
        check_int("LinearWarmup", "warmup_steps", warmup_steps, 1)
        check_real("LinearWarmup", "start_factor", start_factor)
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"LinearWarmup: start_factor must be in [0, 1], got "
                             f"{start_factor}")
        self.warmup_steps, self.start_factor = warmup_steps, start_factor
        super().__init__(optimizer)

    def get_lr(self):
        progress = min(self.last_epoch / self.warmup_steps, 1.0)
        factor = self.start_factor + (1.0 - self.start_factor) * progress
        return [base * factor for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(step), for any schedule, e.g. warmup then cosine::

        LambdaLR(opt, lambda t: min(1, t / 100) * (1 + math.cos(math.pi * t / 1000)) / 2)

    Args:
        optimizer: the optimizer whose groups' lr to set.
        lr_lambda: step -> factor, or a list of them, one per parameter group. A function
            is code, so it is not in the state dict: pass the same one when resuming (a
            callable object's attributes are saved, as PyTorch saves them).
    """

    def __init__(self, optimizer, lr_lambda: Callable[[int], float]
                 | list[Callable[[int], float]]):
        check_optimizer("LambdaLR", optimizer)
        lr_lambdas = per_group("LambdaLR", "lr_lambda", lr_lambda, optimizer,
                                numbers_only=False)
        for index, function in enumerate(lr_lambdas):
            if not callable(function):
                where = "" if len(lr_lambdas) == 1 else f"[{index}]"
                raise TypeError(f"LambdaLR: lr_lambda{where} must be callable, got "
                                f"{type(function).__name__}")
        self.lr_lambdas = lr_lambdas
        super().__init__(optimizer)

    def get_lr(self):
        lrs = []
        for function, base in zip(self.lr_lambdas, self.base_lrs, strict=True):
            factor = function(self.last_epoch)
            if not is_real(factor):
                raise TypeError(f"LambdaLR: lr_lambda({self.last_epoch}) must return a "
                                f"number, got {type(factor).__name__} {factor!r}")
            lrs.append(base * factor)
        return lrs

    def state_dict(self) -> dict:
        """The step, the base rates, and each lr_lambda's attributes if it is a callable
        object (None for a plain function)."""
        saved = [None if isinstance(function, types.FunctionType) else dict(vars(function))
                 for function in self.lr_lambdas]
        return {**super().state_dict(), "lr_lambdas": saved}

    def load_state_dict(self, state_dict: dict) -> None:
        check_state_dict(self, state_dict, ("last_epoch", "base_lrs"))
        saved = state_dict.get("lr_lambdas", ())
        if not isinstance(saved, (list, tuple)) or not all(
                attributes is None or isinstance(attributes, Mapping) for attributes in saved):
            raise TypeError(f"LambdaLR.load_state_dict: lr_lambdas must be a list of dicts "
                            f"or None, got {saved!r}")
        for function, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(function).update(attributes)
        super().load_state_dict(state_dict)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin, 2017): the lr rises from ``max_lr / div_factor``
    to ``max_lr`` over the first ``pct_start`` of ``total_steps``, then anneals to
    ``max_lr / div_factor / final_div_factor``; the momentum (SGD's ``momentum``, or Adam's
    beta1) moves the opposite way between ``max_momentum`` and ``base_momentum``. Step it
    after every batch. As in PyTorch, the groups gain "initial_lr", "max_lr", "min_lr"
    (and "max_momentum", "base_momentum") entries, and stepping past ``total_steps`` raises.

    Args:
        optimizer: the optimizer whose groups' lr (and momentum) to set.
        max_lr: the peak lr, or a list of them, one per group.
        total_steps: the steps in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs: with ``steps_per_epoch``, total_steps = epochs * steps_per_epoch.
        steps_per_epoch: see ``epochs``.
        pct_start: the fraction of the cycle spent raising the lr, a float in [0, 1].
        anneal_strategy: "cos" or "linear".
        cycle_momentum: also cycle the momentum (the optimizer needs "momentum" or
            "betas").
        base_momentum: the momentum at the lr's peak (float or list, one per group).
        max_momentum: the momentum at the cycle's ends (float or list, one per group).
        div_factor: initial_lr = max_lr / div_factor.
        final_div_factor: min_lr = initial_lr / final_div_factor.
        three_phase: rise, fall back to initial_lr symmetrically, then anneal to min_lr
            (the paper's schedule), instead of two phases (fastai's).
    """

    def __init__(self, optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False):
        check_optimizer("OneCycleLR", optimizer)
        self.total_steps = cycle_length(total_steps, epochs, steps_per_epoch)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got "
                             f"{pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            check_real("OneCycleLR", name, value)
            if not value > 0:
                raise ValueError(f"OneCycleLR: {name} must be > 0, got {value}")
        for name, value in (("cycle_momentum", cycle_momentum), ("three_phase", three_phase)):
            if not isinstance(value, bool):
                raise TypeError(f"OneCycleLR: {name} must be a bool, got {value!r}")
        self.anneal_strategy = anneal_strategy
        # (last step of the phase, lr key at its start, at its end, momentum keys likewise)
        rise_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._phases = [
                (rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"),
                (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                 "max_momentum"),
            ]
        else:
            self._phases = [
                (rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        starts = [0.0] + [phase[0] for phase in self._phases[:-1]]
        for index in (0, len(self._phases) - 1):  # the phases a step can reach empty
            if self._phases[index][0] == starts[index]:
                # PyTorch divides by the phase's length here (ZeroDivisionError)
                raise ValueError(f"OneCycleLR: pct_start={pct_start} with total_steps="
                                 f"{self.total_steps} leaves phase {index + 1} of the cycle "
                                 "without steps; change pct_start or total_steps")
        for group, peak in zip(optimizer.param_groups,
                               per_group("OneCycleLR", "max_lr", max_lr, optimizer)):
            group["initial_lr"] = peak / div_factor
            group["max_lr"] = peak
            group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            defaults = getattr(optimizer, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"OneCycleLR: cycle_momentum needs an optimizer with "
                                 f"'momentum' or 'betas', {type(optimizer).__name__} has "
                                 "neither (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in defaults
            highs = per_group("OneCycleLR", "max_momentum", max_momentum, optimizer)
            lows = per_group("OneCycleLR", "base_momentum", base_momentum, optimizer)
            for group, high, low in zip(optimizer.param_groups, highs, lows):
                self._set_momentum(group, high)
                group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer)
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def _set_momentum(self, group: dict, momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def get_lr(self):
        """The lr at step ``last_epoch``; cycling the momentum, it also sets that."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, but total_steps is "
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            phase_start = 0.0
            for index, (end, lr_from, lr_to, momentum_from, momentum_to) in enumerate(
                    self._phases):
                if step <= end or index == len(self._phases) - 1:
                    fraction = (step - phase_start) / (end - phase_start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], fraction))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(
                            group[momentum_from], group[momentum_to], fraction))
                    break
                phase_start = end
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` once a metric has stopped improving for more than
    ``patience`` steps: call ``step(metric)`` after each evaluation.

    A value counts as an improvement on the best so far when it is below
    ``best * (1 - threshold)`` (mode "min", threshold_mode "rel"), below
    ``best - threshold`` ("abs"), or above ``best * (1 + threshold)`` / ``best + threshold``
    in mode "max". After a reduction, ``cooldown`` steps pass before bad steps count again.
    A reduction smaller than ``eps`` is skipped.

    Args:
        optimizer: the optimizer whose groups' lr to reduce.
        mode: "min" (a loss) or "max" (an accuracy).
        factor: new_lr = lr * factor, < 1.
        patience: bad steps tolerated; the next one reduces the lr.
        threshold: how much better counts as better.
        threshold_mode: "rel" or "abs".
        cooldown: steps to wait after a reduction.
        min_lr: the floor, or a list of floors, one per group.
        eps: the smallest reduction applied.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0, eps: float = 1e-8):
        check_optimizer("ReduceLROnPlateau", optimizer)
        for name, value in (("factor", factor), ("threshold", threshold), ("eps", eps)):
            check_real("ReduceLROnPlateau", name, value)
        check_int("ReduceLROnPlateau", "patience", patience, 0)
        check_int("ReduceLROnPlateau", "cooldown", cooldown, 0)
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.min_lrs = per_group("ReduceLROnPlateau", "min_lr", min_lr, optimizer)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        super().__init__(optimizer)

    def get_lr(self):
        """The groups' current learning rates: only ``step(metrics)`` changes them."""
        return self.get_last_lr()

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < self.best * (1.0 - self.threshold)
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (self.threshold + 1.0)
        return value > self.best + self.threshold

    def step(self, metrics) -> None:
        """Record one evaluation of the metric and reduce the lr if it has plateaued.

        Args:
            metrics: the metric's value (a number or a one-element tensor).
        """
        try:
            value = float(metrics)
        except (TypeError, ValueError) as error:  # a str, None, a tensor of many elements
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number or a "
                            f"one-element tensor, got {type(metrics).__name__} "
                            f"{metrics!r}") from error
        self.last_epoch += 1
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _reduce(self) -> None:
        for group, floor in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    _STATE = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "eps", "min_lrs", "best", "num_bad_epochs", "cooldown_counter")

    def state_dict(self) -> dict:
        """The step, the settings, the best value and the counters."""
        return {**super().state_dict(), **{name: getattr(self, name) for name in self._STATE}}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the counters and settings; the groups' learning rates are the
        optimizer's to restore (they are in its state dict)."""
        check_state_dict(self, state_dict, ("last_epoch", "base_lrs", *self._STATE))
        for name in self._STATE:
            value = state_dict[name]
            setattr(self, name, list(value) if name == "min_lrs" else value)
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
