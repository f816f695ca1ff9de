"""Every optimizer against its written update rule, without torch: SGD, Adam, AdamW,
RMSprop, Adagrad, Adadelta, Adamax and NAdam.

Each reference below is the algorithm as the papers and PyTorch's documentation write it,
one step at a time in float64 NumPy. Hypothesis draws every option and a run of gradients
whose entries span seven orders of magnitude; the result must agree to rtol 1e-12, so a
missing factor (a bias correction, a dampening, a Nesterov term) shows at the first step
instead of washing out as it would in a run that only has to converge.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim

SHAPE = (3, 4)
STEPS = 8


# ------------------------------------------------------------------ the written rules
def sgd_rule(p, grads, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, maximize=False):
    buffer = None
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        if momentum:
            buffer = g if buffer is None else momentum * buffer + (1 - dampening) * g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
    return p


def adam_rule(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              amsgrad=False, maximize=False, decoupled_weight_decay=False):
    beta1, beta2 = betas
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1 ** t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def adamw_rule(p, grads, weight_decay=1e-2, **options):
    return adam_rule(p, grads, weight_decay=weight_decay, decoupled_weight_decay=True,
                     **options)


def rmsprop_rule(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
    square_avg, grad_avg, buffer = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        grad_avg = alpha * grad_avg + (1 - alpha) * g
        variance = square_avg - grad_avg * grad_avg if centered else square_avg
        if momentum:
            buffer = momentum * buffer + g / (np.sqrt(variance) + eps)
            p = p - lr * buffer
        else:
            p = p - lr * g / (np.sqrt(variance) + eps)
    return p


def adagrad_rule(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    total = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = (-g if maximize else g) + weight_decay * p
        step_size = lr / (1 + (t - 1) * lr_decay)
        total = total + g ** 2
        p = p - step_size * g / (np.sqrt(total) + eps)
    return p


def adadelta_rule(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    square_avg, acc_delta = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = (-g if maximize else g) + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g ** 2
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta ** 2
        p = p - lr * delta
    return p


def adamax_rule(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                maximize=False):
    beta1, beta2 = betas
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = (-g if maximize else g) + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = np.maximum(beta2 * u, np.abs(g) + eps)
        p = p - lr / (1 - beta1 ** t) * m / u
    return p


def nadam_rule(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    beta1, beta2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    mu_product = np.float32(1.0)  # kept in float32, as PyTorch keeps it
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = np.float32(mu_product * np.float32(mu))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        denominator = np.sqrt(v / (1 - beta2 ** t)) + eps
        p = (p - lr * (1 - mu) / (1 - float(mu_product)) * g / denominator
             - lr * mu_next / (1 - float(mu_product) * mu_next) * m / denominator)
    return p


RULES = {"SGD": sgd_rule, "Adam": adam_rule, "AdamW": adamw_rule, "RMSprop": rmsprop_rule,
         "Adagrad": adagrad_rule, "Adadelta": adadelta_rule, "Adamax": adamax_rule,
         "NAdam": nadam_rule}
MAXIMIZING = sorted(RULES)  # every one takes maximize, as PyTorch's do


# ------------------------------------------------------------------ drawn options
def _fraction(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _weight_decay():
    return st.sampled_from([0.0, 1e-2, 0.3])


def _sgd_options():
    """Every SGD option; Nesterov only where it is defined (momentum > 0, no dampening)."""
    def with_nesterov(nesterov):
        return st.fixed_dictionaries({
            "lr": _fraction(1e-3, 0.5),
            "momentum": _fraction(0.1, 0.99) if nesterov else st.sampled_from([0.0, 0.5, 0.9]),
            "dampening": st.just(0.0) if nesterov else st.sampled_from([0.0, 0.1, 0.7]),
            "weight_decay": _weight_decay(), "nesterov": st.just(nesterov),
            "maximize": st.booleans()})

    return st.booleans().flatmap(with_nesterov)


def _adam_options(weight_decay, adamw=False):
    """Adam's options; AdamW's are the same less decoupled_weight_decay (always True)."""
    options = {
        "lr": _fraction(1e-4, 0.1), "betas": st.tuples(_fraction(0.0, 0.99),
                                                       _fraction(0.0, 0.999)),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": weight_decay,
        "amsgrad": st.booleans(), "maximize": st.booleans()}
    if not adamw:
        options["decoupled_weight_decay"] = st.booleans()
    return st.fixed_dictionaries(options)


OPTIONS = {
    "SGD": _sgd_options(),
    "Adam": _adam_options(_weight_decay()),
    "AdamW": _adam_options(st.sampled_from([0.0, 1e-2, 0.3, 2.0]), adamw=True),
    "RMSprop": st.fixed_dictionaries({
        "lr": _fraction(1e-4, 0.1), "alpha": _fraction(0.0, 1.0),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": _weight_decay(),
        "momentum": st.sampled_from([0.0, 0.5, 0.9]), "centered": st.booleans(),
        "maximize": st.booleans()}),
    "Adagrad": st.fixed_dictionaries({
        "lr": _fraction(1e-3, 0.5), "lr_decay": st.sampled_from([0.0, 1e-3, 0.2]),
        "weight_decay": _weight_decay(),
        "initial_accumulator_value": st.sampled_from([0.0, 0.1, 2.0]),
        "eps": st.sampled_from([1e-10, 1e-6, 1e-2]), "maximize": st.booleans()}),
    "Adadelta": st.fixed_dictionaries({
        "lr": _fraction(0.05, 2.0), "rho": _fraction(0.0, 1.0),
        "eps": st.sampled_from([1e-6, 1e-3]), "weight_decay": _weight_decay(),
        "maximize": st.booleans()}),
    "Adamax": st.fixed_dictionaries({
        "lr": _fraction(1e-4, 0.1), "betas": st.tuples(_fraction(0.0, 0.99),
                                                       _fraction(0.0, 0.999)),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": _weight_decay(),
        "maximize": st.booleans()}),
    "NAdam": st.fixed_dictionaries({
        "lr": _fraction(1e-4, 0.1), "betas": st.tuples(_fraction(0.0, 0.99),
                                                       _fraction(0.0, 0.999)),
        "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": _weight_decay(),
        "momentum_decay": st.sampled_from([0.0, 4e-3, 0.1]),
        "decoupled_weight_decay": st.booleans(), "maximize": st.booleans()}),
}


def mixed_scale_gradients(seed: int, shape=SHAPE, steps=STEPS) -> list:
    """Gradients whose entries span 1e-4 to 1e3, each entry keeping its scale."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.uniform(-4, 3, shape)
    return [rng.standard_normal(shape) * scale for _ in range(steps)]


