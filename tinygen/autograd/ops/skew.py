"""Skew and unskew: the Diagonal BiLSTM's change of coordinates (van den Oord et al., 2016).

``skew`` shifts row i of an (N, C, H, W) map right by i positions, into an (N, C, H, W+H-1)
map (2W-1 columns for a square image) whose column t holds the diagonal i + j = t. A
left-to-right recurrence over the columns of the skewed map then visits one whole diagonal
per step, so the (above, left) neighbours of every pixel on it are already computed.
``unskew`` reads the original pixels back and drops the zero padding.

Both are linear and only move entries, so each is the other's adjoint: the backward of one
is the other applied to the upstream gradient. Neither saves anything for backward.

Both forwards use the same trick instead of a loop over rows: in the row-major layout, a row
of length W+H-1 starting i entries earlier than a row of length W+H shifts row i by i.
"""

from __future__ import annotations

from tinygen.autograd.function import Function
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class Skew(Function):
    """(N, C, H, W) -> (N, C, H, W+H-1) with y[..., i, i + j] = x[..., i, j], zeros elsewhere."""

    def forward(self, x):
        xp = get_array_module(x)
        n, c, h, w = x.shape
        padded = xp.zeros((n, c, h, w + h), dtype=x.dtype)
        padded[..., :w] = x
        # (N, C, H, W+H) -> (N, C, H*(W+H)); re-cutting the first H*(W+H-1) entries into rows
        # of W+H-1 starts row i at i entries of the previous row's zero tail, then x's row i
        flat = padded.reshape(n, c, h * (w + h))[..., :h * (w + h - 1)]
        # (N, C, H*(W+H-1)) -> (N, C, H, W+H-1)
        return flat.reshape(n, c, h, w + h - 1)

    def backward(self, gy):
        # y[i, i+j] = x[i, j] is a permutation onto the band: dL/dx[i, j] = gy[i, i+j]
        return unskew(gy)


class Unskew(Function):
    """(N, C, H, W+H-1) -> (N, C, H, W) with x[..., i, j] = y[..., i, i + j]."""

    def forward(self, y):
        xp = get_array_module(y)
        n, c, h, wide = y.shape
        w = wide - h + 1
        # (N, C, H, W+H-1) -> (N, C, H*(W+H-1)), plus H zeros so it re-cuts into H rows of W+H
        flat = xp.zeros((n, c, h * (w + h)), dtype=y.dtype)
        flat[..., :h * wide] = y.reshape(n, c, h * wide)
        # (N, C, H*(W+H)) -> (N, C, H, W+H): row i now starts at y's entry (i, i)
        return xp.ascontiguousarray(flat.reshape(n, c, h, w + h)[..., :w])

    def backward(self, gx):
        # x[i, j] = y[i, i+j] reads the band and drops the rest: dL/dy = skew(gx), 0 off it
        return skew(gx)


# --------------------------------------------------------------------------- public wrappers
def skew(x: Tensor) -> Tensor:
    """Shift row i of ``x`` right by i, so that column t holds the diagonal i + j = t.

    Args:
        x: (N, C, H, W).

    Returns:
        (N, C, H, W+H-1), with y[n, c, i, i + j] = x[n, c, i, j] and zeros elsewhere.
    """
    if x.ndim != 4:
        raise ValueError(f"skew: expected an (N, C, H, W) input, got shape {x.shape}")
    return Skew().apply(x)


def unskew(y: Tensor) -> Tensor:
    """The inverse of :func:`skew`: read the original pixels back from a skewed map.

    Args:
        y: (N, C, H, W+H-1), as :func:`skew` returns.

    Returns:
        (N, C, H, W), with x[n, c, i, j] = y[n, c, i, i + j].
    """
    if y.ndim != 4 or y.shape[3] < y.shape[2]:
        raise ValueError(f"unskew: expected an (N, C, H, W+H-1) input with W >= 1, got shape "
                         f"{y.shape}")
    return Unskew().apply(y)
