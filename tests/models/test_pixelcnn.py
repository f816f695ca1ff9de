"""PixelCNN: causality, fast sampler == naive sampler, training smoke test."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from models import pixelcnn


def small_model(seed=0):
    tg.manual_seed(seed)
    return pixelcnn.PixelCNN(channels=8, blocks=2, head=8)


def test_pixelcnn_is_causal():
    report = tg.check_causal(small_model(), (1, 28, 28), pixels=12, seed=1)
    assert len(report.checked) == 12


def test_a_planted_mask_b_in_the_input_layer_is_caught():
    model = small_model()
    model.input = nn.MaskedConv2d(1, 8, 7, mask_type="B")  # B where A belongs
    with pytest.raises(tg.debug.CausalityError, match="including the pixel itself"):
        tg.check_causal(model, (1, 28, 28), pixels=12, seed=1)


def test_fast_sampler_draws_the_same_images_as_the_naive_one():
    model = small_model(2)
    rng = np.random.default_rng(3)
    start = 24 * 28  # the last four rows: enough pixels to cross rows and both edges
    images = (rng.random((3, 1, 28, 28)) > 0.5).astype(np.float32)
    images.reshape(3, -1)[:, start:] = 0
    uniforms = rng.random((3, pixelcnn.PIXELS))
    naive = pixelcnn.sample_naive(model, images, uniforms, start=start)
    fast = pixelcnn.sample_fast(model, images, uniforms, start=start)
    np.testing.assert_array_equal(fast, naive)
    assert 0 < naive.reshape(3, -1)[:, start:].mean() < 1  # it really sampled


def test_quick_training_run_lowers_the_nll_and_writes_its_files(tmp_path):
    metrics = pixelcnn.main(["--quick", "--out", str(tmp_path)])
    assert metrics["test_nll_nats"] < 28 * 28 * np.log(2)  # better than coin flips
    for name in ("samples.png", "completions.png", "receptive_field.png", "metrics.jsonl"):
        assert (tmp_path / name).exists()
