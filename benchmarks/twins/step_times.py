"""One training step of each model beside its PyTorch twin: time, and peak memory.

Step times taken inside long training runs drift with whatever else the machine is doing;
interleaving the two implementations step by step puts them under the same conditions, at
one thread setting and then the next: "default" leaves NumPy's BLAS and torch as
they start (what a user gets), a count N is ``threadpool_limits(N)`` with
``torch.set_num_threads(N)``. Samples are 0.15 s apart, each after one untimed step
(``benchmarks.layer_grid.settle``: the other library's worker threads stop spinning; the
sample then runs warm, as a training loop's steps do). Median ms per step (Adam, the models' default
batch sizes) and the ratio.

Peak memory: each model's first three steps in a fresh process per framework, the peak
resident set above the resident set after building the model and its data, less the library
code paged in meanwhile (``benchmarks.host_memory.peak_rss_above_mib``): activations,
gradients, optimizer state and whatever the allocators keep. tinygen's process runs as a
user's would (freed memory kept, ``tinygen.backend.keep_freed_memory``), PyTorch's with the
allocator left alone (``TINYGEN_KEEP_FREED_MEMORY=0``: tinygen's import there must not
change torch's allocator).
Results go to the "Training steps" section of docs/BENCHMARKS.md.

    python -m benchmarks.twins.step_times [--threads default 1] [--only PixelRNN] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import tinygen as tg
from benchmarks.host_memory import peak_rss_above_mib
from benchmarks.layer_grid import (
    add_sampling_arguments,
    default_threads,
    label,
    settle,
    thread_setting,
)
from benchmarks.report import machine, publish
from benchmarks.twins import dcgan_twin, pixelcnn_twin, pixelrnn_twin, vae_twin
from models import pixelcnn, pixelrnn, vae
from tinygen.optim import Adam


def _binary(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) > 0.6).astype(np.float32)


def _adam_step(optimizer, loss_fn):
    # the same four lines drive both frameworks: their Tensors and optimizers share names
    def step():
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def _pair(ours, theirs, our_loss, their_loss) -> tuple[Callable, Callable]:
    """The Adam steps of a model and its twin, each loss function given its own model."""
    tinygen_step = _adam_step(Adam(ours.parameters(), lr=1e-3), lambda: our_loss(ours))
    torch_step = _adam_step(torch.optim.Adam(theirs.parameters(), lr=1e-3),
                            lambda: their_loss(theirs))
    return tinygen_step, torch_step


def _vae():
    xv, tv = tg.tensor(_binary((128, 784))), torch.tensor(_binary((128, 784)))
    return _pair(vae.VAE(20, 400), vae_twin.TwinVAE(20, 400),
                 lambda m: vae.negative_elbo(m, xv).mean(),
                 lambda m: vae_twin.negative_elbo(m, tv).mean())


def _m2():
    x, labels = _binary((128, 784)), np.arange(128) % 10
    xv, tv, xu, tu = tg.tensor(x), torch.tensor(x), tg.tensor(x[:64]), torch.tensor(x[:64])
    return _pair(vae.M2(50, 500), vae_twin.TwinM2(50, 500),
                 lambda m: vae.m2_labelled_loss(m, xv[:100], labels[:100], 800.0).mean()
                 + vae.m2_unlabelled_loss(m, xu).mean(),
                 lambda m: vae_twin.m2_loss(m, tv[:100], torch.tensor(labels[:100]), tu, 800.0))


def _pixelcnn():
    xp, tp = tg.tensor(_binary((32, 1, 28, 28))), torch.tensor(_binary((32, 1, 28, 28)))
    return _pair(pixelcnn.PixelCNN(64, 5, 64), pixelcnn_twin.TwinPixelCNN(64, 5, 64),
                 lambda m: pixelcnn.nll_per_image(m, xp).mean(),
                 lambda m: pixelcnn_twin.nll(m, tp).mean())


def _pixelrnn(kind: str):
    # models/pixelrnn.py's defaults: hidden 32, maps and head of 2 x 32 channels, 2 layers
    xp, tp = tg.tensor(_binary((32, 1, 28, 28))), torch.tensor(_binary((32, 1, 28, 28)))
    return _pair(pixelrnn.PixelRNN(kind, 64, 32, 2, 64),
                 pixelrnn_twin.TwinPixelRNN(kind, 64, 32, 2, 64),
                 lambda m: pixelrnn.nll_per_image(m, xp).mean(),
                 lambda m: pixelrnn_twin.nll(m, tp).mean())


STEPS: dict[str, Callable[[], tuple[Callable, Callable]]] = {
    "MLP VAE 784-400-20, batch 128": _vae,
    "M2 (100 labelled + 64 unlabelled x 10 labels)": _m2,
    "PixelCNN h=64, 5 blocks, batch 32": _pixelcnn,
    "PixelRNN Row LSTM h=32, 2 layers, batch 32": lambda: _pixelrnn("row"),
    "PixelRNN Diagonal BiLSTM h=32, 2 layers, batch 32": lambda: _pixelrnn("diag"),
    "DCGAN c=32, pack 2, one D step + one G step, batch 64": dcgan_twin.step_pair,
}


def build_pair(name: str) -> tuple[Callable, Callable]:
    """(tinygen step, PyTorch step) of the row named ``name``, models seeded afresh."""
    tg.manual_seed(0)
    torch.manual_seed(0)
    return STEPS[name]()


def time_pair(name: str, settings: list, repeats: int) -> dict:
    """ms samples keyed by (setting, framework): one thread setting after the other, the two
    frameworks interleaved in every repeat."""
    steps = dict(zip(("tinygen", "torch"), build_pair(name)))
    samples: dict = {(s, f): [] for s in settings for f in steps}
    for setting in settings:
        with thread_setting(setting):
            for step in steps.values():  # warm-up: a new thread count rebuilds torch's team
                step()
            for _ in range(repeats):
                for framework, step in steps.items():
                    settle(step)  # the other's threads stop spinning; one untimed step
                    start = time.perf_counter()
                    step()
                    samples[setting, framework].append((time.perf_counter() - start) * 1e3)
    return samples


def peak_memory_mib(name: str, framework: str, calls: int = 3) -> float:
    """Peak MiB of ``calls`` training steps of one framework, in a fresh process."""
    env = dict(os.environ)
    if framework == "torch":
        env["TINYGEN_KEEP_FREED_MEMORY"] = "0"
    else:
        env.pop("TINYGEN_KEEP_FREED_MEMORY", None)
    command = [sys.executable, "-m", "benchmarks.twins.step_times", "--memory-child", name,
               framework, "--repeats", str(calls)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"peak_memory_mib: the fresh process of {name!r} ({framework}) "
                           f"failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def render(rows: list, settings: list, repeats: int) -> str:
    """The "Training steps" section from (name, samples, (tinygen MiB, PyTorch MiB) or None)
    rows."""
    header = ["training step (Adam)"]
    for setting in settings:
        header += [f"tinygen ms, {label(setting)}", "PyTorch ms", "ratio"]
    header += ["peak MiB tinygen", "PyTorch", "ratio"]
    lines = [
        "## Training steps", "",
        "`python -m benchmarks.twins.step_times`: median ms of one Adam step of each model "
        f"over {repeats} repeats, tinygen and its PyTorch twin interleaved in one process at "
        "one thread setting and then the next, 0.15 s apart and after one untimed step (the "
        "other library's threads stop spinning); peak MiB: the resident set's peak over the "
        "first three steps above its size after building the model and data, less the library "
        "code paged in meanwhile, in a fresh process per framework (tinygen keeping freed "
        "memory as it does by default, PyTorch's allocator left alone).", "",
        f"- Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end; "
        f"{datetime.date.today().isoformat()}",
        f"- Threads: default = {default_threads()}; a count N = threadpool_limits(N) and "
        "torch.set_num_threads(N)", "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for name, samples, memory in rows:
        cells = [name]
        for setting in settings:
            ours, theirs = (statistics.median(samples[setting, f]) for f in ("tinygen", "torch"))
            cells += [f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}×"]
        if memory:
            cells += [f"{memory[0]:.0f}", f"{memory[1]:.0f}", f"{memory[0] / memory[1]:.2f}×"]
        else:
            cells += ["-"] * 3
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sampling_arguments(parser, repeats=10)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory")
    parser.add_argument("--memory-child", nargs=2, metavar=("ROW", "FRAMEWORK"),
                        help=argparse.SUPPRESS)  # peak_memory_mib's fresh process
    args = parser.parse_args()
    if args.memory_child:
        name, framework = args.memory_child
        step = dict(zip(("tinygen", "torch"), build_pair(name)))[framework]
        print(peak_rss_above_mib(step, args.repeats))
        return
    settings = list(dict.fromkeys(args.threads))
    rows = []
    for name in STEPS:
        if args.only not in name:
            continue
        samples = time_pair(name, settings, args.repeats)
        memory = None if args.no_memory else tuple(
            peak_memory_mib(name, framework) for framework in ("tinygen", "torch"))
        rows.append((name, samples, memory))
        print(render(rows[-1:], settings, args.repeats).splitlines()[-1], flush=True)
    section = render(rows, settings, args.repeats)
    publish(section, write=not args.no_write and not args.only and not args.no_memory)


if __name__ == "__main__":
    main()
