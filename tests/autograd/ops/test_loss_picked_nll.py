"""The fused class-index loss (PickedNLL) that nll_loss and cross_entropy take for 2-d scores
without class weights or smoothing: against the composition it replaces (log_softmax, a
picked entry, the weighted mean), with ignored targets, every reduction, an all-ignored
batch and an empty one; gradcheck and gradgradcheck in float64."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.autograd.ops.loss import classification
from tinygen.autograd.ops.reduction import log_softmax

IGNORE = -100


def _composed(op, x, target, reduction):
    """The composition the fused op replaces, called directly."""
    scores = log_softmax(x, dim=1) if op == "cross_entropy" else x
    return classification._index_loss(op, scores, target, None, IGNORE, reduction)


def _fused(op, x, target, reduction):
    return getattr(F, op)(x, target, reduction=reduction)


@st.composite
def _scores_and_targets(draw):
    rows, classes = draw(st.integers(0, 5)), draw(st.integers(1, 4))
    rng = np.random.default_rng(rows * 10 + classes)
    x = rng.standard_normal((rows, classes)) * 3
    target = np.asarray(draw(st.lists(st.sampled_from([*range(classes), IGNORE]),
                                      min_size=rows, max_size=rows)), dtype=np.int64)
    return x, target


@given(_scores_and_targets(), st.sampled_from(["nll_loss", "cross_entropy"]),
       st.sampled_from(["mean", "sum", "none"]))
def test_picked_nll_matches_the_composition_with_its_gradients(drawn, op, reduction):
    x_values, target_values = drawn
    target = tg.tensor(target_values)
    results = []
    for loss in (_fused, _composed):
        x = tg.tensor(x_values, requires_grad=True)
        y = loss(op, x, target, reduction)
        upstream = tg.tensor(np.linspace(0.5, 1.5, y.numel()).reshape(y.shape))
        results.append((y.numpy(), grad(y, [x], [upstream])[0].numpy()))

    (y_fused, g_fused), (y_composed, g_composed) = results
    np.testing.assert_allclose(y_fused, y_composed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_fused, g_composed, rtol=1e-12, atol=1e-12)


def test_picked_nll_is_the_op_the_common_case_takes():
    x = tg.tensor(np.zeros((2, 3)), requires_grad=True)

    y = F.cross_entropy(x, tg.tensor([0, 2]))

    assert isinstance(y.grad_fn, classification.PickedNLL)


def test_picked_nll_with_every_target_ignored_is_nan_with_zero_gradient():
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)

    y = F.cross_entropy(x, tg.tensor([IGNORE, IGNORE]))
    (gx,) = grad(y, [x])

    assert np.isnan(y.item())
    np.testing.assert_array_equal(gx.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("op", ["nll_loss", "cross_entropy"])
def test_picked_nll_passes_gradcheck_and_gradgradcheck(op, reduction):
    x = tg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    target = tg.tensor([2, IGNORE, 0, 2])

    def loss(scores):
        return _fused(op, scores, target, reduction)

    assert gradcheck(loss, [x])
    assert gradgradcheck(loss, [x])
