"""The fused LSTM cell: one op over the gate pre-activations, gate order i, f, g, o (PyTorch).

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c = f * c_prev + i * g;  h = o * tanh(c)

The input and recurrent matmuls stay separate ops (they are where the time goes, in BLAS);
fusing the remaining elementwise work saves about ten op dispatches and temporaries per
step. On a GPU the forward and backward run as one CuPy ElementwiseKernel each; their bodies
sit next to the NumPy code they must match, and ``tinygen.testing.cuda_harness`` runs them on
the CPU in the tests.
"""

from __future__ import annotations

from tinygen import backend
from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled
from tinygen.autograd.ops.activation import sigmoid, tanh
from tinygen.autograd.ops.shape import split
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

# One thread per (sample, hidden unit). Inputs a_* are the four gate pre-activations.
LSTM_FORWARD_BODY = """
    T i = 1 / (1 + exp(-a_i));
    T f = 1 / (1 + exp(-a_f));
    T g = tanh(a_g);
    T o = 1 / (1 + exp(-a_o));
    c = f * c_prev + i * g;
    h = o * tanh(c);
"""
LSTM_FORWARD_IN = "T a_i, T a_f, T a_g, T a_o, T c_prev"
LSTM_FORWARD_OUT = "T h, T c"

# Recomputes the gates from the pre-activations rather than storing them: one read instead
# of four on the way back, which is what bounds a memory-bound kernel.
LSTM_BACKWARD_BODY = """
    T i = 1 / (1 + exp(-a_i));
    T f = 1 / (1 + exp(-a_f));
    T g = tanh(a_g);
    T o = 1 / (1 + exp(-a_o));
    T tanh_c = tanh(c);
    T gc_total = gc + gh * o * (1 - tanh_c * tanh_c);
    ga_i = gc_total * g * i * (1 - i);
    ga_f = gc_total * c_prev * f * (1 - f);
    ga_g = gc_total * i * (1 - g * g);
    ga_o = gh * tanh_c * o * (1 - o);
    gc_prev = gc_total * f;
"""
LSTM_BACKWARD_IN = "T a_i, T a_f, T a_g, T a_o, T c_prev, T c, T gh, T gc"
LSTM_BACKWARD_OUT = "T ga_i, T ga_f, T ga_g, T ga_o, T gc_prev"

_cuda_kernels: dict = {}


def _cuda_kernel(name: str):
    """Compile (once) the CuPy ElementwiseKernel for ``name`` ("forward" or "backward")."""
    if name not in _cuda_kernels:
        spec = {
            "forward": (LSTM_FORWARD_IN, LSTM_FORWARD_OUT, LSTM_FORWARD_BODY),
            "backward": (LSTM_BACKWARD_IN, LSTM_BACKWARD_OUT, LSTM_BACKWARD_BODY),
        }[name]
        # only reached with CuPy arrays, so backend.cupy is the imported module
        _cuda_kernels[name] = backend.cupy.ElementwiseKernel(*spec, f"tinygen_lstm_{name}")
    return _cuda_kernels[name]


def _gate_views(x_gates):
    """Four (N, H) views of the (N, 4H) pre-activations, in PyTorch's i, f, g, o order."""
    hidden = x_gates.shape[1] // 4
    return [x_gates[:, k * hidden:(k + 1) * hidden] for k in range(4)]


def _sigmoid(xp, a):
    # exp(-|a|) never overflows; the two branches are the same function
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1, e) / (1 + e)


def lstm_forward_numpy(x_gates, c_prev):
    """The NumPy twin of LSTM_FORWARD_BODY. Returns h, c and the activated gates."""
    xp = get_array_module(x_gates)
    a_i, a_f, a_g, a_o = _gate_views(x_gates)
    i, f, o = _sigmoid(xp, a_i), _sigmoid(xp, a_f), _sigmoid(xp, a_o)
    g = xp.tanh(a_g)
    c = f * c_prev + i * g
    tanh_c = xp.tanh(c)
    return o * tanh_c, c, (i, f, g, o, tanh_c)


