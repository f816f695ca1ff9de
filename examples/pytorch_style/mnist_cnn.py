"""MNIST digits with a small CNN, Adadelta and a StepLR schedule, written as a PyTorch program.

The imports are the only lines that name tinygen: write ``torch`` for ``tinygen`` and the
program runs on PyTorch. :func:`mnist` is the data source, the one other line a torchvision
program writes differently (``datasets.MNIST(root, train=train, transform=...)``).

    python examples/pytorch_style/mnist_cnn.py --quick
"""

import argparse

import tinygen as torch
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen import optim
from tinygen.data import default_split
from tinygen.optim.lr_scheduler import StepLR
from tinygen.utils.data import DataLoader, TensorDataset


def mnist(train):
    """(1x28x28 image normalised to zero mean and unit variance, label) pairs: the bundled
    MNIST split (8,000 training and 2,000 test images)."""
    images, labels = default_split()[0 if train else 1]
    x = torch.tensor(images, dtype=torch.float32).div(255).sub(0.1307).div(0.3081)
    return TensorDataset(x.unsqueeze(1), torch.tensor(labels))


class Net(nn.Module):
    """conv-relu-conv-relu-maxpool-dropout-flatten-fc-relu-dropout-fc-log_softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32 * 12 * 12, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, device, train_loader, optimizer, epoch):
    """One epoch (the first ``args.steps`` batches of it when set); returns the losses."""
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print(f"Train epoch {epoch} [{batch_idx * data.size(0)}/"
                  f"{len(train_loader.dataset)}]\tloss {loss.item():.4f}")
        if batch_idx + 1 == args.steps:
            break
    return losses


def test(model, device, test_loader):
    """Returns (mean loss, accuracy in percent) over the test set."""
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    accuracy = 100.0 * correct / len(test_loader.dataset)
    print(f"Test: mean loss {test_loss:.4f}, accuracy {correct}/{len(test_loader.dataset)} "
          f"({accuracy:.1f}%)")
    return test_loss, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST CNN, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7, help="StepLR's decay per epoch")
    parser.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    parser.add_argument("--quick", action="store_true", help="one epoch of 20 batches")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=20)
    parser.add_argument("--save-model", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps = 1, args.steps or 20

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = DataLoader(mnist(train=True), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(mnist(train=False), batch_size=args.test_batch_size)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        _, accuracy = test(model, device, test_loader)
        scheduler.step()
    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")
    return accuracy


if __name__ == "__main__":
    main()
