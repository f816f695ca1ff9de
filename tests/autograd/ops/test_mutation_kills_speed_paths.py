"""Tests that kill mutants (tools/mutants.py) of the kernels rewritten for speed, where the
existing tests let them survive.

The fused class-index loss (PickedNLL) has two backwards: raw arrays for first order and
Tensor ops when the backward is recorded (create_graph=True). gradcheck only reaches the raw
one. gradgradcheck differentiates the recorded one, but a wrong recorded gradient is still
consistent with its own derivative, so it passes. The tests here compare the recorded
first-order gradient with the raw one and with the composition PickedNLL replaces.
"""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad
from tinygen.autograd.ops.loss import classification
from tinygen.autograd.ops.reduction import log_softmax

IGNORE = -100


def _gradient(loss, x_values, upstream_values, create_graph):
    """dL/dx of ``loss(x)`` against ``upstream_values``, recorded or not."""
    x = tg.tensor(x_values, requires_grad=True)
    y = loss(x)
    upstream = tg.tensor(np.reshape(upstream_values[:y.numel()], y.shape))
    (gx,) = grad(y, [x], [upstream], create_graph=create_graph)
    return gx.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("op", ["nll_loss", "cross_entropy"])
def test_picked_nll_recorded_gradient_equals_the_raw_one_and_the_composition(op, reduction):
    """Kills loss.picked-recorded-one-hot (softmax without the one-hot subtracted) and
    loss.picked-recorded-divisor (the mean's divisor left out): the recorded first-order
    gradient must match the raw backward's and the composition's."""
    rng = np.random.default_rng(3)
    x_values = rng.standard_normal((5, 4)) * 2
    target = tg.tensor(np.array([3, IGNORE, 0, 1, 3]))
    upstream = np.linspace(0.5, 1.5, 5)

    def fused(x):
        return getattr(F, op)(x, target, reduction=reduction)

    def composed(x):
        scores = log_softmax(x, dim=1) if op == "cross_entropy" else x
        return classification._index_loss(op, scores, target, None, IGNORE, reduction)

    recorded = _gradient(fused, x_values, upstream, create_graph=True)
    raw = _gradient(fused, x_values, upstream, create_graph=False)
    reference = _gradient(composed, x_values, upstream, create_graph=False)

    np.testing.assert_allclose(recorded, raw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(recorded, reference, rtol=1e-12, atol=1e-12)
