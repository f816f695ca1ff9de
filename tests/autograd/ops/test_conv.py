"""Convolution properties: the adjoint pair, first and second derivatives, PixelCNN mask
causality, argument errors."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradcheck, gradgradcheck, topological_order
from tinygen.autograd.ops.conv import layouts, windows
from tinygen.autograd.ops.conv.reference import reference_conv2d, reference_conv_transpose2d
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


@given(conv_problem(), st.booleans())
def test_conv2d_gradients_pass_first_and_second_order_checks(problem, with_bias):
    x_values, w_values, config = problem
    inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]
    if with_bias:
        inputs.append(tg.tensor(np.linspace(-1, 1, w_values.shape[0]), requires_grad=True))

    def fn(*args):
        return F.conv2d(*args, **config)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


@given(conv_problem(), st.integers(0, 2), st.booleans(), st.data())
def test_conv_transpose2d_gradients_pass_first_and_second_order_checks(problem, extra,
                                                                        with_bias, data):
    conv_x, w_values, config = problem
    # read the drawn conv weight (C_out, C_in/g, kh, kw) as a transposed-conv weight
    # (C_in', C_out'/g, kh, kw), whose input then has C_in' = C_out channels
    x_values = data.draw(arrays((conv_x.shape[0], w_values.shape[0]) + conv_x.shape[2:]))
    output_padding = extra % max(config["stride"], config["dilation"])
    span = config["dilation"] * (w_values.shape[2] - 1) + 1 + output_padding
    assume(span > 2 * config["padding"])  # else the output is empty
    inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]
    if with_bias:
        inputs.append(tg.tensor(np.linspace(-1, 1, w_values.shape[1] * config["groups"]),
                                requires_grad=True))

    def fn(*args):
        return F.conv_transpose2d(*args, output_padding=output_padding, **config)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_conv2d_full_jacobian_matches_finite_differences_on_a_small_case():
    rng = np.random.default_rng(3)
    x = tg.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    weight = tg.tensor(rng.standard_normal((4, 1, 2, 3)), requires_grad=True)
    bias = tg.tensor(rng.standard_normal(4), requires_grad=True)

    def fn(*args):
        return F.conv2d(*args, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)

    assert gradcheck(fn, [x, weight, bias], mode="full")


def test_conv2d_input_gradient_is_skipped_when_the_image_needs_none():
    rng = np.random.default_rng(4)
    x = tg.tensor(rng.standard_normal((2, 3, 6, 6)))
    weight = tg.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, weight, padding=1).sum().backward()
    assert x.grad is None and weight.grad.shape == weight.shape


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


def test_grouped_masked_conv_weight_gradient_is_masked_and_matches_manual_masking():
    rng = np.random.default_rng(2)
    weight_values = rng.standard_normal((4, 1, 3, 3))
    x = tg.tensor(rng.standard_normal((2, 2, 5, 5)))
    weight = tg.tensor(weight_values, requires_grad=True)
    masked = F.masked_conv2d(x, weight, mask_type="B", padding=1, groups=2)
    mask = F.conv_mask(weight.shape, "B")
    manual = F.conv2d(x, tg.tensor(weight_values * mask), padding=1, groups=2)
    masked.sum().backward()
    np.testing.assert_allclose(masked.numpy(), manual.numpy(), rtol=1e-12)
    assert not weight.grad.numpy()[mask == 0].any()


@pytest.mark.parametrize(("kernel", "mask_type", "padding", "stride", "dilation"), [
    (3, "B", None, 1, 1), (7, "A", None, 1, 1), (5, "B", None, 2, 1), (3, "A", None, 1, 2),
    (1, "B", None, 1, 1), (5, "B", 1, 1, 1), (3, "A", 0, 2, 1)])
def test_masked_conv_layer_matches_the_full_masked_kernel_on_top_rows_alone(
        kernel, mask_type, padding, stride, dilation):
    # MaskedConv2d convolves only the kernel rows above and at the centre (less padding below,
    # or the full kernel with those rows zeroed when the padding is too small for that)
    rng = np.random.default_rng(5)
    layer = tg.nn.MaskedConv2d(3, 4, kernel, mask_type=mask_type, padding=padding,
                               stride=stride, dilation=dilation).double()
    x_values = rng.standard_normal((2, 3, 9, 8))
    x, x_full = tg.tensor(x_values, requires_grad=True), tg.tensor(x_values, requires_grad=True)
    weight = tg.tensor(layer.weight.numpy(), requires_grad=True)
    mask = layer.mask.numpy()
    y = layer(x)
    full = F.conv2d(x_full, weight * tg.tensor(mask), tg.tensor(layer.bias.numpy()),
                    stride=stride, padding=layer.padding, dilation=dilation)
    upstream = rng.standard_normal(full.shape)
    y.backward(upstream)
    full.backward(upstream)
    assert layer.weight.shape == (4, 3, kernel, kernel)
    np.testing.assert_allclose(y.numpy(), full.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), x_full.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)
    assert not layer.weight.grad.numpy()[mask == 0].any()


def test_conv_arguments_are_validated_with_clear_messages():
    x, w = tg.tensor(np.ones((1, 3, 5, 5))), tg.tensor(np.ones((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"weight axis 1 must be 2.*\(4, 3, 3, 3\)"):
        F.conv2d(tg.tensor(np.ones((1, 2, 5, 5))), w)
    with pytest.raises(ValueError, match="groups must be a positive int dividing the 3"):
        F.conv2d(x, w, groups=2)
    with pytest.raises(ValueError, match="stride: expected an int >= 1"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding: expected an int >= 0"):
        F.conv2d(x, w, padding=((1, -1), (0, 0)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.conv2d(tg.tensor(np.ones((5, 5))), w)  # (C, H, W) is an unbatched image
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(x, w, tg.tensor(np.ones(3)))
    with pytest.raises(ValueError, match="output_padding must be < max"):
        F.conv_transpose2d(tg.tensor(np.ones((1, 4, 3, 3))), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output height must be >= 1, got -1"):
        F.conv_transpose2d(tg.tensor(np.ones((1, 4, 1, 3))), tg.tensor(np.ones((4, 2, 1, 1))),
                           padding=1)
    with pytest.raises(TypeError, match="must share a dtype, got float64, float64 and float32"):
        F.conv2d(x, w, tg.tensor(np.ones(4, dtype=np.float32)))
    with pytest.raises(ValueError, match="mask_type"):
        F.conv_mask((1, 1, 3, 3), "C")


@pytest.mark.parametrize("threads", [1, 2])
@given(conv_problem())
def test_both_gemm_layouts_agree_and_are_differentiable_twice(threads, problem):
    """The per-image layout runs only at one BLAS thread, the channel-major one otherwise;
    the suite may run at either, so each is pinned here and checked against the other."""
    x_values, w_values, config = problem
    x64, w64 = x_values.astype(np.float64), w_values.astype(np.float64)

    def conv(x, w):
        return F.conv2d(x, w, **config)

    with threadpool_limits(threads):
        assert tg.backend.blas_threads(x64) == threads
        y = conv(tg.tensor(x64), tg.tensor(w64)).numpy()
        inputs = [tg.tensor(x64, requires_grad=True), tg.tensor(w64, requires_grad=True)]
        gradcheck(conv, inputs)
        gradgradcheck(conv, inputs)
    with threadpool_limits(3 - threads):
        other = conv(tg.tensor(x64), tg.tensor(w64)).numpy()
    np.testing.assert_allclose(y, other, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [1, 3000])
@given(conv_problem(), st.data())
def test_stride_one_convs_on_flat_row_chunks_match_the_definition_and_differentiate_twice(
        chunk_bytes, problem, data):
    """At one BLAS thread a stride-1 conv copies its windows a chunk of images at a time:
    one image per chunk at 1 byte, chunks of several (the last one ragged) at 3000. conv2d,
    its gradients (a stride-1 conv_transpose2d and a weight gradient, each chunked too) and
    conv_transpose2d must match their definitions and pass first and second-order checks."""
    x_values, w_values, config = problem
    x_values, w_values = x_values.astype(np.float64), w_values.astype(np.float64)
    config = dict(config, stride=1)
    expected = reference_conv2d(x_values, w_values, **config)
    pads = ((config["padding"],) * 2,) * 2
    dilation = (config["dilation"],) * 2
    # the drawn convs are small: flat rows from one tap on, not only from FLAT_MIN_TAPS
    with threadpool_limits(1), mock.patch.object(windows, "CHUNK_BYTES", chunk_bytes), \
            mock.patch.object(layouts, "FLAT_MIN_TAPS", 1):
        assume(layouts.choose_layout(x_values, w_values.shape, expected.shape[2:], (1, 1),
                                     pads, dilation, config["groups"]) == "flat_rows")
        inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]

        def conv(*args):
            return F.conv2d(*args, **config)

        np.testing.assert_allclose(conv(*inputs).numpy(), expected, rtol=1e-10, atol=1e-10)
        assert gradcheck(conv, inputs)
        assert gradgradcheck(conv, inputs)
        probe = data.draw(arrays(expected.shape)).astype(np.float64)
        transposed_inputs = [tg.tensor(probe, requires_grad=True),
                             tg.tensor(w_values, requires_grad=True)]

        def conv_transpose(*args):
            return F.conv_transpose2d(*args, **config)

        np.testing.assert_allclose(conv_transpose(*transposed_inputs).numpy(),
                                   reference_conv_transpose2d(probe, w_values, **config),
                                   rtol=1e-10, atol=1e-10)
        assert gradcheck(conv_transpose, transposed_inputs)
        assert gradgradcheck(conv_transpose, transposed_inputs)


@pytest.mark.parametrize("threads", [1, 2])
@given(st.integers(1, 2), st.sampled_from([1, 2, ((1, 0), (0, 2))]), st.integers(0, 2),
       st.data())
def test_batch_last_channel_major_convs_match_the_definition_and_differentiate_twice(
        threads, groups, padding, extra_images, data):
    """A batch at least twice as wide as the output rows orders channel-major cols and
    outputs (oh, ow, N); at one thread only convs with more taps than twice their pixels
    are channel-major, so the kernel is 4x4 on 4 channels (64 taps) over small maps."""
    height, width = data.draw(st.integers(4, 7)), data.draw(st.integers(4, 7))
    pads = padding if isinstance(padding, tuple) else ((padding,) * 2,) * 2
    out_width = (width + sum(pads[1]) - 4) // 2 + 1
    x_values = data.draw(arrays((2 * out_width + extra_images, 4, height, width)))
    w_values = data.draw(arrays((6, 4 // groups, 4, 4)))
    config = {"stride": 2, "padding": padding, "groups": groups}
    with threadpool_limits(threads):
        inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]
        y = F.conv2d(*inputs, **config)
        assume(layouts.choose_layout(x_values, w_values.shape, y.shape[2:], (2, 2), pads,
                                     (1, 1), groups) == "batch_last")
        np.testing.assert_allclose(
            y.numpy(), reference_conv2d(x_values, w_values, stride=2, padding=pads,
                                        groups=groups), rtol=1e-10, atol=1e-10)

        def conv(*args):
            return F.conv2d(*args, **config)

        assert gradcheck(conv, inputs)
        assert gradgradcheck(conv, inputs)


@pytest.mark.parametrize("threads", [1, 2])
@given(st.sampled_from([(2, 4, 1, 0, 1), (2, 4, 1, 1, 2), (2, 2, 0, 1, 1), (3, 3, 2, 2, 1),
                        (2, 4, 3, 0, 2)]), st.data())
def test_strided_conv_transpose2d_by_phases_matches_the_definition_and_differentiates_twice(
        threads, layer, data):
    """A stride that divides the kernel splits a transposed conv into stride**2 stride-1
    correlations, one per output phase; with few input channels (2 per group) against
    output channels (3 per group) their cols are no larger than col2im's taps, and maps of
    16 or more are wide enough for 2-tap phases. Phases run at one BLAS thread, col2im at
    two: both must agree with the definition."""
    stride, kernel, padding, output_padding, groups = layer
    size = (1, 2 * groups, data.draw(st.integers(16, 17)), data.draw(st.integers(16, 17)))
    x_values = data.draw(arrays(size))
    w_values = data.draw(arrays((2 * groups, 3, kernel, kernel)))
    config = {"stride": stride, "padding": padding, "output_padding": output_padding,
              "groups": groups}
    expected = reference_conv_transpose2d(x_values, w_values, **config)
    with threadpool_limits(threads):
        layout = layouts.choose_layout(x_values, w_values.shape, expected.shape[2:],
                                       (stride,) * 2, ((padding,) * 2,) * 2, (1, 1), groups,
                                       transposed=True)
        assert (layout == "phases") == (threads == 1)
        inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]
        np.testing.assert_allclose(F.conv_transpose2d(*inputs, **config).numpy(), expected,
                                   rtol=1e-10, atol=1e-10)

        def conv_transpose(*args):
            return F.conv_transpose2d(*args, **config)

        assert gradcheck(conv_transpose, inputs)
        assert gradgradcheck(conv_transpose, inputs)


@given(st.sampled_from([(0, 1), (1, 2), (2, 1)]), st.integers(1, 4), st.integers(3, 5),
       st.integers(1, 2), st.data())
def test_conv_transpose2d_of_a_1x1_input_matches_the_definition_and_differentiates_twice(
        layer, batch, kernel, channels, data):
    """A generator's first layer: each image's taps tile the whole output, so without
    groups it is one product (N, C) @ (C, O*kh*kw), an outer product for one channel; its
    gradients are dense convs (a kernel covering the whole map)."""
    padding, groups = layer
    assume(kernel > 2 * padding)  # else the output is empty
    x_values = data.draw(arrays((batch, channels * groups, 1, 1)))
    w_values = data.draw(arrays((channels * groups, 3, kernel, kernel)))
    inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]

    def conv_transpose(*args):
        return F.conv_transpose2d(*args, padding=padding, groups=groups)

    np.testing.assert_allclose(
        conv_transpose(*inputs).numpy(),
        reference_conv_transpose2d(x_values, w_values, padding=padding, groups=groups),
        rtol=1e-10, atol=1e-10)
    assert gradcheck(conv_transpose, inputs)
    assert gradgradcheck(conv_transpose, inputs)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(1, 2), st.booleans(), st.data())
def test_dense_conv2d_matches_the_definition_and_differentiates_twice(
        batch, channels, out_channels, stride, groups, with_bias, data):
    """A kernel covering the whole unpadded map (a DCGAN critic's last 7x7 conv) is a dense
    layer, (N, C*H*W) @ (C*H*W, O) with no cols; grouped, it takes the general path."""
    height, width = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    x_values = data.draw(arrays((batch, channels * groups, height, width)))
    w_values = data.draw(arrays((out_channels * groups, channels, height, width)))
    layout = layouts.choose_layout(x_values, w_values.shape, (1, 1), (stride,) * 2,
                                   ((0, 0), (0, 0)), (1, 1), groups)
    assert (layout == "dense") == (groups == 1)
    inputs = [tg.tensor(x_values, requires_grad=True), tg.tensor(w_values, requires_grad=True)]
    bias_values = data.draw(arrays((out_channels * groups,)))
    if with_bias:
        inputs.append(tg.tensor(bias_values, requires_grad=True))

    def conv(*args):
        return F.conv2d(*args, stride=stride, groups=groups)

    expected = reference_conv2d(x_values, w_values, stride=stride, groups=groups)
    if with_bias:
        expected = expected + bias_values.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(conv(*inputs).numpy(), expected, rtol=1e-10, atol=1e-10)
    assert gradcheck(conv, inputs)
    assert gradgradcheck(conv, inputs)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_ops_keep_no_arrays_after_backward(threads):
    """The forward's cols live only in the op's cache, which backward and release() free:
    after a backward through convs, transposed convs and a double backward no node holds
    an array of its own."""
    rng = np.random.default_rng(6)
    x = tg.tensor(rng.standard_normal((4, 3, 9, 9)), requires_grad=True)
    weight = tg.tensor(rng.standard_normal((5, 3, 3, 3)), requires_grad=True)
    w_transposed = tg.tensor(rng.standard_normal((5, 2, 4, 4)), requires_grad=True)
    with threadpool_limits(threads):
        h = F.conv2d(x, weight, padding=1, stride=(1, 2))
        y = F.conv_transpose2d(h, w_transposed, stride=2, padding=1)
        gx, gw = grad((y * y).sum(), [x, w_transposed], create_graph=True)
        loss = (gx * gx).sum() + (gw * gw).sum() + y.sum()
        nodes = topological_order(loss)
        loss.backward()
    assert {type(node).__name__ for node in nodes} >= {"Conv2d", "ConvTranspose2d",
                                                       "Conv2dGradWeight"}
    for node in nodes:
        held = [name for name, value in vars(node).items()
                if isinstance(value, np.ndarray) or isinstance(value, dict) and any(
                    isinstance(entry, np.ndarray) for entry in value.values())]
        assert not held, f"{type(node).__name__} holds arrays {held}"


@st.composite
def conv1d_problem(draw):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(
        st.integers(1, 2))
    length = draw(st.integers(dilation * (kernel - 1) + 1, dilation * (kernel - 1) + 5))
    return (draw(arrays((draw(st.integers(1, 2)), c_in, length))),
            draw(arrays((c_out, c_in // groups, kernel))),
            {"stride": stride, "padding": draw(st.integers(0, 2)), "dilation": dilation,
             "groups": groups})


@given(conv1d_problem(), st.data())
def test_conv1d_is_adjoint_of_conv_transpose1d(problem, data):
    # <conv1d(x, W), z> = <x, conv_transpose1d(z, W)> for every z of conv1d's output size
    x_values, w_values, config = problem
    y = F.conv1d(tg.tensor(x_values), tg.tensor(w_values), **config)
    z = data.draw(arrays(y.shape))
    length = x_values.shape[2]
    span = config["dilation"] * (w_values.shape[2] - 1) + 1
    # the entries the last window leaves out come back as output_padding
    extra = (length + 2 * config["padding"] - span) % config["stride"]
    assume(extra < max(config["stride"], config["dilation"]))
    back = F.conv_transpose1d(tg.tensor(z), tg.tensor(w_values), output_padding=extra, **config)
    assert back.shape == x_values.shape
    np.testing.assert_allclose((y.numpy() * z).sum(), (x_values * back.numpy()).sum(),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("conv", "x_shape", "w_shape", "config"), [
    (F.conv1d, (3, 7), (4, 3, 3), {"stride": 2, "padding": 1}),
    (F.conv_transpose1d, (3, 5), (3, 2, 3), {"stride": 2, "output_padding": 1}),
    (F.conv2d, (3, 6, 5), (4, 3, 3, 2), {"padding": "same", "dilation": 2}),
    (F.conv_transpose2d, (3, 4, 4), (3, 2, 2, 3), {"stride": (2, 1), "padding": 1}),
])
def test_conv_of_an_unbatched_input_is_that_of_a_batch_of_one(conv, x_shape, w_shape, config):
    rng = np.random.default_rng(7)
    x, weight = rng.standard_normal(x_shape), tg.tensor(rng.standard_normal(w_shape))
    alone = conv(tg.tensor(x), weight, **config)
    np.testing.assert_array_equal(alone.numpy(), conv(tg.tensor(x[None]), weight,
                                                      **config).numpy()[0])


@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding_keeps_the_size_with_the_odd_padding_at_the_end(kernel, dilation):
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 6, 5)), rng.standard_normal((3, 2, kernel, kernel))
    total = dilation * (kernel - 1)
    pads = ((total // 2, total - total // 2),) * 2
    y = F.conv2d(tg.tensor(x), tg.tensor(w), padding="same", dilation=dilation)
    np.testing.assert_allclose(y.numpy(), reference_conv2d(x, w, padding=pads, dilation=dilation),
                               rtol=1e-12, atol=1e-12)
    signal = tg.tensor(rng.standard_normal((1, 2, 8)))
    assert F.conv1d(signal, tg.tensor(w[:, :, 0]), padding="same",
                    dilation=dilation).shape == (1, 3, 8)
    assert F.conv1d(signal, tg.tensor(w[:, :, 0]), padding="valid",
                    dilation=dilation).shape == (1, 3, 8 - total)


def test_conv1d_arguments_are_validated_naming_the_function():
    x, w = tg.tensor(np.ones((1, 3, 5))), tg.tensor(np.ones((4, 3, 3)))
    with pytest.raises(ValueError, match=r"conv1d: x must be \(N, C, L\) or unbatched "
                                         r"\(C, L\), got shape \(1, 1, 3, 5\)"):
        F.conv1d(tg.tensor(np.ones((1, 1, 3, 5))), w)
    with pytest.raises(ValueError, match=r"conv1d: weight must have 3 axes, got shape "
                                         r"\(4, 3, 3, 3\)"):
        F.conv1d(x, tg.tensor(np.ones((4, 3, 3, 3))))
    with pytest.raises(ValueError, match=r"conv1d: padding='same' needs stride 1 .* got "
                                         r"stride \(2,\)"):
        F.conv1d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="conv2d: padding must be 'same', 'valid' or ints, got "
                                         "'full'"):
        F.conv2d(tg.tensor(np.ones((1, 3, 5, 5))), tg.tensor(np.ones((4, 3, 3, 3))),
                 padding="full")
    with pytest.raises(ValueError, match="conv1d: the kernel spans 5 pixels but the padded "
                                         "input length is 3"):
        F.conv1d(tg.tensor(np.ones((1, 3, 3))), w, dilation=2)
    with pytest.raises(ValueError, match=r"stride: expected an int >= 1 or a 1-tuple of one, "
                                         r"got \(1, 1\)"):
        F.conv1d(x, w, stride=(1, 1))
    with pytest.raises(ValueError, match="conv_transpose1d: output_padding must be < "
                                         "max\\(stride, dilation\\) = 1, got 1 along the length"):
        F.conv_transpose1d(tg.tensor(np.ones((1, 4, 5))), w, output_padding=1)
