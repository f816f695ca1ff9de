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


def test_dropout_with_p_one_zeroes_everything_in_training_and_nothing_in_eval():
    x = tg.tensor(np.ones((4, 3)), requires_grad=True)
    y = F.dropout(x, 1.0)
    (gx,) = grad(y.sum(), [x])
    assert not y.numpy().any() and not gx.numpy().any()
    assert F.dropout(x, 1.0, training=False) is x


@pytest.mark.parametrize(("drop", "shape", "channel_axes"), [
    (F.dropout2d, (3, 4, 5, 5), 2),
    (F.dropout1d, (3, 4, 6), 2),
    (F.dropout1d, (8, 6), 1),  # unbatched (C, L)
])
def test_channel_dropout_zeroes_whole_channels_and_scales_the_rest(drop, shape, channel_axes):
    x = tg.tensor(np.ones(shape))
    tg.manual_seed(5)
    y = drop(x, 0.5).numpy()
    # (*channels, *spatial) -> (channels, spatial): each channel constant, 0 or 1 / (1 - p)
    per_channel = y.reshape(int(np.prod(shape[:channel_axes])), -1)
    assert (per_channel == per_channel[:, :1]).all()
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    tg.manual_seed(5)
    np.testing.assert_array_equal(drop(x, 0.5).numpy(), y)
    assert drop(x, 0.5, training=False) is x


def test_dropout2d_reads_a_3d_input_as_pytorch_does_with_a_warning():
    x = tg.tensor(np.ones((2, 3, 4)))
    with pytest.warns(UserWarning, match="read as \\(N, C, L\\)"):
        tg.manual_seed(6)
        y = F.dropout2d(x, 0.5)
    tg.manual_seed(6)
    np.testing.assert_array_equal(y.numpy(), F.dropout1d(x, 0.5).numpy())


def test_channel_dropout_names_the_expected_shapes():
    with pytest.raises(ValueError, match=r"dropout2d: input must be \(N, C, H, W\) \(or "
                                         r"\(N, C, L\)\), got shape \(3, 4\)"):
        F.dropout2d(tg.tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match=r"dropout1d: input must be \(N, C, L\) or unbatched "
                                         r"\(C, L\), got shape \(1, 2, 3, 4\)"):
        F.dropout1d(tg.tensor(np.ones((1, 2, 3, 4))))
