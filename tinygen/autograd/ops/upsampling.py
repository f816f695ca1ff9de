"""Resampling: interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear,
area; antialiased bilinear and bicubic), pixel_shuffle and pixel_unshuffle, as compositions of
indexing, reshapes and products, so first and second derivatives come free.

interpolate resamples one axis at a time (every mode is separable): each output position
blends a few source entries ("taps") with weights that follow PyTorch's rules. They are
computed in the input's precision (float32 for float32 inputs, as PyTorch's kernels do), so a
float32 model resamples as its PyTorch twin: the nearest modes pick the same entries to the
bit, the blending modes agree to float32 rounding (PyTorch's kernels order and fuse the
products differently).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from tinygen.autograd.ops.arguments import positive, tensor_args
from tinygen.autograd.ops.elementwise import where
from tinygen.autograd.ops.pooling_adaptive import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_mean_along,
)
from tinygen.autograd.ops.shape import expand, getitem, permute, reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module

_MODES = {"nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "linear": (3,), "bilinear": (4,),
          "bicubic": (4,), "trilinear": (5,), "area": (3, 4, 5)}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
_ANTIALIASED = ("bilinear", "bicubic")
#: the cubic convolution kernel's parameter: PyTorch's bicubic uses Keys' -0.75, and its
#: antialiased bicubic -0.5 (as PIL does)
_CUBIC_A, _CUBIC_A_ANTIALIAS = -0.75, -0.5


#: The largest output side interpolate makes from a scale_factor (PyTorch's int32 index
#: limit); a larger one is a mistyped factor, not an image.
_LARGEST_SIDE = 2**31 - 1


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
        return tuple(positive("size", s, op="interpolate") for s in sizes), (None,) * spatial
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (
        scale_factor,) * spatial
    if len(scales) != spatial or not all(
            isinstance(s, Real) and not isinstance(s, bool) and 0 < s < math.inf
            for s in scales):
        raise ValueError(f"interpolate: scale_factor must be a positive number or {spatial} of "
                         f"them for a {input.ndim}-D input, got {scale_factor!r}")
    sizes = tuple(math.floor(float(n) * float(s)) for n, s in zip(input.shape[2:], scales))
    if max(sizes) > _LARGEST_SIDE:
        raise ValueError(f"interpolate: scale_factor={scale_factor!r} makes an output of "
                         f"sides {sizes}, each must be at most {_LARGEST_SIDE}")
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


def _source(dtype, size: int, out: int, scale, align_corners: bool, cubic: bool):
    """PyTorch's area_pixel_compute_source_index in ``dtype``: each output position's source
    coordinate; the linear modes clamp it at 0, bicubic does not (its taps clamp instead)."""
    dst = np.arange(out).astype(dtype)
    if align_corners:
        step = dtype.type(size - 1) / dtype.type(out - 1) if out > 1 else dtype.type(0)
        return step * dst
    half = dtype.type(0.5)
    source = _inverse_scale(dtype, size, out, scale) * (dst + half) - half
    return source if cubic else np.maximum(source, dtype.type(0))


def _linear_taps(dtype, size: int, out: int, scale, align_corners: bool):
    """PyTorch's linear rule (guard_index_and_lambda): the two source indices around each
    output position's source coordinate and their weights, as (out, 2) arrays."""
    source = _source(dtype, size, out, scale, align_corners, cubic=False)
    i0 = np.minimum(np.floor(source).astype(np.int64), size - 1)
    w1 = np.clip(source - i0.astype(dtype), dtype.type(0), dtype.type(1)).astype(dtype)
    i1 = i0 + (i0 < size - 1)
    return np.stack([i0, i1], axis=1), np.stack([(dtype.type(1) - w1).astype(dtype), w1], 1)


