"""The "dense" layout of :func:`.layouts.choose_layout`: a conv whose kernel covers its
whole unpadded input, its weight gradient, and its adjoint from a 1x1 input, each one GEMM of
the arrays as they lie, with no cols and no transposes.
"""

from __future__ import annotations

import math

from tinygen import backend
from tinygen.backend import get_array_module


def dense_conv2d(x, weight):
    """A conv whose kernel covers its whole unpadded input (a DCGAN critic's last 7x7 conv)
    is a dense layer: x times the weight as they lie, with no cols and no transposes.
    Measured: docs/BENCHMARKS.md, "Convolution layouts", `dense`."""
    n, out_channels = x.shape[0], weight.shape[0]
    # (N, C, H, W) -> (N, C*H*W) @ (C*H*W, O) -> (N, O) -> (N, O, 1, 1)
    # sizes spelled out: -1 is ambiguous for an empty batch (PyTorch returns an empty output)
    return backend.matmul(x.reshape(n, math.prod(x.shape[1:])),
                          weight.reshape(out_channels, -1).T).reshape(
        n, out_channels, 1, 1)


def dense_weight_grad(x, gy, weight_shape):
    """The weight gradient of a dense conv: one GEMM of gy and x as they lie."""
    n = gy.shape[0]
    # (N, O)^T @ (N, C*H*W) -> (O, C*H*W) -> (O, C, kh, kw)
    return backend.matmul(gy.reshape(n, math.prod(gy.shape[1:])).T,
                          x.reshape(n, math.prod(x.shape[1:]))).reshape(weight_shape)


def dense_conv_transpose2d(x, weight, out_hw, pads):
    """The adjoint of a dense conv, a transposed conv from a 1x1 input (a generator's first
    layer): each image's taps tile its output, so it is one GEMM with no col2im."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    out_channels, kh, kw = weight.shape[1:]
    top, left = pads[0][0], pads[1][0]
    # (N, C) @ (C, O*kh*kw) -> (N, O, kh, kw), dropping the padding
    image = backend.matmul(x.reshape(n, c), weight.reshape(c, -1)).reshape(
        n, out_channels, kh, kw)
    return xp.ascontiguousarray(image[:, :, top:top + out_hw[0], left:left + out_hw[1]])
