"""The engine's two routes for gradients give the same result.

Without ``create_graph`` gradients travel as raw arrays and ops that set
``backward_on_arrays`` run their one formula on arrays; with it every gradient is a Tensor
(docs/ARCHITECTURE.md, "The engine loop"). The registry's gradcheck takes the first route and
its gradgradcheck the second; here every registered op is run both ways on one drawn case and
the gradients compared, and the routes' own promises (no aliasing, dtypes, observers seeing
Tensors, errors naming the op) are checked.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen.autograd import Function, engine
from tinygen.autograd.ops.elementwise import Add, Div, Mul, Sub
from tinygen.autograd.ops.shape import Reshape
from tinygen.debug.recording import listening
from tinygen.testing import all_specs

DIFFERENTIABLE = [spec for spec in all_specs() if spec.order >= 1]


def _graph(spec, case, upstream_seed: int):
    """(inputs, outputs that require grad, inputs that do, an upstream gradient per output),
    or None when nothing is differentiated."""
    tensors = case.tensors()
    result = spec.apply(tensors, case.kwargs)
    outputs = [y for y in (result if isinstance(result, tuple) else (result,))
               if y.requires_grad]
    wanted = [t for t in tensors if t.requires_grad]
    if not outputs or not wanted:
        return None
    rng = np.random.default_rng(upstream_seed)
    upstream = [tg.tensor(rng.standard_normal(y.shape).astype(y.dtype)) for y in outputs]
    return tensors, outputs, wanted, upstream


def _gradients(spec, case, upstream_seed: int, create_graph: bool):
    graph = _graph(spec, case, upstream_seed)
    if graph is None:
        return None
    _, outputs, wanted, upstream = graph
    grads = tg.autograd.grad(outputs, wanted, grad_outputs=upstream, create_graph=create_graph,
                             allow_unused=True)
    return [None if g is None else g.numpy() for g in grads]


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=[spec.name for spec in DIFFERENTIABLE])
@settings(deadline=None, max_examples=5)
@given(data=st.data())
def test_array_route_gives_the_tensor_routes_gradients(spec, data):
    case = data.draw(spec.cases(), label="case")
    seed = data.draw(st.integers(0, 2**16), label="upstream seed")

    on_arrays = _gradients(spec, case, seed, create_graph=False)
    on_tensors = _gradients(spec, case, seed, create_graph=True)

    if on_arrays is None:
        return
    for got, expected in zip(on_arrays, on_tensors):
        assert (got is None) == (expected is None)
        if got is not None:
            assert got.dtype == expected.dtype
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", DIFFERENTIABLE, ids=[spec.name for spec in DIFFERENTIABLE])
@settings(deadline=None, max_examples=5)
@given(data=st.data())
def test_leaf_gradients_own_their_memory(spec, data):
    # whatever an op declares in owned_grads (tests/autograd/test_owned_grads.py), no leaf's
    # .grad may share memory with anything the caller holds, nor with another leaf's
    case = data.draw(spec.cases(), label="case")
    graph = _graph(spec, case, data.draw(st.integers(0, 2**16), label="upstream seed"))
    if graph is None:
        return
    tensors, outputs, leaves, upstream = graph

    tg.autograd.backward(outputs, upstream)

    held = [t.numpy() for t in [*tensors, *outputs, *upstream]]
    grads = [leaf.grad.numpy() for leaf in leaves if leaf.grad is not None]
    for i, grad in enumerate(grads):
        assert not any(np.shares_memory(grad, array) for array in held)
        assert not any(np.shares_memory(grad, other) for other in grads[i + 1:])


def test_the_hottest_ops_run_their_backward_on_arrays():
    assert all(op.backward_on_arrays for op in (Add, Sub, Mul, Div, Reshape))
    assert not Function.backward_on_arrays  # an op opts in; a new op runs on Tensors


def test_leaf_gradients_never_alias_each_other_or_the_upstream_gradient():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    upstream = tg.tensor([1.0, 1.0])

    (a + b).backward(upstream)  # add hands the same gradient to both inputs

    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), upstream.numpy())


def test_a_second_backward_accumulates_into_a_new_grad_tensor():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    first = x.grad

    (x * 3.0).sum().backward()

    assert x.grad is not first
    np.testing.assert_array_equal(first.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_dim_gradients_are_arrays_of_the_input_dtype(dtype):
    # NumPy arithmetic on 0-d arrays returns scalars; the leaf's .grad must still be an array
    x = tg.tensor(np.array(0.5, dtype=dtype), requires_grad=True)

    (x * x / (x + 1) - x).backward()

    assert isinstance(x.grad.data, np.ndarray)
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.numpy(), 2 * 0.5 / 1.5 - 0.25 / 1.5**2 - 1, rtol=1e-6)


def test_retained_intermediate_gradient_is_its_own_tensor():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.retain_grad()

    (h * h).sum().backward()

    np.testing.assert_allclose(h.grad.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])
    assert not np.shares_memory(h.grad.numpy(), x.grad.numpy())


def test_observers_see_tensors_while_installed():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).reshape(2, 1).sum()
    seen = []

    def listener(node, output_grads, input_grads):
        seen.extend([*output_grads, *(g for g in input_grads if g is not None)])

    with listening(backward=listener):
        y.backward()

    assert seen and all(isinstance(g, tg.Tensor) for g in seen)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_array_backward_leaves_saved_tensors_as_tensors_for_a_later_backward():
    x = tg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)  # the arrays route

    (gx,) = tg.autograd.grad(y, [x], create_graph=True)  # the same nodes, on Tensors
    gx.sum().backward()

    np.testing.assert_allclose(gx.detach().numpy(), [2.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [2.0 + 2.0, 4.0 + 2.0])


class _ReturnsAnArray(Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy.data * 2  # wrong: a Tensor-written backward must return Tensors


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_backward_returning_an_array_is_named(create_graph):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = _ReturnsAnArray().apply(x).sum()

    with pytest.raises(TypeError, match="_ReturnsAnArray.backward returned ndarray"):
        engine.backward(y, create_graph=create_graph)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda x: 1 - x * x,  # a Python number beside a float tensor takes its dtype
    lambda x: x * 2,
    lambda x: 2.5 / x,
    lambda x: x * np.array([True, False, True]),  # a bool mask stays bool, the result float
    lambda x: np.array([True, False, True]) * x,
    lambda x: x - tg.tensor([True, True, False]),
])
def test_numbers_and_masks_beside_a_float_tensor_keep_its_dtype(make, dtype):
    x = tg.tensor(np.array([0.5, -1.5, 2.0], dtype=dtype), requires_grad=True)

    y = make(x)
    y.sum().backward()

    assert y.dtype == dtype
    assert x.grad.dtype == dtype


def test_leaf_gradients_do_not_alias_on_the_tensor_route_either():
    """engine.leaf-alias: with an observer installed the gradients stay Tensors, and a
    leaf's .grad must still own its memory (add hands the same gradient to both inputs)."""
    a = tg.tensor([1.0], requires_grad=True)
    b = tg.tensor([2.0], requires_grad=True)
    upstream = tg.tensor([5.0])

    with listening(backward=lambda node, output_grads, input_grads: None):
        (a + b).backward(upstream)

    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert not np.shares_memory(a.grad.data, upstream.data)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [5.0, 5.0])
