"""The VAE family on binarized MNIST: VAE, conv VAE, conditional VAE, and semi-supervised M2.

The encoder q(z|x) gives a mean and a diagonal log-variance; z = mu + sigma * eps with
eps ~ N(0, I) (the reparameterization trick, so gradients flow through the sample); the
decoder gives Bernoulli logits for p(x|z). Training minimizes the negative ELBO,

    -ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)),

with one sample for the expectation and the KL in closed form. This file reads top to bottom:
the modules, the losses, the training loop, evaluation and pictures, and main().

M2's recipe (the issue leaves the classifier open): a small strided-conv classifier with
dropout, two augmentations of the training batches (random shifts of up to 2 pixels, and
dynamic binarization: a fresh Bernoulli draw from the grey levels; the test set stays
binarized once and unshifted), alpha = 0.1 * 8000, and a cosine learning-rate decay over the
run. The same recipe serves every number of labels.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from models.vae_bounds import importance_weighted_bound
from tinygen.data import (
    DEFAULT_TRAIN_SIZE,
    DataLoader,
    balanced_subset,
    binarized_split,
    default_split,
    dynamic_binarize,
    random_shift,
)
from tinygen.optim import Adam
from tinygen.optim.lr_scheduler import CosineAnnealingLR
from tinygen.train import (
    RunLogger,
    add_model_flags,
    check_needs,
    check_range,
    class_rows,
    finish_run,
    format_summary,
    latent_lattice,
    latent_paths,
    make_parser,
    non_negative_float,
    non_negative_int,
    open_checkpoint,
    parse_args,
    pause_point,
    positive_int,
    quick_notice,
    save_captioned_grid,
    save_image_grid,
    save_latent_scatter,
    script,
)
from tinygen.train.batches import CycledBatches, EndlessBatches

DIGITS = 10
PIXELS = 28 * 28


# =========================================================================== modules
class MLPEncoder(nn.Module):
    """q(z | x [, y]): (N, 784 [+10]) -> mu, logvar, each (N, latent)."""

    def __init__(self, latent: int, hidden: int = 400, condition: int = 0):
        self.hidden = nn.Linear(PIXELS + condition, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)

    def forward(self, x):
        h = F.relu(self.hidden(x))
        return self.mu(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """p(x | z [, y]): (N, latent [+10]) -> Bernoulli logits (N, 784)."""

    def __init__(self, latent: int, hidden: int = 400, condition: int = 0):
        self.hidden = nn.Linear(latent + condition, hidden)
        self.out = nn.Linear(hidden, PIXELS)

    def forward(self, z):
        return self.out(F.relu(self.hidden(z)))


class ConvEncoder(nn.Module):
    """Strided convs down: (N, 784) -> (N, 1, 28, 28) -> 14x14 -> 7x7 -> mu, logvar."""

    def __init__(self, latent: int, channels: int = 32):
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        self.mu = nn.Linear(2 * channels * 49, latent)
        self.logvar = nn.Linear(2 * channels * 49, latent)

    def forward(self, x):
        h = self.net(x)
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """Transposed convs up (the adjoint pair): z -> 7x7 -> 14x14 -> 28x28 logits (N, 784)."""

    def __init__(self, latent: int, channels: int = 32):
        self.net = nn.Sequential(
            nn.Linear(latent, 2 * channels * 49), nn.ReLU(),
            nn.Unflatten(1, (2 * channels, 7, 7)),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
            nn.Flatten(),
        )

    def forward(self, z):
        return self.net(z)


class VAE(nn.Module):
    """A VAE; ``conditional=True`` feeds a one-hot label to both encoder and decoder (cVAE)."""

    def __init__(self, latent: int = 20, hidden: int = 400, conv: bool = False,
                 conditional: bool = False):
        if conv and conditional:
            raise ValueError("VAE: choose conv=True or conditional=True, not both")
        self.latent = latent
        self.conditional = conditional
        condition = DIGITS if conditional else 0
        if conv:
            self.encoder, self.decoder = ConvEncoder(latent), ConvDecoder(latent)
        else:
            self.encoder = MLPEncoder(latent, hidden, condition)
            self.decoder = MLPDecoder(latent, hidden, condition)

    def encode(self, x, y=None):
        return self.encoder(x if y is None else tg.concatenate([x, y], axis=1))

    def decode(self, z, y=None):
        return self.decoder(z if y is None else tg.concatenate([z, y], axis=1))


class ConvClassifier(nn.Module):
    """M2's q(y|x): two strided convs, then dropout and a small MLP; (N, 784) -> logits (N, 10).

    Convolutions share weights across positions, so 100 labelled digits constrain them far
    more than they constrain an MLP on raw pixels; strided convs rather than pooling keep a
    training step cheap on a CPU. Dropout is the classifier's main guard against memorising
    its few labelled examples.
    """

    def __init__(self, channels: int = 32, hidden: int = 128, dropout: float = 0.5):
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.ReLU(),              # 14x14
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),   # 7x7
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(2 * channels * 49, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, DIGITS),
        )

    def forward(self, x):
        return self.net(x)


class M2(nn.Module):
    """Kingma et al. (2014) M2: a classifier q(y|x), an encoder q(z|x,y), a decoder p(x|y,z).

    Args:
        latent, hidden: the conditional VAE's latent size and MLP width.
        dropout: the classifier's dropout probability.
    """

    def __init__(self, latent: int = 50, hidden: int = 500, dropout: float = 0.5):
        self.latent = latent
        self.classifier = ConvClassifier(dropout=dropout)
        self.vae = VAE(latent, hidden, conditional=True)


# =========================================================================== losses
def one_hot(labels, device: str = "cpu") -> tg.Tensor:
    """Integer labels (N,) -> float32 one-hot (N, 10)."""
    labels = labels.numpy() if isinstance(labels, tg.Tensor) else np.asarray(labels)
    return tg.tensor(np.eye(DIGITS, dtype=np.float32)[labels], device=device)


def reparameterize(mu, logvar):
    """z = mu + sigma * eps, eps ~ N(0, I): the sample is a differentiable function of mu and
    logvar, so the ELBO's gradient reaches the encoder."""
    eps = tg.randn(*mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (0.5 * logvar).exp() * eps


def negative_elbo(vae: VAE, x, y=None):
    """-ELBO per image, in nats: (N,). Bernoulli reconstruction term + closed-form KL."""
    mu, logvar = vae.encode(x, y)
    logits = vae.decode(reparameterize(mu, logvar), y)
    reconstruction = F.bernoulli_nll(logits, x, reduction="none")
    kl = F.gaussian_kl(mu, logvar, reduction="none")
    return reconstruction + kl


def m2_labelled_loss(model: M2, x, labels, alpha: float):
    """Labelled part of M2: -ELBO(x, y) - log p(y) + alpha * cross-entropy of q(y|x); (N,)."""
    y = one_hot(labels, x.device)
    log_prior = math.log(1.0 / DIGITS)
    logits = model.classifier(x)
    classification = F.cross_entropy(logits, labels, reduction="none")
    return negative_elbo(model.vae, x, y) - log_prior + alpha * classification


def m2_unlabelled_loss(model: M2, x):
    """Unlabelled part of M2, enumerating every y (no sampling of y):

        U(x) = sum_y q(y|x) (-ELBO(x, y) - log p(y)) - H(q(y|x)),  shape (N,).
    """
    n = x.shape[0]
    log_q_y = F.log_softmax(model.classifier(x), axis=1)                 # (N, 10)
    q_y = log_q_y.exp()
    # every image once per digit: (N, 784) -> (10*N, 784), labels 0..9 in blocks of N
    x_all = tg.concatenate([x] * DIGITS, axis=0)
    labels_all = np.repeat(np.arange(DIGITS), n)
    per_label = negative_elbo(model.vae, x_all, one_hot(labels_all, x.device))
    per_label = per_label.reshape(DIGITS, n).T - math.log(1.0 / DIGITS)  # (N, 10)
    entropy = -(q_y * log_q_y).sum(axis=1)
    return (q_y * per_label).sum(axis=1) - entropy


# =========================================================================== training
def train(model, optimizer, loader, args, log, checkpoint, start_step=0, start_epoch=0,
          unlabelled=None, alpha: float = 0.0, scheduler=None):
    """The training loop. For M2, ``loader`` yields labelled batches and ``unlabelled`` an
    endless stream of unlabelled ones; for the other models ``loader`` is all there is.
    Training batches are shifted by up to ``args.shift`` pixels, and with ``--binarize
    dynamic`` the loaders yield grey levels, binarized here per batch; ``scheduler``, if
    any, steps once per epoch."""
    step = start_step

    def augment(images):
        images = random_shift(images, args.shift) if args.shift else images
        return dynamic_binarize(images) if args.binarize == "dynamic" else images

    for epoch in range(start_epoch, args.epochs):
        model.train()
        for x, labels in loader:
            x = augment(x)
            if isinstance(model, M2):
                x_unlabelled = augment(next(unlabelled))
                labelled = m2_labelled_loss(model, x, labels, alpha).mean()
                loss = labelled + m2_unlabelled_loss(model, x_unlabelled).mean()
            elif model.conditional:
                loss = negative_elbo(model, x, one_hot(labels, x.device)).mean()
            else:
                loss = negative_elbo(model, x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            log.step(step, epoch=epoch, loss=loss.item())
            if args.quick and step >= args.quick_steps:
                return step, epoch
            if step % len(loader):  # the epoch's last step pauses after the scheduler's
                pause_point(args, checkpoint, step, epoch)
        if scheduler is not None:
            scheduler.step()
        checkpoint.save(step=step, epoch=epoch + 1)
        pause_point(args, checkpoint, step, epoch + 1)
    return step, args.epochs


# =========================================================================== evaluation
@tg.no_grad()
def evaluate(model, x_test, y_test, iwae_ks=(100, 1000), iwae_images: int = 1000,
             batch: int = 500) -> dict:
    """Test -ELBO (nats per image; mean of 5 draws), IWAE bounds, and M2's accuracy; the
    images go through in batches of ``batch`` (the draws do not depend on it)."""
    model.eval()
    metrics = {}
    vae_part = model.vae if isinstance(model, M2) else model
    condition = one_hot(y_test) if vae_part.conditional else None
    x = tg.tensor(x_test)
    if isinstance(model, M2):
        predictions = np.concatenate([model.classifier(x[i:i + batch]).numpy().argmax(axis=1)
                                      for i in range(0, len(x_test), batch)])
        metrics["accuracy"] = float((predictions == y_test).mean())
        condition = one_hot(predictions)
    metrics["test_neg_elbo"] = _mean_neg_elbo(vae_part, x, condition, batch)
    subset = slice(0, iwae_images)
    sub_condition = None if condition is None else condition[subset]
    # the bounds are estimated on a subset: report the ELBO on that same subset beside them
    metrics["subset_images"] = min(iwae_images, len(x_test))
    metrics["subset_neg_elbo"] = _mean_neg_elbo(vae_part, x[subset], sub_condition, batch)
    for k in iwae_ks:
        bound = importance_weighted_bound(vae_part, x[subset], k, y=sub_condition)
        metrics[f"test_iwae_nll_k{k}"] = float(-bound.mean())
    return metrics


def _mean_neg_elbo(vae: VAE, x, y, batch: int, draws: int = 5) -> float:
    """-ELBO in nats per image, averaged over the images and ``draws`` draws of z."""
    means = []
    for _ in range(draws):
        parts = [negative_elbo(vae, x[i:i + batch], None if y is None else y[i:i + batch])
                 .numpy() for i in range(0, x.shape[0], batch)]
        means.append(np.concatenate(parts).mean())
    return float(np.mean(means))


# =========================================================================== pictures
@tg.no_grad()
def save_pictures(model, x_test, y_test, out, fixed_noise) -> None:
    """Reconstructions beside originals, prior samples, and latent interpolations; for a
    2-D latent the decoded manifold and a scatter of test codes; for the cVAE, one row
    per digit and style transfer (keep z, change y)."""
    vae_part = model.vae if isinstance(model, M2) else model
    conditional = vae_part.conditional
    x = tg.tensor(x_test[:32])
    y = one_hot(y_test[:32]) if conditional else None
    mu, _ = vae_part.encode(x, y)
    reconstruction = vae_part.decode(mu, y).sigmoid()
    pairs = np.stack([x.numpy(), reconstruction.numpy()], axis=1).reshape(-1, 1, 28, 28)
    save_captioned_grid(pairs, out / "reconstructions.png", nrow=16,
                        title="Pairs of test digits: left, the original; right, its "
                              "reconstruction (decoded from the posterior mean).",
                        column_labels=["original", "recon."])

    if conditional:  # one row per digit, the same 10 noise vectors in every row
        z, labels = class_rows(fixed_noise[:10], DIGITS)
        samples = vae_part.decode(tg.tensor(z), one_hot(labels)).sigmoid()
        save_image_grid(samples.numpy().reshape(-1, 1, 28, 28), out / "samples_by_digit.png",
                        nrow=10)
        style, labels = class_rows(mu.numpy()[:8], DIGITS)  # keep z of 8 test digits, vary y
        transfer = vae_part.decode(tg.tensor(style), one_hot(labels))
        save_image_grid(transfer.sigmoid().numpy().reshape(-1, 1, 28, 28),
                        out / "style_transfer.png", nrow=8)
    else:
        samples = vae_part.decode(tg.tensor(fixed_noise)).sigmoid()
        save_image_grid(samples.numpy().reshape(-1, 1, 28, 28), out / "samples.png", nrow=8)

    rows = []  # paths between the codes of test digits 0 and 1, 2 and 3, 4 and 5, 6 and 7
    for first, path in zip((0, 2, 4, 6), latent_paths(mu.numpy()[:8])):  # path: (10, latent)
        label = None if not conditional else tg.tensor(np.repeat(y.numpy()[[first]], 10, 0))
        rows.append(vae_part.decode(tg.tensor(path), label).sigmoid().numpy())
    save_image_grid(np.concatenate(rows).reshape(-1, 1, 28, 28), out / "interpolation.png",
                    nrow=10)
    if vae_part.latent == 2 and not conditional:  # the whole latent space fits in a picture
        manifold = vae_part.decode(tg.tensor(latent_lattice(15, 2.5))).sigmoid().numpy()
        save_image_grid(manifold.reshape(-1, 1, 28, 28), out / "manifold.png", nrow=15)
        codes, _ = vae_part.encode(tg.tensor(x_test))
        save_latent_scatter(codes, y_test, out / "latent_scatter.png",
                            title="test codes (posterior means)", label="digit")


# =========================================================================== main
def parse_flags(argv) -> argparse.Namespace:
    """The command line, checked, with the defaults that depend on the model filled in
    (``--binarize``, ``--shift``) and ``--quick`` applied."""
    parser = make_parser("Train a VAE-family model on binarized MNIST (t10k[:8000], "
                         "tested on t10k[8000:]).", epochs=30, batch_size=128, lr=1e-3,
                         out="runs/vae")
    flags = add_model_flags(parser, "VAE")
    flags.add_argument("--model", choices=["vae", "conv", "cvae", "m2"], default="vae",
                       help="VAE, conv VAE, conditional VAE, or semi-supervised M2")
    flags.add_argument("--latent", type=positive_int, default=20, help="latent dimensions")
    flags.add_argument("--hidden", type=positive_int, default=400,
                       help="hidden units of the MLPs")
    flags.add_argument("--labels", type=positive_int, default=100,
                       help="M2: labelled examples (the rest of the 8000 are unlabelled)")
    flags.add_argument("--alpha", type=non_negative_float, default=None,
                       help="M2: weight of the labelled classification loss "
                            "(default 0.1 * training-set size, as in Kingma et al.)")
    flags.add_argument("--eval-only", action="store_true",
                       help="skip training: evaluate the --resume checkpoint and redraw")
    flags.add_argument("--dropout", type=non_negative_float, default=0.5,
                       help="M2: dropout probability in the classifier q(y|x)")
    flags.add_argument("--shift", type=non_negative_int, default=None,
                       help="training images move by a random offset of up to this many "
                            "pixels per axis (default: 2 for m2, 0 otherwise)")
    flags.add_argument("--binarize", choices=["stochastic", "dynamic", "threshold"],
                       default=None,
                       help="training images: Bernoulli(intensity) sampled once with the seed "
                            "(the papers'), sampled afresh for every batch, or pixel > 127; "
                            "the test set is binarized once (threshold for threshold, else "
                            "stochastic). Default: dynamic for m2, stochastic otherwise")
    args = parse_args(parser, argv)
    check_needs(parser, args, "--eval-only", "--resume", why="the checkpoint to evaluate")
    check_range(parser, args, "--dropout", 0, 1, "[)")
    if args.model == "m2" and (args.labels % DIGITS
                               or not 0 < args.labels <= DEFAULT_TRAIN_SIZE):
        parser.error(f"--labels must be a positive multiple of {DIGITS} up to "
                     f"{DEFAULT_TRAIN_SIZE}, got {args.labels}")
    if args.model == "m2":  # an unlabelled epoch must hold at least one batch
        check_range(parser, args, "--batch-size", high=DEFAULT_TRAIN_SIZE)
    if args.binarize is None:
        args.binarize = "dynamic" if args.model == "m2" else "stochastic"
    if args.shift is None:
        args.shift = 2 if args.model == "m2" else 0
    check_range(parser, args, "--shift", high=27)
    args.quick_steps = 300
    if args.quick:
        args.epochs = min(args.epochs, 2)
    return args


def load_data(args) -> tuple[tuple, tuple]:
    """((x_train, labels), (x_test, labels)), images flat (N, 784) float32: the test set
    binarized once (by threshold for ``--binarize threshold``, else stochastically), the
    training set binarized the same way, or kept as grey levels in [0, 1] for ``dynamic``
    (train() then draws fresh binary pixels for every batch)."""
    once = "threshold" if args.binarize == "threshold" else "stochastic"
    (train_binary, train_labels), (test_binary, test_labels) = binarized_split(once, args.seed)
    if args.binarize == "dynamic":
        (train_images, _), _ = default_split()
        x_train = train_images.reshape(-1, PIXELS).astype(np.float32) / 255.0
    else:
        x_train = train_binary.reshape(-1, PIXELS).astype(np.float32)
    return (x_train, train_labels), (test_binary.reshape(-1, PIXELS).astype(np.float32),
                                      test_labels)


def model_and_batches(args, x_train, train_labels):
    """(model, loader, unlabelled, alpha): a VAE and its loader, with no unlabelled stream
    and alpha 0; or M2, its balanced labelled subset cycled for one unlabelled epoch's worth
    of batches per epoch, the endless unlabelled stream, and alpha. The loaders and the
    stream go into the checkpoint, so a resumed run sees the batches it would have seen."""
    if args.model != "m2":
        model = VAE(args.latent, args.hidden, conv=args.model == "conv",
                    conditional=args.model == "cvae")
        loader = DataLoader(x_train, train_labels, batch_size=args.batch_size, shuffle=True,
                            seed=args.seed, device=args.device)
        return model, loader, None, 0.0
    model = M2(latent=args.latent, hidden=args.hidden, dropout=args.dropout)
    labelled = balanced_subset(train_labels, args.labels, args.seed, classes=DIGITS)
    loader = DataLoader(x_train[labelled], train_labels[labelled],
                        batch_size=min(args.batch_size, len(labelled)), shuffle=True,
                        seed=args.seed, device=args.device)
    unlabelled = EndlessBatches(x_train, None, args.batch_size, args.seed + 1, args.device)
    alpha = 0.1 * len(x_train) if args.alpha is None else args.alpha  # Kingma et al.: 0.1 N
    return model, CycledBatches(loader, len(x_train) // args.batch_size), unlabelled, alpha


UNITS = {"test_neg_elbo": "nats per image (-ELBO, lower is better)",  # the final summary's
         "subset_neg_elbo": "nats per image (-ELBO on the IWAE subset)",
         "subset_images": "test images", "accuracy": "%",
         **{f"test_iwae_nll_k{k}": f"nats per image (IWAE bound, k={k})" for k in (100, 1000)}}


@script
def main(argv=None) -> dict:
    args = parse_flags(argv)
    tg.manual_seed(args.seed)
    (x_train, train_labels), (x_test, test_labels) = load_data(args)
    model, loader, unlabelled, alpha = model_and_batches(args, x_train, train_labels)
    model.to(args.device)
    optimizer = Adam(model.parameters(), lr=args.lr)
    run_state = {"model": model, "optimizer": optimizer, "loader": loader}
    scheduler = None
    if args.model == "m2":  # small steps at the end settle the classifier's few labels
        scheduler = run_state["scheduler"] = CosineAnnealingLR(optimizer, T_max=args.epochs)
        run_state["unlabelled"] = unlabelled
    fixed_noise = tg.randn(64, args.latent).numpy()
    checkpoint, state = open_checkpoint(args.out, args.resume, {"fixed_noise": fixed_noise},
                                        **run_state)
    step, epoch, fixed_noise = state["step"], state["epoch"], state["fixed_noise"]
    full = args.epochs * len(loader)
    total = min(full, args.quick_steps) if args.quick else full  # --quick: whichever is first
    with RunLogger(args.out, total_steps=total, initial_step=step, desc=args.model,
                   log_every=args.log_every, config=args, units=UNITS) as log:
        if args.quick:
            log.print(quick_notice(f"python -m models.vae --model {args.model}", total,
                                   also="at most 2 epochs, IWAE bound on 100 test images"))
        if not args.eval_only:
            step, epoch = train(model, optimizer, loader, args, log, checkpoint, step, epoch,
                                unlabelled, alpha, scheduler)
            checkpoint.save(step=step, epoch=epoch)
        # M2's figure is its accuracy; its bounds condition on predicted labels, so the
        # costly k=1000 bound adds little there
        short = args.quick or args.model == "m2"
        metrics = evaluate(model, x_test, test_labels, iwae_ks=(100,) if short else (100, 1000),
                           iwae_images=100 if args.quick else 1000)
        log.write(step, split="test", **metrics)
        log.print(format_summary(f"test set (t10k[8000:]), after {step} training steps:",
                                 metrics, UNITS, saved_in=log.path))
    save_pictures(model, x_test, test_labels, args.out, fixed_noise)
    finish_run(args.out)
    return metrics


if __name__ == "__main__":
    main()
