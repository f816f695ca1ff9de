"""Pooling in tinygen beside PyTorch CPU: forward + backward, best-of-N ms, two thread counts.

The pools of a PyTorch-style CNN (issue 18, item 3): max_pool2d 2x2 and 3x3 stride 2 on
(64, 64, 24, 24), avg_pool2d 2x2 and adaptive_avg_pool2d to 1x1 and to 7x7 on
(64, 64, 28, 28), and the pooling rows of benchmarks.layer_grid; float32, the input
requiring a gradient. Each case runs in both frameworks interleaved in one process on the
same inputs, after checking that both give the same outputs and gradients
(benchmarks.kernels.measure_case); a row reports the best sample of each, since on a shared
machine the minimum is the least disturbed estimate. Every case is timed at the default
thread count (torch's, which threadpoolctl also gives NumPy's BLAS and tinygen's pooling
threads) and at one thread: the target is tinygen within 1.2x of PyTorch at the default, and
no slower there than at one thread.

    python -m benchmarks.pooling                  # both thread counts, 15 repeats
    python -m benchmarks.pooling --threads 1 --repeats 31

To compare with an older commit, copy this file into a checkout of it (a git worktree) and
run it there with PYTHONPATH set to that checkout, so that ``import tinygen`` takes its
pooling. The table is printed, not written to a doc.
"""

from __future__ import annotations

import argparse
import datetime
import platform
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from benchmarks.kernels import Case, measure_case, torch
from benchmarks.report import machine

DEFAULT_THREADS = torch.get_num_threads() if torch is not None else 1


@dataclass(frozen=True)
class Pool:
    """One pooling call: its label, the input shape and the keyword arguments of ``op``."""

    label: str
    op: str  # the function's name, the same in tinygen.nn.functional and torch's
    input_shape: tuple
    kwargs: dict


POOLS = [
    Pool("max_pool2d 2x2", "max_pool2d", (64, 64, 24, 24), {"kernel_size": 2}),
    Pool("max_pool2d 3x3 s2", "max_pool2d", (64, 64, 24, 24), {"kernel_size": 3, "stride": 2}),
    Pool("avg_pool2d 2x2", "avg_pool2d", (64, 64, 28, 28), {"kernel_size": 2}),
    Pool("adaptive_avg_pool2d ->1x1", "adaptive_avg_pool2d", (64, 64, 28, 28),
         {"output_size": 1}),
    Pool("adaptive_avg_pool2d ->7x7", "adaptive_avg_pool2d", (64, 64, 28, 28),
         {"output_size": 7}),
    # the pooling rows of benchmarks.layer_grid (docs/BENCHMARKS.md, "Layer grid")
    Pool("max_pool2d 3x3 s2 p1, 64x32²", "max_pool2d", (64, 64, 32, 32),
         {"kernel_size": 3, "stride": 2, "padding": 1}),
    Pool("avg_pool2d 2x2, 64x32²", "avg_pool2d", (64, 64, 32, 32), {"kernel_size": 2}),
    Pool("adaptive_avg_pool2d 512x4²->1²", "adaptive_avg_pool2d", (64, 512, 4, 4),
         {"output_size": 1}),
]


def pool_case(pool: Pool) -> Case:
    """Forward + backward of one pool against a fixed output gradient, in either framework."""
    ours = getattr(F, pool.op)

    def make_arrays():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(pool.input_shape, dtype=np.float32)
        with tg.no_grad():
            y = ours(tg.tensor(x), **pool.kwargs)
        return [x, rng.standard_normal(y.shape, dtype=np.float32)]

    def build(framework, arrays):
        x_values, gy_values = arrays
        if framework == "tinygen":
            x, gy, op = tg.tensor(x_values, requires_grad=True), tg.tensor(gy_values), ours
        else:
            x, gy = torch.tensor(x_values, requires_grad=True), torch.tensor(gy_values)
            op = getattr(torch.nn.functional, pool.op)

        def step():
            x.grad = None
            y = op(x, **pool.kwargs)
            y.backward(gy)
            return y

        return step, (x,)

    return Case(pool.label, make_arrays, build)


def measure(pools: list, threads: list, repeats: int) -> list:
    """Rows (label, threads, tinygen best ms, PyTorch best ms or None)."""
    rows = []
    for count in threads:
        if torch is not None:
            torch.set_num_threads(count)
        with threadpool_limits(count):
            for pool in pools:
                samples = measure_case(pool_case(pool), repeats)
                ours = min(samples["tinygen"])
                theirs = min(samples["torch"]) if "torch" in samples else None
                rows.append((pool.label, count, ours, theirs))
                ratio = f"{ours / theirs:.2f}x" if theirs else "-"
                print(f"{pool.label}, {count} thread(s): {ours:.2f} ms, ratio {ratio}",
                      flush=True)
    if torch is not None:
        torch.set_num_threads(DEFAULT_THREADS)
    return rows


def render(rows: list, repeats: int) -> str:
    torch_version = torch.__version__ if torch is not None else "not installed"
    lines = [
        "`python -m benchmarks.pooling`: forward + backward, float32, the input requiring a "
        f"gradient; best of {repeats} samples, tinygen and PyTorch CPU interleaved in one "
        "process after checking that both give the same outputs and gradients.",
        "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}",
        "",
        "| case | threads | tinygen ms | PyTorch ms | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, count, ours, theirs in rows:
        their_text, ratio = (f"{theirs:.2f}", f"{ours / theirs:.2f}×") if theirs else ("-", "-")
        lines.append(f"| {label} | {count} | {ours:.2f} | {their_text} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, nargs="*",
                        help=f"thread counts (default: {DEFAULT_THREADS} and 1)")
    parser.add_argument("--cases", type=int, nargs="*", help="case indices (default: all)")
    args = parser.parse_args()
    threads = args.threads or sorted({DEFAULT_THREADS, 1}, reverse=True)
    pools = [POOLS[i] for i in args.cases] if args.cases else POOLS
    print(render(measure(pools, threads, args.repeats), args.repeats))


if __name__ == "__main__":
    main()