def run(optimizer, params, grads_per_param) -> None:
    for grads in zip(*grads_per_param, strict=True):
        for param, grad in zip(params, grads, strict=True):
            param.grad = tg.tensor(grad.copy())
        optimizer.step()


def _assert_follows(actual, expected):
    # the rule and the implementation order their float operations differently: a few
    # roundings per step, far below any missing or wrong factor
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("name", sorted(RULES))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_optimizer_follows_its_written_rule_with_mixed_scale_gradients(name, data, seed):
    options = data.draw(OPTIONS[name], label="options")
    start = np.random.default_rng(seed + 1).standard_normal(SHAPE)
    grads = mixed_scale_gradients(seed)
    param = nn.Parameter(start.copy())
    run(getattr(optim, name)([param], **options), [param], [grads])
    _assert_follows(param.numpy(), RULES[name](start, grads, **options))


@pytest.mark.parametrize("name", sorted(RULES))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_each_param_group_follows_the_rule_with_its_own_options(name, data, seed):
    first, second = (data.draw(OPTIONS[name], label=f"group {i}") for i in (1, 2))
    if name == "Adagrad":  # the constructor's value starts every sum (see the next test)
        second["initial_accumulator_value"] = first["initial_accumulator_value"]
    starts = [np.random.default_rng(seed + i).standard_normal(SHAPE) for i in (1, 2)]
    grads = [mixed_scale_gradients(seed), mixed_scale_gradients(seed + 7)]
    params = [nn.Parameter(start.copy()) for start in starts]
    optimizer = getattr(optim, name)([{"params": params[:1]},
                                      {"params": params[1:], **second}], **first)
    run(optimizer, params, grads)
    for param, start, grad, options in zip(params, starts, grads, (first, second),
                                           strict=True):
        _assert_follows(param.numpy(), RULES[name](start, grad, **options))


