"""Pooling and resampling layers: MaxPool1d/2d, MaxUnpool1d/2d, AvgPool1d/2d, the adaptive
pools, Upsample, PixelShuffle and PixelUnshuffle, as torch.nn's (no parameters: an empty
state dict). Every one takes an unbatched input (no N axis) where PyTorch does."""

from __future__ import annotations

import tinygen.nn.functional as F
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import (
    check_input,
    choice,
    count,
    flag,
    integer,
    ints,
    number,
    optional_ints,
)
from tinygen.nn.module import Module

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")


def _check_map(layer: Module, x, spatial: int, floating: bool = True) -> None:
    """Raise unless ``x`` is an (N, C, *spatial) or (C, *spatial) Tensor (of a floating dtype
    where ``floating``: averages) whose channel and spatial axes are not empty (the batch may
    be), as PyTorch's pools require."""
    name = type(layer).__name__
    check_input(name, x, (spatial + 1, spatial + 2), floating=floating)
    if 0 in x.shape[-spatial - 1:]:
        raise ValueError(f"{name}: expected non-empty channel and spatial axes, got shape "
                         f"{x.shape}")


def _window(layer: Module, kernel_size, stride, padding, spatial: int, dilation=1) -> None:
    """Check a pool's window arguments (each an int or a tuple of ``spatial`` ints)."""
    name = type(layer).__name__
    ints(name, "kernel_size", kernel_size, spatial)
    optional_ints(name, "stride", stride, spatial)
    ints(name, "padding", padding, spatial, 0)
    ints(name, "dilation", dilation, spatial)


class _MaxPool(Module):
    function = None
    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        _window(self, kernel_size, stride, padding, self.spatial, dilation)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices = flag(type(self).__name__, "return_indices", return_indices)
        self.ceil_mode = flag(type(self).__name__, "ceil_mode", ceil_mode)

    def forward(self, x: Tensor) -> Tensor:
        _check_map(self, x, self.spatial, floating=False)  # integers pool as in PyTorch
        return type(self).function(x, self.kernel_size, self.stride, self.padding,
                                   self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPool):
    """Max over windows of (N, C, L) or (C, L), as torch.nn.MaxPool1d.

    Args:
        kernel_size: the window length; stride defaults to it.
        stride, padding (of -inf, at most half the kernel), dilation: ints.
        return_indices: also return each maximum's position along L (for MaxUnpool1d).
        ceil_mode: round the output length up instead of down.

    Shapes:
        (N, C, L) -> (N, C, L_out), L_out = (L + 2 padding - dilation (k - 1) - 1) // stride + 1.
    """

    function = staticmethod(F.max_pool1d)
    spatial = 1


class MaxPool2d(_MaxPool):
    """Max over windows of (N, C, H, W) or (C, H, W), as torch.nn.MaxPool2d; the gradient
    goes to each window's first maximum in raster order.

    Args:
        kernel_size: an int or (h, w); stride defaults to it.
        stride, padding (of -inf, at most half the kernel), dilation: ints or (h, w) pairs.
        return_indices: also return each maximum's flat position in its (H, W) plane (for
            MaxUnpool2d).
        ceil_mode: round the output size up instead of down.

    Shapes:
        (N, C, H, W) -> (N, C, oh, ow), oh = (H + 2 padding - dilation (kh - 1) - 1) // stride
        + 1.
    """

    function = staticmethod(F.max_pool2d)


