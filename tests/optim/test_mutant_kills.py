"""Tests that kill mutants of tools/mutants.py the rest of the suite let survive (see
docs/MUTATION.md): each names the mutant and checks the behaviour it breaks. torch-free,
as ``make test`` installs the suite."""

import numpy as np
import pytest

import tinygen as tg
from tinygen import optim
from tinygen.optim import lr_scheduler


def _optimizer():
    return optim.SGD([tg.tensor(np.zeros(2), requires_grad=True)], lr=0.1)


@pytest.mark.parametrize(("schedule", "kwargs", "name"), [
    (lr_scheduler.StepLR, {"step_size": 1, "gamma": True}, "gamma"),
    (lr_scheduler.ExponentialLR, {"gamma": False}, "gamma"),
    (lr_scheduler.CosineAnnealingLR, {"T_max": 3, "eta_min": True}, "eta_min"),
    (lr_scheduler.ReduceLROnPlateau, {"min_lr": True}, "min_lr"),
])
def test_a_schedule_refuses_a_bool_where_it_takes_a_real_number(schedule, kwargs, name):
    # kills optim.schedule-bool: a bool is a numbers.Real to Python, never a rate or factor
    expected = f"{schedule.__name__}: {name} must be a real number, got bool"

    with pytest.raises(TypeError, match=expected):
        schedule(_optimizer(), **kwargs)
