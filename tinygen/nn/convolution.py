"""Convolution layers: Conv2d, ConvTranspose2d and PixelCNN's MaskedConv2d, initialised as
PyTorch's (kaiming_uniform weights with a = sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)))."""

from __future__ import annotations

import math

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.ops.arguments import pair, positive
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.module import Buffer, Module, Parameter


class _ConvBase(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, weight_shape):
        self.in_channels = positive("in_channels", in_channels)
        self.out_channels = positive("out_channels", out_channels)
        self.groups = positive("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = pair("stride", stride)
        self.padding = pair("padding", padding, minimum=0)
        self.dilation = pair("dilation", dilation)
        self.weight = Parameter(np.empty(weight_shape, dtype=np.float32))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        # weight axis 1 times the kernel size, as in PyTorch: in_channels / groups for a conv,
        # out_channels / groups for a transposed conv, whose weight is (in, out / groups, ...)
        fan_in = init.fan_in_and_fan_out(self.weight)[0]
        self.bias = init.uniform_parameter((out_channels,), 1 / math.sqrt(fan_in)) if bias \
            else None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation), as torch.nn.Conv2d.

    Args:
        in_channels, out_channels: channel counts, both divisible by ``groups``.
        kernel_size, stride, padding, dilation: ints or (h, w) pairs.
        groups: independent channel groups.
        bias: whether to add a learned per-channel bias.

    Shapes:
        x (N, in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1;
        weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        kh, kw = pair("kernel_size", kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, (out_channels, in_channels // max(groups, 1), kh, kw))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvBase):
    """Transposed (fractionally strided) convolution, as torch.nn.ConvTranspose2d: the
    adjoint of Conv2d, used to upsample.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias:
            as in Conv2d.
        output_padding: extra rows/columns on the bottom/right, < max(stride, dilation).

    Shapes:
        x (N, in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
        weight (in_channels, out_channels / groups, kh, kw), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1):
        kh, kw = pair("kernel_size", kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, (in_channels, out_channels // max(groups, 1), kh, kw))
        self.output_padding = pair("output_padding", output_padding, minimum=0)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation, self.groups)


class MaskedConv2d(Conv2d):
    """PixelCNN's masked convolution: each output pixel sees only pixels before it in raster
    order (mask "A" also hides the centre pixel; "B" shows it). With ``channel_groups=3``
    the channels are split R, G, B as in the PixelRNN paper, and at the centre group j sees
    groups before j (A) or up to j (B). The mask multiplies the weight inside the graph, so
    the weight's gradient is masked too.

    The mask is a Buffer built once (F.masked_conv2d would rebuild it, and copy it to the
    GPU, on every call); being a buffer, it moves with ``to()`` and appears in the state
    dict as ``mask``, like the ``register_buffer("mask")`` of PyTorch PixelCNNs.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, bias: as in Conv2d.
        mask_type: "A" (first layer: the centre pixel hidden) or "B" (later layers).
        padding: None (the default) keeps the image size at stride 1.
        channel_groups: None, or the number of colour groups (3 for RGB); it must divide
            both channel counts.

    Shapes:
        as Conv2d; with the default padding and stride, (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask_type: str = "B",
                 stride=1, padding=None, dilation=1, bias: bool = True,
                 channel_groups: int | None = None):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        kh, kw = pair("kernel_size", kernel_size)
        dh, dw = pair("dilation", dilation)
        if padding is None:  # "same" padding keeps the image size, as PixelCNN needs
            padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         1, bias)
        self.mask_type = mask_type
        self.channel_groups = channel_groups
        self.mask = Buffer(F.conv_mask(self.weight.shape, mask_type, channel_groups))

    def forward(self, x: Tensor) -> Tensor:
        # the mask's rows below the centre are zero, so only the rows above and at the centre
        # are convolved; the weight and its state_dict keep the full kernel
        return F.conv2d_top_rows(x, self.weight * self.mask, self.bias, self.stride,
                                 self.padding, self.dilation)

    def extra_repr(self) -> str:
        text = super().extra_repr() + f", mask_type={self.mask_type!r}"
        return text + (f", channel_groups={self.channel_groups}" if self.channel_groups
                       else "")
