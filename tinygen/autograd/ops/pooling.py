"""Pooling: max and average pooling over 1-D and 2-D windows (max pooling optionally with
the indices max_unpool takes), and upsample_nearest2d. The adaptive pools are in
``pooling_adaptive.py``, max_unpool in ``unpooling.py``; both use the geometry helpers here.

Windows are read through a strided view (``backend.sliding_windows``), never copied one by
one. Each backward is a linear map of the upstream gradient written as a differentiable op,
so second derivatives flow through pooling too. The 1-D ops are the 2-D ones on a unit
height, and every op takes an unbatched input (no N axis) as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, positive
from tinygen.autograd.ops.conv.functions import single
from tinygen.autograd.ops.shape import expand, getitem, index_add, reshape, squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


class MaxPool2d(Function):
    """Max over each window; the gradient goes to the window's first maximum in raster order,
    as PyTorch's does. ``pads`` is ((top, bottom), (left, right)) of -inf. With
    ``return_indices`` a second output holds each winner's flat position in its input plane
    (H*W), as torch reports it; it is an integer constant that receives no gradient."""

    def __init__(self, kernel, stride, pads, dilation=(1, 1), return_indices=False):
        self.kernel, self.stride, self.pads, self.dilation = kernel, stride, pads, dilation
        self.return_indices = return_indices

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        padded = xp.pad(x, ((0, 0), (0, 0)) + self.pads, constant_values=-xp.inf) \
            if any(map(sum, self.pads)) else x
        n, c, hp, wp = padded.shape
        windows = backend.sliding_windows(padded, self.kernel, self.stride, self.dilation)
        oh, ow = windows.shape[2:4]
        # (N, C, oh, ow, kh, kw) -> (N, C, oh, ow, kh*kw): one copy, then a last-axis argmax
        taps = windows.reshape(n, c, oh, ow, kh * kw)
        winner = taps.argmax(axis=-1)
        y = xp.take_along_axis(taps, winner[..., None], axis=-1)[..., 0]
        # the winner's flat position in the padded (Hp, Wp) plane
        rows = xp.arange(oh).reshape(oh, 1) * sh + (winner // kw) * dh
        cols = xp.arange(ow).reshape(1, ow) * sw + (winner % kw) * dw
        flat_index = (rows * wp + cols).reshape(n * c, oh * ow)
        self.save_for_backward(flat_index)  # integer positions: a constant to the graph
        self.padded_shape = padded.shape
        if not self.return_indices:
            return y
        (top, _), (left, _) = self.pads
        # the winner's flat position in the unpadded (H, W) plane: (N, C, oh, ow)
        index = (rows - top) * x.shape[3] + (cols - left)
        return y, index.astype(xp.int64, copy=False)

    def backward(self, gy, gindex=None):
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
        (top, bottom), (left, right) = self.pads
        if top or bottom or left or right:
            gx = getitem(gx, (slice(None), slice(None), slice(top, hp - bottom),
                              slice(left, wp - right)))
        return gx


class AvgPool2d(Function):
    """Each window's sum over its divisor: the kernel size, or per window (an (oh, ow) array)
    the taps PyTorch counts (the zero padding or not, never a ceil-mode overhang)."""

    def __init__(self, kernel, stride, pads, divisor):
        self.kernel, self.stride, self.pads, self.divisor = kernel, stride, pads, divisor

    def forward(self, x):
        xp = get_array_module(x)
        padded = xp.pad(x, ((0, 0), (0, 0)) + self.pads) if any(map(sum, self.pads)) else x
        self.input_shape = x.shape
        sums = backend.sliding_windows(padded, self.kernel, self.stride).sum(axis=(4, 5))
        return sums / _on(xp, self.divisor, x.dtype)

    def backward(self, gy):
        # avg_pool2d is linear: its gradient is the adjoint, spreading gy/divisor over windows
        return AvgPool2dAdjoint(self.kernel, self.stride, self.pads, self.divisor,
                                self.input_shape).apply(gy)


class AvgPool2dAdjoint(Function):
    """The transpose of avg_pool2d: each window's value over its divisor, added to its taps."""

    def __init__(self, kernel, stride, pads, divisor, input_shape):
        self.kernel, self.stride, self.pads, self.divisor = kernel, stride, pads, divisor
        self.input_shape = input_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw), ((top, bottom), (left, right)) = self.kernel, self.stride, self.pads
        n, c, h, w = self.input_shape
        oh, ow = gy.shape[2:]
        out = xp.zeros((n, c, top + h + bottom, left + w + right), dtype=gy.dtype)
        share = gy / _on(xp, self.divisor, gy.dtype)
        for i in range(kh):  # kh*kw strided slice-adds instead of a scatter
            for j in range(kw):
                out[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        return out[:, :, top:top + h, left:left + w]

    def backward(self, ggx):
        # the adjoint of the adjoint is avg_pool2d itself
        return AvgPool2d(self.kernel, self.stride, self.pads, self.divisor).apply(ggx)


def _on(xp, divisor, dtype):
    """The divisor on the array's device: an int as it is, a per-window array as ``dtype``."""
    return divisor if isinstance(divisor, int) else xp.asarray(divisor, dtype=dtype)


# --------------------------------------------------------------------------- geometry
def batched(op: str, x: Tensor, spatial: int, pool):
    """Run ``pool`` on a batched x; an unbatched one gets a unit batch axis and loses it
    (from every output, when ``pool`` returns a tuple)."""
    if x.ndim == spatial + 1:
        return map_outputs(pool(unsqueeze(x, 0)), lambda t: squeeze(t, 0))
    if x.ndim != spatial + 2:
        layout = "(N, C, H, W) or (C, H, W)" if spatial == 2 else "(N, C, L) or (C, L)"
        raise ValueError(f"{op}: input must be {layout}, got shape {x.shape}")
    return pool(x)


def map_outputs(result, change):
    """``change`` applied to a Tensor, or to each Tensor of a tuple."""
    return tuple(change(t) for t in result) if isinstance(result, tuple) else change(result)


def _output_size(op, size, kernel, stride, pad, dilation, ceil_mode) -> tuple[int, int]:
    """PyTorch's pooled length along one axis, and the padding a ceil-mode window adds past
    the input's end-side padding: (out, extra)."""
    if pad > kernel // 2:
        raise ValueError(f"{op}: padding must be in [0, kernel_size // 2], got {pad} for "
                         f"kernel_size {kernel}")
    span = dilation * (kernel - 1) + 1
    room = size + 2 * pad - span
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or its start-side padding
    if out < 1:
        raise ValueError(f"{op}: the output is empty: a window spans {span} but the padded "
                         f"input is {size + 2 * pad} (input {size}, padding {pad})")
    return out, max(0, (out - 1) * stride + span - size - 2 * pad)


def _pool_geometry(op, x, kernel, stride, padding, dilation, ceil_mode):
    """Per axis (out, ((start pad, end pad))) for a 4-D x and pair arguments."""
    sizes = [_output_size(op, x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a],
                          ceil_mode) for a in range(2)]
    outs = tuple(out for out, _ in sizes)
    pads = tuple((padding[a], padding[a] + sizes[a][1]) for a in range(2))
    return outs, pads


