"""Learning-rate schedules against their closed forms, without torch: ExponentialLR,
MultiStepLR, LambdaLR per group, OneCycleLR (with momentum and beta1 cycling) and
ReduceLROnPlateau, and their state dicts."""

import math

import numpy as np
import pytest

import tinygen.nn as nn
import tinygen.optim as optim


def _sgd(*lrs, **kwargs):
    return optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in lrs],
                     **kwargs)


def _lrs(scheduler, steps):
    """The first lr of each step 0, 1, ..., steps - 1."""
    seen = []
    for _ in range(steps):
        seen.append(scheduler.get_last_lr()[0])
        scheduler.step()
    return seen


def test_exponential_lr_multiplies_by_gamma_every_step():
    scheduler = optim.ExponentialLR(_sgd(0.5, 0.2), gamma=0.9)
    for _ in range(7):
        scheduler.step()
    assert scheduler.last_epoch == 7
    np.testing.assert_allclose(scheduler.get_last_lr(), [0.5 * 0.9 ** 7, 0.2 * 0.9 ** 7],
                               rtol=1e-15)


def test_multistep_lr_decays_at_each_milestone_and_twice_at_a_repeated_one():
    scheduler = optim.MultiStepLR(_sgd(1.0), milestones=[6, 2, 6], gamma=0.5)
    assert _lrs(scheduler, 8) == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.125, 0.125]


def test_lambda_lr_takes_one_function_per_group():
    scheduler = optim.LambdaLR(_sgd(1.0, 2.0), [lambda t: 0.5 ** t, lambda t: t + 1])
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.25, 6.0]
    with pytest.raises(ValueError, match="LambdaLR: expected 2 values for lr_lambda"):
        optim.LambdaLR(_sgd(1.0, 2.0), [lambda t: 1.0])
    with pytest.raises(TypeError, match=r"LambdaLR: lr_lambda\[1\] must be callable, got int"):
        optim.LambdaLR(_sgd(1.0, 2.0), [lambda t: 1.0, 3])


def test_lambda_lr_state_dict_keeps_a_callable_objects_attributes():
    class Warmup:
        def __init__(self, length):
            self.length = length

        def __call__(self, step):
            return min(1.0, (step + 1) / self.length)

    scheduler = optim.LambdaLR(_sgd(1.0), Warmup(4))
    scheduler.step()
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"length": 4}]
    resumed = optim.LambdaLR(_sgd(1.0), Warmup(100))
    resumed.load_state_dict(state)
    assert resumed.lr_lambdas[0].length == 4 and resumed.get_last_lr() == [0.5]


def _one_cycle_reference(step, total, max_lr, pct_start=0.3, div=25.0, final_div=1e4):
    """Two-phase cosine 1cycle, from the paper's description: up to max_lr at
    pct_start * total - 1, then down to max_lr / div / final_div at total - 1."""
    initial, floor = max_lr / div, max_lr / div / final_div
    peak = pct_start * total - 1

    def cosine(start, end, fraction):
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    if step <= peak:
        return cosine(initial, max_lr, step / peak)
    return cosine(max_lr, floor, (step - peak) / (total - 1 - peak))


def test_one_cycle_lr_rises_to_max_lr_then_anneals_to_its_floor():
    optimizer = _sgd(0.1, momentum=0.9)
    scheduler = optim.OneCycleLR(optimizer, max_lr=2.0, total_steps=100)
    lrs = _lrs(scheduler, 100)
    np.testing.assert_allclose(lrs, [_one_cycle_reference(t, 100, 2.0) for t in range(100)],
                               rtol=1e-12)
    assert lrs[0] == pytest.approx(2.0 / 25) and lrs[29] == pytest.approx(2.0)
    assert lrs[99] == pytest.approx(2.0 / 25 / 1e4)
    group = optimizer.param_groups[0]
    assert (group["initial_lr"], group["max_lr"]) == (2.0 / 25, 2.0)


