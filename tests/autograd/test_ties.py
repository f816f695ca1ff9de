"""Ties: where several entries share the extreme value, the gradient follows the written rule.

- amax/amin, and max()/min() without a dim, split each output's gradient evenly among the
  entries that reach the extreme: d amax(x)/dx_i = [x_i is the max] / (number of maxima).
- maximum/minimum (and max(a, b)/min(a, b)) give each side half where a == b:
  d max(a, b)/da = [a > b] + [a == b] / 2, and the rest to b; a broadcast operand sums
  what it gets from every entry it ties with.
- max(x, dim)/min(x, dim) and max_pool2d route the whole gradient to one entry: the returned
  index (the first extreme), and the window's first maximum in raster order.

The registry's inputs never tie (they draw distinct entries, away from the kinks), so these
cases are written out here with their exact expected gradients, worked by hand from the
rules above. The upstream gradients differ per output entry, so a gradient sent to the
wrong row or column shows. Torch agrees on each (tests/parity/test_ties_parity.py).
"""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

# row 0: two maxima, one minimum; row 1: all four tie; row 2: one maximum, two minima
X = np.array([[1.0, 3.0, 3.0, 0.0],
              [2.0, 2.0, 2.0, 2.0],
              [-1.0, 5.0, -1.0, 4.0]])
ROW_UPSTREAM = np.array([10.0, 20.0, 30.0])
# columns of X: [1, 2, -1], [3, 2, 5], [3, 2, -1], [0, 2, 4]; Y's columns tie too
Y = np.array([[4.0, 1.0, 4.0],
              [4.0, 0.0, 2.0],
              [1.0, 1.0, 4.0]])
COLUMN_UPSTREAM = np.array([8.0, 16.0, 32.0])


def _input_grad(op, x, upstream=None):
    x = tg.tensor(x, requires_grad=True)
    y = op(x)
    y.backward(None if upstream is None else tg.tensor(upstream))
    return y, x.grad.numpy()


def _assert_exact(actual, expected):
    # every expected share here is a short binary fraction or 1/3 of a multiple of 3
    np.testing.assert_allclose(actual, expected, rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- amax / amin
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_over_rows_splits_each_rows_gradient_evenly_among_its_maxima(keepdim):
    upstream = ROW_UPSTREAM[:, None] if keepdim else ROW_UPSTREAM
    y, grad = _input_grad(lambda x: tg.amax(x, 1, keepdim), X, upstream)

    np.testing.assert_array_equal(y.numpy(), np.array([3.0, 2.0, 5.0]).reshape(upstream.shape))
    _assert_exact(grad, [[0.0, 5.0, 5.0, 0.0],
                         [5.0, 5.0, 5.0, 5.0],
                         [0.0, 30.0, 0.0, 0.0]])


def test_amin_over_the_last_dim_splits_each_rows_gradient_evenly_among_its_minima():
    y, grad = _input_grad(lambda x: tg.amin(x, -1), X, ROW_UPSTREAM)

    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0, -1.0])
    _assert_exact(grad, [[0.0, 0.0, 0.0, 10.0],
                         [5.0, 5.0, 5.0, 5.0],
                         [15.0, 0.0, 15.0, 0.0]])


def test_amax_over_columns_splits_each_columns_gradient_among_its_maxima():
    # columns of Y: [4, 4, 1] (two maxima), [1, 0, 1] (two), [4, 2, 4] (two)
    y, grad = _input_grad(lambda x: x.amax(0), Y, COLUMN_UPSTREAM)

    np.testing.assert_array_equal(y.numpy(), [4.0, 1.0, 4.0])
    _assert_exact(grad, [[4.0, 8.0, 16.0],
                         [4.0, 0.0, 0.0],
                         [0.0, 8.0, 16.0]])


def test_amin_over_columns_splits_each_columns_gradient_among_its_minima():
    # columns of Y: [4, 4, 1] (one minimum), [1, 0, 1] (one), [4, 2, 4] (one)
    _, grad = _input_grad(lambda x: x.amin(0), Y, COLUMN_UPSTREAM)

    _assert_exact(grad, [[0.0, 0.0, 0.0],
                         [0.0, 16.0, 32.0],
                         [8.0, 0.0, 0.0]])


