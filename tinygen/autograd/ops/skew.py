"""Skew and unskew: the Diagonal BiLSTM's change of coordinates (van den Oord et al., 2016).

``skew`` shifts row i of an (N, C, H, W) map right by i positions, into an (N, C, H, W+H-1)
map (2W-1 columns for a square image) whose column t holds the diagonal i + j = t. A
left-to-right recurrence over the columns of the skewed map then visits one whole diagonal
per step, so the (above, left) neighbours of every pixel on it are already computed.
``unskew`` reads the original pixels back and drops the zero padding. With
``channels_last=True`` both take and return (N, H, W, C) maps instead, the layout in which
the Diagonal BiLSTM cuts one contiguous slab of gates per diagonal.

Both are linear and only move entries, so each is the other's adjoint: the backward of one
is the other applied to the upstream gradient. Neither saves anything for backward.

One channels-last kernel serves both layouts: an (N, C, H, W) map is an (N*C, H, W, 1)
channels-last map, a reshape that is a view. The kernels use the same trick instead of a
loop over rows: in the row-major layout, a row of length W+H-1 starting i entries earlier
than a row of length W+H shifts row i by i; with channels last, each entry is a C-vector.
"""

from __future__ import annotations

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import tensor_args
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _skew_rows(x):
    """The kernel of :class:`Skew` on raw arrays: (N, H, W, C) -> (N, H, W+H-1, C)."""
    xp = get_array_module(x)
    n, h, w, c = x.shape
    padded = xp.zeros((n, h, w + h, c), dtype=x.dtype)
    padded[:, :, :w] = x
    # (N, H, W+H, C) -> (N, H*(W+H), C); re-cutting the first H*(W+H-1) entries into rows of
    # W+H-1 starts row i at i entries of the previous row's zero tail, then x's row i
    flat = padded.reshape(n, h * (w + h), c)[:, :h * (w + h - 1)]
    # (N, H*(W+H-1), C) -> (N, H, W+H-1, C), a view: it only splits an axis
    return flat.reshape(n, h, w + h - 1, c)


def _unskew_rows(y):
    """The kernel of :class:`Unskew` on raw arrays: (N, H, W+H-1, C) -> (N, H, W, C)."""
    xp = get_array_module(y)
    n, h, wide, c = y.shape
    w = wide - h + 1
    # y's H*(W+H-1) entries, then H zeros, so that they re-cut into H rows of W+H
    flat = xp.zeros((n, h * (w + h), c), dtype=y.dtype)
    # (N, H*(W+H-1), C) -> (N, H, W+H-1, C), a view (it only splits an axis) of the prefix,
    # which y is copied into in one pass (reshaping a strided y first would copy it twice)
    flat[:, :h * wide].reshape(n, h, wide, c)[...] = y
    # (N, H*(W+H), C) -> (N, H, W+H, C): row i now starts at y's entry (i, i). The first W
    # columns are returned as a view; a contiguous copy would cost a pass for no consumer
    return flat.reshape(n, h, w + h, c)[:, :, :w]


def _in_layout(kernel, x, channels_last: bool):
    """Run a channels-last row kernel on ``x``, viewing an (N, C, H, W) map as channels last."""
    if channels_last:
        return kernel(x)
    n, c, h, w = x.shape
    # (N, C, H, W) -> (N*C, H, W, 1): each channel's plane is a one-channel map
    out = kernel(x.reshape(n * c, h, w, 1))
    # (N*C, H, W', 1) -> (N, C, H, W')
    return out.reshape(n, c, h, out.shape[2])


class Skew(Function):
    """(N, C, H, W) -> (N, C, H, W+H-1) with y[..., i, i + j] = x[..., i, j], zeros elsewhere;
    (N, H, W, C) -> (N, H, W+H-1, C) likewise when ``channels_last``."""

    def __init__(self, channels_last: bool = False):
        self.channels_last = channels_last

    def forward(self, x):
        return _in_layout(_skew_rows, x, self.channels_last)

    def backward(self, gy):
        # y[i, i+j] = x[i, j] is a permutation onto the band: dL/dx[i, j] = gy[i, i+j]
        return unskew(gy, channels_last=self.channels_last)


class Unskew(Function):
    """(N, C, H, W+H-1) -> (N, C, H, W) with x[..., i, j] = y[..., i, i + j];
    (N, H, W+H-1, C) -> (N, H, W, C) likewise when ``channels_last``."""

    def __init__(self, channels_last: bool = False):
        self.channels_last = channels_last

    def forward(self, y):
        return _in_layout(_unskew_rows, y, self.channels_last)

    def backward(self, gx):
        # x[i, j] = y[i, i+j] reads the band and drops the rest: dL/dy = skew(gx), 0 off it
        return skew(gx, channels_last=self.channels_last)


# --------------------------------------------------------------------------- public wrappers
@tensor_args
def skew(x: Tensor, channels_last: bool = False) -> Tensor:
    """Shift row i of ``x`` right by i, so that column t holds the diagonal i + j = t.

    Args:
        x: (N, C, H, W), or (N, H, W, C) when ``channels_last``.
        channels_last: whether the channels are the last axis (of ``x`` and the result).

    Returns:
        (N, C, H, W+H-1) with y[n, c, i, i + j] = x[n, c, i, j] and zeros elsewhere, or
        (N, H, W+H-1, C) with y[n, i, i + j, c] = x[n, i, j, c] when ``channels_last``.
    """
    if x.ndim != 4:
        layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
        raise ValueError(f"skew: expected an {layout} input, got shape {x.shape}")
    return Skew(channels_last).apply(x)


@tensor_args
def unskew(y: Tensor, channels_last: bool = False) -> Tensor:
    """The inverse of :func:`skew`: read the original pixels back from a skewed map.

    Args:
        y: (N, C, H, W+H-1), or (N, H, W+H-1, C) when ``channels_last``, as :func:`skew`
            returns.
        channels_last: whether the channels are the last axis (of ``y`` and the result).

    Returns:
        (N, C, H, W) with x[n, c, i, j] = y[n, c, i, i + j], or (N, H, W, C) with
        x[n, i, j, c] = y[n, i, i + j, c] when ``channels_last``.
    """
    height_axis = 1 if channels_last else 2
    if y.ndim != 4 or y.shape[height_axis + 1] < y.shape[height_axis]:
        layout = "(N, H, W+H-1, C)" if channels_last else "(N, C, H, W+H-1)"
        raise ValueError(f"unskew: expected an {layout} input with W >= 1, got shape "
                         f"{y.shape}")
    return Unskew(channels_last).apply(y)
