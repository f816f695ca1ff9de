"""2-D pooling and upsampling: max_pool2d, avg_pool2d, upsample_nearest2d.

Windows are read through a strided view (``backend.sliding_windows``), never copied one by
one. Each backward is a linear map of the upstream gradient written as a differentiable op,
so second derivatives flow through pooling too.
"""

from __future__ import annotations

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, positive
from tinygen.autograd.ops.shape import expand, getitem, index_add, reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _check_pool_args(x: Tensor, kernel, stride, padding, op: str):
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be (N, C, H, W), got shape {x.shape}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding must be in [0, kernel_size // 2], got {padding} for "
                         f"kernel_size {kernel}")
    if x.shape[2] + 2 * padding[0] < kernel[0] or x.shape[3] + 2 * padding[1] < kernel[1]:
        raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input "
                         f"{x.shape[2:]}")


class MaxPool2d(Function):
    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-xp.inf) \
            if ph or pw else x
        n, c, hp, wp = padded.shape
        windows = backend.sliding_windows(padded, self.kernel, self.stride)
        oh, ow = windows.shape[2:4]
        # (N, C, oh, ow, kh, kw) -> (N, C, oh, ow, kh*kw): one copy, then a last-axis argmax
        taps = windows.reshape(n, c, oh, ow, kh * kw)
        winner = taps.argmax(axis=-1)
        y = xp.take_along_axis(taps, winner[..., None], axis=-1)[..., 0]
        # the winner's flat position in the padded (Hp, Wp) plane
        rows = xp.arange(oh).reshape(oh, 1) * sh + winner // kw
        cols = xp.arange(ow).reshape(1, ow) * sw + winner % kw
        flat_index = (rows * wp + cols).reshape(n * c, oh * ow)
        self.save_for_backward(flat_index)  # integer positions: a constant to the graph
        self.padded_shape = padded.shape
        return y

    def backward(self, gy):
        # dL/dx at each window's max = the sum of gy over the windows it won; zero elsewhere
        (flat_index,) = self.saved_tensors
        n, c, hp, wp = self.padded_shape
        xp = get_array_module(gy.data)
        plane_rows = xp.arange(n * c).reshape(n * c, 1)
        # (N, C, oh, ow) -> (N*C, oh*ow): one row of gradients per image plane
        flat = reshape(gy, (n * c, -1))
        scattered = index_add(flat, (plane_rows, flat_index.data), (n * c, hp * wp))
        # (N*C, Hp*Wp) -> (N, C, Hp, Wp), then drop the padding
        gx = reshape(scattered, (n, c, hp, wp))
        (ph, pw) = self.padding
        if ph or pw:
            gx = getitem(gx, (slice(None), slice(None), slice(ph, hp - ph), slice(pw, wp - pw)))
        return gx


class AvgPool2d(Function):
    """Mean over each window, zero padding counted (PyTorch's count_include_pad=True)."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = get_array_module(x)
        (ph, pw) = self.padding
        padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        self.input_shape = x.shape
        return backend.sliding_windows(padded, self.kernel, self.stride).mean(axis=(4, 5))

    def backward(self, gy):
        # avg_pool2d is linear: its gradient is the adjoint, spreading gy/(kh*kw) over windows
        return AvgPool2dAdjoint(self.kernel, self.stride, self.padding,
                                self.input_shape).apply(gy)


class AvgPool2dAdjoint(Function):
    """The transpose of avg_pool2d: each window's value spread evenly over its taps."""

    def __init__(self, kernel, stride, padding, input_shape):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.input_shape = input_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.input_shape
        oh, ow = gy.shape[2:]
        out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
        share = gy / (kh * kw)
        for i in range(kh):  # kh*kw strided slice-adds instead of a scatter
            for j in range(kw):
                out[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        return out[:, :, ph:ph + h, pw:pw + w]

    def backward(self, ggx):
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.kernel, self.stride, self.padding).apply(ggx)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over each kernel_size window of (N, C, H, W); stride defaults to kernel_size.

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - k) // s + 1.
    """
    kernel = pair("kernel_size", kernel_size)
    stride = kernel if stride is None else pair("stride", stride)
    padding = pair("padding", padding, minimum=0)
    _check_pool_args(x, kernel, stride, padding, "max_pool2d")
    return MaxPool2d(kernel, stride, padding).apply(x)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over each kernel_size window of (N, C, H, W) (zero padding counted)."""
    kernel = pair("kernel_size", kernel_size)
    stride = kernel if stride is None else pair("stride", stride)
    padding = pair("padding", padding, minimum=0)
    _check_pool_args(x, kernel, stride, padding, "avg_pool2d")
    return AvgPool2d(kernel, stride, padding).apply(x)


def upsample_nearest2d(x: Tensor, scale_factor: int) -> Tensor:
    """Repeat every pixel of (N, C, H, W) scale_factor times along H and W.

    Built from reshape and expand, so its gradient (the sum over each block) comes free.
    """
    s = positive("scale_factor", scale_factor)
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d: x must be (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    # (N, C, H, W) -> (N, C, H, 1, W, 1) -> (N, C, H, s, W, s) -> (N, C, H*s, W*s)
    blocks = expand(reshape(x, (n, c, h, 1, w, 1)), (n, c, h, s, w, s))
    return reshape(blocks, (n, c, h * s, w * s))
