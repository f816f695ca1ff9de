"""Losses, numerically stable, with PyTorch's names, arguments and ``reduction`` rules.

Two families, with different reduction conventions:

- PyTorch's losses (``torch.nn.functional``'s names, argument order and defaults, the
  legacy ``size_average``/``reduce`` included): ``reduction="mean"`` averages over every
  element, except where PyTorch divides by something else, which each docstring states
  (``nll_loss``/``cross_entropy`` by the summed weights of the counted targets, ``kl_div``'s
  ``"batchmean"`` by the batch size, a weighted ``mse_loss``/``l1_loss`` by the summed
  weights).
- Density terms for latent-variable models (``gaussian_kl``, ``gaussian_nll``,
  ``bernoulli_nll``) first sum over every axis but the batch axis, giving nats per sample;
  ``reduction`` then acts on the batch: "mean" is nats per sample averaged over the batch,
  "sum" is the batch total, "none" is the (N,) vector. This is the ELBO's natural unit.

Almost every loss is a composition of differentiable ops (second order comes for free); the
two binary cross-entropies are op classes (``binary.py``), for PyTorch's edge behaviour (a
clamped log and a floored denominator at probabilities 0 and 1) and for stability at logits
of +-1e4. The files, by role: ``arguments.py`` (checks and reductions), ``binary.py``,
``classification.py`` (nll, cross-entropy, margins), ``regression.py`` (squared, absolute,
Huber, Gaussian and Poisson NLL), ``density.py`` (kl_div and the density terms).
"""

from tinygen.autograd.ops.loss.arguments import resolve_reduction
from tinygen.autograd.ops.loss.binary import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from tinygen.autograd.ops.loss.classification import (
    cross_entropy,
    hinge_embedding_loss,
    margin_ranking_loss,
    nll_loss,
    soft_margin_loss,
)
from tinygen.autograd.ops.loss.density import bernoulli_nll, gaussian_kl, gaussian_nll, kl_div
from tinygen.autograd.ops.loss.regression import (
    gaussian_nll_loss,
    huber_loss,
    l1_loss,
    mse_loss,
    poisson_nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits", "bernoulli_nll",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "gaussian_kl",
    "gaussian_nll", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
    "l1_loss", "margin_ranking_loss", "mse_loss", "nll_loss", "poisson_nll_loss",
    "resolve_reduction", "smooth_l1_loss", "soft_margin_loss",
]
