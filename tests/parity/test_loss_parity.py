"""Losses against PyTorch CPU: values and input gradients for every reduction, with class
weights, ignored targets, label smoothing, probability targets, unbatched and spatial inputs,
and the loss modules' state dicts."""

import warnings

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def rand(*shape, seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)


def assert_same(ours_fn, theirs_fn, *arrays, grads=(0,)):
    """Run both losses on the same float64 arrays (integer arrays as class indices) and
    compare the values and the gradients of the arrays at positions ``grads``."""
    ours = [tg.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn alike (kl_div's "mean")
        value, expected = ours_fn(*ours), theirs_fn(*theirs)
    np.testing.assert_allclose(value.numpy(), expected.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    if grads:
        value.sum().backward()
        expected.sum().backward()
        for i in grads:
            np.testing.assert_allclose(ours[i].grad.numpy(), theirs[i].grad.numpy(),
                                       rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropies_match_torch(reduction, weighted):
    p, y, z = rand(3, 4, low=0.01, high=0.99), rand(3, 4, seed=1, low=0, high=1), rand(3, 4) * 4
    weight = rand(4, seed=2, low=0.5, high=2) if weighted else None
    pos_weight = rand(4, seed=3, low=0.5, high=2) if weighted else None

    def as_torch(a):
        return None if a is None else torch.tensor(a)

    assert_same(lambda a, b: F.binary_cross_entropy(a, b, weight, reduction=reduction),
                lambda a, b: TF.binary_cross_entropy(a, b, as_torch(weight),
                                                     reduction=reduction), p, y)
    assert_same(lambda a, b: F.binary_cross_entropy_with_logits(
                    a, b, weight, reduction=reduction, pos_weight=pos_weight),
                lambda a, b: TF.binary_cross_entropy_with_logits(
                    a, b, as_torch(weight), reduction=reduction,
                    pos_weight=as_torch(pos_weight)), z, y, grads=(0, 1))


def test_binary_cross_entropy_matches_torch_at_probabilities_zero_and_one():
    p, y = np.array([0.0, 1.0, 0.0, 1.0, 1e-30]), np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    assert_same(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), p, y)


def test_binary_cross_entropy_with_zero_dim_logits_matches_torch():
    assert_same(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                np.array(0.7), np.array(0.25), grads=(0, 1))


SHAPES = [((5, 4), (5,)), ((2, 4, 3, 2), (2, 3, 2)), ((4,), ())]


@pytest.mark.parametrize("shape, target_shape", SHAPES, ids=["batch", "spatial", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_class_index_losses_match_torch(shape, target_shape, reduction, weighted,
                                        label_smoothing):
    x = rand(*shape)
    target = np.random.default_rng(1).integers(0, 4, target_shape)
    if target.ndim:
        target.reshape(-1)[0] = -100  # one ignored position
    weight = rand(4, seed=2, low=0.5, high=2) if weighted else None
    torch_weight = None if weight is None else torch.tensor(weight)

    assert_same(lambda a, t: F.cross_entropy(a, t, weight, reduction=reduction,
                                             label_smoothing=label_smoothing),
                lambda a, t: TF.cross_entropy(a, t, torch_weight, reduction=reduction,
                                              label_smoothing=label_smoothing), x, target)
    assert_same(lambda a, t: F.nll_loss(a, t, weight, reduction=reduction),
                lambda a, t: TF.nll_loss(a, t, torch_weight, reduction=reduction), x, target)


@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3, 2), (4,)],
                         ids=["batch", "spatial", "unbatched"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_probability_target_cross_entropy_matches_torch(shape, reduction, weighted,
                                                        label_smoothing):
    x, target = rand(*shape), rand(*shape, seed=1, low=0, high=1)
    weight = rand(4, seed=2, low=0.5, high=2) if weighted else None
    torch_weight = None if weight is None else torch.tensor(weight)
    assert_same(lambda a, t: F.cross_entropy(a, t, weight, reduction=reduction,
                                             label_smoothing=label_smoothing),
                lambda a, t: TF.cross_entropy(a, t, torch_weight, reduction=reduction,
                                              label_smoothing=label_smoothing),
                x, target, grads=(0, 1))


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    target = rand(3, 4, seed=1, low=0, high=1)
    target[0, 0] = 0.0  # 0 log 0 = 0
    if log_target:
        target = np.log(target + 0.1)
    assert_same(lambda a, t: F.kl_div(a, t, reduction=reduction, log_target=log_target),
                lambda a, t: TF.kl_div(a, t, reduction=reduction, log_target=log_target),
                rand(3, 4), target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kwargs, weighted", [
    ("mse_loss", {}, False), ("mse_loss", {}, True), ("l1_loss", {}, False),
    ("l1_loss", {}, True), ("smooth_l1_loss", {"beta": 0.0}, False),
    ("smooth_l1_loss", {"beta": 0.5}, False), ("huber_loss", {"delta": 0.7}, False),
    ("huber_loss", {"delta": 0.7}, True), ("soft_margin_loss", {}, False),
])
def test_regression_losses_match_torch(reduction, name, kwargs, weighted):
    if weighted:
        kwargs = {**kwargs, "weight": rand(3, 4, seed=2, low=0.5, high=2)}
    torch_kwargs = {k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
    grads = (0,) if name == "soft_margin_loss" else (0, 1)  # torch: no target gradient there
    assert_same(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kwargs),
                lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **torch_kwargs),
                rand(3, 4) * 2, rand(3, 4, seed=1), grads=grads)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_nll_loss_matches_torch(reduction, full, var_shape):
    var = rand(*var_shape, seed=2, low=0.1, high=2)
    var.reshape(-1)[0] = 1e-9  # below eps: clamped for the value, not for the gradient
    assert_same(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
                lambda a, b, v: TF.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
                rand(3, 4), rand(3, 4, seed=1), var, grads=(0, 1, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [False, True])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss_matches_torch(reduction, log_input, full):
    # torch's target gradient of the Stirling term is nan at a count of 0; the input's is not
    counts = np.random.default_rng(1).integers(0, 5, (3, 4)).astype(float)
    assert_same(lambda a, b: F.poisson_nll_loss(a, b, log_input, full, reduction=reduction),
                lambda a, b: TF.poisson_nll_loss(a, b, log_input, full, reduction=reduction),
                rand(3, 4, low=0.1, high=3), counts)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_losses_match_torch(reduction):
    signs = np.sign(rand(3, 4, seed=3))
    assert_same(lambda a, b, y: F.margin_ranking_loss(a, b, y, 0.3, reduction=reduction),
                lambda a, b, y: TF.margin_ranking_loss(a, b, y, 0.3, reduction=reduction),
                rand(3, 4), rand(3, 4, seed=1), signs, grads=(0, 1))
    assert_same(lambda a, y: F.hinge_embedding_loss(a, y, 0.5, reduction=reduction),
                lambda a, y: TF.hinge_embedding_loss(a, y, 0.5, reduction=reduction),
                rand(3, 4), signs)


@pytest.mark.parametrize("name, kwargs", [
    ("BCELoss", {"weight": np.ones(3)}), ("BCEWithLogitsLoss", {"pos_weight": np.ones(3)}),
    ("CrossEntropyLoss", {"weight": np.ones(3), "label_smoothing": 0.1}),
    ("NLLLoss", {"weight": np.ones(3), "ignore_index": 1}), ("KLDivLoss", {"log_target": True}),
    ("MSELoss", {}), ("L1Loss", {}), ("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {}),
    ("GaussianNLLLoss", {"full": True}), ("PoissonNLLLoss", {"log_input": False}),
    ("MarginRankingLoss", {"margin": 0.2}), ("HingeEmbeddingLoss", {}), ("SoftMarginLoss", {}),
])
def test_loss_modules_have_torchs_attributes_and_state_dict(name, kwargs):
    ours = getattr(nn, name)(**{k: tg.tensor(v) if isinstance(v, np.ndarray) else v
                                for k, v in kwargs.items()})
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kwargs.items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for attribute in ("reduction", "ignore_index", "label_smoothing", "log_target", "beta",
                      "delta", "full", "eps", "log_input", "margin"):
        assert getattr(ours, attribute, None) == getattr(theirs, attribute, None), attribute
