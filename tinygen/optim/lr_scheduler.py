"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (or per step).

Each schedule is a closed-form factor of the step count, so that ``state_dict()`` needs only
the step and the base learning rates, and a resumed run lands on the same lr.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class LRScheduler:
    """Sets each group's lr to ``base_lr * factor(step, base_lr)``; subclasses define the
    factor. Construction applies step 0, as PyTorch's schedulers do.

    Args:
        optimizer: anything with ``param_groups`` (a list of dicts with "lr").

    Attributes:
        base_lrs: each group's lr when the scheduler was made.
        last_step: how many times ``step()`` ran.
    """

    def __init__(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"{type(self).__name__}: expected an optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def factor(self, step: int, base_lr: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define factor()")

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base_lr * self.factor(self.last_step, base_lr)

    def step(self) -> None:
        """Advance one step and set the groups' learning rates for it."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group now."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """{"last_step": int, "base_lrs": [float, ...]}: plain data for a checkpoint."""
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        """Restore the step and base rates, and set the groups' learning rates to match."""
        if len(state["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"load_state_dict: {len(state['base_lrs'])} base lrs for "
                             f"{len(self.optimizer.param_groups)} parameter groups")
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self._apply()


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps: lr = base_lr gamma^(t // s).

    Args:
        optimizer: the optimizer whose groups' lr to set.
        step_size: steps between decays, >= 1.
        gamma: the decay factor, >= 0.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        if not gamma >= 0:
            raise ValueError(f"StepLR: gamma must be >= 0, got {gamma}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        return self.gamma ** (step // self.step_size)


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
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        cosine = (1 + math.cos(math.pi * step / self.T_max)) / 2
        return (self.eta_min + (base_lr - self.eta_min) * cosine) / base_lr if base_lr else 0.0


class LinearWarmup(LRScheduler):
    """Ramp the lr linearly from ``start_factor * base_lr`` to ``base_lr`` over
    ``warmup_steps`` steps, then hold it (torch's LinearLR with end_factor 1).

    Args:
        optimizer: the optimizer whose groups' lr to set.
        warmup_steps: steps to reach the base lr, >= 1.
        start_factor: the fraction of the base lr at step 0, in [0, 1].
    """

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0):
        if warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"LinearWarmup: start_factor must be in [0, 1], got "
                             f"{start_factor}")
        self.warmup_steps, self.start_factor = warmup_steps, start_factor
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        progress = min(step / self.warmup_steps, 1.0)
        return self.start_factor + (1.0 - self.start_factor) * progress


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(step), for any schedule, e.g. warmup then cosine::

        LambdaLR(opt, lambda t: min(1, t / 100) * (1 + math.cos(math.pi * t / 1000)) / 2)

    Args:
        optimizer: the optimizer whose groups' lr to set.
        lr_lambda: step -> factor. It is code, so it is not in the state dict: pass the
            same function when resuming.
    """

    def __init__(self, optimizer, lr_lambda: Callable[[int], float]):
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be callable, got "
                            f"{type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        return self.lr_lambda(step)
