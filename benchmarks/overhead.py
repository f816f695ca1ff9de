"""Per-op overhead of tinygen beside PyTorch CPU and MyGrad, on tensors so small that the
arithmetic is free and only the framework's bookkeeping is timed.

Two measurements, both on (4, 4) float32 tensors that require grad, tinygen, PyTorch and
MyGrad (a NumPy autograd library written in Python, as tinygen is) interleaved in one process
so that all see the same machine state:

- a mixed chain of 65 ops (add, mul, matmul, tanh, relu, reshape, getitem, reshape; x8; sum),
  the headline figure, since a model's graph mixes ops like this;
- each op alone, applied 16 times in a chain, to show which ops cost more than others.

Forward+backward ends each chain with ``.sum().backward()``; that sum counts as one more op.
Each figure is µs per op, the min and median over several repeats. Results go to the
"Overhead" section of docs/BENCHMARKS.md.

tinygen runs twice in each repeat: as shipped, and with the read-only locks on saved arrays
turned off (docs/ARCHITECTURE.md, "Mutation safety"), so the table shows what the locks cost
per op, interleaved with the rest; a training step of a small MLP, with and without them,
puts that per-op figure beside real array work.

    python -m benchmarks.overhead            # tables + docs/BENCHMARKS.md
    python -m benchmarks.overhead --profile  # also the top cProfile entries of tinygen
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.autograd.function as tg_function
from benchmarks.report import machine, publish

try:
    import torch
except ImportError:  # the comparison needs the `bench` extra; tinygen alone still runs
    torch = None
try:
    import mygrad
    from mygrad.nnet.activations import relu as mygrad_relu
    from mygrad.nnet.activations import sigmoid as mygrad_sigmoid
except ImportError:  # as torch: the `bench` extra
    mygrad = None

TARGET_US = 5.0
BLOCKS = 8
SINGLE_OP_LENGTH = 16
MODES = ("forward", "forward+backward")
UNLOCKED = "tinygen, locks off"  # tinygen without the read-only locks on saved arrays
MYGRAD = "mygrad"


def mixed_block(h, w, b):
    """The eight ops of one block of the mixed chain; the same code runs on both frameworks."""
    h = h + b  # add (broadcasting a (4,) bias)
    h = h * w  # mul
    h = h @ w  # matmul
    h = h.tanh()
    h = h.relu()
    h = h.reshape(16)  # (4, 4) -> (16,)
    h = h[:16]  # getitem: a basic slice (torch has no negative steps), same shape
    return h.reshape(4, 4)  # (16,) -> (4, 4)


def _sum_rows(h):
    # (4, 4) -> (4, 1) once, then (4, 1) -> (4, 1): every call is one sum op, so it chains
    if torch is not None and isinstance(h, torch.Tensor):
        return h.sum(dim=1, keepdim=True)
    return h.sum(axis=1, keepdims=True)


def mygrad_mixed_block(h, w, b):
    """:func:`mixed_block` in MyGrad's spelling (its tensors have no tanh/relu methods)."""
    h = h + b
    h = h * w
    h = h @ w
    h = mygrad.tanh(h)
    h = mygrad_relu(h)
    h = h.reshape(16)  # (4, 4) -> (16,)
    h = h[:16]
    return h.reshape(4, 4)  # (16,) -> (4, 4)


# name -> (ops per call, the call); each call keeps the chain's tensor at a fixed shape
CASES: dict[str, tuple[int, Callable]] = {
    "mixed chain": (8, mixed_block),
    "add": (1, lambda h, w, b: h + b),
    "mul": (1, lambda h, w, b: h * w),
    "matmul": (1, lambda h, w, b: h @ w),
    "tanh": (1, lambda h, w, b: h.tanh()),
    "relu": (1, lambda h, w, b: h.relu()),
    "sigmoid": (1, lambda h, w, b: h.sigmoid()),
    "sum(axis)": (1, lambda h, w, b: _sum_rows(h)),
    "reshape": (2, lambda h, w, b: h.reshape(16).reshape(4, 4)),  # (4, 4) -> (16,) -> (4, 4)
    "permute": (1, lambda h, w, b: h.permute(1, 0)),
    "getitem": (1, lambda h, w, b: h[:4]),  # a basic slice that keeps the shape
}
# the same cases for MyGrad, where its spelling differs from tinygen's and PyTorch's
MYGRAD_CALLS: dict[str, Callable] = {
    "mixed chain": mygrad_mixed_block,
    "tanh": lambda h, w, b: mygrad.tanh(h),
    "relu": lambda h, w, b: mygrad_relu(h),
    "sigmoid": lambda h, w, b: mygrad_sigmoid(h),
    "permute": lambda h, w, b: h.transpose(1, 0),
}


