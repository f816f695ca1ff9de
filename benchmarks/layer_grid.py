"""The layer grid: forward + backward of common layers, tinygen beside PyTorch CPU, at the
default thread count and at one thread.

The rows (benchmarks/layer_rows.py) are the layers people write at MNIST/CIFAR scale: convs
of the MNIST and CIFAR examples and of the 64x64 DCGAN, pooling, normalization, dropout,
linear, embedding, LSTM/GRU, the classification losses and three optimizer steps; batch 64,
float32. For each row the two frameworks get the same module arguments, parameters and inputs,
and their outputs and gradients are compared before anything is timed. Then, at one thread
setting and then the next, every repeat times tinygen and PyTorch in turn (interleaved, one
process), a sample repeating the step back to back for about 0.2 s. Before each sample the
script sleeps 0.15 s (``settle``): the worker threads that the other framework's last call
left spinning (OpenBLAS's for about 2^28 cycles, OpenMP's for its spin count) would
otherwise take a core from this sample, and a user runs one framework, not two taking turns.
Measured on the 2-core machine (at load 6): PyTorch's layer_norm of 64x1024 at its default
threads took a median 7.5 ms a call right after a tinygen linear layer, 1.4 ms after a 0.2 s
pause. After the pause one untimed call warms the sampled framework up, as a training loop's
back-to-back steps are (``settle``'s docstring gives the cold-start figures).

"default" threads leaves NumPy's BLAS and torch as they start (what a user gets); "1" is
``threadpool_limits(1)`` with ``torch.set_num_threads(1)``. Conv rows also give GFLOP/s (2
flops per multiply-add of each GEMM-shaped product of the step) as a % of the best 2048²
float32 NumPy matmul timed at the same thread setting. Results go to the "Layer grid" section
of docs/BENCHMARKS.md.

    python -m benchmarks.layer_grid                         # the grid + docs/BENCHMARKS.md
    python -m benchmarks.layer_grid --repeats 1 --only DCGAN --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import statistics
import time
from collections.abc import Iterator

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks.kernels import (
    _numpy,
    _unpinned_blas,
    blas,
    check_same_results,
    sgemm_peak_gflops,
    time_ms,
    torch,
)
from benchmarks.layer_rows import ROWS, Row
from benchmarks.report import machine, publish

HEADING = "## Layer grid"
PEAK_SIZE = 2048
FRAMEWORKS = ("tinygen", "torch")
SETTLE_SECONDS = 0.15  # > OpenBLAS's 2^28-cycle spin at 2 GHz; OpenMP spins for less
# a sample repeats its step back to back for about this long: a few calls after an idle
# pause still run cold on the VM (the conv1d row, after the pause and one warm-up call:
# 14-15 ms a call over 3 calls, 10.2 over 20 back to back), where a training loop has none
SAMPLE_SECONDS = 0.2


# --------------------------------------------------------------------------- threads
def parse_setting(text: str) -> int | None:
    """``"default"`` -> None (threads left alone), otherwise a positive thread count."""
    if text == "default":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--threads: expected 'default' or a positive "
                                         f"integer, got {text!r}")
    return int(text)


def add_sampling_arguments(parser: argparse.ArgumentParser, repeats: int) -> None:
    """The options every interleaved benchmark takes: --threads, --repeats, --only and
    --no-write."""
    parser.add_argument("--threads", type=parse_setting, nargs="+", default=[None, 1],
                        metavar="N|default", help="thread settings (default: default 1)")
    parser.add_argument("--repeats", type=int, default=repeats, help="samples per framework")
    parser.add_argument("--only", default="", help="run only the rows whose name has this")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")


def label(setting: int | None) -> str:
    """A thread setting as the table's headers name it."""
    if setting is None:
        return "default threads"
    return f"{setting} thread" + ("s" if setting > 1 else "")


_TORCH_DEFAULT_THREADS = torch.get_num_threads() if torch is not None else None


@contextlib.contextmanager
def thread_setting(setting: int | None) -> Iterator[None]:
    """Run the block with NumPy's BLAS (and every OpenMP pool) and torch at ``setting``
    threads, or as they started when ``setting`` is None."""
    if setting is None:
        yield
        return
    with threadpool_limits(setting):
        if torch is not None:
            torch.set_num_threads(setting)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(_TORCH_DEFAULT_THREADS)


