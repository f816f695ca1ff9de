"""Specs for conv2d and conv_transpose2d, checked against the direct loops of
``tinygen.autograd.ops.conv.reference``, which share no code with the layouts they check."""

from __future__ import annotations

from hypothesis import strategies as st

from tinygen.autograd.ops import conv
from tinygen.autograd.ops.conv.reference import (
    reference_conv2d,
    reference_conv2d_top_rows,
    reference_conv_transpose2d,
)
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, floats

REAL = floats(-2.0, 2.0)


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