class _MaxUnpool(Module):
    function = None
    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        # stored as torch's layers store them: one int per axis
        name = type(self).__name__
        self.kernel_size = ints(name, "kernel_size", kernel_size, self.spatial)
        self.stride = self.kernel_size if stride is None else ints(name, "stride", stride,
                                                                   self.spatial)
        self.padding = ints(name, "padding", padding, self.spatial, 0)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        _check_map(self, input, self.spatial, floating=False)
        check_input(type(self).__name__, indices, name="indices")
        return type(self).function(input, indices, self.kernel_size, self.stride, self.padding,
                                   output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpool):
    """The partial inverse of MaxPool1d, as torch.nn.MaxUnpool1d: each value goes back to the
    position its index names, every other entry is zero.

    Args:
        kernel_size, stride (defaults to kernel_size), padding: the pool's.

    Shapes:
        input and indices (N, C, l) -> (N, C, L), L = (l - 1) stride - 2 padding + kernel_size
        unless forward's output_size says otherwise.
    """

    function = staticmethod(F.max_unpool1d)
    spatial = 1


class MaxUnpool2d(_MaxUnpool):
    """The partial inverse of MaxPool2d, as torch.nn.MaxUnpool2d: each value goes back to the
    flat position in its (H, W) plane that its index names, every other entry is zero.

    Args:
        kernel_size, stride (defaults to kernel_size), padding: the pool's, ints or pairs.

    Shapes:
        input and indices (N, C, h, w) -> (N, C, H, W), H = (h - 1) stride - 2 padding +
        kernel_size unless forward's output_size (H, W) says otherwise.
    """

    function = staticmethod(F.max_unpool2d)


