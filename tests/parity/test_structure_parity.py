"""Structure ops against PyTorch on the same inputs: values, integer results and input
gradients of reductions, scans, norms, shape ops, F.pad, indexing, sorting and products."""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def _pair(value):
    """The same array as a tinygen and a torch tensor (floats require grad)."""
    array = np.asarray(value)
    needs = array.dtype.kind == "f"
    return tg.tensor(array, requires_grad=needs), torch.tensor(array, requires_grad=needs)


def _check(ours, theirs, *arrays, grads=True):
    """Run both on the arrays; compare every output and, through one random upstream
    gradient per float output, every float input's gradient."""
    mine, reference = zip(*(_pair(a) for a in arrays))
    out, expected = ours(*mine), theirs(*reference)
    out = out if isinstance(out, tuple) else (out,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert len(out) == len(expected)
    for o, e in zip(out, expected):
        e = e.detach().numpy()
        assert o.shape == e.shape
        np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12, equal_nan=True)
    floats = [(o, e) for o, e in zip(out, expected) if e.dtype.is_floating_point]
    if not grads or not floats:
        return
    ups = [RNG.standard_normal(e.shape) for _, e in floats]
    tg.autograd.backward([o for o, _ in floats], [tg.tensor(u) for u in ups])
    torch.autograd.backward([e for _, e in floats], [torch.tensor(u) for u in ups])
    for m, r in zip(mine, reference):
        if r.requires_grad:
            expected_grad = np.zeros(r.shape) if r.grad is None else r.grad.numpy()
            mine_grad = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
            np.testing.assert_allclose(mine_grad, expected_grad, rtol=1e-9, atol=1e-12)


def _randn(*shape):
    return RNG.standard_normal(shape)


# --------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, -1.5], [0.0, 1.0, 0.0, 2.0],
                                    [[1.0, 0.0, 3.0], [0.0, 0.0, 2.0]]])
def test_prod_and_its_gradient_with_zeros(values):
    _check(lambda x: tg.prod(x), lambda x: torch.prod(x), np.array(values))
    _check(lambda x: x.prod(-1, keepdim=True), lambda x: x.prod(-1, keepdim=True),
           np.array(values))


def test_cumsum_and_logcumsumexp():
    x = np.array([[-1000.0, 0.0, 3.0, -2.0], [5.0, 5.0, -1.0, 40.0]])
    _check(lambda t: tg.cumsum(t, 1), lambda t: torch.cumsum(t, 1), x)
    _check(lambda t: tg.logcumsumexp(t, 1), lambda t: torch.logcumsumexp(t, 1), x)
    _check(lambda t: tg.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), _randn(5, 3))


@pytest.mark.parametrize("p", ["fro", 2, 1, 3, 0.5, -1.0, math.inf, -math.inf])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm_values_and_gradients(p, dim):
    _check(lambda t: tg.norm(t, p, dim), lambda t: torch.norm(t, p, dim), _randn(3, 4))


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf])
def test_norm_gradient_at_zero(p):
    _check(lambda t: tg.norm(t, p), lambda t: torch.norm(t, p), np.zeros(3))
    _check(lambda t: tg.norm(t, p, 1), lambda t: torch.norm(t, p, 1),
           np.array([[0.0, 0.0], [0.0, 3.0]]))


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
def test_matrix_and_linalg_norm(ord):
    x = _randn(2, 3, 4)
    _check(lambda t: tg.linalg.matrix_norm(t, ord), lambda t: torch.linalg.matrix_norm(t, ord), x)
    _check(lambda t: tg.linalg.norm(t, ord, (0, 2)), lambda t: torch.linalg.norm(t, ord, (0, 2)),
           x)
    _check(lambda t: tg.linalg.vector_norm(t, 3, (0, 2), True),
           lambda t: torch.linalg.vector_norm(t, 3, (0, 2), True), x)


