"""The PyTorch programs of examples/pytorch_style, timed on tinygen and on PyTorch itself.

Each program is loaded twice from its one file: as written (``import tinygen as torch``) and
with ``tinygen`` renamed to ``torch`` in its import lines (:func:`load`; the data source,
``tinygen.data``, only hands out NumPy arrays and stays). Both copies build the program's
model at its default sizes, with its optimizer, loss and DataLoader at its default batch size
(shuffled, as the program runs), and a sample is one call of the program's own ``train``
for a few batches: the data loading, ``zero_grad``, forward, loss, ``backward``, ``step`` and
the ``loss.item()`` it logs, exactly what a user's epoch runs. The two frameworks take turns
(interleaved, one process), 0.15 s apart (the other library's threads stop spinning) and
after one untimed batch (a sample then runs warm, as an epoch does), at the
default thread count and then at one thread. Median ms per batch and the ratio go to the
"PyTorch programs" section of docs/BENCHMARKS.md.

    python -m benchmarks.twins.example_steps [--threads default 1] [--only dcgan] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import io
import os
import re
import statistics
import time
import types
from collections.abc import Callable
from pathlib import Path

import tinygen
from benchmarks.layer_grid import (
    add_sampling_arguments,
    default_threads,
    label,
    settle,
    thread_setting,
)
from benchmarks.report import machine, publish

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pytorch_style"
# "import tinygen as torch" -> "import torch", "from tinygen import optim" -> "from torch
# import optim", ...; "from tinygen.data import ..." (the data source) is left alone
_TINYGEN_IMPORT = re.compile(r"^((?:import|from) )tinygen(?!\.data\b)", re.MULTILINE)
#: the least time one sample of a program runs, in batches of its own size
SAMPLE_SECONDS = 0.3
FRAMEWORKS = ("tinygen", "torch")


def load(name: str, framework: str) -> types.ModuleType:
    """The program ``name`` (examples/pytorch_style/NAME.py) as a fresh module whose imports
    name ``framework``: "tinygen" as written, or "torch"."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"load: framework must be one of {FRAMEWORKS}, got {framework!r}")
    path = EXAMPLES / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"load: no program {name!r} ({path} does not exist)")
    source = path.read_text()
    if framework == "torch":
        source = _TINYGEN_IMPORT.sub(r"\1torch", source)
    module = types.ModuleType(f"{name}_on_{framework}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def _args(**extra) -> argparse.Namespace:
    # quiet: train() logs only its first batch
    return argparse.Namespace(log_interval=10**9, steps=1, **extra)


def _mnist_cnn(program):
    model = program.Net()
    loader = program.DataLoader(program.mnist(train=True), batch_size=64, shuffle=True)
    optimizer = program.optim.Adadelta(model.parameters(), lr=1.0)
    return lambda args: program.train(args, model, "cpu", loader, optimizer, 1), _args()


def _vae(program):
    model = program.VAE()
    loader = program.DataLoader(program.mnist(train=True), batch_size=128, shuffle=True)
    optimizer = program.optim.Adam(model.parameters(), lr=1e-3)
    return lambda args: program.train(args, model, "cpu", loader, optimizer, 1), _args()


def _dcgan(program):
    generator = program.Generator(100, 64).apply(program.weights_init)
    discriminator = program.Discriminator(64).apply(program.weights_init)
    loader = program.DataLoader(program.mnist(), batch_size=64, shuffle=True)
    optimizers = [program.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
                  for net in (discriminator, generator)]
    return (lambda args: program.train(args, generator, discriminator, "cpu", loader,
                                       *optimizers, 0), _args(nz=100))


def _lstm_rows(program):
    model = program.RowClassifier(28, 128, 10)
    loader = program.DataLoader(program.mnist(train=True), batch_size=100, shuffle=True)
    optimizer = program.torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = program.nn.CrossEntropyLoss()
    return (lambda args: program.train(args, model, "cpu", loader, optimizer, criterion, 1),
            _args())


def _autoencoder(program):
    model = program.autoencoder()
    loader = program.DataLoader(program.mnist(train=True), batch_size=32, shuffle=True)
    optimizer = program.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    criterion = program.nn.MSELoss()
    return (lambda args: program.train(args, model, "cpu", loader, optimizer, criterion, 1),
            _args())


#: row name -> (program, builder of (train for args.steps batches, args)); default sizes
PROGRAMS = {
    "mnist_cnn.py: conv 1→16→32 + max-pool + dropout, Adadelta, batch 64":
        ("mnist_cnn", _mnist_cnn),
    "vae.py: 784-400-20 VAE, Adam, batch 128": ("vae", _vae),
    "dcgan.py: 64×64 DCGAN ngf = ndf = 64, one D + one G step, batch 64": ("dcgan", _dcgan),
    "lstm_rows.py: LSTM 28→128 over 28 rows, Adam, batch 100": ("lstm_rows", _lstm_rows),
    "autoencoder.py: MLP autoencoder, SGD momentum, batch 32": ("autoencoder", _autoencoder),
}


def _timed(train: Callable, args: argparse.Namespace) -> float:
    """ms per batch of one ``train`` call of ``args.steps`` batches, its prints swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        train(args)
        return (time.perf_counter() - start) * 1e3 / args.steps


def _warm_up(train: Callable, args: argparse.Namespace) -> None:
    """One untimed batch of ``train``."""
    steps, args.steps = args.steps, 1
    _timed(train, args)
    args.steps = steps


def time_program(row: str, settings: list, repeats: int) -> dict:
    """ms-per-batch samples keyed by (setting, framework), the frameworks interleaved."""
    name, build = PROGRAMS[row]
    tinygen.manual_seed(0)
    runs = {framework: build(load(name, framework)) for framework in FRAMEWORKS}
    samples: dict = {(s, f): [] for s in settings for f in FRAMEWORKS}
    for setting in settings:
        with thread_setting(setting):
            for train, args in runs.values():  # warm-up, and batches per sample
                settle(functools.partial(_warm_up, train, args))
                args.steps = 1
                args.steps = max(1, round(SAMPLE_SECONDS / (_timed(train, args) * 1e-3)))
            for _ in range(repeats):
                for framework, (train, args) in runs.items():
                    settle(functools.partial(_warm_up, train, args))
                    samples[setting, framework].append(_timed(train, args))
    return samples


def render(rows: list, settings: list, repeats: int) -> str:
    """The "PyTorch programs" section from (row, samples) pairs."""
    header = ["program (its default sizes)"]
    for setting in settings:
        header += [f"tinygen ms, {label(setting)}", "PyTorch ms", "ratio"]
    lines = [
        "## PyTorch programs", "",
        "`python -m benchmarks.twins.example_steps`: median ms per training batch of each "
        f"program in examples/pytorch_style over {repeats} samples, run by the program's own "
        "`train` (data loading, forward, loss, backward, optimizer step, the logged "
        "`loss.item()`), once as written on tinygen and once with its imports renamed to "
        "torch, interleaved in one process at one thread setting and then the next, 0.15 s "
        "apart and after one untimed batch. Target (issue 18): at most 1.2× PyTorch at the "
        "default threads.", "",
        f"- Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end; "
        f"{datetime.date.today().isoformat()}",
        f"- Threads: default = {default_threads()}; a count N = threadpool_limits(N) and "
        "torch.set_num_threads(N)", "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for row, samples in rows:
        cells = [row]
        for setting in settings:
            ours, theirs = (statistics.median(samples[setting, f]) for f in FRAMEWORKS)
            cells += [f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sampling_arguments(parser, repeats=5)
    args = parser.parse_args()
    settings = list(dict.fromkeys(args.threads))
    rows = []
    for row in PROGRAMS:
        if args.only not in row:
            continue
        rows.append((row, time_program(row, settings, args.repeats)))
        print(render(rows[-1:], settings, args.repeats).splitlines()[-1], flush=True)
    publish(render(rows, settings, args.repeats), write=not args.no_write and not args.only)


if __name__ == "__main__":
    main()