class AvgPool1d(Module):
    """Mean over windows of (N, C, L) or (C, L), as torch.nn.AvgPool1d.

    Args:
        kernel_size: the window length; stride defaults to it.
        stride, padding (zeros, at most half the kernel): ints.
        ceil_mode: round the output length up instead of down.
        count_include_pad: count the zero padding in each window's divisor.

    Shapes:
        (N, C, L) -> (N, C, L_out), L_out = (L + 2 padding - k) // stride + 1.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        _window(self, kernel_size, stride, padding, 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = flag("AvgPool1d", "ceil_mode", ceil_mode)
        self.count_include_pad = flag("AvgPool1d", "count_include_pad", count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        _check_map(self, x, 1)
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over windows of (N, C, H, W) or (C, H, W), as torch.nn.AvgPool2d.

    Args:
        kernel_size: an int or (h, w); stride defaults to it.
        stride, padding (zeros, at most half the kernel): ints or (h, w) pairs.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Shapes:
        (N, C, H, W) -> (N, C, oh, ow), oh = (H + 2 padding - kh) // stride + 1.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        _window(self, kernel_size, stride, padding, 2)
        # as PyTorch, a negative divisor is allowed (it flips the sign), zero is not
        if integer("AvgPool2d", "divisor_override", divisor_override, optional=True) == 0:
            raise ValueError("AvgPool2d: divisor_override must be None or a nonzero int, got 0")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = flag("AvgPool2d", "ceil_mode", ceil_mode)
        self.count_include_pad = flag("AvgPool2d", "count_include_pad", count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        _check_map(self, x, 2)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Adaptive(Module):
    function = None
    spatial = 2

    def __init__(self, output_size):
        name = type(self).__name__
        if self.spatial == 1:
            count(name, "output_size", output_size)
        elif output_size is not None:  # None, or per axis, keeps that input size
            sizes = (output_size,) * self.spatial if not isinstance(output_size, (
                tuple, list)) else output_size
            ints(name, "output_size", tuple(1 if n is None else n for n in sizes),
                 self.spatial)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        _check_map(self, x, self.spatial)
        return type(self).function(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_Adaptive):
    """Average pooling of (N, C, L) or (C, L) to a fixed length, as torch.nn.AdaptiveAvgPool1d:
    output i averages [floor(i L / out), ceil((i + 1) L / out)).

    Shapes:
        (N, C, L) -> (N, C, output_size).
    """

    function = staticmethod(F.adaptive_avg_pool1d)
    spatial = 1


class AdaptiveAvgPool2d(_Adaptive):
    """Average pooling of (N, C, H, W) or (C, H, W) to a fixed size, as
    torch.nn.AdaptiveAvgPool2d (output_size 1 is global average pooling).

    Args:
        output_size: (oh, ow), or an int for both; None keeps that input size.

    Shapes:
        (N, C, H, W) -> (N, C, oh, ow).
    """

    function = staticmethod(F.adaptive_avg_pool2d)


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = flag(type(self).__name__, "return_indices", return_indices)

    def forward(self, x: Tensor):
        _check_map(self, x, self.spatial)
        return type(self).function(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """Max pooling of (N, C, L) or (C, L) to a fixed length, as torch.nn.AdaptiveMaxPool1d.

    Args:
        output_size: the output length.
        return_indices: also return each maximum's position.

    Shapes:
        (N, C, L) -> (N, C, output_size).
    """

    function = staticmethod(F.adaptive_max_pool1d)
    spatial = 1


class AdaptiveMaxPool2d(_AdaptiveMax):
    """Max pooling of (N, C, H, W) or (C, H, W) to a fixed size, as torch.nn.AdaptiveMaxPool2d.

    Args:
        output_size: (oh, ow), or an int for both; None keeps that input size.
        return_indices: also return each maximum's flat position in its (H, W) plane.

    Shapes:
        (N, C, H, W) -> (N, C, oh, ow).
    """

    function = staticmethod(F.adaptive_max_pool2d)


class Upsample(Module):
    """Resample to a size or by a factor, as torch.nn.Upsample (F.interpolate as a layer).

    Args:
        size: the output size (an int for every axis or one per axis); or
        scale_factor: a multiplier (or one per axis).
        mode: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' or 'bicubic'
            (4-D input), 'trilinear' (5-D input) or 'area'.
        align_corners: interpolating modes only (see F.interpolate).
        recompute_scale_factor: with scale_factor, derive the sampling scale from the sizes.

    Shapes:
        (N, C, L), (N, C, H, W) or (N, C, D, H, W) -> (N, C, *output size).
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        if size is not None:
            ints("Upsample", "size", size, len(size) if isinstance(size, (tuple, list)) else 1)
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,)
        if scale_factor is not None:
            for factor in factors:
                number("Upsample", "scale_factor", factor, 0.0, above=True)
        self.size = size
        self.scale_factor = tuple(float(f) for f in scale_factor) if isinstance(
            scale_factor, (tuple, list)) else (float(scale_factor) if scale_factor else None)
        self.mode = choice("Upsample", "mode", mode, _MODES)
        self.align_corners = None if align_corners is None else flag(
            "Upsample", "align_corners", align_corners)
        self.recompute_scale_factor = None if recompute_scale_factor is None else flag(
            "Upsample", "recompute_scale_factor", recompute_scale_factor)

    def forward(self, x: Tensor) -> Tensor:
        check_input("Upsample", x, (3, 4, 5), floating=True)
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        text = (f"size={self.size}" if self.scale_factor is None
                else f"scale_factor={self.scale_factor}")
        return text + f", mode={self.mode!r}"


class PixelShuffle(Module):
    """Rearrange channels into space, as torch.nn.PixelShuffle (sub-pixel upsampling).

    Shapes:
        (*, C r^2, H, W) -> (*, C, H r, W r) with r = upscale_factor.
    """

    def __init__(self, upscale_factor: int):
        self.upscale_factor = count("PixelShuffle", "upscale_factor", upscale_factor)

    def forward(self, x: Tensor) -> Tensor:
        check_input("PixelShuffle", x)
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearrange space into channels, the inverse of PixelShuffle, as torch.nn.PixelUnshuffle.

    Shapes:
        (*, C, H r, W r) -> (*, C r^2, H, W) with r = downscale_factor.
    """

    def __init__(self, downscale_factor: int):
        self.downscale_factor = count("PixelUnshuffle", "downscale_factor", downscale_factor)

    def forward(self, x: Tensor) -> Tensor:
        check_input("PixelUnshuffle", x)
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
