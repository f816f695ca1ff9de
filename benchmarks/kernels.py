"""The generative models' kernels in tinygen beside PyTorch CPU: forward + backward, median ms.

Every case runs in both frameworks interleaved in one process (tinygen, PyTorch, tinygen, ...)
so that both see the same machine state, on the same float32 inputs; every input that a model
would train (image, weight, bias, logits) requires a gradient in both. Before timing, the two
frameworks' outputs and gradients are compared, so the timing compares the same computation.

Convolutions also get GFLOP/s: the three GEMM-shaped products of a step (forward, input
gradient, weight gradient: 3 * 2 * multiply-adds), against the best 1024² float32 NumPy matmul
timed in the same run. Results go to the "Kernels" section of docs/BENCHMARKS.md.

    python -m benchmarks.kernels               # table + docs/BENCHMARKS.md
    python -m benchmarks.kernels --profile 4   # also tinygen's cProfile top for case 4

OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE once, when NumPy loads it; the tests may
pin them, but a benchmark wants the kernel that OpenBLAS picks for this CPU, so the script
re-executes itself without them (the kernel it then runs is reported).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import tinygen as tg
import tinygen.nn as tnn
import tinygen.nn.functional as F
from benchmarks.report import machine, publish

try:
    import torch
except ImportError:  # the comparison needs the `bench` extra; tinygen alone still runs
    torch = None

PINNED_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SAMPLE_SECONDS = 0.02  # a sample repeats a fast case until it lasts about this long


# --------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One benchmark case; ``build(framework, arrays)`` returns (step, tensors): ``step()``
    runs one forward + backward and returns the output; ``tensors`` are the inputs whose
    gradients the check compares."""

    name: str
    make_arrays: Callable
    build: Callable
    flops: float | None = None  # for convolutions: 3 GEMMs x 2 flops per multiply-add
    reference_ms: float | None = None  # PyTorch's median when the issue was filed


def _rng():
    return np.random.default_rng(0)


def _tensor(framework: str, array: np.ndarray, requires_grad: bool = True):
    if framework == "tinygen":
        return tg.tensor(array, requires_grad=requires_grad)
    return torch.tensor(array, requires_grad=requires_grad)


def _clear(tensors) -> None:
    for t in tensors:
        t.grad = None


def conv_case(name, batch, c_in, c_out, size, kernel, stride=1, padding=0,
              transposed=False, reference_ms=None) -> Case:
    """conv2d (or conv_transpose2d) with bias of a (batch, c_in, size, size) image."""
    if transposed:
        out = (size - 1) * stride - 2 * padding + kernel
        weight_shape = (c_in, c_out, kernel, kernel)
        pixels = size  # the GEMMs run over the input grid
    else:
        out = (size + 2 * padding - kernel) // stride + 1
        weight_shape = (c_out, c_in, kernel, kernel)
        pixels = out
    macs = batch * pixels * pixels * c_in * c_out * kernel * kernel

    def make_arrays():
        rng = _rng()
        return [rng.standard_normal((batch, c_in, size, size), dtype=np.float32),
                rng.standard_normal(weight_shape, dtype=np.float32) * 0.1,
                rng.standard_normal(c_out, dtype=np.float32),
                rng.standard_normal((batch, c_out, out, out), dtype=np.float32)]

    def build(framework, arrays):
        x, weight, bias = (_tensor(framework, a) for a in arrays[:3])
        gy = _tensor(framework, arrays[3], requires_grad=False)
        if framework == "tinygen":
            op = F.conv_transpose2d if transposed else F.conv2d
        else:
            functional = torch.nn.functional
            op = functional.conv_transpose2d if transposed else functional.conv2d

        def step():
            _clear((x, weight, bias))
            y = op(x, weight, bias, stride=stride, padding=padding)
            y.backward(gy)
            return y

        return step, (x, weight, bias)

    return Case(name, make_arrays, build, flops=3 * 2 * macs, reference_ms=reference_ms)


def batch_norm_case(shape, reference_ms=None) -> Case:
    """Training-mode batch norm with affine parameters and running statistics."""
    channels = shape[1]

    def make_arrays():
        rng = _rng()
        return [rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5,
                rng.uniform(0.5, 1.5, channels).astype(np.float32),
                rng.standard_normal(channels, dtype=np.float32),
                rng.standard_normal(shape, dtype=np.float32)]

    def build(framework, arrays):
        x, weight, bias = (_tensor(framework, a) for a in arrays[:3])
        gy = _tensor(framework, arrays[3], requires_grad=False)
        running_mean = np.zeros(channels, np.float32)
        running_var = np.ones(channels, np.float32)
        if framework == "tinygen":
            op = F.batch_norm
        else:
            running_mean, running_var = torch.tensor(running_mean), torch.tensor(running_var)
            op = torch.nn.functional.batch_norm

        def step():
            _clear((x, weight, bias))
            y = op(x, running_mean, running_var, weight, bias, training=True)
            y.backward(gy)
            return y

        return step, (x, weight, bias)

    return Case(f"batch_norm {'×'.join(map(str, shape))}", make_arrays, build,
                reference_ms=reference_ms)


