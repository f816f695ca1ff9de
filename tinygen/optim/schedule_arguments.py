"""Argument checks shared by the learning-rate schedules: each refuses a malformed value
with an error naming the schedule, the argument, the expected and the actual value."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from tinygen.optim.optimizer import Optimizer


def check_optimizer(owner: str, optimizer) -> None:
    """``optimizer`` a tinygen Optimizer (the schedule sets its groups' lr): TypeError."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: optimizer must be a tinygen.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")


def check_state_dict(scheduler, state_dict, keys) -> None:
    """A scheduler's saved state: a dict holding ``keys``, its counters numbers and its
    base rates one per group."""
    where = f"{type(scheduler).__name__}.load_state_dict"
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
    missing = [key for key in keys if key not in state_dict]
    if missing:
        raise ValueError(f"{where}: the state dict lacks {missing}")
    check_int(where, "last_epoch", state_dict["last_epoch"], 0)
    base_lrs = state_dict["base_lrs"]
    if not isinstance(base_lrs, (list, tuple)) or not all(
            is_real(lr) for lr in base_lrs):
        raise TypeError(f"{where}: base_lrs must be a list of numbers, got {base_lrs!r}")


def is_real(value) -> bool:
    """Whether ``value`` is a real number (a bool is not one here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_real(owner: str, name: str, value) -> None:
    """``value`` a real number: TypeError naming ``owner`` and ``name`` otherwise."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number, got "
                        f"{type(value).__name__} {value!r}")


def check_int(owner: str, name: str, value, minimum: int) -> None:
    """``value`` an int (not a bool) >= ``minimum``: TypeError, then ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} "
                        f"{value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")


def per_group(owner: str, name: str, value, optimizer, numbers_only: bool = True) -> list:
    """``value`` once per parameter group: a list or tuple is checked for its length, a
    single value is repeated (PyTorch's rule for max_lr, min_lr and the momenta); each entry
    must be a real number unless ``numbers_only`` is False."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{owner}: expected {count} values for {name}, one per "
                             f"parameter group, got {len(value)}")
        values = list(value)
        names = [f"{name}[{index}]" for index in range(count)]
    else:
        values, names = [value] * count, [name] * count
    if numbers_only:
        for entry_name, entry in zip(names, values, strict=True):
            check_real(owner, entry_name, entry)
    return values


def check_gamma(owner: str, gamma: float) -> None:
    """A decay factor: a real number >= 0 (TypeError, then ValueError)."""
    check_real(owner, "gamma", gamma)
    if not gamma >= 0:
        raise ValueError(f"{owner}: gamma must be >= 0, got {gamma}")


def cycle_length(total_steps, epochs, steps_per_epoch) -> int:
    """OneCycleLR's cycle length, from total_steps or else epochs * steps_per_epoch."""
    def positive_int(name, value):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"OneCycleLR: {name} must be a positive int, got {value!r}")
        return value

    if total_steps is not None:
        return positive_int("total_steps", total_steps)
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    return positive_int("epochs", epochs) * positive_int("steps_per_epoch", steps_per_epoch)
