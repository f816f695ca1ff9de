"""Every registered op: forward against NumPy, first- and second-order gradient checks.

Plus the numerical-stability cases: the activations and log-normalisers stay finite and
correct at +-1e4, where a naive exp overflows.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen.autograd import gradcheck, gradgradcheck, ops
from tinygen.testing import all_specs

SPECS = all_specs()


def test_every_public_op_has_a_spec():
    covered = {id(spec.function) for spec in SPECS}
    missing = [name for name in ops.__all__ if id(getattr(ops, name)) not in covered]
    assert missing == []


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
@settings(deadline=None)
@given(data=st.data())
def test_op_matches_reference_and_passes_gradient_checks(spec, data):
    case = data.draw(spec.cases(), label="case")
    tensors = case.tensors()

    result = spec.apply(tensors, case.kwargs)
    outputs = result if isinstance(result, tuple) else (result,)
    expected = spec.expected(case)
    assert len(outputs) == len(expected)
    for output, reference in zip(outputs, expected):
        assert output.shape == reference.shape
        assert output.dtype == reference.dtype
        np.testing.assert_allclose(output.numpy(), reference, rtol=1e-9, atol=1e-12)

    if spec.order == 0:  # no gradient: the result is a constant, cut from the graph
        assert not any(output.requires_grad for output in outputs)
        return

    def fn(*xs):
        return spec.apply(xs, case.kwargs)

    assert gradcheck(fn, tensors, **spec.gradcheck_options())
    if spec.order >= 2:
        assert gradgradcheck(fn, tensors, **spec.gradcheck_options())


@pytest.mark.parametrize("name", ["exp", "sqrt", "tanh", "sigmoid"])
def test_zero_dim_ops_save_their_output_as_part_of_the_graph(name):
    # NumPy ufuncs return a scalar for a 0-d array; the saved output must still be tracked,
    # or its derivative (second order) is silently dropped
    x = tg.tensor(np.array(0.7), requires_grad=True)
    assert gradgradcheck(getattr(tg, name), [x], mode="full")


EXTREME = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])


@pytest.mark.parametrize("name, reference, derivative", [
    # sigmoid(x) and its slope y(1-y); at -1e4 the true value 1/(1+e^1e4) underflows to 0
    ("sigmoid", lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                                   np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))),
     lambda x: np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))) ** 2),
    # softplus(x) = max(x, 0) + log1p(e^-|x|); slope sigmoid(x)
    ("softplus", lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
     lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                        np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))),
    # log_sigmoid(x) = min(x, 0) - log1p(e^-|x|); slope sigmoid(-x)
    ("log_sigmoid", lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
     lambda x: np.where(x <= 0, 1 / (1 + np.exp(-np.abs(x))),
                        np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))),
])
def test_activation_is_finite_and_correct_at_extreme_inputs(name, reference, derivative):
    x = tg.tensor(EXTREME, requires_grad=True)

    y = getattr(tg, name)(x)
    y.sum().backward()

    assert np.all(np.isfinite(y.numpy()))
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(y.numpy(), reference(EXTREME), rtol=1e-12, atol=1e-300)
    # the slopes are formed from y (y(1-y) for sigmoid, as in PyTorch), so a slope below
    # float64's resolution of y near 1 (e^-50 ~ 2e-22 at x = 50) comes out as 0
    np.testing.assert_allclose(x.grad.numpy(), derivative(EXTREME), rtol=1e-12, atol=1e-15)


def test_sigmoid_saturates_exactly_at_extreme_inputs():
    y = tg.sigmoid(tg.tensor(np.array([-1e4, 1e4])))
    assert y.numpy().tolist() == [0.0, 1.0]


# The result near 1e4 is only as exact as the dtype's spacing there (float32: ~1e-3), and the
# gradient exp(x - y) inherits that error, so the precision expected is per dtype.
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-3), (np.float64, 1e-9)])
def test_logsumexp_is_finite_and_correct_at_extreme_inputs(dtype, rtol):
    x = tg.tensor(np.array([[1e4, 1e4], [-1e4, -1e4], [1e4, -1e4]], dtype=dtype),
                  requires_grad=True)

    y = tg.logsumexp(x, axis=1)
    y.sum().backward()

    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(y.numpy(), [1e4 + np.log(2), -1e4 + np.log(2), 1e4],
                               rtol=1e-7)
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]],
                               rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_is_finite_and_correct_at_extreme_inputs(dtype):
    x = tg.tensor(np.array([[1e4, -1e4], [1e4, 1e4], [-1e4, -1e4 + 1]], dtype=dtype),
                  requires_grad=True)

    y = tg.log_softmax(x, axis=1)
    y[:, 0].sum().backward()

    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))
    expected = [[0.0, -2e4], [-np.log(2), -np.log(2)], [-1 - np.log1p(np.exp(-1.0)),
                                                        -np.log1p(np.exp(-1.0))]]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)
    # d log_softmax_0 / dx = onehot(0) - softmax(x)
    softmax_0 = 1 / (1 + np.exp(1.0))  # of the last row
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.5, -0.5],
                                                [1 - softmax_0, -(1 - softmax_0)]], atol=1e-6)
