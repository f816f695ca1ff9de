"""Run logging: the non-finite abort, the metrics JSONL, the loss plot."""

import math

import pytest
from PIL import Image

from tinygen.train import NonFiniteLossError, RunLogger, check_finite, plot_metrics, read_metrics


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_aborts_naming_the_step_and_the_term(bad):
    with pytest.raises(NonFiniteLossError, match=f"step 42: loss term 'kl' is {bad}"):
        check_finite(42, reconstruction=1.0, kl=bad)


def test_run_logger_writes_every_nth_step_and_every_eval_line(tmp_path):
    with RunLogger(tmp_path, total_steps=6, log_every=2, disable_bar=True) as log:
        for step in range(1, 7):
            log.step(step, epoch=0, loss=1.0 / step)
        log.write(6, split="test", accuracy=0.5, ignored=None)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [2, 4, 6, 6]
    assert records[0] == {"step": 2, "epoch": 0, "loss": 0.5}
    assert records[-1] == {"step": 6, "split": "test", "accuracy": 0.5}


def test_run_logger_stops_on_nan_and_keeps_what_it_wrote(tmp_path):
    with RunLogger(tmp_path, log_every=1, disable_bar=True) as log:
        log.step(1, loss=0.3)
        with pytest.raises(NonFiniteLossError, match="step 2: loss term 'loss' is nan"):
            log.step(2, loss=math.nan)
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 0.3}]


def test_a_resumed_run_appends_to_the_same_metrics_file(tmp_path):
    for step in (1, 2):
        with RunLogger(tmp_path, log_every=1, disable_bar=True) as log:
            log.step(step, loss=1.0)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_plot_metrics_writes_a_png_with_one_panel_per_series(tmp_path):
    with RunLogger(tmp_path, log_every=1, disable_bar=True) as log:
        for step in range(1, 30):
            log.step(step, loss=1.0 / step, kl=0.1 * step)
        log.write(29, split="test", loss=0.2)
    path = plot_metrics(tmp_path)
    assert path == tmp_path / "metrics.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.height > image.width / 2  # two stacked panels


def test_metrics_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics file at .*metrics.jsonl"):
        read_metrics(tmp_path)
