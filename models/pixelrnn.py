"""PixelRNN on binarized MNIST: p(x) = prod_i p(x_i | x_<i), one Bernoulli per pixel.

A 7x7 mask-A convolution reads the image (each feature at (i, j) sees only pixels before
it), a few residual PixelRNN layers follow (``--layer row``: Row LSTM; ``--layer diag``:
Diagonal BiLSTM; both from ``tinygen.nn``), and 1x1 mask-B convolutions give one logit per
pixel. Training is maximum likelihood. Sampling goes pixel by pixel: naively with a full
forward per pixel, or fast by carrying the recurrent states, as each layer's own recurrence
does. This file reads top to bottom: modules, loss, training loop, sampling, main().
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from models import pixelcnn
from tinygen.data import DataLoader
from tinygen.optim import Adam
from tinygen.train import (
    RunLogger,
    add_model_flags,
    finish_run,
    format_summary,
    make_parser,
    open_checkpoint,
    parse_args,
    pause_point,
    positive_int,
    quick_notice,
    script,
)

PIXELS = 28 * 28


# =========================================================================== modules
class ResidualRNN(nn.Module):
    """x + 1x1(rnn(x)): a PixelRNN layer whose states are projected back to the input's
    channels and added to it, as in the paper's residual connections."""

    def __init__(self, layer: str, channels: int, hidden: int):
        if layer == "row":
            self.rnn = nn.RowLSTM(channels, hidden, kernel_size=3)
        elif layer == "diag":
            self.rnn = nn.DiagonalBiLSTM(channels, hidden)
        else:
            raise ValueError(f"ResidualRNN: layer must be 'row' or 'diag', got {layer!r}")
        self.output = nn.MaskedConv2d(hidden, channels, 1, mask_type="B")

    def forward(self, x):
        return x + self.output(self.rnn(x))


