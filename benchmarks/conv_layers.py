"""The convolution layers of the over-target models, tinygen beside PyTorch CPU, one thread.

PixelCNN's masked 3x3 conv and every conv of the DCGAN (channels 32, batch 64), as the models
build them (same shapes, strides, paddings, biases; an input requires a gradient where the
model's step needs one), each timed forward alone and forward + backward. Both frameworks run
interleaved in one process at one BLAS / torch thread, after checking that they give the same
outputs and gradients; the table gives median ms and the tinygen / PyTorch ratio. Results go to
the "Convolution layers" section of docs/BENCHMARKS.md.

    python -m benchmarks.conv_layers                 # table + docs/BENCHMARKS.md
    python -m benchmarks.conv_layers --cases 0 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn as tnn
from benchmarks.kernels import Case, blas, measure_case, torch
from benchmarks.report import machine, publish

THREADS = 1


@dataclass(frozen=True)
class Layer:
    """One conv layer of a model: its input shape and the module arguments."""

    name: str
    input_shape: tuple
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    bias: bool = True
    transposed: bool = False
    masked: bool = False
    input_grad: bool = True  # False for a model's input that nothing upstream trains


LAYERS = [
    Layer("PixelCNN masked 3x3 B, 32->32, 28x28", (32, 32, 28, 28), 32, 32, 3, padding=1,
          masked=True),
    Layer("D conv 4x4 s2 1->32, 28->14", (64, 1, 28, 28), 1, 32, 4, 2, 1),
    Layer("D conv 4x4 s2 32->64, 14->7", (64, 32, 14, 14), 32, 64, 4, 2, 1),
    Layer("D conv 7x7 64->1, 7->1", (64, 64, 7, 7), 64, 1, 7),
    Layer("G convT 7x7 64->128, 1->7", (64, 64, 1, 1), 64, 128, 7, bias=False,
          transposed=True, input_grad=False),
    Layer("G convT 4x4 s2 128->64, 7->14", (64, 128, 7, 7), 128, 64, 4, 2, 1, bias=False,
          transposed=True),
    Layer("G convT 4x4 s2 64->1, 14->28", (64, 64, 14, 14), 64, 1, 4, 2, 1, transposed=True),
]


def _modules(layer: Layer):
    """The tinygen module of ``layer``, whose parameters PyTorch then copies."""
    if layer.masked:
        ours = tnn.MaskedConv2d(layer.in_channels, layer.out_channels, layer.kernel,
                                mask_type="B", padding=layer.padding, bias=layer.bias)
    else:
        module = tnn.ConvTranspose2d if layer.transposed else tnn.Conv2d
        ours = module(layer.in_channels, layer.out_channels, layer.kernel, stride=layer.stride,
                      padding=layer.padding, bias=layer.bias)
    return ours


def layer_case(layer: Layer, backward: bool) -> Case:
    """Forward (+ backward against a fixed output gradient) of one layer, in either framework."""
    ours = _modules(layer)

    def make_arrays():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(layer.input_shape, dtype=np.float32)
        with tg.no_grad():
            y = ours(tg.tensor(x))
        return [x, rng.standard_normal(y.shape, dtype=np.float32)]

    def build(framework, arrays):
        x_values, gy_values = arrays
        params = [p for p in (ours.weight, ours.bias) if p is not None]
        if framework == "tinygen":
            x = tg.tensor(x_values, requires_grad=layer.input_grad)
            gy = tg.tensor(gy_values)
            forward = ours
        else:
            x = torch.tensor(x_values, requires_grad=layer.input_grad)
            gy = torch.tensor(gy_values)
            weight, *bias = (torch.tensor(p.numpy(), requires_grad=True) for p in params)
            bias = bias[0] if bias else None
            params = [weight] + ([bias] if bias is not None else [])
            functional = torch.nn.functional
            mask = torch.tensor(ours.mask.numpy()) if layer.masked else None

            def forward(x):
                if layer.transposed:
                    return functional.conv_transpose2d(x, weight, bias, layer.stride,
                                                       layer.padding)
                kernel = weight * mask if layer.masked else weight
                return functional.conv2d(x, kernel, bias, layer.stride, layer.padding)
        inputs = ([x] if layer.input_grad else []) + params

        def step():
            for t in inputs:
                t.grad = None
            y = forward(x)
            if backward:
                y.backward(gy)
            return y

        return step, inputs if backward else ()

    return Case(f"{layer.name} {'fwd+bwd' if backward else 'fwd'}", make_arrays, build)


def render(rows: list, repeats: int) -> str:
    torch_version = torch.__version__ if torch is not None else "not installed"
    lines = [
        "## Convolution layers",
        "",
        "`python -m benchmarks.conv_layers`: the conv layers of PixelCNN (masked 3x3, batch "
        "32) and the DCGAN (channels 32, batch 64) as their models build them, float32, "
        f"forward alone and forward + backward; median ms of {repeats} samples, tinygen and "
        f"PyTorch CPU interleaved in one process at {THREADS} BLAS/torch thread, after "
        "checking that both give the same outputs and gradients.",
        "",
        f"- Machine: {machine()}; {datetime.date.today().isoformat()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}",
        f"- NumPy BLAS: {blas()}",
        "",
        "| layer | fwd ms | PyTorch fwd | ratio | fwd+bwd ms | PyTorch fwd+bwd | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, cells in rows:
        text = []
        for ours, theirs in cells:
            ratio = f"{ours / theirs:.2f}×" if theirs else "-"
            text += [f"{ours:.2f}", f"{theirs:.2f}" if theirs else "-", ratio]
        lines.append(f"| {name} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cases", type=int, nargs="*", help="layer indices (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    tg.manual_seed(0)
    if torch is not None:
        torch.set_num_threads(THREADS)
    selected = [LAYERS[i] for i in args.cases] if args.cases else LAYERS
    rows = []
    with threadpool_limits(THREADS):
        for layer in selected:
            cells = []
            for backward in (False, True):
                samples = measure_case(layer_case(layer, backward), args.repeats)
                ours = statistics.median(samples["tinygen"])
                theirs = statistics.median(samples["torch"]) if "torch" in samples else None
                cells.append((ours, theirs))
                print(f"{layer.name} {'fwd+bwd' if backward else 'fwd'}: {ours:.2f} ms, "
                      f"ratio {ours / theirs if theirs else float('nan'):.2f}", flush=True)
            rows.append((layer.name, cells))
        section = render(rows, args.repeats)  # inside the limit: it reports the BLAS threads
    publish(section, write=not args.no_write and selected == LAYERS)


if __name__ == "__main__":
    main()
