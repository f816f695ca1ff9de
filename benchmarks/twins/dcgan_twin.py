"""A PyTorch twin of the DCGAN in models/gan.py, trained the same way, for docs/RESULTS.md.

Same architecture (G: z -> 7x7 transposed conv -> BN, ReLU -> 14x14 -> BN, ReLU -> 28x28,
Tanh; D: strided 4x4 convs with LeakyReLU(0.2), batch norm after the second, a 7x7 conv to
one logit, judging 2 images at once as models.gan's PacGAN default does), the same init
(conv weights N(0, 0.02), BN scales N(1, 0.02), biases 0), the same real-data order
(``tinygen.data.endless`` with the same seed), Adam 2e-4 with betas (0.5, 0.999), batch 64,
latent 64, one D step on real and ``fake.detach()`` then one non-saturating G step. The
noise comes from torch's generator with the same seed, so the two runs see different z.
Samples for the metrics are drawn with G in eval mode and judged by ``models.gan_metrics``.

    python -m benchmarks.twins.dcgan_twin --steps 1000 --threads 1

``step_pair()`` gives one full iteration of each implementation on a fixed batch, for the
interleaved step timings of benchmarks/twins/step_times.py.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import tinygen as tg
from models import gan, gan_metrics
from tinygen.data import default_split, endless
from tinygen.optim import Adam

BETAS = (0.5, 0.999)  # DCGAN's Adam: less momentum for a moving target


# =========================================================================== modules
class TwinDCGenerator(nn.Module):
    """z (N, latent) -> images (N, 1, 28, 28) in [-1, 1]; the layer indices of ``net`` match
    ``models.gan.DCGenerator`` so that state dicts load across."""

    def __init__(self, latent: int, channels: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (latent, 1, 1)),  # (N, latent) -> (N, latent, 1, 1)
            nn.ConvTranspose2d(latent, 4 * channels, 7, bias=False),
            nn.BatchNorm2d(4 * channels), nn.ReLU(),
            nn.ConvTranspose2d(4 * channels, 2 * channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, 1, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z)


class TwinDCDiscriminator(nn.Module):
    """images (N, 1, 28, 28) -> logits (N / pack,); layer indices match
    ``models.gan.DCDiscriminator`` (``pack`` images judged at once, as there)."""

    def __init__(self, channels: int = 32, pack: int = 1):
        super().__init__()
        self.pack = pack
        self.net = nn.Sequential(
            nn.Conv2d(pack, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * channels), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * channels, 1, 7),
        )

    def forward(self, x):
        x = x.reshape(-1, self.pack, *x.shape[2:])  # (N, 1, H, W) -> (N/pack, pack, H, W)
        return self.net(x).reshape(-1)  # (N/pack, 1, 1, 1) -> (N/pack,)


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN's initialisation, as ``models.gan.dcgan_init_``: conv weights N(0, 0.02),
    batch-norm scales N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


# =========================================================================== losses
def discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))): binary cross-entropy with targets 1 and 0."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits):
    """The non-saturating -log D(G(z))."""
    return -F.logsigmoid(fake_logits).mean()


# =========================================================================== training
def train_step(G, D, g_optimizer, d_optimizer, x, latent: int):
    """One iteration of ``models.gan.train`` with k = 1: a D step on a real batch x
    (N, 1, 28, 28) and on detached fakes, then a G step through D. Returns both losses."""
    G.train()
    D.train()
    z = torch.randn(x.shape[0], latent)
    fake = G(z)
    # detach: D's loss treats the samples as data; no gradient may reach G here
    d_loss = discriminator_loss(D(x), D(fake.detach()))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()
    z = torch.randn(x.shape[0], latent)
    g_loss = generator_loss(D(G(z)))  # no detach: through D to G
    g_optimizer.zero_grad()  # D's grads from this backward are cleared by the next D step
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss


@torch.no_grad()
def generate(G, count: int, latent: int, batch: int = 500) -> np.ndarray:
    """``count`` samples in [0, 1], (count, 1, 28, 28), with G in eval mode, as
    ``models.gan.generate`` draws them."""
    G.eval()
    z = torch.randn(count, latent)
    images = [G(z[i:i + batch]).numpy() for i in range(0, count, batch)]
    return (np.concatenate(images) + 1) / 2


# =========================================================================== step timing
def step_pair(channels: int = 32, batch: int = 64, latent: int = 64, pack: int = 2
              ) -> tuple[Callable[[], tuple], Callable[[], tuple]]:
    """(tinygen_step, torch_step): each runs one full DCGAN iteration (D step + G step, Adam
    2e-4, fresh noise) of its own freshly initialised nets on the same fixed real batch, and
    returns (d_loss, g_loss) as floats."""
    (train_images, train_labels), _ = default_split()
    x_train = (train_images[:, None] / np.float32(127.5) - 1).astype(np.float32)
    x_fixed = next(endless(x_train, train_labels, batch, 0, "cpu"))[0].numpy()
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours_g = gan.dcgan_init_(gan.DCGenerator(latent, channels))
    ours_d = gan.dcgan_init_(gan.DCDiscriminator(channels, pack=pack))
    ours_g_optimizer = Adam(ours_g.parameters(), lr=2e-4, betas=BETAS)
    ours_d_optimizer = Adam(ours_d.parameters(), lr=2e-4, betas=BETAS)
    theirs_g = dcgan_init_(TwinDCGenerator(latent, channels))
    theirs_d = dcgan_init_(TwinDCDiscriminator(channels, pack))
    theirs_g_optimizer = torch.optim.Adam(theirs_g.parameters(), lr=2e-4, betas=BETAS)
    theirs_d_optimizer = torch.optim.Adam(theirs_d.parameters(), lr=2e-4, betas=BETAS)
    x_ours, x_theirs = tg.tensor(x_fixed), torch.tensor(x_fixed)

    def tinygen_step() -> tuple[float, float]:
        # the body of models.gan.train for k = 1, with its losses
        ours_g.train()
        ours_d.train()
        fake = ours_g(tg.randn(batch, latent))
        d_loss = gan.discriminator_loss("dcgan", ours_d(x_ours), ours_d(fake.detach()))
        ours_d_optimizer.zero_grad()
        d_loss.backward()
        ours_d_optimizer.step()
        g_loss = gan.generator_loss("dcgan", ours_d(ours_g(tg.randn(batch, latent))))
        ours_g_optimizer.zero_grad()
        g_loss.backward()
        ours_g_optimizer.step()
        return d_loss.item(), g_loss.item()  # the training loop logs both losses too

    def torch_step() -> tuple[float, float]:
        d_loss, g_loss = train_step(theirs_g, theirs_d, theirs_g_optimizer,
                                    theirs_d_optimizer, x_theirs, latent)
        return d_loss.item(), g_loss.item()

    return tinygen_step, torch_step


# =========================================================================== main
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None,
                        help="generator steps (default: --epochs passes over the training set, "
                             "one batch per generator step, as models.gan counts them)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--pack", type=int, default=2,
                        help="images per D logit (PacGAN; models.gan's DCGAN default)")
    parser.add_argument("--final-samples", type=int, default=10000,
                        help="samples for the final metrics (models.gan's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--save-samples", type=Path, default=None,
                        help="also save the final samples (N, 1, 28, 28) in [0, 1] as .npy, to "
                             "measure them again with another yardstick")
    args = parser.parse_args(argv)
    if args.pack < 1 or args.batch_size % args.pack:
        parser.error(f"--pack must be >= 1 and divide --batch-size {args.batch_size}, got "
                     f"{args.pack}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    (train_images, train_labels), (test_images, _) = default_split()
    if args.steps is None:
        args.steps = args.epochs * (len(train_images) // args.batch_size)
    x_train = (train_images[:, None] / np.float32(127.5) - 1).astype(np.float32)
    real_test = test_images / np.float32(255)
    # models.gan's own stream: the same batches in the same order as the tinygen run
    data = endless(x_train, train_labels, args.batch_size, args.seed, "cpu")

    G = dcgan_init_(TwinDCGenerator(args.latent, args.channels))
    D = dcgan_init_(TwinDCDiscriminator(args.channels, args.pack))
    g_optimizer = torch.optim.Adam(G.parameters(), lr=args.lr, betas=BETAS)
    d_optimizer = torch.optim.Adam(D.parameters(), lr=args.lr, betas=BETAS)
    seconds, losses = 0.0, {}
    for _ in range(args.steps):
        started = time.perf_counter()
        x = torch.from_numpy(next(data)[0].numpy())
        d_loss, g_loss = train_step(G, D, g_optimizer, d_optimizer, x, args.latent)
        losses = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
        seconds += time.perf_counter() - started

    classifier = gan_metrics.load_classifier()
    samples = generate(G, args.final_samples, args.latent)
    if args.save_samples is not None:
        np.save(args.save_samples, samples)
    metrics = gan_metrics.sample_metrics(classifier, samples, real_test)
    metrics.update(losses, steps=args.steps, train_seconds=seconds,
                   seconds_per_step=seconds / max(args.steps, 1))
    print(json.dumps({key: round(value, 4) for key, value in metrics.items()}))
    return metrics


if __name__ == "__main__":
    main()
