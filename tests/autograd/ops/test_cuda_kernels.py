"""The fused CuPy kernels' bodies, run on the CPU through g++, against their NumPy twins;
and on a real GPU against NumPy when one is there."""

import numpy as np
import pytest

from tinygen import backend
from tinygen.autograd.ops import recurrent
from tinygen.testing import cuda_harness


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


def _inputs(seed=0, batch=5, hidden=7):
    rng = np.random.default_rng(seed)
    gates = rng.standard_normal((batch, 4 * hidden)) * 3
    c_prev = rng.standard_normal((batch, hidden))
    return gates, c_prev


def test_lstm_forward_kernel_body_matches_the_numpy_twin(lstm_kernels):
    forward, _ = lstm_kernels
    gates, c_prev = _inputs()
    h_kernel, c_kernel = forward(*np.split(gates, 4, axis=1), c_prev)
    h_numpy, c_numpy, _ = recurrent.lstm_forward_numpy(gates, c_prev)
    np.testing.assert_allclose(h_kernel, h_numpy, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_kernel, c_numpy, rtol=1e-13, atol=1e-15)


def test_lstm_backward_kernel_body_matches_the_numpy_twin(lstm_kernels):
    _, backward = lstm_kernels
    gates, c_prev = _inputs(seed=1)
    rng = np.random.default_rng(2)
    gh, gc = rng.standard_normal(c_prev.shape), rng.standard_normal(c_prev.shape)
    _, c, saved = recurrent.lstm_forward_numpy(gates, c_prev)
    *gate_grads, g_c_prev = backward(*np.split(gates, 4, axis=1), c_prev, c, gh, gc)
    expected_gates, expected_c_prev = recurrent.lstm_backward_numpy(saved, c_prev, gh, gc)
    np.testing.assert_allclose(np.concatenate(gate_grads, axis=1), expected_gates, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(g_c_prev, expected_c_prev, rtol=1e-12, atol=1e-14)


def test_harness_rejects_parameter_types_it_cannot_bind():
    with pytest.raises(ValueError, match="type T only"):
        cuda_harness.compile_elementwise("float32 x", "T y", "y = x;")


@pytest.mark.gpu
def test_lstm_cell_on_the_gpu_matches_numpy():
    import tinygen as tg
    import tinygen.nn.functional as F

    gates, c_prev = _inputs(seed=3)
    on_cpu = F.lstm_cell(tg.tensor(gates, requires_grad=True), tg.tensor(c_prev))
    gates_gpu = tg.tensor(gates, device="cuda", requires_grad=True)
    on_gpu = F.lstm_cell(gates_gpu, tg.tensor(c_prev, device="cuda"))
    for cpu_value, gpu_value in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(backend.to_numpy(gpu_value.data), cpu_value.numpy(),
                                   rtol=1e-12)
    (on_gpu[0].sum() + on_gpu[1].sum()).backward()
    cpu_gates = tg.tensor(gates, requires_grad=True)
    h, c = F.lstm_cell(cpu_gates, tg.tensor(c_prev))
    (h.sum() + c.sum()).backward()
    np.testing.assert_allclose(gates_gpu.grad.numpy(), cpu_gates.grad.numpy(), rtol=1e-12)