def _sign_free(u, s, vh, weights):
    """Values of the SVD that no joint sign flip of a pair (u_i, v_i) changes (LAPACKs
    differ in the signs they pick): U diag(w) Vh, U and Vh squared, and S."""
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return (u * weights) @ vh, u * u, vh * vh, s


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 4), (2, 4, 3)])
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_values_first_and_second_order_gradients(shape, full_matrices):
    a = _randn(*shape)
    weights = _randn(min(shape[-2:]))
    _check(lambda t: _sign_free(*tg.linalg.svd(t, full_matrices), tg.tensor(weights)),
           lambda t: _sign_free(*torch.linalg.svd(t, full_matrices), torch.tensor(weights)), a)
    # second order: the gradient of <VJP, v> with respect to A
    ups = [_randn(*o.shape) for o in _sign_free(*np.linalg.svd(a, full_matrices), weights)]
    direction = _randn(*shape)
    mine, theirs = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g_mine,) = tg.autograd.grad(_sign_free(*tg.linalg.svd(mine, full_matrices),
                                            tg.tensor(weights)), [mine],
                                 [tg.tensor(u) for u in ups], create_graph=True)
    (g_theirs,) = torch.autograd.grad(_sign_free(*torch.linalg.svd(theirs, full_matrices),
                                                 torch.tensor(weights)), [theirs],
                                      [torch.tensor(u) for u in ups], create_graph=True)
    (gg_mine,) = tg.autograd.grad((g_mine * tg.tensor(direction)).sum(), [mine])
    (gg_theirs,) = torch.autograd.grad((g_theirs * torch.tensor(direction)).sum(), [theirs])
    np.testing.assert_allclose(gg_mine.numpy(), gg_theirs.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 4)])
def test_svdvals_values_and_gradients(shape):
    _check(lambda t: tg.linalg.svdvals(t), lambda t: torch.linalg.svdvals(t), _randn(*shape))
    _check(lambda t: tg.linalg.svdvals(t), lambda t: torch.linalg.svdvals(t),
           np.zeros(shape))  # all singular values tied at 0: U Vh, as torch


def test_max_and_min_with_dim_route_ties_as_pytorch():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [math.nan, 1.0, math.nan, 5.0]])
    for name in ("max", "min"):
        _check(lambda t, n=name: getattr(t, n)(1), lambda t, n=name: getattr(t, n)(1), x)
        _check(lambda t, n=name: getattr(t, n)(0, True), lambda t, n=name: getattr(t, n)(0, True),
               x[:2])
    _check(lambda t: tg.amax(t, 1), lambda t: torch.amax(t, 1), x[:2])


def test_empty_and_0d_reductions():
    _check(lambda t: t.mean(0), lambda t: t.mean(0), np.zeros((0, 3)))
    _check(lambda t: t.sum(0), lambda t: t.sum(0), np.zeros((0, 3)))
    _check(lambda t: tg.prod(t, 0), lambda t: torch.prod(t, 0), np.zeros((0, 3)))
    for dim in (0, -1):
        for name in ("sum", "mean", "amax", "logsumexp", "prod", "cumsum"):
            _check(lambda t, n=name, d=dim: getattr(tg, n)(t, d),
                   lambda t, n=name, d=dim: getattr(torch, n)(t, d), np.array(1.5))


# --------------------------------------------------------------------------- shape ops
@pytest.mark.parametrize("length", [0, 1, 5, 10, 11])
@pytest.mark.parametrize("chunks", [1, 3, 4, 6])
def test_chunk_sizes(length, chunks):
    _check(lambda t: tg.chunk(t, chunks), lambda t: torch.chunk(t, chunks), _randn(length, 2))


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda t: t.unbind(1), lambda t: t.unbind(1)),
    (lambda t: t.movedim((0, 2), (2, 0)), lambda t: t.movedim((0, 2), (2, 0))),
    (lambda t: t.narrow(2, -3, 2), lambda t: t.narrow(2, -3, 2)),
    (lambda t: t.unflatten(2, (2, -1)), lambda t: t.unflatten(2, (2, -1))),
    (lambda t: t.flatten(1), lambda t: t.flatten(1)),
    (lambda t: t.transpose(0, -1), lambda t: t.transpose(0, -1)),
    (lambda t: t.repeat(2, 1, 1, 3), lambda t: t.repeat(2, 1, 1, 3)),
    (lambda t: t.tile((2, 1)), lambda t: t.tile((2, 1))),
    (lambda t: t.roll(2), lambda t: t.roll(2)),
    (lambda t: t.roll((1, -1), (0, 2)), lambda t: t.roll((1, -1), (0, 2))),
    (lambda t: t.clone(), lambda t: t.clone()),
    (lambda t: t[0].t(), lambda t: t[0].t()),
    (lambda t: t.tril(-1), lambda t: t.tril(-1)),
    (lambda t: t.triu(1), lambda t: t.triu(1)),
])
def test_shape_ops(ours, theirs):
    _check(ours, theirs, _randn(2, 3, 4))


