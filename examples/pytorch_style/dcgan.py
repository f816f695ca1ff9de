"""A 64x64 DCGAN on MNIST (transposed-conv generator, conv discriminator, BCE loss), written as
a PyTorch program.

The imports are the only lines that name tinygen: write ``torch`` for ``tinygen`` and the
program runs on PyTorch. :func:`mnist` is the data source (``datasets.MNIST`` with
``transforms.Resize(64)`` there).

    python examples/pytorch_style/dcgan.py --quick --ngf 16 --ndf 16
"""

import argparse

import tinygen as torch
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen import optim
from tinygen.data import default_split
from tinygen.utils.data import DataLoader, TensorDataset

real_label = 1.0
fake_label = 0.0


def mnist(image_size=64):
    """The bundled MNIST training images, resized to ``image_size`` and scaled to [-1, 1]
    (the generator's Tanh range)."""
    images, labels = default_split()[0]
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255
    x = F.interpolate(x, size=image_size, mode="bilinear", align_corners=False)
    return TensorDataset(x * 2 - 1, torch.tensor(labels))


def weights_init(m):
    """The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> image (N, nc, 64, 64): each transposed conv doubles the side."""

    def __init__(self, nz=100, ngf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),  # 4x4
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 16x16
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 32x32
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # 64x64
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    """image (N, nc, 64, 64) -> probability (N, 1, 1, 1) that it is real."""

    def __init__(self, ndf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 32x32
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 16x16
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),  # 4x4
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),  # 1x1
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def train(args, netG, netD, device, dataloader, optimizerD, optimizerG, epoch):
    """One epoch (the first ``args.steps`` batches when set); returns (loss_D, loss_G) pairs."""
    criterion = nn.BCELoss()
    losses = []
    for i, data in enumerate(dataloader):
        # (1) the discriminator: maximize log D(x) + log(1 - D(G(z)))
        netD.zero_grad()
        real = data[0].to(device)
        b_size = real.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
        output = netD(real).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        noise = torch.randn(b_size, args.nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)  # no gradient into the generator here
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        # (2) the generator: maximize log D(G(z)) (the non-saturating loss)
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()

        losses.append((errD.item(), errG.item()))
        if i % args.log_interval == 0:
            print(f"[{epoch}][{i}/{len(dataloader)}] loss_D {errD.item():.4f} "
                  f"loss_G {errG.item():.4f} D(x) {D_x:.3f} D(G(z)) {D_G_z1:.3f} / {D_G_z2:.3f}")
        if i + 1 == args.steps:
            break
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(description="MNIST 64x64 DCGAN, PyTorch style")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--nz", type=int, default=100, help="size of the latent z")
    parser.add_argument("--ngf", type=int, default=64, help="generator width")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=0, help="batches per epoch (0: all)")
    parser.add_argument("--quick", action="store_true", help="one epoch of 10 batches")
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps = 1, args.steps or 10

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataloader = DataLoader(mnist(), batch_size=args.batch_size, shuffle=True)

    netG = Generator(args.nz, args.ngf).to(device)
    netG.apply(weights_init)
    netD = Discriminator(args.ndf).to(device)
    netD.apply(weights_init)
    print(netG)
    optimizerD = optim.Adam(netD.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=args.lr, betas=(args.beta1, 0.999))

    fixed_noise = torch.randn(16, args.nz, 1, 1, device=device)
    for epoch in range(args.epochs):
        losses = train(args, netG, netD, device, dataloader, optimizerD, optimizerG, epoch)
        with torch.no_grad():
            fake = netG(fixed_noise).detach().cpu()
        print(f"epoch {epoch}: 16 samples from the fixed noise, mean {fake.mean().item():.3f}")
    return losses


if __name__ == "__main__":
    main()
