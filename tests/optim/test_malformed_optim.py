"""Every optimizer, lr scheduler and clip_grad_norm_ refuses malformed arguments with a named
tinygen error (issue 17, item 5).

Hypothesis breaks one argument of a valid call (a hyperparameter replaced by None, a str, a
bool, NaN, inf, a negative, zero, a huge value, a tuple of the wrong length; the parameters
replaced by an empty list, a set, a non-leaf or an integer tensor, a dict with an unknown
key; a junk closure, gradient, param group or state dict) and accepts a normal return or a
TypeError/ValueError/IndexError/RuntimeError raised by an explicit ``raise`` in tinygen whose
message names the class or function (``tinygen.testing.malformed.internal_escape``). Then one
test per refusal this file's issue added.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn
import tinygen.optim as optim
from tinygen.testing.malformed import hyperparameter_corruptions, internal_escape

OPTIMIZERS = [getattr(optim, name) for name in optim.__all__
              if isinstance(getattr(optim, name), type)
              and issubclass(getattr(optim, name), optim.Optimizer)
              and getattr(optim, name) is not optim.Optimizer]
SCHEDULERS = {  # every public schedule, with a valid call's arguments
    optim.StepLR: {"step_size": 2, "gamma": 0.5},
    optim.MultiStepLR: {"milestones": [2, 4], "gamma": 0.5},
    optim.ExponentialLR: {"gamma": 0.9},
    optim.CosineAnnealingLR: {"T_max": 5, "eta_min": 0.001},
    optim.LinearWarmup: {"warmup_steps": 3, "start_factor": 0.1},
    optim.LambdaLR: {"lr_lambda": lambda step: 0.9 ** step},
    optim.OneCycleLR: {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.3,
                       "anneal_strategy": "cos", "div_factor": 25.0,
                       "final_div_factor": 1e4, "base_momentum": 0.85,
                       "max_momentum": 0.95, "cycle_momentum": True, "three_phase": False},
    optim.ReduceLROnPlateau: {"mode": "min", "factor": 0.5, "patience": 1,
                              "threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0,
                              "min_lr": 0.0, "eps": 1e-8},
}


def _params(grads: bool = True) -> list:
    weight, bias = nn.Parameter(np.ones((2, 3))), nn.Parameter(np.zeros(3))
    if grads:
        weight.grad = tg.tensor(np.full((2, 3), 0.5))
        bias.grad = tg.tensor(np.array([1.0, -1.0, 0.25]))
    return [weight, bias]


def _hyperparameters(cls) -> dict:
    """The constructor's keyword arguments with their defaults (lr made nonzero)."""
    values = {name: parameter.default
              for name, parameter in inspect.signature(cls).parameters.items()
              if parameter.default is not inspect.Parameter.empty}
    values["lr"] = 0.01
    return values


