"""Layer norm's fused op: each row of the trailing ``normalized_shape`` entries standardized
and scaled, its backward in closed form (``normalization.py`` holds the public wrapper).

Like batch norm, the backward is the closed form twice: on raw arrays when it is not recorded
(the common case), and written with differentiable ops when it is (``create_graph=True``), so
that second derivatives stay exact; the gradient checks test both.

The raw passes run on blocks of rows, on two threads for a large input
(``normalization_passes.in_blocks``: the same bits at one and two threads).
"""

from __future__ import annotations

import math

from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.elementwise import sqrt
from tinygen.autograd.ops.normalization_passes import AffineNormalization, block_sum, in_blocks
from tinygen.autograd.ops.reduction import mean, sum
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class LayerNorm(AffineNormalization):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) variance over
    each row of the trailing ``normalized_shape`` entries. Inputs: x, then the weight and the
    bias (each of ``normalized_shape``) when they are given."""

    def __init__(self, normalized_shape: tuple, eps: float, has_weight: bool, has_bias: bool):
        self.normalized_shape = normalized_shape
        self.eps = eps
        self.has_weight = has_weight
        self.has_bias = has_bias

    def forward(self, x, *params):
        xp = get_array_module(x)
        weight, bias = self._params(params)
        run = math.prod(self.normalized_shape)
        rows = math.prod(x.shape[:x.ndim - len(self.normalized_shape)])
        x2 = x.reshape(rows, run)  # (*, *normalized_shape) -> (rows, run)
        w = None if weight is None else weight.reshape(run)  # normalized_shape -> (run,)
        b = None if bias is None else bias.reshape(run)
        x_hat, y = xp.empty_like(x2), xp.empty_like(x2)
        inv_std = xp.empty(rows, dtype=x.dtype)

        def standardize(low, high):
            xb, hb, yb = x2[low:high], x_hat[low:high], y[low:high]
            # per-row sums in x's dtype, as the reductions: float32 over runs of one row
            row_mean = xp.einsum("rd->r", xb) / max(run, 1)  # an empty row: no 0/0
            xp.subtract(xb, row_mean[:, None], out=hb)
            row_inv_std = 1.0 / xp.sqrt(xp.einsum("rd,rd->r", hb, hb) / max(run, 1) + self.eps)
            hb *= row_inv_std[:, None]
            inv_std[low:high] = row_inv_std
            if w is not None:
                xp.multiply(hb, w, out=yb)
                if b is not None:
                    yb += b
            elif b is not None:
                xp.add(hb, b, out=yb)
            else:
                yb[...] = hb  # a copy: the output may be written in place, x̂ must not be

        in_blocks(standardize, rows, x2.size, x2)
        # x̂ kept (one array of x's size) saves the backward two passes that rebuild it
        self.cache_for_backward(x_hat=x_hat, inv_std=inv_std)
        self.save_for_backward(x, weight)
        return y.reshape(x.shape)  # (rows, run) -> x's shape

    def backward(self, gy):
        # gx = inv_std * (g - mean(g) - x̂ mean(g x̂)) with g = gy * weight, means per row;
        # g_weight = sum(gy x̂), g_bias = sum(gy), sums over the rows
        x, weight = self.saved_tensors
        if is_grad_enabled():
            gx, g_weight, g_bias = self._differentiable_backward(gy, x, weight)
        else:
            gx, g_weight, g_bias = self._array_backward(gy.data, weight)
        return self._gradients(gx, g_weight, g_bias)

    def _array_backward(self, g, weight):
        xp = get_array_module(g)
        wants_x, wants_weight, wants_bias = self._wanted()
        x_hat, inv_std = self.cached("x_hat"), self.cached("inv_std")
        rows, run = x_hat.shape
        g2 = g.reshape(rows, run)  # gy's shape -> (rows, run)
        w = None if weight is None else weight.data.reshape(run)  # normalized_shape -> (run,)
        gx = xp.empty_like(g2) if wants_x else None

        def rows_backward(low, high):
            gb, hb = g2[low:high], x_hat[low:high]
            sums = (xp.einsum("rd,rd->d", gb, hb) if wants_weight else None,
                    xp.einsum("rd->d", gb) if wants_bias else None)
            if wants_x:
                gxb = gx[low:high]
                scaled = gb if w is None else xp.multiply(gb, w, out=gxb)
                # mean(g) + x̂ mean(g x̂), per row, then subtracted from g and scaled
                shift = hb * (xp.einsum("rd,rd->r", scaled, hb) / max(run, 1))[:, None]
                shift += (xp.einsum("rd->r", scaled) / max(run, 1))[:, None]
                xp.subtract(scaled, shift, out=gxb)
                gxb *= inv_std[low:high, None]
            return sums

        partial = in_blocks(rows_backward, rows, g2.size, g2)
        g_weight, g_bias = (None if part[0] is None else Tensor._from_array(
            block_sum(part).reshape(self.normalized_shape))  # (run,) -> normalized_shape
            for part in zip(*partial))
        if gx is not None:
            gx = Tensor._from_array(gx.reshape(g.shape))  # (rows, run) -> gy's shape
        return gx, g_weight, g_bias

    def _differentiable_backward(self, gy, x, weight):
        wants_x, wants_weight, wants_bias = self._wanted()
        axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))
        lead = tuple(range(x.ndim - len(self.normalized_shape)))
        # the statistics as functions of x, so that the result differentiates through them
        centered = x - mean(x, axis=axes, keepdims=True)
        inv_std = 1.0 / sqrt(mean(centered * centered, axis=axes, keepdims=True) + self.eps)
        x_hat = centered * inv_std
        g_weight = g_bias = gx = None
        if wants_weight:
            g_weight = sum(gy * x_hat, axis=lead) if lead else gy * x_hat
        if wants_bias:
            g_bias = sum(gy, axis=lead) if lead else gy
        if wants_x:
            g = gy if weight is None else gy * weight
            gx = inv_std * (g - mean(g, axis=axes, keepdims=True)
                            - x_hat * mean(g * x_hat, axis=axes, keepdims=True))
        return gx, g_weight, g_bias
