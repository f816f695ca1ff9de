"""tinygen.linalg.svd and svdvals: the factors, PyTorch's shapes and errors, and the two
backward paths of svdvals (first order on the cached factors, recorded for second order)."""

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def _leaf(array):
    return tg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 4), (2, 1, 4, 2)])
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_factors_are_orthonormal_and_rebuild_the_matrix(shape, full_matrices):
    a = RNG.standard_normal(shape)
    m, n = shape[-2:]
    k = min(m, n)

    u, s, vh = tg.linalg.svd(tg.tensor(a), full_matrices=full_matrices)

    assert u.shape == shape[:-2] + ((m, m) if full_matrices else (m, k))
    assert s.shape == shape[:-2] + (k,)
    assert vh.shape == shape[:-2] + ((n, n) if full_matrices else (k, n))
    u, s, vh = u.numpy(), s.numpy(), vh.numpy()
    rebuilt = (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]
    np.testing.assert_allclose(rebuilt, a, atol=1e-12)
    for factor in (np.swapaxes(u, -1, -2) @ u, vh @ np.swapaxes(vh, -1, -2)):
        identities = np.broadcast_to(np.eye(factor.shape[-1]), factor.shape)
        np.testing.assert_allclose(factor, identities, atol=1e-12)
    assert np.all(np.diff(s, axis=-1) <= 0)  # descending


def test_svd_returns_a_named_u_s_vh_triple_in_the_input_dtype():
    a = tg.tensor(RNG.standard_normal((3, 2)).astype(np.float32))

    result = tg.linalg.svd(a, full_matrices=False)

    assert result.U is result[0] and result.S is result[1] and result.Vh is result[2]
    assert {t.dtype for t in result} == {np.dtype(np.float32)}
    assert tg.linalg.svdvals(a).dtype == np.float32


@pytest.mark.parametrize(("shape", "full_matrices", "shapes"), [
    ((0, 3), True, [(0, 0), (0,), (3, 3)]),
    ((0, 3), False, [(0, 0), (0,), (0, 3)]),
    ((3, 0), True, [(3, 3), (0,), (0, 0)]),
    ((2, 0, 3), False, [(2, 0, 0), (2, 0), (2, 0, 3)]),
    ((0, 2, 2), True, [(0, 2, 2), (0, 2), (0, 2, 2)]),
])
def test_svd_of_empty_matrices_has_pytorchs_shapes_and_gradients(shape, full_matrices, shapes):
    a = _leaf(np.zeros(shape))

    factors = tg.linalg.svd(a, full_matrices=full_matrices)
    (sum(f.sum() for f in factors)).backward()

    assert [f.shape for f in factors] == shapes
    assert a.grad.shape == shape
    assert tg.linalg.svdvals(a).shape == shapes[1]


def test_svd_and_svdvals_reject_vectors_integers_and_drivers():
    with pytest.raises(ValueError, match=r"svd: A must have at least 2 axes .* got shape \(3,\)"):
        tg.linalg.svd(tg.zeros(3))
    with pytest.raises(TypeError, match="svdvals: A must be a float32 or float64 tensor, got "
                                        "dtype int64"):
        tg.linalg.svdvals(tg.tensor(np.ones((2, 2), dtype=np.int64)))
    with pytest.raises(ValueError, match="svd: driver must be None .* got 'gesvd'"):
        tg.linalg.svd(tg.ones(2, 2), driver="gesvd")


def _gauge_free(u, s, vh, weights):
    """A loss of the factors that no joint sign flip of (u_i, v_i) changes: U diag(w) Vh,
    fourth powers of the entries of U and Vh, and S cubed."""
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    return ((u * weights) @ vh).sum() + (u * u * u * u).sum() + (vh * vh * vh * vh).sum() \
        + (s * s * s).sum()


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
def test_svd_passes_first_and_second_order_gradient_checks(shape):
    # U diag(s) V^T with singular values 1, 2, 3 (distinct, nonzero): smooth factors
    m, n = shape[-2:]
    k = min(m, n)
    left, _ = np.linalg.qr(RNG.standard_normal(shape[:-2] + (m, m)))
    right, _ = np.linalg.qr(RNG.standard_normal(shape[:-2] + (n, n)))
    a = (left[..., :, :k] * np.arange(1.0, k + 1)) @ np.swapaxes(right[..., :, :k], -1, -2)
    weights = tg.tensor(RNG.standard_normal(k))

    def loss(t):
        return _gauge_free(*tg.linalg.svd(t, full_matrices=False), weights)

    assert gradcheck(loss, [_leaf(a)], mode="full")
    assert gradgradcheck(loss, [_leaf(a)], mode="full")


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_full_matrices_drops_the_gradient_of_the_vectors_past_min_m_n(shape):
    a = RNG.standard_normal(shape)
    weights = tg.tensor(RNG.standard_normal(min(shape)))
    full, reduced = _leaf(a), _leaf(a)

    _gauge_free(*tg.linalg.svd(full, full_matrices=True), weights).backward()
    _gauge_free(*tg.linalg.svd(reduced, full_matrices=False), weights).backward()

    np.testing.assert_allclose(full.grad.numpy(), reduced.grad.numpy(), atol=1e-12)


def test_svdvals_first_order_backward_matches_its_recorded_backward():
    a = RNG.standard_normal((2, 4, 3))
    up = tg.tensor(RNG.standard_normal((2, 3)))
    cached, recorded = _leaf(a), _leaf(a)

    (first,) = tg.autograd.grad(tg.linalg.svdvals(cached), [cached], up)
    (second,) = tg.autograd.grad(tg.linalg.svdvals(recorded), [recorded], up,
                                 create_graph=True)

    assert not first.requires_grad and second.requires_grad
    np.testing.assert_allclose(first.numpy(), second.numpy(), atol=1e-13)


def test_svdvals_gradient_is_u_vh_even_at_a_zero_matrix():
    # every singular value is 0 (all tied): U diag(1) Vh is still an orthogonal matrix
    a = _leaf(np.zeros((3, 3)))

    tg.linalg.svdvals(a).sum().backward()

    g = a.grad.numpy()
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g @ g.T, np.eye(3), atol=1e-12)


def test_svdvals_are_the_s_of_the_svd():
    a = tg.tensor(RNG.standard_normal((2, 3, 4)))

    np.testing.assert_allclose(tg.linalg.svdvals(a).numpy(), tg.linalg.svd(a)[1].numpy(),
                               atol=1e-13)
