"""Ties against PyTorch: the gradient of amax/amin, max()/min(), maximum/minimum, max(dim) and
max_pool2d where several entries reach the extreme (the written rules and the hand-worked
values are in tests/autograd/test_ties.py)."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

X = np.array([[1.0, 3.0, 3.0, 0.0],
              [2.0, 2.0, 2.0, 2.0],
              [-1.0, 5.0, -1.0, 4.0]])
Y = np.array([[[4.0, 1.0, 4.0], [4.0, 0.0, 2.0]],
              [[1.0, 0.0, 4.0], [2.0, 4.0, 4.0]]])


def _grads(fn, arrays, upstream, library):
    """fn's outputs and the inputs' gradients for one upstream gradient per output."""
    inputs = [library.tensor(a, requires_grad=True) for a in arrays]
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    library.autograd.backward(list(outputs), [library.tensor(u) for u in upstream])
    return ([o.detach().numpy() for o in outputs],
            [np.zeros(a.shape) if t.grad is None else t.grad.numpy()
             for a, t in zip(arrays, inputs)])


def _check(ours, theirs, *arrays):
    """Same outputs and same input gradients, with upstream gradients that differ per
    entry (a power of two each, so the shares add up exactly)."""
    shapes = [np.shape(o.detach().numpy()) for o in _as_tuple(
        theirs(*[torch.tensor(a) for a in arrays]))]
    upstream = [2.0 ** np.arange(int(np.prod(s))).reshape(s) for s in shapes]
    (out, grads), (out_ref, grads_ref) = (_grads(ours, arrays, upstream, tg),
                                          _grads(theirs, arrays, upstream, torch))
    for o, e in zip(out, out_ref, strict=True):
        np.testing.assert_array_equal(o, e)
    for index, (g, e) in enumerate(zip(grads, grads_ref, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-15, atol=0, err_msg=f"input {index}")


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize(("dim", "keepdim"), [(1, False), (-1, True), (0, False),
                                              ((0, 1), False), ((), False)])
def test_amax_and_amin_split_ties_as_torch(name, dim, keepdim):
    _check(lambda t: getattr(tg, name)(t, dim, keepdim),
           lambda t: getattr(torch, name)(t, dim, keepdim), X)


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [(0, 2), (1,), (0, 1, 2)])
def test_amax_and_amin_over_several_dims_split_ties_as_torch(name, dim):
    _check(lambda t: getattr(tg, name)(t, dim), lambda t: getattr(torch, name)(t, dim), Y)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_of_every_entry_split_ties_as_torch(name):
    for x in (X, Y):
        _check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_and_min_with_a_dim_route_ties_to_the_returned_index_as_torch(name, dim):
    _check(lambda t: getattr(t, name)(dim)[0], lambda t: getattr(t, name)(dim)[0], X)


@pytest.mark.parametrize(("ours", "theirs"), [
    (tg.maximum, torch.maximum), (tg.minimum, torch.minimum),
    (tg.max, torch.max), (tg.min, torch.min),
])
@pytest.mark.parametrize(("a", "b"), [
    ([1.0, 2.0, 3.0, 4.0], [1.0, 5.0, 3.0, 0.0]),
    ([2.0, 2.0, 1.0, 3.0], 2.0),
    ([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], [3.0, 2.0, 1.0]),
    ([[1.0], [2.0]], [[1.0, 2.0, 0.0]]),
])
def test_maximum_and_minimum_split_ties_and_broadcast_as_torch(ours, theirs, a, b):
    _check(ours, theirs, np.array(a), np.array(b))


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 2, "stride": 1},
                                    {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1}])
def test_max_pool2d_routes_tied_windows_as_torch(kwargs):
    x = np.array([[5.0, 5.0, 0.0, 2.0, 3.0, 0.0],
                  [5.0, 1.0, 2.0, 2.0, 0.0, 3.0],
                  [1.0, 1.0, 1.0, 1.0, 3.0, 3.0],
                  [5.0, 1.0, 2.0, 2.0, 3.0, 3.0]])[None, None]
    _check(lambda t: F.max_pool2d(t, **kwargs), lambda t: TF.max_pool2d(t, **kwargs), x)