def chain_length(case: str) -> int:
    return BLOCKS if case == "mixed chain" else SINGLE_OP_LENGTH


def ops_per_chain(case: str, mode: str) -> int:
    ops_per_call, _ = CASES[case]
    return chain_length(case) * ops_per_call + (mode == "forward+backward")


def make_inputs(framework: str):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) * 0.5 for shape in [(4, 4)] * 2]
    arrays.append(rng.standard_normal(4).astype(np.float32))
    if framework in ("tinygen", UNLOCKED):
        return [tg.tensor(a, requires_grad=True) for a in arrays]
    if framework == MYGRAD:
        return [mygrad.tensor(a.copy()) for a in arrays]
    return [torch.tensor(a.copy(), requires_grad=True) for a in arrays]


def _is_mygrad(inputs) -> bool:
    return mygrad is not None and isinstance(inputs[0], mygrad.Tensor)


def run_chain(case: str, inputs):
    _, call = CASES[case]
    if _is_mygrad(inputs):
        call = MYGRAD_CALLS.get(case, call)
    x, w, b = inputs
    h = x
    for _ in range(chain_length(case)):
        h = call(h, w, b)
    return h


def step_function(case: str, mode: str) -> Callable:
    if mode == "forward":
        return lambda inputs: run_chain(case, inputs)

    def forward_backward(inputs):
        if not _is_mygrad(inputs):  # MyGrad's backward replaces .grad (it has no setter)
            for t in inputs:
                t.grad = None
        run_chain(case, inputs).sum().backward()

    return forward_backward


@contextlib.contextmanager
def saved_array_locks(enabled: bool):
    """tinygen with its read-only locks on saved arrays on or off, inside the block."""
    before = tg_function._LOCK_SAVED_ARRAYS
    tg_function._LOCK_SAVED_ARRAYS = enabled
    try:
        yield
    finally:
        tg_function._LOCK_SAVED_ARRAYS = before


def time_per_op(case: str, mode: str, inputs, iterations: int,
                framework: str = "tinygen") -> float:
    """Microseconds per op of ``iterations`` chains of ``case``."""
    step = step_function(case, mode)
    with saved_array_locks(framework != UNLOCKED):
        start = time.perf_counter()
        for _ in range(iterations):
            step(inputs)
        elapsed = time.perf_counter() - start
    return elapsed / iterations / ops_per_chain(case, mode) * 1e6


def mlp_step() -> Callable[[], None]:
    """One Adam step of a 784-400-400-10 MLP on a batch of 128: the per-op bookkeeping beside
    arrays of a realistic size."""
    rng = np.random.default_rng(0)
    model = tg.nn.Sequential(tg.nn.Linear(784, 400), tg.nn.ReLU(), tg.nn.Linear(400, 400),
                             tg.nn.ReLU(), tg.nn.Linear(400, 10))
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)
    x = tg.tensor(rng.standard_normal((128, 784)).astype(np.float32))

    def step():
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()

    return step


def measure_steps(repeats: int, steps: int = 5) -> dict[bool, list[float]]:
    """CPU ms per MLP step with the locks on (True) and off (False), interleaved, on one BLAS
    thread. CPU time, not wall-clock: other work on the machine would swamp a difference this
    small (and BLAS threads spinning for a busy core would count as work)."""
    step = mlp_step()
    step()  # warm-up: the optimizer's state and scratch arrays
    samples: dict[bool, list[float]] = {True: [], False: []}
    with threadpool_limits(1):
        for _ in range(repeats):
            for locked in (True, False):
                with saved_array_locks(locked):
                    start = time.process_time()
                    for _ in range(steps):
                        step()
                    samples[locked].append((time.process_time() - start) / steps * 1e3)
    return samples


def check_same_results(inputs) -> None:
    """The frameworks must compute the same thing, or the timing compares nothing."""
    for case in CASES:
        ours = run_chain(case, inputs["tinygen"]).sum().item()
        for name in inputs.keys() - {"tinygen", UNLOCKED}:
            theirs = run_chain(case, inputs[name]).sum().item()
            if not np.isclose(ours, theirs, rtol=1e-4, atol=1e-6):
                raise AssertionError(f"{case}: tinygen gives {ours}, {name} gives {theirs}")


