"""Specs for the ops behind the PyTorch layers beyond the core kernels: 1-D and unbatched
convolutions, 'same' padding, 1-D and 2-D pooling (ceil mode, dilation, padding counted or
not, max pooling's indices), max unpooling, adaptive pooling and channel dropout
(interpolate and pixel (un)shuffle: ``op_specs_resampling``).

Each reference is written from PyTorch's documented definition, one output entry at a time
(the window bounds, the source index rules), sharing no code with the ops it checks.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import conv, dropout, pooling, pooling_adaptive, unpooling
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
                          ceil_mode=False, return_indices=False):
    """The max over the taps of each window that fall inside the input; with
    return_indices also its position row * W + column in the input's plane."""
    k, p, d = _pair(kernel_size), _pair(padding), _pair(dilation)
    s = k if stride is None else _pair(stride)
    outs = [_pooled_length(x.shape[2 + a], k[a], s[a], p[a], d[a], ceil_mode) for a in (0, 1)]
    y = np.empty(x.shape[:2] + tuple(outs))
    indices = np.empty(y.shape, dtype=np.int64)
    for i in range(outs[0]):
        for j in range(outs[1]):
            rows = [r for r in i * s[0] - p[0] + d[0] * np.arange(k[0]) if 0 <= r < x.shape[2]]
            cols = [c for c in j * s[1] - p[1] + d[1] * np.arange(k[1]) if 0 <= c < x.shape[3]]
            y[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
            for plane in np.ndindex(*x.shape[:2]):
                window = x[plane][np.ix_(rows, cols)]
                r, c = np.unravel_index(np.argmax(window), window.shape)
                indices[plane + (i, j)] = rows[r] * x.shape[3] + cols[c]
    return (y, indices) if return_indices else y


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
        result = reference(x[:, :, None, :], (1, kernel_size),
                           None if stride is None else (1, stride), (0, padding), **kwargs)
        # (N, C, 1, L_out) -> (N, C, L_out); an index into a 1 x L plane is one along L
        return tuple(r[:, :, 0] for r in result) if isinstance(result, tuple) else (
            result[:, :, 0])

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
                # any nonzero int, as in PyTorch (a negative one flips the sign)
                kwargs["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5),
                                                            st.integers(-3, -1)))
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
# with return_indices: the values keep their gradient, the indices are constants
register(OpSpec("max_pool2d_with_indices", pooling.max_pool2d,
                _unbatched(lambda x, **kw: _max_pool2d_reference(x, return_indices=True, **kw),
                           4),
                st.tuples(distinct_arrays(shape=_images(2))),
                kwargs=_pool_kwargs(2, max_pool=True),
                call=lambda x, **kw: pooling.max_pool2d(x, return_indices=True, **kw)))
register(OpSpec("max_pool1d_with_indices", pooling.max_pool1d,
                _unbatched(_one_d(lambda x, *args, **kw: _max_pool2d_reference(
                    x, *args, return_indices=True, **kw)), 3),
                st.tuples(distinct_arrays(shape=_images(1))),
                kwargs=_pool_kwargs(1, max_pool=True),
                call=lambda x, **kw: pooling.max_pool1d(x, return_indices=True, **kw)))


# --------------------------------------------------------------------------- unpooling
def _max_unpool_reference(x, indices, kernel_size, stride, padding, output_size=None):
    """Zeros of the unpooled size ((n - 1) stride - 2 padding + kernel, or output_size),
    each value of x written at its flat index in its own plane."""
    spatial = x.ndim - 2
    if output_size is None:
        output_size = tuple((n - 1) * stride + kernel_size - 2 * padding for n in x.shape[2:])
    y = np.zeros(x.shape[:2] + tuple(output_size[-spatial:]))
    for plane in np.ndindex(*x.shape[:2]):
        y[plane].flat[indices[plane].ravel()] = x[plane].ravel()
    return y


@st.composite
def _unpool_inputs(draw, spatial: int):
    """(values, indices): every plane's indices distinct (as max pooling's are without
    overlapping windows) within h w + 0..3 positions."""
    lead = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    values = draw(arrays(lead + sizes, elements=REAL))
    count = math.prod(sizes)
    positions = count + draw(st.integers(0, 3))
    indices = [draw(st.permutations(range(positions)))[:count] for _ in range(math.prod(lead))]
    return values, np.array(indices, dtype=np.int64).reshape(values.shape)


def _unpool_kwargs(spatial: int):
    """A pool (kernel 1-3, stride 1-3, padding up to half the kernel) and an output size
    within a stride of its default that holds every index (None: the default itself)."""

    def draw_kwargs(arrays_):
        values, indices = arrays_
        options = []
        for kernel, stride in itertools.product((1, 2, 3), (1, 2, 3)):
            for padding in range(kernel // 2 + 1):
                default = tuple((n - 1) * stride + kernel - 2 * padding
                                for n in values.shape[2:])
                for size in itertools.product(*(range(max(d - stride + 1, 1), d + stride)
                                                for d in default)):
                    if math.prod(size) > indices.max():
                        options.append({"kernel_size": kernel, "stride": stride,
                                        "padding": padding,
                                        "output_size": None if size == default else size})
        return st.sampled_from(options)

    return draw_kwargs


register(OpSpec("max_unpool2d", unpooling.max_unpool2d, _max_unpool_reference,
                _unpool_inputs(2), kwargs=_unpool_kwargs(2)))
register(OpSpec("max_unpool1d", unpooling.max_unpool1d, _max_unpool_reference,
                _unpool_inputs(1), kwargs=_unpool_kwargs(1)))


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
