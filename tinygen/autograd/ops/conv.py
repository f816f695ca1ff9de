"""2-D convolution and transposed convolution, each the other's adjoint; PixelCNN masks.

Layouts follow PyTorch: conv2d's weight is (C_out, C_in/groups, kh, kw), conv_transpose2d's
is (C_in, C_out/groups, kh, kw), and output sizes follow PyTorch's rules.

How the work is laid out. Both directions are one matrix product plus a rearrangement:

- conv2d gathers the input windows into ``cols`` (C*kh*kw, N*oh*ow) (one copy, through a
  strided view, no Python loop), multiplies by the weight matrix (O, C*kh*kw), and moves the
  (O, N, oh, ow) result to (N, O, oh, ow).
- conv_transpose2d (and conv2d's input gradient, the same map) multiplies by the transposed
  weight matrix into cols, then scatters the cols back into the image ("col2im") with
  kh*kw strided slice-adds: one vectorized add per kernel tap rather than a scatter per entry.
- The weight gradient is one matrix product of the upstream gradient with the cols that the
  forward already built; it is its own op, so that its backward (for second derivatives)
  is again a pair of convolutions.

The cols layout (K, N*L) makes every product a single large GEMM; the transposes it costs
touch only the small (N, O, oh, ow) side.
"""

from __future__ import annotations

import numpy as np

from tinygen import backend
from tinygen.autograd.function import Function
from tinygen.autograd.ops.reduction import sum as reduce_sum
from tinygen.autograd.ops.shape import getitem
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


