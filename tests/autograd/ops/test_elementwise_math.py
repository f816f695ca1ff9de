"""The math functions and the arithmetic: properties the op registry's checks
(tinygen/testing/op_specs_math.py) do not state: erf's accuracy over the whole float64 range,
the edge values (NaN, inf, -0.0, ties), the zero gradient of the rounding ops, integer
division and remainder, the argument errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
from tinygen.testing import arrays, floats


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# --------------------------------------------------------------------------- erf
ERF_POINTS = np.concatenate([
    np.linspace(-8.0, 8.0, 160_001),
    np.geomspace(1e-300, 30.0, 20_000), -np.geomspace(1e-300, 30.0, 2_000),
    # the boundaries of Cody's three ranges, and either side of them
    [0.46875, np.nextafter(0.46875, 1), np.nextafter(0.46875, 0), 4.0, np.nextafter(4.0, 5),
     np.nextafter(4.0, 3), 26.9, 27.0, 27.1, 1e10, 1e300, np.finfo(np.float64).max],
])


def test_erf_is_within_two_units_in_the_last_place_of_math_erf_everywhere():
    expected = np.array([math.erf(x) for x in ERF_POINTS])

    result = tg.erf(tg.tensor(ERF_POINTS)).numpy()

    # 2.2e-16 is one unit in the last place; erf(0) must be exactly 0
    assert np.all(np.abs(result - expected) <= 5e-16 * np.abs(expected))


@given(arrays(st.just((50,)), elements=floats(-10.0, 10.0)))
def test_erf_matches_math_erf_on_drawn_points(x):
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(tg.erf(tg.tensor(x)).numpy(), expected, rtol=5e-16, atol=0)


def test_erf_of_the_special_values():
    x = tg.tensor(np.array([math.nan, math.inf, -math.inf, 0.0, -0.0]))

    y = tg.erf(x).numpy()

    assert np.isnan(y[0])
    assert y[1:].tolist() == [1.0, -1.0, 0.0, -0.0]
    assert math.copysign(1.0, y[4]) == -1.0  # erf(-0.0) keeps the sign, as math.erf


def test_erf_keeps_float32_and_is_accurate_to_float32():
    x = np.linspace(-5, 5, 2001, dtype=np.float32)

    y = tg.erf(tg.tensor(x))

    assert y.dtype == np.float32
    expected = np.array([math.erf(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(y.numpy(), expected, rtol=2e-7, atol=1e-7)


def test_erf_of_a_zero_dim_tensor_has_a_second_derivative():
    x = leaf(0.7)
    (g,) = tg.autograd.grad(tg.erf(x), [x], create_graph=True)
    (gg,) = tg.autograd.grad(g, [x])
    # d2/dx2 erf = -4x/sqrt(pi) e^(-x^2)
    assert gg.item() == pytest.approx(-4 * 0.7 / math.sqrt(math.pi) * math.exp(-0.49), rel=1e-12)


# --------------------------------------------------------------------------- rounding
@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_rounding_ops_have_a_zero_gradient_everywhere_even_at_their_jumps(name):
    x = leaf([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5])

    getattr(tg, name)(x).sum().backward()

    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(7))


def test_round_is_half_to_even_as_torch():
    y = tg.round(tg.tensor(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])))
    assert y.numpy().tolist() == [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]


def test_round_with_decimals_scales_rounds_and_scales_back():
    x = tg.tensor(np.array([1.2345, -1.2355, 15.0, 25.0, 149.0]))
    assert tg.round(x, decimals=2).numpy()[:2].tolist() == [1.23, -1.24]
    assert tg.round(x, decimals=-1).numpy()[2:].tolist() == [20.0, 20.0, 150.0]


def test_rounding_ops_keep_integer_tensors_unchanged():
    x = tg.tensor([3, -2, 0])
    for name in ("floor", "ceil", "round"):
        y = getattr(tg, name)(x)
        assert y.dtype == np.int64 and y.numpy().tolist() == [3, -2, 0]


def test_round_rejects_non_integer_decimals():
    with pytest.raises(TypeError, match=r"round: decimals must be an int, got 1.5"):
        tg.round(tg.tensor([1.0]), decimals=1.5)


# --------------------------------------------------------------------------- clamp
def test_clamp_with_scalar_bounds_passes_the_gradient_at_ties():
    x = leaf([-2.0, -1.0, 0.0, 1.0, 2.0])

    tg.clamp(x, -1.0, 1.0).sum().backward()

    assert x.grad.numpy().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_clamp_with_crossed_tensor_bounds_returns_max_and_routes_its_gradient():
    x, low, high = leaf([0.0, 5.0]), leaf([2.0, 2.0]), leaf([1.0, 1.0])

    y = tg.clamp(x, low, high)
    y.sum().backward()

    assert y.numpy().tolist() == [1.0, 1.0]
    assert (x.grad.numpy().tolist(), low.grad.numpy().tolist(),
            high.grad.numpy().tolist()) == ([0.0, 0.0], [0.0, 0.0], [1.0, 1.0])


def test_clamp_broadcasts_tensor_bounds_and_sums_their_gradients():
    x, low = leaf(np.linspace(-1, 1, 6).reshape(2, 3)), leaf([0.0, 0.5, 2.0])

    y = tg.clamp(x, min=low)
    y.sum().backward()

    assert y.shape == (2, 3)
    np.testing.assert_array_equal(low.grad.numpy(), (x.numpy() < low.numpy()).sum(axis=0))


def test_clip_is_clamp_and_a_tensor_method():
    x = tg.tensor([-3.0, 3.0])
    assert tg.clip is tg.clamp
    assert x.clamp(max=1.0).numpy().tolist() == [-3.0, 1.0]
    assert x.clip(-1.0).numpy().tolist() == [-1.0, 3.0]


def test_clamp_without_bounds_is_refused():
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        tg.clamp(tg.tensor([1.0]))


def test_clamp_keeps_nan():
    assert np.isnan(tg.clamp(tg.tensor([math.nan]), 0.0, 1.0).item())


# --------------------------------------------------------------------------- the others
def test_nan_to_num_replaces_with_the_dtype_limits_and_blocks_their_gradient():
    x = leaf([math.nan, math.inf, -math.inf, 2.0], dtype=np.float32)

    y = tg.nan_to_num(x)
    y.sum().backward()

    limit = np.finfo(np.float32).max
    assert y.numpy().tolist() == [0.0, limit, -limit, 2.0]
    assert x.grad.numpy().tolist() == [0.0, 0.0, 0.0, 1.0]
    assert tg.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0).numpy().tolist() == [
        1.0, 9.0, -9.0, 2.0]


def test_lerp_is_exact_at_both_ends():
    start, end = tg.tensor(np.array([0.1, 1e16])), tg.tensor(np.array([0.7, 1.0]))
    assert tg.lerp(start, end, 1.0).numpy().tolist() == [0.7, 1.0]
    assert tg.lerp(start, end, 0.0).numpy().tolist() == [0.1, 1e16]


def test_logaddexp_is_finite_at_large_inputs():
    a, b = leaf([1e4, -1e4, 1e4]), leaf([1e4, -1e4, -1e4])

    y = tg.logaddexp(a, b)
    y.sum().backward()

    np.testing.assert_allclose(y.numpy(), [1e4 + math.log(2), -1e4 + math.log(2), 1e4])
    assert a.grad.numpy().tolist() == [0.5, 0.5, 1.0]
    assert b.grad.numpy().tolist() == [0.5, 0.5, 0.0]


def test_xlogy_is_zero_where_x_is_zero_and_its_x_gradient_is_log_y():
    x, y = leaf([0.0, 0.0, 2.0]), tg.tensor(np.array([0.0, 3.0, 3.0]))

    out = tg.xlogy(x, y)
    out.sum().backward()

    assert out.numpy().tolist() == [0.0, 0.0, 2 * math.log(3)]
    assert x.grad.numpy().tolist() == [0.0, math.log(3), math.log(3)]


def test_tensor_methods_call_the_math_functions():
    x = tg.tensor(np.array([0.25, 0.5]))
    np.testing.assert_allclose(x.log1p().numpy(), np.log1p([0.25, 0.5]))
    np.testing.assert_allclose(x.rsqrt().numpy(), [2.0, 2 ** 0.5])
    np.testing.assert_allclose(x.lerp(x * 3, 0.5).numpy(), [0.5, 1.0])
    np.testing.assert_allclose(x.xlogy(x).numpy(), [0.25 * math.log(0.25), 0.5 * math.log(0.5)])
    assert x.round(decimals=1).numpy().tolist() == [0.2, 0.5]


# --------------------------------------------------------------------------- arithmetic
def test_add_and_sub_name_a_float_alpha_for_integer_operands():
    ints = tg.tensor([1, 2])

    with pytest.raises(TypeError, match="add: alpha must be an int for integer inputs, got "
                                        "alpha=0.5"):
        tg.add(ints, ints, alpha=0.5)
    with pytest.raises(TypeError, match="sub: alpha"):
        ints.sub(ints, alpha=1.5)
    assert tg.add(ints, ints, alpha=3).numpy().tolist() == [4, 8]


def test_arithmetic_names_operands_that_are_neither_tensors_nor_numbers():
    with pytest.raises(TypeError, match="mul: expected Tensors or real numbers, got str and "
                                        "float"):
        tg.mul("2", 3.0)


def test_div_names_an_unknown_rounding_mode():
    with pytest.raises(ValueError, match="div: rounding_mode must be None, 'trunc' or 'floor', "
                                         "got 'round'"):
        tg.div(tg.ones(2), 2.0, rounding_mode="round")


def test_rounded_division_and_remainder_keep_integer_dtypes_and_python_semantics():
    a, b = [7, -7, 7, -7, 6], [2, 2, -2, -2, -3]
    x, y = tg.tensor(a), tg.tensor(b)

    floored, truncated, remainder = x // y, x.div(y, rounding_mode="trunc"), x % y

    assert floored.dtype == truncated.dtype == remainder.dtype == np.int64
    assert floored.numpy().tolist() == [p // q for p, q in zip(a, b)]
    assert truncated.numpy().tolist() == [int(p / q) for p, q in zip(a, b)]
    assert remainder.numpy().tolist() == [p % q for p, q in zip(a, b)]


def test_rounded_quotients_have_a_zero_gradient_and_remainder_minus_the_quotient():
    x, y = leaf([7.0, -7.5]), leaf([2.0, 2.0])

    (tg.floor_divide(x, y) + tg.div(x, y, rounding_mode="trunc")).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0] and y.grad.numpy().tolist() == [0.0, 0.0]

    x.grad = y.grad = None
    tg.remainder(x, y).sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 1.0]
    assert y.grad.numpy().tolist() == [-3.0, 4.0]


def test_to_reads_trailing_bools_as_non_blocking_and_copy():
    x = tg.tensor(np.ones(2))

    assert x.to("cpu", tg.float64, False, False) is x
    copied = x.to(tg.float64, True, True)
    assert copied is not x and copied.dtype == np.float64
    assert x.to("cpu", tg.float32, False).dtype == np.float32
