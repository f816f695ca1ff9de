"""2-D convolution and transposed convolution, each the other's adjoint; PixelCNN masks.

Layouts follow PyTorch: conv2d's weight is (C_out, C_in/groups, kh, kw), conv_transpose2d's
is (C_in, C_out/groups, kh, kw), and output sizes follow PyTorch's rules. Internally a padding
is ((top, bottom), (left, right)); conv2d also takes that form, which PixelCNN's masked convs
use to drop their all-zero bottom kernel rows (:func:`conv2d_top_rows`).

How the work is laid out. Every product is a GEMM over ``cols``, the input windows
(K = C/groups*kh*kw taps per output pixel, P = oh*ow pixels per image) copied once out of a
strided view, in one of two layouts (:func:`_per_image` picks by K and P):

- per image, (N, G, K, P): ``W (G, O/G, K) @ cols`` is a batch of N GEMMs that lands directly
  in (N, O, oh, ow), and a 1x1 stride-1 conv needs no cols at all (they are x itself). Used
  for large maps: at one BLAS thread it beats the channel-major layout's (N, C) <-> (C, N)
  transposes of inputs, outputs and output gradients, which cost more than the GEMMs of
  PixelCNN's 1x1 convs (measured 2-6x per 1x1 product on 28x28 maps, batch 32).
- channel-major, (G, K, N*P): one GEMM per group; only outputs and output gradients are
  transposed. Used for small maps with many taps (a DCGAN's 7x7), where per-image GEMMs are
  thin and the weight gradient's per-image partial sums would outgrow gy and cols.

Per-image GEMMs are many small BLAS calls, and with two BLAS threads on cores that other
processes keep busy each call can wait for a thread hand-off: measured on a 2-core machine
at load 7, a PixelCNN step took 10x its PyTorch twin at two threads (3x with channel-major
only), against 1.7x at one thread. So the per-image layout is used only while NumPy's BLAS
runs one thread (``backend.blas_threads``; e.g. under ``threadpool_limits(1)``).

- conv_transpose2d (and so conv2d's input gradient): with stride 1, when its cols would be
  no larger than col2im's taps (C * output pixels <= O * input pixels, or a 1x1 kernel), it
  is a plain correlation of the padded input with the flipped kernel (one more im2col, no
  scatter); otherwise it is a GEMM into taps followed by "col2im", kh*kw strided slice-adds
  (one vectorized add per kernel tap, never a scatter per entry), laid out so that each add
  runs along a long contiguous axis.
- The weight gradient is its own op (the forward's cols reused, or in a transposed conv's
  backward the cols its input gradient just cut); its backward, for second derivatives, is
  again a pair of convolutions.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.reduction import sum as reduce_sum
from tinygen.autograd.ops.shape import getitem, pad
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


# --------------------------------------------------------------------------- raw kernels
def _pad_or_crop(x, rows: tuple, columns: tuple):
    """Zero-pad (positive) or crop (negative) the two spatial axes of (N, C, H, W) per side."""
    xp = get_array_module(x)
    if min(rows + columns) < 0:
        h, w = x.shape[2:]
        x = x[:, :, max(-rows[0], 0):h - max(-rows[1], 0),
              max(-columns[0], 0):w - max(-columns[1], 0)]
        rows = tuple(max(r, 0) for r in rows)
        columns = tuple(max(c, 0) for c in columns)
    if max(rows + columns) == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), rows, columns))


def _per_image(x, taps: int, pixels: int) -> bool:
    """Whether a conv's GEMMs run image by image on (N, G, K, P) cols, or as one GEMM per
    group on channel-major (G, K, N*P) cols (K = C/G*kh*kw taps, P = oh*ow pixels).

    Per image, outputs land in (N, O, oh, ow) with no copy and a 1x1 conv needs no cols at
    all, but the weight gradient writes (N, O/G, K) partial sums and each GEMM is only P
    wide. Channel-major instead copies each output and output gradient, (N, O/G, P) each.
    So per image unless K > 2P: PixelCNN's 28x28 maps run per image, a DCGAN's 7x7 maps with
    512 or 1024 taps channel-major (its step, 3.3x its PyTorch twin with those per image too,
    is 1.9x this way). And only at one BLAS thread (see the module notes): with more, N
    small multi-threaded GEMMs wait on thread hand-offs, and one big GEMM wins.
    """
    return taps <= 2 * pixels and backend.blas_threads(x) == 1


def _im2col(x, kernel, stride, pads, dilation, groups, out_hw=None):
    """The windows of x (N, C, H, W) as cols: (N, G, K, oh*ow) when :func:`_per_image`
    says so, else channel-major (G, K, N*oh*ow), with K = C/G*kh*kw.

    ``pads`` is ((top, bottom), (left, right)); ``out_hw`` keeps only the first windows
    (a transposed conv's output_padding rows have no partner in its input).
    """
    xp = get_array_module(x)
    n, c = x.shape[:2]
    taps = c // groups * kernel[0] * kernel[1]
    if kernel == (1, 1) and stride == (1, 1) and not any(pads[0] + pads[1]) and (
            out_hw is None or tuple(out_hw) == x.shape[2:]):
        # a 1x1 conv's windows are the pixels themselves
        if _per_image(x, taps, x.shape[2] * x.shape[3]):
            return x.reshape(n, groups, taps, -1)  # (N, C, H, W) -> (N, G, C/G, H*W)
        # (N, C, H, W) -> (C, N, H, W) -> (G, C/G, N*H*W)
        return xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(groups, taps, -1)
    windows = backend.sliding_windows(_pad_or_crop(x, *pads), kernel, stride, dilation)
    if out_hw is not None:
        windows = windows[:, :, :out_hw[0], :out_hw[1]]
    oh, ow = windows.shape[2:4]
    if _per_image(x, taps, oh * ow):
        # (N, C, oh, ow, kh, kw) -> (N, C, kh, kw, oh, ow) -> (N, G, K, oh*ow): the one copy
        cols = xp.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3))
        return cols.reshape(n, groups, taps, oh * ow)
    # (N, C, oh, ow, kh, kw) -> (C, kh, kw, N, oh, ow) -> (G, K, N*oh*ow): the one copy
    cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(groups, taps, n * oh * ow)


def _conv2d_raw(x, weight, stride, dilation, groups, pads):
    """Raw conv2d, (N, C, H, W) -> (N, O, oh, ow), plus the cols it built.

    ``pads`` is ((top, bottom), (left, right)).
    """
    xp = get_array_module(x)
    n, _, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    oh = (h + sum(pads[0]) - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + sum(pads[1]) - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    cols = _im2col(x, (kh, kw), stride, pads, dilation, groups)
    # (O, C/G, kh, kw) -> (G, O/G, K)
    w_groups = weight.reshape(groups, out_channels // groups, -1)
    if cols.ndim == 4:
        # (G, O/G, K) @ (N, G, K, P) -> (N, G, O/G, P) -> (N, O, oh, ow), a view
        return xp.matmul(w_groups, cols).reshape(n, out_channels, oh, ow), cols
    # (G, O/G, K) @ (G, K, N*P) -> (G, O/G, N*P) -> (O, N, oh, ow) -> (N, O, oh, ow)
    y = xp.matmul(w_groups, cols).reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3)
    return xp.ascontiguousarray(y), cols


def _conv2d_weight_grad_raw(x, gy, weight_shape, stride, pads, dilation, groups, cols=None):
    """Raw dL/dW of conv2d: the sum over images and pixels of gy times the windows of x.

    ``cols`` are x's, from the forward, in either layout of :func:`_im2col`.
    """
    xp = get_array_module(gy)
    if cols is None:
        cols = _im2col(x, weight_shape[2:], stride, pads, dilation, groups,
                       out_hw=gy.shape[2:])
    n, out_channels = gy.shape[:2]
    per_group = out_channels // groups
    # OpenBLAS runs these thin products 20-30% faster with the longer of O/G and K as the
    # rows of the result (measured at one thread), so the product may be taken transposed
    wide_taps = cols.shape[-2] > per_group
    if cols.ndim == 4:
        # per image, then summed: gy and cols are read in place
        gy = gy.reshape(n, groups, per_group, -1)  # (N, O, oh, ow) -> (N, G, O/G, P)
        if wide_taps:
            # (N, G, K, P) @ (N, G, P, O/G) -> (N, G, K, O/G) -> (G, K, O/G) -> (G, O/G, K)
            g_weight = xp.matmul(cols, gy.transpose(0, 1, 3, 2)).sum(axis=0).transpose(0, 2, 1)
        else:
            # (N, G, O/G, P) @ (N, G, P, K) -> (N, G, O/G, K) -> (G, O/G, K)
            g_weight = xp.matmul(gy, cols.transpose(0, 1, 3, 2)).sum(axis=0)
    else:
        # (N, O, oh, ow) -> (O, N, oh, ow) -> (G, O/G, N*P)
        gy_rows = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(groups, per_group, -1)
        if wide_taps:
            # (G, K, N*P) @ (G, N*P, O/G) -> (G, K, O/G) -> (G, O/G, K)
            g_weight = xp.matmul(cols, gy_rows.transpose(0, 2, 1)).transpose(0, 2, 1)
        else:
            # (G, O/G, N*P) @ (G, N*P, K) -> (G, O/G, K)
            g_weight = xp.matmul(gy_rows, cols.transpose(0, 2, 1))
    # (G, O/G, K) -> (O, C/G, kh, kw)
    return g_weight.reshape(weight_shape)


def _conv_transpose2d_raw(x, weight, out_hw, stride, pads, dilation, groups):
    """Raw conv_transpose2d, (N, C, h, w) -> (N, O, *out_hw); weight (C, O/G, kh, kw).

    ``pads`` is ((top, bottom), (left, right)), the padding of the conv it is the adjoint of.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    out_channels = per_group * groups
    if stride == (1, 1) and ((kh, kw) == (1, 1)
                             or c * out_hw[0] * out_hw[1] <= out_channels * h * w):
        # stride 1: correlate the padded input with the flipped kernel, channels swapped.
        # Its cols hold C*kh*kw rows per output pixel against col2im's O*kh*kw per input
        # pixel, so it is used when that is no more (a 1x1 kernel's correlation needs no cols
        # at all); col2im wins where the output outgrows the input (7x7 from a 1x1 latent).
        # (C, O/G, kh, kw) -> (G, C/G, O/G, kh, kw) -> (G, O/G, C/G, kh, kw) -> (O, C/G, kh, kw)
        flipped = weight.reshape(groups, c // groups, per_group, kh, kw)[..., ::-1, ::-1]
        flipped = xp.ascontiguousarray(flipped.transpose(0, 2, 1, 3, 4)).reshape(
            out_channels, c // groups, kh, kw)
        correlation_pads = []
        for a, k in ((0, kh), (1, kw)):
            before = dilation[a] * (k - 1) - pads[a][0]
            correlation_pads.append(
                (before, out_hw[a] - x.shape[2 + a] - before + dilation[a] * (k - 1)))
        return _conv2d_raw(x, flipped, stride, dilation, groups, tuple(correlation_pads))[0]
    # otherwise: a GEMM into cols, then col2im with one strided slice-add per kernel tap.
    # Each add runs fastest along a long contiguous axis: the batch when the feature maps are
    # narrower than it (batch-last, measured 3x faster on 7x7 maps), else the image rows
    # (per image; moving a large x to batch-last would cost more than it saves).
    batch_last = w < n
    # (C, O/G, kh, kw) -> (G, C/G, O/G*kh*kw) -> (G, O/G*kh*kw, C/G)
    w_groups = weight.reshape(groups, c // groups, -1).transpose(0, 2, 1)
    (top, bottom), (left, right) = pads
    (sh, sw), (dh, dw) = stride, dilation
    padded_hw = (out_hw[0] + top + bottom, out_hw[1] + left + right)
    if batch_last:
        # (N, C, h, w) -> (C, h, w, N) -> (G, C/G, h*w*N)
        x_cols = xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(groups, c // groups, -1)
        # (G, K, C/G) @ (G, C/G, h*w*N) -> (G, K, h*w*N) -> (O, kh, kw, h, w, N)
        taps = xp.matmul(w_groups, x_cols).reshape(out_channels, kh, kw, h, w, n)
        image = xp.zeros((out_channels,) + padded_hw + (n,), dtype=x.dtype)
    else:
        # (G, K, C/G) @ (N, G, C/G, h*w) -> (N, G, K, h*w) -> (N, O, kh, kw, h, w)
        taps = xp.matmul(w_groups, x.reshape(n, groups, c // groups, h * w)).reshape(
            n, out_channels, kh, kw, h, w)
        # (N, O, kh, kw, h, w) -> a view (O, kh, kw, h, w, N)
        taps = taps.transpose(1, 2, 3, 4, 5, 0)
        # (N, O, Hp, Wp) -> a view (O, Hp, Wp, N)
        image = xp.zeros((n, out_channels) + padded_hw, dtype=x.dtype).transpose(1, 2, 3, 0)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (h - 1) + 1, sh)
        for j in range(kw):
            target = image[:, rows, j * dw:j * dw + sw * (w - 1) + 1:sw]
            xp.add(target, taps[:, i, j], out=target)
    # (O, Hp, Wp, N) -> (N, O, H, W), dropping the padding
    image = image[:, top:top + out_hw[0], left:left + out_hw[1]].transpose(3, 0, 1, 2)
    return xp.ascontiguousarray(image)


# --------------------------------------------------------------------------- ops
class Conv2d(Function):
    """y = conv2d(x, W) (+ b). Its input gradient is ConvTranspose2d, its weight gradient
    Conv2dGradWeight, so both orders of derivatives stay convolutions."""

    def __init__(self, stride, pads, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.cols = None

    def forward(self, x, weight, bias=None):
        y, cols = _conv2d_raw(x, weight, self.stride, self.dilation, self.groups, self.pads)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        # reused by the weight gradient (this op's, or a transposed conv's backward that
        # ran this op for its input gradient); an unrecorded op is dropped, and its cols too
        self.cols = cols
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv_transpose2d(gy, W); dL/dW = sum_n,p gy (x) windows(x); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.pads, _output_padding(
                x.shape, gy.shape, weight.shape, self.stride, self.pads, self.dilation),
                self.dilation, self.groups).apply(gy, weight)
        if self.needs_input_grad[1]:
            gw = Conv2dGradWeight(weight.shape, self.stride, self.pads, self.dilation,
                                  self.groups, self.cols).apply(x, gy)
        self.cols = None
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) (+ b), the adjoint of Conv2d in x."""

    def __init__(self, stride, pads, output_padding, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.output_padding = output_padding

    def forward(self, x, weight, bias=None):
        out_hw = tuple(
            _transposed_size(x.shape[2 + a], weight.shape[2 + a], self.stride[a],
                             self.pads[a], self.output_padding[a], self.dilation[a])
            for a in range(2))
        y = _conv_transpose2d_raw(x, weight, out_hw, self.stride, self.pads, self.dilation,
                                  self.groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv2d(gy, W); dL/dW = sum_n,p x (x) windows(gy); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        gy_cols = None
        if self.needs_input_grad[0]:
            conv = Conv2d(self.stride, self.pads, self.dilation, self.groups)
            gx = conv.apply(gy, weight)
            if gx.shape == x.shape:  # else its windows run past x's: not the weight's
                gy_cols = conv.cols
            gx = _crop_to(gx, x.shape)
        if self.needs_input_grad[1]:
            # a conv's weight gradient with gy as the image and x as the output gradient,
            # which yields the (C_in, C_out/g, kh, kw) layout directly; gy's windows are
            # the ones the input gradient just cut
            gw = Conv2dGradWeight(weight.shape, self.stride, self.pads, self.dilation,
                                  self.groups, gy_cols).apply(gy, x)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return gx, gw, gb


class Conv2dGradWeight(Function):
    """(x, gy) -> dL/dW of conv2d. Bilinear, so its own gradients are two convolutions."""

    def __init__(self, weight_shape, stride, pads, dilation, groups, cols=None):
        self.weight_shape = tuple(weight_shape)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.cols = cols

    def forward(self, x, gy):
        self.save_for_backward(x, gy)
        g_weight = _conv2d_weight_grad_raw(x, gy, self.weight_shape, self.stride, self.pads,
                                           self.dilation, self.groups, self.cols)
        self.cols = None
        return g_weight

    def backward(self, g_gw):
        # gW(x, gy) is bilinear: d<g_gw, gW>/dx = conv_transpose2d(gy, g_gw),
        # d<g_gw, gW>/dgy = conv2d(x, g_gw)
        x, gy = self.saved_tensors
        gx = ggy = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.pads, _output_padding(
                x.shape, gy.shape, self.weight_shape, self.stride, self.pads,
                self.dilation), self.dilation, self.groups).apply(gy, g_gw)
        if self.needs_input_grad[1]:
            ggy = _crop_to(Conv2d(self.stride, self.pads, self.dilation,
                                  self.groups).apply(x, g_gw), gy.shape)
        return gx, ggy


def _crop_to(t: Tensor, shape: tuple) -> Tensor:
    """Drop trailing rows/columns that an output_padding >= stride adds (they get no input)."""
    if t.shape == tuple(shape):
        return t
    return getitem(t, (slice(None), slice(None), slice(0, shape[2]), slice(0, shape[3])))


def _transposed_size(size, kernel, stride, pad_pair, output_padding, dilation) -> int:
    """A transposed conv's output size along one axis; ``pad_pair`` is (before, after)."""
    return (size - 1) * stride - sum(pad_pair) + dilation * (kernel - 1) + output_padding + 1


def _output_padding(x_shape, y_shape, weight_shape, stride, pads, dilation) -> tuple:
    """The output_padding that makes conv_transpose2d of a conv output recover x's size."""
    return tuple(
        x_shape[2 + a] - _transposed_size(y_shape[2 + a], weight_shape[2 + a], stride[a],
                                          pads[a], 0, dilation[a])
        for a in range(2)
    )


# --------------------------------------------------------------------------- public API
def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or min(pair) < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum} or a pair of them, got "
                         f"{value!r}")
    return pair


def _pads(value) -> tuple:
    """conv2d's padding as ((top, bottom), (left, right)): from an int, an (h, w) pair, or
    that form itself."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(pair, (tuple, list)) for pair in value):
        return tuple(_pair("padding", pair, 0) for pair in value)
    return tuple((p, p) for p in _pair("padding", value, 0))


def _check(op, x, weight, bias, groups, in_axis, out_axis):
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must have 4 axes, got shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing the {x.shape[1]} input "
                         f"channels, got {groups!r}")
    expected_in = x.shape[1] // groups if in_axis == 1 else x.shape[1]
    if weight.shape[in_axis] != expected_in:
        raise ValueError(f"{op}: weight axis {in_axis} must be {expected_in} (input channels"
                         f"{' / groups' if in_axis == 1 else ''}), got weight shape "
                         f"{weight.shape} for x of shape {x.shape}")
    out_channels = weight.shape[out_axis] * (groups if out_axis == 1 else 1)
    if out_axis == 0 and out_channels % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {out_channels} output "
                         "channels")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise TypeError(f"{op}: x, weight and bias must share a dtype, got {x.dtype}, "
                        f"{weight.dtype} and {None if bias is None else bias.dtype}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw).
        bias: optional (C_out,).
        stride, dilation: ints or (h, w) pairs.
        padding: an int, an (h, w) pair, or ((top, bottom), (left, right)) for uneven
            padding (which PyTorch spells as F.pad before the conv).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, oh, ow), oh = (H + top + bottom - d (kh - 1) - 1) // s + 1.
    """
    _check("conv2d", x, weight, bias, groups, in_axis=1, out_axis=0)
    stride = _pair("stride", stride, 1)
    pads = _pads(padding)
    dilation = _pair("dilation", dilation, 1)
    for a, name in ((0, "height"), (1, "width")):
        span = dilation[a] * (weight.shape[2 + a] - 1) + 1
        if x.shape[2 + a] + sum(pads[a]) < span:
            raise ValueError(f"conv2d: the kernel spans {span} pixels but the padded input "
                             f"{name} is {x.shape[2 + a] + sum(pads[a])}")
    function = Conv2d(stride, pads, dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, dilation=1, groups: int = 1) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input), as
    torch.nn.functional.conv_transpose2d.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out/groups, kh, kw).
        bias: optional (C_out,).
        output_padding: extra rows/columns on one side, < max(stride, dilation).

    Returns:
        (N, C_out, oh, ow), oh = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1.
    """
    _check("conv_transpose2d", x, weight, bias, groups, in_axis=0, out_axis=1)
    stride = _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    output_padding = _pair("output_padding", output_padding, 0)
    for a in range(2):
        if output_padding[a] >= max(stride[a], dilation[a]):
            raise ValueError(f"conv_transpose2d: output_padding must be < max(stride, "
                             f"dilation) = {max(stride[a], dilation[a])}, got {output_padding}")
    for a, name in ((0, "height"), (1, "width")):
        size = _transposed_size(x.shape[2 + a], weight.shape[2 + a], stride[a],
                                (padding[a], padding[a]), output_padding[a], dilation[a])
        if size < 1:
            raise ValueError(f"conv_transpose2d: the output {name} must be >= 1, got {size} "
                             f"(padding {padding} is too large for the input {name} "
                             f"{x.shape[2 + a]})")
    function = ConvTranspose2d(stride, tuple((p, p) for p in padding), output_padding,
                               dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


def conv_mask(weight_shape, mask_type: str, channel_groups: int | None = None):
    """The PixelCNN mask for a conv weight of ``weight_shape`` (C_out, C_in, kh, kw).

    Rows above the centre and pixels left of the centre are visible; the centre pixel is
    visible for mask "B" and hidden for mask "A"; everything after it is hidden. With
    ``channel_groups`` (3 for R, G, B), channels are split into that many groups and, at the
    centre, output group j sees input groups < j (A) or <= j (B).

    Returns:
        A float32 NumPy array of ``weight_shape`` with entries 0 or 1.
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"conv_mask: mask_type must be 'A' or 'B', got {mask_type!r}")
    out_channels, in_channels, kh, kw = weight_shape
    mask = np.zeros(weight_shape, dtype=np.float32)
    ci, cj = kh // 2, kw // 2
    mask[:, :, :ci, :] = 1
    mask[:, :, ci, :cj] = 1
    if channel_groups is None:
        mask[:, :, ci, cj] = 1.0 if mask_type == "B" else 0.0
        return mask
    if out_channels % channel_groups or in_channels % channel_groups:
        raise ValueError(f"conv_mask: channel_groups={channel_groups} must divide C_out="
                         f"{out_channels} and C_in={in_channels}")
    out_group = np.arange(out_channels) // (out_channels // channel_groups)
    in_group = np.arange(in_channels) // (in_channels // channel_groups)
    visible = (in_group[None, :] < out_group[:, None]) if mask_type == "A" else (
        in_group[None, :] <= out_group[:, None])
    mask[:, :, ci, cj] = visible
    return mask


