"""Specs for conv2d and conv_transpose2d, with a direct-loop NumPy reference that shares no
code with the im2col/col2im kernels it checks."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import conv
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, floats

REAL = floats(-2.0, 2.0)


def reference_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d by its definition: a sum over channels and kernel taps per output pixel.

    ``padding`` is an int or ((top, bottom), (left, right)).
    """
    n, c, h, w = x.shape
    out_channels, c_group, kh, kw = weight.shape
    pads = ((padding, padding),) * 2 if isinstance(padding, int) else padding
    padded = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    oh = (padded.shape[2] - dilation * (kh - 1) - 1) // stride + 1
    ow = (padded.shape[3] - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, out_channels, oh, ow))
    per_group = out_channels // groups
    for o in range(out_channels):
        channels = slice((o // per_group) * c_group, (o // per_group + 1) * c_group)
        for i in range(kh):
            for j in range(kw):
                patch = padded[:, channels, i * dilation:i * dilation + stride * (oh - 1) + 1:
                               stride, j * dilation:j * dilation + stride * (ow - 1) + 1:stride]
                y[:, o] += np.einsum("nchw,c->nhw", patch, weight[o, :, i, j])
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def reference_conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                               dilation=1, groups=1):
    """conv_transpose2d by its definition: every input pixel scatters a weighted kernel."""
    n, c, h, w = x.shape
    _, out_group, kh, kw = weight.shape
    out_h = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1
    out_w = (w - 1) * stride - 2 * padding + dilation * (kw - 1) + output_padding + 1
    full = np.zeros((n, out_group * groups, out_h + 2 * padding, out_w + 2 * padding))
    in_group = c // groups
    for ci in range(c):
        outs = slice((ci // in_group) * out_group, (ci // in_group + 1) * out_group)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dilation, i * dilation + stride * (h - 1) + 1, stride)
                cols = slice(j * dilation, j * dilation + stride * (w - 1) + 1, stride)
                full[:, outs, rows, cols] += (x[:, ci, None] * weight[ci, :, i, j, None, None])
    y = full[:, :, padding:padding + out_h, padding:padding + out_w]
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


@st.composite
def _conv_arrays(draw, transposed: bool):
    """(x, weight, bias) of matching channels: odd sizes, batch 1, groups of 1 or 2."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = draw(st.integers(1, 3))
    size = draw(st.integers(kernel, kernel + 3))
    x = draw(arrays((draw(st.integers(1, 2)), c_in, size, size), elements=REAL))
    w_shape = (c_in, c_out // groups, kernel, kernel) if transposed else (
        c_out, c_in // groups, kernel, kernel)
    return x, draw(arrays(w_shape, elements=REAL)), draw(arrays((c_out,), elements=REAL))


def _conv_kwargs(transposed: bool):
    """Hyperparameters that fit the drawn arrays: strides, paddings, dilations, groups."""

    @st.composite
    def draw_kwargs(draw, arrays_):
        x, weight, bias = arrays_
        kernel, size = weight.shape[2], x.shape[2]
        groups = bias.shape[0] // weight.shape[1] if transposed else x.shape[1] // weight.shape[1]
        dilation = draw(st.sampled_from([d for d in (1, 2) if d * (kernel - 1) + 1 <= size]))
        stride = draw(st.integers(1, 2))
        padding = draw(st.integers(0, (dilation * (kernel - 1)) // 2))
        kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        if transposed:
            kwargs["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
        return kwargs

    return lambda arrays_: draw_kwargs(arrays_)


register(OpSpec("conv2d", conv.conv2d, reference_conv2d, _conv_arrays(False),
                kwargs=_conv_kwargs(False)))
register(OpSpec("conv_transpose2d", conv.conv_transpose2d, reference_conv_transpose2d,
                _conv_arrays(True), kwargs=_conv_kwargs(True)))


@st.composite
def _dense_conv_arrays(draw, transposed: bool):
    """(x, weight, bias) for the dense paths: a kernel covering the whole map (conv2d), or a
    1x1 input (conv_transpose2d); one channel included, whose product is an outer one."""
    batch, c_in, c_out = (draw(st.integers(1, 3)) for _ in range(3))
    if transposed:
        kernel = draw(st.integers(1, 4))
        x_shape, w_shape = (batch, c_in, 1, 1), (c_in, c_out, kernel, kernel)
    else:
        height, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        x_shape, w_shape = (batch, c_in, height, width), (c_out, c_in, height, width)
    return (draw(arrays(x_shape, elements=REAL)), draw(arrays(w_shape, elements=REAL)),
            draw(arrays((c_out,), elements=REAL)))


register(OpSpec("conv2d_dense", conv.conv2d, reference_conv2d, _dense_conv_arrays(False),
                kwargs=st.fixed_dictionaries({"stride": st.integers(1, 2)})))
register(OpSpec("conv_transpose2d_from_1x1", conv.conv_transpose2d,
                reference_conv_transpose2d, _dense_conv_arrays(True),
                kwargs=lambda arrays_: st.fixed_dictionaries(
                    {"padding": st.integers(0, (arrays_[1].shape[2] - 1) // 2)})))


def reference_conv2d_top_rows(x, weight, bias=None, **kwargs):
    """conv2d_top_rows by its definition: conv2d with the rows below the centre zeroed."""
    weight = weight.copy()
    weight[:, :, weight.shape[2] // 2 + 1:] = 0
    return reference_conv2d(x, weight, bias, **kwargs)


def _uneven_padding_kwargs(arrays_):
    """conv2d's kwargs with ((top, bottom), (left, right)) padding, each side drawn apart."""

    @st.composite
    def draw_kwargs(draw):
        kwargs = draw(_conv_kwargs(False)(arrays_))
        size, kernel = arrays_[0].shape[2], arrays_[1].shape[2]
        span = kwargs["dilation"] * (kernel - 1) + 1
        sides = [draw(st.integers(0, 2)) for _ in range(4)]
        # keep the padded input at least one kernel span tall and wide
        kwargs["padding"] = ((sides[0], max(sides[1], span - size - sides[0])),
                             (sides[2], max(sides[3], span - size - sides[2])))
        return kwargs

    return draw_kwargs()


register(OpSpec("conv2d_uneven_padding", conv.conv2d, reference_conv2d, _conv_arrays(False),
                kwargs=_uneven_padding_kwargs))
# its drawn paddings run from none (less than the dropped rows span: the zero-row fallback)
# to "same" (the top rows alone, with a reduced bottom padding)
register(OpSpec("conv2d_top_rows", conv.conv2d_top_rows, reference_conv2d_top_rows,
                _conv_arrays(False), kwargs=_conv_kwargs(False)))
