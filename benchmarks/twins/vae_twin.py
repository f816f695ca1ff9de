"""PyTorch twins of the MLP VAE and of M2, trained exactly as models/vae.py trains them.

Same architecture, PyTorch's default initialisation (which tinygen's layers follow), the
same data (binarized t10k[:8000], tinygen's DataLoader for the batch order), the same
hyperparameters; for M2 the same recipe too (a strided-conv classifier with dropout, random
shifts of up to 2 pixels and dynamic binarization of the training batches, a cosine
learning-rate decay). Prints the test
-ELBO, the IWAE bound, M2's accuracy and the time per training step of both
implementations, for docs/RESULTS.md.

    python benchmarks/twins/vae_twin.py --model vae --epochs 30
    python benchmarks/twins/vae_twin.py --model m2 --labels 100 --epochs 30
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

PIXELS, DIGITS = 784, 10


class TwinVAE(nn.Module):
    def __init__(self, latent, hidden, condition=0):
        super().__init__()
        self.enc_hidden = nn.Linear(PIXELS + condition, hidden)
        self.enc_mu = nn.Linear(hidden, latent)
        self.enc_logvar = nn.Linear(hidden, latent)
        self.dec_hidden = nn.Linear(latent + condition, hidden)
        self.dec_out = nn.Linear(hidden, PIXELS)

    def encode(self, x, y=None):
        h = F.relu(self.enc_hidden(x if y is None else torch.cat([x, y], 1)))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z, y=None):
        return self.dec_out(F.relu(self.dec_hidden(z if y is None else torch.cat([z, y], 1))))


def negative_elbo(model, x, y=None):
    mu, logvar = model.encode(x, y)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode(z, y)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
    return reconstruction + kl


class TwinM2(nn.Module):
    def __init__(self, latent, hidden, channels=32, classifier_hidden=128, dropout=0.5):
        super().__init__()
        self.classifier = nn.Sequential(  # models.vae.ConvClassifier
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(2 * channels * 49, classifier_hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(classifier_hidden, DIGITS))
        self.vae = TwinVAE(latent, hidden, DIGITS)


def random_shift(images, max_shift=2):
    """models.vae.random_shift: each image moved by its own offset, zeros filling in."""
    n = images.shape[0]
    padded = F.pad(images.reshape(n, 28, 28), (max_shift,) * 4)  # (N, 28+2s, 28+2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2))         # (N, 2)
    rows = offsets[:, :1] + torch.arange(28)                      # (N, 28)
    columns = offsets[:, 1:] + torch.arange(28)                   # (N, 28)
    shifted = padded[torch.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]]
    return shifted.reshape(n, PIXELS)  # (N, 28, 28) -> (N, 784)


def augment(grey):
    """A shifted, freshly binarized copy of a batch of grey levels (models.vae's M2 recipe)."""
    return torch.bernoulli(random_shift(torch.tensor(grey.numpy())))


def m2_loss(model, x, labels, x_unlabelled, alpha):
    y = F.one_hot(labels, DIGITS).float()
    labelled = (negative_elbo(model.vae, x, y) + math.log(DIGITS)
                + alpha * F.cross_entropy(model.classifier(x), labels, reduction="none"))
    log_q = F.log_softmax(model.classifier(x_unlabelled), 1)
    n = x_unlabelled.shape[0]
    x_all = x_unlabelled.repeat(DIGITS, 1)
    y_all = F.one_hot(torch.arange(DIGITS).repeat_interleave(n), DIGITS).float()
    per_label = negative_elbo(model.vae, x_all, y_all).reshape(DIGITS, n).T + math.log(DIGITS)
    q = log_q.exp()
    unlabelled = (q * per_label).sum(1) + (q * log_q).sum(1)
    return labelled.mean() + unlabelled.mean()


@torch.no_grad()
def iwae(model, x, k, y=None, chunk=100):
    mu, logvar = model.encode(x, y)
    std = torch.exp(0.5 * logvar)
    weights = []
    for start in range(0, k, chunk):
        size = min(chunk, k - start)
        eps = torch.randn(size, *mu.shape)
        z = mu + std * eps
        flat_y = None if y is None else y.repeat(size, 1)
        logits = model.decode(z.reshape(-1, z.shape[-1]), flat_y).reshape(size, *x.shape)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                                     reduction="none").sum(2)
        log_pz = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(2)
        log_qz = -0.5 * (eps ** 2 + math.log(2 * math.pi) + logvar).sum(2)
        weights.append(log_px + log_pz - log_qz)
    weights = torch.cat(weights).double()
    return (torch.logsumexp(weights, 0) - math.log(k)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["vae", "m2"], default="vae")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    (train_images, train_labels), (test_images, test_labels) = default_split()
    binary = binarize(np.concatenate([train_images, test_images]), "stochastic", seed=args.seed)
    if args.model == "vae":
        x_train = binary[:8000].reshape(-1, PIXELS).astype(np.float32)
    else:  # M2 trains on grey levels, binarized afresh per batch (models.vae's "dynamic")
        x_train = train_images.reshape(-1, PIXELS).astype(np.float32) / 255.0
    x_test = torch.tensor(binary[8000:].reshape(-1, PIXELS).astype(np.float32))
    batch = 128
    if args.model == "vae":
        model = TwinVAE(20, 400)
        loader = DataLoader(x_train, train_labels, batch_size=batch, shuffle=True,
                            seed=args.seed)
    else:
        model = TwinM2(50, 500)
        rng = np.random.default_rng(args.seed)
        labelled = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(train_labels == d), args.labels // DIGITS, replace=False)
            for d in range(DIGITS)]))
        loader = DataLoader(x_train[labelled], train_labels[labelled],
                            batch_size=min(batch, len(labelled)), shuffle=True, seed=args.seed)
        unlabelled = DataLoader(x_train, batch_size=batch, shuffle=True, seed=args.seed + 1,
                                drop_last=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                if args.model == "m2" else None)
    steps, seconds = 0, 0.0
    for _ in range(args.epochs):
        model.train()
        if args.model == "vae":
            batches = ((x, None) for x, _ in loader)
        else:
            batches = zip(_cycle(loader, len(x_train) // batch), unlabelled)
        for first, second in batches:
            start = time.perf_counter()
            if args.model == "vae":
                loss = negative_elbo(model, torch.tensor(first.numpy())).mean()
            else:
                (x, labels), (x_u,) = first, second
                loss = m2_loss(model, augment(x), torch.tensor(labels.numpy()), augment(x_u),
                               0.1 * len(x_train))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds += time.perf_counter() - start
            steps += 1
        if schedule is not None:
            schedule.step()
    model.eval()
    with torch.no_grad():
        results = {"model": args.model, "epochs": args.epochs, "steps": steps,
                   "ms_per_step": 1e3 * seconds / steps}
        y = None
        vae_part = model if args.model == "vae" else model.vae
        if args.model == "m2":
            predictions = model.classifier(x_test).argmax(1).numpy()
            results["accuracy"] = float((predictions == test_labels).mean())
            y = F.one_hot(torch.tensor(predictions), DIGITS).float()
        results["test_neg_elbo"] = float(np.mean(
            [negative_elbo(vae_part, x_test, y).mean().item() for _ in range(5)]))
        for k in (100, 1000):
            results[f"test_iwae_nll_k{k}"] = float(-iwae(
                vae_part, x_test[:500], k, None if y is None else y[:500]).mean())
    print(json.dumps(results))


def _cycle(loader, batches):
    produced = 0
    while True:
        for item in loader:
            yield item
            produced += 1
            if produced == batches:
                return


if __name__ == "__main__":
    main()
