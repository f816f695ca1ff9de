"""The conv classifier: shapes, and a short end-to-end run with every artefact written.

The full run (98% on t10k[8000:]) takes minutes, so these smoke tests shorten ``--quick`` to a
few dozen steps; the accuracy they ask for only shows that the loop learns.
"""

import json

import numpy as np
import pytest

import models.classifier as classifier
import tinygen as tg


@pytest.fixture
def few_quick_steps(monkeypatch):
    monkeypatch.setattr(classifier, "QUICK_STEPS", 30)


def test_classifier_maps_mnist_batches_to_ten_logits():
    model = classifier.ConvClassifier(width=4)
    x = classifier.to_inputs(np.zeros((3, 28, 28), dtype=np.uint8))
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    assert model(tg.tensor(x)).shape == (3, 10)


def test_quick_run_learns_and_writes_metrics_plot_checkpoint_and_weights(tmp_path,
                                                                         few_quick_steps):
    result = classifier.main(["--quick", "--width", "8", "--out", str(tmp_path),
                              "--batch-size", "32", "--lr", "3e-3"])
    assert result["steps"] == 30
    assert result["accuracy"] > 0.5  # chance is 0.1
    names = {path.name for path in tmp_path.iterdir()}
    assert {"metrics.jsonl", "metrics.png", "checkpoint.npz", "classifier.safetensors"} <= names
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line.get("split") == "test"] == [0, 30]


def test_a_run_cut_short_mid_epoch_resumes_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(classifier, "QUICK_STEPS", 5)
    flags = ["--width", "4", "--out", str(tmp_path), "--batch-size", "1000"]
    first = classifier.main(["--quick", *flags])
    assert first["steps"] == 5  # 8 batches per epoch: it stopped inside the first epoch
    result = classifier.main([*flags, "--epochs", "1", "--resume"])
    assert result["steps"] == 8  # the rest of the first epoch, not a whole new one