def measure(repeats: int, iterations: int) -> dict[tuple[str, str, str], list[float]]:
    """µs/op samples per (case, mode, framework), the frameworks interleaved in every repeat."""
    frameworks = ["tinygen", UNLOCKED] + (["torch"] if torch is not None else []) + (
        [MYGRAD] if mygrad is not None else [])
    inputs = {name: make_inputs(name) for name in frameworks}
    check_same_results(inputs)
    for case in CASES:  # warm-up: first calls pay for imports and caches
        for mode in MODES:
            for name in frameworks:
                time_per_op(case, mode, inputs[name], max(1, iterations // 10), name)
    samples: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(repeats):
        for case in CASES:
            for mode in MODES:
                for name in frameworks:
                    samples.setdefault((case, mode, name), []).append(
                        time_per_op(case, mode, inputs[name], iterations, name))
    return samples


def _cell(values: list[float] | None) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f}"


def _ratio(ours: list[float], theirs: list[float] | None) -> str:
    return f"{statistics.median(ours) / statistics.median(theirs):.2f}" if theirs else "-"


def render(samples, steps, repeats: int, iterations: int, load: float) -> str:
    torch_version = torch.__version__ if torch is not None else "not installed"
    mygrad_version = mygrad.__version__ if mygrad is not None else (
        "not installed (its columns are empty: pip install mygrad, or the bench extra)")
    mixed_ops = ops_per_chain("mixed chain", "forward+backward")
    lines = [
        "## Overhead",
        "",
        "`python -m benchmarks.overhead`: µs per op on (4, 4) float32 tensors that require "
        f"grad, min / median of {repeats} repeats of {iterations} chains, tinygen, PyTorch and "
        "MyGrad (a NumPy autograd library in Python, as tinygen is) interleaved in one process. "
        f"The mixed chain is {mixed_ops} ops (add, mul, matmul, "
        f"tanh, relu, reshape, getitem, reshape; x{BLOCKS}; sum); each other row chains one "
        f"op {SINGLE_OP_LENGTH} times. Forward+backward adds `.sum().backward()`, counted as "
        f"one op. Targets (issue 18): the mixed chain ≤ 1.5× PyTorch, and below MyGrad; ≤ "
        f"{TARGET_US:g} µs/op. *Locks off*: tinygen without the read-only "
        "locks on saved arrays (docs/ARCHITECTURE.md, \"Mutation safety\"), interleaved "
        "with the rest; *locks' cost* is the difference of the minimums (the figure other "
        "work on the machine disturbs least).",
        "",
        # other work on the machine inflates the medians first; the mins resist it longer
        f"- Machine: {machine()}; 1-minute load average {load:.1f} at the start; "
        f"{datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}, "
        f"mygrad {mygrad_version}",
        "",
        "| op | mode | tinygen µs/op | PyTorch CPU µs/op | MyGrad µs/op "
        "| tinygen / PyTorch (median) | tinygen / MyGrad (median) "
        "| tinygen, locks off µs/op | locks' cost µs/op |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        for mode in MODES:
            ours = samples[(case, mode, "tinygen")]
            theirs = samples.get((case, mode, "torch"))
            mygrads = samples.get((case, mode, MYGRAD))
            unlocked = samples[(case, mode, UNLOCKED)]
            cost = min(ours) - min(unlocked)
            label = f"**{case}**" if case == "mixed chain" else case
            lines.append(f"| {label} | {mode} | {_cell(ours)} | {_cell(theirs)} "
                         f"| {_cell(mygrads)} | {_ratio(ours, theirs)} "
                         f"| {_ratio(ours, mygrads)} | {_cell(unlocked)} | {cost:+.2f} |")
    lines += [
        "",
        "The locks in a training step (an MLP 784-400-400-10, batch 128, Adam; CPU ms per step "
        "on one BLAS thread, "
        f"min / median of {repeats} interleaved repeats): {_cell(steps[True])} with them, "
        f"{_cell(steps[False])} without.",
    ]
    return "\n".join(lines) + "\n"


def profile(iterations: int, top: int = 20) -> None:
    """cProfile of tinygen's mixed chain, forward+backward, sorted by time spent in each
    function itself."""
    inputs = make_inputs("tinygen")
    step = step_function("mixed chain", "forward+backward")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        step(inputs)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=200, help="chains per repeat")
    parser.add_argument("--profile", action="store_true", help="print tinygen's cProfile top")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    samples = measure(args.repeats, args.iterations)
    steps = measure_steps(args.repeats)
    section = render(samples, steps, args.repeats, args.iterations, load)
    publish(section, write=not args.no_write)
    if args.profile:
        profile(args.iterations * 5)


if __name__ == "__main__":
    main()