# --------------------------------------------------------------------------- raw kernels
def _pad(x, padding):
    ph, pw = padding
    if not (ph or pw):
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def im2col(x, kernel, stride, padding, dilation):
    """(N, C, H, W) -> cols (C*kh*kw, N*oh*ow), plus (oh, ow)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    kh, kw = kernel
    if kernel == (1, 1) and stride == (1, 1) and padding == (0, 0):
        # a 1x1 conv needs no windows: (N, C, H, W) -> (C, N, H, W) -> (C, N*H*W)
        oh, ow = x.shape[2:]
        return xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * oh * ow), oh, ow
    windows = backend.sliding_windows(_pad(x, padding), kernel, stride, dilation)
    oh, ow = windows.shape[2:4]
    # (N, C, oh, ow, kh, kw) -> (C, kh, kw, N, oh, ow) -> (C*kh*kw, N*oh*ow): the one copy
    cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))
    return cols.reshape(c * kh * kw, n * oh * ow), oh, ow


def col2im(cols, image_shape, out_size, kernel, stride, padding, dilation):
    """The adjoint of im2col: cols (C*kh*kw, N*oh*ow) summed back into (N, C, H, W)."""
    xp = get_array_module(cols)
    n, c, h, w = image_shape
    oh, ow = out_size
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    ph, pw = padding
    if kernel == (1, 1) and stride == (1, 1) and padding == (0, 0) and (h, w) == (oh, ow):
        # (C, N*H*W) -> (C, N, H, W) -> (N, C, H, W)
        return xp.ascontiguousarray(cols.reshape(c, n, h, w).transpose(1, 0, 2, 3))
    # accumulate channel-major, (C, N, Hp, Wp), so each tap's add reads cols contiguously
    image = xp.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    # (C*kh*kw, N*oh*ow) -> (C, kh, kw, N, oh, ow)
    taps = cols.reshape(c, kh, kw, n, oh, ow)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            image[:, :, rows, slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)] += taps[:, i, j]
    # (C, N, Hp, Wp) -> (N, C, H, W), dropping the padding
    return xp.ascontiguousarray(image[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3))


def _group_slices(channels: int, groups: int):
    size = channels // groups
    return [slice(g * size, (g + 1) * size) for g in range(groups)]


def conv2d_forward(x, weight, stride, padding, dilation, groups):
    """Raw conv2d; returns y (N, O, oh, ow) and the per-group cols for the weight gradient."""
    xp = get_array_module(x)
    n = x.shape[0]
    out_channels, _, kh, kw = weight.shape
    outputs, cols_per_group = [], []
    for in_group, out_group in zip(_group_slices(x.shape[1], groups),
                                   _group_slices(out_channels, groups)):
        cols, oh, ow = im2col(x[:, in_group], (kh, kw), stride, padding, dilation)
        w_group = weight[out_group]
        # (O_g, C_g, kh, kw) -> (O_g, C_g*kh*kw) @ (C_g*kh*kw, N*oh*ow) = (O_g, N*oh*ow)
        outputs.append(w_group.reshape(w_group.shape[0], -1) @ cols)
        cols_per_group.append(cols)
    y = outputs[0] if groups == 1 else xp.concatenate(outputs, axis=0)
    # (O, N*oh*ow) -> (O, N, oh, ow) -> (N, O, oh, ow)
    y = xp.ascontiguousarray(y.reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3))
    return y, cols_per_group


def _channel_major(g):
    """(N, O, oh, ow) -> (O, N*oh*ow), the layout the GEMMs want."""
    xp = get_array_module(g)
    n, o, oh, ow = g.shape
    return xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, n * oh * ow)


def conv2d_input_grad(gy, weight, image_shape, stride, padding, dilation, groups):
    """Raw conv2d input gradient (= conv_transpose2d of gy): (N, O, oh, ow) -> image_shape."""
    xp = get_array_module(gy)
    n, c, h, w = image_shape
    out_channels, _, kh, kw = weight.shape
    gy_cm = _channel_major(gy)
    pieces = []
    for in_group, out_group in zip(_group_slices(c, groups),
                                   _group_slices(out_channels, groups)):
        w_group = weight[out_group]
        # (O_g, C_g*kh*kw)^T @ (O_g, N*oh*ow) = (C_g*kh*kw, N*oh*ow)
        cols = w_group.reshape(w_group.shape[0], -1).T @ gy_cm[out_group]
        group_shape = (n, in_group.stop - in_group.start, h, w)
        pieces.append(col2im(cols, group_shape, gy.shape[2:], (kh, kw), stride, padding,
                             dilation))
    return pieces[0] if groups == 1 else xp.concatenate(pieces, axis=1)


def conv2d_weight_grad(x, gy, weight_shape, stride, padding, dilation, groups,
                       cols_per_group=None):
    """Raw conv2d weight gradient: sum over the batch of gy (x) windows of x."""
    xp = get_array_module(gy)
    out_channels, _, kh, kw = weight_shape
    gy_cm = _channel_major(gy)
    pieces = []
    for index, (in_group, out_group) in enumerate(zip(_group_slices(x.shape[1], groups),
                                                      _group_slices(out_channels, groups))):
        if cols_per_group is None:
            cols, oh, ow = im2col(x[:, in_group], (kh, kw), stride, padding, dilation)
            th, tw = gy.shape[2:]
            if (oh, ow) != (th, tw):
                # a transposed conv's output_padding rows have no partner in its input:
                # (K, N*oh*ow) -> (K, N, oh, ow) -> (K, N, th, tw) -> (K, N*th*tw)
                cols = cols.reshape(cols.shape[0], -1, oh, ow)[:, :, :th, :tw]
                cols = cols.reshape(cols.shape[0], -1)
        else:
            cols = cols_per_group[index]
        # (O_g, N*oh*ow) @ (N*oh*ow, C_g*kh*kw) = (O_g, C_g*kh*kw)
        pieces.append(gy_cm[out_group] @ cols.T)
    g_weight = pieces[0] if groups == 1 else xp.concatenate(pieces, axis=0)
    # (O, C_g*kh*kw) -> (O, C_g, kh, kw)
    return g_weight.reshape(weight_shape)


# --------------------------------------------------------------------------- ops
class Conv2d(Function):
    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, weight, bias=None):
        y, cols = conv2d_forward(x, weight, self.stride, self.padding, self.dilation,
                                 self.groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.cols = cols if self._recording else None  # reused by the weight gradient
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv_transpose2d(gy, W); dL/dW = sum_n gy (x) windows(x); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.padding, _output_padding(
                x.shape, gy.shape, weight.shape, self.stride, self.padding, self.dilation),
                self.dilation, self.groups).apply(gy, weight)
        if self.needs_input_grad[1]:
            gw = Conv2dWeightGrad(weight.shape, self.stride, self.padding, self.dilation,
                                  self.groups, self.cols).apply(x, gy)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        self.cols = None
        return (gx, gw) if len(self.needs_input_grad) == 2 else (gx, gw, gb)


class ConvTranspose2d(Function):
    def __init__(self, stride, padding, output_padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.output_padding = output_padding

    def forward(self, x, weight, bias=None):
        n, _, h, w = x.shape
        _, out_per_group, kh, kw = weight.shape
        out_h = _transposed_size(h, kh, self.stride[0], self.padding[0],
                                 self.output_padding[0], self.dilation[0])
        out_w = _transposed_size(w, kw, self.stride[1], self.padding[1],
                                 self.output_padding[1], self.dilation[1])
        # a transposed conv is a conv's input gradient, with the weight read (O=C_in, C_out/g)
        y = conv2d_input_grad(x, weight, (n, out_per_group * self.groups, out_h, out_w),
                              self.stride, self.padding, self.dilation, self.groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.save_for_backward(x, weight)
        return y

    def backward(self, gy):
        # dL/dx = conv2d(gy, W); dL/dW = sum_n x (x) windows(gy); dL/db = sum gy
        x, weight = self.saved_tensors
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = _crop_to(Conv2d(self.stride, self.padding, self.dilation,
                                 self.groups).apply(gy, weight), x.shape)
        if self.needs_input_grad[1]:
            # the same sum as a conv's weight gradient, with gy as the image and x as the
            # output gradient, which yields the (C_in, C_out/g, kh, kw) layout directly
            gw = Conv2dWeightGrad(weight.shape, self.stride, self.padding, self.dilation,
                                  self.groups, None).apply(gy, x)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return (gx, gw) if len(self.needs_input_grad) == 2 else (gx, gw, gb)


class Conv2dWeightGrad(Function):
    """(x, gy) -> dL/dW of conv2d; bilinear, so its own gradients are two convolutions."""

    def __init__(self, weight_shape, stride, padding, dilation, groups, cols=None):
        self.weight_shape = tuple(weight_shape)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.cols = cols

    def forward(self, x, gy):
        self.save_for_backward(x, gy)
        g_weight = conv2d_weight_grad(x, gy, self.weight_shape, self.stride, self.padding,
                                      self.dilation, self.groups, self.cols)
        self.cols = None
        return g_weight

    def backward(self, g_gw):
        # gW(x, gy) is bilinear: d<g_gw, gW>/dx = conv_transpose2d(gy, g_gw),
        # d<g_gw, gW>/dgy = conv2d(x, g_gw)
        x, gy = self.saved_tensors
        gx = ggy = None
        if self.needs_input_grad[0]:
            gx = ConvTranspose2d(self.stride, self.padding, _output_padding(
                x.shape, gy.shape, self.weight_shape, self.stride, self.padding, self.dilation),
                self.dilation, self.groups).apply(gy, g_gw)
        if self.needs_input_grad[1]:
            ggy = _crop_to(Conv2d(self.stride, self.padding, self.dilation,
                                  self.groups).apply(x, g_gw), gy.shape)
        return gx, ggy


def _crop_to(t: Tensor, shape: tuple) -> Tensor:
    """Drop trailing rows/columns that an output_padding >= stride adds (they get no input)."""
    if t.shape == tuple(shape):
        return t
    return getitem(t, (slice(None), slice(None), slice(0, shape[2]), slice(0, shape[3])))


def _transposed_size(size, kernel, stride, padding, output_padding, dilation) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _output_padding(x_shape, y_shape, weight_shape, stride, padding, dilation) -> tuple:
    """The output_padding that makes conv_transpose2d of a conv output recover x's size."""
    return tuple(
        x_shape[2 + a] - _transposed_size(y_shape[2 + a], weight_shape[2 + a], stride[a],
                                          padding[a], 0, dilation[a])
        for a in range(2)
    )


