"""Layers: shapes, gradients (checked in float64), masks, argument errors."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck


def as_float64(module):
    return module.double()


def call_with(module, parameters, *inputs):
    """Run module with its parameters replaced by ``parameters`` (in named order), so that
    gradcheck's perturbed copies are the ones the forward pass reads."""
    slots = [(owner, name) for _, owner in module.named_modules()
             for name, value in vars(owner).items() if isinstance(value, nn.Parameter)]
    originals = [getattr(owner, name) for owner, name in slots]
    for (owner, name), tensor in zip(slots, parameters, strict=True):
        setattr(owner, name, tensor)
    try:
        return module(*inputs)
    finally:
        for (owner, name), original in zip(slots, originals, strict=True):
            setattr(owner, name, original)


def x64(*shape, seed=0):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize(("layer", "shape", "out_shape"), [
    (lambda: nn.Linear(3, 2), (4, 3), (4, 2)),
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 2, 5, 5), (2, 3, 3, 3)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (2, 2, 3, 3), (2, 3, 6, 6)),
    (lambda: nn.MaskedConv2d(2, 2, 3, mask_type="A"), (1, 2, 4, 4), (1, 2, 4, 4)),
    (lambda: nn.BatchNorm1d(3), (5, 3), (5, 3)),
    (lambda: nn.BatchNorm1d(2), (3, 2, 4), (3, 2, 4)),
    (lambda: nn.MaskedConv2d(3, 3, 3, mask_type="B", channel_groups=3), (1, 3, 3, 3),
     (1, 3, 3, 3)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2), (3, 2, 2, 2)),
    (lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 4))), (3, 2, 2, 2), (3, 2, 4)),
    (lambda: nn.Sequential(nn.LeakyReLU(0.2), nn.ELU(), nn.Tanh(), nn.Sigmoid(),
                           nn.Softplus(), nn.ReLU()), (3, 4), (3, 4)),
])
def test_layer_output_shape_and_gradients(layer, shape, out_shape):
    tg.manual_seed(0)
    module = as_float64(layer())
    x = x64(*shape)
    assert module(x).shape == out_shape
    params = [tg.tensor(p.data.copy(), requires_grad=True) for _, owner in
              module.named_modules() for p in vars(owner).values()
              if isinstance(p, nn.Parameter)]
    assert gradcheck(lambda inp, *ps: call_with(module, ps, inp), [x, *params])


def test_lstm_and_lstm_cell_gradients_in_float64():
    tg.manual_seed(1)
    lstm = as_float64(nn.LSTM(3, 2, batch_first=True))
    x = x64(2, 4, 3)
    output, (h, c) = lstm(x)
    assert output.shape == (2, 4, 2) and h.shape == (1, 2, 2) and c.shape == (1, 2, 2)
    np.testing.assert_allclose(output.numpy()[:, -1], h.numpy()[0])
    assert gradcheck(lambda inp: lstm(inp)[0], [x])
    cell = as_float64(nn.LSTMCell(3, 2))
    assert gradcheck(lambda inp: cell(inp)[0], [x64(2, 3)])


def test_embedding_gathers_rows_and_scatters_gradients():
    tg.manual_seed(2)
    embedding = nn.Embedding(5, 3)
    out = embedding(np.array([[1, 1], [4, 0]]))
    assert out.shape == (2, 2, 3)
    out.sum().backward()
    np.testing.assert_allclose(embedding.weight.grad.numpy()[:, 0], [1, 2, 0, 0, 1])
    with pytest.raises(ValueError, match=r"indices must be in \[0, 5\)"):
        embedding(np.array([5]))


def test_dropout_layer_follows_train_and_eval():
    layer = nn.Dropout(0.5)
    x = tg.ones(1000)
    assert (layer(x).numpy() == 0).any()
    assert layer.eval()(x) is x


def test_masked_conv_weight_gradient_is_masked():
    layer = nn.MaskedConv2d(1, 1, 3, mask_type="A")
    layer(tg.randn(1, 1, 5, 5)).sum().backward()
    grad = layer.weight.grad.numpy()[0, 0]
    assert not grad[1, 1:].any() and not grad[2].any() and grad[0].all()


def test_default_inits_follow_pytorch_bounds():
    tg.manual_seed(3)
    linear = nn.Linear(100, 50)
    assert np.abs(linear.weight.numpy()).max() <= 1 / np.sqrt(100) + 1e-7
    assert np.abs(linear.bias.numpy()).max() <= 1 / np.sqrt(100) + 1e-7
    lstm = nn.LSTMCell(10, 16)
    assert np.abs(lstm.weight_hh.numpy()).max() <= 0.25 + 1e-7


