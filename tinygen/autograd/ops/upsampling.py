"""Resampling: interpolate (nearest, linear, bilinear, area), pixel_shuffle and
pixel_unshuffle, as compositions of indexing, reshapes and products, so first and second
derivatives come free.

interpolate resamples one axis at a time (a bilinear map is separable). Its source indices
and blend weights follow PyTorch's rules to the bit: they are computed in the input's
precision (float32 for float32 inputs, as PyTorch's kernels do), so a float32 model upsamples
exactly as its PyTorch twin.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from tinygen.autograd.ops.arguments import positive
from tinygen.autograd.ops.pooling import adaptive_avg_pool1d, adaptive_avg_pool2d
from tinygen.autograd.ops.shape import expand, getitem, permute, reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

_MODES = {"nearest": (3, 4), "nearest-exact": (3, 4), "linear": (3,), "bilinear": (4,),
          "area": (3, 4)}
_INTERPOLATING = ("linear", "bilinear")


def _output_sizes(input: Tensor, size, scale_factor, recompute_scale_factor):
    """The output sizes, and the scales PyTorch's kernels use (None: input / output)."""
    spatial = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r} and scale_factor={scale_factor!r}")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        if len(sizes) != spatial:
            raise ValueError(f"interpolate: size must have {spatial} entries for a "
                             f"{input.ndim}-D input, got {size!r}")
        return tuple(positive("size", s) for s in sizes), (None,) * spatial
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (
        scale_factor,) * spatial
    if len(scales) != spatial or not all(
            isinstance(s, Real) and not isinstance(s, bool) and s > 0 for s in scales):
        raise ValueError(f"interpolate: scale_factor must be a positive number or {spatial} of "
                         f"them for a {input.ndim}-D input, got {scale_factor!r}")
    sizes = tuple(math.floor(float(n) * float(s)) for n, s in zip(input.shape[2:], scales))
    if min(sizes) < 1:
        raise ValueError(f"interpolate: scale_factor={scale_factor!r} makes an empty output "
                         f"{sizes} from the input {tuple(input.shape[2:])}")
    return sizes, (None,) * spatial if recompute_scale_factor else tuple(map(float, scales))


def _inverse_scale(dtype, size: int, out: int, scale):
    """PyTorch's compute_scales_value: 1 / scale_factor when given, else size / out, in the
    kernel's precision."""
    return dtype.type(1.0 / scale) if scale is not None and scale > 0 else (
        dtype.type(size) / dtype.type(out))


def _nearest_index(size: int, out: int, scale, exact: bool) -> np.ndarray:
    """The source index of each output position (PyTorch's nearest_idx; nearest-exact
    samples at pixel centres). Always computed in float32, as PyTorch does."""
    f32 = np.dtype(np.float32)
    dst = np.arange(out)
    if not exact and out == size:
        return dst
    if not exact and out == 2 * size:
        return dst >> 1
    inverse = _inverse_scale(f32, size, out, scale)
    # nearest: float32 dst * scale; nearest-exact: (dst + 0.5) in float64, then to float32
    source = (dst.astype(np.float64) + 0.5) * np.float64(inverse) if exact else (
        dst.astype(np.float32) * inverse)
    return np.minimum(np.floor(source.astype(np.float32)).astype(np.int64), size - 1)


def _linear_weights(dtype, size: int, out: int, scale, align_corners: bool):
    """PyTorch's area_pixel_compute_source_index and guard_index_and_lambda, in ``dtype``:
    (i0, i1, w0, w1), the two source indices and their weights per output position."""
    dst = np.arange(out).astype(dtype)
    if align_corners:
        step = dtype.type(size - 1) / dtype.type(out - 1) if out > 1 else dtype.type(0)
        source = step * dst
    else:
        half = dtype.type(0.5)
        source = np.maximum(_inverse_scale(dtype, size, out, scale) * (dst + half) - half,
                            dtype.type(0))
    i0 = np.minimum(np.floor(source).astype(np.int64), size - 1)
    w1 = np.clip(source - i0.astype(dtype), dtype.type(0), dtype.type(1)).astype(dtype)
    i1 = i0 + (i0 < size - 1)
    return i0, i1, (dtype.type(1) - w1).astype(dtype), w1


def _take(x: Tensor, axis: int, index) -> Tensor:
    return getitem(x, (slice(None),) * axis + (index,))


def _repeat(x: Tensor, axis: int, times: int) -> Tensor:
    """Each entry along ``axis`` repeated ``times`` times: a reshape and an expand, whose
    gradient (a sum over each block) is cheaper than a scatter."""
    shape = x.shape
    # (..., L, ...) -> (..., L, 1, ...) -> (..., L, times, ...) -> (..., L*times, ...)
    blocks = expand(reshape(x, shape[:axis + 1] + (1,) + shape[axis + 1:]),
                    shape[:axis + 1] + (times,) + shape[axis + 1:])
    return reshape(blocks, shape[:axis] + (shape[axis] * times,) + shape[axis + 1:])