def lstm_backward_numpy(gates, c_prev, gh, gc):
    """The NumPy twin of LSTM_BACKWARD_BODY: (dL/d x_gates (N, 4H), dL/d c_prev)."""
    xp = get_array_module(gh)
    i, f, g, o, tanh_c = gates
    gc_total = gc + gh * o * (1 - tanh_c * tanh_c)
    ga = xp.empty((gh.shape[0], 4 * gh.shape[1]), dtype=gh.dtype)
    ga_i, ga_f, ga_g, ga_o = _gate_views(ga)
    xp.multiply(gc_total * g, i * (1 - i), out=ga_i)
    xp.multiply(gc_total * c_prev, f * (1 - f), out=ga_f)
    xp.multiply(gc_total * i, 1 - g * g, out=ga_g)
    xp.multiply(gh * tanh_c, o * (1 - o), out=ga_o)
    return ga, gc_total * f


class LSTMCell(Function):
    """(x_gates (N, 4H), c_prev (N, H)) -> (h (N, H), c (N, H))."""

    def forward(self, x_gates, c_prev):
        xp = get_array_module(x_gates)
        if xp.__name__ == "cupy":
            h, c = _cuda_kernel("forward")(*_gate_views(x_gates), c_prev)
            self.gates = None
        else:
            h, c, self.gates = lstm_forward_numpy(x_gates, c_prev)
        self.save_for_backward(x_gates, c_prev, c)
        return h, c

    def backward(self, gh, gc):
        # gc_total = gc + gh*o*(1 - tanh(c)^2); da_i = gc_total*g*i(1-i), da_f = gc_total*c_prev*
        # f(1-f), da_g = gc_total*i*(1-g^2), da_o = gh*tanh(c)*o(1-o); dc_prev = gc_total*f
        x_gates, c_prev, c = self.saved_tensors
        if is_grad_enabled():
            return self._recorded_backward(x_gates, c_prev, gh, gc)
        if self.gates is None:  # the CUDA path keeps no gates: recompute them in the kernel
            outputs = _cuda_kernel("backward")(*_gate_views(x_gates.data), c_prev.data, c.data,
                                               gh.data, gc.data)
            xp = get_array_module(gh.data)
            ga = xp.concatenate(outputs[:4], axis=1)  # 4 x (N, H) -> (N, 4H)
            g_c_prev = outputs[4]
        else:
            ga, g_c_prev = lstm_backward_numpy(self.gates, c_prev.data, gh.data, gc.data)
        return Tensor._from_array(ga), Tensor._from_array(g_c_prev)

    def _recorded_backward(self, x_gates, c_prev, gh, gc):
        # the VJP of the composite cell, recorded, so second derivatives are exact
        with enable_grad():
            h, c = lstm_cell_composite(x_gates, c_prev)
        wanted = [t for t in (x_gates, c_prev) if t.requires_grad]
        found = iter(autograd_grad([h, c], wanted, [gh, gc], create_graph=True,
                                   allow_unused=True))
        return tuple(next(found) if t.requires_grad else None for t in (x_gates, c_prev))


def lstm_cell_composite(x_gates: Tensor, c_prev: Tensor):
    """The same cell built from primitive ops: the oracle the fused op is tested against."""
    a_i, a_f, a_g, a_o = split(x_gates, x_gates.shape[1] // 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    return o * tanh(c), c


def lstm_cell(x_gates: Tensor, c_prev: Tensor):
    """One LSTM step over precomputed gate pre-activations.

    Args:
        x_gates: (N, 4H) = x W_ih^T + b_ih + h_prev W_hh^T + b_hh, gates in order i, f, g, o.
        c_prev: (N, H) previous cell state.

    Returns:
        (h, c), each (N, H). A gradient that never reaches h or c counts as zero.
    """
    if x_gates.ndim != 2 or x_gates.shape[1] % 4:
        raise ValueError(f"lstm_cell: x_gates must be (N, 4H), got shape {x_gates.shape}")
    expected = (x_gates.shape[0], x_gates.shape[1] // 4)
    if c_prev.shape != expected:
        raise ValueError(f"lstm_cell: c_prev must have shape {expected}, got {c_prev.shape}")
    return LSTMCell().apply(x_gates, c_prev)
