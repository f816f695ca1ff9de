"""StepLR, CosineAnnealingLR and LinearWarmup against their closed forms, step by step and
without torch (the other schedules are in test_lr_scheduler.py). Each expected lr is the
documented formula written out, for two groups with different base lrs."""

import math

import numpy as np

import tinygen.nn as nn
import tinygen.optim as optim

BASES = (0.5, 0.2)


def _sgd():
    return optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in BASES])


def _schedule(scheduler, steps):
    """Each group's lr at steps 0, 1, ..., steps - 1: (steps, groups)."""
    seen = []
    for _ in range(steps):
        seen.append(scheduler.get_last_lr())
        scheduler.step()
    return np.array(seen)


def _expected(factor, steps):
    return np.array([[base * factor(t) for base in BASES] for t in range(steps)])


def test_step_lr_multiplies_by_gamma_every_step_size_steps():
    lrs = _schedule(optim.StepLR(_sgd(), step_size=3, gamma=0.5), 10)

    # lr_t = base gamma^(t // step_size): 1, 1, 1, 1/2, 1/2, 1/2, 1/4, ...
    np.testing.assert_allclose(lrs, _expected(lambda t: 0.5 ** (t // 3), 10), rtol=1e-15)


def test_cosine_annealing_falls_from_the_base_lr_to_eta_min_over_t_max_steps():
    eta_min, t_max = 0.01, 8
    lrs = _schedule(optim.CosineAnnealingLR(_sgd(), T_max=t_max, eta_min=eta_min), t_max + 3)

    # lr_t = eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2, rising again past T_max
    expected = np.array([[eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2
                          for base in BASES] for t in range(t_max + 3)])
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    np.testing.assert_allclose(lrs[t_max], [eta_min, eta_min], rtol=1e-12)
    np.testing.assert_allclose(lrs[t_max // 2], [(b + eta_min) / 2 for b in BASES],
                               rtol=1e-12)


def test_linear_warmup_ramps_from_start_factor_to_the_base_lr_then_holds():
    lrs = _schedule(optim.LinearWarmup(_sgd(), warmup_steps=4, start_factor=0.2), 7)

    # factor_t = start + (1 - start) min(t / warmup, 1): 0.2, 0.4, 0.6, 0.8, 1, 1, 1
    np.testing.assert_allclose(
        lrs, _expected(lambda t: 0.2 + 0.8 * min(t / 4, 1.0), 7), rtol=1e-12)
