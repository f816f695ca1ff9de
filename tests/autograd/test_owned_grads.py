"""``Function.owned_grads``: an op may promise that its raw backward returns a gradient in a
new array nothing else refers to, and the engine then hands that array to the leaf's
``.grad`` without the copy it otherwise makes. Here the copy is shown to be skipped where it
is made, and kept where it must be; test_backward_on_arrays.py checks the promise for every
registered op (no leaf's ``.grad`` shares memory with anything the caller holds)."""

import numpy as np

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import Function
from tinygen.autograd.ops import embedding, linalg


def test_ops_make_the_promise_only_by_opting_in():
    assert Function.owned_grads == ()
    assert embedding.Embedding.owned_grads == (0,)
    assert linalg.Linear.owned_grads == (0, 1, 2) and linalg.MatMul.owned_grads == (0, 1)


def _spy_on_new_arrays(monkeypatch, function_class):
    """The arrays ``function_class.forward`` returns, as they are made."""
    made, forward = [], function_class.forward

    def spy(self, *arrays):
        out = forward(self, *arrays)
        made.append(out)
        return out

    monkeypatch.setattr(function_class, "forward", spy)
    return made


def test_an_embedding_tables_gradient_is_the_array_its_op_made(monkeypatch):
    made = _spy_on_new_arrays(monkeypatch, embedding.EmbeddingRowSum)
    weight = tg.randn(50, 4, requires_grad=True)
    ids = tg.tensor(np.array([[1, 2, 2], [7, 1, 0]]))

    F.embedding(ids, weight).sum().backward()

    assert weight.grad.numpy() is made[-1]  # not copied
    expected = np.zeros((50, 4), np.float32)
    np.add.at(expected, ids.numpy().ravel(), 1.0)
    np.testing.assert_array_equal(weight.grad.numpy(), expected)


def test_a_weight_used_twice_still_gets_a_gradient_of_its_own(monkeypatch):
    # the first delivery takes the op's array; the second adds into a new one
    made = _spy_on_new_arrays(monkeypatch, linalg.MatMul)
    w = tg.randn(3, 3, requires_grad=True)
    x = tg.randn(2, 3)

    (F.linear(x, w).sum() + F.linear(x * 2.0, w).sum()).backward()

    assert not any(np.shares_memory(w.grad.numpy(), array) for array in made)
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(3 * x.numpy().sum(0), (3, 3)),
                               rtol=1e-6)


def test_an_observer_or_create_graph_keeps_the_copy(monkeypatch):
    made = _spy_on_new_arrays(monkeypatch, embedding.EmbeddingRowSum)
    weight = tg.randn(20, 2, requires_grad=True)
    ids = tg.tensor(np.array([3, 4]))

    F.embedding(ids, weight).sum().backward(create_graph=True)

    assert not any(np.shares_memory(weight.grad.numpy(), array) for array in made)
