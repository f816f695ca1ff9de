"""The sequence ops under nn.LSTM and nn.GRU (ops/recurrent_sequence.py): the raw-array loop
against the per-step composition (outputs, last states and every gradient, both directions,
at one and two pinned BLAS threads, so in one block or in blocks of the batch on threads,
and with the loop's GEMMs on BLAS's threads), and gradcheck / gradgradcheck in float64 (the
recorded backward)."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import tinygen as tg
from tinygen import backend
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.autograd.ops import recurrent_sequence
from tinygen.autograd.ops.recurrent_sequence import (
    gru_sequence,
    gru_sequence_composite,
    lstm_sequence,
    lstm_sequence_composite,
)

# (the fused op, the per-step composition it is checked against, gates per step)
KINDS = {
    "lstm": (lstm_sequence, lstm_sequence_composite, 4),
    "gru": (gru_sequence, gru_sequence_composite, 3),
}


def _inputs(kind, steps, batch, hidden, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    gates = KINDS[kind][2]

    def leaf(*shape):
        return tg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)

    projected, h0 = leaf(steps, batch, gates * hidden), leaf(batch, hidden)
    w_hh = leaf(gates * hidden, hidden)
    if kind == "lstm":
        return [projected, h0, leaf(batch, hidden), w_hh]
    return [projected, h0, w_hh, leaf(gates * hidden)]


def _outputs_and_grads(function, inputs, reverse, seed=1):
    outputs = function(*inputs, reverse=reverse)
    rng = np.random.default_rng(seed)
    upstream = [tg.tensor(rng.standard_normal(y.shape)) for y in outputs]
    return [y.numpy() for y in outputs], [g.numpy() for g in grad(list(outputs), inputs,
                                                                  upstream)]


@pytest.mark.parametrize("threads", [1, 2])
@given(kind=st.sampled_from(sorted(KINDS)), steps=st.integers(1, 4), batch=st.integers(0, 3),
       hidden=st.integers(1, 3), reverse=st.booleans())
def test_sequence_op_in_blocks_matches_the_per_step_composition(threads, kind, steps, batch,
                                                                hidden, reverse):
    fused, composite, _ = KINDS[kind]
    inputs = _inputs(kind, steps, batch, hidden)

    # blocks of one row: at two threads any batch of two or more runs in two blocks
    with threadpool_limits(threads), mock.patch.object(recurrent_sequence,
                                                       "_MIN_BLOCK_ROWS", 1):
        got_y, got_g = _outputs_and_grads(fused, inputs, reverse)
    want_y, want_g = _outputs_and_grads(composite, inputs, reverse)

    for got, want in zip(got_y + got_g, want_y + want_g):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sequence_op_with_threaded_step_gemms_matches_the_composition(kind, monkeypatch):
    # every step's GEMM counted as large: the loop leaves BLAS alone and each GEMM is cut
    # across tinygen's threads (backend.threaded_matmul)
    monkeypatch.setattr(recurrent_sequence, "SPLIT_MIN_MACS", 0)
    for name in ("SPLIT_MIN_MACS", "BLAS_THREADED_MACS"):
        monkeypatch.setattr(backend, name, 0)
    monkeypatch.setattr(backend, "SPLIT_MIN_SIDE", 1)
    fused, composite, _ = KINDS[kind]
    inputs = _inputs(kind, 3, 2, 2)

    with threadpool_limits(2):
        got_y, got_g = _outputs_and_grads(fused, inputs, reverse=False)
    want_y, want_g = _outputs_and_grads(composite, inputs, reverse=False)

    for got, want in zip(got_y + got_g, want_y + want_g):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sequence_op_passes_gradcheck_and_gradgradcheck(kind, reverse):
    fused = KINDS[kind][0]
    inputs = _inputs(kind, 3, 2, 2, seed=2)

    def run(*tensors):
        return fused(*tensors, reverse=reverse)

    assert gradcheck(run, inputs)
    assert gradgradcheck(run, inputs)


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_layer_in_float32_matches_its_float64_run(layer):
    # the float32 raw loop (the grid's dtype) against the same layer in float64
    tg.manual_seed(0)
    module = getattr(tg.nn, layer)(3, 4, batch_first=True, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    results = {}
    for dtype in (np.float32, np.float64):
        for p in module.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        out, _ = module(tg.tensor(x.astype(dtype)))
        out.sum().backward()
        results[dtype] = [out.numpy()] + [p.grad.numpy() for p in module.parameters()]

    for got, want in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("threads, blocks", [(1, 1), (2, 2)])
def test_sequence_op_cuts_the_batch_into_one_block_per_thread(threads, blocks):
    inputs = _inputs("lstm", 2, 2 * recurrent_sequence._MIN_BLOCK_ROWS, 2)

    with threadpool_limits(threads):
        out = lstm_sequence(*inputs)[0]

    assert len(out.grad_fn.blocks) == blocks


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_layer_gives_the_same_at_one_and_two_pinned_threads(layer):
    # a batch of two blocks' rows: two blocks on two threads, one block on one
    tg.manual_seed(0)
    module = getattr(tg.nn, layer)(3, 4, bidirectional=True)
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    x = np.random.default_rng(0).standard_normal((5, 2 * recurrent_sequence._MIN_BLOCK_ROWS, 3))
    results = []
    for threads in (1, 2):
        for p in module.parameters():
            p.grad = None
        with threadpool_limits(threads):
            out, _ = module(tg.tensor(x))
            out.sum().backward()
        results.append([out.numpy()] + [p.grad.numpy() for p in module.parameters()])

    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_sequence_layers_on_the_gpu_match_numpy(kind):
    """LSTMSequence / GRUSequence are not registry ops (the layers call them), so the
    registry's NumPy-vs-CuPy test does not reach them: forward and gradients here."""
    rng = np.random.default_rng(0)
    layer = getattr(tg.nn, kind)(5, 7, num_layers=2, bidirectional=True)
    x_values = rng.standard_normal((6, 3, 5)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        model = layer.to(device)
        x = tg.Tensor(x_values, requires_grad=True, device=device)
        output = model(x)[0]
        output.sum().backward()
        results.append([backend.to_numpy(t.data) for t in
                        (output, x.grad, *(p.grad for p in model.parameters()))])
        model.zero_grad()
    for on_cpu, on_gpu in zip(*results, strict=True):
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)
