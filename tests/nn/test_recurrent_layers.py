"""Recurrent layers (RNN, GRU, LSTM and their cells): shapes, PyTorch's parameter names and
initialisation, the equations, first- and second-order gradients, unbatched inputs, errors.
The agreement with torch.nn from the same weights is in tests/parity/test_layers_parity.py."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from tinygen.autograd import gradcheck, gradgradcheck


def x64(*shape, seed=0):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(("options", "x_shape", "out_shape", "state_shape"), [
    ({}, (5, 2, 3), (5, 2, 4), (1, 2, 4)),
    ({"batch_first": True, "num_layers": 2}, (2, 5, 3), (2, 5, 4), (2, 2, 4)),
    ({"bidirectional": True}, (5, 2, 3), (5, 2, 8), (2, 2, 4)),
    ({"bidirectional": True, "num_layers": 3, "batch_first": True}, (2, 5, 3), (2, 5, 8),
     (6, 2, 4)),
    ({"num_layers": 2}, (5, 3), (5, 4), (2, 4)),  # unbatched (T, input_size)
])
def test_sequence_layer_output_and_state_shapes(kind, options, x_shape, out_shape, state_shape):
    layer = getattr(nn, kind)(3, 4, **options)

    output, state = layer(tg.randn(*x_shape))

    assert output.shape == out_shape
    states = state if kind == "LSTM" else (state,)
    assert len(states) == (2 if kind == "LSTM" else 1)
    assert all(s.shape == state_shape for s in states)


def test_state_dict_names_follow_pytorch_layer_and_direction_order():
    gru = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    names = [f"{kind}_l{layer}{suffix}" for layer in range(2) for suffix in ("", "_reverse")
             for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert list(gru.state_dict()) == names
    assert gru.weight_ih_l0.shape == (12, 3) and gru.weight_ih_l1_reverse.shape == (12, 8)
    assert list(nn.RNN(3, 4, bias=False).state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert list(nn.GRUCell(3, 4).state_dict()) == ["weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh"]
    assert nn.RNNCell(3, 4).weight_hh.shape == (4, 4) and nn.LSTM(3, 4).bias_hh_l0.shape == (16,)


@pytest.mark.parametrize("make", [lambda: nn.RNN(10, 64, num_layers=2),
                                  lambda: nn.GRU(10, 64, bidirectional=True),
                                  lambda: nn.LSTM(10, 64), lambda: nn.GRUCell(10, 64),
                                  lambda: nn.RNNCell(10, 64)])
def test_every_parameter_is_uniform_within_one_over_root_hidden(make):
    tg.manual_seed(3)
    for name, value in make().state_dict().items():
        assert np.abs(value).max() <= 1 / 8 + 1e-7, name
        assert np.abs(value).max() > 0.9 / 8, name  # spread over the whole range


def test_gru_cell_follows_pytorchs_equations():
    tg.manual_seed(4)
    cell = nn.GRUCell(3, 2).double()
    x, h = np.random.default_rng(1).standard_normal((2, 4, 3))[:, :, :3]
    h = h[:, :2]
    w_ih, w_hh, b_ih, b_hh = (p.numpy() for p in (cell.weight_ih, cell.weight_hh,
                                                  cell.bias_ih, cell.bias_hh))
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    r = _sigmoid(gi[:, :2] + gh[:, :2])
    z = _sigmoid(gi[:, 2:4] + gh[:, 2:4])
    n = np.tanh(gi[:, 4:] + r * gh[:, 4:])
    np.testing.assert_allclose(cell(tg.tensor(x), tg.tensor(h)).numpy(), (1 - z) * n + z * h,
                               rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_follows_the_elman_equation(nonlinearity):
    tg.manual_seed(5)
    cell = nn.RNNCell(3, 2, nonlinearity=nonlinearity).double()
    x, h = np.random.default_rng(2).standard_normal((4, 3)), np.full((4, 2), 0.3)
    pre = (x @ cell.weight_ih.numpy().T + cell.bias_ih.numpy() + h @ cell.weight_hh.numpy().T
           + cell.bias_hh.numpy())
    expected = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
    np.testing.assert_allclose(cell(tg.tensor(x), tg.tensor(h)).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_bidirectional_outputs_end_where_each_direction_ends(kind):
    tg.manual_seed(6)
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    output, state = layer(tg.randn(5, 2, 3))
    h_n = (state[0] if kind == "LSTM" else state).numpy()
    # the forward direction ends at the last step, the reverse one at the first
    np.testing.assert_array_equal(output.numpy()[-1, :, :4], h_n[2])
    np.testing.assert_array_equal(output.numpy()[0, :, 4:], h_n[3])


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_an_unbatched_sequence_is_a_batch_of_one_and_zero_state_is_the_default(kind):
    tg.manual_seed(7)
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    x = tg.randn(5, 3)
    zeros = tg.zeros(4, 4)
    output, state = layer(x)
    batched_output, batched_state = layer(x.unsqueeze(1),
                                          (zeros.unsqueeze(1),) * 2 if kind == "LSTM"
                                          else zeros.unsqueeze(1))
    np.testing.assert_array_equal(output.numpy(), batched_output.numpy()[:, 0])
    for alone, batched in zip(state if kind == "LSTM" else (state,),
                              batched_state if kind == "LSTM" else (batched_state,)):
        np.testing.assert_array_equal(alone.numpy(), batched.numpy()[:, 0])


@pytest.mark.parametrize("make", [
    lambda: nn.RNN(2, 3, num_layers=2, nonlinearity="tanh", bidirectional=True),
    lambda: nn.GRU(2, 3, num_layers=2, batch_first=True),
    lambda: nn.LSTM(2, 3, bidirectional=True),
])
def test_sequence_layers_pass_first_and_second_order_gradient_checks(make):
    tg.manual_seed(8)
    layer = make().double()
    x = x64(3, 2, 2)
    names = [name for name, _ in layer.named_parameters()]
    params = [tg.tensor(p.numpy().copy(), requires_grad=True) for p in layer.parameters()]

    def loss(inp, *weights):
        # the layer reads gradcheck's perturbed copies of its parameters
        for name, weight in zip(names, weights):
            setattr(layer, name, weight)
        output, state = layer(inp)
        last = state[0] if isinstance(state, tuple) else state
        return (output * output).sum() + last.sum()

    assert gradcheck(loss, [x, *params])
    assert gradgradcheck(lambda inp: layer(inp)[0], [x])


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(3, 2, nonlinearity="relu"),
                                  lambda: nn.GRUCell(3, 2), lambda: nn.LSTMCell(3, 2)])
def test_cells_pass_gradient_checks_with_and_without_a_batch(make):
    tg.manual_seed(9)
    cell = make().double()

    def first(inp, h):
        out = cell(inp, (h, h) if isinstance(cell, nn.LSTMCell) else h)
        return out[0] if isinstance(out, tuple) else out

    # away from relu's kink: every pre-activation positive
    x, h = x64(4, 3, seed=1), tg.tensor(np.full((4, 2), 0.2), requires_grad=True)
    with tg.no_grad():
        for p in cell.parameters():
            p.copy_(np.abs(p.numpy()))
    x = tg.tensor(np.abs(x.numpy()), requires_grad=True)
    assert gradcheck(first, [x, h]) and gradgradcheck(first, [x, h])
    assert first(tg.tensor(x.numpy()[0]), tg.tensor(h.numpy()[0])).shape == (2,)


def test_dropout_between_layers_acts_in_training_only():
    tg.manual_seed(10)
    layer = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = tg.randn(6, 2, 3)
    first, second = layer(x)[0].numpy(), layer(x)[0].numpy()
    assert not np.array_equal(first, second)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), layer(x)[0].numpy())
    single = nn.RNN(3, 4, dropout=0.5)  # one layer: nothing between layers to drop
    np.testing.assert_array_equal(single(x)[0].numpy(), single(x)[0].numpy())


def test_recurrent_layers_reject_bad_arguments_naming_themselves():
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu', got "
                                         "'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="GRU: dropout must be in \\[0, 1\\], got 2"):
        nn.GRU(3, 4, dropout=2)
    with pytest.raises(NotImplementedError, match="LSTM: proj_size must be 0"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"GRU: expected a 2-D or 3-D input, got "
                                         r"shape \(1, 5, 2, 3\)"):
        nn.GRU(3, 4)(tg.randn(1, 5, 2, 3))
    with pytest.raises(ValueError, match=r"RNN: h_0 must have shape \(2, 2, 4\), got "
                                         r"\(1, 2, 4\)"):
        nn.RNN(3, 4, bidirectional=True)(tg.randn(5, 2, 3), tg.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="GRU: expected input with 3 features on axis 2"):
        nn.GRU(3, 4)(tg.randn(5, 2, 2))
    with pytest.raises(ValueError, match=r"GRUCell: expected a 1-D or 2-D input, got shape "
                                         r"\(1, 2, 3\)"):
        nn.GRUCell(3, 4)(tg.randn(1, 2, 3))
    with pytest.raises(ValueError, match=r"RNNCell: h must have shape \(2, 4\), got \(4,\)"):
        nn.RNNCell(3, 4)(tg.randn(2, 3), tg.zeros(4))
