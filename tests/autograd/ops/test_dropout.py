"""Dropout: the mask's statistics, seeding, and the identity in evaluation."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad


def test_dropout_is_the_identity_in_eval_and_at_p_zero():
    x = tg.tensor(np.ones((10,)))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_is_reproducible_with_a_seed_and_keeps_the_expectation():
    x = tg.tensor(np.ones((100_000,), dtype=np.float32))
    tg.manual_seed(3)
    first = F.dropout(x, 0.25).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(first, F.dropout(x, 0.25).numpy())
    assert first.dtype == np.float32
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.75)}
    assert abs(first.mean() - 1.0) < 0.01  # inverted dropout: E[y] = x


def test_dropout_masks_the_gradient_like_the_output():
    x = tg.tensor(np.ones((50,)), requires_grad=True)
    y = F.dropout(x, 0.5)
    (gx,) = grad(y.sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), y.numpy())


def test_dropout_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError, match="dropout: dropout probability has to be between 0 and "
                                         "1, but got 1.5"):
        F.dropout(tg.tensor(np.ones(3)), 1.5)
    with pytest.raises(ValueError, match="dropout2d: dropout probability has to be between 0 and "
                                         "1, but got -0.1"):
        F.dropout2d(tg.tensor(np.ones((1, 2, 3, 3))), -0.1)
