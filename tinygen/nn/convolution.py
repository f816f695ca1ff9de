"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d and PixelCNN's
MaskedConv2d, initialised as PyTorch's (kaiming_uniform weights with a = sqrt(5), bias
U(-1/sqrt(fan_in), 1/sqrt(fan_in)))."""

from __future__ import annotations

import math

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.checks import check_input, choice, count, flag, ints
from tinygen.nn.module import Buffer, Module, Parameter


class _ConvBase(Module):
    """What every conv layer shares: arguments as tuples of ``spatial`` ints (PyTorch keeps
    them so), the weight and its PyTorch initialisation, the repr."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, transposed, spatial):
        name = type(self).__name__
        self.in_channels = count(name, "in_channels", in_channels)
        self.out_channels = count(name, "out_channels", out_channels)
        self.groups = count(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        bias = flag(name, "bias", bias)
        # reflect, replicate and circular padding are not implemented
        self.padding_mode = choice(name, "padding_mode", padding_mode, ("zeros",))
        self.kernel_size = ints(name, "kernel_size", kernel_size, spatial)
        self.stride = ints(name, "stride", stride, spatial)
        self.dilation = ints(name, "dilation", dilation, spatial)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid' or ints, got "
                                 f"{padding!r}")
            if padding == "same" and self.stride != (1,) * spatial:
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions, got stride {self.stride}")
            self.padding = padding
        else:
            self.padding = ints(name, "padding", padding, spatial, 0)
        channels = (in_channels, out_channels // groups) if transposed else (
            out_channels, in_channels // groups)
        self.weight = Parameter(np.empty(channels + self.kernel_size, dtype=np.float32))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        # weight axis 1 times the kernel size, as in PyTorch: in_channels / groups for a conv,
        # out_channels / groups for a transposed conv, whose weight is (in, out / groups, ...)
        fan_in = init.fan_in_and_fan_out(self.weight)[0]
        self.bias = init.uniform_parameter((out_channels,), 1 / math.sqrt(fan_in)) if bias \
            else None

    def _check(self, x) -> None:
        """Raise unless ``x`` is an (N, C_in, *spatial) or (C_in, *spatial) Tensor of the
        weight's dtype."""
        spatial, name = len(self.kernel_size), type(self).__name__
        check_input(name, x, (spatial + 1, spatial + 2), like=self.weight)
        if x.shape[-spatial - 1] != self.in_channels:
            raise ValueError(f"{name}: expected {self.in_channels} input channels on axis "
                             f"{x.ndim - spatial - 1}, got shape {x.shape}")

    def _output_padding(self, x: Tensor, output_size, output_padding) -> tuple:
        """A transposed conv's output_padding, or the one that gives ``output_size`` (the
        spatial sizes, optionally led by N and C), as PyTorch's forward(x, output_size)."""
        if output_size is None:
            return output_padding
        spatial = len(self.kernel_size)
        sizes = tuple(output_size)[-spatial:] if isinstance(output_size, (
            tuple, list)) and len(output_size) in (spatial, spatial + 1, spatial + 2) else None
        if sizes is None or not all(isinstance(n, (int, np.integer)) for n in sizes):
            raise ValueError(f"{type(self).__name__}: output_size must have {spatial} entries "
                             f"(or lead with N and C), got {output_size!r}")
        padding = []
        for a in range(spatial):
            smallest = ((x.shape[x.ndim - spatial + a] - 1) * self.stride[a]
                        - 2 * self.padding[a] + self.dilation[a] * (self.kernel_size[a] - 1) + 1)
            if not smallest <= sizes[a] < smallest + self.stride[a]:
                raise ValueError(f"{type(self).__name__}: output_size {sizes} is out of reach: "
                                 f"axis {a} must be in [{smallest}, "
                                 f"{smallest + self.stride[a] - 1}]")
            padding.append(sizes[a] - smallest)
        return tuple(padding)

    def extra_repr(self) -> str:
        spatial = len(self.kernel_size)
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * spatial:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * spatial:
            text += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0,) * spatial) != (0,) * spatial:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvBase):
    """1-D convolution (cross-correlation), as torch.nn.Conv1d.

    Args:
        in_channels, out_channels: channel counts, both divisible by ``groups``.
        kernel_size, stride, dilation: ints (or 1-tuples).
        padding: an int (or 1-tuple), 'valid' or 'same' (stride 1 only).
        groups: independent channel groups.
        bias: whether to add a learned per-channel bias.
        padding_mode: 'zeros' (the only one implemented).

    Shapes:
        x (N, in_channels, L) or (in_channels, L) -> (N, out_channels, L_out) with
        L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1;
        weight (out_channels, in_channels / groups, k), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, transposed=False, spatial=1)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation), as torch.nn.Conv2d.

    Args:
        in_channels, out_channels: channel counts, both divisible by ``groups``.
        kernel_size, stride, dilation: ints or (h, w) pairs.
        padding: an int, an (h, w) pair, 'valid' or 'same' (stride 1 only: the output keeps
            the input's size).
        groups: independent channel groups.
        bias: whether to add a learned per-channel bias.
        padding_mode: 'zeros' (the only one implemented).

    Shapes:
        x (N, in_channels, H, W) or (in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1;
        weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, transposed=False, spatial=2)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose1d(_ConvBase):
    """1-D transposed convolution, as torch.nn.ConvTranspose1d: the adjoint of Conv1d.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
            padding_mode: as in Conv1d.
        padding: an int (or 1-tuple).
        output_padding: extra entries at the end, < max(stride, dilation).

    Shapes:
        x (N, in_channels, L) or (in_channels, L) -> (N, out_channels, L_out) with
        L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1;
        weight (in_channels, out_channels / groups, k), bias (out_channels,).
        forward(x, output_size) picks the output_padding that gives that length.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros"):
        _no_string_padding("ConvTranspose1d", padding)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, transposed=True, spatial=1)
        self.output_padding = ints("ConvTranspose1d", "output_padding", output_padding, 1, 0)

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        self._check(x)
        output_padding = self._output_padding(x, output_size, self.output_padding)
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)


