"""PixelRNN (Row LSTM and Diagonal BiLSTM): causality, fast sampler == naive sampler,
training smoke test."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from models import pixelrnn

LAYERS = ["row", "diag"]


def small_model(layer, seed=0):
    tg.manual_seed(seed)
    return pixelrnn.PixelRNN(layer, channels=6, hidden=3, layers=2, head=6)


@pytest.mark.parametrize("layer", LAYERS)
def test_pixelrnn_is_causal(layer):
    report = tg.check_causal(small_model(layer), (1, 28, 28), pixels=10, seed=1)
    assert len(report.checked) == 10


@pytest.mark.parametrize("layer", LAYERS)
def test_a_planted_mask_b_in_the_input_layer_is_caught(layer):
    model = small_model(layer)
    model.input = nn.MaskedConv2d(1, 6, 7, mask_type="B")  # B where A belongs
    with pytest.raises(tg.debug.CausalityError, match="including the pixel itself"):
        tg.check_causal(model, (1, 28, 28), pixels=10, seed=1)


@pytest.mark.parametrize("layer", LAYERS)
def test_fast_sampler_draws_the_same_images_as_the_naive_one(layer):
    # the samplers work at any size; 9x9 keeps the naive one (a forward per pixel) quick
    model = small_model(layer, seed=2)
    rng = np.random.default_rng(3)
    n, side = 3, 9
    start = 5 * side + 4  # mid-row: given rows, a partial row, then whole rows to the end
    images = (rng.random((n, 1, side, side)) > 0.5).astype(np.float32)
    images.reshape(n, -1)[:, start:] = 0
    uniforms = rng.random((n, side * side))

    naive = pixelrnn.sample_naive(model, images, uniforms, start=start)
    fast = pixelrnn.sample_fast(model, images, uniforms, start=start)

    np.testing.assert_array_equal(fast, naive)
    np.testing.assert_array_equal(fast.reshape(n, -1)[:, :start], images.reshape(n, -1)[:, :start])
    assert 0 < naive.reshape(n, -1)[:, start:].mean() < 1  # it really sampled


def test_quick_training_run_lowers_the_nll_and_writes_its_files(tmp_path):
    metrics = pixelrnn.main(["--quick", "--layer", "row", "--out", str(tmp_path)])
    assert metrics["test_nll_nats"] < 28 * 28 * np.log(2)  # better than coin flips
    assert metrics["test_bits_per_dim"] == pytest.approx(
        metrics["test_nll_nats"] / (28 * 28 * np.log(2)))
    for name in ("samples.png", "completions.png", "receptive_field.png", "metrics.jsonl"):
        assert (tmp_path / name).exists()