def test_adagrad_starts_every_sum_from_the_constructors_value_as_torch():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))
    optimizer = optim.Adagrad([{"params": [a]}, {"params": [b],
                                                 "initial_accumulator_value": 5.0}],
                              initial_accumulator_value=0.5)
    state = optimizer.state_dict()["state"]
    assert state[0]["step"] == 0 and state[1]["step"] == 0  # made before the first step
    np.testing.assert_array_equal(state[0]["sum"], [0.5, 0.5])
    np.testing.assert_array_equal(state[1]["sum"], [0.5, 0.5, 0.5])


@pytest.mark.parametrize("name", MAXIMIZING)
def test_maximize_climbs_where_minimize_descends(name):
    up, down = nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))
    grads = [np.array([1.0, -2.0, 0.5])] * 3
    run(getattr(optim, name)([up], lr=0.1, maximize=True), [up], [grads])
    run(getattr(optim, name)([down], lr=0.1), [down], [grads])
    np.testing.assert_allclose(up.numpy(), -down.numpy())
    assert np.all(np.sign(up.numpy()) == np.sign(grads[0]))


@pytest.mark.parametrize("name", sorted(RULES))
def test_state_dict_round_trip_mid_run_continues_the_same_trajectory(name):
    grads = mixed_scale_gradients(0, steps=6)
    first = nn.Parameter(np.ones(SHAPE))
    optimizer = getattr(optim, name)([first], lr=0.01, weight_decay=0.1)
    run(optimizer, [first], [grads[:3]])
    second = nn.Parameter(first.numpy().copy())
    resumed = getattr(optim, name)([second], lr=0.5)
    resumed.load_state_dict(optimizer.state_dict())
    run(optimizer, [first], [grads[3:]])
    run(resumed, [second], [grads[3:]])
    np.testing.assert_array_equal(second.numpy(), first.numpy())


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("Adagrad", {"lr_decay": -1.0}, r"Adagrad: lr_decay must be in \[0.0, inf\), got -1.0"),
    ("Adagrad", {"initial_accumulator_value": -0.5}, "Adagrad: initial_accumulator_value"),
    ("Adadelta", {"rho": 1.5}, r"Adadelta: rho must be in \[0.0, 1.0\], got 1.5"),
    ("Adadelta", {"eps": -1e-6}, "Adadelta: eps must be in"),
    ("Adamax", {"betas": (1.0, 0.9)}, r"Adamax: betas\[0\] must be in \[0.0, 1.0\), got 1.0"),
    ("NAdam", {"momentum_decay": -0.1}, "NAdam: momentum_decay must be in"),
    ("NAdam", {"weight_decay": -0.1}, "NAdam: weight_decay must be in"),
    ("NAdam", {"lr": -1.0}, "NAdam: lr must be >= 0, got -1.0"),
])
def test_bad_hyperparameters_name_the_optimizer_and_the_argument(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([nn.Parameter(np.zeros(2))], **kwargs)


def test_step_runs_the_closure_with_gradients_and_returns_its_loss():
    param = nn.Parameter(np.array([3.0]))
    optimizer = optim.NAdam([param], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (param * param).sum()
        loss.backward()
        return loss

    with tg.no_grad():  # the closure still records its graph, as in PyTorch
        loss = optimizer.step(closure)
    assert loss.item() == 9.0
    assert param.grad.item() == 6.0 and param.item() < 3.0