class ConvTranspose2d(_ConvBase):
    """Transposed (fractionally strided) convolution, as torch.nn.ConvTranspose2d: the
    adjoint of Conv2d, used to upsample.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
            padding_mode: as in Conv2d.
        padding: an int or an (h, w) pair.
        output_padding: extra rows/columns on the bottom/right, < max(stride, dilation).

    Shapes:
        x (N, in_channels, H, W) or (in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
        weight (in_channels, out_channels / groups, kh, kw), bias (out_channels,).
        forward(x, output_size) picks the output_padding that gives that size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros"):
        _no_string_padding("ConvTranspose2d", padding)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, transposed=True, spatial=2)
        self.output_padding = ints("ConvTranspose2d", "output_padding", output_padding, 2, 0)

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        self._check(x)
        output_padding = self._output_padding(x, output_size, self.output_padding)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)


def _no_string_padding(layer: str, padding) -> None:
    if isinstance(padding, str):
        raise ValueError(f"{layer}: padding must be ints ('same' and 'valid' are for "
                         f"convolutions), got {padding!r}")


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
        choice("MaskedConv2d", "mask_type", mask_type, ("A", "B"))
        kh, kw = ints("MaskedConv2d", "kernel_size", kernel_size, 2)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"MaskedConv2d: kernel_size must be odd (a causal mask needs a "
                             f"centre pixel), got {kernel_size!r}")
        dh, dw = ints("MaskedConv2d", "dilation", dilation, 2)
        if padding is None:  # "same" padding keeps the image size, as PixelCNN needs
            padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         1, bias)
        if channel_groups is not None and (
                in_channels % count("MaskedConv2d", "channel_groups", channel_groups)
                or out_channels % channel_groups):
            raise ValueError(f"MaskedConv2d: channel_groups={channel_groups} must divide "
                             f"in_channels={in_channels} and out_channels={out_channels}")
        self.mask_type = mask_type
        self.channel_groups = channel_groups
        self.mask = Buffer(F.conv_mask(self.weight.shape, mask_type, channel_groups))

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        # the mask's rows below the centre are zero, so only the rows above and at the centre
        # are convolved; the weight and its state_dict keep the full kernel
        return F.conv2d_top_rows(x, self.weight * self.mask, self.bias, self.stride,
                                 self.padding, self.dilation)

    def extra_repr(self) -> str:
        text = super().extra_repr() + f", mask_type={self.mask_type!r}"
        return text + (f", channel_groups={self.channel_groups}" if self.channel_groups
                       else "")
