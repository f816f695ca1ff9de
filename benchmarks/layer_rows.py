"""The rows of benchmarks/layer_grid.py: the layers people write at MNIST/CIFAR scale.

Each row builds the same module in both frameworks from the same constructor call (tinygen.nn
and torch.nn share the names and arguments), with PyTorch's parameters copied from tinygen's,
on the same float32 inputs; batch 64 unless the name says otherwise. A model's data (the
image, the latent, the token ids, the targets) does not require a gradient, as in training;
every other input does. ``build(framework, arrays)`` follows benchmarks/kernels.py's ``Case``:
it returns ``step`` (one forward + backward against a fixed output gradient, or one optimizer
step) and the tensors whose gradients the check compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tinygen as tg
import tinygen.nn as tnn
import tinygen.optim as toptim
from benchmarks.kernels import Case, torch

BATCH = 64


@dataclass(frozen=True)
class Input:
    """One input of a row: float values, or integer ids/targets in [0, high) when high is set."""

    shape: tuple
    requires_grad: bool = True
    high: int | None = None

    @property
    def trains(self) -> bool:
        return self.requires_grad and self.high is None

    def make(self, rng: np.random.Generator) -> np.ndarray:
        if self.high is not None:
            return rng.integers(0, self.high, self.shape, dtype=np.int64)
        return rng.standard_normal(self.shape, dtype=np.float32)


@dataclass(frozen=True)
class Row:
    """A row of the grid: its group (a heading of the table), its case, and for convolutions
    the floating-point operations of one step (for the % of sgemm peak)."""

    group: str
    case: Case
    flops: float | None = None
    dropout: float | None = None  # masks differ by framework: checked by their own rule


def _framework(framework: str):
    """(tensor constructor, nn namespace, optim namespace) of ``framework``."""
    if framework == "tinygen":
        return tg.tensor, tnn, toptim
    return torch.tensor, torch.nn, torch.optim


def _assign(param, values: np.ndarray) -> None:
    if isinstance(param, tg.Tensor):
        param.data[...] = values
    else:
        with torch.no_grad():
            param.copy_(torch.from_numpy(values))


def module_case(name: str, make_module: Callable, inputs: list[Input]) -> Case:
    """Forward + backward of ``make_module(nn)`` on ``inputs``: from a fixed random output
    gradient, or from the loss itself when the module returns a scalar."""

    def make_arrays():
        rng = np.random.default_rng(0)
        tg.manual_seed(0)
        module = make_module(tnn)
        params = {key: p.numpy().copy() for key, p in module.named_parameters()}
        values = [spec.make(rng) for spec in inputs]
        with tg.no_grad():
            y = module(*(tg.tensor(v) for v in values))
        y = y[0] if isinstance(y, tuple) else y  # a recurrent layer's (output, state)
        gy = rng.standard_normal(y.shape, dtype=np.float32) if y.ndim else None
        return [values, gy, params]

    def build(framework, arrays):
        values, gy_values, params = arrays
        tensor, nn, _ = _framework(framework)
        module = make_module(nn)
        for key, param in module.named_parameters():
            _assign(param, params[key])
        xs = [tensor(v, requires_grad=spec.trains) for spec, v in zip(inputs, values)]
        gy = tensor(gy_values) if gy_values is not None else None
        trained = [x for x, spec in zip(xs, inputs) if spec.trains]
        trained += [p for _, p in module.named_parameters()]

        def step():
            for t in trained:
                t.grad = None
            y = module(*xs)
            y = y[0] if isinstance(y, tuple) else y
            y.backward(gy)
            return y

        return step, trained

    return Case(name, make_arrays, build)


# --------------------------------------------------------------------------- convolutions
def conv(name: str, c_in: int, c_out: int, size: int, kernel: int, stride: int = 1,
         padding: int = 0, groups: int = 1, bias: bool = True, input_grad: bool = True,
         dims: int = 2, transposed: bool = False) -> Row:
    """A Conv1d/Conv2d/ConvTranspose2d row on a (64, c_in, size[, size]) input.

    Its flops: 2 per multiply-add of each GEMM-shaped product of the step (forward and weight
    gradient, and input gradient when the input requires one).
    """
    if transposed:
        out, pixels = (size - 1) * stride - 2 * padding + kernel, size  # GEMMs over the input
    else:
        out = (size + 2 * padding - kernel) // stride + 1
        pixels = out
    macs = BATCH * pixels ** dims * (c_in // groups) * c_out * kernel ** dims
    layer = {(1, False): "Conv1d", (2, False): "Conv2d", (2, True): "ConvTranspose2d"}

    def make_module(nn):
        return getattr(nn, layer[dims, transposed])(c_in, c_out, kernel, stride=stride,
                                                    padding=padding, groups=groups, bias=bias)

    shape = (BATCH, c_in) + (size,) * dims
    case = module_case(name, make_module, [Input(shape, requires_grad=input_grad)])
    group = "conv_transpose2d" if transposed else "conv"
    return Row(group, case, flops=2 * macs * (3 if input_grad else 2))


def _conv_rows() -> list[Row]:
    return [
        conv("conv2d 1→32 k3, 28²→26² (MNIST, image in)", 1, 32, 28, 3, input_grad=False),
        conv("conv2d 32→64 k3, 26²→24²", 32, 64, 26, 3),
        conv("conv2d 3→64 k3 p1, 32² (CIFAR, image in)", 3, 64, 32, 3, padding=1,
             input_grad=False),
        conv("conv2d 64→64 k3 p1, 32²", 64, 64, 32, 3, padding=1),
        conv("conv2d 128→128 k3 p1, 16²", 128, 128, 16, 3, padding=1),
        conv("conv2d 128→128 k3 p1, 8²", 128, 128, 8, 3, padding=1),
        conv("DCGAN D 3→64 k4 s2 p1, 64²→32² (image in)", 3, 64, 64, 4, 2, 1, bias=False,
             input_grad=False),
        conv("DCGAN D 64→128 k4 s2 p1, 32²→16²", 64, 128, 32, 4, 2, 1, bias=False),
        conv("DCGAN D 128→256 k4 s2 p1, 16²→8²", 128, 256, 16, 4, 2, 1, bias=False),
        conv("DCGAN D 256→512 k4 s2 p1, 8²→4²", 256, 512, 8, 4, 2, 1, bias=False),
        conv("conv2d 1x1 64→256, 16²", 64, 256, 16, 1),
        conv("conv2d 1x1 256→64, 16²", 256, 64, 16, 1),
        conv("grouped conv2d 128→128 k3 p1 groups 8, 16²", 128, 128, 16, 3, padding=1,
             groups=8),
        conv("depthwise conv2d 64→64 k3 p1 groups 64, 32²", 64, 64, 32, 3, padding=1,
             groups=64),
        conv("conv1d 64→64 k3 p1, length 256", 64, 64, 256, 3, padding=1, dims=1),
        conv("DCGAN G 100→512 k4, 1²→4² (latent in)", 100, 512, 1, 4, bias=False,
             input_grad=False, transposed=True),
        conv("DCGAN G 512→256 k4 s2 p1, 4²→8²", 512, 256, 4, 4, 2, 1, bias=False,
             transposed=True),
        conv("DCGAN G 256→128 k4 s2 p1, 8²→16²", 256, 128, 8, 4, 2, 1, bias=False,
             transposed=True),
        conv("DCGAN G 128→64 k4 s2 p1, 16²→32²", 128, 64, 16, 4, 2, 1, bias=False,
             transposed=True),
        conv("DCGAN G 64→3 k4 s2 p1, 32²→64²", 64, 3, 32, 4, 2, 1, bias=False,
             transposed=True),
    ]


# --------------------------------------------------------------------------- other layers
def layer(group: str, name: str, make_module: Callable, *inputs: Input,
          dropout: float | None = None) -> Row:
    """A row of any module called on ``inputs``."""
    return Row(group, module_case(name, make_module, list(inputs)), dropout=dropout)


def _layer_rows() -> list[Row]:
    b = BATCH
    return [
        layer("pooling", "max_pool2d 2x2, 64×24² (MNIST)", lambda nn: nn.MaxPool2d(2),
              Input((b, 64, 24, 24))),
        layer("pooling", "max_pool2d 3x3 s2 p1, 64×32²→16²",
              lambda nn: nn.MaxPool2d(3, stride=2, padding=1), Input((b, 64, 32, 32))),
        layer("pooling", "avg_pool2d 2x2, 64×32²", lambda nn: nn.AvgPool2d(2),
              Input((b, 64, 32, 32))),
        layer("pooling", "adaptive_avg_pool2d 512×4²→1²", lambda nn: nn.AdaptiveAvgPool2d(1),
              Input((b, 512, 4, 4))),
        layer("normalization", "batch_norm2d 64×32²", lambda nn: nn.BatchNorm2d(64),
              Input((b, 64, 32, 32))),
        layer("normalization", "batch_norm2d 128×16²", lambda nn: nn.BatchNorm2d(128),
              Input((b, 128, 16, 16))),
        layer("normalization", "batch_norm2d 256×8²", lambda nn: nn.BatchNorm2d(256),
              Input((b, 256, 8, 8))),
        layer("normalization", "layer_norm 128", lambda nn: nn.LayerNorm(128),
              Input((b, 128))),
        layer("normalization", "layer_norm 1024", lambda nn: nn.LayerNorm(1024),
              Input((b, 1024))),
        layer("normalization", "layer_norm 256 over 64×32 tokens", lambda nn: nn.LayerNorm(256),
              Input((b, 32, 256))),
        layer("normalization", "dropout p=0.25, 64×12²", lambda nn: nn.Dropout(0.25),
              Input((b, 64, 12, 12)), dropout=0.25),
        layer("linear", "linear 9216→128", lambda nn: nn.Linear(9216, 128), Input((b, 9216))),
        layer("linear", "linear 784→400 (image in)", lambda nn: nn.Linear(784, 400),
              Input((b, 784), requires_grad=False)),
        layer("linear", "linear 1024→1024", lambda nn: nn.Linear(1024, 1024),
              Input((b, 1024))),
        layer("linear", "embedding 10000×128, 64×32 ids", lambda nn: nn.Embedding(10000, 128),
              Input((b, 32), high=10000)),
        layer("recurrent", "LSTM 28→128 over 28 steps (image rows in)",
              lambda nn: nn.LSTM(28, 128, batch_first=True),
              Input((b, 28, 28), requires_grad=False)),
        layer("recurrent", "GRU 28→128 over 28 steps (image rows in)",
              lambda nn: nn.GRU(28, 128, batch_first=True),
              Input((b, 28, 28), requires_grad=False)),
        layer("loss", "cross_entropy, 10 classes", lambda nn: nn.CrossEntropyLoss(),
              Input((b, 10)), Input((b,), high=10)),
        layer("loss", "nll_loss, 10 classes", lambda nn: nn.NLLLoss(),
              Input((b, 10)), Input((b,), high=10)),
    ]


# --------------------------------------------------------------------------- optimizers
# PyTorch's MNIST example CNN: conv 1→32 k3, conv 32→64 k3, linear 9216→128, linear 128→10
MNIST_CNN_SHAPES = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 9216), (128,),
                    (10, 128), (10,)]


def optimizer_row(name: str, make_optimizer: Callable) -> Row:
    """One ``optimizer.step()`` over the MNIST CNN's 1,199,882 parameters with fixed gradients;
    the check compares the parameters after one step."""

    def make_arrays():
        rng = np.random.default_rng(0)
        params = [rng.standard_normal(s, dtype=np.float32) * 0.05 for s in MNIST_CNN_SHAPES]
        grads = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in MNIST_CNN_SHAPES]
        return [params, grads]

    def build(framework, arrays):
        tensor, _, optim = _framework(framework)
        params = [tensor(p, requires_grad=True) for p in arrays[0]]
        for param, grad in zip(params, arrays[1]):
            param.grad = tensor(grad)
        optimizer = make_optimizer(optim, params)

        def step():
            optimizer.step()
            return params[4]  # the 9216→128 weight: 98% of the parameters

        return step, params

    return Row("optimizer", Case(name, make_arrays, build))


def _optimizer_rows() -> list[Row]:
    return [
        optimizer_row("SGD momentum 0.9 step, 1.2M parameters",
                      lambda optim, params: optim.SGD(params, lr=0.01, momentum=0.9)),
        optimizer_row("Adam step, 1.2M parameters",
                      lambda optim, params: optim.Adam(params, lr=1e-3)),
        optimizer_row("Adadelta step, 1.2M parameters",
                      lambda optim, params: optim.Adadelta(params)),
    ]


ROWS: list[Row] = _conv_rows() + _layer_rows() + _optimizer_rows()
