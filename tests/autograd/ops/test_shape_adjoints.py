"""Shape ops move values without arithmetic, so each one's gradient is its adjoint:
<op(x), g> = <x, grad of sum(op(x) * g)> exactly, for every upstream g. Checked here on
fixed cases where a wrong inverse shows: permutations that are not their own inverse
(3-cycles, 4-cycles) on axes of distinct sizes, and the other ways to move axes."""

import itertools

import numpy as np
import pytest

import tinygen as tg

SHAPE = (2, 3, 4, 5)
RNG = np.random.default_rng(0)
X = RNG.standard_normal(SHAPE)


def _adjoint_sides(op, x):
    """(<op(x), g>, <x, op's gradient applied to g>) for a random upstream g."""
    leaf = tg.tensor(x, requires_grad=True)
    y = op(leaf)
    g = RNG.standard_normal(y.shape)
    (y * tg.tensor(g)).sum().backward()
    return float(np.sum(y.numpy() * g)), float(np.sum(x * leaf.grad.numpy())), leaf.grad


def _is_involution(axes) -> bool:
    return all(axes[axes[i]] == i for i in range(len(axes)))


@pytest.mark.parametrize("axes", [p for p in itertools.permutations(range(4))
                                  if not _is_involution(p)])
def test_permute_gradient_is_the_inverse_permutation(axes):
    forward, backward, grad = _adjoint_sides(lambda t: tg.permute(t, axes), X)

    assert grad.shape == SHAPE
    np.testing.assert_allclose(forward, backward, rtol=1e-12)


@pytest.mark.parametrize(("name", "op"), [
    ("movedim", lambda t: tg.movedim(t, 0, 2)),
    ("movedim_pair", lambda t: tg.movedim(t, (0, 1), (3, 0))),
    ("transpose", lambda t: tg.transpose(t, 1, 3)),
    ("permute_method", lambda t: t.permute(2, 0, 3, 1)),
    ("reshape_then_permute", lambda t: tg.permute(t.reshape(6, 4, 5), (2, 0, 1))),
])
def test_axis_moves_send_each_gradient_entry_back_to_its_source(name, op):
    forward, backward, grad = _adjoint_sides(op, X)

    assert grad.shape == SHAPE
    np.testing.assert_allclose(forward, backward, rtol=1e-12)


def test_a_permuted_gradient_lands_on_the_entry_it_came_from():
    # one nonzero upstream entry: its gradient appears at the source index only
    x = tg.tensor(X, requires_grad=True)
    y = tg.permute(x, (1, 2, 3, 0))  # y[b, c, d, a] = x[a, b, c, d]
    upstream = np.zeros(y.shape)
    upstream[2, 3, 4, 1] = 1.0
    y.backward(tg.tensor(upstream))

    expected = np.zeros(SHAPE)
    expected[1, 2, 3, 4] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
