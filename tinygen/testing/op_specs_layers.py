"""Specs for the ops behind the PyTorch layers beyond the core kernels: 1-D and unbatched
convolutions, 'same' padding, 1-D and 2-D pooling (ceil mode, dilation, padding counted or
not), adaptive pooling, interpolate, pixel (un)shuffle and channel dropout.

Each reference is written from PyTorch's documented definition, one output entry at a time
(the window bounds, the source index rules), sharing no code with the ops it checks.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import conv, dropout, pooling, pooling_adaptive, upsampling
from tinygen.autograd.ops.conv.reference import reference_conv2d, reference_conv_transpose2d
from tinygen.backend import manual_seed
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, distinct_arrays, floats

REAL = floats(-2.0, 2.0)


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _unbatched(reference, batched_ndim: int):
    """A reference for batched inputs, extended to an input without its N axis."""

    def run(x, *args, **kwargs):
        if x.ndim == batched_ndim:
            return reference(x, *args, **kwargs)
        result = reference(x[None], *args, **kwargs)
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]

    return run


# --------------------------------------------------------------------------- convolutions
def _conv1d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, t] = b[o] + sum over o's group's channels c and taps j of
    W[o, c, j] x_padded[n, c, t s + j d]."""
    out_channels, c_group, k = weight.shape
    if padding == "same":  # d (k - 1) in all, the odd one at the end
        before, after = dilation * (k - 1) // 2, dilation * (k - 1) - dilation * (k - 1) // 2
    else:
        before = after = 0 if padding == "valid" else padding
    padded = np.pad(x, ((0, 0), (0, 0), (before, after)))
    length = (padded.shape[2] - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((x.shape[0], out_channels, length))
    per_group = out_channels // groups
    for o in range(out_channels):
        channels = slice((o // per_group) * c_group, (o // per_group + 1) * c_group)
        for t in range(length):
            for j in range(k):
                y[:, o, t] += padded[:, channels, t * stride + j * dilation] @ weight[o, :, j]
    return y if bias is None else y + bias[:, None]


def _conv_transpose1d_reference(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                                groups=1, dilation=1):
    """Every input entry scatters its kernel-weighted value: x[n, c, t] W[c, o, j] lands on
    position t s + j d, before the padding is cut from both ends."""
    c_in, out_group, k = weight.shape
    full = (x.shape[2] - 1) * stride + dilation * (k - 1) + 1 + output_padding
    y = np.zeros((x.shape[0], out_group * groups, full))
    in_group = c_in // groups
    for c in range(c_in):
        outputs = slice((c // in_group) * out_group, (c // in_group + 1) * out_group)
        for t in range(x.shape[2]):
            for j in range(k):
                y[:, outputs, t * stride + j * dilation] += x[:, c, t][:, None] * weight[c, :, j]
    y = y[:, :, padding:full - padding]
    return y if bias is None else y + bias[:, None]


@st.composite
def _conv1d_arrays(draw, transposed: bool):
    """(x, weight, bias): batch 1-2 or unbatched, groups of 1 or 2, kernels 1-3."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = draw(st.integers(1, 3))
    length = draw(st.integers(kernel, kernel + 4))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    w_shape = (c_in, c_out // groups, kernel) if transposed else (c_out, c_in // groups, kernel)
    return (draw(arrays(batch + (c_in, length), elements=REAL)),
            draw(arrays(w_shape, elements=REAL)), draw(arrays((c_out,), elements=REAL)))


def _conv1d_kwargs(transposed: bool):
    @st.composite
    def draw_kwargs(draw, arrays_):
        x, weight, bias = arrays_
        kernel, length = weight.shape[2], x.shape[-1]
        groups = bias.shape[0] // weight.shape[1] if transposed else x.shape[-2] // weight.shape[1]
        dilation = draw(st.sampled_from([d for d in (1, 2) if d * (kernel - 1) + 1 <= length]))
        stride = draw(st.integers(1, 2))
        paddings = [st.integers(0, dilation * (kernel - 1) // 2)]
        if not transposed:
            paddings.append(st.just("valid"))
            if stride == 1:
                paddings.append(st.just("same"))
        kwargs = {"stride": stride, "padding": draw(st.one_of(*paddings)),
                  "dilation": dilation, "groups": groups}
        if transposed:
            kwargs["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
        return kwargs

    return lambda arrays_: draw_kwargs(arrays_)


register(OpSpec("conv1d", conv.conv1d, _unbatched(_conv1d_reference, 3),
                _conv1d_arrays(False), kwargs=_conv1d_kwargs(False)))
register(OpSpec("conv_transpose1d", conv.conv_transpose1d,
                _unbatched(_conv_transpose1d_reference, 3), _conv1d_arrays(True),
                kwargs=_conv1d_kwargs(True)))


def _same_reference(x, weight, bias, dilation):
    """conv2d with padding='same': the total d (k - 1) per axis, the odd one at the end."""
    pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                 for d, k in zip((dilation, dilation), weight.shape[2:]))
    return reference_conv2d(x, weight, bias, 1, pads, dilation)


@st.composite
def _unbatched_conv2d_arrays(draw, transposed: bool):
    """(x (C, H, W), weight, bias), groups of 1."""
    c_in, c_out, kernel = (draw(st.integers(1, 2)) for _ in range(3))
    size = draw(st.integers(kernel + 1, kernel + 3))
    w_shape = (c_in, c_out, kernel, kernel) if transposed else (c_out, c_in, kernel, kernel)
    return (draw(arrays((c_in, size, size), elements=REAL)),
            draw(arrays(w_shape, elements=REAL)), draw(arrays((c_out,), elements=REAL)))


def _strided(arrays_):
    """A stride, and a padding of at most half the kernel (a transposed conv's output must
    keep at least one pixel)."""
    return st.fixed_dictionaries({"stride": st.integers(1, 2),
                                  "padding": st.integers(0, (arrays_[1].shape[2] - 1) // 2)})


register(OpSpec(
    "conv2d_unbatched", conv.conv2d,
    lambda x, w, b, **kw: reference_conv2d(x[None], w, b, **kw)[0],
    _unbatched_conv2d_arrays(False), kwargs=_strided))
register(OpSpec(
    "conv_transpose2d_unbatched", conv.conv_transpose2d,
    lambda x, w, b, **kw: reference_conv_transpose2d(x[None], w, b, **kw)[0],
    _unbatched_conv2d_arrays(True), kwargs=_strided))
register(OpSpec(
    "conv2d_same", conv.conv2d,
    lambda x, w, b, dilation: _same_reference(x[None], w, b, dilation)[0],
    _unbatched_conv2d_arrays(False),
    kwargs=st.fixed_dictionaries({"dilation": st.sampled_from([1, 2])}),
    call=lambda x, w, b, dilation: conv.conv2d(x, w, b, padding="same", dilation=dilation)))


# --------------------------------------------------------------------------- pooling
def _pooled_length(size, kernel, stride, pad, dilation, ceil_mode) -> int:
    """PyTorch's pooled length: ceil mode adds a last partial window only if it starts
    inside the input or its start-side padding."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * pad - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    return out - 1 if ceil_mode and (out - 1) * stride >= size + pad else out


def _max_pool2d_reference(x, kernel_size, stride=None, padding=0, dilation=1,
                          ceil_mode=False):
    """The max over the taps of each window that fall inside the input."""
    k, p, d = _pair(kernel_size), _pair(padding), _pair(dilation)
    s = k if stride is None else _pair(stride)
    outs = [_pooled_length(x.shape[2 + a], k[a], s[a], p[a], d[a], ceil_mode) for a in (0, 1)]
    y = np.empty(x.shape[:2] + tuple(outs))
    for i in range(outs[0]):
        for j in range(outs[1]):
            rows = [r for r in i * s[0] - p[0] + d[0] * np.arange(k[0]) if 0 <= r < x.shape[2]]
            cols = [c for c in j * s[1] - p[1] + d[1] * np.arange(k[1]) if 0 <= c < x.shape[3]]
            y[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
    return y


def _avg_pool2d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                          count_include_pad=True, divisor_override=None):
    """Each window's sum over the input, divided as PyTorch divides: by the override, or by
    the window's size clipped to the padded input (padding counted), or to the input."""
    k, p = _pair(kernel_size), _pair(padding)
    s = k if stride is None else _pair(stride)
    h, w = x.shape[2:]
    outs = [_pooled_length(x.shape[2 + a], k[a], s[a], p[a], 1, ceil_mode) for a in (0, 1)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    for i in range(outs[0]):
        for j in range(outs[1]):
            top, left = i * s[0] - p[0], j * s[1] - p[1]
            bottom, right = min(top + k[0], h + p[0]), min(left + k[1], w + p[1])
            padded_taps = (bottom - top) * (right - left)
            top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
            if top >= bottom or left >= right:
                continue
            divisor = divisor_override or (padded_taps if count_include_pad
                                           else (bottom - top) * (right - left))
            y[:, :, i, j] = x[:, :, top:bottom, left:right].sum(axis=(2, 3)) / divisor
    return y


def _one_d(reference):
    """A 2-D pooling reference applied to (N, C, L) as (N, C, 1, L) with (1, k) windows."""

    def run(x, kernel_size, stride=None, padding=0, **kwargs):
        if "dilation" in kwargs:
            kwargs["dilation"] = (1, kwargs["dilation"])
        return reference(x[:, :, None, :], (1, kernel_size),
                         None if stride is None else (1, stride), (0, padding), **kwargs)[:, :, 0]

    return run


def _images(spatial: int, batched: bool | None = None):
    """Shapes (N, C, *sizes) or without N: 1-D lengths 2-6, 2-D sides 2-5."""
    sides = st.integers(2, 6 if spatial == 1 else 5)
    lead = st.sampled_from([(), (1,), (2,)]) if batched is None else st.just(
        (2,) if batched else ())
    return st.tuples(lead, st.integers(1, 2), *(sides,) * spatial).map(
        lambda drawn: drawn[0] + drawn[1:])


def _pool_kwargs(spatial: int, max_pool: bool):
    @st.composite
    def draw_kwargs(draw, arrays_):
        sizes = arrays_[0].shape[-spatial:]
        kernel = draw(st.integers(1, min(3, *sizes)))
        kwargs = {"kernel_size": kernel,
                  "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
                  "padding": draw(st.integers(0, kernel // 2)),
                  "ceil_mode": draw(st.booleans())}
        if max_pool:
            kwargs["dilation"] = draw(st.sampled_from(
                [d for d in (1, 2) if d * (kernel - 1) + 1 <= min(sizes)]))
        else:
            kwargs["count_include_pad"] = draw(st.booleans())
            if spatial == 2:
                kwargs["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
        return kwargs

    return lambda arrays_: draw_kwargs(arrays_)


register(OpSpec("max_pool2d_ceil_dilated", pooling.max_pool2d,
                _unbatched(_max_pool2d_reference, 4),
                st.tuples(distinct_arrays(shape=_images(2))),
                kwargs=_pool_kwargs(2, max_pool=True)))
register(OpSpec("avg_pool2d_ceil_counted", pooling.avg_pool2d,
                _unbatched(_avg_pool2d_reference, 4),
                st.tuples(arrays(_images(2), elements=REAL)),
                kwargs=_pool_kwargs(2, max_pool=False)))
register(OpSpec("max_pool1d", pooling.max_pool1d, _unbatched(_one_d(_max_pool2d_reference), 3),
                st.tuples(distinct_arrays(shape=_images(1))),
                kwargs=_pool_kwargs(1, max_pool=True)))
register(OpSpec("avg_pool1d", pooling.avg_pool1d, _unbatched(_one_d(_avg_pool2d_reference), 3),
                st.tuples(arrays(_images(1), elements=REAL)),
                kwargs=_pool_kwargs(1, max_pool=False)))


# --------------------------------------------------------------------------- adaptive
def _adaptive_reference(x, output_size, reduce):
    """Output (i, j) reduces rows [floor(i H / oh), ceil((i + 1) H / oh)) and the columns
    likewise; a 3-D x is one row of length L."""
    spatial = x.ndim - 2
    sizes = x.shape[2:]
    outs = _pair(output_size) if spatial == 2 else (output_size,)
    outs = tuple(n if o is None else o for o, n in zip(outs, sizes))
    y = np.empty(x.shape[:2] + outs)
    for index in np.ndindex(*outs):
        window = tuple(slice(math.floor(i * n / o), math.ceil((i + 1) * n / o))
                       for i, n, o in zip(index, sizes, outs))
        y[(slice(None), slice(None)) + index] = reduce(
            x[(slice(None), slice(None)) + window].reshape(x.shape[:2] + (-1,)), axis=-1)
    return y


def _adaptive_kwargs(spatial: int):
    def draw_kwargs(arrays_):
        outs = st.integers(1, 5)
        if spatial == 1:
            return st.fixed_dictionaries({"output_size": outs})
        return st.fixed_dictionaries({"output_size": st.one_of(
            outs, st.tuples(st.one_of(st.none(), outs), st.one_of(st.none(), outs)))})

    return draw_kwargs


for _spatial, _avg, _max in ((1, pooling_adaptive.adaptive_avg_pool1d,
                              pooling_adaptive.adaptive_max_pool1d),
                             (2, pooling_adaptive.adaptive_avg_pool2d,
                              pooling_adaptive.adaptive_max_pool2d)):
    register(OpSpec(
        _avg.__name__, _avg,
        _unbatched(lambda x, output_size: _adaptive_reference(x, output_size, np.mean),
                   _spatial + 2),
        st.tuples(arrays(_images(_spatial), elements=REAL)), kwargs=_adaptive_kwargs(_spatial)))
    register(OpSpec(
        _max.__name__, _max,
        _unbatched(lambda x, output_size: _adaptive_reference(x, output_size, np.max),
                   _spatial + 2),
        st.tuples(distinct_arrays(shape=_images(_spatial))), kwargs=_adaptive_kwargs(_spatial)))


# --------------------------------------------------------------------------- interpolate
def _target(x, size, scale_factor):
    """Per axis: the output size, and the scale the index rules use (in / out, or
    1 / scale_factor when a factor is given)."""
    spatial = x.ndim - 2
    if size is not None:
        outs = size if isinstance(size, tuple) else (size,) * spatial
        return [(o, n / o) for o, n in zip(outs, x.shape[2:])]
    factors = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * spatial
    return [(math.floor(n * f), 1.0 / f) for n, f in zip(x.shape[2:], factors)]


def _nearest_source(dst, size, out, scale, exact):
    """PyTorch's nearest rule, in float32: floor(dst * scale) (nearest-exact: at pixel
    centres, floor((dst + 0.5) * scale)), clamped; exact copies when out is size or 2 size."""
    if not exact and out == size:
        return dst
    if not exact and out == 2 * size:
        return dst // 2
    source = np.float32((dst + 0.5) * np.float64(np.float32(scale))) if exact else (
        np.float32(dst) * np.float32(scale))
    return min(int(np.floor(source)), size - 1)


def _linear_source(dst, size, out, scale, align_corners):
    """PyTorch's linear rule: the source coordinate and the two taps blended."""
    if align_corners:
        source = dst * ((size - 1) / (out - 1)) if out > 1 else 0.0
    else:
        source = max(scale * (dst + 0.5) - 0.5, 0.0)
    low = min(int(np.floor(source)), size - 1)
    weight = min(max(source - low, 0.0), 1.0)
    return ((low, 1.0 - weight), (min(low + 1, size - 1), weight))


def _interpolate_reference(x, size=None, scale_factor=None, mode="nearest",
                           align_corners=None, recompute_scale_factor=None):
    targets = _target(x, size, scale_factor)
    if recompute_scale_factor:
        targets = [(o, n / o) for (o, _), n in zip(targets, x.shape[2:])]
    if mode == "area":
        return _adaptive_reference(x, tuple(o for o, _ in targets) if x.ndim == 4
                                   else targets[0][0], np.mean)
    y = np.zeros(x.shape[:2] + tuple(o for o, _ in targets))
    for index in np.ndindex(*y.shape[2:]):
        if mode.startswith("nearest"):
            taps = [((_nearest_source(i, n, o, s, mode == "nearest-exact"), 1.0),)
                    for i, n, (o, s) in zip(index, x.shape[2:], targets)]
        else:
            taps = [_linear_source(i, n, o, s, bool(align_corners))
                    for i, n, (o, s) in zip(index, x.shape[2:], targets)]
        for corner in np.ndindex(*(len(t) for t in taps)):
            source = tuple(taps[a][c][0] for a, c in enumerate(corner))
            weight = math.prod(taps[a][c][1] for a, c in enumerate(corner))
            y[(slice(None), slice(None)) + index] += weight * x[(slice(None), slice(None))
                                                                + source]
    return y


def _interpolate_kwargs(modes, corners):
    @st.composite
    def draw_kwargs(draw, arrays_):
        spatial = arrays_[0].ndim - 2
        kwargs = {"mode": draw(st.sampled_from(modes(spatial)))}
        if draw(st.booleans()):
            kwargs["size"] = draw(st.one_of(st.integers(1, 7),
                                            st.tuples(*[st.integers(1, 7)] * spatial)))
        else:
            factor = st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0])
            # sizes >= 2 and factors >= 1/2: never an empty output
            kwargs["scale_factor"] = draw(st.one_of(factor, st.tuples(*[factor] * spatial)))
            kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
        if corners:
            kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
        return kwargs

    return lambda arrays_: draw_kwargs(arrays_)


_RESAMPLED = st.tuples(arrays(st.one_of(_images(1, batched=True), _images(2, batched=True)),
                              elements=REAL))
register(OpSpec("interpolate_nearest", upsampling.interpolate, _interpolate_reference,
                _RESAMPLED,
                kwargs=_interpolate_kwargs(lambda spatial: ["nearest", "nearest-exact"],
                                           corners=False)))
register(OpSpec("interpolate_linear", upsampling.interpolate, _interpolate_reference,
                _RESAMPLED,
                kwargs=_interpolate_kwargs(lambda spatial: ["linear" if spatial == 1
                                                            else "bilinear"], corners=True)))
register(OpSpec("interpolate_area", upsampling.interpolate, _interpolate_reference,
                _RESAMPLED, kwargs=_interpolate_kwargs(lambda spatial: ["area"],
                                                       corners=False)))


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


# --------------------------------------------------------------------------- dropout
def _seeded(function):
    # the same mask on every call: gradcheck evaluates the op many times
    def call(x, p):
        manual_seed(1234)
        return function(x, p, training=True)

    return call


def _channel_dropout_reference(x, p):
    """Whole channels kept (and scaled by 1 / (1 - p)) where a uniform draw per (n, c), or
    per c unbatched, is >= p, from the generator seeded as the op's."""
    channels = x.shape[:1] if x.ndim == 2 else x.shape[:2]
    keep = np.random.default_rng(1234).random(channels) >= p
    return x * keep.reshape(channels + (1,) * (x.ndim - len(channels))) / (1 - p)


_P = st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.25, 0.5])})
register(OpSpec("dropout1d", dropout.dropout1d, _channel_dropout_reference,
                st.tuples(arrays(st.tuples(st.sampled_from([(), (2,)]), st.integers(1, 4),
                                           st.integers(1, 3)).map(lambda d: d[0] + d[1:]),
                                 elements=REAL)),
                kwargs=_P, call=_seeded(dropout.dropout1d)))
register(OpSpec("dropout2d", dropout.dropout2d, _channel_dropout_reference,
                st.tuples(arrays(_images(2, batched=True), elements=REAL)),
                kwargs=_P, call=_seeded(dropout.dropout2d)))
register(OpSpec("dropout_p1", dropout.dropout, lambda x: x * 0.0,
                st.tuples(arrays(elements=REAL)),
                call=lambda x: dropout.dropout(x, 1.0, training=True)))
