"""A variational autoencoder on MNIST (784-400-20, Bernoulli decoder), written as a PyTorch
program.

The imports are the only lines that name tinygen: write ``torch`` for ``tinygen`` and the
program runs on PyTorch. :func:`mnist` is the data source (``datasets.MNIST`` there).

    python examples/pytorch_style/vae.py --quick
"""

import argparse

import tinygen as torch
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen import optim
from tinygen.data import default_split
from tinygen.utils.data import DataLoader, TensorDataset


def mnist(train):
    """(1x28x28 image in [0, 1], label) pairs from the bundled MNIST split."""
    images, labels = default_split()[0 if train else 1]
    x = torch.tensor(images, dtype=torch.float32) / 255
    return TensorDataset(x.unsqueeze(1), torch.tensor(labels))


class VAE(nn.Module):
    """q(z|x) = N(mu, exp(logvar)) from one hidden layer; p(x|z) = Bernoulli(decode(z))."""

    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.encoder = nn.Linear(784, hidden)
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.decoder_hidden = nn.Linear(latent, hidden)
        self.decoder_out = nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.encoder(x))
        return self.to_mu(h), self.to_logvar(h)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        return torch.sigmoid(self.decoder_out(F.relu(self.decoder_hidden(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """The negative ELBO summed over the batch: reconstruction + KL(q(z|x) || N(0, I))."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def train(args, model, device, train_loader, optimizer, epoch):
    """One epoch (the first ``args.steps`` batches when set); returns the per-image losses."""
    model.train()
    losses = []
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        optimizer.step()
        losses.append(loss.item() / len(data))
        if batch_idx % args.log_interval == 0:
            print(f"Train epoch {epoch} [{batch_idx * len(data)}/{len(train_loader.dataset)}]"
                  f"\tloss {losses[-1]:.2f}")
        if batch_idx + 1 == args.steps:
            break
    return losses


def test(model, device, test_loader):
    """The mean negative ELBO per test image (nats)."""
    model.eval()
    test_loss = 0.0
    with torch.no_grad():
        for data, _ in test_loader:
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
    test_loss /= len(test_loader.dataset)
    print(f"Test: negative ELBO {test_loss:.2f} nats per image")
    return test_loss


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST VAE, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
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
    test_loader = DataLoader(mnist(train=False), batch_size=args.batch_size)

    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        test_loss = test(model, device, test_loader)
        with torch.no_grad():
            sample = model.decode(torch.randn(64, 20).to(device)).cpu()
        print(f"64 samples drawn from the prior: mean intensity {sample.mean().item():.3f}")
    return test_loss


if __name__ == "__main__":
    main()
