"""Autoregressive sampling, naive against cached, for the PixelCNN and both PixelRNNs.

The naive sampler runs one full forward pass per pixel: 784 of them per image. The fast
samplers compute only what the next pixel needs (the PixelCNN a window of each layer around
it, the Row LSTM one row step, the Diagonal BiLSTM one diagonal step). Both draw each pixel
as ``u < p`` from the same uniforms, so they must give identical images; this script checks
that on the last row of a random canvas before timing anything.

A naive pass costs the same for every pixel, so its full-image time is measured on the 28
pixels of one row and multiplied by 28 rows; the fast samplers are timed on whole images.
Untrained models at the scripts' default sizes (speed does not depend on the weights).
Writes the "Sampling" section of docs/BENCHMARKS.md.

    python -m benchmarks.samplers [--images 4]
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np

import tinygen as tg
from benchmarks.report import machine, publish
from models import pixelcnn, pixelrnn

ROW = 28
PIXELS = ROW * ROW


def _models():
    tg.manual_seed(0)
    return {
        "PixelCNN h=64, 5 blocks": (pixelcnn.PixelCNN(64, 5, 64), pixelcnn),
        "Row LSTM h=32, 2 layers": (pixelrnn.PixelRNN("row", 64, 32, 2, 64), pixelrnn),
        "Diagonal BiLSTM h=32, 2 layers": (pixelrnn.PixelRNN("diag", 64, 32, 2, 64), pixelrnn),
    }


def _seconds(sampler, *args, **kwargs) -> float:
    start = time.perf_counter()
    sampler(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images sampled at once")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    canvas = (rng.random((args.images, 1, ROW, ROW)) < 0.3).astype(np.float32)
    uniforms = rng.random((args.images, PIXELS))
    blank = np.zeros_like(canvas)
    lines = [
        "## Sampling", "",
        "`python -m benchmarks.samplers`: seconds to sample "
        f"{args.images} whole 28x28 images, naive (a forward pass per pixel; timed on one "
        "row, times 28) against the cached fast sampler (timed on whole images). Both give "
        "identical images from the same uniforms (checked first, here and in the tests).", "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}", "",
        "| model | naive s | fast s | speed-up |",
        "|---|---:|---:|---:|",
    ]
    last_row = PIXELS - ROW
    for name, (model, module) in _models().items():
        naive_row = module.sample_naive(model, canvas, uniforms, start=last_row)
        fast_row = module.sample_fast(model, canvas, uniforms, start=last_row)
        if not np.array_equal(naive_row, fast_row):
            raise AssertionError(f"{name}: the fast sampler's last row differs from the naive")
        naive = ROW * _seconds(module.sample_naive, model, canvas, uniforms, start=last_row)
        fast = _seconds(module.sample_fast, model, blank, uniforms)
        lines.append(f"| {name} | {naive:.1f} | {fast:.2f} | {naive / fast:.0f}x |")
        print(lines[-1], flush=True)
    publish("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
