"""LayerNorm, GroupNorm and InstanceNorm1d/2d: PyTorch's parameters, buffers, default
initialisation, reprs, state dicts, unbatched inputs, train/eval modes and errors."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

RNG = np.random.default_rng(0)


def test_layer_norm_has_ones_and_zeros_of_the_normalized_shape():
    layer = nn.LayerNorm((3, 4))

    assert layer.normalized_shape == (3, 4)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones((3, 4), dtype=np.float32))
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros((3, 4), dtype=np.float32))
    assert nn.LayerNorm(4).normalized_shape == (4,)
    assert nn.LayerNorm(4, bias=False).bias is None
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None


def test_layer_norm_forward_is_the_functional_op_and_trains_its_parameters():
    layer = nn.LayerNorm(5)
    x = tg.tensor(RNG.standard_normal((2, 3, 5)).astype(np.float32))

    y = layer(x)
    (y * y).sum().backward()

    np.testing.assert_array_equal(y.numpy(), F.layer_norm(x, (5,)).numpy())
    assert layer.weight.grad.shape == (5,) and layer.bias.grad.shape == (5,)


def test_group_norm_parameters_repr_and_errors():
    layer = nn.GroupNorm(2, 6, affine=True)

    assert repr(layer) == "GroupNorm(2, 6, eps=1e-05, affine=True, bias=True)"
    assert layer.weight.shape == (6,) and layer.bias.shape == (6,)
    assert nn.GroupNorm(3, 6, affine=False).weight is None
    with pytest.raises(ValueError, match="GroupNorm: num_channels must be divisible by "
                                         "num_groups, got num_channels=6, num_groups=4"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="GroupNorm: expected input with 6 channels on axis 1"):
        layer(tg.ones(2, 4, 3))


def test_group_norm_forward_is_the_functional_op():
    layer = nn.GroupNorm(2, 4)
    x = tg.tensor(RNG.standard_normal((3, 4, 5)).astype(np.float32))
    np.testing.assert_array_equal(layer(x).numpy(), F.group_norm(x, 2).numpy())


def test_instance_norm_defaults_have_no_parameters_and_no_buffers():
    layer = nn.InstanceNorm2d(3)

    assert list(layer.state_dict()) == []
    assert repr(layer) == ("InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, "
                           "bias=False, track_running_stats=False)")


def test_instance_norm_tracks_running_stats_in_training_and_uses_them_in_eval():
    layer = nn.InstanceNorm1d(2, affine=True, track_running_stats=True, momentum=0.5)
    x_values = RNG.standard_normal((3, 2, 5)).astype(np.float32) + 2

    layer(tg.tensor(x_values))
    layer.eval()
    y = layer(tg.tensor(x_values))

    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"]
    expected_mean = 0.5 * x_values.mean(axis=2).mean(axis=0)
    expected_var = 0.5 + 0.5 * x_values.var(axis=2, ddof=1).mean(axis=0)
    np.testing.assert_allclose(layer.running_mean.numpy(), expected_mean, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var.numpy(), expected_var, rtol=1e-5)
    np.testing.assert_allclose(y.numpy(), (x_values - expected_mean[:, None]) / np.sqrt(
        expected_var[:, None] + 1e-5), rtol=1e-4, atol=1e-5)


def test_instance_norm_takes_an_unbatched_input():
    layer = nn.InstanceNorm2d(3)
    x = tg.tensor(RNG.standard_normal((3, 4, 4)).astype(np.float32))

    y = layer(x)

    assert y.shape == (3, 4, 4)
    np.testing.assert_allclose(y.numpy(), layer(x.reshape(1, 3, 4, 4)).numpy()[0])


def test_instance_norm_checks_rank_and_channels():
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected a 3-D or 4-D input, got "
                                         r"shape \(2, 3\)"):
        nn.InstanceNorm2d(3)(tg.ones(2, 3))
    with pytest.raises(ValueError, match="InstanceNorm1d: expected 3 channels on axis 1"):
        nn.InstanceNorm1d(3, affine=True)(tg.ones(2, 4, 5))
    with pytest.warns(UserWarning, match="InstanceNorm1d: expected 3 channels"):
        nn.InstanceNorm1d(3)(tg.ones(2, 4, 5))


def test_batch_norm_repr_names_its_bias_as_torch():
    assert repr(nn.BatchNorm1d(4, affine=True, bias=False)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=False, "
        "track_running_stats=True)")
    assert nn.BatchNorm1d(4, bias=False).bias is None


@pytest.mark.parametrize("make", [lambda: nn.LayerNorm((2, 3)), lambda: nn.GroupNorm(2, 4),
                                  lambda: nn.InstanceNorm2d(4, affine=True,
                                                            track_running_stats=True)])
def test_state_dict_round_trips(make):
    source, target = make(), make()
    for _, value in source.named_parameters():
        value.data = RNG.standard_normal(value.shape).astype(np.float32)

    target.load_state_dict(source.state_dict())

    for (name, mine), (_, theirs) in zip(target.state_dict().items(),
                                         source.state_dict().items(), strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs), err_msg=name)


def test_layers_refuse_a_nonpositive_eps_or_shape():
    with pytest.raises(ValueError, match="LayerNorm: eps must be > 0, got 0"):
        nn.LayerNorm(3, eps=0)
    with pytest.raises(ValueError, match=r"LayerNorm: normalized_shape must be >= 1, got \(3, 0\)"):
        nn.LayerNorm((3, 0))
