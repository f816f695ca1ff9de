"""Time one training step of each model and of its PyTorch twin, interleaved in one process.

Step times taken inside long training runs drift with whatever else the machine is doing;
interleaving the two implementations step by step puts them under the same conditions.
Prints median ms per step (Adam, the models' default batch sizes) and the ratio.

    python -m benchmarks.twins.step_times [--threads 1] [--only PixelRNN]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import tinygen as tg
from benchmarks.twins import dcgan_twin, pixelcnn_twin, pixelrnn_twin, vae_twin
from models import pixelcnn, pixelrnn, vae
from tinygen.optim import Adam


def _binary(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) > 0.6).astype(np.float32)


def _steps():
    x_vae = _binary((128, 784))
    labels = np.arange(128) % 10
    x_pix = _binary((32, 1, 28, 28))
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours_vae, theirs_vae = vae.VAE(20, 400), vae_twin.TwinVAE(20, 400)
    ours_m2, theirs_m2 = vae.M2(50, 500), vae_twin.TwinM2(50, 500)
    ours_pix, theirs_pix = pixelcnn.PixelCNN(64, 5, 64), pixelcnn_twin.TwinPixelCNN(64, 5, 64)
    # models/pixelrnn.py's defaults: hidden 32, maps and head of 2 x 32 channels, 2 layers
    ours_row, theirs_row = (pixelrnn.PixelRNN("row", 64, 32, 2, 64),
                            pixelrnn_twin.TwinPixelRNN("row", 64, 32, 2, 64))
    ours_diag, theirs_diag = (pixelrnn.PixelRNN("diag", 64, 32, 2, 64),
                              pixelrnn_twin.TwinPixelRNN("diag", 64, 32, 2, 64))

    def adam_step(optimizer, loss_fn):
        # the same four lines drive both frameworks: their Tensors and optimizers share names
        def step():
            loss = loss_fn()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    def tinygen_step(model, loss_fn):
        return adam_step(Adam(model.parameters(), lr=1e-3), loss_fn)

    def torch_step(model, loss_fn):
        return adam_step(torch.optim.Adam(model.parameters(), lr=1e-3), loss_fn)

    xv, tv = tg.tensor(x_vae), torch.tensor(x_vae)
    xu, tu = tg.tensor(x_vae[:64]), torch.tensor(x_vae[:64])
    xp, tp = tg.tensor(x_pix), torch.tensor(x_pix)
    return {
        "MLP VAE 784-400-20, batch 128": (
            tinygen_step(ours_vae, lambda: vae.negative_elbo(ours_vae, xv).mean()),
            torch_step(theirs_vae, lambda: vae_twin.negative_elbo(theirs_vae, tv).mean())),
        "M2 (100 labelled + 64 unlabelled x 10 labels)": (
            tinygen_step(ours_m2, lambda: vae.m2_labelled_loss(
                ours_m2, xv[:100], labels[:100], 800.0).mean()
                + vae.m2_unlabelled_loss(ours_m2, xu).mean()),
            torch_step(theirs_m2, lambda: vae_twin.m2_loss(
                theirs_m2, tv[:100], torch.tensor(labels[:100]), tu, 800.0))),
        "PixelCNN h=64, 5 blocks, batch 32": (
            tinygen_step(ours_pix, lambda: pixelcnn.nll_per_image(ours_pix, xp).mean()),
            torch_step(theirs_pix, lambda: pixelcnn_twin.nll(theirs_pix, tp).mean())),
        "PixelRNN Row LSTM h=32, 2 layers, batch 32": (
            tinygen_step(ours_row, lambda: pixelrnn.nll_per_image(ours_row, xp).mean()),
            torch_step(theirs_row, lambda: pixelrnn_twin.nll(theirs_row, tp).mean())),
        "PixelRNN Diagonal BiLSTM h=32, 2 layers, batch 32": (
            tinygen_step(ours_diag, lambda: pixelrnn.nll_per_image(ours_diag, xp).mean()),
            torch_step(theirs_diag, lambda: pixelrnn_twin.nll(theirs_diag, tp).mean())),
        "DCGAN c=32, pack 2, one D step + one G step, batch 64": dcgan_twin.step_pair(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads for both")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", default="", help="time only the rows whose name has this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| training step (Adam) | tinygen ms | PyTorch ms | ratio |  threads={args.threads}")
    print("|---|---:|---:|---:|")
    with threadpool_limits(args.threads):
        for name, (ours, theirs) in _steps().items():
            if args.only not in name:
                continue
            ours()
            theirs()
            ours_ms, theirs_ms = [], []
            for _ in range(args.repeats):
                for step, times in ((ours, ours_ms), (theirs, theirs_ms)):
                    start = time.perf_counter()
                    step()
                    times.append((time.perf_counter() - start) * 1e3)
            a, b = statistics.median(ours_ms), statistics.median(theirs_ms)
            print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
