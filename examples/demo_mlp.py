"""The smallest end-to-end run: fit a 2-layer MLP to two interleaved spirals with raw tinygen
tensors (no nn module, so every step is visible), then prove one gradient with gradcheck."""

import numpy as np

import tinygen as tg
from tinygen.autograd import gradcheck


def spirals(points_per_class: int, seed: int = 0):
    """Two interleaved 2-D spirals, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.2, 1.0, points_per_class)
    angle = np.linspace(0.0, 1.5 * np.pi, points_per_class)
    xs, ys = [], []
    for label in (0, 1):
        theta = angle + label * np.pi + rng.normal(0, 0.05, points_per_class)
        xs.append(np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1))
        ys.append(np.full(points_per_class, label))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def mlp(x, w1, b1, w2, b2):
    """(N, 2) -> (N,) logits through one tanh hidden layer."""
    return ((x @ w1 + b1).tanh() @ w2 + b2).reshape(-1)


def bce_with_logits(logits, targets):
    """Mean binary cross-entropy, stable for large logits: softplus(z) - y*z."""
    return (tg.softplus(logits) - targets * logits).mean()


def main(steps: int = 1000, hidden: int = 32, lr: float = 1.0) -> None:
    tg.manual_seed(0)
    x_values, y_values = spirals(200)
    x, y = tg.tensor(x_values), tg.tensor(y_values)
    w1 = tg.tensor(tg.randn(2, hidden).numpy() * 1.5, requires_grad=True)
    b1 = tg.zeros(hidden, requires_grad=True)
    w2 = tg.tensor(tg.randn(hidden, 1).numpy() / np.float32(np.sqrt(hidden)), requires_grad=True)
    b2 = tg.zeros(1, requires_grad=True)
    parameters = [w1, b1, w2, b2]

    for step in range(steps + 1):
        loss = bce_with_logits(mlp(x, *parameters), y)
        for p in parameters:
            p.grad = None
        loss.backward()
        with tg.no_grad():
            for p in parameters:
                p.sub_(lr * p.grad.data)
        if step % 200 == 0:
            accuracy = ((mlp(x, *parameters).numpy() > 0) == (y_values > 0.5)).mean()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")

    # Prove the gradient of the whole model with the project's own checker, in float64.
    inputs = [tg.tensor(x_values[:8], dtype=np.float64)] + [
        tg.tensor(p.numpy(), dtype=np.float64, requires_grad=True) for p in parameters]
    gradcheck(lambda xb, *ps: bce_with_logits(mlp(xb, *ps), tg.tensor(
        y_values[:8], dtype=np.float64)), inputs)
    print("gradcheck: the MLP's analytic gradient matches central differences (float64)")


if __name__ == "__main__":
    main()
