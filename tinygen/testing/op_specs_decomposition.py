"""Specs for the singular value decomposition (svd, svdvals) and the norms built on singular
values (matrix_norm, linalg.norm and torch.norm with 'nuc', 2 and -2).

The inputs are built as U diag(s) V^T from drawn orthogonal U, V and well-separated s, so
every singular vector pair is a smooth function of the matrix. The references come from the
eigendecomposition of the Gram matrix (NumPy's eigh, not an SVD routine) or, for the norms,
from NumPy's own ``np.linalg.norm``; never from tinygen's code.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from tinygen.autograd import ops
from tinygen.autograd.ops.decomposition import svd, svdvals
from tinygen.autograd.ops.norms import linalg_norm, matrix_norm
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, floats


def _orthogonal(draw, size: int) -> np.ndarray:
    """A drawn orthogonal matrix: the Cayley transform (I - K)(I + K)^-1 of a drawn skew K
    (I + K is always invertible), times a drawn sign per column (reflections too)."""
    upper = np.triu(draw(arrays((size, size), elements=floats(-1.0, 1.0))), 1)
    skew = upper - upper.T
    identity = np.eye(size)
    rotation = (identity - skew) @ np.linalg.inv(identity + skew)
    signs = np.where(draw(arrays((size,), dtype=np.bool_)), 1.0, -1.0)
    return rotation * signs


@st.composite
def _well_conditioned(draw, signed_columns: bool = False):
    """Stacks of U diag(s) V^T (m, n in 1..4) from drawn orthogonal U, V and singular values
    0.5 + 0.35 j for distinct j: every two at least 0.35 apart, none near 0, so each
    singular vector pair is a smooth function of the matrix. ``signed_columns`` also keeps
    every column sum of U away from 0, so that :func:`_signed_factors` fixes the signs
    smoothly."""
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = min(rows, cols)
    matrices = []
    for _ in range(math.prod(batch)):
        steps = draw(st.lists(st.integers(0, 7), min_size=k, max_size=k, unique=True))
        values = 0.5 + 0.35 * np.sort(np.array(steps, dtype=np.float64))[::-1]
        left = _orthogonal(draw, rows)[:, :k]
        if signed_columns:
            assume(np.all(np.abs(left.sum(axis=0)) > 0.1))
        right = _orthogonal(draw, cols)[:, :k]
        matrices.append((left * values) @ right.T)  # (m, k) diag(s) (k, n)
    return (np.array(matrices).reshape(batch + (rows, cols)),)


def _signed_factors(u, s, vh):
    """(U, S, Vh) on their first k = len(S) vectors, each pair (u_i, v_i) flipped so that
    u_i sums to a positive number: the sign LAPACK picks is arbitrary, this one is smooth."""
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]
    signs = np.sign(u.sum(axis=-2))  # (..., k): one per column of U
    return u * signs[..., None, :], s, vh * signs[..., :, None]


def _svd_reference(a, full_matrices=True):
    """The SVD from the eigendecomposition of the smaller Gram matrix (not from an SVD
    routine): A^T A = V S^2 V^T, U = A V S^-1 when m >= n; A A^T = U S^2 U^T otherwise."""
    del full_matrices  # the spec compares the first k vectors only
    at = np.swapaxes(a, -1, -2)
    if a.shape[-2] >= a.shape[-1]:
        squares, v = np.linalg.eigh(at @ a)
        s, v = np.sqrt(squares[..., ::-1]), v[..., ::-1]
        u = (a @ v) / s[..., None, :]
        return _signed_factors(u, s, np.swapaxes(v, -1, -2))
    squares, u = np.linalg.eigh(a @ at)
    s, u = np.sqrt(squares[..., ::-1]), u[..., ::-1]
    vh = (np.swapaxes(u, -1, -2) @ a) / s[..., :, None]
    return _signed_factors(u, s, vh)


def _svdvals_reference(a):
    # the roots of the eigenvalues of the smaller Gram matrix, descending
    at = np.swapaxes(a, -1, -2)
    gram = at @ a if a.shape[-2] >= a.shape[-1] else a @ at
    return np.sqrt(np.linalg.eigvalsh(gram)[..., ::-1])


def _svd_call(a, full_matrices):
    u, s, vh = svd(a, full_matrices)
    k = s.shape[-1]
    u, vh = u[..., :, :k], vh[..., :k, :]  # the vectors past k are no function of A
    signs = ops.sign(u.sum(dim=-2)).detach()  # (..., k): a constant per pair
    return u * signs.unsqueeze(-2), s, vh * signs.unsqueeze(-1)


def _matrix_dims(arrays_):
    # the last two axes (the drawn matrices), in either order and either sign
    ndim = arrays_[0].ndim
    return st.sampled_from([(-2, -1), (-1, -2), (ndim - 2, ndim - 1), (ndim - 1, -2)])


register(OpSpec(
    "svd", svd, _svd_reference, _well_conditioned(signed_columns=True),
    kwargs=st.fixed_dictionaries({"full_matrices": st.booleans()}),
    call=_svd_call,
))
register(OpSpec("svdvals", svdvals, _svdvals_reference, _well_conditioned()))
register(OpSpec(
    "matrix_norm_singular_values", matrix_norm,
    lambda x, ord, dim, keepdim: np.linalg.norm(x, ord, axis=dim, keepdims=keepdim),
    _well_conditioned(),
    kwargs=lambda a: st.fixed_dictionaries({
        "ord": st.sampled_from(["nuc", 2, -2]), "dim": _matrix_dims(a),
        "keepdim": st.booleans()}),
))
register(OpSpec(
    "linalg_norm_singular_values", linalg_norm,
    lambda x, ord, dim: np.linalg.norm(x, ord, axis=dim),
    _well_conditioned(),
    kwargs=lambda a: st.fixed_dictionaries({
        "ord": st.sampled_from(["nuc", 2, -2]), "dim": _matrix_dims(a)}),
))
register(OpSpec(
    "norm_nuc", ops.norm,
    lambda x, p, dim: np.linalg.norm(x, p, axis=dim),
    _well_conditioned(),
    kwargs=lambda a: st.fixed_dictionaries({"p": st.just("nuc"), "dim": _matrix_dims(a)}),
))

