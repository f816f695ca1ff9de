"""nn.init: every initialiser fills a Parameter or its raw ``.data`` array in place, from
tinygen's seeded generator, with the distribution its formula names."""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn

FILLS = {
    "uniform_": lambda t: nn.init.uniform_(t, -0.5, 0.5),
    "normal_": lambda t: nn.init.normal_(t, 0.0, 0.02),
    "constant_": lambda t: nn.init.constant_(t, 0.3),
    "zeros_": nn.init.zeros_,
    "ones_": nn.init.ones_,
    "xavier_uniform_": nn.init.xavier_uniform_,
    "xavier_normal_": nn.init.xavier_normal_,
    "kaiming_uniform_": lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_normal_": lambda t: nn.init.kaiming_normal_(t, mode="fan_out",
                                                         nonlinearity="relu"),
    "orthogonal_": nn.init.orthogonal_,
}


def _weight(shape=(6, 4, 3, 3)):
    return nn.Parameter(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("name", FILLS)
def test_initialiser_fills_a_parameter_in_place_and_returns_it(name):
    weight = _weight()
    loss = (weight * weight).sum()  # saves the weight for backward

    result = FILLS[name](weight)

    assert result is weight and weight.dtype == np.float32
    if name != "zeros_":
        assert weight.numpy().any()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()  # the mutation guard saw the change


@pytest.mark.parametrize("name", FILLS)
def test_initialiser_accepts_the_raw_data_array_as_pytorch_programs_pass_it(name):
    tg.manual_seed(3)
    expected = FILLS[name](_weight()).numpy()
    tg.manual_seed(3)
    weight = _weight()
    array = weight.data

    result = FILLS[name](weight.data)

    assert result is array and weight.data is array  # filled in place, not replaced
    np.testing.assert_array_equal(weight.numpy(), expected)


@pytest.mark.parametrize("name", ["normal_", "kaiming_uniform_", "orthogonal_"])
def test_initialisers_repeat_under_the_same_seed(name):
    tg.manual_seed(11)
    first = FILLS[name](_weight()).numpy()
    tg.manual_seed(11)
    second = FILLS[name](_weight()).numpy()
    np.testing.assert_array_equal(first, second)


def test_dcgan_weights_init_idiom_fills_conv_and_batch_norm_data():
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 64, 4), nn.BatchNorm2d(64), nn.ConvTranspose2d(64, 32, 4))

    model.apply(weights_init)

    assert model[0].weight.numpy().std() == pytest.approx(0.02, rel=0.1)
    assert model[1].weight.numpy().mean() == pytest.approx(1.0, abs=0.01)
    assert not model[1].bias.numpy().any()


def test_orthogonal_gives_orthonormal_rows_or_columns_scaled_by_gain():
    wide, tall = nn.Parameter(np.zeros((3, 8))), nn.Parameter(np.zeros((8, 3)))

    nn.init.orthogonal_(wide, gain=2.0)
    nn.init.orthogonal_(tall.data)

    np.testing.assert_allclose(wide.numpy() @ wide.numpy().T, 4 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(tall.numpy().T @ tall.numpy(), np.eye(3), atol=1e-12)


def test_fan_based_initialisers_follow_their_bounds():
    tg.manual_seed(5)
    weight = nn.Parameter(np.zeros((300, 200, 2, 2)))
    fan_in, fan_out = 200 * 4, 300 * 4

    nn.init.kaiming_uniform_(weight.data, a=math.sqrt(5))
    bound = 1 / math.sqrt(fan_in)  # gain sqrt(2 / 6) * sqrt(3 / fan_in)
    assert bound * 0.99 < np.abs(weight.numpy()).max() <= bound

    nn.init.xavier_normal_(weight)
    assert weight.numpy().std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)


def test_bad_arguments_name_the_initialiser_and_the_value():
    with pytest.raises(ValueError, match=r"xavier_uniform_: needs a tensor with at least 2 axes, "
                                         r"got shape \(5,\)"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(5)))
    with pytest.raises(ValueError, match="orthogonal_: needs at least 2 axes"):
        nn.init.orthogonal_(np.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan'"):
        nn.init.kaiming_normal_(_weight(), mode="fan")


@pytest.mark.gpu
@pytest.mark.parametrize("name", FILLS)
def test_initialiser_fills_a_gpu_parameters_raw_array_on_the_gpu(name):
    weight = nn.Conv2d(4, 6, 3).to("cuda").weight  # moved in place: still a Parameter
    array = weight.data

    FILLS[name](weight.data)

    assert weight.data is array and weight.device == "cuda"
    if name != "zeros_":
        assert weight.numpy().any()