def test_one_cycle_lr_cycles_momentum_against_the_lr():
    optimizer = _sgd(0.1, momentum=0.9)
    scheduler = optim.OneCycleLR(optimizer, max_lr=1.0, total_steps=50, base_momentum=0.8,
                                 max_momentum=0.95)
    momenta = []
    for _ in range(50):
        momenta.append(optimizer.param_groups[0]["momentum"])
        scheduler.step()
    assert momenta[0] == pytest.approx(0.95) and momenta[14] == pytest.approx(0.8)
    assert momenta[49] == pytest.approx(0.95)
    assert np.all(np.diff(momenta[:15]) < 0) and np.all(np.diff(momenta[14:]) > 0)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW, optim.Adamax, optim.NAdam])
def test_one_cycle_lr_cycles_beta1_of_adam_like_optimizers(cls):
    optimizer = cls([nn.Parameter(np.zeros(1))], betas=(0.9, 0.97))
    scheduler = optim.OneCycleLR(optimizer, max_lr=0.01, total_steps=20, base_momentum=0.7,
                                 max_momentum=0.9, three_phase=True)
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.97)
    for _ in range(5):
        scheduler.step()
    beta1, beta2 = optimizer.param_groups[0]["betas"]
    assert beta1 == pytest.approx(0.7) and beta2 == 0.97  # the peak of phase one


def test_one_cycle_lr_linear_three_phase_returns_to_initial_lr_then_anneals():
    scheduler = optim.OneCycleLR(_sgd(0.1), max_lr=1.0, total_steps=21, pct_start=0.25,
                                 anneal_strategy="linear", three_phase=True,
                                 cycle_momentum=False, div_factor=10.0, final_div_factor=5.0)
    lrs = _lrs(scheduler, 21)
    # phases end at 0.25 * 21 - 1 = 4.25, 2 * 0.25 * 21 - 2 = 8.5 and 20
    np.testing.assert_allclose(lrs[:5], 0.1 + 0.9 * np.arange(5) / 4.25, rtol=1e-12)
    np.testing.assert_allclose(lrs[20], 0.1 / 5.0, rtol=1e-12)
    assert lrs[8] > 0.1 > lrs[9]


def test_one_cycle_lr_refuses_bad_arguments_and_stepping_past_the_cycle():
    with pytest.raises(ValueError, match="give total_steps, or both epochs and steps_per"):
        optim.OneCycleLR(_sgd(0.1), max_lr=1.0, epochs=3)
    with pytest.raises(ValueError, match="total_steps must be a positive int, got 0"):
        optim.OneCycleLR(_sgd(0.1), max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match=r"pct_start must be a float in \[0, 1\], got 1"):
        optim.OneCycleLR(_sgd(0.1), max_lr=1.0, total_steps=10, pct_start=1)
    with pytest.raises(ValueError, match="anneal_strategy must be 'cos' or 'linear'"):
        optim.OneCycleLR(_sgd(0.1), max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="expected 2 values for max_lr"):
        optim.OneCycleLR(_sgd(0.1, 0.2), max_lr=[1.0], total_steps=10)
    with pytest.raises(ValueError, match="Adagrad has neither"):
        optim.OneCycleLR(optim.Adagrad([nn.Parameter(np.zeros(1))]), max_lr=1.0,
                         total_steps=10)
    scheduler = optim.OneCycleLR(_sgd(0.1), max_lr=1.0, epochs=2, steps_per_epoch=3)
    for _ in range(6):
        scheduler.step()
    with pytest.raises(ValueError, match="stepped 7 times, but total_steps is 6"):
        scheduler.step()


def test_reduce_lr_on_plateau_waits_patience_bad_steps_then_cools_down():
    optimizer = _sgd(1.0, 0.5)
    scheduler = optim.ReduceLROnPlateau(optimizer, factor=0.5, patience=2, cooldown=1,
                                        min_lr=[0.0, 0.2])
    lrs = []
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]:
        scheduler.step(metric)
        lrs.append(scheduler.get_last_lr())
    # bad steps 1, 2, 3 > patience: halve; one cooldown step; then 3 bad steps again
    assert lrs == [[1.0, 0.5]] * 3 + [[0.5, 0.25]] * 4 + [[0.25, 0.2]] * 2


