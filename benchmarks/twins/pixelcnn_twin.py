"""A PyTorch twin of models/pixelcnn.py, trained the same way, for docs/RESULTS.md.

Same architecture (7x7 mask-A input conv, residual blocks of 1x1 / 3x3 mask-B / 1x1 convs,
1x1 mask-B head), PyTorch's default init (tinygen's layers follow it), the same data order
(tinygen's DataLoader with the same seed), Adam 1e-3, batch 32, threshold binarization
(``--binarize stochastic``: the literature's, sampled once with the seed, as tinygen does).

    python -m benchmarks.twins.pixelcnn_twin --epochs 1
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tinygen.data import DataLoader, binarize, default_split
from tinygen.nn.functional import conv_mask


class MaskedConv(nn.Conv2d):
    """nn.Conv2d with a fixed PixelCNN mask on its weight and "same" padding (the PixelRNN
    twin uses it too)."""

    def __init__(self, cin, cout, kernel_size, mask_type):
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(cin, cout, (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer("mask", torch.tensor(conv_mask(self.weight.shape, mask_type)))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.reduce = MaskedConv(channels, channels // 2, 1, "B")
        self.conv = MaskedConv(channels // 2, channels // 2, 3, "B")
        self.expand = MaskedConv(channels // 2, channels, 1, "B")

    def forward(self, x):
        return x + self.expand(F.relu(self.conv(F.relu(self.reduce(F.relu(x))))))


class TwinPixelCNN(nn.Module):
    def __init__(self, channels=64, blocks=5, head=64):
        super().__init__()
        self.input = MaskedConv(1, channels, 7, "A")
        self.blocks = nn.Sequential(*[Block(channels) for _ in range(blocks)])
        self.head = nn.Sequential(nn.ReLU(), MaskedConv(channels, head, 1, "B"), nn.ReLU(),
                                  MaskedConv(head, 1, 1, "B"))

    def forward(self, x):
        return self.head(self.blocks(self.input(x)))


def nll(model, x):
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="none").sum((1, 2, 3))


def binarized_split(binarization: str, seed: int):
    """t10k[:8000] (numpy, for tinygen's DataLoader) and t10k[8000:] (a torch tensor), both
    (N, 1, 28, 28), binarized exactly as models/pixelcnn.py and models/pixelrnn.py do."""
    (train_images, _), (test_images, _) = default_split()
    binary = binarize(np.concatenate([train_images, test_images]), binarization,
                      seed=seed if binarization == "stochastic" else None)
    return (binary[:8000, None].astype(np.float32),
            torch.tensor(binary[8000:, None].astype(np.float32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--binarize", choices=["threshold", "stochastic"], default="threshold")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, x_test = binarized_split(args.binarize, args.seed)
    model = TwinPixelCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(x_train, batch_size=32, shuffle=True, seed=args.seed)
    steps, seconds = 0, 0.0
    for _ in range(args.epochs):
        for (x,) in loader:
            start = time.perf_counter()
            loss = nll(model, torch.tensor(x.numpy())).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds += time.perf_counter() - start
            steps += 1
    with torch.no_grad():
        test = float(torch.cat([nll(model, x_test[i:i + 100])
                                for i in range(0, len(x_test), 100)]).mean())
    print(json.dumps({"epochs": args.epochs, "steps": steps, "ms_per_step": 1e3 * seconds / steps,
                      "test_nll_nats": test, "test_bits_per_dim": test / (784 * math.log(2))}))


if __name__ == "__main__":
    main()