def lstm_case(steps, batch, input_size, hidden, reference_ms=None) -> Case:
    """A one-layer LSTM module over a (steps, batch, input) sequence, backward from every h."""

    def make_arrays():
        rng = _rng()
        bound = 1 / np.sqrt(hidden)
        weights = [rng.uniform(-bound, bound, shape).astype(np.float32) for shape in (
            (4 * hidden, input_size), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,))]
        return [rng.standard_normal((steps, batch, input_size), dtype=np.float32), *weights,
                rng.standard_normal((steps, batch, hidden), dtype=np.float32)]

    def build(framework, arrays):
        x = _tensor(framework, arrays[0])
        gy = _tensor(framework, arrays[5], requires_grad=False)
        module = (tnn.LSTM if framework == "tinygen" else torch.nn.LSTM)(input_size, hidden)
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        for param_name, array in zip(names, arrays[1:5]):
            getattr(module, param_name).data[...] = (
                array if framework == "tinygen" else torch.from_numpy(array))
        params = [getattr(module, param_name) for param_name in names]

        def step():
            _clear((x, *params))
            output, _ = module(x)
            output.backward(gy)
            return output

        return step, (x, *params)

    return Case(f"LSTM {input_size}→{hidden} over {steps} steps, b{batch}", make_arrays, build,
                reference_ms=reference_ms)


def bce_case(shape, reference_ms=None) -> Case:
    """Mean BCE-with-logits against a binary target (a Bernoulli decoder's loss)."""

    def make_arrays():
        rng = _rng()
        return [rng.standard_normal(shape, dtype=np.float32) * 3,
                (rng.random(shape) < 0.3).astype(np.float32)]

    def build(framework, arrays):
        logits = _tensor(framework, arrays[0])
        target = _tensor(framework, arrays[1], requires_grad=False)
        if framework == "tinygen":
            op = F.binary_cross_entropy_with_logits
        else:
            op = torch.nn.functional.binary_cross_entropy_with_logits

        def step():
            logits.grad = None
            loss = op(logits, target)
            loss.backward()
            return loss

        return step, (logits,)

    return Case(f"BCE-with-logits {'×'.join(map(str, shape))}", make_arrays, build,
                reference_ms=reference_ms)


CASES = [
    conv_case("conv 1→64 k4 s2 p1, 28², b64", 64, 1, 64, 28, 4, 2, 1, reference_ms=3.34),
    conv_case("conv 64→128 k4 s2 p1, 14², b64", 64, 64, 128, 14, 4, 2, 1, reference_ms=11.93),
    conv_case("conv 1→64 k7 p3, 28², b32", 32, 1, 64, 28, 7, 1, 3, reference_ms=21.41),
    conv_case("conv 64→64 k3 p1, 28², b32", 32, 64, 64, 28, 3, 1, 1, reference_ms=28.89),
    conv_case("conv 64→256 k1, 28², b32", 32, 64, 256, 28, 1, reference_ms=37.92),
    conv_case("conv_transpose 128→64 k4 s2 p1, 7→14, b64", 64, 128, 64, 7, 4, 2, 1,
              transposed=True, reference_ms=13.25),
    batch_norm_case((64, 64, 14, 14), reference_ms=1.35),
    lstm_case(28, 32, 64, 64, reference_ms=1.72),
    bce_case((64, 784)),
]


# --------------------------------------------------------------------------- measuring
def _numpy(value) -> np.ndarray:
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value.data)


def check_same_results(case: Case, builds: dict) -> None:
    """Outputs and input gradients must agree, or the timing compares different work."""
    (ours, our_inputs), (theirs, their_inputs) = builds["tinygen"], builds["torch"]
    pairs = [(ours(), theirs())]
    pairs += [(a.grad, b.grad) for a, b in zip(our_inputs, their_inputs)]
    for index, (a, b) in enumerate(pairs):
        a, b = _numpy(a), _numpy(b)
        if a.dtype != np.float32:
            raise AssertionError(f"{case.name}: tinygen result {index} is {a.dtype}")
        scale = max(float(np.abs(b).max()), 1.0)
        if not np.allclose(a, b, rtol=1e-3, atol=1e-4 * scale):
            raise AssertionError(f"{case.name}: result {index} differs from PyTorch by "
                                 f"{float(np.abs(a - b).max()):.3g}")