def test_stacks():
    a, b = _randn(3), _randn(3, 2)
    _check(lambda x, y: tg.column_stack([x, y]), lambda x, y: torch.column_stack([x, y]), a, b)
    _check(lambda x, y: tg.hstack([x, y]), lambda x, y: torch.hstack([x, y]), a, _randn(2))
    _check(lambda x, y: tg.vstack([x, y]), lambda x, y: torch.vstack([x, y]), a, _randn(2, 3))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, -1), (-1, 1), (0, 0, 1, 2), (2, 1, -1, 2),
                                 (1, -2, 0, 1, 1, 1)])
def test_pad_modes_with_negative_amounts(mode, pad):
    shape = (2, 3, 4, 5) if len(pad) == 6 else (2, 3, 5)
    _check(lambda t: F.pad(t, pad, mode=mode), lambda t: TF.pad(t, pad, mode=mode),
           _randn(*shape))


def test_pad_constant_value_on_any_number_of_axes():
    _check(lambda t: F.pad(t, (1, 1, 0, 2, -1, 1), value=2.5),
           lambda t: TF.pad(t, (1, 1, 0, 2, -1, 1), value=2.5), _randn(2, 3, 4))


# --------------------------------------------------------------------------- indexing
def test_gather_scatter_and_scatter_add():
    x, src = _randn(3, 4), _randn(3, 3)
    index = np.array([[3, 0], [1, 1], [2, 0]])
    unique = np.array([[3, 0], [1, 2], [2, 0]])
    _check(lambda t, i: tg.gather(t, 1, i), lambda t, i: torch.gather(t, 1, i), x, index)
    _check(lambda t, i, s: tg.scatter_add(t, 1, i, s),
           lambda t, i, s: torch.scatter_add(t, 1, i, s), x, index, src[:, :2])
    # a src larger than index: only its leading block is used (torch's backward rejects it)
    _check(lambda t, i, s: tg.scatter_add(t, 1, i, s),
           lambda t, i, s: torch.scatter_add(t, 1, i, s), x, index, src, grads=False)
    _check(lambda t, i, s: tg.scatter(t, 1, i, s), lambda t, i, s: torch.scatter(t, 1, i, s),
           x, unique, src[:, :2])
    _check(lambda t, i, s: tg.scatter(t, 1, i, s), lambda t, i, s: torch.scatter(t, 1, i, s),
           x, unique, src, grads=False)
    _check(lambda t, i: tg.scatter(t, 0, i, -1.0), lambda t, i: torch.scatter(t, 0, i, -1.0),
           x, np.array([[2, 0, 1, 2]]))


