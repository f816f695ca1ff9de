"""Matrix decompositions: the singular value decomposition, as ``torch.linalg.svd`` and
``torch.linalg.svdvals``.

:class:`SVD` returns all three factors; its backward is the standard SVD VJP, written in
Tensor ops on the saved factors, so second derivatives differentiate through the factors
again. Like PyTorch's, it assumes distinct singular values (and, for a non-square matrix,
nonzero ones) wherever U or Vh receive a gradient: there the singular vectors are not
functions of the matrix at all. :class:`SVDVals` returns the singular values only; their
gradient U diag(gS) Vh is defined at every matrix (a zero matrix, repeated values), which
is why the norms built on singular values use it.
"""

from __future__ import annotations

from collections import namedtuple

from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.ops.axes import swap_last_axes
from tinygen.autograd.ops.shape import getitem, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

#: What ``svd`` returns: PyTorch's (U, S, Vh) triple.
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


def _check_finite(xp, a, op: str) -> None:
    """The SVD of a matrix with a NaN or an infinity does not converge (NumPy's LinAlgError,
    PyTorch's "failed to converge" error): refuse it up front, naming the op."""
    if not bool(xp.isfinite(a).all()):
        raise ValueError(f"{op}: the input contains NaN or infinite values (the SVD cannot "
                         "converge)")


class SVD(Function):
    """A = U diag(S) Vh over the last two axes, S descending; U is (..., m, m) and Vh
    (..., n, n) with ``full_matrices``, (..., m, k) and (..., k, n) without (k = min(m, n))."""

    def __init__(self, full_matrices: bool):
        self.full_matrices = full_matrices

    def forward(self, a):
        xp = get_array_module(a)
        _check_finite(xp, a, "svd")
        u, s, vh = xp.linalg.svd(a, full_matrices=self.full_matrices)
        self.save_for_backward(u, s, vh)  # the outputs: second order differentiates them
        return u, s, vh

    def backward(self, gu, gs, gvh):
        # gA = U [(skew(U^T gU) S + S skew(Vh gV)) / E + diag(gS)] Vh, E_ij = s_j^2 - s_i^2,
        # skew(X) = X - X^T; plus (I - U U^T) gU S^-1 Vh if m > n, U S^-1 gVh (I - V Vh) if m < n
        u, s, vh = self.saved_tensors
        k = s.shape[-1]
        if self.full_matrices:
            # the columns past k span the complement in any basis LAPACK picks: they are no
            # function of A, so (as PyTorch) their gradients are dropped
            u, gu = getitem(u, (..., slice(0, k))), getitem(gu, (..., slice(0, k)))
            vh, gvh = getitem(vh, (..., slice(0, k), slice(None))), getitem(
                gvh, (..., slice(0, k), slice(None)))
        m, n = u.shape[-2], vh.shape[-1]
        xp = get_array_module(s.data)
        utgu = swap_last_axes(u) @ gu
        vhgv = vh @ swap_last_axes(gvh)
        s_row, s_col = unsqueeze(s, -2), unsqueeze(s, -1)  # (..., 1, k) and (..., k, 1)
        s2_row = s_row * s_row
        identity = Tensor._from_array(xp.eye(k, dtype=s.dtype))
        # s_j^2 - s_i^2 has an exact 0 on the diagonal, where the skew numerators are 0 too:
        # 1 there divides nothing away (PyTorch's guard)
        gaps = s2_row - swap_last_axes(s2_row) + identity
        inner = ((utgu - swap_last_axes(utgu)) * s_row
                 + s_col * (vhgv - swap_last_axes(vhgv))) / gaps
        inner = inner + unsqueeze(gs, -1) * identity
        if m > n:
            gu_scaled = gu / s_row
            outer = u @ inner + gu_scaled - u @ (swap_last_axes(u) @ gu_scaled)
            return outer @ vh
        if m < n:
            gvh_scaled = gvh / s_col
            outer = inner @ vh + gvh_scaled - (gvh_scaled @ swap_last_axes(vh)) @ vh
            return u @ outer
        return u @ inner @ vh


class SVDVals(Function):
    """The singular values of A over the last two axes, descending: (..., min(m, n))."""

    op_name = "svdvals"

    def forward(self, a):
        xp = get_array_module(a)
        _check_finite(xp, a, "svdvals")
        u, s, vh = xp.linalg.svd(a, full_matrices=False)
        self.save_for_backward(a)
        # the factors for a first-order backward; a recorded one recomputes them from A
        self.cache_for_backward(u=u, vh=vh)
        return s

    def backward(self, gs):
        # ds_i = u_i^T dA v_i, so gA = U diag(gS) Vh
        (a,) = self.saved_tensors
        if is_grad_enabled():  # recorded: U and Vh as functions of A, for second order
            u, _, vh = svd(a, full_matrices=False)
            return u @ (unsqueeze(gs, -1) * vh)
        u, vh = self.cached("u"), self.cached("vh")
        return Tensor._from_array(u @ (gs.data[..., :, None] * vh))  # (..., k) -> (..., k, 1)


def _check_matrices(op: str, a: Tensor) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: A must be a Tensor, got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"{op}: A must have at least 2 axes (..., m, n), got shape {a.shape}")
    if a.dtype.kind != "f" or a.dtype.itemsize < 4:
        raise TypeError(f"{op}: A must be a float32 or float64 tensor, got dtype {a.dtype}")


@tensor_args
def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:  # noqa: N803
    """The singular value decomposition A = U diag(S) Vh, as ``torch.linalg.svd``.

    Each singular vector is unique only up to its sign (and, at repeated singular values, up
    to a rotation), so U and Vh may differ from another library's by those. Gradients through
    U or Vh are finite only at distinct singular values (nonzero ones too, for m != n); the
    gradients of the columns of U and rows of Vh past min(m, n) are dropped, as in PyTorch.
    Use :func:`svdvals` when only S is needed: its gradient exists everywhere.

    Args:
        A: a float tensor of shape (..., m, n); leading axes are a batch.
        full_matrices: U of shape (..., m, m) and Vh (..., n, n) when True; (..., m, k)
            and (..., k, n), k = min(m, n), when False.
        driver: PyTorch's cuSOLVER choice; only None (the backend's default) is accepted.

    Returns:
        (U, S, Vh), with S of shape (..., k), descending.
    """
    _check_matrices("svd", A)
    if driver is not None:
        raise ValueError(f"svd: driver must be None (the backend's default), got {driver!r}")
    return SVDResult(*SVD(bool(full_matrices)).apply(A))


@tensor_args
def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:  # noqa: N803
    """The singular values of A, descending, as ``torch.linalg.svdvals``.

    Its gradient U diag(gS) Vh exists at every A (at repeated singular values it is the one
    the computed U and Vh give, as in PyTorch).

    Args:
        A: a float tensor of shape (..., m, n); leading axes are a batch.
        driver: PyTorch's cuSOLVER choice; only None (the backend's default) is accepted.

    Returns:
        S of shape (..., min(m, n)).
    """
    _check_matrices("svdvals", A)
    if driver is not None:
        raise ValueError(f"svdvals: driver must be None (the backend's default), got "
                         f"{driver!r}")
    return SVDVals().apply(A)