def test_amax_over_every_dim_splits_the_gradient_among_all_the_maxima():
    # Y's maximum 4 appears four times; the full reduction and a tuple of dims agree
    for op in (lambda x: tg.amax(x), lambda x: tg.amax(x, (0, 1)), lambda x: x.max()):
        y, grad = _input_grad(op, Y, np.array(12.0))

        assert y.item() == 4.0
        _assert_exact(grad, [[3.0, 0.0, 3.0],
                             [3.0, 0.0, 0.0],
                             [0.0, 0.0, 3.0]])


def test_min_without_a_dim_splits_the_gradient_among_all_the_minima():
    # X's minimum -1 appears twice
    y, grad = _input_grad(lambda x: x.min(), X, np.array(6.0))

    assert y.item() == -1.0
    _assert_exact(grad, [[0.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.0],
                         [3.0, 0.0, 3.0, 0.0]])


def test_amax_over_a_tuple_of_dims_splits_within_each_kept_slice():
    # a (2, 2, 3) stack of two 2x3 blocks; reduce dims (0, 2), keeping dim 1:
    # slice 0 holds [4, 1, 4] and [1, 0, 4] (three 4s), slice 1 [4, 0, 2] and [2, 4, 4]
    x = np.array([[[4.0, 1.0, 4.0], [4.0, 0.0, 2.0]],
                  [[1.0, 0.0, 4.0], [2.0, 4.0, 4.0]]])
    y, grad = _input_grad(lambda t: tg.amax(t, (0, 2)), x, np.array([6.0, 12.0]))

    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    _assert_exact(grad, [[[2.0, 0.0, 2.0], [4.0, 0.0, 0.0]],
                         [[0.0, 0.0, 2.0], [0.0, 4.0, 4.0]]])


def test_amax_shares_are_part_of_the_double_backward_graph():
    # d/d(upstream) of <grad_x, c> = sum over each row of c * share
    x = tg.tensor(X, requires_grad=True)
    upstream = tg.tensor(ROW_UPSTREAM, requires_grad=True)
    (grad_x,) = tg.autograd.grad(tg.amax(x, 1), x, upstream, create_graph=True)
    weights = np.arange(12.0).reshape(3, 4)
    (grad_upstream,) = tg.autograd.grad((grad_x * tg.tensor(weights)).sum(), upstream)

    # row 0: (1 + 2) / 2; row 1: (4 + 5 + 6 + 7) / 4; row 2: 9
    _assert_exact(grad_upstream.numpy(), [1.5, 5.5, 9.0])


# --------------------------------------------------------------------------- maximum / minimum
A = np.array([1.0, 2.0, 3.0, 4.0])
B = np.array([1.0, 5.0, 3.0, 0.0])  # ties with A at positions 0 and 2
PAIR_UPSTREAM = np.array([2.0, 4.0, 6.0, 8.0])


def _pair_grads(op, a, b, upstream):
    a, b = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    op(a, b).backward(tg.tensor(upstream))
    return a.grad.numpy(), b.grad.numpy()


@pytest.mark.parametrize("op", [tg.maximum, tg.max], ids=["maximum", "max(a, b)"])
def test_maximum_gives_each_side_half_the_gradient_at_ties(op):
    grad_a, grad_b = _pair_grads(op, A, B, PAIR_UPSTREAM)

    _assert_exact(grad_a, [1.0, 0.0, 3.0, 8.0])
    _assert_exact(grad_b, [1.0, 4.0, 3.0, 0.0])


@pytest.mark.parametrize("op", [tg.minimum, tg.min], ids=["minimum", "min(a, b)"])
def test_minimum_gives_each_side_half_the_gradient_at_ties(op):
    grad_a, grad_b = _pair_grads(op, A, B, PAIR_UPSTREAM)

    _assert_exact(grad_a, [1.0, 4.0, 3.0, 0.0])
    _assert_exact(grad_b, [1.0, 0.0, 3.0, 8.0])


def test_a_broadcast_scalar_collects_its_half_from_every_tie():
    # max(a_i, 2) over a = [2, 2, 1, 3]: ties at 0 and 1, the scalar wins at 2, a at 3
    grad_a, grad_s = _pair_grads(tg.maximum, np.array([2.0, 2.0, 1.0, 3.0]), np.array(2.0),
                                 PAIR_UPSTREAM)

    _assert_exact(grad_a, [1.0, 2.0, 0.0, 8.0])
    assert grad_s.shape == ()
    _assert_exact(grad_s, 1.0 + 2.0 + 6.0)


