"""The GAN family on MNIST in [-1, 1]: MLP GAN, DCGAN, conditional GAN, LSGAN and WGAN-GP.

A generator G(z), z ~ N(0, I), and a discriminator D(x) play the minimax game

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))].

Training alternates k gradient steps on D, where the fake images are a *constant*
(``fake.detach()``: D's loss must not push gradients into G), with one step on G, where they
are not (G learns only through D's judgement of its samples). The generator uses the
non-saturating loss -log D(G(z)); LSGAN swaps both losses for least squares, and WGAN-GP
swaps D for a critic f with E[f(fake)] - E[f(real)] plus a gradient penalty
lambda * (||grad_x f(x_hat)|| - 1)^2, which differentiates through a gradient
(``create_graph=True``). The DCGAN and LSGAN discriminators judge pairs of images by
default (PacGAN, ``--pack``), which lets D see a generator that repeats itself; ``--ema``
keeps a moving average of G's weights to sample from. Samples are judged by
``models.gan_metrics`` (classifier-FID, mode coverage, the rarest digit's share, confidence,
the cGAN's class accuracy) every ``--eval-every`` steps and at the end.
This file reads top to bottom: the modules, the losses, the training loop, main(); the
sampling and the pictures are in ``models.gan_samples``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from models import gan_metrics
from models.gan_samples import generate, progress_samples, save_pictures
from tinygen.data import DEFAULT_TRAIN_SIZE, default_split
from tinygen.optim import Adam, AveragedModel
from tinygen.train import (
    RunLogger,
    add_model_flags,
    check_multiple,
    check_needs,
    check_range,
    finish_run,
    finite_float,
    format_summary,
    make_parser,
    non_negative_float,
    open_checkpoint,
    parse_args,
    pause_point,
    positive_int,
    quick_notice,
    script,
)
from tinygen.train.batches import EndlessBatches

DIGITS = 10
PIXELS = 28 * 28
MODELS = ("gan", "dcgan", "cgan", "lsgan", "wgan-gp")


# =========================================================================== modules
class MLPGenerator(nn.Module):
    """z (N, latent) [+ label embedding] -> images (N, 1, 28, 28) in [-1, 1] (Tanh)."""

    def __init__(self, latent: int, hidden: int = 256, conditional: bool = False):
        self.embed = nn.Embedding(DIGITS, DIGITS) if conditional else None
        inputs = latent + (DIGITS if conditional else 0)
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden, PIXELS), nn.Tanh(),
            nn.Unflatten(1, (1, 28, 28)),  # (N, 784) -> (N, 1, 28, 28)
        )

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = tg.concatenate([z, self.embed(labels)], axis=1)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """images (N, 1, 28, 28) [+ labels (N,)] -> logits (N,); dropout in the hidden layers
    keeps D from memorising the training set, as the lecture notes suggest.

    Conditional D is a projection discriminator (Miyato & Koyama, 2018): a learned label
    embedding is dotted with the last hidden features and added to the logit. A one-hot
    concatenated to 784 pixels is easy for D to ignore; the projection makes "is this a
    plausible *y*" part of every logit.
    """

    def __init__(self, hidden: int = 256, dropout: float = 0.3, conditional: bool = False):
        self.embed = nn.Embedding(DIGITS, hidden) if conditional else None
        if conditional:  # N(0, 1/hidden): the projection starts at the scale of one unit
            nn.init.normal_(self.embed.weight, 0.0, hidden ** -0.5)
        self.features = nn.Sequential(
            nn.Linear(PIXELS, 2 * hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        )
        self.out = nn.Linear(hidden, 1)

    def forward(self, x, labels=None):
        h = self.features(x.reshape(x.shape[0], PIXELS))  # (N, 1, 28, 28) -> (N, 784)
        logits = self.out(h).reshape(-1)                  # (N, 1) -> (N,)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(axis=1)
        return logits


class DCGenerator(nn.Module):
    """The DCGAN generator: fractional-strided convs only, batch norm and ReLU, Tanh out.

    z (N, latent) -> (N, latent, 1, 1) -> 7x7 -> 14x14 -> 28x28 (N, 1, 28, 28).
    """

    def __init__(self, latent: int, channels: int = 32):
        self.net = nn.Sequential(
            nn.Unflatten(1, (latent, 1, 1)),  # (N, latent) -> (N, latent, 1, 1)
            nn.ConvTranspose2d(latent, 4 * channels, 7, bias=False),
            nn.BatchNorm2d(4 * channels), nn.ReLU(),
            nn.ConvTranspose2d(4 * channels, 2 * channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, 1, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z, labels=None):
        return self.net(z)


class DCDiscriminator(nn.Module):
    """The DCGAN discriminator: strided convs only, LeakyReLU(0.2), batch norm after every
    conv but the first (DCGAN's advice: not on D's input layer); the last conv covers the
    whole 7x7 map and gives one logit, so there is no fully connected layer.

    ``batch_norm=False`` makes the WGAN-GP critic: the penalty is per example, and batch
    norm would make each critic value depend on the rest of the batch. ``pack`` > 1 makes a
    PacGAN discriminator (Lin et al., 2018): one logit per ``pack`` images.

    (N, 1, 28, 28) -> 14x14 -> 7x7 -> logits (N,).
    """

    def __init__(self, channels: int = 32, batch_norm: bool = True, minibatch_std: bool = False,
                 pack: int = 1):
        if not isinstance(pack, int) or pack < 1:
            raise ValueError(f"DCDiscriminator: pack must be an int >= 1, got {pack!r}")
        norm = nn.BatchNorm2d(2 * channels) if batch_norm else nn.Identity()
        self.pack = pack
        # the spread map only when asked, so the default layer indices (and state-dict keys,
        # shared with the PyTorch twin) stay as they are
        spread = [MinibatchStd()] if minibatch_std else []
        self.net = nn.Sequential(
            nn.Conv2d(pack, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), norm, nn.LeakyReLU(0.2),
            *spread, nn.Conv2d(2 * channels + len(spread), 1, 7),
        )

    def forward(self, x, labels=None):
        if self.pack > 1:
            # PacGAN: D judges `pack` images at once as one image of `pack` channels, so a
            # G that repeats itself shows D more similar pairs than the data does
            if x.shape[0] % self.pack:
                raise ValueError(f"DCDiscriminator: batch size {x.shape[0]} is not a multiple "
                                 f"of pack={self.pack}")
            x = x.reshape(-1, self.pack, *x.shape[2:])  # (N, 1, H, W) -> (N/pack, pack, H, W)
        return self.net(x).reshape(-1)  # (N/pack, 1, 1, 1) -> (N/pack,)


class MinibatchStd(nn.Module):
    """Appends one feature map holding the batch's spread: the standard deviation of each
    feature across the batch, averaged to one number (Karras et al., 2018). A generator that
    drops digits makes batches less varied than real ones; this lets D see that and push
    back. (N, C, H, W) -> (N, C+1, H, W)."""

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"MinibatchStd: x must be (N, C, H, W), got shape {x.shape}")
        n, _, height, width = x.shape
        deviations = x - x.mean(axis=0, keepdims=True)
        spread = ((deviations * deviations).mean(axis=0) + 1e-8).sqrt().mean()  # scalar
        return tg.concatenate([x, spread * tg.ones(n, 1, height, width, dtype=x.dtype,
                                                   device=x.device)], axis=1)


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0.
    Small weights start G near a constant image and D near indifference, which keeps the
    first steps of the game gentle."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module


def build(model: str, latent: int, hidden: int, channels: int, dropout: float,
          minibatch_std: bool = False, pack: int = 1):
    """The (generator, discriminator) pair of a model name (``minibatch_std``: DCGAN and
    LSGAN discriminators get a :class:`MinibatchStd` feature; ``pack``: they judge that many
    images at once)."""
    if model in ("gan", "cgan"):
        conditional = model == "cgan"
        return (MLPGenerator(latent, hidden, conditional),
                MLPDiscriminator(hidden, dropout, conditional))
    if model in ("dcgan", "lsgan"):
        return (dcgan_init_(DCGenerator(latent, channels)),
                dcgan_init_(DCDiscriminator(channels, minibatch_std=minibatch_std, pack=pack)))
    if model == "wgan-gp":
        # the critic keeps the default (Kaiming) init: with DCGAN's tiny weights its input
        # gradients start near 0, and the penalty (||grad|| - 1)^2 swamps the first steps
        critic = DCDiscriminator(channels, batch_norm=False)
        return dcgan_init_(DCGenerator(latent, channels)), critic
    raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")


# =========================================================================== losses
def discriminator_loss(kind: str, real_logits, fake_logits, real_target: float = 1.0):
    """D's loss on D(real) and D(fake) outputs (N,), to minimize.

    GAN: -log D(x) - log(1 - D(G(z))), i.e. binary cross-entropy with targets 1 and 0
    (``real_target`` 0.9: one-sided label smoothing, Salimans et al. 2016, which keeps D
    from growing over-confident on real images).
    LSGAN: (D(x) - 1)^2 / 2 + D(G(z))^2 / 2. WGAN: E[f(fake)] - E[f(real)].
    """
    if kind == "lsgan":
        return 0.5 * (((real_logits - 1) ** 2).mean() + (fake_logits ** 2).mean())
    if kind == "wgan-gp":
        return fake_logits.mean() - real_logits.mean()
    ones = tg.full(real_logits.shape, real_target, dtype=real_logits.dtype,
                   device=real_logits.device)
    zeros = tg.zeros_like(fake_logits)
    return (F.binary_cross_entropy_with_logits(real_logits, ones)
            + F.binary_cross_entropy_with_logits(fake_logits, zeros))


def generator_loss(kind: str, fake_logits):
    """G's loss on D(G(z)) (N,): the non-saturating -log D(G(z)) (steep where D rejects the
    samples, unlike log(1 - D(G(z)))), (D(G(z)) - 1)^2 / 2 for LSGAN, -E[f(G(z))] for WGAN."""
    if kind == "lsgan":
        return 0.5 * ((fake_logits - 1) ** 2).mean()
    if kind == "wgan-gp":
        return -fake_logits.mean()
    return -F.log_sigmoid(fake_logits).mean()


def gradient_penalty(critic, real, fake):
    """WGAN-GP's penalty E[(||grad_x f(x_hat)||_2 - 1)^2] at random points x_hat on the lines
    between real and fake images (N, 1, 28, 28).

    The gradient is taken with ``create_graph=True`` so that the penalty, a function of a
    gradient, can itself be differentiated with respect to the critic's weights.
    """
    eps = tg.rand(real.shape[0], 1, 1, 1, dtype=real.dtype, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_()
    (grad,) = tg.autograd.grad(critic(x_hat).sum(), [x_hat], create_graph=True)
    norms = ((grad * grad).sum(axis=(1, 2, 3)) + 1e-12).sqrt()  # (N,); eps: finite at 0
    return ((norms - 1) ** 2).mean()


# =========================================================================== training
def train(G, D, g_optimizer, d_optimizer, data, args, log, evaluator, checkpoint,
          start_step=0, G_average=None):
    """The training loop: ``args.k`` discriminator steps, then one generator step, after
    which ``G_average`` (an :class:`AveragedModel` of G, if given) takes a step towards G.

    ``data`` is an endless stream of (images (N, 1, 28, 28), labels (N,)); ``evaluator(step)``
    returns sample metrics for the JSONL every ``args.eval_every`` steps. Returns the last
    step and the seconds spent in training steps (evaluations left out).
    """
    conditional = args.model == "cgan"
    seconds = 0.0
    for step in range(start_step + 1, args.steps + 1):
        started = time.perf_counter()
        G.train()
        D.train()
        for _ in range(args.k):  # -------------------------------- discriminator step(s)
            x, labels = next(data)
            z = tg.randn(x.shape[0], args.latent, device=args.device)
            fake_labels = labels if conditional else None
            fake = G(z, fake_labels)
            # detach: D's loss treats the samples as data; no gradient may reach G here
            d_loss = discriminator_loss(args.model, D(x, labels), D(fake.detach(), fake_labels),
                                        args.real_label)
            if conditional and args.mismatch_weight > 0:
                # a matching-aware D (Reed et al., 2016): a real image under a wrong label is
                # also "fake", so D must check the label, not only the realism, and G cannot
                # win with a good digit of the wrong class
                offsets = np.random.default_rng((args.seed, step)).integers(1, DIGITS, len(labels))
                wrong = (labels + offsets) % DIGITS  # never the true label
                d_loss = d_loss + args.mismatch_weight * F.binary_cross_entropy_with_logits(
                    D(x, wrong), tg.zeros(len(labels), device=args.device))
            if args.model == "wgan-gp":
                d_loss = d_loss + args.gp_weight * gradient_penalty(D, x, fake.detach())
            d_optimizer.zero_grad()
            d_loss.backward()
            d_optimizer.step()
        # ------------------------------------------------------------- generator step
        z = tg.randn(x.shape[0], args.latent, device=args.device)
        fake = G(z, fake_labels)
        g_loss = generator_loss(args.model, D(fake, fake_labels))  # no detach: through D to G
        g_optimizer.zero_grad()  # D's grads from this backward are cleared by the next D step
        g_loss.backward()
        g_optimizer.step()
        if G_average is not None:
            G_average.update_parameters(G)
        log.step(step, d_loss=d_loss.item(), g_loss=g_loss.item())
        seconds += time.perf_counter() - started
        if step % args.eval_every == 0 or step == args.steps:
            metrics = evaluator(step)
            log.write(step, split="samples", **metrics)
            log.snapshot(step, progress_samples(G if G_average is None else G_average, args))
        pause_point(args, checkpoint, step)
    return args.steps, seconds


# =========================================================================== main
# PacGAN pairs for the conv GANs: over 3125 steps, D judging single images left one digit
# under 5% of the DCGAN's samples in every run, and pairs covered 10/10; over 6250 steps
# pairs covered 10/10 in three seeds of three (single images: 10/10 in the one seed run)
DEFAULT_PACK = {"dcgan": 2, "lsgan": 2}
QUICK = {"steps": 600, "eval_every": 200, "eval_samples": 500, "final_samples": 2000,
         "channels": 16, "hidden": 128}
# a conv step costs several MLP steps on a CPU, and a WGAN-GP step (k critic steps, each
# with a double backward through the convs) several conv steps. The DCGAN's is `make run`,
# the first run a reader sees: 500 steps at 2e-4 ended in blurred strokes (classifier-FID
# 137, 6 of 10 digits); 2500 steps at 1e-3 draw recognizable digits (FID 27-35, 9 of 10
# digits, seeds 0 and 1) in about two minutes on 2 cores (docs/RESULTS.md). At that rate
# G's FID swings from one evaluation to the next (34 to 45 and back); a weight average
# (EMA 0.995) follows a smoother path
QUICK_CONV = {"dcgan": {"steps": 2500, "k": 2, "eval_every": 250},
              "lsgan": {"steps": 500, "k": 2, "eval_every": 100},
              "wgan-gp": {"steps": 150, "k": 2, "eval_every": 100}}
QUICK_DEFAULTS = {"dcgan": {"lr": 1e-3, "ema": 0.995}}  # where the flag keeps its default


def parse_flags(argv) -> argparse.Namespace:
    """The command line, checked, with the defaults that depend on the model filled in
    (``--pack``, ``--k``, WGAN-GP's learning rate, and ``--steps`` from ``--epochs``) and
    ``--quick``'s caps applied."""
    parser = make_parser("Train a GAN-family model on MNIST in [-1, 1] (t10k[:8000]; FID "
                         "against t10k[8000:]).", epochs=50, batch_size=64, lr=2e-4,
                         out="runs/gan")
    flags = add_model_flags(parser, "GAN")
    flags.add_argument("--model", choices=MODELS, default="dcgan",
                       help="MLP GAN, DCGAN, conditional (MLP) GAN, LSGAN (DCGAN nets), or "
                            "WGAN-GP (DCGAN nets, batch-norm-free critic)")
    flags.add_argument("--steps", type=positive_int, default=None,
                       help="generator steps (default: --epochs passes over the training set, "
                            "counting one batch per generator step)")
    flags.add_argument("--k", type=positive_int, default=None,
                       help="discriminator steps per generator step (default 1; 5 for WGAN-GP)")
    flags.add_argument("--latent", type=positive_int, default=64, help="latent dimensions")
    flags.add_argument("--hidden", type=positive_int, default=256,
                       help="hidden units of the MLPs")
    flags.add_argument("--channels", type=positive_int, default=32,
                       help="channels of the conv nets")
    flags.add_argument("--dropout", type=non_negative_float, default=0.3,
                       help="dropout in the MLP D")
    flags.add_argument("--gp-weight", type=non_negative_float, default=10.0,
                       help="WGAN-GP's lambda")
    flags.add_argument("--real-label", type=finite_float, default=1.0,
                       help="D's target for real images (0.9: one-sided label smoothing)")
    flags.add_argument("--minibatch-std", action="store_true",
                       help="DCGAN/LSGAN: give D the batch's spread as an extra feature map")
    flags.add_argument("--ema", type=finite_float, default=0.0, metavar="DECAY",
                       help="also keep an exponential moving average of G's weights with this "
                            "decay (e.g. 0.999) and sample from it; 0: off")
    flags.add_argument("--pack", type=positive_int, default=None,
                       help="PacGAN: the DCGAN/LSGAN discriminator judges this many images "
                            "at once (default: 2 for those models, else 1 = off)")
    flags.add_argument("--mismatch-weight", type=non_negative_float, default=1.0,
                       help="cGAN: weight of D's loss on real images under wrong labels")
    flags.add_argument("--eval-every", type=positive_int, default=500,
                       help="steps between sample metrics in the JSONL")
    flags.add_argument("--eval-samples", type=positive_int, default=2000,
                       help="samples per periodic evaluation (>= 2: the FID needs a spread)")
    flags.add_argument("--final-samples", type=positive_int, default=10000,
                       help="samples for the final metrics (>= 2)")
    flags.add_argument("--classifier", type=Path, default=gan_metrics.CLASSIFIER_PATH,
                       help="the metric classifier's checkpoint (trained there if missing)")
    args = parse_args(parser, argv)
    check_range(parser, args, "--real-label", 0, 1, "(]")
    check_range(parser, args, "--dropout", 0, 1, "[)")
    check_range(parser, args, "--batch-size", high=DEFAULT_TRAIN_SIZE)
    check_range(parser, args, "--eval-samples", low=2)
    check_range(parser, args, "--final-samples", low=2)
    if args.classifier.is_dir():
        parser.error(f"argument --classifier: expected a checkpoint file, got the directory "
                     f"{str(args.classifier)!r}")
    if args.pack is None:
        args.pack = DEFAULT_PACK.get(args.model, 1)
    check_range(parser, args, "--ema", 0, 1, "[)")
    check_needs(parser, args, "--pack", "--model", ("dcgan", "lsgan"), used=args.pack > 1)
    check_multiple(parser, args, "--batch-size", "--pack")
    check_needs(parser, args, "--minibatch-std", "--model", ("dcgan", "lsgan"),
                why="a WGAN-GP critic must judge each image alone")
    if args.steps is None:
        args.steps = args.epochs * (DEFAULT_TRAIN_SIZE // args.batch_size)
    if args.k is None:
        args.k = 5 if args.model == "wgan-gp" else 1
    if args.model == "wgan-gp" and args.lr == parser.get_default("lr"):
        args.lr = 1e-4  # the WGAN-GP paper's
    args.full_steps = args.steps
    if args.quick:
        for name, value in {**QUICK, **QUICK_CONV.get(args.model, {})}.items():
            setattr(args, name, min(getattr(args, name), value))
        for name, value in QUICK_DEFAULTS.get(args.model, {}).items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


# The final summary's units; "raw_" metrics (the generator without weight averaging) share
# them.
UNITS = {"classifier_fid": "(Frechet distance in the metric classifier's features; lower is "
                           "better)",
         "modes_covered": "of 10 digits with at least 5% of the samples",
         "rarest_digit_share": "%", "class_accuracy": "% (samples classified as asked)",
         "confidence": "(exp of the mean KL: 1 to 10, higher is surer and more varied)",
         "ink_minus": "summed intensity per image", "ink_zero": "summed intensity per image",
         "ink_plus": "summed intensity per image",
         "nearest_neighbour_distance": "L2 distance in pixels", "steps": "training steps",
         "seconds_per_step": "s"}


@script
def main(argv=None) -> dict:
    args = parse_flags(argv)
    tg.manual_seed(args.seed)
    (train_images, train_labels), (test_images, _) = default_split()
    x_train = (train_images[:, None] / np.float32(127.5) - 1).astype(np.float32)
    real_test = test_images / np.float32(255)
    G, D = build(args.model, args.latent, args.hidden, args.channels, args.dropout,
                 args.minibatch_std, args.pack)
    G.to(args.device)
    D.to(args.device)
    G_average = AveragedModel(G, args.ema) if args.ema else None
    # DCGAN's Adam (beta1 0.5: less momentum for a moving target); WGAN-GP's (0.5, 0.9)
    betas = (0.5, 0.9) if args.model == "wgan-gp" else (0.5, 0.999)
    g_optimizer = Adam(G.parameters(), lr=args.lr, betas=betas)
    d_optimizer = Adam(D.parameters(), lr=args.lr, betas=betas)
    fixed_noise = tg.randn(64, args.latent).numpy()
    data = EndlessBatches(x_train, train_labels, args.batch_size, args.seed, args.device)
    averaged = {} if G_average is None else {"generator_average": G_average}
    checkpoint, state = open_checkpoint(args.out, args.resume, {"fixed_noise": fixed_noise},
                                        generator=G, discriminator=D, g_optimizer=g_optimizer,
                                        d_optimizer=d_optimizer, data=data, **averaged)
    start_step, fixed_noise = state["step"], state["fixed_noise"]
    classifier = gan_metrics.load_classifier(args.classifier)
    evaluator = gan_metrics.make_evaluator(G, args, classifier, real_test, generate, G_average)
    with RunLogger(args.out, total_steps=args.steps, initial_step=start_step,
                   log_every=args.log_every, desc=args.model, config=args, units=UNITS) as log:
        if args.quick:
            log.print(quick_notice(f"python -m models.gan --model {args.model}", args.steps,
                                   args.full_steps, also=f"a smaller model, lr {args.lr:g}, "
                                   "fewer samples for the metrics"))
        step, seconds = train(G, D, g_optimizer, d_optimizer, data, args, log, evaluator,
                              checkpoint, start_step, G_average)
        checkpoint.save(step=step)
        metrics = evaluator(step, args.final_samples)  # G_average's batch norm refreshed
        sampler = G if G_average is None else G_average
        metrics.update(save_pictures(sampler, args, (x_train + 1) / 2, fixed_noise))
        metrics.update(steps=step, seconds_per_step=seconds / max(step - start_step, 1))
        log.write(step, split="final", **metrics)
        log.print(format_summary(f"{args.model} after {step} steps, "
                                 f"{args.final_samples} samples against t10k[8000:]:",
                                 metrics, UNITS, saved_in=log.path))
    finish_run(args.out)
    return metrics


if __name__ == "__main__":
    main()
