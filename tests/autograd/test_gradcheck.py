"""gradcheck and gradgradcheck: they pass correct ops, and catch planted bugs with a useful
message (worst entry, kink diagnosis, round-off estimate)."""

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import Function, GradcheckError, gradcheck, gradgradcheck

MODES = ["directional", "full"]


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


class SquareWithDoubledGradient(Function):
    """x^2 whose backward returns 4x: wrong by a factor of 2 in first order."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy * (4 * x)


class CubeWithConstantSquare(Function):
    """x^3 whose backward uses x^2 saved as a new array, so a constant to the engine.

    First derivatives are right (3x^2 gy); the derivative of the backward with respect to x
    (6x gy) is lost, so only second order is wrong.
    """

    def forward(self, x):
        self.save_for_backward(x * x)  # a fresh array: saved as a constant, not as x
        return x * x * x

    def backward(self, gy):
        (square,) = self.saved_tensors
        return gy * (3 * square)


def square_with_doubled_gradient(x):
    return SquareWithDoubledGradient().apply(x)


def cube_with_constant_square(x):
    return CubeWithConstantSquare().apply(x)


# --------------------------------------------------------------------------- correct ops pass
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_passes_a_correct_multi_input_function(mode):
    a, b = leaf([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]), leaf([0.2, -0.4, 0.9])
    assert gradcheck(lambda a, b: tg.tanh(a * b) + b.exp(), [a, b], mode=mode)


@pytest.mark.parametrize("mode", MODES)
def test_gradgradcheck_passes_a_correct_function(mode):
    x = leaf([[0.5, -1.0], [2.0, 0.3]])
    assert gradgradcheck(lambda x: tg.softmax(x * x, axis=1), [x], mode=mode)


def test_gradcheck_handles_several_outputs_and_constant_inputs():
    x = leaf([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
    condition = tg.tensor(np.array([True, False, True]))

    def fn(x, condition):
        first, second = tg.split(x, [1, 2], axis=1)
        return tg.where(condition, x, x * x), first.exp(), second

    assert gradcheck(fn, [x, condition])
    assert gradgradcheck(fn, [x, condition])


def test_gradcheck_accepts_an_output_that_does_not_depend_on_the_inputs():
    x = leaf([0.5, -1.0])
    assert gradcheck(lambda x: (tg.tanh(x), tg.ones(3, dtype=np.float64)), [x])


@pytest.mark.parametrize("mode", MODES)
def test_float32_inputs_are_checked_against_a_float64_numeric_pass(mode):
    seen_dtypes = []

    def fn(x):
        seen_dtypes.append(x.dtype)
        return tg.tanh(x) * x

    x = leaf([0.5, -1.0, 2.0], dtype=np.float32)
    assert gradcheck(fn, [x], mode=mode)
    assert seen_dtypes[0] == np.float32  # the backprop pass runs at the input's dtype
    assert set(seen_dtypes[1:]) == {np.dtype(np.float64)}  # the numeric pass in float64


def test_gradgradcheck_accepts_given_grad_outputs():
    x = leaf([0.5, -1.0, 2.0])
    grad_output = leaf([1.0, -2.0, 0.5])
    assert gradgradcheck(lambda x: x * x * x, [x], [grad_output], mode="full")


def test_directional_mode_needs_a_fixed_number_of_forward_calls_whatever_the_size():
    calls = []

    def fn(x):
        calls.append(1)
        return tg.tanh(x)

    for size in (4, 400):
        calls.clear()
        gradcheck(fn, [leaf(np.linspace(-1, 1, size))])
        assert len(calls) == 7  # one backprop pass, then two per direction (three)


def test_gradcheck_requires_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(tg.tanh, [tg.tensor(np.array([1.0]))])


def test_gradcheck_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode must be 'directional' or 'full'"):
        gradcheck(tg.tanh, [leaf([1.0])], mode="sideways")


# --------------------------------------------------------------------------- planted bugs
@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_catches_a_first_order_factor_of_two(mode):
    # the largest |x| has the largest gap (2|x|), so it is the worst entry
    x = leaf([[0.5, -1.0, 0.25], [1.5, 0.3, -2.5]])

    with pytest.raises(GradcheckError) as caught:
        gradcheck(square_with_doubled_gradient, [x], mode=mode)

    message = str(caught.value)
    assert f"gradcheck failed ({mode} mode" in message
    assert "near a kink: no" in message
    assert "round-off could explain the gap: no" in message
    if mode == "full":
        # d(x^2)/dx at -2.5 is -5; the planted backward says -10
        assert "worst entry: input 0, index (1, 2) -> output 0, index (1, 2): analytic -10, " \
            "numeric -5, error 5 vs tolerance" in message
    else:
        # directional mode localises to the worst element of J^T u for the failing u
        assert "<J^T u, v> by backprop" in message
        assert "worst entry: input 0, index" in message


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_returns_false_instead_of_raising_when_asked(mode):
    x = leaf([0.5, -1.0])
    assert gradcheck(square_with_doubled_gradient, [x], mode=mode,
                     raise_exception=False) is False


def test_gradcheck_catches_a_first_order_bug_in_float32():
    x = leaf([0.5, -1.0, 1.5], dtype=np.float32)
    with pytest.raises(GradcheckError, match="worst entry: input 0, index \\(2,\\)"):
        gradcheck(square_with_doubled_gradient, [x])


@pytest.mark.parametrize("mode", MODES)
def test_gradgradcheck_catches_a_backward_that_is_not_differentiable(mode):
    x = leaf([[0.5, -1.0], [2.0, 0.3]])
    assert gradcheck(cube_with_constant_square, [x], mode=mode)  # first order is right

    with pytest.raises(GradcheckError) as caught:
        gradgradcheck(cube_with_constant_square, [x], mode=mode)

    message = str(caught.value)
    assert f"gradgradcheck failed ({mode} mode" in message
    # the lost term is 6x * gy: its derivative with respect to x is missing entirely
    assert "worst entry: input 0, index" in message
    assert "analytic 0, numeric" in message
    assert "near a kink: no" in message
    assert "round-off could explain the gap: no" in message


@pytest.mark.parametrize("mode", MODES)
def test_failure_next_to_a_kink_is_diagnosed_as_such(mode):
    # 3e-7 is closer to abs's kink than eps = 1e-6: the central difference straddles it
    x = leaf([3e-7, 1.0])

    with pytest.raises(GradcheckError) as caught:
        gradcheck(tg.abs, [x], mode=mode)

    message = str(caught.value)
    assert "worst entry: input 0, index (0,)" in message
    assert "near a kink: yes: one-sided differences disagree" in message
    if mode == "full":
        # |x| one step either side of 3e-7: slope 1 to the right, -0.4 across the kink
        assert "(forward 1, backward -0.4," in message


def test_failure_from_cancellation_is_blamed_on_round_off():
    # f = x + 1e10: the difference quotient's rounding (~1e10 * 2e-16 / 1e-6 = 2) swamps it
    x = leaf([0.5])

    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x: x + 1e10, [x], mode="full")

    message = str(caught.value)
    assert "round-off could explain the gap: yes" in message
    assert "machine eps 2.22e-16 * |f| 1e+10 / eps 1e-06" in message
