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


class ConvNet(nn.Module):
    def __init__(self):
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_optimizer_step_between_forward_and_backward_names_the_op_and_parameter(cls):
    model = ConvNet()
    optimizer = cls(model.parameters(), lr=0.1)  # parameters() names them by module path
    loss = model(tg.randn(2, 1, 4, 4)).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    # Linear and Conv2d each save the weight itself
    with pytest.raises(RuntimeError, match=r"'fc.weight' saved for backward by op "
                                           r"Linear was modified in place"):
        loss.backward()
    optimizer.zero_grad()
    loss = model(tg.randn(2, 1, 4, 4)).sum()
    model.conv.weight.grad = tg.ones(*model.conv.weight.shape)
    optimizer.step()  # only conv.weight has a gradient, so only it changes
    with pytest.raises(RuntimeError, match=r"'conv.weight' saved for backward by op Conv2d"):
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


def test_state_dict_survives_a_checkpoint_file(tmp_path):
    from tinygen.train.checkpoint import load_state, save_state

    params = [nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros((2, 2)))]
    optimizer = optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}],
                           lr=0.1, amsgrad=True)
    for param in params:
        param.grad = tg.ones(*param.shape, dtype=np.float64)
    optimizer.step()
    save_state(tmp_path / "opt.npz", optimizer.state_dict())
    fresh = [nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros((2, 2)))]
    restored = optim.Adam([{"params": fresh[:1]}, {"params": fresh[1:]}], lr=0.1, amsgrad=True)
    restored.load_state_dict(load_state(tmp_path / "opt.npz"))
    assert restored.param_groups[1]["lr"] == 0.5 and restored.param_groups[0]["betas"] == (
        0.9, 0.999)
    saved = optimizer.state_dict()["state"]
    for index, param in enumerate(fresh):
        state = restored.state[id(param)]
        assert state["step"] == 1
        np.testing.assert_array_equal(state["max_exp_avg_sq"], saved[index]["max_exp_avg_sq"])


def test_duplicate_parameters_are_rejected():
    layer = nn.Linear(2, 2)
    list(layer.named_parameters())
    with pytest.raises(ValueError, match="parameter 'weight' appears more than once"):
        optim.SGD([{"params": [layer.weight]}, {"params": layer.parameters()}], lr=0.1)


def test_zero_grad_can_keep_zeroed_gradients():
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([param], lr=0.1)
    (param * param).sum().backward()
    grad = param.grad
    optimizer.zero_grad(set_to_none=False)
    assert param.grad is grad and not grad.numpy().any()
    optimizer.zero_grad()
    assert param.grad is None


def test_scheduler_state_dict_resumes_the_same_learning_rates():
    def make():
        optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
        return optimizer, optim.CosineAnnealingLR(optimizer, T_max=10)

    optimizer, scheduler = make()
    for _ in range(4):
        scheduler.step()
    resumed_optimizer, resumed = make()
    resumed.load_state_dict(scheduler.state_dict())
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    scheduler.step()
    resumed.step()
    assert resumed.get_last_lr() == scheduler.get_last_lr()


def test_lambda_lr_composes_warmup_and_decay():
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    scheduler = optim.LambdaLR(optimizer, lambda t: min(1.0, (t + 1) / 4) * 0.5 ** (t // 10))
    lrs = []
    for _ in range(12):
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0] and lrs[10] == 0.5


def test_schedules_and_clipping_reject_bad_arguments():
    optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be >= 1, got 0"):
        optim.StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="LinearWarmup: start_factor must be in"):
        optim.LinearWarmup(optimizer, 5, start_factor=2.0)
    with pytest.raises(TypeError, match="StepLR: optimizer must be a tinygen.optim.Optimizer, "
                                        "got list"):
        optim.StepLR([], step_size=1)
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        optim.clip_grad_norm_([], 0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0.0, 1.0\], got 1.5"):
        optim.RMSprop(optimizer.param_groups[0]["params"], alpha=1.5)