def _cubic_taps(dtype, size: int, out: int, scale, align_corners: bool):
    """PyTorch's bicubic rule along one axis: four taps at floor(source) - 1 ... + 2, clamped
    to the edge (the border pixel repeats), weighted by Keys' cubic convolution kernel (A =
    -0.75) at their distances t + 1, t, 1 - t, 2 - t from the source coordinate."""
    source = _source(dtype, size, out, scale, align_corners, cubic=True)
    # PyTorch floors the coordinate in float32 (floorf) whatever the dtype
    base = np.minimum(np.floor(source.astype(np.float32)).astype(np.int64), size - 1)
    t = np.clip(source - base.astype(dtype), dtype.type(0), dtype.type(1)).astype(dtype)
    a, one = dtype.type(_CUBIC_A), dtype.type(1)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + one

    def far(x):  # 1 <= |x| <= 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = np.stack([far(t + one), near(t), near(one - t), far((one - t) + one)], axis=1)
    index = np.clip(base[:, None] + np.arange(-1, 3), 0, size - 1)
    return index, weights.astype(dtype)


def _antialias_filter(x, cubic: bool):
    """The antialiasing kernels: the triangle (bilinear), or the cubic convolution kernel
    with A = -0.5 (bicubic), at distance x."""
    x = np.abs(x)
    if not cubic:
        return np.where(x < 1, 1 - x, 0)
    a = x.dtype.type(_CUBIC_A_ANTIALIAS)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0))


def _antialias_taps(dtype, size: int, out: int, scale, align_corners: bool, cubic: bool):
    """PyTorch's antialiased rule (its _upsample_bilinear2d_aa / _upsample_bicubic2d_aa): when
    shrinking by s > 1 the kernel is stretched s times (support 1 or 2 becomes s or 2 s), so
    every source pixel under an output pixel counts; the taps inside the input are weighted
    by the kernel at their distances from the output's centre and normalized to sum to 1.

    Returns:
        (index, weights, inside), each (out, taps): taps past a window's end carry index 0,
        weight 0 and inside False.
    """
    one, half = dtype.type(1), dtype.type(0.5)
    if align_corners:
        inverse = dtype.type(size - 1) / dtype.type(out - 1) if out > 1 else dtype.type(0)
    else:
        inverse = _inverse_scale(dtype, size, out, scale)
    support = dtype.type(2 if cubic else 1) * (inverse if inverse >= one else one)
    taps = int(math.ceil(support)) * 2 + 1
    centre = inverse * (np.arange(out).astype(dtype) + half)
    start = np.maximum(np.floor(centre - support + half).astype(np.int64), 0)
    count = np.clip(np.minimum(np.floor(centre + support + half).astype(np.int64), size)
                    - start, 0, taps)
    offsets = np.arange(taps)
    inside = offsets[None, :] < count[:, None]
    stretch = one / inverse if inverse >= one else one
    weights = _antialias_filter(((start[:, None] + offsets).astype(dtype) - centre[:, None]
                                 + half) * stretch, cubic).astype(dtype)
    weights = np.where(inside, weights, dtype.type(0))
    total = weights.sum(axis=1, keepdims=True)
    weights = np.where(total != 0, weights / np.where(total != 0, total, one), weights)
    index = np.where(inside, start[:, None] + offsets, 0)
    return index, weights.astype(dtype), inside


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


def _blend(x: Tensor, axis: int, index: np.ndarray, weights: np.ndarray, inside=None):
    """sum over taps t of x[..., index[:, t], ...] * weights[:, t] along ``axis``; a tap
    outside its window (``inside`` False) adds an exact 0, even where x is inf or NaN."""
    xp = get_array_module(x.data)
    trailing = (1,) * (x.ndim - 1 - axis)  # the weights broadcast over the later axes
    y = None
    for tap in range(index.shape[1]):
        w = Tensor._from_array(xp.asarray(weights[:, tap].reshape((-1,) + trailing)))
        term = _take(x, axis, xp.asarray(index[:, tap])) * w
        if inside is not None and not inside[:, tap].all():
            mask = Tensor._from_array(xp.asarray(inside[:, tap].reshape((-1,) + trailing)))
            term = where(mask, term, 0.0)
        y = term if y is None else y + term
    return y