def pool_pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An (h, w) argument as torch's 2-D pools read it: an int, a 1-tuple (both axes) or a
    pair."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return pair(name, value, minimum)


def pool_args(spatial, kernel_size, stride, padding, dilation=1):
    """Pairs (on a unit height for the 1-D ops) of kernel, stride, padding and dilation;
    a stride of None or () is the kernel size, as in torch."""
    if isinstance(stride, (tuple, list)) and len(stride) == 0:
        stride = None
    if spatial == 2:
        kernel = pool_pair("kernel_size", kernel_size)
        return (kernel, kernel if stride is None else pool_pair("stride", stride),
                pool_pair("padding", padding, minimum=0), pool_pair("dilation", dilation))
    kernel = (1, single("kernel_size", kernel_size))
    return (kernel, kernel if stride is None else (1, single("stride", stride)),
            (0, single("padding", padding, 0)), (1, single("dilation", dilation)))


# --------------------------------------------------------------------------- max, average
def _max_pool(op, x, spatial, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    kernel, stride, padding, dilation = pool_args(spatial, kernel_size, stride, padding,
                                                  dilation)

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        _, pads = _pool_geometry(op, x4, kernel, stride, padding, dilation, ceil_mode)
        y = MaxPool2d(kernel, stride, pads, dilation, bool(return_indices)).apply(x4)
        if return_indices:  # the indices leave the graph: a constant, like torch's
            y = (y[0], Tensor._from_array(y[1].data))
        return map_outputs(y, lambda t: squeeze(t, 2)) if spatial == 1 else y

    return batched(op, x, spatial, pool)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.max_pool2d; stride defaults to kernel_size. Of tied maxima the first
    in raster order wins (its index is returned, and it gets the gradient).

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding, dilation: ints, 1-tuples or (h, w) pairs (stride None
            or () is kernel_size); padding (of -inf) at most half the kernel.
        ceil_mode: round the output size up (a last, partial window) instead of down.
        return_indices: also return each maximum's flat position in its (H, W) input
            plane (row * W + column), the indices max_unpool2d takes.

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - d (k - 1) - 1) // s + 1 (rounded up in ceil_mode,
        keeping every window's start inside the input or its top/left padding); with
        return_indices, (values, int64 indices of the same shape, no gradient).
    """
    return _max_pool("max_pool2d", x, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over each kernel_size window of (N, C, L) or unbatched (C, L), as
    torch.nn.functional.max_pool1d: max_pool2d on a unit height.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding, dilation: ints (or 1-tuples); stride defaults to
            kernel_size.
        ceil_mode: round the output length up instead of down.
        return_indices: also return each maximum's position along L (for max_unpool1d).

    Returns:
        (N, C, L_out) with L_out = (L + 2p - d (k - 1) - 1) // s + 1; with return_indices,
        (values, int64 indices).
    """
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def _window_counts(size, out, kernel, stride, pad, count_include_pad) -> np.ndarray:
    """PyTorch's divisor along one axis: the taps of each window inside the padded input
    (or the input alone); a window with none divides its zero sum by 1."""
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad)
    if not count_include_pad:
        starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
    return np.maximum(ends - starts, 1)