def assert_refused_by_name(call, names) -> object:
    """Run ``call``; an error it raises must be a named tinygen refusal."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - classifying every escape is the test
            reason = internal_escape(error, names)
            assert reason is None, reason
    return None


def _one_corruption(data, valid: dict) -> tuple[dict, str]:
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    ways = hyperparameter_corruptions(valid[name])
    way = data.draw(st.sampled_from(sorted(ways)), label="corruption")
    return {**valid, name: ways[way]}, f"{name} -> {way}"


def _use(optimizer) -> None:
    """What a training loop does with an optimizer: step, save, reload, step."""
    optimizer.step()
    optimizer.load_state_dict(optimizer.state_dict())
    optimizer.step()
    optimizer.zero_grad()


# ------------------------------------------------------------------ optimizers
@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_optimizer_refuses_a_malformed_hyperparameter_by_name(cls, data):
    kwargs, _ = _one_corruption(data, _hyperparameters(cls))
    optimizer = assert_refused_by_name(lambda: cls(_params(), **kwargs), [cls.__name__])
    if optimizer is not None:
        assert_refused_by_name(lambda: _use(optimizer), [cls.__name__])


def _bad_params() -> dict:
    """Malformed ``params`` arguments, by name (built fresh: parameters are per call)."""
    def non_leaf():
        return [nn.Parameter(np.ones(2)) * 2]

    def shared():
        param = nn.Parameter(np.ones(2))
        return [{"params": [param]}, {"params": [param]}]

    return {
        "empty list": lambda: [], "None": lambda: None, "int": lambda: 3, "str": lambda: "w",
        "one Tensor": lambda: nn.Parameter(np.ones(2)),
        "a set": lambda: {nn.Parameter(np.ones(2))},
        "floats": lambda: [1.0, 2.0], "arrays": lambda: [np.ones(2)],
        "non-leaf": non_leaf, "int tensor": lambda: [tg.tensor(np.arange(3))],
        "tensor without grad": lambda: [tg.tensor(np.ones(2))],
        "group without params": lambda: [{"lr": 0.1}],
        "group with an unknown key": lambda: [{"params": _params(), "learning_rate": 0.1}],
        "group with an int for params": lambda: [{"params": 3}],
        "group with a str lr": lambda: [{"params": _params(), "lr": "fast"}],
        "a dict instead of a list": lambda: {"params": _params()},
        "a tensor after a group": lambda: [{"params": _params()}, nn.Parameter(np.ones(2))],
        "a parameter twice": shared,
        "the same parameter in one group": lambda: _params()[:1] * 2,
    }


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
@given(way=st.sampled_from(sorted(_bad_params())))
def test_optimizer_refuses_malformed_params_by_name(cls, way):
    params = _bad_params()[way]()
    optimizer = assert_refused_by_name(lambda: cls(params, lr=0.01), [cls.__name__])
    if optimizer is not None:
        assert_refused_by_name(lambda: _use(optimizer), [cls.__name__])


def _bad_state_dicts(optimizer) -> dict:
    good = optimizer.state_dict()
    one_state = next(iter(good["state"].values()), {})
    array_key = next((k for k, v in one_state.items() if getattr(v, "ndim", 0)), None)
    return {
        "None": None, "list": [], "empty dict": {},
        "param_groups not a list": {"state": {}, "param_groups": 3},
        "state not a dict": {"state": 3, "param_groups": good["param_groups"]},
        "a group too few": {"state": {}, "param_groups": []},
        "a group without params": {"state": {}, "param_groups": [{"lr": 0.1}]},
        "a parameter too many": {"state": {}, "param_groups": [
            {**good["param_groups"][0], "params": [0, 1, 2]}]},
        "a str index": {"state": {"first": {}}, "param_groups": good["param_groups"]},
        "an index too large": {"state": {7: {}}, "param_groups": good["param_groups"]},
        "a state that is not a dict": {"state": {0: 3}, "param_groups": good["param_groups"]},
        "a wrongly shaped state": {"state": {0: {array_key or "x": np.ones(5)}},
                                   "param_groups": good["param_groups"]},
        "a str state entry": {"state": {0: dict.fromkeys(one_state, "x")},
                              "param_groups": good["param_groups"]},
        "a number for every state entry": {"state": {0: dict.fromkeys(one_state, 0.5)},
                                           "param_groups": good["param_groups"]},
        "a state entry missing": {"state": {0: dict(list(one_state.items())[1:]) or {
            "x": 1.0}}, "param_groups": good["param_groups"]},
        "an array of strings": {"state": {0: {**one_state, array_key or "x": np.array(
            [["a"] * 3] * 2)}}, "param_groups": good["param_groups"]},
        "a str lr": {"state": {}, "param_groups": [{**good["param_groups"][0],
                                                   "lr": "fast"}]},
        "a negative lr": {"state": {}, "param_groups": [{**good["param_groups"][0],
                                                        "lr": -1.0}]},
    }


def _bad_groups() -> dict:
    return {
        "None": None, "int": 3, "list": [], "no params": {"lr": 0.1},
        "a str for params": {"params": "weights"},
        "an unknown key": {"params": [nn.Parameter(np.ones(2))], "momentom": 0.9},
        "a negative lr": {"params": [nn.Parameter(np.ones(2))], "lr": -0.5},
        "a nan lr": {"params": [nn.Parameter(np.ones(2))], "lr": math.nan},
        "floats": {"params": [0.5]},
    }


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_optimizer_methods_refuse_malformed_arguments_by_name(cls, data):
    params = _params()
    optimizer = cls(params, lr=0.01)
    optimizer.step()
    calls = {
        **{f"load_state_dict({way})": (lambda bad=bad: optimizer.load_state_dict(bad))
           for way, bad in _bad_state_dicts(optimizer).items()},
        **{f"add_param_group({way})": (lambda bad=bad: optimizer.add_param_group(bad))
           for way, bad in _bad_groups().items()},
        "add_param_group(an optimized parameter)":
            lambda: optimizer.add_param_group({"params": params[:1]}),
        "step(an int closure)": lambda: optimizer.step(3),
        "step(a str closure)": lambda: optimizer.step("loss"),
    }
    way = data.draw(st.sampled_from(sorted(calls)), label="call")
    assert_refused_by_name(calls[way], [cls.__name__])
    _use(optimizer)  # a refused call leaves a working optimizer


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
@given(shape=st.sampled_from([(3, 2), (6,), (2, 3, 1), ()]))
def test_step_refuses_a_gradient_of_another_shape_by_name(cls, shape):
    params = _params()
    optimizer = cls(params, lr=0.01)
    params[0].grad = tg.tensor(np.ones(shape))
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}.step: the gradient of parameter"):
        optimizer.step()


# ------------------------------------------------------------------ schedulers, clipping
def _scheduler_optimizer():
    return optim.SGD(_params(), lr=0.1, momentum=0.9)


def _run_schedule(scheduler) -> None:
    for _ in range(4):
        if isinstance(scheduler, optim.ReduceLROnPlateau):
            scheduler.step(1.0)
        else:
            scheduler.step()
    scheduler.load_state_dict(scheduler.state_dict())


@pytest.mark.parametrize("cls", list(SCHEDULERS), ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_scheduler_refuses_a_malformed_argument_by_name(cls, data):
    valid = {"optimizer": _scheduler_optimizer(), **SCHEDULERS[cls]}
    kwargs, _ = _one_corruption(data, valid)
    scheduler = assert_refused_by_name(lambda: cls(**kwargs), [cls.__name__])
    if scheduler is not None:
        assert_refused_by_name(lambda: _run_schedule(scheduler), [cls.__name__])


@pytest.mark.parametrize("cls", list(SCHEDULERS), ids=lambda cls: cls.__name__)
@given(bad=st.sampled_from([None, [], {}, {"last_epoch": "3", "base_lrs": [0.1]},
                            {"last_epoch": 2, "base_lrs": "0.1"},
                            {"last_epoch": 2, "base_lrs": [0.1, 0.2]},
                            {"last_epoch": -1, "base_lrs": [0.1]}]))
def test_scheduler_load_state_dict_refuses_malformed_state_by_name(cls, bad):
    scheduler = cls(_scheduler_optimizer(), **SCHEDULERS[cls])
    assert_refused_by_name(lambda: scheduler.load_state_dict(bad), [cls.__name__])


@given(metric=st.sampled_from([None, "low", [1.0, 2.0], np.ones(3), {"loss": 1.0}]))
def test_reduce_lr_on_plateau_refuses_a_malformed_metric_by_name(metric):
    scheduler = optim.ReduceLROnPlateau(_scheduler_optimizer())
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: metrics must be a number"):
        scheduler.step(metric)


@given(data=st.data())
def test_clip_grad_norm_refuses_a_malformed_argument_by_name(data):
    valid = {"max_norm": 1.0, "norm_type": 2.0, "eps": 1e-6, "error_if_nonfinite": False}
    kwargs, _ = _one_corruption(data, valid)
    parameters = data.draw(st.sampled_from(["good", None, 3, "weights", [1.0], [np.ones(2)]]),
                           label="parameters")
    parameters = _params() if parameters == "good" else parameters
    assert_refused_by_name(lambda: optim.clip_grad_norm_(parameters, **kwargs),
                           ["clip_grad_norm_"])


@given(decay=st.sampled_from(sorted(hyperparameter_corruptions(0.999).items())),
       model=st.sampled_from(["net", None, 3, "a str", [1.0]]))
def test_weight_averaging_refuses_malformed_arguments_by_name(decay, model):
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    averaged = assert_refused_by_name(lambda: optim.AveragedModel(net, decay=decay[1]),
                                      ["AveragedModel"])
    model = net if model == "net" else model
    if averaged is not None:
        assert_refused_by_name(lambda: averaged.update_parameters(model), ["AveragedModel"])
    assert_refused_by_name(lambda: optim.update_bn([tg.ones(4, 3)], model), ["update_bn"])


@given(batches=st.sampled_from([None, 3, 2.5, "batches"]))
def test_update_bn_refuses_batches_that_are_not_an_iterable_by_name(batches):
    with pytest.raises(TypeError, match="update_bn: batches must be an iterable of inputs"):
        optim.update_bn(batches, nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)))


# ------------------------------------------------------------------ one test per refusal
def test_averaged_model_refuses_a_decay_that_is_not_a_number():
    with pytest.raises(TypeError, match="AveragedModel: decay must be a real number, got str"):
        optim.AveragedModel(nn.Linear(2, 2), decay="0.9")


def test_averaged_model_refuses_to_average_something_that_is_not_a_module():
    averaged = optim.AveragedModel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="AveragedModel.update_parameters: model must be a "
                                        "Module, got dict"):
        averaged.update_parameters({"weight": np.ones((2, 2))})
def test_a_str_lr_is_a_type_error_naming_the_optimizer():
    with pytest.raises(TypeError, match="Adam: lr must be a real number, got str 'fast'"):
        optim.Adam(_params(), lr="fast")


def test_a_nan_lr_is_refused():
    with pytest.raises(ValueError, match="SGD: lr must be >= 0, got nan"):
        optim.SGD(_params(), lr=math.nan)


@pytest.mark.parametrize(("betas", "error", "message"), [
    ((0.9,), ValueError, "Adam: betas must have 2 entries, got 1"),
    ((0.9, 0.99, 0.999), ValueError, "Adam: betas must have 2 entries, got 3"),
    (0.9, TypeError, r"Adam: betas must be a tuple \(beta1, beta2\), got float"),
    ((0.9, "x"), TypeError, r"Adam: betas\[1\] must be a real number, got str"),
    ((-0.1, 0.9), ValueError, r"Adam: betas\[0\] must be in \[0.0, 1.0\), got -0.1"),
])
def test_malformed_betas_are_named(betas, error, message):
    with pytest.raises(error, match=message):
        optim.Adam(_params(), betas=betas)


@pytest.mark.parametrize(("cls", "kwargs", "message"), [
    (optim.Adam, {"eps": -1e-8}, r"Adam: eps must be in \[0.0, inf\), got -1e-08"),
    (optim.RMSprop, {"weight_decay": -0.1}, r"RMSprop: weight_decay must be in"),
    (optim.SGD, {"momentum": -0.9}, r"SGD: momentum must be in \[0.0, inf\), got -0.9"),
    (optim.SGD, {"dampening": -0.1}, r"SGD: dampening must be in \[0.0, inf\), got -0.1"),
])
def test_negative_hyperparameters_are_named(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(_params(), **kwargs)


@pytest.mark.parametrize("kwargs", [{"momentum": 0.0}, {"momentum": 0.9, "dampening": 0.1}])
def test_nesterov_without_momentum_or_with_dampening_is_refused(kwargs):
    with pytest.raises(ValueError, match="SGD: nesterov=True needs momentum > 0 and "
                                         "dampening = 0, got momentum="):
        optim.SGD(_params(), lr=0.1, nesterov=True, **kwargs)


def test_a_flag_that_is_not_a_bool_is_refused():
    with pytest.raises(TypeError, match="Adam: amsgrad must be a bool, got 'yes'"):
        optim.Adam(_params(), amsgrad="yes")


@pytest.mark.parametrize(("params", "message"), [
    (nn.Parameter(np.ones(2)), "SGD: params must be an iterable of Tensors or of dicts"),
    ({nn.Parameter(np.ones(2))}, r"SGD: params must be .* \(in a fixed order\), got set"),
    ([np.ones(2)], r"SGD: params\[0\] must be a Tensor, got ndarray"),
])
def test_params_that_are_not_a_list_of_tensors_are_refused(params, message):
    with pytest.raises(TypeError, match=message):
        optim.SGD(params, lr=0.1)


def test_a_non_leaf_parameter_is_refused():
    with pytest.raises(ValueError, match=r"Adam: params\[0\] must be a leaf tensor, got the "
                                         "output of Mul"):
        optim.Adam([nn.Parameter(np.ones(2)) * 2])


def test_an_integer_parameter_is_refused():
    with pytest.raises(TypeError, match=r"SGD: params\[0\] must have a floating dtype, got "
                                        "int64"):
        optim.SGD([tg.tensor(np.arange(3))], lr=0.1)


def test_an_unknown_group_key_is_refused():
    optimizer = optim.SGD(_params(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.add_param_group: unknown keys \['momentom'\]"):
        optimizer.add_param_group({"params": [nn.Parameter(np.ones(2))], "momentom": 0.9})


def test_a_group_may_carry_the_keys_schedulers_add():
    optimizer = optim.SGD(_params(), lr=0.1)
    optimizer.add_param_group({"params": [nn.Parameter(np.ones(2))], "initial_lr": 0.1})
    assert optimizer.param_groups[1]["initial_lr"] == 0.1


def test_a_single_tensor_as_a_groups_params_is_one_parameter_as_in_torch():
    param = nn.Parameter(np.ones(2))
    optimizer = optim.SGD([{"params": param}], lr=0.1)
    assert optimizer.param_groups[0]["params"] == [param]


def test_a_closure_that_is_not_callable_is_refused():
    optimizer = optim.SGD(_params(), lr=0.1)
    with pytest.raises(TypeError, match="SGD.step: closure must be callable or None, got int"):
        optimizer.step(3)


@pytest.mark.parametrize(("bad", "error", "message"), [
    (None, TypeError, "Adam.load_state_dict: expected a dict, got NoneType"),
    ({"state": 3, "param_groups": []}, TypeError,
     "Adam.load_state_dict: 'state' must be a dict of dicts"),
    ({"state": {"first": {}}, "param_groups": "saved"}, TypeError,
     "Adam.load_state_dict: 'param_groups' must be a list of dicts"),
])
def test_load_state_dict_refuses_a_malformed_state_dict(bad, error, message):
    with pytest.raises(error, match=message):
        optim.Adam(_params()).load_state_dict(bad)


@pytest.mark.parametrize(("entry", "error", "message"), [
    ("x", TypeError, "Adam.load_state_dict: state 'exp_avg' of parameter 0 must be an "
                     "array, got str"),
    (np.ones(7), ValueError, r"Adam.load_state_dict: state 'exp_avg' of parameter 0 has "
                             r"shape \(7,\), expected \(2, 3\)"),
    (None, ValueError, r"Adam.load_state_dict: the state of parameter 0 lacks \['exp_avg'\]"),
])
def test_load_state_dict_refuses_a_malformed_parameter_state(entry, error, message):
    optimizer = optim.Adam(_params())
    optimizer.step()
    saved = optimizer.state_dict()
    saved["state"][0] = {**saved["state"][0], "exp_avg": entry}
    with pytest.raises(error, match=message):
        optimizer.load_state_dict(saved)


def test_load_state_dict_refuses_a_state_for_an_unknown_parameter():
    optimizer = optim.Adam(_params())
    saved = optimizer.state_dict()
    saved["state"] = {"first": {}}
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state for parameter "
                                         r"'first', but the optimizer has parameters 0 to 1"):
        optimizer.load_state_dict(saved)


def test_load_state_dict_refuses_a_bad_hyperparameter_and_changes_nothing():
    optimizer = optim.Adam(_params(), lr=0.01)
    saved = optimizer.state_dict()
    saved["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="Adam: lr must be >= 0, got -1.0"):
        optimizer.load_state_dict(saved)
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_differentiable_true_is_refused_and_the_other_torch_switches_are_ignored():
    with pytest.raises(NotImplementedError, match="SGD: differentiable=True"):
        optim.SGD(_params(), lr=0.1, differentiable=True)
    optimizer = optim.Adam(_params(), foreach=True, fused=False, capturable=True)
    assert "foreach" not in optimizer.param_groups[0]


@pytest.mark.parametrize(("cls", "kwargs", "error", "message"), [
    (optim.StepLR, {"step_size": 2.5}, TypeError, "StepLR: step_size must be an int, got "
                                                  "float 2.5"),
    (optim.StepLR, {"step_size": 2, "gamma": "0.5"}, TypeError,
     "StepLR: gamma must be a real number, got str"),
    (optim.ExponentialLR, {"gamma": math.nan}, ValueError, "ExponentialLR: gamma must be "
                                                            ">= 0, got nan"),
    (optim.CosineAnnealingLR, {"T_max": 0}, ValueError, "CosineAnnealingLR: T_max must be "
                                                        ">= 1, got 0"),
    (optim.CosineAnnealingLR, {"T_max": None}, TypeError, "CosineAnnealingLR: T_max must be "
                                                          "an int, got NoneType"),
    (optim.MultiStepLR, {"milestones": 3}, TypeError, "MultiStepLR: milestones must be a "
                                                      "list of ints, got int"),
    (optim.LinearWarmup, {"warmup_steps": 3, "start_factor": None}, TypeError,
     "LinearWarmup: start_factor must be a real number, got NoneType"),
    (optim.OneCycleLR, {"max_lr": 0.1, "total_steps": 10, "div_factor": 0.0}, ValueError,
     "OneCycleLR: div_factor must be > 0, got 0.0"),
    (optim.OneCycleLR, {"max_lr": "0.1", "total_steps": 10}, TypeError,
     "OneCycleLR: max_lr must be a real number, got str"),
    (optim.OneCycleLR, {"max_lr": 0.1, "total_steps": 2, "pct_start": 0.5}, ValueError,
     "OneCycleLR: pct_start=0.5 with total_steps=2 leaves phase 1 of the cycle without "
     "steps"),
    (optim.ReduceLROnPlateau, {"patience": -1}, ValueError,
     "ReduceLROnPlateau: patience must be >= 0, got -1"),
])
def test_scheduler_arguments_are_named(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(_scheduler_optimizer(), **kwargs)


def test_a_scheduler_needs_a_tinygen_optimizer():
    class LooksLikeOne:
        param_groups = [{"lr": 0.1}]

    with pytest.raises(TypeError, match="CosineAnnealingLR: optimizer must be a "
                                        "tinygen.optim.Optimizer, got LooksLikeOne"):
        optim.CosineAnnealingLR(LooksLikeOne(), T_max=3)


def test_lambda_lr_refuses_a_lambda_returning_no_number():
    with pytest.raises(TypeError, match=r"LambdaLR: lr_lambda\(0\) must return a number, "
                                        "got NoneType"):
        optim.LambdaLR(_scheduler_optimizer(), lambda step: None)


def test_scheduler_load_state_dict_refuses_a_state_without_its_keys():
    scheduler = optim.ReduceLROnPlateau(_scheduler_optimizer())
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.load_state_dict: the state "
                                         r"dict lacks \['last_epoch', 'base_lrs'"):
        scheduler.load_state_dict({})


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"max_norm": math.nan}, ValueError, "clip_grad_norm_: max_norm must be > 0, got nan"),
    ({"max_norm": -1.0}, ValueError, "clip_grad_norm_: max_norm must be > 0, got -1.0"),
    ({"max_norm": "1"}, TypeError, "clip_grad_norm_: max_norm must be a real number"),
    ({"max_norm": 1.0, "norm_type": "two"}, TypeError,
     "clip_grad_norm_: norm_type must be a real number or 'inf', got str"),
    ({"max_norm": 1.0, "norm_type": -2.0}, ValueError,
     "clip_grad_norm_: norm_type must be > 0 or math.inf, got -2.0"),
    ({"max_norm": 1.0, "eps": -1.0}, ValueError, "clip_grad_norm_: eps must be >= 0"),
])
def test_clip_grad_norm_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        optim.clip_grad_norm_(_params(), **kwargs)


def test_clip_grad_norm_refuses_parameters_that_are_not_tensors():
    with pytest.raises(TypeError, match=r"clip_grad_norm_: parameters\[0\] must be a "
                                        "Tensor, got float"):
        optim.clip_grad_norm_([1.0], 1.0)


def test_clip_grad_norm_takes_inf_as_a_str_and_can_refuse_a_nonfinite_norm():
    params = _params()
    assert optim.clip_grad_norm_(params, 10.0, norm_type="inf") == 1.0
    params[0].grad = tg.tensor(np.full((2, 3), math.inf))
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of "
                                           "the gradients is inf"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
