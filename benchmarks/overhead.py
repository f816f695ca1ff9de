"""Per-op overhead of tinygen beside PyTorch CPU, on tensors so small that the arithmetic is
free and only the framework's bookkeeping is timed.

The same chain of ops (add, mul, matmul, tanh, relu, reshape, getitem, reshape; sum) on (4, 4)
tensors runs in both frameworks, interleaved in one process so that both see the same machine
state; each figure is the median over several repeats. Results go to the "Overhead" section of
docs/BENCHMARKS.md.

    python benchmarks/overhead.py            # table + docs/BENCHMARKS.md
    python benchmarks/overhead.py --profile  # also the top cProfile entries of tinygen
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tinygen as tg

try:
    import torch
except ImportError:  # the comparison needs the `bench` extra; tinygen alone still runs
    torch = None

BLOCKS = 8
OPS_PER_BLOCK = 8
OPS = BLOCKS * OPS_PER_BLOCK + 1  # + the final sum
TARGET_US = 5.0
DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def chain(x, w, b):
    """The timed op chain; the same code runs on tinygen and torch tensors."""
    h = x
    for _ in range(BLOCKS):
        h = h + b  # add (broadcasting a (4,) bias)
        h = h * w  # mul
        h = h @ w  # matmul
        h = h.tanh()
        h = h.relu()
        h = h.reshape(16)  # (4, 4) -> (16,)
        h = h[:16]  # getitem: a basic slice (torch has no negative steps), same shape
        h = h.reshape(4, 4)  # (16,) -> (4, 4)
    return h.sum()


def make_inputs(module):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) * 0.5 for shape in [(4, 4)] * 2]
    arrays.append(rng.standard_normal(4).astype(np.float32))
    if module == "tinygen":
        return [tg.tensor(a, requires_grad=True) for a in arrays]
    return [torch.tensor(a.copy(), requires_grad=True) for a in arrays]


def forward(inputs):
    chain(*inputs)


def forward_backward(inputs):
    for t in inputs:
        t.grad = None
    chain(*inputs).backward()


def time_per_op(step, inputs, iterations: int) -> float:
    """Microseconds per op of ``step`` averaged over ``iterations`` calls."""
    start = time.perf_counter()
    for _ in range(iterations):
        step(inputs)
    return (time.perf_counter() - start) / iterations / OPS * 1e6


def measure(repeats: int, iterations: int) -> dict[tuple[str, str], float]:
    """Median µs/op of each (framework, mode), the frameworks interleaved in every repeat."""
    frameworks = ["tinygen"] + (["torch"] if torch is not None else [])
    inputs = {name: make_inputs(name) for name in frameworks}
    if torch is not None:
        # the tinygen and torch chains must compute the same thing, or the timing is moot
        ours = chain(*inputs["tinygen"]).item()
        theirs = chain(*inputs["torch"]).item()
        assert np.isclose(ours, theirs, rtol=1e-4), (ours, theirs)
    modes = {"forward": forward, "forward+backward": forward_backward}
    samples: dict[tuple[str, str], list[float]] = {}
    for name in frameworks:  # warm-up: first calls pay for imports and caches
        for step in modes.values():
            time_per_op(step, inputs[name], max(1, iterations // 10))
    for _ in range(repeats):
        for mode, step in modes.items():
            for name in frameworks:
                samples.setdefault((name, mode), []).append(
                    time_per_op(step, inputs[name], iterations))
    return {key: statistics.median(values) for key, values in samples.items()}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"^Model name:\s*(.+)$", lscpu, re.MULTILINE)
        model = found.group(1).strip() if found else model
    except (OSError, subprocess.CalledProcessError):
        pass  # lscpu is Linux-only; the platform string is the best we have elsewhere
    return f"{model}, {os.cpu_count()} cores"


def render(results, repeats: int, iterations: int) -> str:
    torch_version = torch.__version__ if torch is not None else "not installed"
    lines = [
        "## Overhead",
        "",
        f"`python benchmarks/overhead.py`: µs per op on (4, 4) float32 tensors, a chain of "
        f"{OPS} ops (add, mul, matmul, tanh, relu, reshape, getitem, reshape; x{BLOCKS}; sum), "
        f"median of {repeats} repeats of {iterations} chains, tinygen and PyTorch interleaved "
        f"in one process. Target: ≤ {TARGET_US:g} µs/op.",
        "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}",
        "",
        "| mode | tinygen µs/op | PyTorch CPU µs/op | tinygen / PyTorch |",
        "|---|---:|---:|---:|",
    ]
    for mode in ("forward", "forward+backward"):
        ours = results[("tinygen", mode)]
        theirs = results.get(("torch", mode))
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        theirs_text = f"{theirs:.2f}" if theirs else "-"
        lines.append(f"| {mode} | {ours:.2f} | {theirs_text} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_section(section: str, path: Path = DOC) -> None:
    """Replace the "## Overhead" section of the document (or add it), keeping the others."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Overhead\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")


def profile(iterations: int, top: int = 15) -> None:
    inputs = make_inputs("tinygen")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        forward_backward(inputs)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=200, help="chains per repeat")
    parser.add_argument("--profile", action="store_true", help="print tinygen's cProfile top")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()

    results = measure(args.repeats, args.iterations)
    section = render(results, args.repeats, args.iterations)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"updated {DOC}")
    if args.profile:
        profile(args.iterations * 5)


if __name__ == "__main__":
    main()
