"""Convolution properties: the adjoint pair, PixelCNN mask causality, argument errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad
from tinygen.testing import arrays


@st.composite
def conv_problem(draw):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    size = draw(st.integers(dilation * (kernel - 1) + 1, dilation * (kernel - 1) + 6))
    x = draw(arrays((draw(st.integers(1, 3)), c_in, size, size + 1)))
    weight = draw(arrays((c_out, c_in // groups, kernel, kernel)))
    return x, weight, {"stride": stride, "padding": padding, "dilation": dilation,
                       "groups": groups}


@given(conv_problem(), st.data())
def test_conv2d_is_adjoint_of_conv_transpose2d(problem, data):
    x_values, w_values, config = problem
    y = F.conv2d(tg.tensor(x_values), tg.tensor(w_values), **config)
    probe = data.draw(arrays(y.shape))
    # conv_transpose2d must map back onto x's exact size: pick the matching output_padding
    output_padding = tuple(
        x_values.shape[2 + a] - ((y.shape[2 + a] - 1) * config["stride"] - 2 * config["padding"]
                                 + config["dilation"] * (w_values.shape[2] - 1) + 1)
        for a in range(2))
    back = F.conv_transpose2d(tg.tensor(probe), tg.tensor(w_values),
                              output_padding=output_padding, **config)
    left = float((y.numpy() * probe).sum())
    right = float((x_values * back.numpy()).sum())
    assert back.shape == x_values.shape
    assert abs(left - right) <= 1e-9 * max(1.0, abs(left))


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("channel_groups", [None, 3])
def test_masked_conv_output_never_sees_raster_later_pixels(mask_type, channel_groups):
    rng = np.random.default_rng(0)
    height = width = 6
    x = tg.tensor(rng.standard_normal((1, 3, height, width)), requires_grad=True)
    weight = tg.tensor(rng.standard_normal((3, 3, 5, 5)), requires_grad=True)
    y = F.masked_conv2d(x, weight, mask_type=mask_type, padding=2,
                        channel_groups=channel_groups)
    for i, j, channel in [(0, 0, 0), (2, 3, 1), (5, 5, 2)]:
        upstream = np.zeros(y.shape)
        upstream[0, channel, i, j] = 1.0
        (gx,) = grad(y, [x], grad_outputs=[upstream], retain_graph=True)
        support = np.abs(gx.numpy()[0]).sum(axis=0) if channel_groups is None else None
        later = np.zeros((height, width), dtype=bool)
        later[i, j + 1:] = True
        later[i + 1:] = True
        if channel_groups is None:
            assert not support[later].any()
            assert (support[i, j] == 0) == (mask_type == "A")
        else:
            centre = np.abs(gx.numpy()[0, :, i, j])
            visible = np.arange(3) < channel if mask_type == "A" else np.arange(3) <= channel
            assert not np.abs(gx.numpy()[0][:, later]).any()
            assert not centre[~visible].any() and centre[visible].all()


def test_masked_weight_gradient_is_zero_where_the_mask_is_zero():
    rng = np.random.default_rng(1)
    weight = tg.tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    x = tg.tensor(rng.standard_normal((2, 2, 4, 4)))
    F.masked_conv2d(x, weight, mask_type="A", padding=1).sum().backward()
    mask = F.conv_mask(weight.shape, "A")
    assert not weight.grad.numpy()[mask == 0].any()
    assert weight.grad.numpy()[mask == 1].all()


def test_conv_arguments_are_validated_with_clear_messages():
    x, w = tg.tensor(np.ones((1, 3, 5, 5))), tg.tensor(np.ones((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"weight axis 1 must be 2.*\(4, 3, 3, 3\)"):
        F.conv2d(tg.tensor(np.ones((1, 2, 5, 5))), w)
    with pytest.raises(ValueError, match="groups must be a positive int dividing the 3"):
        F.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match="stride: expected an int >= 1"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.conv2d(tg.tensor(np.ones((3, 5, 5))), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, w, tg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="output_padding must be < max"):
        F.conv_transpose2d(tg.tensor(np.ones((1, 4, 3, 3))), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="mask_type"):
        F.conv_mask((1, 1, 3, 3), "C")
