"""``Function.owned_grads``: an op may promise that its raw backward returns a gradient in a
new array nothing else refers to, and the engine then hands that array to the leaf's
``.grad`` without the copy it otherwise makes. Here the promise is checked for every
registered op (whatever it declares, no leaf's ``.grad`` may share memory with anything the
caller holds), and the copy is shown to be skipped where it is made."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import Function
from tinygen.autograd.ops import embedding, linalg
from tinygen.testing import all_specs

DIFFERENTIABLE = [spec for spec in all_specs() if spec.order >= 1]


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=[spec.name for spec in DIFFERENTIABLE])
@settings(deadline=None, max_examples=5)
@given(data=st.data())
def test_leaf_gradients_own_their_memory(spec, data):
    case = data.draw(spec.cases(), label="case")
    tensors = case.tensors()
    result = spec.apply(tensors, case.kwargs)
    outputs = [y for y in (result if isinstance(result, tuple) else (result,))
               if y.requires_grad]
    leaves = [t for t in tensors if t.requires_grad]
    if not outputs or not leaves:
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="upstream seed"))
    upstream = [tg.tensor(rng.standard_normal(y.shape).astype(y.dtype)) for y in outputs]

    tg.autograd.backward(outputs, upstream)

    held = [t.numpy() for t in [*tensors, *outputs, *upstream]]
    grads = [leaf.grad.numpy() for leaf in leaves if leaf.grad is not None]
    for i, grad in enumerate(grads):
        assert not any(np.shares_memory(grad, array) for array in held)
        assert not any(np.shares_memory(grad, other) for other in grads[i + 1:])


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
