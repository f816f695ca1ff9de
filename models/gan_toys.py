"""GAN mechanics in two dimensions, in seconds on a CPU.

1. **The ring**: G(z) = z/10 + z/||z|| maps z ~ N(0, I) onto a ring. A generator is only a
   function; the distribution it defines is the push-forward of the noise.
2. **Learning it**: an MLP GAN learns the ring, then a mixture of 8 Gaussians (the classic
   mode-collapse test), from samples alone. Real vs generated points are saved as PNG frames
   over training and a GIF.
3. **The bilinear game** v(a, b) = a b (a minimizes, b maximizes, the equilibrium is (0, 0)):
   simultaneous gradient steps spiral outwards, alternating steps circle, extra-gradient
   (step from a look-ahead point) spirals in.
4. **Saturating vs non-saturating generator loss**: the minimax loss log(1 - D(G(z))) is flat
   where D confidently rejects the samples, which is exactly early in training; -log D(G(z))
   is steep there. The generator's gradient norm over the first steps shows it.

Run ``python -m models.gan_toys`` (``--quick`` for fewer steps); pictures and the metrics
JSONL go to ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the scripts run on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tinygen as tg  # noqa: E402
import tinygen.nn as nn  # noqa: E402
import tinygen.nn.functional as F  # noqa: E402
from tinygen.data import gaussian_mixture, mixture_centres, ring  # noqa: E402
from tinygen.optim import Adam  # noqa: E402
from tinygen.train import (  # noqa: E402
    RunLogger,
    add_model_flags,
    finish_run,
    format_summary,
    make_parser,
    parse_args,
    quick_notice,
)

MIXTURE_STD = 0.05  # wide enough for a small MLP to fit within a minute, narrow enough to see


# =========================================================================== 1. the ring map
def ring_map(z: np.ndarray) -> np.ndarray:
    """The lecture's generator G(z) = z/10 + z/||z||: (N, 2) -> (N, 2), radius about 1."""
    norms = np.linalg.norm(z, axis=1, keepdims=True)  # (N, 1)
    return z / 10 + z / norms


def save_ring_map(out: Path, seed: int) -> Path:
    """Scatter plots of z ~ N(0, I) and of G(z), side by side."""
    z = np.random.default_rng(seed).standard_normal((2000, 2))
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    for axis, points, title in ((axes[0], z, "z ~ N(0, I)"),
                                (axes[1], ring_map(z), "G(z) = z/10 + z/||z||")):
        axis.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
        axis.set(title=title, aspect="equal", xlim=(-3.5, 3.5), ylim=(-3.5, 3.5))
    path = out / "ring_map.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


# =========================================================================== 2. a toy GAN
class ToyGenerator(nn.Module):
    """z (N, 2) -> points (N, 2): an MLP, nothing told about rings or modes."""

    def __init__(self, hidden: int = 64, latent: int = 2):
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, z):
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """points (N, 2) -> logits (N,)."""

    def __init__(self, hidden: int = 64):
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).reshape(-1)  # (N, 1) -> (N,)


def toy_data(name: str, n: int, seed: int) -> np.ndarray:
    if name == "ring":
        return ring(n, seed=seed)
    return gaussian_mixture(n, std=MIXTURE_STD, seed=seed)


def toy_metrics(name: str, points: np.ndarray) -> dict:
    """How well points match the target: for the ring, the mean distance from the unit
    circle; for the mixture, the modes holding >= 2% of the points and the fraction of points
    within 3 standard deviations of a centre (the unrolled-GAN paper's two numbers)."""
    if name == "ring":
        return {"ring_error": float(np.abs(np.linalg.norm(points, axis=1) - 1).mean())}
    centres = mixture_centres()
    distances = np.linalg.norm(points[:, None, :] - centres[None], axis=2)  # (N, 8)
    near = distances.min(axis=1) < 3 * MIXTURE_STD
    counts = np.bincount(distances.argmin(axis=1)[near], minlength=len(centres))
    return {"modes_covered": int((counts >= 0.02 * len(points)).sum()),
            "high_quality": float(near.mean())}