def default_threads() -> str:
    """The thread counts a user gets: each threadpoolctl pool's and torch's."""
    pools = [f"{info['internal_api']} {info['num_threads']}" for info in threadpool_info()]
    if torch is not None:
        pools.append(f"torch {_TORCH_DEFAULT_THREADS}")
    return ", ".join(pools)


# --------------------------------------------------------------------------- measuring
def settle(step=None) -> None:
    """Let the worker threads of both libraries stop spinning before the next sample, then
    warm the sampled framework up with one untimed call of ``step``.

    A training loop runs its steps back to back, but a sample taken right after 0.15 s idle
    runs cold: on the quiet 2-core VM the conv1d row's first two calls after the pause took
    19-23 ms against 11-14 for the calls after them, and two blocks of a 16 MiB copy and
    multiply on two threads 1.8-2.4 ms against 0.56 back to back (caches and idle cores of
    the VM waking up). The warm-up call puts every sample in the state a training loop is in.
    """
    time.sleep(SETTLE_SECONDS)
    if step is not None:
        step()


def check_dropout(row: Row, builds: dict, gy: np.ndarray) -> None:
    """Each framework draws its own mask, so check each against the rule instead: every
    output is 0 or x / (1 - p), and the input gradient is gy / (1 - p) where kept, else 0."""
    keep = 1 - row.dropout
    for name, (step, (x,)) in builds.items():
        y, x_values = _numpy(step()), _numpy(x)
        kept = y != 0
        scaled = np.allclose(y[kept], x_values[kept] / keep, rtol=1e-5)
        fraction = float(kept.mean())
        if not scaled or abs(fraction - keep) > 0.02:
            raise AssertionError(f"{row.case.name}: {name} kept {fraction:.3f} (expected "
                                 f"{keep}), outputs scaled by 1/(1-p): {scaled}")
        if not np.allclose(_numpy(x.grad), np.where(kept, gy / keep, 0), rtol=1e-5):
            raise AssertionError(f"{row.case.name}: {name}'s input gradient is not "
                                 "gy / (1 - p) on the kept elements and 0 elsewhere")


def measure_row(row: Row, settings: list, repeats: int) -> dict:
    """ms samples keyed by (setting, framework): one thread setting after the other (a
    change of torch's thread count rebuilds its OpenMP team on the next call), the frameworks
    interleaved in every repeat."""
    arrays = row.case.make_arrays()
    frameworks = FRAMEWORKS if torch is not None else FRAMEWORKS[:1]
    builds = {name: row.case.build(name, arrays) for name in frameworks}
    if row.dropout is not None:
        check_dropout(row, builds, arrays[1])
    elif torch is not None:
        check_same_results(row.case, builds)
    samples: dict = {}
    for setting in settings:
        with thread_setting(setting):
            numbers = {}
            for name, (step, _) in builds.items():  # warm-up, and calls per sample
                settle(step)
                numbers[name] = max(1, round(SAMPLE_SECONDS / (time_ms(step, 1) * 1e-3)))
            for _ in range(repeats):
                for name, (step, _) in builds.items():
                    settle(step)
                    samples.setdefault((setting, name), []).append(
                        time_ms(step, numbers[name]))
    return samples


def measure_peaks(settings: list) -> dict:
    """The sgemm peak in GFLOP/s at each thread setting."""
    peaks = {}
    for setting in settings:
        with thread_setting(setting):
            peaks[setting] = sgemm_peak_gflops(PEAK_SIZE, repeats=5)
    return peaks


# --------------------------------------------------------------------------- reporting
def _cells(row: Row, ms: dict, setting, peak: float) -> tuple[list[str], float | None]:
    """The table cells of one thread setting, and tinygen's ratio to PyTorch."""
    ours, theirs = ms.get((setting, "tinygen")), ms.get((setting, "torch"))
    ratio = ours / theirs if theirs else None
    cells = [f"{ours:.2f}", f"{theirs:.2f}" if theirs else "-",
             f"{ratio:.2f}×" if ratio else "-"]
    if row.flops:
        percents = [f"{100 * row.flops / (t * 1e-3) / 1e9 / peak:.0f}%"
                    for t in (ours, theirs) if t]
        cells.append(" / ".join(percents))
    else:
        cells.append("-")
    return cells, ratio


