"""A whole LSTM or GRU layer direction as one op: the loop over the steps runs inside forward
and backward on raw arrays, and the recurrent weight's gradient is one GEMM over all steps.

Per step the composed layer costs a linear, the cell and their graph bookkeeping, and on the
way back one small weight-gradient GEMM per step, summed by the engine. Here each step is
one GEMM (h W_hh^T) and the cell's NumPy kernel forward, the cell's kernel and one GEMM
(g W_hh) backward; the weight gradient is (G H, T N) @ (T N, H) once. The per-step GEMMs are
small (64 x 128 x 512: ~0.1 ms), and at two BLAS threads their hand-offs cost what the second
thread saves (the GRU row was slower at two threads than at one). So with several threads a
large batch is cut into blocks of rows, each running the whole recurrence on its own thread
with NumPy's BLAS held to one thread (the sequences of a batch are independent); with one
block, a step's GEMM is cut across the threads only from ``backend.SPLIT_MIN_MACS``. The big
GEMMs (the input projection before, the weight gradient after) run on all of tinygen's
threads (``backend.matmul``).

A recorded backward (``create_graph=True``) differentiates the same steps composed from
differentiable ops (``linear`` and ``lstm_cell``, or the GRU's gates), so second derivatives
are exact; :func:`lstm_sequence_composite` and :func:`gru_sequence_composite` are also the
oracles the tests compare the raw backward with.
"""

from __future__ import annotations

from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled
from tinygen.autograd.ops.activation import sigmoid, tanh
from tinygen.autograd.ops.linalg import linear
from tinygen.autograd.ops.recurrent import lstm_backward_numpy, lstm_cell, lstm_forward_numpy
from tinygen.autograd.ops.shape import reshape, split, stack
from tinygen.autograd.tensor import Tensor
from tinygen.backend import (
    SPLIT_MIN_MACS,
    blas_threads,
    even_blocks,
    get_array_module,
    matmul,
    run_blocks,
)

#: A block of the batch gets a thread of its own from this many rows: below it the per-step
#: Python work, which holds the GIL, outweighs the halved GEMM and cell. GRU 28 -> 128 over
#: 28 steps at two threads, min ms (loaded, 2 cores): batch 64 one block 13.1, two blocks
#: 15.8 (one thread 14.4); batch 128 66 against 73 (LSTM 133 against 84); batch 256 161
#: against 94 (LSTM 150 against 117).
_MIN_BLOCK_ROWS = 64


def _steps(count: int, reverse: bool):
    return reversed(range(count)) if reverse else range(count)


