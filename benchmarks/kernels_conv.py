"""Convolution kernels of tinygen beside PyTorch CPU: forward + backward, median ms.

Each case runs in both frameworks interleaved in one process (tinygen, torch, tinygen, ...),
so both see the same machine state; each figure is the median over the repeats. Every input
(image, weight, bias) requires a gradient, in both frameworks. GFLOP/s counts the three
GEMM-shaped products of a conv step (forward, input gradient, weight gradient: 3 * 2 * MACs)
and is compared with a 1024 x 1024 float32 NumPy matmul timed in the same run.

This module is imported by benchmarks/kernels.py (the CASES list and the timing functions);
run alone it prints its table:

    python benchmarks/kernels_conv.py [--repeats 15] [--cpu-time]

``--cpu-time`` runs both frameworks on one thread and times CPU seconds (process time): on a
machine shared with other jobs, wall-clock figures swing several-fold, CPU time much less.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F

try:
    import torch
except ImportError:  # the comparison needs the `bench` extra; tinygen alone still runs
    torch = None


@dataclass(frozen=True)
class ConvCase:
    """One benchmark case: conv2d (or conv_transpose2d) of a batch of square images."""

    name: str
    batch: int
    c_in: int
    c_out: int
    size: int
    kernel: int
    stride: int = 1
    padding: int = 0
    transposed: bool = False
    torch_ms: float | None = None  # the reference figure measured when the issue was filed

    def weight_shape(self) -> tuple:
        if self.transposed:
            return (self.c_in, self.c_out, self.kernel, self.kernel)
        return (self.c_out, self.c_in, self.kernel, self.kernel)

    def out_size(self) -> int:
        if self.transposed:
            return (self.size - 1) * self.stride - 2 * self.padding + self.kernel
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1

    def flops(self) -> float:
        """3 products (forward, input grad, weight grad) x 2 flops per multiply-add."""
        pixels = self.size if self.transposed else self.out_size()
        macs = self.batch * pixels * pixels * self.c_in * self.c_out * self.kernel ** 2
        return 3 * 2 * macs


CASES = [
    ConvCase("conv 1→64 k4 s2 p1, 28², b64", 64, 1, 64, 28, 4, 2, 1, torch_ms=3.34),
    ConvCase("conv 64→128 k4 s2 p1, 14², b64", 64, 64, 128, 14, 4, 2, 1, torch_ms=11.93),
    ConvCase("conv 1→64 k7 p3, 28², b32", 32, 1, 64, 28, 7, 1, 3, torch_ms=21.41),
    ConvCase("conv 64→64 k3 p1, 28², b32", 32, 64, 64, 28, 3, 1, 1, torch_ms=28.89),
    ConvCase("conv 64→256 k1, 28², b32", 32, 64, 256, 28, 1, torch_ms=37.92),
    ConvCase("conv_transpose 128→64 k4 s2 p1, 7→14, b64", 64, 128, 64, 7, 4, 2, 1,
             transposed=True, torch_ms=13.25),
]


def make_arrays(case: ConvCase, seed: int = 0) -> list:
    """float32 (x, W, b, gy) for ``case``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, case.c_in, case.size, case.size), dtype=np.float32)
    weight = rng.standard_normal(case.weight_shape(), dtype=np.float32) * 0.1
    bias = rng.standard_normal(case.c_out, dtype=np.float32)
    out = case.out_size()
    gy = rng.standard_normal((case.batch, case.c_out, out, out), dtype=np.float32)
    return [x, weight, bias, gy]


def tinygen_step(case: ConvCase, arrays: list):
    """A closure running one forward + backward of ``case`` in tinygen."""
    x, weight, bias = (tg.tensor(a, requires_grad=True) for a in arrays[:3])
    gy = tg.tensor(arrays[3])
    op = F.conv_transpose2d if case.transposed else F.conv2d

    def step():
        x.grad = weight.grad = bias.grad = None
        op(x, weight, bias, stride=case.stride, padding=case.padding).backward(gy)

    return step


