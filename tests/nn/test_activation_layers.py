"""Activation layers: PyTorch's constructor arguments (positional and keyword), reprs,
PReLU's parameter, Softmax's dim, and that each layer is its functional op."""

import warnings

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

X = tg.tensor(np.linspace(-4, 4, 24).reshape(2, 4, 3))


@pytest.mark.parametrize("layer, function", [
    (nn.ReLU(), F.relu), (nn.ReLU(True), F.relu), (nn.ReLU6(inplace=True), F.relu6),
    (nn.LeakyReLU(0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2)),
    (nn.ELU(alpha=0.5, inplace=False), lambda x: F.elu(x, 0.5)),
    (nn.CELU(2.0), lambda x: F.celu(x, 2.0)), (nn.SELU(), F.selu), (nn.SiLU(), F.silu),
    (nn.Mish(), F.mish), (nn.GELU(), F.gelu),
    (nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (nn.Hardtanh(-2.0, 2.0), lambda x: F.hardtanh(x, -2.0, 2.0)),
    (nn.Hardsigmoid(), F.hardsigmoid), (nn.Softsign(), F.softsign),
    (nn.Softplus(2.0, 5.0), lambda x: F.softplus(x, 2.0, 5.0)), (nn.Sigmoid(), F.sigmoid),
    (nn.Tanh(), F.tanh), (nn.LogSigmoid(), F.logsigmoid), (nn.GLU(1), lambda x: F.glu(x, 1)),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, 1)),
    (nn.LogSoftmax(-1), lambda x: F.log_softmax(x, -1)),
])
def test_layer_applies_its_functional_op(layer, function):
    np.testing.assert_array_equal(layer(X).numpy(), function(X).numpy())


@pytest.mark.parametrize("layer, text", [
    (nn.ReLU(), "ReLU()"), (nn.ReLU(True), "ReLU(inplace=True)"),
    (nn.ReLU6(inplace=True), "ReLU6(inplace=True)"), (nn.SELU(), "SELU()"),
    (nn.SiLU(True), "SiLU(inplace=True)"), (nn.Mish(True), "Mish(inplace=True)"),
    (nn.Hardsigmoid(True), "Hardsigmoid()"),
    (nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (nn.ELU(alpha=1.0, inplace=False), "ELU(alpha=1.0)"),
    (nn.CELU(2.0, True), "CELU(alpha=2.0, inplace=True)"),
    (nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.GELU(), "GELU(approximate='none')"), (nn.PReLU(3), "PReLU(num_parameters=3)"),
    (nn.GLU(), "GLU(dim=-1)"), (nn.Softmax(), "Softmax(dim=None)"),
    (nn.LogSoftmax(1), "LogSoftmax(dim=1)"), (nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
    (nn.Softsign(), "Softsign()"),
])
def test_layer_repr_reads_as_torch(layer, text):
    assert repr(layer) == text


def test_prelu_learns_one_slope_per_channel_initialised_to_init():
    layer = nn.PReLU(4, init=0.1)
    x = tg.tensor(-np.ones((2, 4, 3)), dtype=np.float32)

    layer(x).sum().backward()

    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.shape == (4,) and np.all(layer.weight.numpy() == np.float32(0.1))
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.full(4, -6.0))
    restored = nn.PReLU(4)
    restored.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(restored.weight.numpy(), layer.weight.numpy())


def test_prelu_refuses_a_bad_parameter_count():
    with pytest.raises(ValueError, match="PReLU: num_parameters must be a positive int, got 0"):
        nn.PReLU(0)


def test_softmax_without_dim_picks_pytorchs_legacy_axis_with_a_warning():
    with pytest.warns(UserWarning, match="Implicit dimension choice for Softmax"):
        y2 = nn.Softmax()(tg.ones(2, 5))
    with pytest.warns(UserWarning, match="Implicit dimension choice for LogSoftmax"):
        y3 = nn.LogSoftmax()(tg.ones(2, 5, 4))
    np.testing.assert_allclose(y2.numpy(), np.full((2, 5), 0.2))  # axis 1 for 2-D
    np.testing.assert_allclose(y3.numpy(), np.full((2, 5, 4), np.log(0.5)))  # axis 0 for 3-D
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Softmax(dim=0)(tg.ones(3))


def test_layers_refuse_bad_settings():
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="Hardtanh: max_val must be > min_val"):
        nn.Hardtanh(1.0, 1.0)
