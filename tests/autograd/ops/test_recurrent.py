"""The fused LSTM cell: against the same cell composed from primitive ops, and its CuPy
kernel bodies against their NumPy twins (on the CPU through g++, and on a GPU if present).
Gradient checks of both orders run from the op registry (tinygen/testing/op_specs_nn.py).
The Row LSTM's fused row conv: against its composite, with gradient checks of both orders
here."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import backend
from tinygen.autograd import grad, gradcheck, gradgradcheck
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


# --------------------------------------------------------------------------- Row LSTM convs
def row_conv_inputs():
    """(x (M, W, C), kernel (k*C, F), addend (M*W, F) or (F,), g (M*W, F), left), with rows
    narrower than the kernel, 1 x 1 kernels and every left included."""
    sizes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 2),
                      st.integers(1, 3), st.integers(1, 4), st.booleans())
    return sizes.flatmap(lambda s: st.tuples(
        arrays(s[:3]), arrays((s[4] * s[2], s[3])),
        arrays((s[0] * s[1], s[3]) if s[5] else (s[3],)), arrays((s[0] * s[1], s[3])),
        st.integers(0, s[4] - 1)))


@given(row_conv_inputs())
def test_fused_row_conv_equals_the_composite_forward_and_gradients(data):
    *values, g, left = data
    fused_inputs = [leaf(v) for v in values]
    composed_inputs = [leaf(v) for v in values]

    fused = recurrent.row_conv(*fused_inputs, left=left)
    composed = recurrent.row_conv_composite(*composed_inputs, left=left)
    fused_grads = grad(fused, fused_inputs, g)
    composed_grads = grad(composed, composed_inputs, g)

    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(fused_grads, composed_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_row_conv_reads_a_permuted_map_with_two_leading_axes():
    rng = np.random.default_rng(5)
    nchw = leaf(rng.standard_normal((2, 3, 4, 5)))
    kernel, bias = leaf(rng.standard_normal((6, 4))), leaf(rng.standard_normal(4))
    # (N, C, H, W) -> (H, N, W, C), a strided view, as RowLSTM.row_gates passes it
    fused = recurrent.row_conv(tg.permute(nchw, (2, 0, 3, 1)), kernel, bias, left=1)
    composed = recurrent.row_conv_composite(tg.permute(nchw, (2, 0, 3, 1)), kernel, bias,
                                            left=1)
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-12, atol=1e-14)
    fused_grads = grad(fused.sum(), [nchw, kernel, bias])
    composed_grads = grad(composed.sum(), [nchw, kernel, bias])
    for a, b in zip(fused_grads, composed_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rows, width, channels, taps, left, bias", [
    (2, 4, 2, 3, 1, False), (1, 2, 1, 5, 2, False), (2, 3, 1, 1, 0, False),
    (3, 3, 2, 2, 1, True), (1, 4, 1, 3, 0, True)])
def test_row_conv_passes_first_and_second_order_gradient_checks(rows, width, channels, taps,
                                                                left, bias):
    rng = np.random.default_rng(rows * 100 + width * 10 + taps)
    features = 3
    addend = (features,) if bias else (rows * width, features)
    inputs = [leaf(rng.standard_normal(shape)) for shape in (
        (rows, width, channels), (taps * channels, features), addend)]

    def conv(x, kernel, addend):
        return recurrent.row_conv(x, kernel, addend, left=left)

    gradcheck(conv, inputs, mode="full")
    gradgradcheck(conv, inputs, mode="full")


def test_row_conv_rejects_bad_shapes():
    x, kernel, addend = leaf(np.zeros((2, 3, 2))), leaf(np.zeros((6, 8))), leaf(np.zeros(8))
    with pytest.raises(ValueError, match="x must be \\(..., W, C\\) and kernel"):
        recurrent.row_conv(leaf(np.zeros(3)), kernel, addend, left=1)
    with pytest.raises(ValueError, match="kernel must have k\\*2 rows with 0 <= left < k"):
        recurrent.row_conv(x, leaf(np.zeros((5, 8))), addend, left=1)
    with pytest.raises(ValueError, match="got shape \\(6, 8\\) and left=3"):
        recurrent.row_conv(x, kernel, addend, left=3)
    with pytest.raises(ValueError, match="addend must have shape \\(6, 8\\) or \\(8,\\)"):
        recurrent.row_conv(x, kernel, leaf(np.zeros((5, 8))), left=1)


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


@pytest.mark.gpu
def test_row_conv_on_the_gpu_matches_numpy():
    rng = np.random.default_rng(4)
    values = [rng.standard_normal(shape) for shape in ((2, 3, 2), (6, 8), (6, 8))]
    on_cpu = [tg.tensor(v, requires_grad=True) for v in values]
    on_gpu = [tg.tensor(v, device="cuda", requires_grad=True) for v in values]

    cpu_out = recurrent.row_conv(*on_cpu, left=1)
    gpu_out = recurrent.row_conv(*on_gpu, left=1)
    (cpu_out * cpu_out).sum().backward()
    (gpu_out * gpu_out).sum().backward()

    np.testing.assert_allclose(backend.to_numpy(gpu_out.data), cpu_out.numpy(), rtol=1e-12,
                               atol=1e-14)
    for cpu_input, gpu_input in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(gpu_input.grad.numpy(), cpu_input.grad.numpy(), rtol=1e-12,
                                   atol=1e-14)