# --------------------------------------------------------------------------- public API
def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or min(pair) < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum} or a pair of them, got "
                         f"{value!r}")
    return pair


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
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: x and weight must share a dtype, got {x.dtype} and "
                        f"{weight.dtype}")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    Args:
        x: (N, C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw).
        bias: optional (C_out,).
        stride, padding, dilation: ints or (h, w) pairs.
        groups: split channels into independent groups.

    Returns:
        (N, C_out, oh, ow), oh = (H + 2 p - d (kh - 1) - 1) // s + 1.
    """
    _check("conv2d", x, weight, bias, groups, in_axis=1, out_axis=0)
    stride = _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    for a, name in ((0, "height"), (1, "width")):
        span = dilation[a] * (weight.shape[2 + a] - 1) + 1
        if x.shape[2 + a] + 2 * padding[a] < span:
            raise ValueError(f"conv2d: the kernel spans {span} pixels but the padded input "
                             f"{name} is {x.shape[2 + a] + 2 * padding[a]}")
    function = Conv2d(stride, padding, dilation, groups)
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
    function = ConvTranspose2d(stride, padding, output_padding, dilation, groups)
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


def masked_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  mask_type: str = "B", stride=1, padding=0, dilation=1,
                  channel_groups: int | None = None) -> Tensor:
    """conv2d with a PixelCNN mask multiplied into the weight inside the graph, so the
    weight's gradient is zero wherever the mask is (see :func:`conv_mask`)."""
    xp = get_array_module(weight.data)
    mask = Tensor._from_array(xp.asarray(conv_mask(weight.shape, mask_type, channel_groups),
                                         dtype=weight.dtype))
    return conv2d(x, weight * mask, bias, stride, padding, dilation)
