"""Indexing ops: where the gradient goes (overwritten, repeated, padding entries), the sort
order of ties and NaN, and the errors that name the op, beyond the registry's checks."""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad


def _leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# --------------------------------------------------------------------------- gather, scatter
def test_gather_picks_along_dim_and_sends_repeats_their_summed_gradient():
    x = _leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    index = tg.tensor([[2, 2], [0, 1]])

    y = tg.gather(x, 1, index)
    (gx,) = grad(y.sum(), [x])

    assert y.tolist() == [[3.0, 3.0], [4.0, 5.0]]
    np.testing.assert_array_equal(gx.numpy(), [[0, 0, 2], [1, 1, 0]])


def test_gather_checks_the_index_shape_range_and_dtype():
    x = tg.zeros(2, 3)
    with pytest.raises(ValueError, match="gather: index .and src. must have as many axes"):
        tg.gather(x, 1, tg.tensor([0, 2]))
    with pytest.raises(IndexError, match=r"gather: index out of range for dim 1 of size 3"):
        tg.gather(x, 1, tg.tensor([[0, 3]]))
    with pytest.raises(IndexError, match=r"got values in \[-1, -1\]"):
        tg.gather(x, 1, tg.tensor([[-1]]))
    with pytest.raises(ValueError, match="must be no larger than x"):
        tg.gather(x, 0, tg.tensor([[0, 1, 1, 1]]))
    with pytest.raises(TypeError, match="gather: index must be an integer tensor, got dtype"):
        tg.gather(x, 1, tg.tensor([[0.0]]))


def test_scatter_gives_overwritten_entries_of_x_no_gradient():
    x = _leaf([[1.0, 2.0, 3.0]])
    src = _leaf([[10.0, 20.0]])

    y = tg.scatter(x, 1, tg.tensor([[2, 0]]), src)
    gx, gsrc = grad((y * tg.tensor([[1.0, 2.0, 3.0]])).sum(), [x, src])

    assert y.tolist() == [[20.0, 2.0, 10.0]]
    np.testing.assert_array_equal(gx.numpy(), [[0.0, 2.0, 0.0]])
    np.testing.assert_array_equal(gsrc.numpy(), [[3.0, 1.0]])


def test_scatter_takes_a_number_and_scatter_add_sums_repeats():
    x = tg.zeros(2, 3, dtype=np.float64)
    assert tg.scatter(x, 1, tg.tensor([[0], [2]]), 7.0).tolist() == [[7, 0, 0], [0, 0, 7]]
    src = _leaf([[1.0, 2.0], [3.0, 4.0]])
    y = tg.scatter_add(x, 1, tg.tensor([[0, 0], [2, 2]]), src)
    assert y.tolist() == [[3.0, 0.0, 0.0], [0.0, 0.0, 7.0]]
    with pytest.raises(TypeError, match="scatter: src must have x's dtype float64"):
        tg.scatter(x, 1, tg.tensor([[0]]), tg.tensor([[1.0]]))


def test_gather_with_an_empty_index_checks_no_shapes_as_pytorch():
    assert tg.gather(tg.ones(5), 0, tg.tensor(np.zeros((2, 0), dtype=np.int64))).shape == (2, 0)