def test_index_select_take_along_dim_and_masked_fill():
    x = _randn(3, 4)
    _check(lambda t, i: t.index_select(1, i), lambda t, i: t.index_select(1, i), x,
           np.array([3, 0, 3]))
    _check(lambda t, i: tg.take_along_dim(t, i, 1), lambda t, i: torch.take_along_dim(t, i, 1),
           x, np.array([[0, 3]]))
    _check(lambda t, i: tg.take_along_dim(t, i), lambda t, i: torch.take_along_dim(t, i),
           x, np.array([11, 0, 5]))
    _check(lambda t, i: tg.take_along_dim(t, i, 0), lambda t, i: torch.take_along_dim(t, i, 0),
           x, np.array([[-1, 0, -3, 2]]))
    _check(lambda t, i, s: tg.index_add(t, 0, i, s, alpha=-0.5),
           lambda t, i, s: torch.index_add(t, 0, i, s, alpha=-0.5), x, np.array([2, 0, 2]),
           _randn(3, 4))
    mask = RNG.standard_normal((2, 1, 4)) > 0
    _check(lambda t, m, v: t.masked_fill(m, v), lambda t, m, v: t.masked_fill(m, v), x, mask,
           np.array(0.5))


def test_sort_argsort_and_topk():
    ties = np.array([[2.0, 1.0, math.nan, 2.0, math.inf, 1.0, math.nan], [0.0] * 7])
    for descending in (False, True):
        _check(lambda t, d=descending: t.sort(-1, d, stable=True),
               lambda t, d=descending: t.sort(dim=-1, descending=d, stable=True), ties)
        _check(lambda t, d=descending: tg.argsort(t, 0, d, stable=True),
               lambda t, d=descending: torch.argsort(t, dim=0, descending=d, stable=True),
               ties, grads=False)
    distinct = RNG.permutation(12).reshape(3, 4) + RNG.uniform(0, 0.5, (3, 4))
    for largest in (True, False):
        _check(lambda t, w=largest: t.topk(2, 0, w), lambda t, w=largest: t.topk(2, 0, w),
               distinct)


def test_one_hot_and_embedding():
    classes = np.array([[0, 3], [2, 2]])
    _check(lambda c: F.one_hot(c), lambda c: TF.one_hot(c), classes)
    _check(lambda c: F.one_hot(c, 6), lambda c: TF.one_hot(c, 6), classes)
    weight = _randn(5, 3)
    for padding in (None, 2, -2):
        _check(lambda c, w, p=padding: F.embedding(c, w, p),
               lambda c, w, p=padding: TF.embedding(c, w, p), classes, weight)


# --------------------------------------------------------------------------- products
@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk", [(2, 2, 3), (2, 3, 2)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("iij->j", [(2, 2, 3)]), ("i,j->ij", [(2, 3)]),
    ("...ij,...jk", [(4, 1, 2, 3), (5, 3, 2)]), ("i...->i", [(2, 3, 4)]),
    ("ij,ij->ij", [(2, 1), (2, 3)]), ("abc,cd,bd->a", [(2, 3, 4), (4, 5), (3, 5)]),
    ("Ab,bc", [(2, 3), (3, 2)]), ("b...,...b->...", [(3, 2, 1), (4, 3)]),
])
def test_einsum(equation, shapes):
    arrays = [_randn(*s) for s in shapes]
    if equation == "i,j->ij":
        arrays = [_randn(2), _randn(3)]
    _check(lambda *xs: tg.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs),
           *arrays)


@pytest.mark.parametrize(("name", "shapes", "kwargs"), [
    ("mm", [(2, 3), (3, 4)], {}), ("bmm", [(2, 2, 3), (2, 3, 4)], {}), ("mv", [(2, 3), (3,)], {}),
    ("dot", [(3,), (3,)], {}), ("outer", [(2,), (3,)], {}),
    ("addmm", [(4,), (2, 3), (3, 4)], {"beta": 0.5, "alpha": -2.0}),
    ("baddbmm", [(2, 1, 4), (2, 2, 3), (2, 3, 4)], {"beta": 2.0, "alpha": 0.5}),
    ("tensordot", [(2, 3, 4), (4, 3, 5)], {"dims": ([1, 2], [1, 0])}),
    ("tensordot", [(2, 3), (3, 4)], {"dims": 1}),
])
def test_named_products(name, shapes, kwargs):
    _check(lambda *xs: getattr(tg, name)(*xs, **kwargs),
           lambda *xs: getattr(torch, name)(*xs, **kwargs), *[_randn(*s) for s in shapes])
