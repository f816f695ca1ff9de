"""The conv classifier: shapes, and a quick end-to-end run with every artefact written."""

import json

import numpy as np

import tinygen as tg
from models.classifier import ConvClassifier, main, to_inputs


def test_classifier_maps_mnist_batches_to_ten_logits():
    model = ConvClassifier(width=4)
    x = to_inputs(np.zeros((3, 28, 28), dtype=np.uint8))
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    assert model(tg.tensor(x)).shape == (3, 10)


def test_quick_run_learns_and_writes_metrics_plot_checkpoint_and_weights(tmp_path):
    result = main(["--quick", "--width", "8", "--out", str(tmp_path), "--batch-size", "32"])
    assert result["steps"] == 200
    assert result["accuracy"] > 0.85  # 200 steps of a narrow net; the full run reaches 98%
    names = {path.name for path in tmp_path.iterdir()}
    assert {"metrics.jsonl", "metrics.png", "checkpoint.npz", "classifier.safetensors"} <= names
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(line.get("split") == "test" for line in lines)


def test_a_run_cut_short_mid_epoch_resumes_where_it_stopped(tmp_path):
    first = main(["--quick", "--width", "4", "--out", str(tmp_path)])
    assert first["steps"] == 200  # 125 batches per epoch: it stopped inside the second epoch
    result = main(["--width", "4", "--out", str(tmp_path), "--epochs", "2", "--resume"])
    assert result["steps"] == 2 * 125  # the rest of the second epoch, not two more epochs
