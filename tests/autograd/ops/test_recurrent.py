"""The fused LSTM cell: against the same cell composed from primitive ops, and its CuPy
kernel bodies against their NumPy twins (on the CPU through g++, and on a GPU if present).
Gradient checks of both orders run from the op registry (tinygen/testing/op_specs_nn.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import backend
from tinygen.autograd import grad
from tinygen.autograd.ops import recurrent
from tinygen.testing import arrays, cuda_harness


def leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def cell_inputs():
    """(x_gates (N, 4H), c_prev, gh, gc (N, H)), batch 1 and odd sizes included."""
    return st.tuples(st.integers(1, 3), st.integers(1, 5)).flatmap(
        lambda nh: st.tuples(arrays((nh[0], 4 * nh[1])), arrays(nh), arrays(nh), arrays(nh)))


@given(cell_inputs())
def test_fused_lstm_cell_equals_the_composed_cell_forward_and_gradients(data):
    gates_values, c_values, gh, gc = data
    fused_inputs = [leaf(gates_values), leaf(c_values)]
    composed_inputs = [leaf(gates_values), leaf(c_values)]

    fused = F.lstm_cell(*fused_inputs)
    composed = recurrent.lstm_cell_composite(*composed_inputs)
    fused_grads = grad(list(fused), fused_inputs, [gh, gc])
    composed_grads = grad(list(composed), composed_inputs, [gh, gc])

    for a, b in zip(fused, composed, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)
    for a, b in zip(fused_grads, composed_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-14)


def test_lstm_cell_counts_a_missing_gradient_as_zero():
    gates, c_prev = leaf(np.full((1, 4), 0.3)), leaf([[0.5]])
    h, _c = F.lstm_cell(gates, c_prev)
    h.sum().backward()  # c is unused
    only_h = gates.grad.numpy().copy()
    gates.grad = None

    h, c = F.lstm_cell(gates, c_prev)
    (h.sum() + 0.0 * c.sum()).backward()

    np.testing.assert_allclose(gates.grad.numpy(), only_h)


def test_lstm_cell_is_finite_and_saturates_at_extreme_gates():
    gates = leaf([[1e4, -1e4, 1e4, 1e4]])  # i = 1, f = 0, g = 1, o = 1
    h, c = F.lstm_cell(gates, leaf([[5.0]]))
    (h.sum() + c.sum()).backward()
    np.testing.assert_array_equal(c.numpy(), [[1.0]])
    np.testing.assert_allclose(h.numpy(), np.tanh([[1.0]]), rtol=1e-15)
    assert np.all(np.isfinite(gates.grad.numpy()))


def test_lstm_cell_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"x_gates must be \(N, 4H\), got shape \(2, 6\)"):
        F.lstm_cell(leaf(np.zeros((2, 6))), leaf(np.zeros((2, 1))))
    with pytest.raises(ValueError, match=r"c_prev must have shape \(2, 2\), got \(2, 3\)"):
        F.lstm_cell(leaf(np.zeros((2, 8))), leaf(np.zeros((2, 3))))


# --------------------------------------------------------------------------- CUDA kernels
@pytest.fixture(scope="module")
def lstm_kernels():
    try:
        forward = cuda_harness.compile_elementwise(
            recurrent.LSTM_FORWARD_IN, recurrent.LSTM_FORWARD_OUT, recurrent.LSTM_FORWARD_BODY)
        backward = cuda_harness.compile_elementwise(
            recurrent.LSTM_BACKWARD_IN, recurrent.LSTM_BACKWARD_OUT,
            recurrent.LSTM_BACKWARD_BODY)
    except cuda_harness.CompilerMissing as missing:
        pytest.skip(str(missing))
    return forward, backward


def _kernel_inputs(seed=0, batch=5, hidden=7):
    rng = np.random.default_rng(seed)
    gates = rng.standard_normal((batch, 4 * hidden)) * 3
    gates[0, :4] = [40.0, -40.0, 40.0, -40.0]  # saturated gates too
    c_prev = rng.standard_normal((batch, hidden))
    return gates, c_prev


def test_lstm_forward_kernel_body_matches_the_numpy_twin(lstm_kernels):
    forward, _ = lstm_kernels
    gates, c_prev = _kernel_inputs()

    h_kernel, c_kernel = forward(*np.split(gates, 4, axis=1), c_prev)
    h_numpy, c_numpy, _ = recurrent.lstm_forward_numpy(gates, c_prev)

    np.testing.assert_allclose(h_kernel, h_numpy, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_kernel, c_numpy, rtol=1e-13, atol=1e-15)


def test_lstm_backward_kernel_body_matches_the_numpy_twin(lstm_kernels):
    _, backward = lstm_kernels
    gates, c_prev = _kernel_inputs(seed=1)
    rng = np.random.default_rng(2)
    gh, gc = rng.standard_normal(c_prev.shape), rng.standard_normal(c_prev.shape)
    _, c, saved = recurrent.lstm_forward_numpy(gates, c_prev)

    *gate_grads, g_c_prev = backward(*np.split(gates, 4, axis=1), c_prev, c, gh, gc)
    expected_gates, expected_c_prev = recurrent.lstm_backward_numpy(saved, c_prev, gh, gc)

    np.testing.assert_allclose(np.concatenate(gate_grads, axis=1), expected_gates, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(g_c_prev, expected_c_prev, rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
def test_lstm_cell_on_the_gpu_matches_numpy():
    gates, c_prev = _kernel_inputs(seed=3)
    cpu_gates = tg.tensor(gates, requires_grad=True)
    gpu_gates = tg.tensor(gates, device="cuda", requires_grad=True)

    on_cpu = F.lstm_cell(cpu_gates, tg.tensor(c_prev))
    on_gpu = F.lstm_cell(gpu_gates, tg.tensor(c_prev, device="cuda"))
    (on_cpu[0].sum() + on_cpu[1].sum()).backward()
    (on_gpu[0].sum() + on_gpu[1].sum()).backward()

    for cpu_value, gpu_value in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(backend.to_numpy(gpu_value.data), cpu_value.numpy(),
                                   rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gpu_gates.grad.numpy(), cpu_gates.grad.numpy(), rtol=1e-12,
                               atol=1e-15)
