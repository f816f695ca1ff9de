"""Learning-rate schedules: call ``scheduler.step()`` once per epoch (or per step)."""

from __future__ import annotations

import math


class LRScheduler:
    """Sets each group's lr to ``base_lr * factor(step)``; subclasses define the factor."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def factor(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base_lr * self.factor(self.last_step, base_lr)

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self._apply()


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        return self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base lr to ``eta_min`` over ``T_max`` steps (closed form)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 - torch name
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        cosine = (1 + math.cos(math.pi * step / self.T_max)) / 2
        return (self.eta_min + (base_lr - self.eta_min) * cosine) / base_lr if base_lr else 0.0


class LinearWarmup(LRScheduler):
    """Ramp the lr linearly from ``start_factor * base_lr`` to ``base_lr`` over
    ``warmup_steps`` steps, then hold it."""

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"start_factor must be in [0, 1], got {start_factor}")
        self.warmup_steps, self.start_factor = warmup_steps, start_factor
        super().__init__(optimizer)

    def factor(self, step, base_lr):
        progress = min(step / self.warmup_steps, 1.0)
        return self.start_factor + (1.0 - self.start_factor) * progress