def conv2d_top_rows(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                    padding=0, dilation=1, groups: int = 1) -> Tensor:
    """conv2d with the kernel rows below the centre taken as zero, as in PixelCNN masks.

    The result is conv2d's with those rows of ``weight`` zeroed, and dL/dW is exactly zero on
    them; but only the top kh // 2 + 1 rows are convolved, with the bottom padding reduced
    by the span of the rows left out so that the output keeps conv2d's size. That shrinks
    the im2col copy and the GEMMs of the forward and both gradients by a third for a 3x3
    kernel and by 3/7 for a 7x7 one.

    Args:
        as in :func:`conv2d`.

    Returns:
        (N, C_out, oh, ow), the size conv2d gives.
    """
    kh = weight.shape[2]
    rows = kh // 2 + 1
    if rows == kh:  # 1x1 and 2-row kernels have no row below the centre
        return conv2d(x, weight, bias, stride, padding, dilation, groups)
    top = weight[:, :, :rows]
    (above, below), columns = _pads(padding)
    below -= _pair("dilation", dilation, 1)[0] * (kh - rows)
    if below < 0:
        # less padding than the dropped rows span: their windows would start inside the
        # image, so convolve the full kernel with those rows zeroed instead
        return conv2d(x, pad(top, ((0, 0), (0, 0), (0, kh - rows), (0, 0))), bias, stride,
                      padding, dilation, groups)
    return conv2d(x, top, bias, stride, ((above, below), columns), dilation, groups)


def masked_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  mask_type: str = "B", stride=1, padding=0, dilation=1, groups: int = 1,
                  channel_groups: int | None = None) -> Tensor:
    """conv2d with a PixelCNN mask multiplied into the weight inside the graph, so the
    weight's gradient is zero wherever the mask is (see :func:`conv_mask`). The mask's rows
    below the centre are all zero, so it runs as :func:`conv2d_top_rows`.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw); the mask is built for this shape.
        bias: optional (C_out,).
        mask_type: "A" (centre pixel hidden, for the first layer) or "B" (centre visible).
        stride, padding, dilation, groups: as in :func:`conv2d`.
        channel_groups: split channels into R, G, B-style groups (see :func:`conv_mask`).

    Returns:
        (N, C_out, oh, ow), each output pixel a function of raster-earlier input pixels only.
    """
    xp = get_array_module(weight.data)
    mask = Tensor._from_array(xp.asarray(conv_mask(weight.shape, mask_type, channel_groups),
                                         dtype=weight.dtype))
    return conv2d_top_rows(x, weight * mask, bias, stride, padding, dilation, groups)
