"""Specs for the Diagonal BiLSTM's skew and unskew, in both layouts, with loop references
that index the diagonals directly (no shared code with the ops' reshape trick)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import skew as skew_ops
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays


def reference_skew(x, channels_last=False):
    """y[..., i, i + j] = x[..., i, j] (channels first) or y[:, i, i + j] = x[:, i, j]
    (channels last), row by row."""
    if channels_last:
        n, h, w, c = x.shape
        y = np.zeros((n, h, w + h - 1, c), dtype=x.dtype)
        for i in range(h):
            y[:, i, i:i + w] = x[:, i]
        return y
    n, c, h, w = x.shape
    y = np.zeros((n, c, h, w + h - 1), dtype=x.dtype)
    for i in range(h):
        y[:, :, i, i:i + w] = x[:, :, i]
    return y


def reference_unskew(y, channels_last=False):
    """x[..., i, j] = y[..., i, i + j] (channels first) or x[:, i, j] = y[:, i, i + j]
    (channels last), row by row."""
    if channels_last:
        n, h, wide, c = y.shape
        w = wide - h + 1
        return np.stack([y[:, i, i:i + w] for i in range(h)], axis=1)
    n, c, h, wide = y.shape
    w = wide - h + 1
    return np.stack([y[:, :, i, i:i + w] for i in range(h)], axis=2)


def _maps(skewed: bool) -> st.SearchStrategy:
    """One (N, C, H, W) array, or its skewed (N, C, H, W+H-1) shape: non-square included."""
    sizes = st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 4),
                      st.integers(1, 4))
    return sizes.flatmap(lambda s: st.tuples(arrays(
        (s[0], s[1], s[2], s[3] + s[2] - 1 if skewed else s[3]))))


def _maps_channels_last(skewed: bool) -> st.SearchStrategy:
    """One (N, H, W, C) array, or its skewed (N, H, W+H-1, C) shape, always with H != W and
    up to 3 channels: a mix-up of the height, width and channel axes changes the result."""
    sizes = st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4),
                      st.integers(1, 3)).filter(lambda s: s[1] != s[2])
    return sizes.flatmap(lambda s: st.tuples(arrays(
        (s[0], s[1], s[2] + s[1] - 1 if skewed else s[2], s[3]))))


# the entries off the band are dropped by unskew, so drawn values there exercise that too
register(OpSpec("skew", skew_ops.skew, reference_skew, _maps(skewed=False)))
register(OpSpec("unskew", skew_ops.unskew, reference_unskew, _maps(skewed=True)))
register(OpSpec("skew_channels_last", skew_ops.skew, reference_skew,
                _maps_channels_last(skewed=False), kwargs=st.just({"channels_last": True})))
register(OpSpec("unskew_channels_last", skew_ops.unskew, reference_unskew,
                _maps_channels_last(skewed=True), kwargs=st.just({"channels_last": True})))
