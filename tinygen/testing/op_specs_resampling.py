"""Specs for the resampling ops: interpolate in every mode (nearest, nearest-exact, linear,
bilinear, trilinear, bicubic, area, antialiased bilinear and bicubic) on 3-D, 4-D and 5-D
inputs, and pixel (un)shuffle.

Each reference is written from PyTorch's documented definition, one output entry at a time:
per axis, the source taps of an output position and their weights; the output entry is the
sum over every combination of one tap per axis of the product of their weights times that
input entry. No code is shared with the ops they check.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import upsampling
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, floats

REAL = floats(-2.0, 2.0)


# --------------------------------------------------------------------------- interpolate
def _target(x, size, scale_factor, recompute_scale_factor):
    """Per axis: the output size, and the scale the index rules use (in / out, or
    1 / scale_factor when a factor is given and not recomputed)."""
    spatial = x.ndim - 2
    if size is not None:
        outs = size if isinstance(size, tuple) else (size,) * spatial
        return [(o, n / o) for o, n in zip(outs, x.shape[2:])]
    factors = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * spatial
    outs = [math.floor(n * f) for n, f in zip(x.shape[2:], factors)]
    if recompute_scale_factor:
        return [(o, n / o) for o, n in zip(outs, x.shape[2:])]
    return [(o, 1.0 / f) for o, f in zip(outs, factors)]


def _nearest_taps(dst, size, out, scale, exact):
    """PyTorch's nearest rule, in float32: floor(dst * scale) (nearest-exact: at pixel
    centres, floor((dst + 0.5) * scale)), clamped; exact copies when out is size or 2 size."""
    if not exact and out == size:
        return ((dst, 1.0),)
    if not exact and out == 2 * size:
        return ((dst // 2, 1.0),)
    source = np.float32((dst + 0.5) * np.float64(np.float32(scale))) if exact else (
        np.float32(dst) * np.float32(scale))
    return ((min(int(np.floor(source)), size - 1), 1.0),)


def _corner_scale(size, out):
    """align_corners: the corner pixels' centres map onto each other."""
    return (size - 1) / (out - 1) if out > 1 else 0.0


def _linear_taps(dst, size, out, scale, align_corners):
    """PyTorch's linear rule: the source coordinate (clamped at 0) and the two taps blended."""
    if align_corners:
        source = dst * _corner_scale(size, out)
    else:
        source = max(scale * (dst + 0.5) - 0.5, 0.0)
    low = min(int(np.floor(source)), size - 1)
    weight = min(max(source - low, 0.0), 1.0)
    return ((low, 1.0 - weight), (min(low + 1, size - 1), weight))


def _keys(distance, a):
    """Keys' cubic convolution kernel with parameter a."""
    d = abs(distance)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def _cubic_taps(dst, size, out, scale, align_corners):
    """PyTorch's bicubic rule: the unclamped source coordinate, the four pixels around it
    (an index past the border reads the border pixel), Keys' kernel with a = -0.75."""
    source = dst * _corner_scale(size, out) if align_corners else scale * (dst + 0.5) - 0.5
    base = math.floor(source)
    return tuple((min(max(base + k, 0), size - 1), _keys(source - (base + k), -0.75))
                 for k in (-1, 0, 1, 2))


def _antialias_taps(dst, size, out, scale, align_corners, cubic):
    """PyTorch's antialiased rule: the triangle (or Keys' kernel with a = -0.5) stretched by
    the shrink factor s >= 1, over the input pixels within its support of the output pixel's
    centre, the weights normalized to sum to 1; an axis of unchanged size is copied."""
    if out == size:
        return ((dst, 1.0),)
    if align_corners:
        scale = _corner_scale(size, out)
    stretch = max(scale, 1.0)
    support = (2.0 if cubic else 1.0) * stretch
    centre = scale * (dst + 0.5)
    first = max(math.floor(centre - support + 0.5), 0)
    last = min(math.floor(centre + support + 0.5), size)
    kernel = (lambda d: _keys(d, -0.5)) if cubic else (lambda d: max(1.0 - abs(d), 0.0))
    weights = [kernel((j - centre + 0.5) / stretch) for j in range(first, last)]
    total = sum(weights)
    return tuple((j, w / total if total else w) for j, w in zip(range(first, last), weights))


