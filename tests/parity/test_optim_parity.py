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


# ------------------------------------------------ Adagrad, Adadelta, Adamax, NAdam
ADAPTIVE_CASES = [
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.3, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.05, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.7, "eps": 1e-4, "weight_decay": 0.05}),
    ("Adadelta", {"rho": 0.95, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.3, 0.8), "eps": 1e-3, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1,
               "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.01, "maximize": True}),
]
# maximize and decoupled_weight_decay on the first four, added to match PyTorch's options
MAXIMIZE_CASES = [
    ("SGD", {"lr": 0.01, "maximize": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.1,
             "maximize": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "maximize": True, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "maximize": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "maximize": True, "momentum": 0.5, "centered": True}),
]


def _mixed_scale_gradients(shape, steps, dtype, seed=0):
    """Gradients whose entries span seven orders of magnitude (1e-4 to 1e3), each keeping
    its scale across steps, as a network's layers do."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-4, 3, shape)
    return [(rng.standard_normal(shape) * scale).astype(dtype) for _ in range(steps)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "kwargs"), ADAPTIVE_CASES + MAXIMIZE_CASES)
def test_optimizer_follows_torch_with_mixed_scale_gradients(name, kwargs, dtype):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((6, 5)).astype(dtype)
    ours, theirs = nn.Parameter(w0.copy()), torch.tensor(w0.copy(), requires_grad=True)
    ours_opt = getattr(optim, name)([ours], **kwargs)
    theirs_opt = getattr(torch.optim, name)([theirs], **kwargs)
    for grad in _mixed_scale_gradients(w0.shape, 25, dtype):
        ours.grad, theirs.grad = tg.tensor(grad.copy()), torch.tensor(grad.copy())
        ours_opt.step()
        theirs_opt.step()
    # torch fuses multiply-adds (lerp, addcmul) on CPUs that have FMA, NumPy cannot: the
    # trajectories agree to a few units in the last place, not bit for bit
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-6, 1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)
    for key, value in theirs_opt.state[theirs].items():
        mine = ours_opt.state[id(ours)][key]
        np.testing.assert_allclose(np.asarray(mine, dtype=np.float64),
                                   value.double().numpy(), rtol=rtol * 10, atol=atol,
                                   err_msg=key)


@pytest.mark.parametrize(("name", "kwargs"),
                         [case for case in ADAPTIVE_CASES + MAXIMIZE_CASES if case[1]])
def test_optimizer_with_param_groups_follows_torch(name, kwargs):
    """Two groups, the second overriding every option the case sets with its default, and a
    parameter that has no gradient on some steps."""
    rng = np.random.default_rng(2)
    w0, b0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
    defaults = {key: getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]
                                               ).defaults[key] for key in kwargs}
    ours = [nn.Parameter(w0.copy()), nn.Parameter(b0.copy())]
    theirs = [torch.tensor(w0.copy(), requires_grad=True),
              torch.tensor(b0.copy(), requires_grad=True)]
    ours_opt = getattr(optim, name)([{"params": ours[:1]},
                                     {"params": ours[1:], **defaults}], **kwargs)
    theirs_opt = getattr(torch.optim, name)([{"params": theirs[:1]},
                                             {"params": theirs[1:], **defaults}], **kwargs)
    grads = zip(_mixed_scale_gradients(w0.shape, 15, np.float64, seed=3),
                _mixed_scale_gradients(b0.shape, 15, np.float64, seed=4), strict=True)
    for step, (gw, gb) in enumerate(grads):
        for mine, their, grad in zip(ours, theirs, (gw, gb), strict=True):
            skip = mine is ours[1] and step % 3 == 1
            mine.grad = None if skip else tg.tensor(grad.copy())
            their.grad = None if skip else torch.tensor(grad.copy())
        ours_opt.step()
        theirs_opt.step()
    for mine, their in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.numpy(), their.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adagrad", {}), ("Adadelta", {}),
    ("Adamax", {}), ("NAdam", {})])
def test_state_dict_has_torchs_structure(name, kwargs):
    ours, theirs = nn.Parameter(np.zeros(3)), torch.zeros(3, requires_grad=True)
    ours_opt = getattr(optim, name)([ours], **kwargs)
    theirs_opt = getattr(torch.optim, name)([theirs], **kwargs)
    ours.grad, theirs.grad = tg.tensor(np.ones(3)), torch.ones(3)
    ours_opt.step()
    theirs_opt.step()
    mine, their = ours_opt.state_dict(), theirs_opt.state_dict()
    assert mine["state"].keys() == their["state"].keys()
    assert mine["state"][0].keys() == their["state"][0].keys()
    torch_only = {"foreach", "capturable", "differentiable", "fused"}
    assert mine["param_groups"][0].keys() == their["param_groups"][0].keys() - torch_only
    for key, value in mine["param_groups"][0].items():
        assert value == their["param_groups"][0][key], key


# ------------------------------------------------ schedules over many steps
def _schedule_pair(optimizer_name, optimizer_kwargs, groups=2):
    ours = [nn.Parameter(np.zeros(1)) for _ in range(groups)]
    theirs = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    ours_opt = getattr(optim, optimizer_name)(
        [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ours)], **optimizer_kwargs)
    theirs_opt = getattr(torch.optim, optimizer_name)(
        [{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(theirs)],
        **optimizer_kwargs)
    return ours_opt, theirs_opt


def _momenta(optimizer):
    key = "betas" if "betas" in optimizer.defaults else "momentum"
    return [group[key][0] if key == "betas" else group[key]
            for group in optimizer.param_groups]


SCHEDULE_CASES = [
    ("SGD", {}, "ExponentialLR", {"gamma": 0.97}, 300),
    ("SGD", {}, "MultiStepLR", {"milestones": [120, 30, 200, 200], "gamma": 0.5}, 300),
    ("SGD", {}, "StepLR", {"step_size": 7, "gamma": 0.8}, 300),
    ("SGD", {}, "LambdaLR", {"lr_lambda": [lambda t: 0.99 ** t, lambda t: 1 / (1 + t)]}, 300),
    ("SGD", {"momentum": 0.9}, "OneCycleLR", {"max_lr": 1.0, "total_steps": 300}, 300),
    ("SGD", {}, "OneCycleLR", {"max_lr": [1.0, 0.3], "epochs": 12, "steps_per_epoch": 25,
                               "pct_start": 0.25, "anneal_strategy": "linear",
                               "three_phase": True, "div_factor": 10.0,
                               "final_div_factor": 100.0}, 300),
    ("SGD", {}, "OneCycleLR", {"max_lr": 0.5, "total_steps": 300, "cycle_momentum": False},
     300),
    ("Adam", {}, "OneCycleLR", {"max_lr": 0.01, "total_steps": 250, "base_momentum": 0.8,
                                "max_momentum": [0.99, 0.9]}, 250),
    ("NAdam", {}, "OneCycleLR", {"max_lr": 0.01, "total_steps": 200, "three_phase": True,
                                 "base_momentum": [0.7, 0.75]}, 200),
    ("Adamax", {}, "OneCycleLR", {"max_lr": 0.02, "total_steps": 200,
                                  "anneal_strategy": "linear"}, 200),
]


@pytest.mark.parametrize(("optimizer_name", "optimizer_kwargs", "name", "kwargs", "steps"),
                         SCHEDULE_CASES)
def test_schedule_follows_torch_over_many_steps(optimizer_name, optimizer_kwargs, name,
                                                kwargs, steps):
    ours_opt, theirs_opt = _schedule_pair(optimizer_name, optimizer_kwargs)
    ours = getattr(optim, name)(ours_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs)
    for _ in range(steps):
        # torch's recursive forms (lr * gamma each step) drift from the closed form by an
        # ulp or so per step
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        if name == "OneCycleLR" and kwargs.get("cycle_momentum", True):
            np.testing.assert_allclose(_momenta(ours_opt), _momenta(theirs_opt), rtol=1e-12)
        theirs_opt.step()
        ours.step()
        theirs.step()
    if name == "OneCycleLR":
        for ours_group, theirs_group in zip(ours_opt.param_groups, theirs_opt.param_groups,
                                            strict=True):
            for key in ("initial_lr", "max_lr", "min_lr"):
                assert ours_group[key] == theirs_group[key]


def _plateau_metrics(seed=0):
    """A loss that falls, flattens, jitters below the threshold and then falls again."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(1.0, 0.5, 20), np.full(30, 0.5),
                           0.5 + 1e-5 * rng.standard_normal(100), np.full(30, 0.49),
                           np.linspace(0.49, 0.1, 20)])


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 3, "cooldown": 2, "min_lr": [0.001, 0.0]},
    {"mode": "max", "factor": 0.5, "patience": 0, "threshold_mode": "abs", "threshold": 1e-3},
    {"mode": "max", "threshold": 0.05, "patience": 2, "cooldown": 5, "min_lr": 0.01},
    {"factor": 0.9, "patience": 1, "eps": 1e-3, "threshold_mode": "abs"},
])
def test_reduce_lr_on_plateau_follows_torch(kwargs):
    metrics = _plateau_metrics()
    if kwargs.get("mode") == "max":
        metrics = -metrics
    ours_opt, theirs_opt = _schedule_pair("SGD", {})
    ours = optim.ReduceLROnPlateau(ours_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs)
    for metric in metrics:
        theirs_opt.step()
        ours.step(metric)
        theirs.step(metric)
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.best) == (
            theirs.num_bad_epochs, theirs.cooldown_counter, theirs.best)
