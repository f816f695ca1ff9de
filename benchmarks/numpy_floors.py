"""What NumPy itself costs for the layer-grid rows that PyTorch runs as fused kernels.

Issue 18 asks every row of the layer grid to run within 1.2x PyTorch. For three rows PyTorch
runs one fused kernel (layer_norm, the SGD momentum update) or a C++ step loop (the LSTM).
This script times the least NumPy work that computes the same thing: the fewest NumPy calls
the math needs, on preallocated arrays, with no graph, no checks and no affine terms (the
layer norm's and the SGD update's split into one block of rows per thread on tinygen's
pool). It times them beside PyTorch's own forward + backward (or step) in one process,
interleaved.
A floor over 1.2x PyTorch means no arrangement of NumPy calls meets the bar for that row.

- layer_norm over 2048 rows of 256 (the grid's "64×32 tokens" row, no weight or bias):
  the row means and variances, x̂, and the input gradient
  inv_std * (g - mean(g) - x̂ mean(g x̂)): 10 calls over the whole array.
- SGD with momentum over the grid's 1.2M parameters as one flat array: v = mu v + g and
  p -= lr v, 4 calls (NumPy has no fused multiply-add).
- LSTM 28 -> 128 over 28 steps at batch 64: the recurrent products alone, h W_hh^T forward
  and g W_hh backward per step (56 GEMMs), without the gates' cell.

    python -m benchmarks.numpy_floors [--repeats 20] [--threads default 1] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np
import torch

from benchmarks.layer_grid import add_sampling_arguments, default_threads, label, thread_setting
from benchmarks.report import machine, publish
from tinygen import backend

LAYER_NORM_SHAPE = (2048, 256)
EPS = 1e-5
SGD_SIZE = 1_199_882  # the grid's optimizer rows: a small MNIST CNN's parameters
LSTM_STEPS, LSTM_BATCH, LSTM_HIDDEN, LSTM_INPUT = 28, 64, 128, 28


def layer_norm_floor(x, g, out):
    """x̂ and dL/dx of a layer norm without affine terms over x's last axis, in 10 calls on
    the whole array; ``out`` holds (x̂, gx, row, ones) buffers. Returns (x̂, gx)."""
    x_hat, gx, row, ones = out
    width = x.shape[1]
    np.matmul(x, ones, out=row)                                  # row sums
    np.subtract(x, row[:, None] / width, out=x_hat)              # centred
    np.einsum("rd,rd->r", x_hat, x_hat, out=row)                 # sums of squares
    inv_std = 1.0 / np.sqrt(row / width + EPS)
    np.multiply(x_hat, inv_std[:, None], out=x_hat)              # x̂
    mean_g = np.matmul(g, ones) / width                          # mean(g) per row
    np.einsum("rd,rd->r", g, x_hat, out=row)                     # sum(g x̂) per row
    np.multiply(x_hat, row[:, None] / width, out=gx)             # x̂ mean(g x̂)
    np.add(gx, mean_g[:, None], out=gx)
    np.subtract(g, gx, out=gx)
    np.multiply(gx, inv_std[:, None], out=gx)
    return x_hat, gx


def sgd_floor(p, grad, velocity, work, lr=0.01, momentum=0.9):
    """One SGD-momentum update of the flat ``p`` in place, in 4 calls."""
    np.multiply(velocity, momentum, out=velocity)
    np.add(velocity, grad, out=velocity)
    np.multiply(velocity, lr, out=work)
    np.subtract(p, work, out=p)


def lstm_gemms_floor(h, w_hh_t, g_gates, w_hh, steps=LSTM_STEPS):
    """The recurrent products of an LSTM's forward and backward: ``steps`` of each."""
    for _ in range(steps):
        np.matmul(h, w_hh_t)
        np.matmul(g_gates, w_hh)


