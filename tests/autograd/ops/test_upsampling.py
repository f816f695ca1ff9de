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
