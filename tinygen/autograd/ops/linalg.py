"""Matrix products: batched, broadcasting matmul, and the dense layer's x W^T + b."""

from __future__ import annotations

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.elementwise import _as_tensor_pair
from tinygen.autograd.ops.shape import reshape, swap_last_axes
from tinygen.autograd.tensor import Tensor


class MatMul(Function):
    """a @ b for a, b with at least 2 axes; leading (batch) axes broadcast."""

    broadcasts = True  # batch axes broadcast: the engine sums gradients back to each shape

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return backend.matmul(a, b)

    def backward(self, gy):
        # d(a @ b)/da = gy @ b^T, d(a @ b)/db = a^T @ gy  (transposing the last two axes)
        a, b = self.saved_tensors
        ga = gy @ swap_last_axes(b) if self.needs_input_grad[0] else None
        gb = swap_last_axes(a) @ gy if self.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row (for a) or a
    column (for b) and the added axis is dropped from the result; leading axes broadcast."""
    a, b = _as_tensor_pair(a, b)
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


class Linear(Function):
    """y = x W^T (+ b), as torch.nn.functional.linear: x (..., in), W (out, in), b (out,).

    One op instead of a transpose, a matmul and an add: the bias is added in place to the
    product, and the weight gradient comes out in W's own (out, in) layout, where the
    composite's came out as a transposed view that had to be copied into W.grad.
    """

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        # (..., in) @ (in, out) -> (..., out); .T is a view
        y = backend.matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        # dL/dx = gy W; dL/dW = gy^T x and dL/db = sum gy, both summed over the leading axes
        x, weight = self.saved_tensors
        needs = self.needs_input_grad
        out_features, in_features = weight.shape
        gx = gy @ weight if needs[0] else None
        gw = gb = None
        if needs[1] or (len(needs) == 3 and needs[2]):
            gy_rows = reshape(gy, (-1, out_features))  # (..., out) -> (M, out)
            if needs[1]:
                # (out, M) @ (M, in) -> (out, in); (..., in) -> (M, in)
                gw = swap_last_axes(gy_rows) @ reshape(x, (-1, in_features))
            if len(needs) == 3 and needs[2]:
                gb = gy_rows.sum(axis=0)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def linear(x, weight, bias=None) -> Tensor:
    """x W^T + b, as torch.nn.functional.linear.

    Args:
        x: (..., in_features).
        weight: (out_features, in_features).
        bias: optional (out_features,).

    Returns:
        (..., out_features).
    """
    for name, value in (("x", x), ("weight", weight), ("bias", bias)):
        if not isinstance(value, Tensor) and (value is not None or name != "bias"):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(value).__name__}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"linear: x, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype} and {None if bias is None else bias.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x's last axis must be in_features={weight.shape[1]}, got "
                         f"shape {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                         f"{bias.shape}")
    function = Linear()
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)