class PixelRNN(nn.Module):
    """(N, 1, H, W) binary images -> (N, 1, H, W) Bernoulli logits, causally."""

    def __init__(self, layer: str = "row", channels: int = 32, hidden: int = 32,
                 layers: int = 2, head: int = 32):
        self.layer = layer
        self.input = nn.MaskedConv2d(1, channels, 7, mask_type="A")
        self.layers = nn.Sequential(*[ResidualRNN(layer, channels, hidden)
                                      for _ in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.MaskedConv2d(channels, head, 1, mask_type="B"),
                                  nn.ReLU(), nn.MaskedConv2d(head, 1, 1, mask_type="B"))

    def forward(self, x):
        return self.head(self.layers(self.input(x)))


# =========================================================================== loss
# The same likelihood as the PixelCNN's (one Bernoulli per pixel), so its loss, bits/dim and
# test evaluation are shared; only the layers between the masked convolutions differ.
nll_per_image = pixelcnn.nll_per_image
bits_per_dim = pixelcnn.bits_per_dim


# =========================================================================== training
def train(model, optimizer, loader, args, log, checkpoint, start_step=0, start_epoch=0):
    step = start_step
    for epoch in range(start_epoch, args.epochs):
        model.train()
        for (x,) in loader:
            loss = nll_per_image(model, x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            log.step(step, epoch=epoch, loss=loss.item())
            if args.quick and step >= args.quick_steps:
                return step, epoch
            if step % len(loader):  # an epoch's last step pauses after its checkpoint
                pause_point(args, checkpoint, step, epoch)
        checkpoint.save(step=step, epoch=epoch + 1)
        pause_point(args, checkpoint, step, epoch + 1)
    return step, args.epochs


evaluate = pixelcnn.evaluate


# =========================================================================== sampling
@tg.no_grad()
def sample_naive(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """Fill pixels ``start``.. of ``images`` (N, 1, H, W) one at a time with a full forward
    pass per pixel. ``uniforms`` (N, H*W) decides each Bernoulli draw: pixel = u < p."""
    model.eval()
    images = images.copy()
    width = images.shape[3]
    for index in range(start, images.shape[2] * width):
        i, j = divmod(index, width)
        logits = model(tg.tensor(images)).numpy()[:, 0, i, j]
        images[:, 0, i, j] = uniforms[:, index] < _sigmoid(logits)
    return images


def sample_fast(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """The same draws as :func:`sample_naive`, carrying the recurrent states instead of
    recomputing the whole image per pixel (the sampler that fits ``model.layer``)."""
    sampler = sample_fast_row if model.layer == "row" else sample_fast_diagonal
    return sampler(model, images, uniforms, start)


@tg.no_grad()
def sample_fast_row(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """Row LSTM: carry each layer's (h, c) of the row above, so a pixel costs one row step.

    The states of row i at column j depend only on pixels before (i, j), so the row's run
    for its last pixel leaves the final states, carried to row i+1. Rows above ``start``
    (given, not sampled) take one row step each to build their states.
    """
    model.eval()
    n, _, height, width = images.shape
    canvas = _padded_canvas(model, images)
    states = [layer.rnn.initial_state(n, width, like=model.input.weight)
              for layer in model.layers]
    for i in range(height):
        # a row before ``start`` still takes one step (at its last column) for its states
        for j in range(min(max(start - i * width, 0), width - 1), width):
            x = _input_conv(model, canvas, i, slice(None))  # (N, C, 1, W)
            row_states = []
            for layer, state in zip(model.layers, states):
                row_states.append(layer.rnn.step(layer.rnn.row_gates(x), state))
                # (N, W, h) -> (N, h, W) -> (N, h, 1, W), for the residual's 1x1 conv
                h = tg.reshape(tg.permute(row_states[-1][0], (0, 2, 1)), (n, -1, 1, width))
                x = x + layer.output(h)
            if i * width + j >= start:
                logits = model.head(x).numpy()[:, 0, 0, j]
                _draw(canvas, model, i, j, uniforms[:, i * width + j] < _sigmoid(logits))
        states = row_states
    return _unpad(canvas, model, height, width)


@tg.no_grad()
def sample_fast_diagonal(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """Diagonal BiLSTM: carry the states of the row above and of the pixel on the left.

    In image coordinates the left-to-right LSTM is the recurrence
    state(i, j) = cell(input(i, j), h(i-1, j), state(i, j-1)), so each pixel costs one cell
    per layer. The right-to-left LSTM reaches row i only through its one-row shift, so it
    needs row i-1's states alone: once a row is drawn, one right-to-left sweep over its
    inputs (kept on the way) gives them. Rows before ``start`` go through the same loop
    without drawing, to build the states.
    """
    model.eval()
    n, _, height, width = images.shape
    canvas = _padded_canvas(model, images)
    rnns = [layer.rnn for layer in model.layers]
    kernels = [(rnn.left.state_kernel(), rnn.right.state_kernel()) for rnn in rnns]
    zero = tg.zeros(n, rnns[0].hidden_size, dtype=model.input.weight.dtype)
    left_above = [[zero] * width for _ in rnns]  # h of the row above, per layer and column
    right_above = [[zero] * width for _ in rnns]
    for i in range(height):
        inputs = [[] for _ in rnns]  # each layer's input at each pixel of this row
        left_row = [[] for _ in rnns]
        left_state = [(zero, zero) for _ in rnns]  # (h, c) of the pixel on the left
        for j in range(width):
            x = _input_conv(model, canvas, i, slice(j, j + 1))  # (N, C, 1, 1)
            for k, (layer, rnn) in enumerate(zip(model.layers, rnns)):
                inputs[k].append(x)
                # (N, C, 1, 1) -> (N, C): the 1x1 conv's gates at this pixel
                gates = rnn.left.input_gates(tg.reshape(x, (n, -1)))
                left_state[k] = rnn.left.step(gates, left_above[k][j], *left_state[k],
                                              kernels[k][0])
                left_row[k].append(left_state[k][0])
                # (N, h) -> (N, h, 1, 1), for the residual's 1x1 conv
                states = tg.reshape(left_state[k][0] + right_above[k][j], (n, -1, 1, 1))
                x = x + layer.output(states)
            index = i * width + j
            if index >= start:
                logit = model.head(x).numpy()[:, 0, 0, 0]
                _draw(canvas, model, i, j, uniforms[:, index] < _sigmoid(logit))
        for k, rnn in enumerate(rnns):
            right_row, state = [None] * width, (zero, zero)
            for j in reversed(range(width)):
                # (N, C, 1, 1) -> (N, C)
                gates = rnn.right.input_gates(tg.reshape(inputs[k][j], (n, -1)))
                state = rnn.right.step(gates, right_above[k][j], *state, kernels[k][1])
                right_row[j] = state[0]
            left_above[k], right_above[k] = left_row[k], right_row
    return _unpad(canvas, model, height, width)


def _padded_canvas(model, images: np.ndarray) -> np.ndarray:
    """A copy of ``images`` with the input conv's reach of zeros above and on both sides
    (the padding it applies itself; the rows below are hidden by its mask)."""
    reach_h, reach_w = model.input.padding
    return np.pad(images, ((0, 0), (0, 0), (reach_h, 0), (reach_w, reach_w)))


def _input_conv(model, canvas: np.ndarray, i: int, columns: slice):
    """The mask-A input conv's output at row i and ``columns`` (N, C, 1, len), from the
    kernel's top rows only: its mask zeroes the rows below the centre."""
    conv = model.input
    reach_h, reach_w = conv.padding
    if columns.stop is not None:  # the window of padded columns these outputs read
        columns = slice(columns.start, columns.stop + 2 * reach_w)
    window = tg.tensor(canvas[:, :, i:i + reach_h + 1, columns])
    weight = (conv.weight * conv.mask)[:, :, :reach_h + 1]
    return F.conv2d(window, weight, conv.bias)


def _draw(canvas: np.ndarray, model, i: int, j: int, values: np.ndarray) -> None:
    reach_h, reach_w = model.input.padding
    canvas[:, 0, i + reach_h, j + reach_w] = values


def _unpad(canvas: np.ndarray, model, height: int, width: int) -> np.ndarray:
    reach_h, reach_w = model.input.padding
    return canvas[:, :, reach_h:reach_h + height, reach_w:reach_w + width].copy()


def _sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


# =========================================================================== main
def parse_flags(argv) -> argparse.Namespace:
    """The command line, with ``--quick``'s small model and short run applied."""
    parser = make_parser("Train a PixelRNN (Row LSTM or Diagonal BiLSTM) on binarized MNIST "
                         "(t10k[:8000], tested on t10k[8000:]).", epochs=5, batch_size=32,
                         lr=1e-3, out="runs/pixelrnn")
    flags = add_model_flags(parser, "PixelRNN")
    flags.add_argument("--layer", choices=["row", "diag"], default="row",
                       help="Row LSTM or Diagonal BiLSTM layers")
    flags.add_argument("--layers", type=positive_int, default=2,
                       help="residual PixelRNN layers")
    flags.add_argument("--hidden", type=positive_int, default=32,
                       help="LSTM state channels h (the layers' maps have 2h)")
    flags.add_argument("--binarize", choices=["threshold", "stochastic"], default="threshold",
                       help="pixel > 127 (a quick, easy dataset), or Bernoulli(intensity) "
                            "sampled once with the seed (the papers' binarized MNIST)")
    args = parse_args(parser, argv)
    args.quick_steps = 150
    if args.quick:
        args.epochs, args.hidden, args.layers = 1, 8, 1
    return args


@script
def main(argv=None) -> dict:
    args = parse_flags(argv)
    tg.manual_seed(args.seed)
    x_train, x_test = pixelcnn.load_images(args)
    model = PixelRNN(args.layer, 2 * args.hidden, args.hidden, args.layers,
                     head=2 * args.hidden).to(args.device)
    optimizer = Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                        device=args.device)
    checkpoint, state = open_checkpoint(args.out, args.resume, model=model, optimizer=optimizer,
                                        loader=loader)
    start_step, start_epoch = state["step"], state["epoch"]
    full = args.epochs * len(loader)
    total = min(full, args.quick_steps) if args.quick else full
    started = time.perf_counter()
    with RunLogger(args.out, total_steps=total, initial_step=start_step,
                   desc=f"pixelrnn-{args.layer}", log_every=args.log_every, config=args,
                   units=pixelcnn.UNITS) as log:
        if args.quick:
            log.print(quick_notice(f"python -m models.pixelrnn --layer {args.layer}", total,
                                   full, also="a smaller model, 16 samples"))
        step, epoch = train(model, optimizer, loader, args, log, checkpoint, start_step,
                            start_epoch)
        seconds = time.perf_counter() - started
        checkpoint.save(step=step, epoch=epoch)
        nll = evaluate(model, x_test)
        metrics = {"layer": args.layer, "test_nll_nats": nll,
                   "test_bits_per_dim": bits_per_dim(nll), "binarization": args.binarize,
                   "ms_per_step": 1e3 * seconds / max(step - start_step, 1)}
        log.write(step, split="test", **metrics)
        log.print(format_summary(f"test set (t10k[8000:]), after {step} training steps:",
                                 metrics, pixelcnn.UNITS, saved_in=log.path))
    pixelcnn.save_pictures(model, x_test, args, sample_fast)
    finish_run(args.out)
    return metrics


if __name__ == "__main__":
    main()