def test_transposed_conv_draws_its_weight_then_its_bias_once():
    # weight (in, out / groups, kh, kw): PyTorch's fan-in is axis 1 times the kernel, 2 * 9
    tg.manual_seed(4)
    layer = nn.ConvTranspose2d(6, 4, 3, groups=2)
    follower = nn.Linear(2, 2)
    tg.manual_seed(4)
    weight = nn.init.kaiming_uniform_(nn.Parameter(np.empty((6, 2, 3, 3), dtype=np.float32)),
                                      a=np.sqrt(5))
    bias = nn.init.uniform_(nn.Parameter(np.empty(4, dtype=np.float32)), -1 / np.sqrt(18),
                            1 / np.sqrt(18))
    np.testing.assert_array_equal(layer.weight.numpy(), weight.numpy())
    np.testing.assert_array_equal(layer.bias.numpy(), bias.numpy())
    # nothing else drawn: the next layer starts where the bias left the generator
    np.testing.assert_array_equal(follower.weight.numpy(), nn.Linear(2, 2).weight.numpy())


def test_orthogonal_init_gives_orthonormal_rows():
    weight = nn.Parameter(np.empty((4, 8), dtype=np.float64))
    nn.init.orthogonal_(weight)
    np.testing.assert_allclose(weight.numpy() @ weight.numpy().T, np.eye(4), atol=1e-10)


def test_functional_linear_names_the_bad_shape():
    x, weight = tg.randn(4, 3), tg.randn(2, 3)
    with pytest.raises(ValueError, match=r"linear: weight must be \(out_features, in_features\), "
                                         r"got shape \(2, 3, 1\)"):
        F.linear(x, tg.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"x's last axis must be in_features=3, got shape "
                                         r"\(4, 5\)"):
        F.linear(tg.randn(4, 5), weight)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        F.linear(x, weight, tg.randn(3))
    with pytest.raises(TypeError, match="share a dtype, got float64, float32 and None"):
        F.linear(tg.randn(4, 3, dtype="float64"), weight)
    with pytest.raises(TypeError, match="weight must be a Tensor, got ndarray"):
        F.linear(x, np.ones((2, 3), dtype=np.float32))


