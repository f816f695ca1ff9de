"""A view shares its base's version counter, so a write through either is caught by the
mutation guard of a graph that saved the other, as in PyTorch.

A view made before the graph keeps a writable array (NumPy does not make existing views
read-only when their base is locked): the shared counter is then the only thing standing
between that write and a silently wrong gradient.
"""

import numpy as np
import pytest

import tinygen as tg


@pytest.mark.parametrize("make_view", [
    lambda w: w[0:2],
    lambda w: w.reshape(3, 1),
    lambda w: w.unsqueeze(0).transpose(0, 1),
], ids=["slice", "reshape", "transpose"])
def test_a_write_through_a_view_made_before_the_graph_is_caught(make_view):
    w = tg.tensor(np.ones(3), requires_grad=True, name="w")
    view = make_view(w)
    loss = (w * w).sum()  # saves w itself
    with tg.no_grad():
        view.add_(1.0)

    with pytest.raises(RuntimeError, match="'w' saved for backward by op Mul"):
        loss.backward()


def test_a_write_to_the_base_is_caught_by_a_graph_that_saved_a_view():
    w = tg.tensor(np.ones(4), requires_grad=True, name="w")
    view = w[1:3]
    loss = (view * view).sum()  # saves the view
    with tg.no_grad():
        w.mul_(3.0)

    with pytest.raises(RuntimeError, match="saved for backward by op Mul"):
        loss.backward()


def test_a_write_through_a_view_leaves_a_graph_that_saved_neither_intact():
    w = tg.tensor(np.ones(3), requires_grad=True)
    view = w[0:2]
    other = tg.tensor(np.full(3, 2.0), requires_grad=True)
    loss = (other * other).sum()
    with tg.no_grad():
        view.add_(1.0)
    loss.backward()

    np.testing.assert_array_equal(other.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(w.numpy(), [2.0, 2.0, 1.0])