def _avg_pool(op, x, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override=None):
    kernel, stride, padding, _ = pool_args(spatial, kernel_size, stride, padding)
    if divisor_override is not None and (
            not isinstance(divisor_override, (int, np.integer))
            or isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a nonzero int or None, got "
                         f"{divisor_override!r}")

    def pool(x4):
        if spatial == 1:  # (N, C, L) -> (N, C, 1, L)
            x4 = unsqueeze(x4, 2)
        outs, pads = _pool_geometry(op, x4, kernel, stride, padding, (1, 1), ceil_mode)
        divisor = int(divisor_override or kernel[0] * kernel[1])
        if divisor_override is None and (ceil_mode or (padding != (0, 0)
                                                       and not count_include_pad)):
            counts = [_window_counts(x4.shape[2 + a], outs[a], kernel[a], stride[a],
                                     padding[a], count_include_pad) for a in range(2)]
            divisor = np.outer(counts[0], counts[1])
        y = AvgPool2d(kernel, stride, pads, divisor).apply(x4)
        return squeeze(y, 2) if spatial == 1 else y

    return batched(op, x, spatial, pool)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each kernel_size window of (N, C, H, W) or unbatched (C, H, W), as
    torch.nn.functional.avg_pool2d; stride defaults to kernel_size.

    Args:
        x: (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding: ints, 1-tuples or (h, w) pairs (stride None or () is
            kernel_size); zero padding at most half the kernel.
        ceil_mode: round the output size up; a last, partial window averages the taps it
            has inside the padded input.
        count_include_pad: count the zero padding in a window's divisor (else only the
            input's taps).
        divisor_override: divide every window's sum by this nonzero int instead.

    Returns:
        (N, C, oh, ow) with oh = (H + 2p - k) // s + 1 (rounded up in ceil_mode).
    """
    return _avg_pool("avg_pool2d", x, 2, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each kernel_size window of (N, C, L) or unbatched (C, L), as
    torch.nn.functional.avg_pool1d: avg_pool2d on a unit height.

    Args:
        input: (N, C, L) or (C, L).
        kernel_size, stride, padding: ints (or 1-tuples); stride defaults to kernel_size.
        ceil_mode, count_include_pad: as in :func:`avg_pool2d`.

    Returns:
        (N, C, L_out) with L_out = (L + 2p - k) // s + 1 (rounded up in ceil_mode).
    """
    return _avg_pool("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


# --------------------------------------------------------------------------- upsampling
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