def _area_reference(x, outs):
    """Output entry i averages [floor(i n / o), ceil((i + 1) n / o)) along each axis."""
    y = np.empty(x.shape[:2] + tuple(outs))
    for index in np.ndindex(*outs):
        box = tuple(slice(math.floor(i * n / o), math.ceil((i + 1) * n / o))
                    for i, n, o in zip(index, x.shape[2:], outs))
        y[(slice(None), slice(None)) + index] = x[(slice(None), slice(None)) + box].mean(
            axis=tuple(range(2, x.ndim)))
    return y


def _interpolate_reference(x, size=None, scale_factor=None, mode="nearest",
                           align_corners=None, recompute_scale_factor=None, antialias=False):
    targets = _target(x, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return _area_reference(x, [o for o, _ in targets])

    def taps(i, n, o, s):
        if mode.startswith("nearest"):
            return _nearest_taps(i, n, o, s, mode == "nearest-exact")
        if antialias:
            return _antialias_taps(i, n, o, s, bool(align_corners), mode == "bicubic")
        if mode == "bicubic":
            return _cubic_taps(i, n, o, s, bool(align_corners))
        return _linear_taps(i, n, o, s, bool(align_corners))

    y = np.zeros(x.shape[:2] + tuple(o for o, _ in targets))
    for index in np.ndindex(*y.shape[2:]):
        per_axis = [taps(i, n, o, s) for i, n, (o, s) in zip(index, x.shape[2:], targets)]
        for corner in np.ndindex(*(len(t) for t in per_axis)):
            source = tuple(per_axis[a][c][0] for a, c in enumerate(corner))
            weight = math.prod(per_axis[a][c][1] for a, c in enumerate(corner))
            y[(slice(None), slice(None)) + index] += weight * x[(slice(None), slice(None))
                                                                + source]
    return y


def _volumes(spatial: int):
    """(N, C, *sizes): sides 2-6 for 1-D and 2-D inputs, 2-3 for volumes (every drawn case is
    gradient-checked twice)."""
    sides = st.integers(2, 3 if spatial == 3 else 6)
    return st.tuples(st.just(2), st.integers(1, 2), *(sides,) * spatial)


def _interpolate_kwargs(modes, corners, antialias=False):
    @st.composite
    def draw_kwargs(draw, arrays_):
        spatial = arrays_[0].ndim - 2
        kwargs = {"mode": draw(st.sampled_from(modes(spatial)))}
        most = 4 if spatial == 3 else 7
        if draw(st.booleans()):
            kwargs["size"] = draw(st.one_of(st.integers(1, most),
                                            st.tuples(*[st.integers(1, most)] * spatial)))
        else:
            factors = [0.3, 0.5, 0.75, 1.0, 1.5, 2.0] if antialias else [
                0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0]
            # a factor must leave every axis one entry at least (0.3 needs a side of 4)
            fitting = [[f for f in factors if math.floor(n * f) >= 1 and (
                spatial < 3 or f <= 2.0)] for n in arrays_[0].shape[2:]]
            common = [f for f in fitting[0] if all(f in fits for fits in fitting)]
            kwargs["scale_factor"] = draw(st.one_of(
                st.sampled_from(common), st.tuples(*map(st.sampled_from, fitting))))
            kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
        if corners:
            kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
        if antialias:
            kwargs["antialias"] = True
        return kwargs

    return lambda arrays_: draw_kwargs(arrays_)


def _inputs(*spatial_axes):
    return st.tuples(arrays(st.one_of(*(_volumes(s) for s in spatial_axes)), elements=REAL))


_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}