def test_layers_reject_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="Linear: expected input with 3 features"):
        nn.Linear(3, 2)(tg.randn(4, 5))
    with pytest.raises(ValueError, match="groups=2 must divide"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        nn.MaskedConv2d(1, 1, 3, mask_type="C")
    with pytest.raises(ValueError, match="BatchNorm2d: expected a 4-D input"):
        nn.BatchNorm2d(3)(tg.randn(4, 3))


def _input_gradient_of_one_output_pixel(layer, x, i, j, channels=slice(None)):
    """|dy[0, channels, i, j] / dx| summed over the chosen output channels: (C_in, H, W)."""
    y = layer(x)
    gy = np.zeros(y.shape)
    gy[0, channels, i, j] = 1.0
    (gx,) = tg.autograd.grad(y, [x], [tg.tensor(gy, dtype=y.dtype)])
    return np.abs(gx.numpy()[0])


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_output_pixel_sees_only_raster_earlier_input_pixels(mask_type):
    tg.manual_seed(4)
    layer = nn.MaskedConv2d(2, 3, 5, mask_type=mask_type)
    x = tg.randn(1, 2, 6, 6, requires_grad=True)
    raster = np.arange(36).reshape(6, 6)
    for i, j in [(0, 0), (2, 3), (5, 5)]:
        seen = _input_gradient_of_one_output_pixel(layer, x, i, j).sum(axis=0)
        assert not seen[raster > raster[i, j]].any(), "a raster-later pixel leaks"
        assert (seen[i, j] > 0) == (mask_type == "B"), "centre pixel visibility"
        if (i, j) != (0, 0):
            window = (np.abs(np.subtract.outer(np.arange(6), i))[:, None] <= 2) & (
                np.abs(np.subtract.outer(np.arange(6), j))[None, :] <= 2)
            assert seen[window & (raster < raster[i, j])].all(), "earlier pixels are seen"


@pytest.mark.parametrize(("mask_type", "visible"), [
    ("A", [[], [0], [0, 1]]),        # at the centre: R sees nothing, G sees R, B sees R, G
    ("B", [[0], [0, 1], [0, 1, 2]]),
])
def test_masked_conv_rgb_groups_see_only_earlier_colours_at_the_centre(mask_type, visible):
    tg.manual_seed(5)
    layer = nn.MaskedConv2d(3, 6, 3, mask_type=mask_type, channel_groups=3)
    x = tg.randn(1, 3, 4, 4, requires_grad=True)
    for group, channels in enumerate(visible):
        out = slice(2 * group, 2 * group + 2)  # output channels of colour ``group``
        seen = _input_gradient_of_one_output_pixel(layer, x, 2, 2, out)
        assert sorted(np.flatnonzero(seen[:, 2, 2])) == channels
        assert seen[:, 1, 1:].all() and seen[:, 2, 1].all()  # all colours above and left
        assert not seen[:, 2, 3:].any() and not seen[:, 3, :].any()


def test_initialisers_are_repeatable_under_manual_seed():
    tg.manual_seed(7)
    first = nn.Sequential(nn.Linear(4, 3), nn.Conv2d(1, 2, 3), nn.LSTM(2, 3), nn.Embedding(5, 2))
    tg.manual_seed(7)
    second = nn.Sequential(nn.Linear(4, 3), nn.Conv2d(1, 2, 3), nn.LSTM(2, 3),
                           nn.Embedding(5, 2))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(),
                            strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_initialisers_follow_their_formulas():
    tg.manual_seed(8)
    weight = nn.Parameter(np.empty((400, 500), dtype=np.float64))
    nn.init.kaiming_normal_(weight, nonlinearity="relu")
    assert weight.numpy().std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    nn.init.xavier_uniform_(weight, gain=nn.init.calculate_gain("tanh"))
    bound = 5 / 3 * np.sqrt(6 / 900)
    assert np.abs(weight.numpy()).max() <= bound
    assert np.abs(weight.numpy()).max() > 0.99 * bound
    nn.init.normal_(weight, 1.0, 0.5)
    assert weight.numpy().mean() == pytest.approx(1.0, abs=0.01)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(np.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="calculate_gain: nonlinearity must be .* got 'swish'"):
        nn.init.calculate_gain("swish")


def test_init_counts_as_an_in_place_change_for_the_mutation_guard():
    layer = nn.Conv2d(1, 1, 3)
    list(layer.named_parameters())
    loss = layer(tg.randn(1, 1, 4, 4)).sum()
    nn.init.zeros_(layer.weight)
    with pytest.raises(RuntimeError, match="'weight' saved for backward by op Conv2d"):
        loss.backward()


def test_recurrent_layers_reject_bad_state_and_conv_layers_bad_sizes():
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 2, 3\), got \(2, 3\)"):
        nn.LSTM(4, 3)(tg.randn(5, 2, 4), (tg.zeros(2, 3), tg.zeros(2, 3)))
    with pytest.raises(ValueError, match="LSTM: expected input with 4 features on axis 2"):
        nn.LSTM(4, 3)(tg.randn(5, 2, 3))
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be >= 1, got 0"):
        nn.Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="ConvTranspose2d: padding must be >= 0, got -1"):
        nn.ConvTranspose2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\], got 2"):
        nn.BatchNorm2d(3, momentum=2)


@pytest.mark.parametrize(("layer", "shape", "out_shape"), [
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 2, 7), (2, 3, 4)),
    (lambda: nn.Conv1d(4, 2, 2, padding="same", dilation=3, groups=2), (4, 6), (2, 6)),
    (lambda: nn.ConvTranspose1d(2, 3, 4, stride=2, padding=1), (2, 2, 5), (2, 3, 10)),
    (lambda: nn.Conv2d(2, 3, (3, 2), padding="same"), (2, 5, 4), (3, 5, 4)),
    (lambda: nn.ConvTranspose2d(2, 1, 3, stride=2), (2, 3, 3), (1, 7, 7)),
    (lambda: nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.AvgPool2d(2, padding=1)),
     (2, 2, 5, 5), (2, 2, 2, 2)),
    (lambda: nn.Sequential(nn.MaxPool1d(3, stride=1, dilation=2), nn.AvgPool1d(2)), (2, 2, 8),
     (2, 2, 2)),
    (lambda: nn.Sequential(nn.AdaptiveAvgPool2d((2, 3)), nn.AdaptiveMaxPool2d(1)),
     (2, 2, 5, 7), (2, 2, 1, 1)),
    (lambda: nn.Sequential(nn.AdaptiveAvgPool1d(3), nn.AdaptiveMaxPool1d(2)), (2, 9),
     (2, 2)),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), (1, 2, 2, 3),
     (1, 2, 4, 6)),
    (lambda: nn.Upsample(size=5), (1, 2, 3), (1, 2, 5)),
    (lambda: nn.Sequential(nn.PixelShuffle(2), nn.PixelUnshuffle(2)), (1, 8, 2, 3),
     (1, 8, 2, 3)),
])
def test_new_layer_output_shape_and_gradients(layer, shape, out_shape):
    tg.manual_seed(0)
    module = as_float64(layer())
    x = x64(*shape)
    assert module(x).shape == out_shape
    params = [tg.tensor(p.data.copy(), requires_grad=True) for _, owner in
              module.named_modules() for p in vars(owner).values()
              if isinstance(p, nn.Parameter)]
    assert gradcheck(lambda inp, *ps: call_with(module, ps, inp), [x, *params])


