"""Batch norm's running statistics follow PyTorch's written update over several training
steps from a nonzero start: r = (1 - momentum) r + momentum * s, with s the batch mean and
the unbiased batch variance per channel. (From a zero mean and a unit variance, a swapped
momentum and 1 - momentum can pass unseen.)"""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (2, 3, 2, 3)])
def test_running_stats_follow_the_momentum_rule_from_a_nonzero_start(shape):
    rng = np.random.default_rng(0)
    momentum = 0.3
    running_mean, running_var = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    axes = (0,) + tuple(range(2, len(shape)))
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        F.batch_norm(tg.tensor(x), running_mean, running_var, training=True,
                     momentum=momentum)

        count = x.size // shape[1]
        batch_var = x.var(axis=axes) * count / (count - 1)  # unbiased
        expected_mean = (1 - momentum) * expected_mean + momentum * x.mean(axis=axes)
        expected_var = (1 - momentum) * expected_var + momentum * batch_var
        np.testing.assert_allclose(running_mean, expected_mean, rtol=1e-12)
        np.testing.assert_allclose(running_var, expected_var, rtol=1e-12)


def test_eval_mode_leaves_the_running_stats_unchanged():
    running_mean, running_var = np.array([1.0, -2.0]), np.array([2.0, 0.5])
    F.batch_norm(tg.tensor(np.ones((4, 2))), running_mean, running_var, training=False)

    np.testing.assert_array_equal(running_mean, [1.0, -2.0])
    np.testing.assert_array_equal(running_var, [2.0, 0.5])