def test_a_broadcast_row_collects_each_columns_halves_and_wins():
    a = np.array([[1.0, 2.0, 3.0],
                  [3.0, 2.0, 1.0]])
    b = np.array([3.0, 2.0, 1.0])  # row 1 of a ties b everywhere
    upstream = np.array([[1.0, 2.0, 4.0],
                         [8.0, 16.0, 32.0]])
    grad_a, grad_b = _pair_grads(tg.minimum, a, b, upstream)

    _assert_exact(grad_a, [[1.0, 1.0, 0.0],
                           [4.0, 8.0, 16.0]])
    _assert_exact(grad_b, [0.0 + 4.0, 1.0 + 8.0, 4.0 + 16.0])


def test_maximum_shares_at_ties_are_part_of_the_double_backward_graph():
    a, b = tg.tensor(A, requires_grad=True), tg.tensor(B, requires_grad=True)
    upstream = tg.tensor(PAIR_UPSTREAM, requires_grad=True)
    grad_a, grad_b = tg.autograd.grad(tg.maximum(a, b), (a, b), upstream, create_graph=True)
    (second,) = tg.autograd.grad((grad_a * 10.0 + grad_b).sum(), upstream)

    # each entry: 10 * weight_a + (1 - weight_a) with weight_a = 1/2, 0, 1/2, 1
    _assert_exact(second.numpy(), [5.5, 1.0, 5.5, 10.0])


# --------------------------------------------------------------------------- one winner
def test_max_and_min_with_a_dim_send_the_gradient_to_the_returned_index_only():
    x = tg.tensor(X, requires_grad=True)
    values, indices = x.max(1)
    values.backward(tg.tensor(ROW_UPSTREAM))

    np.testing.assert_array_equal(indices.numpy(), [1, 0, 1])  # the first maximum
    _assert_exact(x.grad.numpy(), [[0.0, 10.0, 0.0, 0.0],
                                   [20.0, 0.0, 0.0, 0.0],
                                   [0.0, 30.0, 0.0, 0.0]])
    x.grad = None
    values, indices = x.min(1)
    values.backward(tg.tensor(ROW_UPSTREAM))

    np.testing.assert_array_equal(indices.numpy(), [3, 0, 0])
    _assert_exact(x.grad.numpy(), [[0.0, 0.0, 0.0, 10.0],
                                   [20.0, 0.0, 0.0, 0.0],
                                   [30.0, 0.0, 0.0, 0.0]])


def test_max_pool2d_sends_a_tied_windows_gradient_to_its_first_maximum_in_raster_order():
    # 2x2 windows, stride 2: [[5, 5], [5, 1]] ties three ways, [[0, 2], [2, 2]] ties three
    # ways from its second tap, [[3, 0], [0, 3]] ties on the diagonal
    x = np.array([[5.0, 5.0, 0.0, 2.0, 3.0, 0.0],
                  [5.0, 1.0, 2.0, 2.0, 0.0, 3.0]])[None, None]
    y, grad = _input_grad(lambda t: F.max_pool2d(t, 2), x, np.array([[[[1.0, 2.0, 4.0]]]]))

    np.testing.assert_array_equal(y.numpy(), [[[[5.0, 2.0, 3.0]]]])
    _assert_exact(grad[0, 0], [[1.0, 0.0, 0.0, 2.0, 4.0, 0.0],
                               [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])


def test_overlapping_max_pool2d_windows_add_up_at_a_shared_first_maximum():
    # 2x2 windows at stride 1 over a plane of equal values: every window's first tap wins,
    # so entry (i, j) collects the gradient of window (i, j) alone
    upstream = np.array([[1.0, 2.0], [4.0, 8.0]])
    _, grad = _input_grad(lambda t: F.max_pool2d(t, 2, stride=1), np.ones((1, 1, 3, 3)),
                          upstream[None, None])

    _assert_exact(grad[0, 0], [[1.0, 2.0, 0.0],
                               [4.0, 8.0, 0.0],
                               [0.0, 0.0, 0.0]])