def train_toy_gan(name: str, steps: int, frames: int, out: Path, log: RunLogger,
                  seed: int = 0, batch: int = 256, lr: float = 1e-3) -> dict:
    """Train an MLP GAN on ``name`` ("ring" or "mixture"); save ``frames`` scatter frames and
    a GIF of them; return the final metrics of 2000 samples."""
    tg.manual_seed(seed)
    G, D = ToyGenerator(), ToyDiscriminator()
    g_optimizer = Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    d_optimizer = Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    real_view = toy_data(name, 2000, seed + 1)
    fixed_z = tg.randn(2000, 2)
    frame_paths = []
    every = max(1, steps // frames)
    for step in range(1, steps + 1):
        x = tg.tensor(toy_data(name, batch, seed + 1 + step))
        fake = G(tg.randn(batch, 2))
        # detach: the discriminator step must not send gradients into G
        d_loss = (F.binary_cross_entropy_with_logits(D(x), tg.ones(batch))
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), tg.zeros(batch)))
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        g_loss = -F.log_sigmoid(D(G(tg.randn(batch, 2)))).mean()  # non-saturating
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
        if step % every == 0 or step == steps:
            with tg.no_grad():
                points = G(fixed_z).numpy()
            metrics = toy_metrics(name, points)
            log.write(step, split=name, d_loss=d_loss.item(), g_loss=g_loss.item(), **metrics)
            frame_paths.append(_save_frame(real_view, points, step,
                                           out / "frames" / f"{name}_{step:05d}.png"))
    gif = out / f"{name}.gif"
    images = [Image.open(path).convert("P") for path in frame_paths]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=300, loop=0)
    return metrics


def _save_frame(real: np.ndarray, fake: np.ndarray, step: int, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, label="real")
    axis.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.3, label="generated")
    axis.set(title=f"step {step}", aspect="equal", xlim=(-3, 3), ylim=(-3, 3))
    axis.legend(loc="upper right", markerscale=4)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


# =========================================================================== 3. bilinear game
def bilinear_trajectory(rule: str, steps: int = 100, lr: float = 0.1,
                        start=(1.0, 1.0)) -> np.ndarray:
    """Play v(a, b) = a b with gradient descent on a and ascent on b; (steps + 1, 2) path.

    rule: "simultaneous" (both step from the same point), "alternating" (b answers the a that
    just moved), or "extragradient" (both step with the gradient at a look-ahead point).
    """
    a = tg.tensor(start[0], dtype=np.float64, requires_grad=True)
    b = tg.tensor(start[1], dtype=np.float64, requires_grad=True)
    path = [(a.item(), b.item())]
    for _ in range(steps):
        ga, gb = tg.autograd.grad(a * b, [a, b])
        if rule == "extragradient":
            # look ahead one step, then step from where we are with the look-ahead's gradient
            a_ahead = (a - lr * ga).detach().requires_grad_()
            b_ahead = (b + lr * gb).detach().requires_grad_()
            ga, gb = tg.autograd.grad(a_ahead * b_ahead, [a_ahead, b_ahead])
        with tg.no_grad():
            a.sub_(lr * ga.data)
        if rule == "alternating":
            (gb,) = tg.autograd.grad(a * b, [b])
        with tg.no_grad():
            b.add_(lr * gb.data)
        path.append((a.item(), b.item()))
    return np.array(path)


def save_bilinear_game(out: Path, steps: int = 100) -> dict:
    """Plot the three trajectories; return each one's final distance from (0, 0)."""
    figure, axis = plt.subplots(figsize=(5, 5))
    distances = {}
    for rule in ("simultaneous", "alternating", "extragradient"):
        path = bilinear_trajectory(rule, steps)
        distances[f"bilinear_{rule}_distance"] = float(np.hypot(*path[-1]))
        axis.plot(path[:, 0], path[:, 1], marker=".", markersize=2, linewidth=1, label=rule)
    axis.plot([1], [1], "ko", label="start")
    axis.plot([0], [0], "r*", markersize=12, label="equilibrium")
    axis.set(title=f"v(a, b) = ab, {steps} steps of lr 0.1", xlabel="a (minimizes)",
             ylabel="b (maximizes)", aspect="equal")
    axis.legend(loc="lower left", fontsize=8)
    figure.savefig(out / "bilinear_game.png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return distances


# =========================================================================== 4. saturation
def generator_gradient_norms(loss: str, steps: int, head_start: int = 50, seed: int = 0,
                             batch: int = 256) -> np.ndarray:
    """||dL_G/dtheta_G|| at each of the first ``steps`` generator steps on the mixture.

    D first trains alone for ``head_start`` steps, as happens when D learns faster than G:
    it then rejects the early samples confidently, the regime the lecture talks about.
    Both losses start from the same weights (the same seed).

    loss: "saturating" (minimize log(1 - D(G(z))) = log sigmoid(-a)) or "non-saturating"
    (minimize -log D(G(z)) = -log sigmoid(a)), with a = D's logit.
    """
    tg.manual_seed(seed)
    G, D = ToyGenerator(), ToyDiscriminator()
    g_optimizer = Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_optimizer = Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    norms = []
    for step in range(head_start + steps):
        x = tg.tensor(toy_data("mixture", batch, seed + step))
        fake = G(tg.randn(batch, 2))
        d_loss = (F.binary_cross_entropy_with_logits(D(x), tg.ones(batch))
                  + F.binary_cross_entropy_with_logits(D(fake.detach()), tg.zeros(batch)))
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        if step < head_start:
            continue
        logits = D(G(tg.randn(batch, 2)))
        g_loss = (F.log_sigmoid(-logits).mean() if loss == "saturating"
                  else -F.log_sigmoid(logits).mean())
        g_optimizer.zero_grad()
        g_loss.backward()
        norms.append(np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in G.parameters())))
        g_optimizer.step()
    return np.array(norms)