def _resample_axis(x: Tensor, axis: int, out: int, scale, mode: str, align_corners: bool):
    size = x.shape[axis]
    xp = get_array_module(x.data)
    if mode in ("nearest", "nearest-exact"):
        index = _nearest_index(size, out, scale, mode == "nearest-exact")
        if out % size == 0 and np.array_equal(index, np.arange(out) // (out // size)):
            return _repeat(x, axis, out // size)
        return _take(x, axis, xp.asarray(index))
    i0, i1, w0, w1 = _linear_weights(np.dtype(x.dtype), size, out, scale, align_corners)
    trailing = (1,) * (x.ndim - 1 - axis)  # the weights broadcast over the later axes
    w0, w1 = (Tensor._from_array(xp.asarray(w.reshape((out,) + trailing))) for w in (w0, w1))
    return _take(x, axis, xp.asarray(i0)) * w0 + _take(x, axis, xp.asarray(i1)) * w1


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample (N, C, L) or (N, C, H, W) to a new size, as
    torch.nn.functional.interpolate.

    Args:
        input: (N, C, L) for 'nearest', 'nearest-exact', 'linear' and 'area';
            (N, C, H, W) for 'nearest', 'nearest-exact', 'bilinear' and 'area'.
        size: the output size (an int for every axis, or one per axis); or
        scale_factor: a multiplier (or one per axis): output size floor(size * factor).
        mode: 'nearest' (PyTorch's floor(dst * in / out) rule), 'nearest-exact' (pixel
            centres), 'linear' / 'bilinear', or 'area' (adaptive average pooling).
        align_corners: linear modes only; True maps the corner pixels' centres onto each
            other, False (the default) the corners themselves, clamping at the edge.
        recompute_scale_factor: with scale_factor, derive the kernels' scale from the sizes
            (in / out) rather than from 1 / scale_factor.
        antialias: must be False.

    Returns:
        (N, C, *output size), the input's dtype.
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode must be one of {sorted(_MODES)}, got "
                                  f"{mode!r}")
    if input.ndim not in _MODES[mode]:
        layouts = " or ".join(f"{n}-D" for n in _MODES[mode])
        raise NotImplementedError(f"interpolate: mode {mode!r} needs a {layouts} input, got "
                                  f"shape {input.shape}")
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError("interpolate: align_corners can only be set with the interpolating "
                         f"modes {_INTERPOLATING}, got mode={mode!r}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return (adaptive_avg_pool1d if input.ndim == 3 else adaptive_avg_pool2d)(
            input, sizes[0] if input.ndim == 3 else sizes)
    # along W first, then H: the order of PyTorch's float operations, so float32 results
    # match it to the bit
    y = input
    for axis in reversed(range(2, input.ndim)):
        y = _resample_axis(y, axis, sizes[axis - 2], scales[axis - 2], mode,
                           bool(align_corners))
    return y


def _shuffle_factor(op: str, name: str, value, x: Tensor) -> int:
    factor = positive(name, value)
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have at least 3 axes (*, C, H, W), got shape "
                         f"{x.shape}")
    return factor


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r), as torch.nn.functional.pixel_shuffle:
    output pixel (h r + i, w r + j) of channel c is input channel c r^2 + i r + j at (h, w).

    Args:
        input: (*, C r^2, H, W).
        upscale_factor: r.

    Returns:
        (*, C, H r, W r).
    """
    r = _shuffle_factor("pixel_shuffle", "upscale_factor", upscale_factor, input)
    *lead, channels, h, w = input.shape
    if channels % (r * r):
        raise ValueError(f"pixel_shuffle: the channel axis ({channels}) must be divisible by "
                         f"upscale_factor^2 = {r * r}, got input shape {input.shape}")
    k = len(lead)
    # (*, C r^2, H, W) -> (*, C, r, r, H, W) -> (*, C, H, r, W, r) -> (*, C, H r, W r)
    y = reshape(input, (*lead, channels // (r * r), r, r, h, w))
    y = permute(y, (*range(k), k, k + 3, k + 1, k + 4, k + 2))
    return reshape(y, (*lead, channels // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W), the inverse of pixel_shuffle, as
    torch.nn.functional.pixel_unshuffle.

    Args:
        input: (*, C, H r, W r).
        downscale_factor: r.

    Returns:
        (*, C r^2, H, W).
    """
    r = _shuffle_factor("pixel_unshuffle", "downscale_factor", downscale_factor, input)
    *lead, channels, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: the height and width must be divisible by "
                         f"downscale_factor = {r}, got input shape {input.shape}")
    k = len(lead)
    # (*, C, H r, W r) -> (*, C, H, r, W, r) -> (*, C, r, r, H, W) -> (*, C r^2, H, W)
    y = reshape(input, (*lead, channels, h // r, r, w // r, r))
    y = permute(y, (*range(k), k, k + 2, k + 4, k + 1, k + 3))
    return reshape(y, (*lead, channels * r * r, h // r, w // r))
