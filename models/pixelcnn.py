"""PixelCNN on binarized MNIST: p(x) = prod_i p(x_i | x_<i), one Bernoulli per pixel.

Masked convolutions make each output pixel see only the pixels before it in raster order: a
7x7 mask-A convolution (the centre hidden) reads the image, residual blocks of mask-B 3x3
convolutions (the centre visible: it holds features of earlier pixels only) follow, and 1x1
mask-B convolutions give one logit per pixel. Training is maximum likelihood; sampling goes
pixel by pixel. This file reads top to bottom: modules, loss, training loop, sampling, main().
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.data import DataLoader, binarized_split
from tinygen.optim import Adam
from tinygen.train import (
    RunLogger,
    add_model_flags,
    check_range,
    finish_run,
    format_summary,
    make_parser,
    open_checkpoint,
    parse_args,
    pause_point,
    positive_int,
    quick_notice,
    save_captioned_grid,
    save_image_grid,
    script,
)

PIXELS = 28 * 28
# The final summary's units (the PixelRNN's too).
UNITS = {"test_nll_nats": "nats per image (lower is better)",
         "test_bits_per_dim": "bits per pixel (lower is better)",
         "ms_per_step": "ms per training step"}


# =========================================================================== modules
class ResidualBlock(nn.Module):
    """x + 1x1(relu(3x3 mask-B(relu(1x1(relu(x)))))), halving the channels inside (as in the
    PixelCNN paper's residual block)."""

    def __init__(self, channels: int):
        self.reduce = nn.MaskedConv2d(channels, channels // 2, 1, mask_type="B")
        self.conv = nn.MaskedConv2d(channels // 2, channels // 2, 3, mask_type="B")
        self.expand = nn.MaskedConv2d(channels // 2, channels, 1, mask_type="B")

    def forward(self, x):
        h = self.reduce(F.relu(x))
        h = self.conv(F.relu(h))
        return x + self.expand(F.relu(h))


class PixelCNN(nn.Module):
    """(N, 1, 28, 28) binary images -> (N, 1, 28, 28) Bernoulli logits, causally."""

    def __init__(self, channels: int = 64, blocks: int = 5, head: int = 64):
        self.input = nn.MaskedConv2d(1, channels, 7, mask_type="A")
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.head = nn.Sequential(nn.ReLU(), nn.MaskedConv2d(channels, head, 1, mask_type="B"),
                                  nn.ReLU(), nn.MaskedConv2d(head, 1, 1, mask_type="B"))
        # how far an output pixel can see: 3 from the 7x7 input conv, 1 per 3x3 conv
        self.radius = 3 + blocks

    def forward(self, x):
        return self.head(self.blocks(self.input(x)))


# =========================================================================== loss
def nll_per_image(model, x):
    """-log p(x) in nats per image: the sum of the pixels' Bernoulli NLLs, (N,)."""
    return F.bernoulli_nll(model(x), x, reduction="none")


def bits_per_dim(nats_per_image: float) -> float:
    return nats_per_image / (PIXELS * math.log(2))


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


@tg.no_grad()
def evaluate(model, x_test, batch_size: int = 100) -> float:
    """Mean test NLL in nats per image."""
    model.eval()
    total = 0.0
    for start in range(0, len(x_test), batch_size):
        total += nll_per_image(model, tg.tensor(x_test[start:start + batch_size])).numpy().sum()
    return float(total / len(x_test))


# =========================================================================== sampling
@tg.no_grad()
def sample_naive(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """Fill pixels ``start``.. of ``images`` (N, 1, 28, 28) one at a time with a full forward
    pass per pixel. ``uniforms`` (N, 784) decides each Bernoulli draw: pixel = u < p."""
    model.eval()
    images = images.copy()
    for index in range(start, PIXELS):
        i, j = divmod(index, 28)
        logits = model(tg.tensor(images)).numpy()[:, 0, i, j]
        images[:, 0, i, j] = uniforms[:, index] < _sigmoid(logits)
    return images


@tg.no_grad()
def sample_fast(model, images: np.ndarray, uniforms: np.ndarray, start: int = 0):
    """The same draws as :func:`sample_naive`, computing only what the next pixel needs.

    Pixel (i, j)'s logit depends only on the input window of rows i-R..i and columns
    j-R..j+R (R = the model's receptive radius), so each step runs the network on that
    (R+1, 2R+1) window cut from a zero-padded copy of the image, instead of on all 28x28.
    Zero padding matches the convolutions' own, and the rows below the window are in the
    future, so the logit is the one the full pass computes.
    """
    model.eval()
    radius = model.radius
    n = images.shape[0]
    # zero border: R rows on top, R columns on each side
    canvas = np.zeros((n, 1, 28 + radius, 28 + 2 * radius), dtype=images.dtype)
    canvas[:, :, radius:, radius:radius + 28] = images
    for index in range(start, PIXELS):
        i, j = divmod(index, 28)
        window = canvas[:, :, i:i + radius + 1, j:j + 2 * radius + 1]
        logits = model(tg.tensor(window)).numpy()[:, 0, radius, radius]
        canvas[:, 0, i + radius, j + radius] = uniforms[:, index] < _sigmoid(logits)
    return canvas[:, :, radius:, radius:radius + 28]


def _sigmoid(logits):
    return 1.0 / (1.0 + np.exp(-logits))


def complete(model, originals: np.ndarray, seed: int, sampler=None) -> np.ndarray:
    """Keep the top half of each image and sample the bottom half (with ``sampler``, a fast
    sampler of the same signature as :func:`sample_fast`, which is the default)."""
    uniforms = np.random.default_rng(seed).random((len(originals), PIXELS))
    top = originals.copy()
    top[:, :, 14:] = 0
    return (sampler or sample_fast)(model, top, uniforms, start=14 * 28)


def save_pictures(model, x_test: np.ndarray, args, sampler=None) -> None:
    """Samples, completions of test images, and the receptive field, into ``args.out``.
    The PixelRNN shares this with its own fast ``sampler``."""
    sampler = sampler or sample_fast
    samples = 16 if args.quick else 64
    uniforms = np.random.default_rng(args.seed).random((samples, PIXELS))
    blank = np.zeros((samples, 1, 28, 28), dtype=np.float32)
    save_image_grid(sampler(model, blank, uniforms), args.out / "samples.png", nrow=8)
    originals = x_test[:8]
    completions = complete(model, originals, args.seed, sampler)
    save_captioned_grid(np.concatenate([originals, completions]),
                        args.out / "completions.png", nrow=8,
                        title="Top row: test digits. Bottom row: their top halves kept, the "
                              "bottom halves sampled by the model.",
                        row_labels=["original", "completed"])
    report = tg.check_causal(model, (1, 28, 28), pixels=8, seed=args.seed)
    report.save_heatmap(args.out / "receptive_field.png")


# =========================================================================== main
def parse_flags(argv) -> argparse.Namespace:
    """The command line, with ``--quick``'s small model and short run applied."""
    parser = make_parser("Train a PixelCNN on binarized MNIST (t10k[:8000], tested on "
                         "t10k[8000:]).", epochs=5, batch_size=32, lr=1e-3,
                         out="runs/pixelcnn")
    flags = add_model_flags(parser, "PixelCNN")
    flags.add_argument("--channels", type=positive_int, default=64,
                       help="feature channels h (>= 2: a residual block halves them)")
    flags.add_argument("--blocks", type=positive_int, default=5, help="residual mask-B blocks")
    flags.add_argument("--binarize", choices=["threshold", "stochastic"], default="threshold",
                       help="pixel > 127 (a quick, easy dataset), or Bernoulli(intensity) "
                            "sampled once with the seed (the papers' binarized MNIST)")
    args = parse_args(parser, argv)
    check_range(parser, args, "--channels", low=2)
    args.quick_steps = 150
    if args.quick:
        args.epochs, args.channels, args.blocks = 1, 16, 2
    return args


def load_images(args) -> tuple[np.ndarray, np.ndarray]:
    """(x_train, x_test): t10k[:8000] and t10k[8000:] (its first 200 with ``--quick``),
    binarized by ``args.binarize``, float32 (N, 1, 28, 28). The PixelRNN's data too."""
    (train_pixels, _), (test_pixels, _) = binarized_split(args.binarize, args.seed)
    x_test = test_pixels[:200] if args.quick else test_pixels
    return train_pixels[:, None].astype(np.float32), x_test[:, None].astype(np.float32)


@script
def main(argv=None) -> dict:
    args = parse_flags(argv)
    tg.manual_seed(args.seed)
    x_train, x_test = load_images(args)
    model = PixelCNN(args.channels, args.blocks).to(args.device)
    optimizer = Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                        device=args.device)
    checkpoint, state = open_checkpoint(args.out, args.resume, model=model, optimizer=optimizer,
                                        loader=loader)
    start_step, start_epoch = state["step"], state["epoch"]
    full = args.epochs * len(loader)
    total = min(full, args.quick_steps) if args.quick else full
    started = time.perf_counter()
    with RunLogger(args.out, total_steps=total, initial_step=start_step, desc="pixelcnn",
                   log_every=args.log_every, config=args, units=UNITS) as log:
        if args.quick:
            log.print(quick_notice("python -m models.pixelcnn", total, full,
                                   also="a smaller model, 16 samples"))
        step, epoch = train(model, optimizer, loader, args, log, checkpoint, start_step,
                            start_epoch)
        seconds = time.perf_counter() - started
        checkpoint.save(step=step, epoch=epoch)
        nll = evaluate(model, x_test)
        metrics = {"test_nll_nats": nll, "test_bits_per_dim": bits_per_dim(nll),
                   "binarization": args.binarize,
                   "ms_per_step": 1e3 * seconds / max(step - start_step, 1)}
        log.write(step, split="test", **metrics)
        log.print(format_summary(f"test set (t10k[8000:]), after {step} training steps:",
                                 metrics, UNITS, saved_in=log.path))
    save_pictures(model, x_test, args)
    finish_run(args.out)
    return metrics


if __name__ == "__main__":
    main()
