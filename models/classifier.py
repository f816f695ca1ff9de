"""A small convolutional MNIST classifier: the project's end-to-end smoke test.

Trains on the bundled split t10k[:8000] (pixels / 255) and reports accuracy on t10k[8000:].
Run it with ``python -m models.classifier`` (``--quick`` for a few hundred steps).
It writes ``OUT/metrics.jsonl``, ``OUT/metrics.png``, ``OUT/checkpoint.npz`` and the weights
as ``OUT/classifier.safetensors`` (PyTorch key names).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.data import DataLoader, default_split
from tinygen.optim import Adam
from tinygen.train import (
    RunLogger,
    add_model_flags,
    finish_run,
    make_parser,
    open_checkpoint,
    parse_args,
    pause_point,
    positive_int,
    quick_notice,
    save_safetensors,
    script,
)

QUICK_STEPS = 200


# ----------------------------------------------------------------------------- the model
class ConvClassifier(nn.Module):
    """Two conv-ReLU-maxpool stages and a linear read-out: (N, 1, 28, 28) -> (N, 10) logits."""

    def __init__(self, width: int = 32):
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, w, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 2w, 7, 7)
        return self.fc(x.reshape(x.shape[0], -1))   # (N, 2w*7*7) -> (N, 10)


def to_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return (images[:, None] / np.float32(255)).astype(np.float32)


@tg.no_grad()
def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a loader, in eval mode."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(axis=1).data == y.data).sum())
        count += len(y)
    model.train()
    return total_loss / count, correct / count


# ----------------------------------------------------------------------------- training
def train(model, optimizer, loader, test_loader, args, log, checkpoint, max_steps: int,
          step: int = 0, start_epoch: int = 0) -> tuple[int, float, float]:
    """The training loop: epochs of steps, each followed by a checkpoint and a test
    evaluation, until ``args.epochs`` or ``max_steps``. Returns (step, test loss, accuracy)."""
    test_loss, accuracy = evaluate(model, test_loader)  # the curve's starting point
    if step == 0:  # a resumed run's starting point is in the metrics already
        log.write(step, split="test", loss=test_loss, accuracy=accuracy)
    for epoch in range(start_epoch, args.epochs):
        for x, y in loader:
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            step += 1
            log.step(step, epoch=epoch, loss=loss.item())
            if step >= max_steps:
                break
            if step % len(loader):  # the epoch's last step pauses after its evaluation
                pause_point(args, checkpoint, step, epoch)
        # An epoch cut short (--quick) resumes inside it; a finished one, at the next.
        finished = step % len(loader) == 0
        checkpoint.save(step=step, epoch=epoch + 1 if finished else epoch)
        test_loss, accuracy = evaluate(model, test_loader)
        log.write(step, epoch=epoch, split="test", loss=test_loss, accuracy=accuracy)
        log.print(f"epoch {epoch}: test loss {test_loss:.4f}, accuracy {accuracy:.2%} "
                  f"on t10k[8000:]")
        if step >= max_steps:
            break
        pause_point(args, checkpoint, step, epoch + 1)
    return step, test_loss, accuracy


# ----------------------------------------------------------------------------- main
def parse_flags(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the shared flags and the width of the convs."""
    parser = make_parser(__doc__.splitlines()[0], epochs=4, batch_size=64, lr=1e-3,
                         out="runs/classifier")
    add_model_flags(parser, "classifier").add_argument(
        "--width", type=positive_int, default=32,
        help="channels of the first conv (the second: 2x)")
    return parse_args(parser, argv)


@script
def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate after every epoch, checkpoint; returns the final test metrics."""
    args = parse_flags(argv)
    tg.manual_seed(args.seed)
    (train_images, train_labels), (test_images, test_labels) = default_split()
    loader = DataLoader(to_inputs(train_images), train_labels, batch_size=args.batch_size,
                        shuffle=True, seed=args.seed, device=args.device)
    test_loader = DataLoader(to_inputs(test_images), test_labels, batch_size=500,
                             device=args.device)
    model = ConvClassifier(args.width).to(args.device)
    optimizer = Adam(model.parameters(), lr=args.lr)
    checkpoint, state = open_checkpoint(args.out, args.resume, model=model, optimizer=optimizer,
                                        loader=loader)
    max_steps = args.epochs * len(loader)
    if args.quick:
        max_steps = min(max_steps, QUICK_STEPS)
    started = time.perf_counter()
    with RunLogger(args.out, total_steps=max_steps, initial_step=state["step"],
                   log_every=args.log_every, config=args) as log:
        if args.quick:
            log.print(quick_notice("python -m models.classifier", max_steps,
                                   args.epochs * len(loader)))
        step, test_loss, accuracy = train(model, optimizer, loader, test_loader, args, log,
                                          checkpoint, max_steps, state["step"], state["epoch"])
    seconds = time.perf_counter() - started
    finish_run(args.out)
    save_safetensors(model, args.out / "classifier.safetensors")
    print(f"test accuracy {accuracy:.2%} on t10k[8000:] (trained on t10k[:8000], {step} steps, "
          f"{seconds:.0f} s); metrics and plot in {args.out}")
    return {"accuracy": accuracy, "loss": test_loss, "steps": step, "seconds": seconds}


if __name__ == "__main__":
    main()
