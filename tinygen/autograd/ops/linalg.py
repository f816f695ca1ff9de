"""Matrix products: batched, broadcasting matmul."""

from __future__ import annotations

from tinygen.autograd.function import Function
from tinygen.autograd.ops.shape import reshape, swap_last_axes
from tinygen.autograd.tensor import Tensor


class MatMul(Function):
    """a @ b for a, b with at least 2 axes; leading (batch) axes broadcast."""

    broadcasts = True  # batch axes broadcast: the engine sums gradients back to each shape

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy):
        # d(a @ b)/da = gy @ b^T, d(a @ b)/db = a^T @ gy  (transposing the last two axes)
        a, b = self.saved_tensors
        ga = gy @ swap_last_axes(b) if self.needs_input_grad[0] else None
        gb = swap_last_axes(a) @ gy if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row (for a) or a
    column (for b) and the added axis is dropped from the result; leading axes broadcast."""
    from tinygen.autograd.ops.elementwise import _pair

    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 axis, got shapes {a.shape} "
                         f"and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: inner sizes differ: a has shape {a.shape}, b has {b.shape}")
    if a.ndim > 1 and b.ndim > 1:
        return MatMul().apply(a, b)
    # promote 1-D operands: (k,) -> (1, k) for a, (k,) -> (k, 1) for b
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    y = MatMul().apply(a2, b2)
    # drop the promoted axes: (..., 1, n) / (..., m, 1) / (1, 1) -> (..., n) / (..., m) / ()
    shape = y.shape[:-2] + ((y.shape[-2],) if a.ndim > 1 else ()) + (
        (y.shape[-1],) if b.ndim > 1 else ())
    return reshape(y, shape)
