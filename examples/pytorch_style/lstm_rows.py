"""MNIST digits read row by row by an LSTM (28 steps of 28 pixels), written as a PyTorch
program.

The imports are the only lines that name tinygen: write ``torch`` for ``tinygen`` and the
program runs on PyTorch. :func:`mnist` is the data source (``datasets.MNIST`` there).

    python examples/pytorch_style/lstm_rows.py --quick
"""

import argparse

import tinygen as torch
import tinygen.nn as nn
from tinygen.data import default_split
from tinygen.utils.data import DataLoader, TensorDataset


def mnist(train):
    """(1x28x28 image in [0, 1], label) pairs from the bundled MNIST split."""
    images, labels = default_split()[0 if train else 1]
    x = torch.tensor(images, dtype=torch.float32) / 255
    return TensorDataset(x.unsqueeze(1), torch.tensor(labels))


class RowClassifier(nn.Module):
    """Each image row is one time step; the last hidden state predicts the digit."""

    def __init__(self, input_size=28, hidden_size=128, num_classes=10):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, (h_n, c_n) = self.lstm(x)  # out (N, 28, H); h_n (num_layers, N, H)
        return self.fc(h_n[-1])


def train(args, model, device, train_loader, optimizer, criterion, epoch):
    """One epoch (the first ``args.steps`` batches when set); returns the losses."""
    model.train()
    losses = []
    for i, (images, labels) in enumerate(train_loader):
        images = images.reshape(-1, 28, 28).to(device)
        labels = labels.to(device)
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if i % args.log_interval == 0:
            print(f"Epoch {epoch}, step {i}/{len(train_loader)}: loss {loss.item():.4f}")
        if i + 1 == args.steps:
            break
    return losses


def test(model, device, test_loader):
    """The test accuracy in percent."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            images = images.reshape(-1, 28, 28).to(device)
            labels = labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    accuracy = 100 * correct / total
    print(f"Test accuracy: {accuracy:.1f}% of {total} images")
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST row LSTM, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    parser.add_argument("--quick", action="store_true", help="one epoch of 20 batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=20)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps = 1, args.steps or 20

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = DataLoader(mnist(train=True), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(mnist(train=False), batch_size=args.batch_size, shuffle=False)

    model = RowClassifier(28, args.hidden_size, 10).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, criterion, epoch)
        accuracy = test(model, device, test_loader)
    return accuracy


if __name__ == "__main__":
    main()