@pytest.mark.parametrize(("kwargs", "metrics"), [
    ({"mode": "min", "threshold": 0.1}, [1.0, 0.91, 0.89]),  # rel: better is < 0.9
    ({"mode": "min", "threshold": 0.05, "threshold_mode": "abs"}, [1.0, 0.96, 0.94]),
    ({"mode": "max", "threshold": 0.1}, [1.0, 1.09, 1.11]),  # rel: better is > 1.1
    ({"mode": "max", "threshold": 0.01, "threshold_mode": "abs"}, [1.0, 1.005, 1.02]),
])
def test_reduce_lr_on_plateau_counts_only_improvements_beyond_the_threshold(kwargs, metrics):
    scheduler = optim.ReduceLROnPlateau(_sgd(1.0), patience=0, **kwargs)
    lrs = []
    for metric in metrics:
        scheduler.step(metric)
        lrs.append(scheduler.get_last_lr()[0])
    # the second value improves too little: a bad step, beyond patience 0; the third is
    # far enough past the best (the first) to count
    assert lrs == [1.0, 0.1, 0.1]
    assert scheduler.best == metrics[2] and scheduler.num_bad_epochs == 0


def test_reduce_lr_on_plateau_skips_reductions_smaller_than_eps():
    scheduler = optim.ReduceLROnPlateau(_sgd(1e-6), patience=0, eps=1e-6)
    scheduler.step(1.0)
    scheduler.step(1.0)
    assert scheduler.get_last_lr() == [1e-6]


def test_reduce_lr_on_plateau_refuses_bad_arguments():
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be < 1.0, got 1.5"):
        optim.ReduceLROnPlateau(_sgd(1.0), factor=1.5)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'mean'"):
        optim.ReduceLROnPlateau(_sgd(1.0), mode="mean")
    with pytest.raises(ValueError, match="threshold_mode must be 'rel' or 'abs'"):
        optim.ReduceLROnPlateau(_sgd(1.0), threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 values for min_lr"):
        optim.ReduceLROnPlateau(_sgd(1.0, 1.0), min_lr=[0.1])


def test_reduce_lr_on_plateau_state_dict_resumes_its_counters():
    optimizer = _sgd(1.0)
    scheduler = optim.ReduceLROnPlateau(optimizer, patience=3, cooldown=2)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    for metric in metrics[:5]:
        scheduler.step(metric)
    resumed_optimizer = _sgd(1.0)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed = optim.ReduceLROnPlateau(resumed_optimizer)
    resumed.load_state_dict(scheduler.state_dict())
    for metric in metrics[5:]:
        scheduler.step(metric)
        resumed.step(metric)
        assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert resumed.state_dict() == scheduler.state_dict()


@pytest.mark.parametrize("make", [
    lambda opt: optim.ExponentialLR(opt, gamma=0.8),
    lambda opt: optim.MultiStepLR(opt, milestones=[2, 5]),
    lambda opt: optim.OneCycleLR(opt, max_lr=1.0, total_steps=20),
])
def test_schedule_state_dict_resumes_the_same_learning_rates(make):
    optimizer = _sgd(0.1, momentum=0.9)
    scheduler = make(optimizer)
    for _ in range(4):
        scheduler.step()
    resumed_optimizer = _sgd(0.1, momentum=0.9)
    resumed = make(resumed_optimizer)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(scheduler.state_dict())
    assert resumed.last_epoch == 4 and resumed.get_last_lr() == scheduler.get_last_lr()
    for _ in range(5):
        scheduler.step()
        resumed.step()
        assert resumed.get_last_lr() == scheduler.get_last_lr()


def test_schedules_refuse_bad_milestones_and_gammas():
    with pytest.raises(TypeError, match=r"MultiStepLR: milestones\[1\] must be an int, got 2.5"):
        optim.MultiStepLR(_sgd(1.0), milestones=[1, 2.5])
    with pytest.raises(ValueError, match="ExponentialLR: gamma must be >= 0, got -0.5"):
        optim.ExponentialLR(_sgd(1.0), gamma=-0.5)
