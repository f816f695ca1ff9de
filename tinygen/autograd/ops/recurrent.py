"""The fused LSTM cell: one op over the gate pre-activations, gate order i, f, g, o (PyTorch).

    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c = f * c_prev + i * g;  h = o * tanh(c)

The input and recurrent matmuls stay separate ops (they are where the time goes, in BLAS);
fusing the remaining elementwise work saves about ten op dispatches and temporaries per
step. All four activations come from one tanh over the (N, 4H) block, since
sigmoid(a) = (1 + tanh(a/2)) / 2, which is stable at any |a| and needs no branch.

On a GPU the forward and backward run as one CuPy ElementwiseKernel each; their bodies sit
next to the NumPy code they must match, and ``tinygen.testing.cuda_harness`` runs them on the
CPU in the tests. A recorded backward (``create_graph=True``) is the vector-Jacobian product
of the same cell composed from primitive ops, so second derivatives are exact.

:func:`row_conv` is the Row LSTM's 1 x k convolutions along rows (input-to-state over the
whole map, state-to-state per row): k shifted neighbours gathered into one matmul, plus the
row's gates or a bias, under the same contract: raw array backward, composite VJP when
recorded.
"""

from __future__ import annotations

import math

from tinygen import backend
from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled
from tinygen.autograd.ops.activation import sigmoid, tanh
from tinygen.autograd.ops.arguments import integer, tensor_args
from tinygen.autograd.ops.shape import concatenate, getitem, pad, reshape, split
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

# One thread per (sample, hidden unit). Inputs a_* are the four gate pre-activations.
LSTM_FORWARD_BODY = """
    T i = 0.5 * tanh(0.5 * a_i) + 0.5;
    T f = 0.5 * tanh(0.5 * a_f) + 0.5;
    T g = tanh(a_g);
    T o = 0.5 * tanh(0.5 * a_o) + 0.5;
    c = f * c_prev + i * g;
    h = o * tanh(c);
"""
LSTM_FORWARD_IN = "T a_i, T a_f, T a_g, T a_o, T c_prev"
LSTM_FORWARD_OUT = "T h, T c"

# Recomputes the gates from the pre-activations rather than storing them: one read instead
# of four on the way back, which is what bounds a memory-bound kernel.
LSTM_BACKWARD_BODY = """
    T i = 0.5 * tanh(0.5 * a_i) + 0.5;
    T f = 0.5 * tanh(0.5 * a_f) + 0.5;
    T g = tanh(a_g);
    T o = 0.5 * tanh(0.5 * a_o) + 0.5;
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
    """Four (N, H) views of an (N, 4H) array, in PyTorch's i, f, g, o order."""
    hidden = x_gates.shape[1] // 4
    return [x_gates[:, k * hidden:(k + 1) * hidden] for k in range(4)]


_activation_constants: dict = {}


def _activation_constants_for(xp, hidden: int, dtype):
    """(scale, shift), each (4H,): gates = scale * tanh(scale * a) + shift is sigmoid for
    i, f, o (scale 1/2, shift 1/2) and tanh for g (scale 1, shift 0)."""
    key = (xp.__name__, hidden, dtype)
    if key not in _activation_constants:
        scale = xp.full(4 * hidden, 0.5, dtype=dtype)
        scale[2 * hidden:3 * hidden] = 1
        shift = xp.full(4 * hidden, 0.5, dtype=dtype)
        shift[2 * hidden:3 * hidden] = 0
        _activation_constants[key] = (scale, shift)
    return _activation_constants[key]