def _slower_with_more_threads(ms: dict, settings: list) -> str:
    """Which frameworks ran slower at the default thread count than at one thread."""
    if None not in settings or 1 not in settings:
        return "-"
    slower = []
    for name, short in (("tinygen", "tinygen"), ("torch", "PyTorch")):
        if (None, name) in ms and ms[None, name] > ms[1, name]:
            slower.append(f"{short} {ms[None, name] / ms[1, name]:.2f}×")
    return ", ".join(slower)


def render(results: dict, settings: list, peaks: dict, repeats: int, stat: str) -> str:
    """The "Layer grid" section: one row per measured row, a geometric mean per setting."""
    torch_version = torch.__version__ if torch is not None else "not installed"
    header = ["layer"]
    for setting in settings:
        header += [f"tinygen ms, {label(setting)}", "PyTorch ms", "ratio",
                   "% of peak tinygen / PyTorch"]
    header.append("slower at default threads than at 1")
    lines = [
        HEADING,
        "",
        "`python -m benchmarks.layer_grid`: forward + backward of each layer (or one optimizer "
        "step), batch 64, float32, the same module arguments, parameters and inputs in both "
        f"frameworks; {stat} ms of {repeats} samples, tinygen and PyTorch CPU interleaved in "
        "one process at one thread setting and then the next, 0.15 s apart and after one "
        "untimed call (the other "
        "library's threads stop spinning), after checking that both give the same "
        "outputs and gradients (dropout: each its own mask, checked by the rule). A model's "
        "data (image, latent, ids, targets) does not require a gradient; every other input "
        "does. % of peak: the step's GEMM-shaped products (2 flops per multiply-add; the "
        "input gradient only where the input needs one) against the best "
        f"{PEAK_SIZE}² float32 NumPy matmul at the same threads. Targets (issue 18): every row "
        "≤ 1.2× PyTorch at the default threads, geometric mean ≤ 1.0×, no row slower at "
        "the default threads than at one.",
        "",
        f"- Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end; "
        f"{datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}",
        f"- NumPy BLAS: {blas()}",
        f"- Threads: default = {default_threads()}; a count N = threadpool_limits(N) and "
        "torch.set_num_threads(N)",
        "- sgemm peak: " + ", ".join(f"{peaks[s]:.0f} GFLOP/s at {label(s)}" for s in settings),
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 2) + "---|",
    ]
    ratios: dict = {setting: [] for setting in settings}
    group = None
    for row in ROWS:
        if row.case.name not in results:
            continue
        if row.group != group:
            group = row.group
            lines.append(f"| **{group}** |" + " |" * (len(header) - 1))
        ms = {key: (min(v) if stat == "best" else statistics.median(v))
              for key, v in results[row.case.name].items()}
        cells = [row.case.name]
        for setting in settings:
            setting_cells, ratio = _cells(row, ms, setting, peaks[setting])
            cells += setting_cells
            if ratio:
                ratios[setting].append(ratio)
        cells.append(_slower_with_more_threads(ms, settings))
        lines.append("| " + " | ".join(cells) + " |")
    means = ["**geometric mean of ratios**"]
    for setting in settings:
        mean = math.exp(statistics.fmean(map(math.log, ratios[setting]))) if ratios[setting] \
            else None
        means += ["", "", f"**{mean:.2f}×**" if mean else "-", ""]
    lines.append("| " + " | ".join(means + [""]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sampling_arguments(parser, repeats=9)
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="the statistic of the samples that the table gives")
    args = parser.parse_args()
    _unpinned_blas()
    settings = list(dict.fromkeys(args.threads))
    print(f"threads: default = {default_threads()}", flush=True)
    peaks = measure_peaks(settings)
    results = {}
    for row in ROWS:
        if args.only.lower() not in row.case.name.lower():
            continue
        samples = measure_row(row, settings, args.repeats)
        results[row.case.name] = samples
        summary = ", ".join(f"{name} {label(s)}: best {min(v):.2f} median "
                            f"{statistics.median(v):.2f}" for (s, name), v in samples.items())
        print(f"{row.case.name}: {summary}", flush=True)
    section = render(results, settings, peaks, args.repeats, args.stat)
    publish(section, write=not args.no_write and not args.only)


if __name__ == "__main__":
    main()
