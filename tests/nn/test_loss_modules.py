"""Loss modules: each computes its functional with the settings it holds, keeps class weights
as buffers (state dict, dtype casts), and takes PyTorch's constructor arguments."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F

RNG = np.random.default_rng(0)
SCORES = RNG.standard_normal((4, 3))
CLASSES = np.array([0, 2, 1, -100])
PROBABILITIES = RNG.uniform(0.05, 0.95, (4, 3))
TARGET = RNG.random((4, 3))
WEIGHT = np.array([0.5, 2.0, 1.5])

# (module, its functional with the same settings, the call's arguments)
CASES = [
    (nn.BCELoss(weight=tg.tensor(WEIGHT), reduction="sum"),
     lambda x, y: F.binary_cross_entropy(x, y, weight=WEIGHT, reduction="sum"),
     (PROBABILITIES, TARGET)),
    (nn.BCEWithLogitsLoss(pos_weight=tg.tensor(WEIGHT)),
     lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=WEIGHT),
     (SCORES, TARGET)),
    (nn.CrossEntropyLoss(weight=tg.tensor(WEIGHT), label_smoothing=0.2),
     lambda x, t: F.cross_entropy(x, t, weight=WEIGHT, label_smoothing=0.2),
     (SCORES, CLASSES)),
    (nn.CrossEntropyLoss(ignore_index=2, reduction="none"),
     lambda x, t: F.cross_entropy(x, t, ignore_index=2, reduction="none"),
     (SCORES, np.array([0, 2, 1, 1]))),
    (nn.NLLLoss(weight=tg.tensor(WEIGHT)),
     lambda x, t: F.nll_loss(x, t, weight=WEIGHT), (SCORES, CLASSES)),
    (nn.KLDivLoss(reduction="batchmean", log_target=True),
     lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True), (SCORES, -SCORES ** 2)),
    (nn.MSELoss(reduction="sum"), lambda x, y: F.mse_loss(x, y, reduction="sum"),
     (SCORES, TARGET)),
    (nn.L1Loss(), F.l1_loss, (SCORES, TARGET)),
    (nn.SmoothL1Loss(beta=0.5), lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
     (SCORES, TARGET)),
    (nn.HuberLoss(delta=0.5), lambda x, y: F.huber_loss(x, y, delta=0.5), (SCORES, TARGET)),
    (nn.GaussianNLLLoss(full=True),
     lambda x, y, v: F.gaussian_nll_loss(x, y, v, full=True), (SCORES, TARGET, TARGET + 0.1)),
    (nn.PoissonNLLLoss(log_input=False, full=True),
     lambda x, y: F.poisson_nll_loss(x, y, log_input=False, full=True),
     (PROBABILITIES, 3 * TARGET)),
    (nn.MarginRankingLoss(margin=0.3),
     lambda a, b, y: F.margin_ranking_loss(a, b, y, margin=0.3),
     (SCORES, tg.tensor(TARGET), np.sign(SCORES))),
    (nn.HingeEmbeddingLoss(margin=0.5),
     lambda x, y: F.hinge_embedding_loss(x, y, margin=0.5), (SCORES, np.sign(SCORES))),
    (nn.SoftMarginLoss(), F.soft_margin_loss, (SCORES, np.sign(SCORES))),
]


@pytest.mark.parametrize("module, functional, arguments", CASES,
                         ids=[f"{type(case[0]).__name__}-{i}" for i, case in enumerate(CASES)])
def test_loss_module_computes_its_functional(module, functional, arguments):
    first, *rest = arguments
    expected = functional(tg.tensor(first), *rest)
    actual = module(tg.tensor(first), *rest)
    np.testing.assert_array_equal(actual.numpy(), expected.numpy())


def test_class_weights_are_buffers_in_the_state_dict_and_follow_casts():
    loss = nn.BCEWithLogitsLoss(weight=tg.tensor(np.ones(3, dtype=np.float32)),
                                pos_weight=tg.tensor(WEIGHT.astype(np.float32)))

    assert [name for name, _ in loss.named_buffers()] == ["weight", "pos_weight"]
    assert list(loss.state_dict()) == ["weight", "pos_weight"]
    assert list(loss.parameters()) == []
    loss.double()
    assert loss.pos_weight.dtype == np.float64


def test_a_loss_without_weights_has_no_state():
    loss = nn.CrossEntropyLoss()
    assert loss.weight is None
    assert loss.state_dict() == {}


def test_weight_buffer_round_trips_through_load_state_dict():
    source = nn.CrossEntropyLoss(weight=tg.tensor(WEIGHT))
    target = nn.CrossEntropyLoss(weight=tg.tensor(np.ones(3)))

    target.load_state_dict(source.state_dict())

    np.testing.assert_array_equal(target.weight.numpy(), WEIGHT)


def test_weights_given_as_arrays_become_buffers():
    loss = nn.NLLLoss(weight=WEIGHT)
    assert isinstance(loss.weight, nn.Buffer)


def test_legacy_flags_set_the_reduction_as_pytorch():
    with pytest.warns(UserWarning, match="use reduction='sum' instead"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    assert repr(loss) == "MSELoss(reduction='sum')"
    assert repr(nn.L1Loss()) == "L1Loss()"


def test_an_invalid_reduction_is_named_when_the_loss_is_built():
    with pytest.raises(ValueError, match=r"L1Loss: reduction must be 'mean', 'sum' or 'none', "
                                         r"got 'avg'"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(TypeError, match=r"margin_ranking_loss: input2 must be a Tensor, got "
                                        r"ndarray"):
        nn.MarginRankingLoss()(tg.tensor(SCORES), SCORES, np.sign(SCORES))


def test_loss_module_backpropagates_to_the_input():
    x = tg.tensor(SCORES, requires_grad=True)
    nn.CrossEntropyLoss()(x, CLASSES).backward()
    assert x.grad.shape == SCORES.shape
    np.testing.assert_array_equal(x.grad.numpy()[3], 0.0)  # the ignored target