def torch_step(case: ConvCase, arrays: list):
    """A closure running one forward + backward of ``case`` in PyTorch."""
    x, weight, bias = (torch.tensor(a, requires_grad=True) for a in arrays[:3])
    gy = torch.tensor(arrays[3])
    op = torch.nn.functional.conv_transpose2d if case.transposed else torch.nn.functional.conv2d

    def step():
        x.grad = weight.grad = bias.grad = None
        op(x, weight, bias, stride=case.stride, padding=case.padding).backward(gy)

    return step


def time_ms(step, number: int = 1, clock=time.perf_counter) -> float:
    """Milliseconds per call of ``step``, averaged over ``number`` back-to-back calls."""
    start = clock()
    for _ in range(number):
        step()
    return (clock() - start) * 1e3 / number


def sgemm_peak_gflops(size: int = 1024, repeats: int = 10, clock=time.perf_counter) -> float:
    """The best GFLOP/s of a float32 ``size`` x ``size`` NumPy matmul."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(time_ms(lambda: np.matmul(a, b, out=out), clock=clock) for _ in range(repeats))
    return 2 * size ** 3 / (best * 1e-3) / 1e9


def blas_description() -> str:
    """Which BLAS NumPy runs, its kernel (architecture) and thread count."""
    return ", ".join(f"{pool.get('internal_api')} {pool.get('version')} "
                     f"{pool.get('architecture')} x{pool.get('num_threads')}"
                     for pool in threadpool_info() if pool.get("user_api") == "blas")


def time_case(case: ConvCase, repeats: int = 15, clock=time.perf_counter) -> dict:
    """Median fwd+bwd ms of tinygen and (when installed) PyTorch, interleaved."""
    arrays = make_arrays(case)
    steps = {"tinygen": tinygen_step(case, arrays)}
    if torch is not None:
        steps["torch"] = torch_step(case, arrays)
    samples: dict = {name: [] for name in steps}
    for step in steps.values():  # warm up: first-call allocations, BLAS thread start
        step()
        step()
    for _ in range(repeats):
        for name, step in steps.items():
            samples[name].append(time_ms(step, clock=clock))
    return {name: statistics.median(values) for name, values in samples.items()}


def run(repeats: int = 15, cases: list | None = None, cpu_time: bool = False) -> list[dict]:
    """Time every case; return one row per case with ms, ratio, GFLOP/s and % of peak.

    With ``cpu_time``, both frameworks run on one thread and CPU time is measured.
    """
    if cpu_time:
        with threadpool_limits(1, user_api="blas"):
            threads = torch.get_num_threads() if torch is not None else None
            if torch is not None:
                torch.set_num_threads(1)
            try:
                return _run(repeats, cases, time.process_time)
            finally:
                if torch is not None:
                    torch.set_num_threads(threads)
    return _run(repeats, cases, time.perf_counter)


def _run(repeats, cases, clock) -> list[dict]:
    peak = sgemm_peak_gflops(clock=clock)
    blas = blas_description()
    rows = []
    for case in cases or CASES:
        timing = time_case(case, repeats, clock)
        gflops = case.flops() / (timing["tinygen"] * 1e-3) / 1e9
        torch_ms = timing.get("torch")
        rows.append({
            "case": case.name, "tinygen_ms": timing["tinygen"], "torch_ms": torch_ms,
            "ratio": None if torch_ms is None else timing["tinygen"] / torch_ms,
            "gflops": gflops, "peak_pct": 100 * gflops / peak, "peak_gflops": peak,
            "blas": blas,
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of ``run``'s rows."""
    lines = [f"BLAS: {rows[0]['blas']}; sgemm 1024² peak: {rows[0]['peak_gflops']:.1f} GFLOP/s",
             "",
             "| case | tinygen ms | PyTorch ms | ratio | GFLOP/s | % of peak |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        torch_ms = "—" if row["torch_ms"] is None else f"{row['torch_ms']:.2f}"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        lines.append(f"| {row['case']} | {row['tinygen_ms']:.2f} | {torch_ms} | {ratio} | "
                     f"{row['gflops']:.1f} | {row['peak_pct']:.0f}% |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread per framework, CPU time instead of wall time")
    args = parser.parse_args()
    print(format_table(run(args.repeats, cpu_time=args.cpu_time)))


if __name__ == "__main__":
    main()
