"""One optimizer step over a 1.2M-parameter model: tinygen beside torch.optim, interleaved.

The model is the parameter shapes of a small MNIST CNN (conv 1->32 3x3, conv 32->64 3x3,
linear 9216->128, linear 128->10: 1,199,882 float32 parameters in 8 tensors). Every case
builds the same optimizer in both frameworks over copies of the same weights and gradients,
checks that a few steps leave both on the same weights, then times step() alone, tinygen and
PyTorch alternating sample by sample in one process; a sample is the mean of a few steps, and
the table gives the best of N samples (the machine is shared: the minimum is the run least
disturbed by others) at PyTorch's default thread count and at one thread (NumPy's BLAS
limited alike, though no optimizer calls it).

``--flat`` adds the measurement behind the optimizers' design (tinygen/optim/optimizer.py):
what one contiguous buffer per group would save, timed as Adam's step over the 8 tensors
beside the same step over one tensor of the same total size, and the same for a model of
160 small tensors.

    python benchmarks/optimizers.py                 # the table, both thread counts
    python benchmarks/optimizers.py --threads 1 --flat --repeats 30
    python benchmarks/optimizers.py --threads 1 --clock cpu   # one thread on a busy machine
    PYTHONPATH=/work/base python benchmarks/optimizers.py   # another tinygen, for before/after

Run it as a file (not ``-m``), so that PYTHONPATH picks which tinygen is timed; the header
names the one imported.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import tinygen
import tinygen.nn as tnn
import tinygen.optim as toptim

SHAPES = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 9216), (128,), (10, 128), (10,)]
SMALL_SHAPES = [(75, 100)] * 160  # 1.2M parameters in 160 tensors (a deep narrow model)

CASES = [
    ("SGD momentum 0.9", "SGD", {"lr": 0.01, "momentum": 0.9}),
    ("SGD nesterov", "SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("Adam", "Adam", {"lr": 1e-3}),
    ("AdamW", "AdamW", {"lr": 1e-3}),
    ("Adadelta", "Adadelta", {}),
    ("RMSprop", "RMSprop", {"lr": 1e-3}),
    ("Adagrad", "Adagrad", {}),
    ("Adamax", "Adamax", {}),
    ("NAdam", "NAdam", {}),
]


def _arrays(shapes, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


def build(framework: str, name: str, kwargs: dict, shapes):
    """The optimizer over fresh parameters whose gradients are set (the same every step:
    the step's cost does not depend on the values)."""
    weights, grads = _arrays(shapes, 0), _arrays(shapes, 1)
    if framework == "tinygen":
        params = [tnn.Parameter(w) for w in weights]
        for param, grad in zip(params, grads, strict=True):
            param.grad = tinygen.tensor(grad)
        return getattr(toptim, name)(params, **kwargs), params
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    for param, grad in zip(params, grads, strict=True):
        param.grad = torch.tensor(grad)
    return getattr(torch.optim, name)(params, **kwargs), params


def check_same_steps(name: str, kwargs: dict, steps: int = 3) -> None:
    """A few steps of both frameworks land on the same float32 weights."""
    (ours, ours_params), (theirs, theirs_params) = (
        build(framework, name, kwargs, SHAPES) for framework in ("tinygen", "torch"))
    for _ in range(steps):
        ours.step()
        theirs.step()
    for mine, their in zip(ours_params, theirs_params, strict=True):
        np.testing.assert_allclose(mine.numpy(), their.detach().numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=name)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def sample_ms(optimizer, number: int) -> float:
    start = clock()
    for _ in range(number):
        optimizer.step()
    return (clock() - start) / number * 1e3


def measure(pairs: dict, repeats: int, number: int) -> dict[str, float]:
    """Best-of-``repeats`` ms per step for each optimizer, sampled round-robin."""
    for optimizer in pairs.values():
        optimizer.step()  # the first step makes the state
    samples = {key: [] for key in pairs}
    for _ in range(repeats):
        for key, optimizer in pairs.items():
            samples[key].append(sample_ms(optimizer, number))
    return {key: min(values) for key, values in samples.items()}


class OnePiece:
    """An optimizer stepped with the split across threads switched off (every parameter
    updated in one piece), to time what the split gains."""

    def __init__(self, optimizer):
        self.optimizer = optimizer

    def step(self):
        from tinygen.optim import optimizer as base

        limit, base.PARALLEL_BLOCK_SIZE = base.PARALLEL_BLOCK_SIZE, math.inf
        try:
            self.optimizer.step()
        finally:
            base.PARALLEL_BLOCK_SIZE = limit


def run_cases(threads: int, repeats: int, number: int, cases=CASES) -> list[tuple]:
    rows = []
    torch.set_num_threads(threads)
    with threadpool_limits(threads):
        for label, name, kwargs in cases:
            check_same_steps(name, kwargs)
            pairs = {framework: build(framework, name, kwargs, SHAPES)[0]
                     for framework in ("tinygen", "torch")}
            split = threads > 1 and hasattr(toptim.optimizer, "PARALLEL_BLOCK_SIZE")
            if split:
                pairs["one piece"] = OnePiece(build("tinygen", name, kwargs, SHAPES)[0])
            best = measure(pairs, repeats, number)
            rows.append((label, threads, best["tinygen"], best["torch"],
                         best.get("one piece")))
            print(f"{label:18s} {threads} thread(s): tinygen {best['tinygen']:.3f} ms, "
                  f"torch {best['torch']:.3f} ms, ratio "
                  f"{best['tinygen'] / best['torch']:.2f}"
                  + (f"; in one piece {best['one piece']:.3f} ms" if split else ""),
                  flush=True)
    return rows


def flat_probe(repeats: int, number: int) -> list[tuple]:
    """Adam's step over a model's tensors beside one tensor of the same total size (the
    most a flat buffer per group could save, before the cost of keeping it in sync), and
    torch.optim.Adam over the same tensors, at one thread."""
    rows = []
    torch.set_num_threads(1)
    with threadpool_limits(1):
        for label, shapes in (("CNN, 8 tensors", SHAPES),
                              ("160 tensors of 75x100", SMALL_SHAPES)):
            total = sum(int(np.prod(shape)) for shape in shapes)
            pairs = {"per tensor": build("tinygen", "Adam", {}, shapes)[0],
                     "one flat": build("tinygen", "Adam", {}, [(total,)])[0],
                     "torch": build("torch", "Adam", {}, shapes)[0]}
            best = measure(pairs, repeats, number)
            rows.append((label, best["per tensor"], best["one flat"], best["torch"]))
            print(f"flat probe, {label}: per tensor {best['per tensor']:.3f} ms, one flat "
                  f"buffer {best['one flat']:.3f} ms, torch {best['torch']:.3f} ms",
                  flush=True)
    return rows


def render(rows: list, flat_rows: list, repeats: int, number: int) -> str:
    total = sum(int(np.prod(shape)) for shape in SHAPES)
    lines = [
        "## Optimizers",
        "",
        f"`python benchmarks/optimizers.py`: one step() over {total:,} float32 parameters "
        f"in {len(SHAPES)} tensors (a small CNN's shapes), best of {repeats} samples of "
        f"{number} steps ({'CPU' if clock is time.process_time else 'wall'} time), tinygen "
        "and torch.optim interleaved in one process after checking that both take the same "
        "steps.",
        "",
        f"- tinygen: {tinygen.__file__}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch "
        f"{torch.__version__}, {platform.machine()}",
        "",
        "| optimizer | threads | tinygen ms | torch.optim ms | ratio | tinygen in one piece "
        "ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, threads, ours, theirs, one_piece in rows:
        whole = "-" if one_piece is None else f"{one_piece:.3f}"
        lines.append(f"| {label} | {threads} | {ours:.3f} | {theirs:.3f} | "
                     f"{ours / theirs:.2f}x | {whole} |")
    if flat_rows:
        lines += ["", "| Adam over, 1 thread | tinygen per tensor ms | one flat tensor ms | "
                  "saved | torch.optim per tensor ms |", "|---|---:|---:|---:|---:|"]
        for label, per_tensor, flat, theirs in flat_rows:
            lines.append(f"| {label} | {per_tensor:.3f} | {flat:.3f} | "
                         f"{(per_tensor - flat) / per_tensor:.0%} | {theirs:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="*",
                        default=[torch.get_num_threads(), 1],
                        help="torch (and NumPy BLAS) thread counts; default: torch's, then 1")
    parser.add_argument("--repeats", type=int, default=20, help="samples per optimizer")
    parser.add_argument("--number", type=int, default=5, help="steps per sample")
    parser.add_argument("--flat", action="store_true", help="also the flat-buffer probe")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time, or the process's CPU time (steady on a busy "
                             "machine, but it adds up the threads: one thread only)")
    parser.add_argument("--only", nargs="*", help="optimizer names to run (default: all)")
    args = parser.parse_args()
    cases = [case for case in CASES if not args.only or case[1] in args.only]
    global clock
    clock = CLOCKS[args.clock]
    rows = [row for threads in dict.fromkeys(args.threads)
            for row in run_cases(threads, args.repeats, args.number, cases)]
    flat_rows = flat_probe(args.repeats, args.number) if args.flat else []
    print()
    print(render(rows, flat_rows, args.repeats, args.number))


if __name__ == "__main__":
    main()