def lstm_forward_numpy(x_gates, c_prev):
    """The NumPy twin of LSTM_FORWARD_BODY.

    Returns:
        h, c (N, H) and what the backward needs: (t, gates, tanh_c), where t (N, 4H) is the
        tanh of the scaled pre-activations and gates (N, 4H) holds i, f, g, o.
    """
    xp = get_array_module(x_gates)
    scale, shift = _activation_constants_for(xp, x_gates.shape[1] // 4, x_gates.dtype)
    t = x_gates * scale
    xp.tanh(t, out=t)
    gates = t * scale
    gates += shift
    i, f, g, o = _gate_views(gates)
    c = f * c_prev
    c += i * g
    tanh_c = xp.tanh(c)
    return o * tanh_c, c, (t, gates, tanh_c)


def lstm_backward_numpy(saved, c_prev, gh, gc):
    """The NumPy twin of LSTM_BACKWARD_BODY: (dL/d x_gates (N, 4H), dL/d c_prev (N, H))."""
    xp = get_array_module(gh)
    t, gates, tanh_c = saved
    scale, _ = _activation_constants_for(xp, gh.shape[1], gh.dtype)
    i, f, g, o = _gate_views(gates)
    # gc_total = gc + gh * o * (1 - tanh(c)^2): the whole gradient reaching c
    gc_total = tanh_c * tanh_c
    xp.subtract(1, gc_total, out=gc_total)
    gc_total *= o
    gc_total *= gh
    gc_total += gc
    # dL/d gate, then times d gate / d a = scale^2 * (1 - t^2), the same for all four
    ga = xp.empty_like(gates)
    ga_i, ga_f, ga_g, ga_o = _gate_views(ga)
    xp.multiply(gc_total, g, out=ga_i)
    xp.multiply(gc_total, c_prev, out=ga_f)
    xp.multiply(gc_total, i, out=ga_g)
    xp.multiply(gh, tanh_c, out=ga_o)
    slope = t * t
    xp.subtract(1, slope, out=slope)
    slope *= scale * scale
    ga *= slope
    return ga, gc_total * f


class LSTMCell(Function):
    """(x_gates (N, 4H), c_prev (N, H)) -> (h (N, H), c (N, H))."""

    def forward(self, x_gates, c_prev):
        xp = get_array_module(x_gates)
        if xp is backend.cupy:
            h, c = _cuda_kernel("forward")(*_gate_views(x_gates), c_prev)
        else:
            h, c, activations = lstm_forward_numpy(x_gates, c_prev)
            self.cache_for_backward(activations=activations)
        self.save_for_backward(x_gates, c_prev, c)
        return h, c

    def backward(self, gh, gc):
        # gc_total = gc + gh*o*(1 - tanh(c)^2); da_i = gc_total*g*i(1-i), da_f = gc_total*c_prev*
        # f(1-f), da_g = gc_total*i*(1-g^2), da_o = gh*tanh(c)*o(1-o); dc_prev = gc_total*f
        x_gates, c_prev, c = self.saved_tensors
        if is_grad_enabled():
            return self._recorded_backward(x_gates, c_prev, gh, gc)
        activations = self.cached("activations")
        if activations is None:  # the CUDA path keeps no gates: the kernel recomputes
            xp = get_array_module(gh.data)
            ga = xp.empty_like(x_gates.data)
            g_c_prev = xp.empty_like(c_prev.data)
            _cuda_kernel("backward")(*_gate_views(x_gates.data), c_prev.data, c.data, gh.data,
                                     gc.data, *_gate_views(ga), g_c_prev)
        else:
            ga, g_c_prev = lstm_backward_numpy(activations, c_prev.data, gh.data, gc.data)
        return Tensor._from_array(ga), Tensor._from_array(g_c_prev)

    def _recorded_backward(self, x_gates, c_prev, gh, gc):
        # the VJP of the composite cell, recorded, so second derivatives are exact
        with enable_grad():
            h, c = lstm_cell_composite(x_gates, c_prev)
        wanted = [t for t in (x_gates, c_prev) if t.requires_grad]
        found = iter(autograd_grad([h, c], wanted, [gh, gc], create_graph=True,
                                   allow_unused=True))
        return tuple(next(found) if t.requires_grad else None for t in (x_gates, c_prev))


@tensor_args
def lstm_cell_composite(x_gates: Tensor, c_prev: Tensor):
    """The same cell built from primitive ops: the oracle the fused op is tested against."""
    a_i, a_f, a_g, a_o = split(x_gates, x_gates.shape[1] // 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    return o * tanh(c), c


@tensor_args
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


# --------------------------------------------------------------------------- Row LSTM convs
def _neighbour_columns(width: int, taps: int, left: int):
    """Per tap, (shift, first, stop): output columns first..stop-1 read input column
    j + shift, shift = tap - left; the other columns fall on the zero padding."""
    columns = []
    for tap in range(taps):
        shift = tap - left
        first = max(0, -shift)
        # stop never below first: a slice of a row narrower than the reach stays empty
        columns.append((shift, first, max(first, min(width, width - shift))))
    return columns


class RowConv(Function):
    """(x (..., W, C), kernel (k*C, F), addend (M*W, F) or (F,)) -> (M*W, F), M = x's
    leading size: a 1 x k convolution along rows, channels last, zero-padded, plus addend.

    Composed from pad, k slices, a concatenate and a matmul it takes about ten ops and, on the
    way back, a zero-filled full-size gradient per slice; here the k neighbours are copied
    straight into one buffer (from any strides, so a permuted map needs no copy of its own)
    and their gradients added straight back, around the one matmul each way.
    """

    broadcasts = True  # a bias addend (F,): the engine sums its gradient over the rows

    def __init__(self, left: int):
        self.left = left  # taps left of the centre pixel

    def forward(self, x, kernel, addend):
        xp = get_array_module(x)
        width, channels = x.shape[-2:]
        taps = kernel.shape[0] // channels
        # each pixel's k neighbours side by side, in the kernel's tap order: (..., W, k, C)
        neighbours = xp.empty((*x.shape[:-1], taps, channels), dtype=x.dtype)
        for tap, (shift, first, stop) in enumerate(_neighbour_columns(width, taps, self.left)):
            neighbours[..., first:stop, tap, :] = x[..., first + shift:stop + shift, :]
            neighbours[..., :first, tap, :] = 0
            neighbours[..., stop:, tap, :] = 0
        # (..., W, k, C) -> (M*W, k*C), a view of the contiguous buffer
        neighbours = neighbours.reshape(-1, taps * channels)
        self.cache_for_backward(neighbours=neighbours)
        out = neighbours @ kernel
        out += addend
        self.save_for_backward(x, kernel, addend)
        return out

    def backward(self, g_out):
        x, kernel, addend = self.saved_tensors
        if is_grad_enabled():  # the VJP of the composite op, recorded for second derivatives
            with enable_grad():
                out = row_conv_composite(x, kernel, addend, self.left)
            inputs = (x, kernel, addend)
            wanted = [t for t in inputs if t.requires_grad]
            found = iter(autograd_grad(out, wanted, g_out, create_graph=True,
                                       allow_unused=True))
            return tuple(next(found) if t.requires_grad else None for t in inputs)
        g_x = g_kernel = None
        if self.needs_input_grad[0]:
            width, channels = x.shape[-2:]
            taps = kernel.shape[0] // channels
            # (M*W, F) @ (F, k*C) -> (M*W, k*C) -> (..., W, k, C)
            g_neighbours = (g_out.data @ kernel.data.T).reshape(*x.shape[:-1], taps, channels)
            columns = _neighbour_columns(width, taps, self.left)
            # the centre tap reads every column unshifted; the others add in shifted
            g = g_neighbours[..., self.left, :].copy()
            for tap, (shift, first, stop) in enumerate(columns):
                if tap != self.left:
                    g[..., first + shift:stop + shift, :] += g_neighbours[..., first:stop, tap, :]
            g_x = Tensor._from_array(g)
        if self.needs_input_grad[1]:
            # (k*C, M*W) @ (M*W, F) -> (k*C, F)
            g_kernel = Tensor._from_array(self.cached("neighbours").T @ g_out.data)
        # d out / d addend is the identity (the engine sums a broadcast addend's gradient)
        return g_x, g_kernel, g_out if self.needs_input_grad[2] else None


@tensor_args
def row_conv_composite(x: Tensor, kernel: Tensor, addend: Tensor, left: int) -> Tensor:
    """The same op built from primitive ops: the oracle the fused op is tested against."""
    width, channels = x.shape[-2:]
    taps = kernel.shape[0] // channels
    lead = ((0, 0),) * (x.ndim - 2)
    # zero-pad the rows' ends, (..., W+k-1, C), and lay the k neighbours of each pixel side
    # by side, (..., W, k*C), in the kernel's tap order
    padded = pad(x, (*lead, (left, taps - 1 - left), (0, 0)))
    neighbours = concatenate([getitem(padded, (Ellipsis, slice(tap, tap + width), slice(None)))
                              for tap in range(taps)], axis=-1)
    # (..., W, k*C) -> (M*W, k*C) @ (k*C, F)
    return addend + reshape(neighbours, (-1, taps * channels)) @ kernel


@tensor_args
def row_conv(x: Tensor, kernel: Tensor, addend: Tensor, left: int) -> Tensor:
    """A 1 x k convolution along the rows of a channels-last map, as one matmul, plus addend.

    Output pixel j of a row is sum over taps t of x[..., j + t - left, :] @ kernel[t*C:(t+1)*C],
    with zeros beyond the row's ends: ``left = k // 2`` is a centred ("same") conv, ``left =
    k - 1`` one that sees the pixel and those left of it (a mask-B conv's taps).

    Args:
        x: (..., W, C), any strides; the leading axes hold M rows.
        kernel: (k*C, F), row t*C + c the weight of channel c of tap t.
        addend: (M*W, F) or (F,), added to the result (the row's gates, or a bias).
        left: the number of taps left of the centre pixel, 0 <= left < k.

    Returns:
        (M*W, F), pixel j of row r at r*W + j.
    """
    if x.ndim < 2 or kernel.ndim != 2:
        raise ValueError(f"row_conv: x must be (..., W, C) and kernel (k*C, F), got shapes "
                         f"{x.shape} and {kernel.shape}")
    channels, features = x.shape[-1], kernel.shape[1]
    taps = kernel.shape[0] // channels
    left = integer("row_conv", "left", left)
    if taps < 1 or kernel.shape[0] != taps * channels or not 0 <= left < taps:
        raise ValueError(f"row_conv: kernel must have k*{channels} rows with 0 <= left < k, "
                         f"got shape {kernel.shape} and left={left}")
    pixels = math.prod(x.shape[:-1])
    if addend.shape not in ((pixels, features), (features,)):
        raise ValueError(f"row_conv: addend must have shape {(pixels, features)} or "
                         f"{(features,)}, got {addend.shape}")
    return RowConv(left).apply(x, kernel, addend)
