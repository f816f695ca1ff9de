"""Optimizer behaviour beyond parity: state round trips, errors, the mutation guard."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim


def _quadratic(param):
    return ((param - 3.0) ** 2).sum()


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop])
def test_each_optimizer_minimizes_a_quadratic(cls):
    param = nn.Parameter(np.zeros(4))
    optimizer = cls([param], lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        _quadratic(param).backward()
        optimizer.step()
    np.testing.assert_allclose(param.numpy(), 3.0, atol=0.05)


def test_state_dict_round_trip_continues_the_same_trajectory():
    first, second = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    opt_first = optim.Adam([first], lr=0.1)
    for _ in range(5):
        opt_first.zero_grad()
        _quadratic(first).backward()
        opt_first.step()
    second.data = first.data.copy()
    opt_second = optim.Adam([second], lr=0.5)
    opt_second.load_state_dict(opt_first.state_dict())
    assert opt_second.param_groups[0]["lr"] == 0.1
    for opt, param in ((opt_first, first), (opt_second, second)):
        opt.zero_grad()
        _quadratic(param).backward()
        opt.step()
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_load_state_dict_rejects_a_mismatched_optimizer():
    opt = optim.SGD([nn.Parameter(np.zeros(3))], lr=0.1, momentum=0.9)
    bigger = optim.SGD([nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="a group has 1 parameters, the saved one 2"):
        opt.load_state_dict(bigger.state_dict())


def test_bad_hyperparameters_are_named():
    param = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="lr must be >= 0, got -1"):
        optim.SGD([param], lr=-1)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0.0, 1.0\), got 1.5"):
        optim.Adam([param], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([param], lr=0.1, nesterov=True)


def test_optimizer_step_between_forward_and_backward_is_caught():
    layer = nn.Linear(3, 2)
    list(layer.named_parameters())  # names the parameters by module path
    optimizer = optim.SGD(layer.parameters(), lr=0.1)
    x = tg.randn(4, 3)
    loss = layer(x).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match=r"'view of weight'.*op MatMul.*modified in place"):
        loss.backward()


def test_param_groups_take_their_own_learning_rates():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    optimizer = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.1)
    (a + b).sum().backward()
    optimizer.step()
    np.testing.assert_allclose([a.item(), b.item()], [-1.0, -0.1])


def test_clip_grad_norm_scales_only_when_above_the_limit():
    param = nn.Parameter(np.zeros(2))
    param.grad = tg.tensor(np.array([3.0, 4.0]))
    assert optim.clip_grad_norm_([param], 10.0) == pytest.approx(5.0)
    np.testing.assert_allclose(param.grad.numpy(), [3.0, 4.0])
    optim.clip_grad_norm_([param], 1.0)
    np.testing.assert_allclose(np.linalg.norm(param.grad.numpy()), 1.0, rtol=1e-5)