@pytest.mark.parametrize(("layer", "keys"), [
    (lambda: nn.Conv1d(2, 3, 3), ["weight", "bias"]),
    (lambda: nn.ConvTranspose1d(2, 3, 3, bias=False), ["weight"]),
    (lambda: nn.MaxPool2d(2), []),
    (lambda: nn.AdaptiveAvgPool2d(1), []),
    (lambda: nn.Upsample(scale_factor=2), []),
    (lambda: nn.PixelShuffle(2), []),
    (lambda: nn.Dropout2d(), []),
])
def test_new_layers_state_dict_keys_are_pytorchs(layer, keys):
    assert list(layer().state_dict()) == keys


def test_conv1d_weights_are_pytorch_shaped_and_bounded():
    tg.manual_seed(1)
    conv = nn.Conv1d(6, 8, 5, groups=2)
    transposed = nn.ConvTranspose1d(6, 8, 5, groups=2)
    assert conv.weight.shape == (8, 3, 5) and transposed.weight.shape == (6, 4, 5)
    assert np.abs(conv.weight.numpy()).max() <= 1 / np.sqrt(15) + 1e-7
    assert np.abs(transposed.bias.numpy()).max() <= 1 / np.sqrt(20) + 1e-7
    assert repr(conv) == "Conv1d(6, 8, kernel_size=(5,), stride=(1,), groups=2)"


def test_conv_transpose_forward_picks_the_output_padding_that_gives_output_size():
    layer = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1)
    x = tg.randn(1, 2, 4, 4)
    assert layer(x).shape == (1, 1, 7, 7)
    assert layer(x, output_size=(8, 7)).shape == (1, 1, 8, 7)
    assert layer(x, output_size=[1, 1, 8, 8]).shape == (1, 1, 8, 8)
    assert nn.ConvTranspose1d(2, 1, 3, stride=3)(tg.randn(2, 4), output_size=(12,)).shape == (
        1, 12)
    with pytest.raises(ValueError, match=r"output_size \(9, 7\) is out of reach: axis 0 must "
                                         r"be in \[7, 8\]"):
        layer(x, output_size=(9, 7))


def test_channel_dropout_layers_follow_train_and_eval():
    x = tg.ones(4, 8, 3, 3)
    layer = nn.Dropout2d(0.5)
    y = layer(x).numpy()
    assert ((y == 0) | (y == 2)).all() and (y == y[:, :, :1, :1]).all()
    assert layer.eval()(x) is x
    assert nn.Dropout1d(1.0)(tg.ones(3, 5)).numpy().max() == 0
    assert repr(nn.Dropout2d(0.25)) == "Dropout2d(p=0.25, inplace=False)"


def test_new_layers_reject_bad_arguments_naming_themselves():
    with pytest.raises(ValueError, match="Conv2d: padding='same' is not supported for strided "
                                         "convolutions, got stride \\(2, 2\\)"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv1d: padding must be 'same', 'valid' or ints, got "
                                         "'full'"):
        nn.Conv1d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="Conv1d: padding_mode must be 'zeros'"):
        nn.Conv1d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="ConvTranspose2d: padding must be ints"):
        nn.ConvTranspose2d(1, 1, 3, padding="same")
    with pytest.raises(ValueError, match="Dropout2d: dropout probability p must be in "
                                         "\\[0, 1\\], got 1.5"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match=r"MaxPool2d: expected a 3-D or 4-D input, got shape "
                                         r"\(4, 4\)"):
        nn.MaxPool2d(2)(tg.randn(4, 4))