def test_index_add_adds_source_slices_at_positions_times_alpha():
    x = _leaf(np.zeros((2, 3)))
    source = _leaf([[1.0, 2.0], [3.0, 4.0]])

    y = tg.index_add(x, 1, tg.tensor([2, 2]), source, alpha=2)
    gx, gsource = grad((y * tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum(), [x, source])

    assert y.tolist() == [[0.0, 0.0, 6.0], [0.0, 0.0, 14.0]]
    np.testing.assert_array_equal(gx.numpy(), [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(gsource.numpy(), [[6, 6], [12, 12]])
    with pytest.raises(ValueError, match=r"index_add: source must have shape \(2, 1\)"):
        tg.index_add(x, 1, tg.tensor([0]), source)


def test_index_select_takes_a_vector_of_positions():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.index_select(1, tg.tensor([2, 0, 2])).tolist() == [[2, 0, 2], [5, 3, 5]]
    assert x.index_select(1, tg.tensor(2)).shape == (2, 1)
    assert tg.tensor(5.0).index_select(0, tg.tensor([0])).shape == ()
    with pytest.raises(IndexError, match="index_select: index must be a vector"):
        x.index_select(1, tg.tensor([[2]]))


def test_take_along_dim_broadcasts_and_flattens_without_dim():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert tg.take_along_dim(x, tg.tensor([[0, 2]]), 1).tolist() == [[0, 2], [3, 5]]
    assert tg.take_along_dim(x, tg.tensor([5, 0])).tolist() == [5.0, 0.0]
    assert tg.take_along_dim(x, tg.tensor([[-1], [-3]]), 1).tolist() == [[2.0], [3.0]]
    with pytest.raises(IndexError, match=r"take_along_dim: index out of range .* got -4"):
        tg.take_along_dim(x, tg.tensor([[-4]]), 1)


def test_masked_fill_fills_where_true_and_a_tensor_value_gets_their_gradient():
    x = _leaf([1.0, 2.0, 3.0])
    value = _leaf(0.5)

    y = x.masked_fill(tg.tensor([True, False, True]), value)
    gx, gvalue = grad(y.sum(), [x, value])

    assert y.tolist() == [0.5, 2.0, 0.5]
    np.testing.assert_array_equal(gx.numpy(), [0.0, 1.0, 0.0])
    assert gvalue.item() == 2.0
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool Tensor, got int64"):
        x.masked_fill(tg.tensor([1, 0, 1]), 0.0)


def test_tril_and_triu_keep_a_triangle_of_the_last_two_axes():
    x = tg.ones(2, 3, 3)
    assert tg.tril(x)[0].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert x.triu(1)[1].tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"tril: x must have at least 2 axes, got shape \(3,\)"):
        tg.tril(tg.ones(3))


# --------------------------------------------------------------------------- ordering
def test_sort_is_stable_and_puts_nan_above_every_number_as_pytorch():
    x = tg.tensor([2.0, 1.0, math.nan, 2.0, math.inf, 1.0, math.nan])

    ascending = tg.sort(x)
    descending = x.sort(descending=True)

    assert ascending.indices.tolist() == [1, 5, 0, 3, 4, 2, 6]
    assert descending.indices.tolist() == [2, 6, 4, 0, 3, 1, 5]
    assert tg.argsort(x, descending=True).tolist() == [2, 6, 4, 0, 3, 1, 5]


def test_sort_values_carry_the_gradient_back_to_their_positions():
    x = _leaf([3.0, 1.0, 2.0])
    values, _ = x.sort()
    (gx,) = grad((values * tg.tensor([1.0, 10.0, 100.0])).sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), [100.0, 1.0, 10.0])


def test_topk_returns_the_k_largest_or_smallest_and_checks_k():
    x = tg.tensor([1.0, 5.0, 3.0, 4.0])
    assert x.topk(2).values.tolist() == [5.0, 4.0] and x.topk(2).indices.tolist() == [1, 3]
    assert tg.topk(x, 1, largest=False).indices.tolist() == [0]
    assert tg.topk(x, 0).values.shape == (0,)
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 4\].*got 5"):
        x.topk(5)


# --------------------------------------------------------------------------- lookups
def test_one_hot_rows_are_int64_and_out_of_range_classes_raise():
    assert F.one_hot(tg.tensor([0, 2])).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.one_hot(tg.tensor([0, 2]), 4).dtype == np.int64
    with pytest.raises(ValueError, match=r"one_hot: class values must be in \[0, 1\]"):
        F.one_hot(tg.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="one_hot: cannot infer num_classes"):
        F.one_hot(tg.tensor(np.zeros(0, dtype=np.int64)))
    with pytest.raises(TypeError, match="one_hot: tensor must be an integer tensor"):
        F.one_hot(tg.tensor([0.0, 1.0]))


def test_embedding_gives_the_padding_row_no_gradient_and_sums_repeats():
    weight = _leaf(np.arange(8.0).reshape(4, 2))
    indices = tg.tensor([[0, 2], [2, 3]])

    y = F.embedding(indices, weight, padding_idx=-1)
    (gw,) = grad(y.sum(), [weight])

    assert y.shape == (2, 2, 2) and y[1, 1].tolist() == [6.0, 7.0]
    np.testing.assert_array_equal(gw.numpy(), [[1, 1], [0, 0], [2, 2], [0, 0]])


def test_embedding_checks_indices_and_padding_idx():
    weight = tg.zeros(3, 2)
    with pytest.raises(IndexError, match="embedding: index out of range for dim 0 of size 3"):
        F.embedding(tg.tensor([3]), weight)
    with pytest.raises(ValueError, match=r"padding_idx must be an int in \[-3, 2\]"):
        F.embedding(tg.tensor([0]), weight, padding_idx=3)
    with pytest.raises(TypeError, match="embedding: input must be an integer tensor"):
        F.embedding(tg.tensor([0.0]), weight)