def _resample_axis(x: Tensor, axis: int, out: int, scale, mode: str, align_corners: bool,
                   antialias: bool):
    size = x.shape[axis]
    dtype = np.dtype(x.dtype)
    if mode in ("nearest", "nearest-exact"):
        index = _nearest_index(size, out, scale, mode == "nearest-exact")
        if out % size == 0 and np.array_equal(index, np.arange(out) // (out // size)):
            return _repeat(x, axis, out // size)
        return _take(x, axis, get_array_module(x.data).asarray(index))
    if antialias:
        if out == size:  # PyTorch skips an axis whose size does not change
            return x
        return _blend(x, axis, *_antialias_taps(dtype, size, out, scale, align_corners,
                                                mode == "bicubic"))
    if mode == "bicubic":
        return _blend(x, axis, *_cubic_taps(dtype, size, out, scale, align_corners))
    return _blend(x, axis, *_linear_taps(dtype, size, out, scale, align_corners))


def _area(input: Tensor, sizes: tuple) -> Tensor:
    """Adaptive average pooling to ``sizes``: the 1-D and 2-D pools' own windows, and for a
    volume the mean over each box as means along one axis after another."""
    if input.ndim == 3:
        return adaptive_avg_pool1d(input, sizes[0])
    if input.ndim == 4:
        return adaptive_avg_pool2d(input, sizes)
    y = input
    for axis, out in enumerate(sizes, start=2):
        y = adaptive_mean_along(y, axis, out)
    return y


@tensor_args
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample (N, C, L), (N, C, H, W) or (N, C, D, H, W) to a new size, as
    torch.nn.functional.interpolate.

    Args:
        input: (N, C, L) for 'linear'; (N, C, H, W) for 'bilinear' and 'bicubic';
            (N, C, D, H, W) for 'trilinear'; any of the three for 'nearest', 'nearest-exact'
            and 'area'.
        size: the output size (an int for every axis, or one per axis); or
        scale_factor: a multiplier (or one per axis): output size floor(size * factor).
        mode: 'nearest' (PyTorch's floor(dst * in / out) rule), 'nearest-exact' (pixel
            centres), 'linear' / 'bilinear' / 'trilinear', 'bicubic' (Keys' cubic
            convolution, A = -0.75, the border pixels repeated), or 'area' (adaptive average
            pooling).
        align_corners: interpolating modes only; True maps the corner pixels' centres onto
            each other, False (the default) the corners themselves.
        recompute_scale_factor: with scale_factor, derive the kernels' scale from the sizes
            (in / out) rather than from 1 / scale_factor.
        antialias: 'bilinear' and 'bicubic' only: when shrinking an axis by s, stretch the
            kernel s times so every input pixel counts (PyTorch's antialiased kernels, with
            A = -0.5 for bicubic); an axis whose size does not change is left as it is.

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
    if antialias and mode not in _ANTIALIASED:
        raise ValueError(f"interpolate: antialias=True needs mode 'bilinear' or 'bicubic' (a "
                         f"4-D input), got mode={mode!r}")
    if mode not in ("nearest", "nearest-exact") and input.dtype.kind != "f":
        raise TypeError(f"interpolate: mode {mode!r} needs a floating input, got dtype "
                        f"{input.dtype}")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return _area(input, sizes)
    # along W first, then H, then D: the order of PyTorch's separable kernels
    y = input
    for axis in reversed(range(2, input.ndim)):
        y = _resample_axis(y, axis, sizes[axis - 2], scales[axis - 2], mode,
                           bool(align_corners), bool(antialias))
    return y


def _shuffle_factor(op: str, name: str, value, x: Tensor) -> int:
    factor = positive(name, value, op=op)
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have at least 3 axes (*, C, H, W), got shape "
                         f"{x.shape}")
    return factor


@tensor_args
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


@tensor_args
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
