"""AveragedModel (an exponential moving average of weights) and update_bn."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from tinygen.optim import AveragedModel, update_bn


def _net():
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_average_follows_the_exponential_moving_average_definition():
    model = _net()
    start = {name: p.numpy().copy() for name, p in model.named_parameters()}
    averaged = AveragedModel(model, decay=0.9)
    values = [1.5, -2.0]
    for value in values:
        for param in model.parameters():
            param.data[...] = value
        averaged.update_parameters(model)
    for name, param in averaged.module.named_parameters():
        # a_2 = d^2 a_0 + d (1 - d) v_1 + (1 - d) v_2
        expected = 0.81 * start[name] + 0.09 * values[0] + 0.1 * values[1]
        np.testing.assert_allclose(param.numpy(), expected, rtol=1e-6, atol=1e-7)
        assert not param.requires_grad
    assert int(averaged.n_averaged.numpy()) == 2
    # the model itself is untouched by the averaging
    assert all(np.all(p.numpy() == values[-1]) for p in model.parameters())


def test_buffers_are_copied_and_calls_reach_the_averaged_copy():
    model = _net()
    averaged = AveragedModel(model)
    model(tg.randn(8, 3))  # train mode: moves the running statistics
    averaged.update_parameters(model)
    np.testing.assert_array_equal(averaged.module[1].running_mean.numpy(),
                                  model[1].running_mean.numpy())
    x = tg.randn(5, 3)
    averaged.eval()
    np.testing.assert_array_equal(averaged(x).numpy(), averaged.module(x).numpy())
    assert "module.0.weight" in averaged.state_dict() and "n_averaged" in averaged.state_dict()


def test_update_bn_gives_the_plain_average_of_the_batch_statistics():
    model = _net()
    model.eval()
    momentum = model[1].momentum
    rng = np.random.default_rng(1)
    batches = [tg.tensor(rng.normal(size=(6, 3)).astype(np.float32)) for _ in range(3)]
    update_bn(batches, model)
    with tg.no_grad():
        hidden = [model[0](b).numpy() for b in batches]  # what the batch norm layer sees
    np.testing.assert_allclose(model[1].running_mean.numpy(),
                               np.mean([h.mean(0) for h in hidden], axis=0), rtol=1e-5)
    np.testing.assert_allclose(model[1].running_var.numpy(),
                               np.mean([h.var(0, ddof=1) for h in hidden], axis=0), rtol=1e-5)
    assert not model.training and model[1].momentum == momentum


def test_update_bn_passes_tuples_as_arguments():
    class TwoInputs(nn.Module):
        def __init__(self):
            self.norm = nn.BatchNorm1d(2)

        def forward(self, x, shift):
            return self.norm(x + shift)

    model = TwoInputs()
    update_bn([(tg.ones(4, 2), 1.0), (tg.ones(4, 2), 3.0)], model)
    np.testing.assert_allclose(model.norm.running_mean.numpy(), [3.0, 3.0])


@pytest.mark.parametrize("make, message", [
    (lambda: AveragedModel(_net(), decay=1.0), r"decay must be in \[0, 1\), got 1.0"),
    (lambda: AveragedModel("net"), "model must be a Module, got str"),
    (lambda: AveragedModel(_net()).update_parameters(nn.Linear(3, 4)), "differ from"),
    (lambda: update_bn([], _net()), "batches yielded nothing"),
    (lambda: update_bn([tg.ones(2, 3)], "net"), "update_bn: model must be a Module, got str"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()
