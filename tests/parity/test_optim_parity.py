"""Optimizers, schedules and clipping follow torch.optim's trajectory step for step."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
]


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((5, 3)), rng.standard_normal((8, 3)), rng.standard_normal((8, 5))


def _loss_tinygen(w, x, y):
    return ((tg.tensor(x) @ w.T - tg.tensor(y)) ** 2).mean() + (w * w * w).sum() * 0.01


def _loss_torch(w, x, y):
    return ((torch.tensor(x) @ w.T - torch.tensor(y)) ** 2).mean() + (w * w * w).sum() * 0.01


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_optimizer_follows_torch_for_20_steps(name, kwargs):
    w0, x, y = _problem()
    ours = nn.Parameter(w0.copy())
    theirs = torch.tensor(w0.copy(), requires_grad=True)
    ours_opt = getattr(optim, name)([ours], **kwargs)
    theirs_opt = getattr(torch.optim, name)([theirs], **kwargs)
    for _ in range(20):
        ours_opt.zero_grad()
        _loss_tinygen(ours, x, y).backward()
        ours_opt.step()
        theirs_opt.zero_grad()
        _loss_torch(theirs, x, y).backward()
        theirs_opt.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("ours_cls", "theirs_cls", "kwargs"), [
    ("StepLR", "StepLR", {"step_size": 3, "gamma": 0.5}),
    ("CosineAnnealingLR", "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("LinearWarmup", "LinearLR", {}),
])
def test_schedules_match_torch(ours_cls, theirs_cls, kwargs):
    ours_opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    if ours_cls == "LinearWarmup":
        ours = optim.LinearWarmup(ours_opt, warmup_steps=5, start_factor=0.2)
        theirs = torch.optim.lr_scheduler.LinearLR(theirs_opt, start_factor=0.2,
                                                   end_factor=1.0, total_iters=5)
    else:
        ours = getattr(optim, ours_cls)(ours_opt, **kwargs)
        theirs = getattr(torch.optim.lr_scheduler, theirs_cls)(theirs_opt, **kwargs)
    for _ in range(12):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        theirs_opt.step()
        ours.step()
        theirs.step()


@pytest.mark.parametrize(("max_norm", "norm_type"), [(1.5, 2.0), (100.0, 2.0), (0.5, 1.0),
                                                  (0.7, float("inf"))])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ours, theirs, grads, strict=True):
        p.grad = tg.tensor(g.copy())
        t.grad = torch.tensor(g.copy())
    total = optim.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert abs(total - expected.item()) < 1e-12
    for p, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99)}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9, "centered": True}),
])
def test_training_a_model_with_param_groups_and_clipping_follows_torch(name, kwargs):
    """A two-layer net with a second, slower group for its head, clipped every step and
    stepped down by a schedule: every parameter follows torch for 20 steps."""
    torch_model = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(),
                                      torch.nn.Linear(6, 2)).double()
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})
    _, x, y = _problem(1)
    y = y[:, :2]

    def groups(net):
        return [{"params": list(net[0].parameters())},
                {"params": list(net[2].parameters()), "lr": kwargs["lr"] / 2}]

    ours_opt = getattr(optim, name)(groups(model), **kwargs)
    theirs_opt = getattr(torch.optim, name)(groups(torch_model), **kwargs)
    ours_sched = optim.StepLR(ours_opt, step_size=5, gamma=0.5)
    theirs_sched = torch.optim.lr_scheduler.StepLR(theirs_opt, step_size=5, gamma=0.5)
    for _ in range(20):
        ours_opt.zero_grad()
        ((model(tg.tensor(x)) - tg.tensor(y)) ** 2).mean().backward()
        optim.clip_grad_norm_(model.parameters(), 0.5)
        ours_opt.step()
        ours_sched.step()
        theirs_opt.zero_grad()
        ((torch_model(torch.tensor(x)) - torch.tensor(y)) ** 2).mean().backward()
        torch.nn.utils.clip_grad_norm_(torch_model.parameters(), 0.5)
        theirs_opt.step()
        theirs_sched.step()
    reference = torch_model.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value, reference[key].numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=key)


def test_lambda_lr_matches_torch():
    def lr_lambda(step):
        return min(1.0, (step + 1) / 3) * 0.9 ** step

    ours_opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.2)
    theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    ours = optim.LambdaLR(ours_opt, lr_lambda)
    theirs = torch.optim.lr_scheduler.LambdaLR(theirs_opt, lr_lambda)
    for _ in range(8):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        theirs_opt.step()
        ours.step()
        theirs.step()
