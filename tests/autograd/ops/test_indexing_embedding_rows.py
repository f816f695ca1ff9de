"""Embedding's weight gradient (EmbeddingRowSum): repeated ids summed one layer per occurrence,
ids repeated more often than the layers allow sent to the scatter. Drawn ids that force both
paths are checked against np.add.at and gradient-checked at first and second order."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck
from tinygen.autograd.ops.embedding import _ROW_SUM_LAYERS


@st.composite
def _ids_with_repeats(draw):
    """(rows, ids): a few rows, some of them looked up more often than _ROW_SUM_LAYERS."""
    rows = draw(st.integers(1, 4))
    size = draw(st.integers(0, 3 * _ROW_SUM_LAYERS))
    ids = draw(st.lists(st.integers(0, rows - 1), min_size=size, max_size=size))
    shape = draw(st.sampled_from([(size,), (1, size)]))
    return rows, np.asarray(ids, dtype=np.int64).reshape(shape)


def _reference_row_sum(rows, ids, gy, padding_idx):
    expected = np.zeros((rows, gy.shape[-1]))
    np.add.at(expected, ids.reshape(-1), gy.reshape(-1, gy.shape[-1]))
    if padding_idx is not None:
        expected[padding_idx] = 0
    return expected


@given(_ids_with_repeats(), st.booleans())
def test_embedding_weight_gradient_sums_every_repeat_as_add_at(drawn, padded):
    rows, ids = drawn
    padding_idx = rows - 1 if padded else None
    rng = np.random.default_rng(ids.size)
    weight = tg.tensor(rng.standard_normal((rows, 3)), requires_grad=True)
    gy = rng.standard_normal(ids.shape + (3,))

    (gw,) = grad(F.embedding(tg.tensor(ids), weight, padding_idx), [weight], [tg.tensor(gy)])

    np.testing.assert_allclose(gw.numpy(), _reference_row_sum(rows, ids, gy, padding_idx),
                               rtol=1e-12, atol=1e-12)


def test_embedding_row_sum_scatters_the_repeats_past_the_last_layer():
    # rows 0 and 2 looked up more often than there are layers: their last repeats go through
    # np.add.at, whatever the order they come in
    ids = np.array([0, 2] * (2 * _ROW_SUM_LAYERS) + [1, 0, 1, 2, 0], dtype=np.int64)
    gy = np.arange(ids.size * 2, dtype=np.float64).reshape(ids.size, 2)
    weight = tg.tensor(np.zeros((3, 2)), requires_grad=True)

    (gw,) = grad(F.embedding(tg.tensor(ids), weight), [weight], [tg.tensor(gy)])

    np.testing.assert_allclose(gw.numpy(), _reference_row_sum(3, ids, gy, None), rtol=1e-12)


@given(_ids_with_repeats(), st.booleans())
def test_embedding_with_repeated_ids_passes_gradcheck_and_gradgradcheck(drawn, padded):
    rows, ids = drawn
    # a padding row that is looked up gets no gradient by design: pad an unread row
    padding_idx = rows if padded else None
    weight = tg.tensor(np.random.default_rng(rows).standard_normal((rows + 1, 2)),
                       requires_grad=True)
    indices = tg.tensor(ids)

    def lookup(w):
        return F.embedding(indices, w, padding_idx)

    assert gradcheck(lookup, [weight])
    assert gradgradcheck(lookup, [weight])


def test_embedding_second_order_gives_looked_up_padding_positions_zero():
    # d/d(gy) of the weight gradient is the lookup again, with the padding positions at zero
    ids = tg.tensor([1, 0, 1])
    weight = tg.tensor(np.zeros((2, 2)), requires_grad=True)
    gy = tg.tensor(np.ones((3, 2)), requires_grad=True)
    (gw,) = grad(F.embedding(ids, weight, padding_idx=1), [weight], [gy],
                 create_graph=True)

    (ggy,) = grad(gw, [gy], [tg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))])

    np.testing.assert_array_equal(ggy.numpy(), [[0, 0], [1, 2], [0, 0]])


def test_embedding_row_sum_skips_padding_positions_however_many():
    # a padded batch: the padding id far more often than there are layers
    ids = np.array([[1, 2, 1] + [0] * (3 * _ROW_SUM_LAYERS)] * 2, dtype=np.int64)
    gy = np.random.default_rng(0).standard_normal(ids.shape + (2,))
    weight = tg.tensor(np.zeros((3, 2)), requires_grad=True)

    (gw,) = grad(F.embedding(tg.tensor(ids), weight, padding_idx=0), [weight],
                 [tg.tensor(gy)])

    np.testing.assert_allclose(gw.numpy(), _reference_row_sum(3, ids, gy, 0), rtol=1e-12)
