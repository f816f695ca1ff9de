"""check_causal on stacks of masked convolutions, and on a planted wrong mask."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen as tg
import tinygen.nn as nn


def pixel_stack(first_mask="A", channels=4, layers=3):
    tg.manual_seed(0)
    modules = [nn.MaskedConv2d(1, channels, 5, mask_type=first_mask), nn.ReLU()]
    for _ in range(layers - 1):
        modules += [nn.MaskedConv2d(channels, channels, 3, mask_type="B"), nn.ReLU()]
    modules.append(nn.MaskedConv2d(channels, 1, 1, mask_type="B"))
    return nn.Sequential(*modules)


def test_a_pixelcnn_stack_sees_only_the_past_at_every_pixel(tmp_path):
    report = tg.check_causal(pixel_stack(), (1, 6, 6))
    assert len(report.checked) == 36
    assert report.coverage[5, 5] == 0  # the last pixel is nobody's past
    png = report.save_heatmap(tmp_path / "field.png")
    assert png.stat().st_size > 0


@given(st.integers(0, 2 ** 16))
def test_a_drawn_sample_of_pixels_passes_and_the_field_is_in_the_past(seed):
    report = tg.check_causal(pixel_stack(layers=2), (1, 7, 7), pixels=5, seed=seed)
    i, j = report.pixel
    field = report.receptive_field != 0
    assert not field[i, j:].any() and not field[i + 1:].any()


def test_a_planted_wrong_mask_is_caught():
    with pytest.raises(tg.debug.CausalityError, match=r"including the pixel itself"):
        tg.check_causal(pixel_stack(first_mask="B"), (1, 6, 6))


def test_check_causal_rejects_bad_arguments():
    with pytest.raises(ValueError, match="order must be 'raster'"):
        tg.check_causal(pixel_stack(), (1, 4, 4), order="zigzag")
    with pytest.raises(ValueError, match="input_shape"):
        tg.check_causal(pixel_stack(), (4, 4))
    with pytest.raises(ValueError, match=r"pixels must be in \[1, 16\]"):
        tg.check_causal(pixel_stack(), (1, 4, 4), pixels=17)
    identity = nn.Sequential(nn.Flatten())
    with pytest.raises(ValueError, match="must return"):
        tg.check_causal(identity, (1, 4, 4))
    assert np.all(tg.debug.causal.allowed_past(2, 2, 1, 1) == [[True, True], [True, False]])