def _plan(like, batch: int, macs: int) -> tuple[list, bool]:
    """The (low, high) blocks of the batch the loop runs on, one per thread, and whether
    NumPy's BLAS is held to one thread while they run."""
    parts = min(blas_threads(like), batch // _MIN_BLOCK_ROWS)
    if parts >= 2:
        return even_blocks(batch, parts), True
    return [(0, batch)], macs < SPLIT_MIN_MACS  # smaller products run whole anyway


def _recorded(function, composite, inputs, grads):
    """The VJP of ``composite`` (the same steps from differentiable ops), recorded."""
    with enable_grad():
        outputs = composite(*inputs, reverse=function.reverse)
    wanted = [t for t in inputs if t.requires_grad]
    found = iter(autograd_grad(list(outputs), wanted, list(grads), create_graph=True,
                               allow_unused=True))
    return tuple(next(found) if t.requires_grad else None for t in inputs)


class LSTMSequence(Function):
    """(projected (T, N, 4H), h0 (N, H), c0 (N, H), w_hh (4H, H)) -> (out (T, N, H), h_last,
    c_last): the LSTM over T steps, gates i, f, g, o; ``projected`` holds each step's
    x W_ih^T + b_ih + b_hh. ``reverse`` runs the steps from the last."""

    def __init__(self, reverse: bool):
        self.reverse = reverse

    def forward(self, projected, h0, c0, w_hh):
        xp = get_array_module(projected)
        steps, batch, hidden = projected.shape[0], h0.shape[0], h0.shape[1]
        h_prev = xp.empty((steps, batch, hidden), dtype=projected.dtype)  # state before t
        c_prev = xp.empty_like(h_prev)
        out = xp.empty_like(h_prev)
        h_last, c_last = xp.empty_like(h0), xp.empty_like(c0)
        activations = {}  # block's low row -> per step the cell's (t, gates, tanh_c)
        # (4H, H) -> (H, 4H), copied once: OpenBLAS takes 1.2x as long per step on the
        # transposed view (100 x 128 x 512 at one thread: 176 against 147 µs)
        w_t = xp.ascontiguousarray(w_hh.T)

        def loop(low, high):
            h, c = h0[low:high], c0[low:high]
            cells = activations[low] = [None] * steps
            for t in _steps(steps, self.reverse):
                h_prev[t, low:high], c_prev[t, low:high] = h, c
                h, c, cells[t] = lstm_forward_numpy(projected[t, low:high] + matmul(h, w_t), c)
                out[t, low:high] = h
            h_last[low:high], c_last[low:high] = h, c

        # the backward runs on the same blocks (the cached cells are per block)
        self.blocks, self.single_threaded = _plan(projected, batch,
                                                  batch * hidden * 4 * hidden)
        run_blocks(loop, self.blocks, single_threaded_blas=self.single_threaded)
        self.cache_for_backward(h_prev=h_prev, c_prev=c_prev, activations=activations)
        self.save_for_backward(projected, h0, c0, w_hh)
        return out, h_last, c_last

    def backward(self, g_out, g_h, g_c):
        # per step, reversed: gh = g_out[t] + g_h; (ga_t, g_c) = the cell's VJP; g_h = ga_t
        # W_hh; then dL/dprojected = ga, dL/dW_hh = sum_t ga_t^T h_prev[t] (one GEMM)
        inputs = self.saved_tensors
        if is_grad_enabled():
            return _recorded(self, lstm_sequence_composite, inputs, (g_out, g_h, g_c))
        w_hh = inputs[3].data
        g_out = g_out.data
        h_prev, c_prev = self.cached("h_prev"), self.cached("c_prev")
        activations = self.cached("activations")
        steps, batch, hidden = h_prev.shape
        xp = get_array_module(g_out)
        ga = xp.empty((steps, batch, 4 * hidden), dtype=g_out.dtype)
        gh0, gc0 = xp.empty_like(g_h.data), xp.empty_like(g_c.data)

        def loop(low, high):
            gh, gc, cells = g_h.data[low:high], g_c.data[low:high], activations[low]
            for t in _steps(steps, not self.reverse):
                ga[t, low:high], gc = lstm_backward_numpy(
                    cells[t], c_prev[t, low:high], g_out[t, low:high] + gh, gc)
                gh = matmul(ga[t, low:high], w_hh)  # (n, 4H) @ (4H, H) -> (n, H)
            gh0[low:high], gc0[low:high] = gh, gc

        run_blocks(loop, self.blocks, single_threaded_blas=self.single_threaded)
        # (T*N, 4H)^T @ (T*N, H) -> (4H, H)
        gw = matmul(ga.reshape(-1, 4 * hidden).T, h_prev.reshape(-1, hidden))
        return tuple(Tensor._from_array(g) if needed else None
                     for g, needed in zip((ga, gh0, gc0, gw), self.needs_input_grad))

class GRUSequence(Function):
    """(projected (T, N, 3H), h0 (N, H), w_hh (3H, H), b_hh (3H,)) -> (out (T, N, H), h_last):
    PyTorch's GRU over T steps, gates r, z, n; ``projected`` holds each step's x W_ih^T + b_ih.
    ``reverse`` runs the steps from the last."""

    def __init__(self, reverse: bool):
        self.reverse = reverse

    def forward(self, projected, h0, w_hh, b_hh):
        xp = get_array_module(projected)
        steps, batch, hidden = projected.shape[0], h0.shape[0], h0.shape[1]
        h_prev = xp.empty((steps, batch, hidden), dtype=projected.dtype)
        # per step r, z, n and h_n = (h W_hn^T + b_hn): what the backward needs
        gates = xp.empty((steps, batch, 4 * hidden), dtype=projected.dtype)
        out = xp.empty_like(h_prev)
        h_last = xp.empty_like(h0)
        w_t = xp.ascontiguousarray(w_hh.T)  # (3H, H) -> (H, 3H), copied once as the LSTM's

        def loop(low, high):
            h = h0[low:high]
            for t in _steps(steps, self.reverse):
                h_prev[t, low:high] = h
                recurrent = matmul(h, w_t)
                recurrent += b_hh
                step, x = gates[t, low:high], projected[t, low:high]
                rz, n, h_n = step[:, :2 * hidden], step[:, 2 * hidden:3 * hidden], \
                    step[:, 3 * hidden:]
                h_n[...] = recurrent[:, 2 * hidden:]
                # sigmoid(a) = (1 + tanh(a / 2)) / 2: stable at any |a|
                xp.add(x[:, :2 * hidden], recurrent[:, :2 * hidden], out=rz)
                rz *= 0.5
                xp.tanh(rz, out=rz)
                rz += 1
                rz *= 0.5
                xp.multiply(rz[:, :hidden], h_n, out=n)
                n += x[:, 2 * hidden:]
                xp.tanh(n, out=n)
                # h' = n + z (h - n)
                h = h - n
                h *= rz[:, hidden:]
                h += n
                out[t, low:high] = h
            h_last[low:high] = h

        # the backward runs on the same blocks (the cached cells are per block)
        self.blocks, self.single_threaded = _plan(projected, batch,
                                                  batch * hidden * 3 * hidden)
        run_blocks(loop, self.blocks, single_threaded_blas=self.single_threaded)
        self.cache_for_backward(h_prev=h_prev, gates=gates)
        self.save_for_backward(projected, h0, w_hh, b_hh)
        return out, h_last

    def backward(self, g_out, g_h):
        # per step, reversed, from gh = g_out[t] + g_h: ga_n = gh (1 - z)(1 - n^2); ga_z = gh
        # (h - n) z (1 - z); ga_r = ga_n h_n r (1 - r); g_hn = ga_n r; then g_h = gh z +
        # [ga_r, ga_z, g_hn] W_hh, and dL/dW_hh = sum_t [ga_r, ga_z, g_hn]^T h_prev[t]
        inputs = self.saved_tensors
        if is_grad_enabled():
            return _recorded(self, gru_sequence_composite, inputs, (g_out, g_h))
        xp = get_array_module(g_out.data)
        w_hh, g_out = inputs[2].data, g_out.data
        h_prev, gates = self.cached("h_prev"), self.cached("gates")
        steps, batch, hidden = h_prev.shape
        g_projected = xp.empty((steps, batch, 3 * hidden), dtype=g_out.dtype)
        g_recurrent = xp.empty_like(g_projected)
        gh0 = xp.empty_like(g_h.data)

        def loop(low, high):
            gh = g_h.data[low:high]
            for t in _steps(steps, not self.reverse):
                step, g_step = gates[t, low:high], g_projected[t, low:high]
                r, z = step[:, :hidden], step[:, hidden:2 * hidden]
                n, h_n = step[:, 2 * hidden:3 * hidden], step[:, 3 * hidden:]
                ga_r, ga_z, ga_n = (g_step[:, k * hidden:(k + 1) * hidden] for k in range(3))
                g_rec = g_recurrent[t, low:high]
                gh = g_out[t, low:high] + gh
                xp.multiply(gh, 1 - z, out=ga_n)
                ga_n *= 1 - n * n
                xp.subtract(h_prev[t, low:high], n, out=ga_z)
                ga_z *= gh
                ga_z *= z * (1 - z)
                xp.multiply(ga_n, h_n, out=ga_r)
                ga_r *= r * (1 - r)
                g_rec[:, :2 * hidden] = g_step[:, :2 * hidden]
                xp.multiply(ga_n, r, out=g_rec[:, 2 * hidden:])
                # (n, 3H) @ (3H, H) -> (n, H)
                gh = gh * z + matmul(g_rec, w_hh)
            gh0[low:high] = gh

        run_blocks(loop, self.blocks, single_threaded_blas=self.single_threaded)
        flat = g_recurrent.reshape(-1, 3 * hidden)  # (T, N, 3H) -> (T*N, 3H)
        gw = matmul(flat.T, h_prev.reshape(-1, hidden))  # (3H, T*N) @ (T*N, H) -> (3H, H)
        gb = flat.sum(axis=0)
        return tuple(Tensor._from_array(g) if needed else None
                     for g, needed in zip((g_projected, gh0, gw, gb), self.needs_input_grad))


def lstm_sequence_composite(projected, h0, c0, w_hh, *, reverse: bool = False):
    """LSTMSequence from differentiable ops: a linear and the fused cell per step."""
    steps = projected.shape[0]
    per_step = split(projected, 1, axis=0)
    h, c, out = h0, c0, [None] * steps
    for t in _steps(steps, reverse):
        step = reshape(per_step[t], per_step[t].shape[1:])  # (1, N, 4H) -> (N, 4H)
        h, c = lstm_cell(step + linear(h, w_hh), c)
        out[t] = h
    return stack(out, axis=0), h, c


def gru_sequence_composite(projected, h0, w_hh, b_hh, *, reverse: bool = False):
    """GRUSequence from differentiable ops (nn.GRU's step)."""
    steps, hidden = projected.shape[0], h0.shape[1]
    per_step = split(projected, 1, axis=0)
    h, out = h0, [None] * steps
    for t in _steps(steps, reverse):
        step = reshape(per_step[t], per_step[t].shape[1:])  # (1, N, 3H) -> (N, 3H)
        x_rz, x_n = split(step, [2 * hidden, hidden], axis=-1)
        h_rz, h_n = split(linear(h, w_hh, b_hh), [2 * hidden, hidden], axis=-1)
        r, z = split(sigmoid(x_rz + h_rz), hidden, axis=-1)
        n = tanh(x_n + r * h_n)
        h = n + z * (h - n)
        out[t] = h
    return stack(out, axis=0), h


def lstm_sequence(projected: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, *,
                  reverse: bool = False) -> tuple:
    """An LSTM layer direction over precomputed input projections (checked by nn.LSTM).

    Args:
        projected: (T, N, 4H), each step's x W_ih^T + b_ih + b_hh, gates i, f, g, o.
        h0, c0: (N, H), the initial state.
        w_hh: (4H, H), the recurrent weight.
        reverse: run the steps from the last.

    Returns:
        (out (T, N, H), h_last (N, H), c_last (N, H)).
    """
    return LSTMSequence(reverse).apply(projected, h0, c0, w_hh)


def gru_sequence(projected: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor, *,
                 reverse: bool = False) -> tuple:
    """A GRU layer direction over precomputed input projections (checked by nn.GRU).

    Args:
        projected: (T, N, 3H), each step's x W_ih^T + b_ih, gates r, z, n.
        h0: (N, H), the initial state.
        w_hh: (3H, H), the recurrent weight; b_hh: (3H,), its bias.
        reverse: run the steps from the last.

    Returns:
        (out (T, N, H), h_last (N, H)).
    """
    return GRUSequence(reverse).apply(projected, h0, w_hh, b_hh)
