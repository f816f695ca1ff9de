"""interpolate, pixel_shuffle and pixel_unshuffle: properties beyond the registry's value and
gradient checks (the exact PyTorch agreement is in tests/parity/test_layers_parity.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.autograd import grad, gradgradcheck
from tinygen.testing import arrays


def test_nearest_interpolate_by_an_integer_factor_repeats_every_pixel():
    x = tg.tensor(np.arange(6.0).reshape(1, 1, 2, 3))
    y = F.interpolate(x, scale_factor=(2, 3))
    np.testing.assert_array_equal(y.numpy()[0, 0], np.arange(6.0).reshape(2, 3).repeat(
        2, axis=0).repeat(3, axis=1))


def test_bilinear_interpolate_with_aligned_corners_keeps_the_corners_and_is_linear_between():
    ramp = np.add.outer(np.arange(3.0), 10 * np.arange(4.0))[None, None]  # 10 w + h
    y = F.interpolate(tg.tensor(ramp), size=(5, 7), mode="bilinear", align_corners=True)
    expected = np.add.outer(np.linspace(0, 2, 5), 10 * np.linspace(0, 3, 7))
    np.testing.assert_allclose(y.numpy()[0, 0], expected, rtol=1e-12, atol=1e-12)


def test_bilinear_interpolate_without_aligned_corners_clamps_at_the_edges():
    x = tg.tensor(np.array([[[[0.0, 1.0]]]]))
    y = F.interpolate(x, size=(1, 4), mode="bilinear")
    # sources (0.5 (j + 0.5) - 0.5) clamped to [0, 1]: 0, 0.25, 0.75, 1
    np.testing.assert_allclose(y.numpy()[0, 0, 0], [0.0, 0.25, 0.75, 1.0])


@given(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
                 st.integers(1, 6), st.integers(1, 6), st.booleans())
       .flatmap(lambda s: st.tuples(arrays(s[:4]), st.just(s[4:6]), st.just(s[6]))))
def test_bilinear_interpolate_gradient_is_its_adjoint(problem):
    # <interpolate(x), u> = <x, interpolate^T(u)>: the backward is the transpose of the map
    x_values, size, align_corners = problem
    x = tg.tensor(x_values, requires_grad=True)
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
    u = np.random.default_rng(0).standard_normal(y.shape)
    (gx,) = grad(y, [x], [u])
    np.testing.assert_allclose((y.numpy() * u).sum(), (x_values * gx.numpy()).sum(),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode, antialias", [("bicubic", False), ("bilinear", True),
                                             ("bicubic", True)])
@pytest.mark.parametrize("size", [(2, 9), (5, 3), (1, 1)])
def test_bicubic_and_antialiased_weights_keep_a_constant_image_constant(mode, antialias, size):
    # every output's tap weights sum to 1 (bicubic's border taps repeat the edge pixel)
    x = tg.tensor(np.full((1, 2, 4, 6), 2.5))
    y = F.interpolate(x, size=size, mode=mode, antialias=antialias)
    np.testing.assert_allclose(y.numpy(), 2.5, rtol=1e-12)


def test_bicubic_interpolate_at_the_same_size_is_the_identity():
    x_values = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    y = F.interpolate(tg.tensor(x_values), size=(4, 5), mode="bicubic")
    np.testing.assert_allclose(y.numpy(), x_values, rtol=1e-12, atol=1e-15)


def test_bicubic_interpolate_overshoots_a_step_as_keys_kernel_does():
    # A = -0.75 gives negative side lobes: upsampling a step rings just past the edge
    step = np.array([0.0, 0.0, 1.0, 1.0])[None, None, None]
    y = F.interpolate(tg.tensor(step), size=(1, 8), mode="bicubic").numpy()[0, 0, 0]
    assert y.min() < 0.0 and y.max() > 1.0
    np.testing.assert_allclose(y[[0, -1]], [0.0, 1.0], atol=1e-15)


def test_antialiasing_averages_where_plain_bilinear_skips_pixels():
    # shrinking 8 -> 2: plain bilinear reads two pixels of each four, the antialiased
    # triangle (support 4) weighs all of them
    stripes = np.tile([1.0, 0.0], 4)[None, None, None]
    plain = F.interpolate(tg.tensor(stripes), size=(1, 2), mode="bilinear").numpy()
    smooth = F.interpolate(tg.tensor(stripes), size=(1, 2), mode="bilinear",
                           antialias=True).numpy()
    np.testing.assert_allclose(plain[0, 0, 0], [0.5, 0.5])
    assert np.all(np.abs(smooth - 0.5) < 0.1)


def test_antialias_keeps_an_inf_out_of_the_windows_that_do_not_reach_it():
    # a window's unused taps add an exact 0, not 0 * inf = NaN
    x_values = np.zeros((1, 1, 1, 12))
    x_values[0, 0, 0, -1] = np.inf
    y = F.interpolate(tg.tensor(x_values), size=(1, 4), mode="bilinear", antialias=True)
    np.testing.assert_array_equal(y.numpy()[0, 0, 0, :3], 0.0)
    assert y.numpy()[0, 0, 0, 3] == np.inf


def test_trilinear_of_a_volume_constant_in_depth_is_bilinear_of_each_slice():
    image = np.random.default_rng(3).standard_normal((1, 2, 3, 4))
    volume = np.repeat(image[:, :, None], 3, axis=2)
    y = F.interpolate(tg.tensor(volume), size=(5, 6, 2), mode="trilinear")
    expected = F.interpolate(tg.tensor(image), size=(6, 2), mode="bilinear").numpy()
    for depth in range(5):
        np.testing.assert_allclose(y.numpy()[:, :, depth], expected, rtol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "area"])
def test_volume_resampling_by_integer_factors_repeats_or_averages_blocks(mode):
    x_values = np.arange(8.0).reshape(1, 1, 2, 2, 2)
    if mode == "nearest":
        y = F.interpolate(tg.tensor(x_values), scale_factor=2, mode=mode)
        expected = x_values.repeat(2, 2).repeat(2, 3).repeat(2, 4)
    else:
        y = F.interpolate(tg.tensor(x_values.repeat(2, 2).repeat(2, 3).repeat(2, 4)),
                          size=2, mode=mode)
        expected = x_values
    np.testing.assert_array_equal(y.numpy(), expected)


def test_float32_interpolate_keeps_the_dtype_and_differentiates_twice():
    x = tg.tensor(np.random.default_rng(1).standard_normal((1, 2, 3, 3)), requires_grad=True)
    assert F.interpolate(x.float(), scale_factor=1.5, mode="bilinear").dtype == np.float32
    assert gradgradcheck(lambda t: F.interpolate(t, size=(4, 5), mode="bilinear"), [x])


@given(st.tuples(st.sampled_from([(), (2,)]), st.integers(1, 2), st.integers(1, 3),
                 st.integers(1, 3), st.integers(1, 3))
       .flatmap(lambda s: st.tuples(arrays((*s[0], s[1] * s[2] ** 2, s[3], s[4])),
                                    st.just(s[2]))))
def test_pixel_unshuffle_inverts_pixel_shuffle(problem):
    x_values, r = problem
    x = tg.tensor(x_values)
    shuffled = F.pixel_shuffle(x, r)
    assert shuffled.shape[-2:] == (x_values.shape[-2] * r, x_values.shape[-1] * r)
    np.testing.assert_array_equal(F.pixel_unshuffle(shuffled, r).numpy(), x_values)


def test_interpolate_and_pixel_shuffle_name_the_bad_argument():
    x = tg.tensor(np.ones((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="give exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set with the interpolating "
                                         "modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"mode 'bilinear' needs a 4-D input, got "
                                                  r"shape \(1, 4, 2\)"):
        F.interpolate(tg.tensor(np.ones((1, 4, 2))), size=3, mode="bilinear")
    with pytest.raises(NotImplementedError, match="mode must be one of"):
        F.interpolate(x, size=3, mode="lanczos")
    with pytest.raises(NotImplementedError, match=r"mode 'trilinear' needs a 5-D input"):
        F.interpolate(x, size=3, mode="trilinear")
    with pytest.raises(ValueError, match="antialias=True needs mode 'bilinear' or 'bicubic'"):
        F.interpolate(x, size=3, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match=r"size must have 2 entries for a 4-D input, got "
                                         r"\(1, 2, 3\)"):
        F.interpolate(x, size=(1, 2, 3))
    with pytest.raises(ValueError, match="scale_factor=0.2 makes an empty output"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match=r"pixel_shuffle: the channel axis \(4\) must be "
                                         r"divisible by upscale_factor\^2 = 9"):
        F.pixel_shuffle(x, 3)
    with pytest.raises(ValueError, match="pixel_unshuffle: the height and width must be "
                                         "divisible by downscale_factor = 3"):
        F.pixel_unshuffle(x, 3)
    with pytest.raises(ValueError, match="upscale_factor must be a positive int, got 0"):
        F.pixel_shuffle(x, 0)
