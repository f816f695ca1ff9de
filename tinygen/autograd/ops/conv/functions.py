"""The conv ops as math: Conv2d, its adjoint ConvTranspose2d, the weight gradient
Conv2dGradWeight, and the public wrappers conv2d and conv_transpose2d.

Layouts follow PyTorch: conv2d's weight is (C_out, C_in/groups, kh, kw), conv_transpose2d's
is (C_in, C_out/groups, kh, kw), and output sizes follow PyTorch's rules. Internally a padding
is ((top, bottom), (left, right)); conv2d also takes that form, which PixelCNN's masked convs
use to drop their all-zero bottom kernel rows.
"""

from __future__ import annotations

from tinygen.autograd.function import Function
from tinygen.autograd.ops.arguments import pair, tensor_args
from tinygen.autograd.ops.conv import layouts
from tinygen.autograd.ops.reduction import sum as reduce_sum
from tinygen.autograd.ops.shape import getitem, reshape, squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor


class Conv2d(Function):
    """y = conv2d(x, W) + b: y[n, o, p] = b[o] + sum over the input channels c of o's group
    and the taps (i, j) of W[o, c, i, j] x_padded[n, c, s p + d (i, j)].

    y is linear in x and in W, so each gradient is the adjoint map applied to gy:
    <conv2d(x, W), gy> = <x, conv_transpose2d(gy, W)> = <W, gW(x, gy)>, with gW the sum over
    images and pixels of gy times the windows of x. The input gradient is therefore a
    ConvTranspose2d and the weight gradient a Conv2dGradWeight, and as both are again
    convolutions, so are the second derivatives.

    The definition as a plain loop: :func:`.reference.reference_conv2d`. How the arrays are
    laid out for BLAS: :func:`.layouts.conv2d`.
    """

    def __init__(self, stride, pads, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups

    def forward(self, x, weight, bias=None):
        # the bias is added in the pass that writes each block's outputs
        y, cols = layouts.conv2d(x, weight, self.stride, self.pads, self.dilation, self.groups,
                                 bias)
        # x's windows, reused by the weight gradient: this op's, or that of a transposed
        # conv whose backward ran this op for its input gradient
        self.cache_for_backward(cols=cols)
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
                                  self.groups, self.cached("cols")).apply(x, gy)
        # used once: a retained graph's next backward cuts the windows again rather than
        # holding them until it is freed
        self.cache_for_backward()
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = reduce_sum(gy, axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) + b, the adjoint of conv2d in its input: for every z of
    the output's size, <conv_transpose2d(x, W), z> = <x, conv2d(z, W)>. Each input pixel
    scatters its kernel-weighted values onto the output, strided by the stride.

    So its input gradient is a Conv2d of gy, and its weight gradient is conv2d's with the
    roles swapped, gW(gy, x): gy as the image, x as the output gradient.

    The definition as a plain loop: :func:`.reference.reference_conv_transpose2d`. How the
    arrays are laid out for BLAS: :func:`.layouts.conv_transpose2d`.
    """

    def __init__(self, stride, pads, output_padding, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.output_padding = output_padding

    def forward(self, x, weight, bias=None):
        out_hw = tuple(
            _transposed_size(x.shape[2 + a], weight.shape[2 + a], self.stride[a],
                             self.pads[a], self.output_padding[a], self.dilation[a])
            for a in range(2))
        y = layouts.conv_transpose2d(x, weight, out_hw, self.stride, self.pads, self.dilation,
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
                gy_cols = conv.cached("cols")
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
    """gW(x, gy) = dL/dW of conv2d, the adjoint of conv2d in its weight:
    gW[o, c, i, j] = sum over images n and output pixels p of gy[n, o, p] x_window[n, c, p, i, j].

    Bilinear in (x, gy), with <gW(x, gy), V> = <gy, conv2d(x, V)> = <x, conv_transpose2d(gy, V)>
    for every V of the weight's shape: so its own gradients are a ConvTranspose2d and a
    Conv2d, and second derivatives of a conv stay convolutions.

    ``cols`` are x's windows when the forward kept them (see :func:`.layouts.conv2d`); they
    are used by this op's forward only and not kept on it.
    """

    def __init__(self, weight_shape, stride, pads, dilation, groups, cols=None):
        self.weight_shape = tuple(weight_shape)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.cols = cols

    def forward(self, x, gy):
        cols, self.cols = self.cols, None  # used once, here: the node keeps no array
        self.save_for_backward(x, gy)
        return layouts.conv2d_weight_grad(x, gy, self.weight_shape, self.stride, self.pads,
                                          self.dilation, self.groups, cols)

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
def single(name: str, value, minimum: int = 1) -> int:
    """An int or a 1-tuple of one, >= ``minimum`` (the 1-D ops' length arguments)."""
    values = value if isinstance(value, (tuple, list)) and len(value) == 1 else (value,)
    try:
        return pair(name, (values[0], values[0]), minimum)[0]
    except ValueError:
        raise ValueError(f"{name}: expected an int >= {minimum} or a 1-tuple of one, got "
                         f"{value!r}") from None


def as_pads(padding) -> tuple:
    """conv2d's padding as ((top, bottom), (left, right)): from an int, an (h, w) pair, or
    that form itself."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
            isinstance(sides, (tuple, list)) for sides in padding):
        return tuple(pair("padding", sides, 0) for sides in padding)
    return tuple((p, p) for p in pair("padding", padding, 0))


def string_pads(op: str, padding: str, stride: tuple, dilation: tuple, kernel: tuple) -> tuple:
    """PyTorch's padding='valid' (none) or 'same' (the output keeps the input's size at
    stride 1: d (k - 1) in all, the odd one at the bottom/right) as (before, after) pairs."""
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding != "same":
        raise ValueError(f"{op}: padding must be 'same', 'valid' or ints, got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' needs stride 1 (it is not supported for "
                         f"strided convolutions), got stride {stride}")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple((total // 2, total - total // 2) for total in totals)


def _check(op, x, weight, bias, groups, in_axis, out_axis, spatial=("H", "W")):
    layout = "(N, C, " + ", ".join(spatial) + ")"
    if x.ndim != 2 + len(spatial):
        raise ValueError(f"{op}: x must be {layout} or unbatched (C, {', '.join(spatial)}), "
                         f"got shape {x.shape}")
    if weight.ndim != 2 + len(spatial):
        raise ValueError(f"{op}: weight must have {2 + len(spatial)} axes, got shape "
                         f"{weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or x.shape[1] % groups:
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


def _conv(op, x, weight, bias, stride, pads, dilation, groups, names):
    """Conv2d on 4-D arrays once every argument is a pair; ``names`` are the checked axes
    (height and width, or a 1-D op's length alone on its unit height)."""
    for a, name in names:
        span = dilation[a] * (weight.shape[2 + a] - 1) + 1
        if x.shape[2 + a] + sum(pads[a]) < span:
            raise ValueError(f"{op}: the kernel spans {span} pixels but the padded input "
                             f"{name} is {x.shape[2 + a] + sum(pads[a])}")
    function = Conv2d(stride, pads, dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


@tensor_args
def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    Args:
        x: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_out, C_in/groups, kh, kw).
        bias: optional (C_out,).
        stride, dilation: ints or (h, w) pairs.
        padding: an int, an (h, w) pair, 'valid' (none), 'same' (stride 1 only: the output
            keeps the input's size), or ((top, bottom), (left, right)) for uneven padding
            (which PyTorch spells as F.pad before the conv).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, oh, ow), oh = (H + top + bottom - d (kh - 1) - 1) // s + 1; (C_out, oh, ow)
        for an unbatched x.
    """
    if x.ndim == 3:  # unbatched: (C, H, W) -> (1, C, H, W) and back
        return squeeze(conv2d(unsqueeze(x, 0), weight, bias, stride, padding, dilation,
                              groups), 0)
    _check("conv2d", x, weight, bias, groups, in_axis=1, out_axis=0)
    stride = pair("stride", stride, 1)
    dilation = pair("dilation", dilation, 1)
    pads = string_pads("conv2d", padding, stride, dilation, weight.shape[2:]) if isinstance(
        padding, str) else as_pads(padding)
    return _conv("conv2d", x, weight, bias, stride, pads, dilation, groups,
                 ((0, "height"), (1, "width")))


@tensor_args
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as torch.nn.functional.conv1d: conv2d on a unit height.

    Args:
        input: (N, C_in, L), or unbatched (C_in, L).
        weight: (C_out, C_in/groups, k).
        bias: optional (C_out,).
        stride, dilation: ints (or 1-tuples).
        padding: an int (or 1-tuple), 'valid' or 'same' (stride 1 only).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, L_out), L_out = (L + 2 p - d (k - 1) - 1) // s + 1; (C_out, L_out) for an
        unbatched input.
    """
    if input.ndim == 2:  # unbatched: (C, L) -> (1, C, L) and back
        return squeeze(conv1d(unsqueeze(input, 0), weight, bias, stride, padding, dilation,
                              groups), 0)
    _check("conv1d", input, weight, bias, groups, in_axis=1, out_axis=0, spatial=("L",))
    stride = single("stride", stride)
    dilation = single("dilation", dilation)
    if isinstance(padding, str):
        (pads,) = string_pads("conv1d", padding, (stride,), (dilation,), weight.shape[2:])
    else:
        pads = (single("padding", padding, 0),) * 2
    n, c, length = input.shape
    # (N, C, L) -> (N, C, 1, L); weight (O, C/g, k) -> (O, C/g, 1, k)
    y = _conv("conv1d", reshape(input, (n, c, 1, length)),
              reshape(weight, weight.shape[:2] + (1, weight.shape[2])), bias, (1, stride),
              ((0, 0), pads), (1, dilation), groups, ((1, "length"),))
    # (N, O, 1, L_out) -> (N, O, L_out)
    return squeeze(y, 2)


def _conv_transpose(op, x, weight, bias, stride, padding, output_padding, dilation, groups,
                    names):
    """ConvTranspose2d on 4-D arrays once every argument is a pair (see :func:`_conv`)."""
    for a, name in names:
        if output_padding[a] >= max(stride[a], dilation[a]):
            raise ValueError(f"{op}: output_padding must be < max(stride, dilation) = "
                             f"{max(stride[a], dilation[a])}, got {output_padding[a]} along "
                             f"the {name}")
        size = _transposed_size(x.shape[2 + a], weight.shape[2 + a], stride[a],
                                (padding[a], padding[a]), output_padding[a], dilation[a])
        if size < 1:
            raise ValueError(f"{op}: the output {name} must be >= 1, got {size} "
                             f"(padding {padding[a]} is too large for the input {name} "
                             f"{x.shape[2 + a]})")
    function = ConvTranspose2d(stride, tuple((p, p) for p in padding), output_padding,
                               dilation, groups)
    return function.apply(x, weight) if bias is None else function.apply(x, weight, bias)


@tensor_args
def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input), as
    torch.nn.functional.conv_transpose2d.

    Args:
        x: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_in, C_out/groups, kh, kw).
        bias: optional (C_out,).
        stride, padding, dilation: ints or (h, w) pairs.
        output_padding: extra rows/columns on one side, < max(stride, dilation).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, oh, ow), oh = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1;
        (C_out, oh, ow) for an unbatched x.
    """
    if x.ndim == 3:  # unbatched: (C, H, W) -> (1, C, H, W) and back
        return squeeze(conv_transpose2d(unsqueeze(x, 0), weight, bias, stride, padding,
                                        output_padding, groups, dilation), 0)
    _check("conv_transpose2d", x, weight, bias, groups, in_axis=0, out_axis=1)
    return _conv_transpose(
        "conv_transpose2d", x, weight, bias, pair("stride", stride, 1),
        pair("padding", padding, 0), pair("output_padding", output_padding, 0),
        pair("dilation", dilation, 1), groups, ((0, "height"), (1, "width")))


@tensor_args
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution, as torch.nn.functional.conv_transpose1d:
    conv_transpose2d on a unit height.

    Args:
        input: (N, C_in, L), or unbatched (C_in, L).
        weight: (C_in, C_out/groups, k).
        bias: optional (C_out,).
        stride, padding, dilation: ints (or 1-tuples).
        output_padding: extra entries at the end, < max(stride, dilation).
        groups: split channels into independent groups.

    Returns:
        (N, C_out, L_out), L_out = (L - 1) s - 2 p + d (k - 1) + output_padding + 1;
        (C_out, L_out) for an unbatched input.
    """
    if input.ndim == 2:  # unbatched: (C, L) -> (1, C, L) and back
        return squeeze(conv_transpose1d(unsqueeze(input, 0), weight, bias, stride, padding,
                                        output_padding, groups, dilation), 0)
    _check("conv_transpose1d", input, weight, bias, groups, in_axis=0, out_axis=1,
           spatial=("L",))
    n, c, length = input.shape
    # (N, C, L) -> (N, C, 1, L); weight (C, O/g, k) -> (C, O/g, 1, k)
    y = _conv_transpose(
        "conv_transpose1d", reshape(input, (n, c, 1, length)),
        reshape(weight, weight.shape[:2] + (1, weight.shape[2])), bias,
        (1, single("stride", stride)), (0, single("padding", padding, 0)),
        (0, single("output_padding", output_padding, 0)), (1, single("dilation", dilation)),
        groups, ((1, "length"),))
    # (N, O, 1, L_out) -> (N, O, L_out)
    return squeeze(y, 2)