register(OpSpec("interpolate_nearest", upsampling.interpolate, _interpolate_reference,
                _inputs(1, 2, 3),
                kwargs=_interpolate_kwargs(lambda spatial: ["nearest", "nearest-exact"],
                                           corners=False)))
register(OpSpec("interpolate_linear", upsampling.interpolate, _interpolate_reference,
                _inputs(1, 2, 3),
                kwargs=_interpolate_kwargs(lambda spatial: [_LINEAR_MODES[spatial]],
                                           corners=True)))
register(OpSpec("interpolate_area", upsampling.interpolate, _interpolate_reference,
                _inputs(1, 2, 3), kwargs=_interpolate_kwargs(lambda spatial: ["area"],
                                                             corners=False)))
register(OpSpec("interpolate_bicubic", upsampling.interpolate, _interpolate_reference,
                _inputs(2), kwargs=_interpolate_kwargs(lambda spatial: ["bicubic"],
                                                       corners=True)))
register(OpSpec("interpolate_antialias", upsampling.interpolate, _interpolate_reference,
                _inputs(2),
                kwargs=_interpolate_kwargs(lambda spatial: ["bilinear", "bicubic"],
                                           corners=True, antialias=True)))


# --------------------------------------------------------------------------- pixel shuffle
def _pixel_shuffle_reference(x, upscale_factor):
    """out[..., c, h r + i, w r + j] = x[..., c r^2 + i r + j, h, w]."""
    r = upscale_factor
    *lead, channels, h, w = x.shape
    y = np.empty((*lead, channels // (r * r), h * r, w * r))
    for c in range(channels // (r * r)):
        for i in range(r):
            for j in range(r):
                y[..., c, i::r, j::r] = x[..., c * r * r + i * r + j, :, :]
    return y


def _pixel_unshuffle_reference(x, downscale_factor):
    """out[..., c r^2 + i r + j, h, w] = x[..., c, h r + i, w r + j]."""
    r = downscale_factor
    *lead, channels, h, w = x.shape
    y = np.empty((*lead, channels * r * r, h // r, w // r))
    for c in range(channels):
        for i in range(r):
            for j in range(r):
                y[..., c * r * r + i * r + j, :, :] = x[..., c, i::r, j::r]
    return y


def _shuffle_inputs(unshuffle: bool):
    """(x,) with room for a factor r of 1-3: C r^2 channels (shuffle) or H r, W r (unshuffle)."""

    def shape(drawn):
        lead, channels, r, h, w = drawn
        return (*lead, channels, h * r, w * r) if unshuffle else (*lead, channels * r * r, h, w)

    sizes = st.tuples(st.sampled_from([(), (2,), (1, 2)]), st.integers(1, 2), st.integers(1, 3),
                      st.integers(1, 3), st.integers(1, 3))
    return st.tuples(arrays(sizes.map(shape), elements=REAL))


def _shuffle_factors(unshuffle: bool):
    """The factors that fit the drawn x: r^2 dividing C, or r dividing H and W."""

    def draw_kwargs(arrays_):
        channels, h, w = arrays_[0].shape[-3:]
        fits = [r for r in (1, 2, 3) if (h % r == 0 and w % r == 0 if unshuffle
                                          else channels % (r * r) == 0)]
        name = "downscale_factor" if unshuffle else "upscale_factor"
        return st.fixed_dictionaries({name: st.sampled_from(fits)})

    return draw_kwargs


register(OpSpec("pixel_shuffle", upsampling.pixel_shuffle, _pixel_shuffle_reference,
                _shuffle_inputs(False), kwargs=_shuffle_factors(False)))
register(OpSpec("pixel_unshuffle", upsampling.pixel_unshuffle, _pixel_unshuffle_reference,
                _shuffle_inputs(True), kwargs=_shuffle_factors(True)))