def save_saturation_plot(out: Path, steps: int) -> dict:
    """Plot both losses' generator gradient norms; return their means over the first steps."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    means = {}
    for loss in ("saturating", "non-saturating"):
        norms = generator_gradient_norms(loss, steps)
        means[f"{loss.replace('-', '_')}_grad_norm"] = float(norms[:20].mean())
        axis.plot(norms, label=f"{loss}: " + ("log(1 - D(G(z)))" if loss == "saturating"
                                              else "-log D(G(z))"))
    axis.set(yscale="log", xlabel="generator step (after D's head start)",
             ylabel="||grad of G's loss||", title="early generator gradients")
    axis.legend(fontsize=8)
    figure.savefig(out / "saturation.png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return means


# =========================================================================== main
# The final summary's units.
UNITS = {"ring_ring_error": "mean distance from the unit circle (0 is perfect)",
         "mixture_modes_covered": "of 8 modes hold >= 2% of the samples",
         "mixture_high_quality": "share of samples within 3 std of a mode",
         **{f"bilinear_{rule}_distance": "from the equilibrium after 100 steps (start: 1.414)"
            for rule in ("simultaneous", "alternating", "extragradient")},
         "saturating_grad_norm": "mean |grad| of G's loss, first 20 steps",
         "non_saturating_grad_norm": "mean |grad| of G's loss, first 20 steps"}


def main(argv=None) -> dict:
    parser = make_parser(__doc__.splitlines()[0], epochs=1, batch_size=256, lr=1e-3,
                         out="runs/gan_toys")
    flags = add_model_flags(parser, "toy GAN")
    flags.add_argument("--steps", type=int, default=3000, help="training steps per toy GAN")
    flags.add_argument("--frames", type=int, default=20, help="PNG frames (and GIF frames)")
    flags.add_argument("--saturation-steps", type=int, default=300,
                       help="generator steps whose gradient norms the saturation plot shows")
    args = parse_args(parser, argv)
    full_steps = args.steps
    if args.quick:
        print(quick_notice("python -m models.gan_toys", min(args.steps, 1000), full_steps,
                           also="per toy GAN; fewer frames"))
        args.steps, args.frames = min(args.steps, 1000), min(args.frames, 5)
        args.saturation_steps = min(args.saturation_steps, 60)
    args.out.mkdir(parents=True, exist_ok=True)
    save_ring_map(args.out, args.seed)
    metrics = {}
    with RunLogger(args.out, disable_bar=True, config=args, units=UNITS) as log:
        for name in ("ring", "mixture"):
            final = train_toy_gan(name, args.steps, args.frames, args.out, log, args.seed,
                                  args.batch_size, args.lr)
            metrics.update({f"{name}_{key}": value for key, value in final.items()})
        metrics.update(save_bilinear_game(args.out))
        metrics.update(save_saturation_plot(args.out, args.saturation_steps))
        log.write(args.steps, split="final", **metrics)
    print(format_summary(f"the toy GANs after {args.steps} steps each, and the 2-D games:",
                         metrics, UNITS, saved_in=args.out / "metrics.jsonl"))
    finish_run(args.out)
    return metrics


if __name__ == "__main__":
    main()
