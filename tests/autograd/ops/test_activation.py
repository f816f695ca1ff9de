"""Activations: properties the op registry's checks (tinygen/testing/op_specs*.py) do not
state: PyTorch's ``inplace`` flag, finiteness at extreme inputs, the argument errors, prelu's
channel axis, glu's halves and relu's block path for large arrays."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import gradcheck, gradgradcheck
from tinygen.autograd.ops import activation


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


INPLACE = [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}),
    ("selu", {}), ("celu", {"alpha": 2.0}), ("silu", {}), ("mish", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 0.5}), ("relu6", {}), ("hardsigmoid", {}),
]


@pytest.mark.parametrize("name, settings", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_true_returns_the_same_values_as_a_new_tensor_and_keeps_the_input(name,
                                                                                 settings):
    values = np.array([-2.0, -0.3, 0.0, 0.4, 7.0])
    x = leaf(values)

    expected = getattr(F, name)(x, **settings)
    result = getattr(F, name)(x, **settings, inplace=True)
    result.sum().backward()

    assert result is not x
    np.testing.assert_array_equal(result.numpy(), expected.numpy())
    np.testing.assert_array_equal(x.numpy(), values)
    assert x.grad is not None


EXTREME = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "selu", "celu", "softsign",
                                  "hardsigmoid", "glu", "softplus"])
def test_activation_is_finite_with_finite_gradients_at_extreme_inputs(name):
    x = leaf(np.concatenate([EXTREME, EXTREME[::-1]]))

    y = getattr(F, name)(x)
    y.sum().backward()

    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))


def test_gelu_tanh_approximation_is_close_to_the_exact_gelu():
    x = tg.tensor(np.linspace(-6, 6, 121))
    exact, approximate = F.gelu(x), F.gelu(x, approximate="tanh")
    np.testing.assert_allclose(approximate.numpy(), exact.numpy(), atol=1e-3)


def test_gelu_exact_is_x_times_the_normal_cdf():
    x = np.linspace(-4, 4, 81)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    # PyTorch's formula x/2 (1 + erf(x/sqrt 2)) rounds 1 + erf: absolute error ~1e-16 for x < 0
    np.testing.assert_allclose(F.gelu(tg.tensor(x)).numpy(), x * cdf, rtol=1e-14, atol=1e-15)


def test_selu_preserves_a_standard_normal_mean_and_variance():
    x = np.random.default_rng(0).standard_normal(400_000)
    y = F.selu(tg.tensor(x)).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01


def test_softplus_beyond_its_threshold_is_the_identity_with_slope_one():
    x = leaf([10.0, 30.0])

    y = F.softplus(x, beta=2.0, threshold=20.0)
    y.sum().backward()

    assert y.numpy()[1] == 30.0
    assert x.grad.numpy()[1] == 1.0
    assert y.numpy()[0] == pytest.approx(math.log1p(math.exp(20.0)) / 2, rel=1e-15)


def test_prelu_uses_one_slope_per_channel_on_axis_one():
    x = leaf(-np.ones((2, 3, 2)))
    weight = leaf([0.1, 0.2, 0.3])

    y = F.prelu(x, weight)
    y.sum().backward()

    np.testing.assert_allclose(y.numpy()[0, :, 0], [-0.1, -0.2, -0.3])
    np.testing.assert_allclose(weight.grad.numpy(), [-4.0, -4.0, -4.0])
    assert gradcheck(F.prelu, [leaf([[-1.0, 2.0, -0.5]]), weight])
    assert gradgradcheck(F.prelu, [leaf([[-1.0, 2.0, -0.5]]), weight])


def test_prelu_rejects_a_slope_count_that_is_not_one_or_the_channels():
    with pytest.raises(ValueError, match=r"prelu: weight must have 1 entry or one per channel "
                                         r"\(input axis 1: 3\), got weight shape \(2,\)"):
        F.prelu(tg.ones(2, 3), tg.ones(2))
    with pytest.raises(ValueError, match=r"prelu: weight must be 0-d or 1-D"):
        F.prelu(tg.ones(2, 3), tg.ones(1, 3))


def test_glu_gates_the_first_half_with_the_second():
    x = tg.tensor(np.array([[1.0, 2.0, 0.0, 100.0]]))
    np.testing.assert_allclose(F.glu(x).numpy(), [[0.5, 2.0]])
    assert F.glu(tg.ones(4, 6, 2), dim=1).shape == (4, 3, 2)


def test_glu_rejects_odd_lengths_and_zero_dim_inputs():
    with pytest.raises(ValueError, match="glu: the halved axis must have an even length, but "
                                         "axis 1 has length 3"):
        F.glu(tg.ones(2, 3))
    with pytest.raises(ValueError, match="glu: input must have at least one axis"):
        F.glu(tg.tensor(1.0))
    with pytest.raises(IndexError, match=r"glu: dim must be an int in \[-2, 1\], got 2"):
        F.glu(tg.ones(2, 2), dim=2)


def test_activations_reject_bad_settings():
    x = tg.ones(3)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got "
                                         "'erf'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="celu: alpha must be nonzero, got 0"):
        F.celu(x, alpha=0)
    with pytest.raises(ValueError, match="hardtanh: min_val must be <= max_val, got "
                                         "min_val=1.0, max_val=-1.0"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="softplus: beta must be nonzero"):
        F.softplus(x, beta=0)


def test_functional_names_include_torch_spellings():
    assert F.logsigmoid is F.log_sigmoid
    for name in ("gelu", "silu", "mish", "hardtanh", "relu6", "selu", "celu", "prelu",
                 "softsign", "hardsigmoid", "glu"):
        assert getattr(F, name) is getattr(tg, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(size=st.integers(2 * activation._ZERO_BLOCK, 3 * activation._ZERO_BLOCK + 7),
       seed=st.integers(0, 2**16))
def test_relu_in_zero_blocks_gives_the_scalar_maximums_bits(dtype, size, seed):
    # the block path (a large contiguous NumPy array): the same values as max(x, 0), signed
    # zeros, infinities and NaN included, and the gradient passing at NaN
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(dtype)
    specials = rng.choice(size, 40, replace=False)
    x[specials] = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan] * 8, dtype=dtype)
    t = tg.tensor(x.reshape(-1, 1), requires_grad=True)

    y = F.relu(t)
    y.backward(tg.ones_like(y))

    want = np.maximum(x, 0).reshape(-1, 1)
    np.testing.assert_array_equal(y.numpy(), want)
    assert np.array_equal(np.signbit(y.numpy()), np.signbit(want))
    np.testing.assert_array_equal(t.grad.numpy().ravel(), (~(want.ravel() <= 0)).astype(dtype))


def test_relu_of_a_strided_view_takes_the_scalar_path():
    x = np.arange(-40000.0, 40000.0, dtype=np.float32).reshape(400, 200)[:, ::2]
    np.testing.assert_array_equal(F.relu(tg.tensor(x)).numpy(), np.maximum(x, 0))