def _cases(rng):
    """(name, the NumPy floor, PyTorch's own) per row, each a function of no arguments."""
    x = rng.standard_normal(LAYER_NORM_SHAPE).astype(np.float32)
    g = rng.standard_normal(LAYER_NORM_SHAPE).astype(np.float32)
    buffers = (np.empty_like(x), np.empty_like(x), np.empty(x.shape[0], np.float32),
               np.ones(x.shape[1], np.float32))
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(g)

    def torch_layer_norm():
        tx.grad = None
        torch.nn.functional.layer_norm(tx, (x.shape[1],), eps=EPS).backward(tg)

    p, grad = (rng.standard_normal(SGD_SIZE).astype(np.float32) for _ in range(2))
    velocity, work = grad.copy(), np.empty_like(p)
    tp = torch.nn.Parameter(torch.tensor(p))
    tp.grad = torch.tensor(grad)
    optimizer = torch.optim.SGD([tp], lr=0.01, momentum=0.9)

    h = rng.standard_normal((LSTM_BATCH, LSTM_HIDDEN)).astype(np.float32)
    w_hh = rng.standard_normal((4 * LSTM_HIDDEN, LSTM_HIDDEN)).astype(np.float32)
    w_hh_t = np.ascontiguousarray(w_hh.T)  # (4H, H) -> (H, 4H)
    g_gates = rng.standard_normal((LSTM_BATCH, 4 * LSTM_HIDDEN)).astype(np.float32)
    lstm = torch.nn.LSTM(LSTM_INPUT, LSTM_HIDDEN, batch_first=True)
    rows = torch.tensor(rng.standard_normal((LSTM_BATCH, LSTM_STEPS, LSTM_INPUT)),
                        dtype=torch.float32)

    def torch_lstm():
        lstm.zero_grad()
        lstm(rows)[0].sum().backward()

    def layer_norm_rows(low, high):
        layer_norm_floor(x[low:high], g[low:high],
                         tuple(b[low:high] for b in buffers[:3]) + buffers[3:])

    return [
        ("layer_norm 256 over 64×32 tokens (no affine): 10 NumPy calls",
         lambda: _on_threads(layer_norm_rows, x.shape[0]), torch_layer_norm),
        ("SGD momentum 0.9 step, 1.2M parameters as one array: 4 NumPy calls",
         lambda: _on_threads(lambda low, high: sgd_floor(
             p[low:high], grad[low:high], velocity[low:high], work[low:high]), p.size),
         optimizer.step),
        ("LSTM 28→128 over 28 steps: the 56 recurrent GEMMs alone",
         lambda: lstm_gemms_floor(h, w_hh_t, g_gates, w_hh), torch_lstm),
    ]


def _on_threads(work, length: int) -> None:
    """``work`` on rows [low, high) of ``length``, one block per thread NumPy's BLAS may use
    (tinygen's pool: the passes are memory-bound, and two blocks are the most two cores
    can give them)."""
    threads = backend.blas_threads(np.empty(0))
    backend.run_blocks(work, backend.even_blocks(length, threads))


def _mean_ms(run, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls * 1e3


def measure(repeats: int, settings: list, only: str = "") -> dict:
    """{(row, setting): (NumPy floor ms, PyTorch ms)}, each the best of ``repeats`` samples
    of 5 calls, the two alternating, each after a pause and one warm-up call."""
    results = {}
    cases = [case for case in _cases(np.random.default_rng(0)) if only in case[0]]
    for setting in settings:
        with thread_setting(setting):
            for name, floor, theirs in cases:
                samples = ([], [])
                for _ in range(repeats):
                    for times, run in zip(samples, (floor, theirs)):
                        time.sleep(0.05)  # the other library's threads stop spinning
                        run()
                        times.append(_mean_ms(run, 5))
                results[name, setting] = (min(samples[0]), min(samples[1]))
    return results


def render(results: dict, settings: list, repeats: int) -> str:
    names = list(dict.fromkeys(name for name, _ in results))
    head = "| row: the least NumPy work |" + "".join(
        f" NumPy floor ms, {label(s)} | PyTorch ms | floor / PyTorch |" for s in settings)
    lines = [
        "## NumPy floors (issue 18)", "",
        "`python -m benchmarks.numpy_floors`: the least NumPy work that computes three grid rows "
        "PyTorch runs as fused kernels or a C++ loop (the fewest NumPy calls the math needs, on "
        "preallocated arrays, no graph or checks; layer_norm's and SGD's on one block of rows "
        "per thread), beside PyTorch's own forward + backward (or step); best of "
        f"{repeats} samples of 5 calls, interleaved. A floor over 1.2× means "
        "no NumPy arrangement of that row meets issue 18's bar.", "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}",
        f"- numpy {np.__version__}, torch {torch.__version__}",
        f"- Threads: default = {default_threads()}; a count N = threadpool_limits(N) and "
        "torch.set_num_threads(N)", "",
        head, "|---|" + "---:|---:|---:|" * len(settings)]
    for name in names:
        cells = "".join(
            f" {results[name, s][0]:.3f} | {results[name, s][1]:.3f} | "
            f"{results[name, s][0] / results[name, s][1]:.2f}× |" for s in settings)
        lines.append(f"| {name} |{cells}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sampling_arguments(parser, repeats=20)
    args = parser.parse_args()
    results = measure(args.repeats, args.threads, args.only)
    publish(render(results, args.threads, args.repeats),
            write=not args.no_write and not args.only)


if __name__ == "__main__":
    main()
