"""An MLP autoencoder on MNIST (784-128-32-128-784) trained with SGD and momentum, saved with
``torch.save`` and restored with ``load_state_dict``, written as a PyTorch program.

The imports are the only lines that name tinygen: write ``torch`` for ``tinygen`` and the
program runs on PyTorch. :func:`mnist` is the data source (``datasets.MNIST`` there).

    python examples/pytorch_style/autoencoder.py --quick
"""

import argparse
import os
import tempfile

import tinygen as torch
import tinygen.nn as nn
from tinygen import optim
from tinygen.data import default_split
from tinygen.utils.data import DataLoader, TensorDataset


def mnist(train):
    """(1x28x28 image in [0, 1], label) pairs from the bundled MNIST split."""
    images, labels = default_split()[0 if train else 1]
    x = torch.tensor(images, dtype=torch.float32) / 255
    return TensorDataset(x.unsqueeze(1), torch.tensor(labels))


def autoencoder(code_size=32):
    """Encoder and decoder as one Sequential; the middle layer is the code."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 128),
        nn.ReLU(),
        nn.Linear(128, code_size),
        nn.ReLU(),
        nn.Linear(code_size, 128),
        nn.ReLU(),
        nn.Linear(128, 28 * 28),
        nn.Sigmoid(),
        nn.Unflatten(1, (1, 28, 28)),
    )


def train(args, model, device, train_loader, optimizer, criterion, epoch):
    """One epoch (the first ``args.steps`` batches when set); returns the losses."""
    model.train()
    losses = []
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        loss = criterion(model(data), data)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print(f"Epoch {epoch} batch {batch_idx}: mean squared error {loss.item():.5f}")
        if batch_idx + 1 == args.steps:
            break
    return losses


def evaluate(model, device, loader, criterion):
    """The mean squared reconstruction error per pixel over ``loader``."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for data, _ in loader:
            data = data.to(device)
            total += criterion(model(data), data).item() * data.size(0)
            count += data.size(0)
    return total / count


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST MLP autoencoder, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    parser.add_argument("--quick", action="store_true", help="one epoch of 20 batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=20)
    parser.add_argument("--checkpoint", default=None, help="where to save the weights")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps = 1, args.steps or 20

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = DataLoader(mnist(train=True), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(mnist(train=False), batch_size=500)

    model = autoencoder().to(device)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, criterion, epoch)
        print(f"Epoch {epoch}: test error {evaluate(model, device, test_loader, criterion):.5f}")

    path = args.checkpoint or os.path.join(tempfile.mkdtemp(), "autoencoder.pt")
    torch.save(model.state_dict(), path)
    restored = autoencoder().to(device)
    restored.load_state_dict(torch.load(path))
    error = evaluate(restored, device, test_loader, criterion)
    print(f"Restored from {path}: test error {error:.5f}")
    return error


if __name__ == "__main__":
    main()