def time_ms(step: Callable, number: int) -> float:
    """Milliseconds per call of ``step``, over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        step()
    return (time.perf_counter() - start) * 1e3 / number


def measure_case(case: Case, repeats: int) -> dict[str, list[float]]:
    """ms samples per framework, the frameworks interleaved in every repeat."""
    arrays = case.make_arrays()
    frameworks = ["tinygen"] + (["torch"] if torch is not None else [])
    builds = {name: case.build(name, arrays) for name in frameworks}
    if torch is not None:
        check_same_results(case, builds)
    numbers = {}
    for name, (step, _) in builds.items():  # warm-up, and calls per sample
        step()
        numbers[name] = max(1, round(SAMPLE_SECONDS / (time_ms(step, 1) * 1e-3)))
    samples: dict[str, list[float]] = {name: [] for name in builds}
    for _ in range(repeats):
        for name, (step, _) in builds.items():
            samples[name].append(time_ms(step, numbers[name]))
    return samples


def sgemm_peak_gflops(size: int = 1024, repeats: int = 20) -> float:
    """The best GFLOP/s of a float32 ``size``² NumPy matmul into a preallocated output."""
    rng = _rng()
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(time_ms(lambda: np.matmul(a, b, out=out), 1) for _ in range(repeats))
    return 2 * size ** 3 / (best * 1e-3) / 1e9


# --------------------------------------------------------------------------- reporting
def blas() -> str:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel, threads."""
    found = [f"{info.get('internal_api')} {info.get('version')}, "
             f"{info.get('architecture', '?')} kernel, {info.get('num_threads')} threads"
             for info in threadpool_info() if info.get("user_api") == "blas"]
    return "; ".join(found) or "unknown"


def render(case_samples: dict, peak: float, repeats: int, threads: int) -> str:
    torch_version = torch.__version__ if torch is not None else "not installed"
    lines = [
        "## Kernels",
        "",
        "`python -m benchmarks.kernels`: forward + backward of each case, float32, every "
        f"trainable input requiring a gradient; median ms of {repeats} samples, tinygen and "
        f"PyTorch CPU interleaved in one process, {threads} BLAS/torch thread(s) each, after "
        "checking that both "
        "give the same outputs and gradients. Conv GFLOP/s count the 3 GEMM-shaped products "
        "of a step (forward, input gradient, weight gradient); peak is the best 1024² float32 "
        "NumPy matmul of the same run. Targets: ≤ 1.0× PyTorch, ≥ 60% of peak on the "
        "64-channel convolutions.",
        "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}",
        f"- NumPy BLAS: {blas()}; sgemm 1024² peak {peak:.0f} GFLOP/s",
        "",
        "| case | tinygen ms | PyTorch ms | tinygen / PyTorch | GFLOP/s | % of peak |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        if case.name not in case_samples:
            continue
        ours = statistics.median(case_samples[case.name]["tinygen"])
        theirs = case_samples[case.name].get("torch")
        theirs = statistics.median(theirs) if theirs else None
        ratio = f"{ours / theirs:.2f}×" if theirs else "-"
        gflops = percent = "-"
        if case.flops:
            rate = case.flops / (ours * 1e-3) / 1e9
            gflops, percent = f"{rate:.0f}", f"{100 * rate / peak:.0f}%"
        theirs_text = f"{theirs:.2f}" if theirs else "-"
        lines.append(f"| {case.name} | {ours:.2f} | {theirs_text} | {ratio} | {gflops} | "
                     f"{percent} |")
    return "\n".join(lines) + "\n"




def profile(case: Case, calls: int = 20, top: int = 25) -> None:
    """cProfile of tinygen's forward + backward of ``case``, by time spent in each function."""
    step, _ = case.build("tinygen", case.make_arrays())
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        step()
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def _unpinned_blas() -> None:
    """Re-execute without the variables that pin OpenBLAS's kernel (it reads them on load)."""
    if any(name in os.environ for name in PINNED_BLAS_VARIABLES):
        env = {k: v for k, v in os.environ.items() if k not in PINNED_BLAS_VARIABLES}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cases", type=int, nargs="*", help="case indices (default: all)")
    parser.add_argument("--profile", type=int, metavar="CASE", help="cProfile one case")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    parser.add_argument("--threads", type=int, default=2,
                        help="BLAS threads of NumPy and torch threads, the same for both")
    args = parser.parse_args()
    _unpinned_blas()
    if torch is not None:
        torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        _run(args)


def _run(args) -> None:
    """Profile one case, or measure the selected cases and write the section."""
    if args.profile is not None:
        profile(CASES[args.profile])
        return
    selected = [CASES[i] for i in args.cases] if args.cases else CASES
    peak = sgemm_peak_gflops()
    case_samples = {}
    for case in selected:
        case_samples[case.name] = measure_case(case, args.repeats)
    section = render(case_samples, peak, args.repeats, args.threads)
    publish(section, write=not args.no_write and selected == CASES)


if __name__ == "__main__":
    main()
