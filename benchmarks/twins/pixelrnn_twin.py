"""A PyTorch twin of models/pixelrnn.py (Row LSTM and Diagonal BiLSTM), trained the same way.

Same architecture (7x7 mask-A input conv, residual PixelRNN layers x + 1x1 mask-B conv of
their states, a ReLU / 1x1 mask-B / ReLU / 1x1 mask-B head), the same parameter shapes and
PyTorch's default init (tinygen's layers follow it, so weights copy one to one: see
tests/parity/test_pixelrnn_parity.py), the same data order (tinygen's DataLoader with the
same seed), Adam 1e-3, batch 32, threshold binarization, trained on t10k[:8000] and tested
on t10k[8000:]. Written as a PyTorch user would write it: the LSTM cell stays in the maps'
channel layout, and the Diagonal LSTM's 2 x 1 state conv is one matmul per diagonal.

    python -m benchmarks.twins.pixelrnn_twin --layer row --epochs 1 --out runs/pixelrnn_row_twin
    python -m benchmarks.twins.pixelrnn_twin --layer diag --epochs 1 --out runs/pixelrnn_diag_twin
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import tinygen as tg
from benchmarks.twins.pixelcnn_twin import MaskedConv, binarized_split, nll
from models import pixelrnn
from tinygen.data import DataLoader


def lstm_cell(gates, c_prev, dim=1):
    """Gates i, f, g, o stacked on axis ``dim`` -> (h, c), in the layout of ``c_prev``."""
    i, f, g, o = gates.chunk(4, dim=dim)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RowLSTM(nn.Module):
    """(N, C, H, W) -> (N, h, H, W): masked 1 x k input conv, 1 x k conv of the row above."""

    def __init__(self, in_channels, hidden_size, kernel_size=3):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_to_state = MaskedConv(in_channels, 4 * hidden_size, (1, kernel_size), "B")
        self.state_to_state = nn.Conv2d(hidden_size, 4 * hidden_size, (1, kernel_size),
                                        padding=(0, kernel_size // 2), bias=False)

    def forward(self, x):
        n, _, height, width = x.shape
        gates = self.input_to_state(x)  # (N, 4h, H, W)
        h = x.new_zeros(n, self.hidden_size, 1, width)
        c = x.new_zeros(n, self.hidden_size, 1, width)
        rows = []
        for row_gates in gates.split(1, dim=2):  # H x (N, 4h, 1, W)
            h, c = lstm_cell(row_gates + self.state_to_state(h), c)
            rows.append(h)
        return torch.cat(rows, dim=2)  # H x (N, h, 1, W) -> (N, h, H, W)


def skew(x):
    """(N, C, H, W) -> (N, C, H, W+H-1): row i shifted right by i."""
    n, c, height, width = x.shape
    # (N, C, H, W+H) -> (N, C, H*(W+H)), first H*(W+H-1) entries -> (N, C, H, W+H-1)
    padded = F.pad(x, (0, height)).reshape(n, c, height * (width + height))
    return padded[..., :height * (width + height - 1)].reshape(n, c, height, -1)


def unskew(y):
    """(N, C, H, W+H-1) -> (N, C, H, W), the inverse of :func:`skew`."""
    n, c, height, wide = y.shape
    width = wide - height + 1
    # (N, C, H*(W+H-1)) + H zeros -> (N, C, H, W+H): row i starts at y[i, i]
    flat = F.pad(y.reshape(n, c, height * wide), (0, height))
    return flat.reshape(n, c, height, width + height)[..., :width]


class DiagonalLSTM(nn.Module):
    """One direction: a 1x1 input conv, a 2 x 1 conv over [above, left] in skewed coordinates.
    The padding cells left of each row get zero gates (skewed after the input conv), so their
    states stay zero and each row starts from zeros at its left border, as in tinygen."""

    def __init__(self, in_channels, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_to_state = nn.Conv2d(in_channels, 4 * hidden_size, 1)
        self.state_to_state = nn.Conv2d(hidden_size, 4 * hidden_size, (2, 1), bias=False)

    def forward(self, x):
        n, _, height, _ = x.shape
        hidden = self.hidden_size
        gates = skew(self.input_to_state(x))  # (N, 4h, H, W'), zeros off the image
        # (N, 4h, H, W') -> (W', N, H, 4h): one contiguous slab per diagonal
        gates = gates.permute(3, 0, 2, 1).contiguous()
        # (4h, h, 2, 1) -> (4h, 2h) -> (2h, 4h): rows [tap above; tap left]
        kernel = self.state_to_state.weight.permute(0, 2, 1, 3).reshape(4 * hidden, -1).t()
        h = x.new_zeros(n, height, hidden)
        c = x.new_zeros(n, height, hidden)
        columns = []
        # unbind, not gates[t]: its backward is one stack, where each select's would fill a
        # full-size zero gradient
        for slab in gates.unbind(0):  # W' x (N, H, 4h)
            h_above = F.pad(h[:, :-1], (0, 0, 1, 0))  # (N, H, h): row i reads row i-1
            h, c = lstm_cell(slab + torch.cat([h_above, h], 2) @ kernel, c, dim=2)
            columns.append(h)
        # W' x (N, H, h) -> (N, H, W', h) -> (N, h, H, W')
        return unskew(torch.stack(columns, 2).permute(0, 3, 1, 2))


class DiagonalBiLSTM(nn.Module):
    """left(x) + right-to-left LSTM on the flipped map, flipped back and shifted down a row."""

    def __init__(self, in_channels, hidden_size):
        super().__init__()
        self.left = DiagonalLSTM(in_channels, hidden_size)
        self.right = DiagonalLSTM(in_channels, hidden_size)

    def forward(self, x):
        right = self.right(x.flip(3)).flip(3)
        return self.left(x) + F.pad(right[:, :, :-1], (0, 0, 1, 0))


class ResidualRNN(nn.Module):
    def __init__(self, layer, channels, hidden):
        super().__init__()
        self.rnn = RowLSTM(channels, hidden, 3) if layer == "row" \
            else DiagonalBiLSTM(channels, hidden)
        self.output = MaskedConv(hidden, channels, 1, "B")

    def forward(self, x):
        return x + self.output(self.rnn(x))


class TwinPixelRNN(nn.Module):
    def __init__(self, layer="row", channels=32, hidden=32, layers=2, head=32):
        super().__init__()
        self.input = MaskedConv(1, channels, 7, "A")
        self.layers = nn.Sequential(*[ResidualRNN(layer, channels, hidden)
                                      for _ in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), MaskedConv(channels, head, 1, "B"), nn.ReLU(),
                                  MaskedConv(head, 1, 1, "B"))

    def forward(self, x):
        return self.head(self.layers(self.input(x)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=["row", "diag"], default="row")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--binarize", choices=["threshold", "stochastic"], default="threshold")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many steps (a documented shorter run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder for metrics.json")
    parser.add_argument("--init", choices=["torch", "tinygen"], default="torch",
                        help="torch: PyTorch's own draw of the same init scheme; tinygen: "
                             "copy the very weights models/pixelrnn.py starts from (the same "
                             "seed), to tell init noise from a difference in the training")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x_train, x_test = binarized_split(args.binarize, args.seed)
    model = TwinPixelRNN(args.layer, 2 * args.hidden, args.hidden, args.layers,
                         head=2 * args.hidden)
    if args.init == "tinygen":
        tg.manual_seed(args.seed)  # as models/pixelrnn.py's main() does before building
        ours = pixelrnn.PixelRNN(args.layer, 2 * args.hidden, args.hidden, args.layers,
                                 head=2 * args.hidden)
        model.load_state_dict({name: torch.tensor(value)
                               for name, value in ours.state_dict().items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    steps = 0
    started = time.perf_counter()
    for _ in range(args.epochs):
        for (x,) in loader:
            loss = nll(model, torch.tensor(x.numpy())).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if steps == args.steps:
                break
        if steps == args.steps:
            break
    seconds = time.perf_counter() - started
    with torch.no_grad():
        test = float(torch.cat([nll(model, x_test[i:i + 100])
                                for i in range(0, len(x_test), 100)]).mean())
    metrics = {"layer": args.layer, "init": args.init, "epochs": args.epochs, "steps": steps,
               "ms_per_step": 1e3 * seconds / steps, "train_seconds": seconds,
               "test_nll_nats": test, "test_bits_per_dim": test / (784 * math.log(2))}
    print(json.dumps(metrics))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


if __name__ == "__main__":
    main()
