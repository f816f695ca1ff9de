"""The run report (report.html): self-contained, complete, refreshed mid-run, written
atomically; metrics.png keeps only series; progress output reads line by line in a log."""

import re

import numpy as np
import pytest
from PIL import Image

from tinygen.train import RunLogger, finish_run, line_chart, plot_metrics, read_metrics
from tinygen.train import report as report_module
from tinygen.train.report import metric_series

CONFIG = {"command": "python -m models.toy --steps 30 --lr 0.001", "steps": 30, "lr": 0.001,
          "out": "runs/toy", "resume": None}
UNITS = {"fid": "Frechet distance, lower is better", "accuracy": "%"}


def grid(step: int) -> np.ndarray:
    """8 distinct 28x28 images whose brightness tells the step."""
    rng = np.random.default_rng(step)
    return rng.random((8, 1, 28, 28)).astype(np.float32) * (step / 30)


def a_run(run_dir, steps=30, eval_every=10):
    """A toy run: a falling loss every step, an evaluation and a sample grid every
    ``eval_every`` steps, a final line and a picture; returns the report's path."""
    with RunLogger(run_dir, total_steps=steps, log_every=1, disable_bar=True, config=CONFIG,
                   units=UNITS) as log:
        for step in range(1, steps + 1):
            log.step(step, loss=1.0 / step, lr=0.001)
            if step % eval_every == 0:
                log.write(step, split="samples", fid=100.0 / step)
                log.snapshot(step, grid(step))
        log.write(steps, split="final", fid=3.25, accuracy=0.975, steps=steps)
    Image.fromarray(np.zeros((28, 56), np.uint8)).save(run_dir / "samples.png")
    return finish_run(run_dir)


def test_the_report_is_self_contained_with_command_config_series_slider_table(tmp_path,
                                                                              capsys):
    path = a_run(tmp_path)
    page = path.read_text()

    assert path == tmp_path / "report.html"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)  # nothing fetched
    assert "<link" not in page and "<script src" not in page
    assert CONFIG["command"] in page
    for key in ("steps", "lr", "out", "resume"):
        assert f"<b>{key}</b>" in page
    assert "<b>command</b>" not in page  # the command line is shown once, above
    charts = re.findall(r'<svg .*?aria-label="(\w+)".*?</svg>', page)
    assert charts == ["loss", "fid"]  # the series; lr never changes: it is in the table
    assert re.search(r'<input type="range" id="snapshot-slider" min="0" max="2" value="2"',
                     page)
    assert re.findall(r'class="snapshot" data-step="(\d+)"><img src="data:image/png;base64,',
                      page) == ["10", "20", "30"]
    for metric, value, unit in (("fid", "3.25", UNITS["fid"]), ("accuracy", "97.50", "%"),
                                ("steps", "30", ""), ("lr", "0.001", "")):
        assert re.search(rf"<tr><td>{metric}</td><td class='number'>{value}</td>"
                         rf"<td>{re.escape(unit)}</td>", page), metric
    assert 'alt="samples.png"' in page and 'src="data:image/png;base64,' in page
    assert 'http-equiv="refresh"' not in page  # a finished run's page stays put
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"open {path} in a browser")


def test_the_report_is_refreshed_mid_run_at_each_evaluation_and_grid(tmp_path):
    with RunLogger(tmp_path, total_steps=20, log_every=1, disable_bar=True,
                   config=CONFIG) as log:
        started = (tmp_path / "report.html").read_text()
        for step in range(1, 11):
            log.step(step, loss=1.0 / step)
        log.write(10, split="samples", fid=50.0)
        after_eval = (tmp_path / "report.html").read_text()
        log.snapshot(10, grid(10))
        after_grid = (tmp_path / "report.html").read_text()

    assert "started at step 0" in started and CONFIG["command"] in started
    assert "running: step 10 of 20" in after_eval and 'aria-label="loss"' in after_eval
    assert "<td>fid</td>" in after_eval and 'id="snapshot-slider"' not in after_eval
    assert 'data-step="10"' in after_grid
    assert 'http-equiv="refresh" content="30"' in after_grid  # an open tab follows the run
    assert "training ended at step 10" in (tmp_path / "report.html").read_text()


def test_a_failed_rewrite_leaves_the_last_report_whole(tmp_path, monkeypatch):
    path = a_run(tmp_path)
    before = path.read_bytes()

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(report_module, "_figures_html", broken)
    with pytest.raises(OSError, match="disk full"):
        report_module.write_report(tmp_path, read_metrics(tmp_path))

    assert path.read_bytes() == before
    assert list(tmp_path.glob(".report.html.*")) == []  # no temp file left behind


def test_a_run_stopped_by_an_error_says_so_in_its_report(tmp_path):
    with pytest.raises(FloatingPointError):
        with RunLogger(tmp_path, log_every=1, disable_bar=True, config=CONFIG) as log:
            log.step(1, loss=0.5)
            log.step(2, loss=float("nan"))
    assert "stopped after step 1: NonFiniteLossError" in (tmp_path / "report.html").read_text()


def test_a_resumed_run_redraws_the_grids_after_its_step_and_a_fresh_run_all(tmp_path):
    for step in (10, 20, 30):
        (tmp_path / "progress").mkdir(exist_ok=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(
            tmp_path / "progress" / f"step_{step:07d}.png")
    RunLogger(tmp_path, initial_step=20, disable_bar=True, config=CONFIG).close()
    assert sorted(p.name for p in (tmp_path / "progress").iterdir()) == [
        "step_0000010.png", "step_0000020.png"]
    RunLogger(tmp_path, disable_bar=True, config=CONFIG).close()
    assert list((tmp_path / "progress").iterdir()) == []


def test_a_logger_without_a_config_writes_no_report(tmp_path):
    with RunLogger(tmp_path, log_every=1, disable_bar=True) as log:
        log.step(1, loss=1.0)
    assert not (tmp_path / "report.html").exists()


def test_metrics_png_panels_are_only_the_series(tmp_path):
    a_run(tmp_path)
    series, single = metric_series(read_metrics(tmp_path))

    assert {key: sorted(by_split) for key, by_split in series.items()} == {
        "loss": ["train"], "fid": ["samples"]}
    assert {("lr", "train"), ("fid", "final"), ("accuracy", "final"), ("steps", "final")} <= set(
        single)
    with Image.open(tmp_path / "metrics.png") as image:
        assert image.height == 2 * 260  # two panels of 2.6 inches at 100 dpi: loss and fid


def test_a_run_with_no_series_has_no_metrics_png_and_still_a_report(tmp_path):
    (tmp_path / "metrics.png").write_bytes(b"an earlier run's plot")
    with RunLogger(tmp_path, disable_bar=True, config=CONFIG) as log:
        log.write(1, split="final", fid=3.0)

    finish_run(tmp_path)

    assert not (tmp_path / "metrics.png").exists()
    assert "<td>fid</td>" in (tmp_path / "report.html").read_text()
    with pytest.raises(ValueError, match="no series to plot"):
        plot_metrics(tmp_path)


def test_progress_without_a_terminal_is_a_plain_line_every_tenth(tmp_path, capsys):
    with RunLogger(tmp_path, total_steps=20, desc="toy") as log:  # capsys: not a terminal
        for step in range(1, 21):
            log.step(step, loss=0.5)
    out, err = capsys.readouterr()

    lines = out.splitlines()
    assert [re.match(r"toy: step (\d+)/20", line).group(1) for line in lines] == [
        str(step) for step in range(2, 21, 2)]
    assert lines[-1].startswith("toy: step 20/20 (100%), ") and lines[-1].endswith("loss 0.5000")
    assert "\r" not in out + err


def test_line_chart_draws_one_line_per_split_and_skips_non_finite_points():
    svg = line_chart("fid", {"samples": ([1, 2, 3], [30.0, float("nan"), 10.0]),
                             "raw": ([1, 3], [35.0, 12.0])})
    lines = re.findall(r'<polyline [^>]*points="([^"]*)"', svg)
    assert [len(points.split()) for points in lines] == [2, 2]
    assert ">samples</text>" in svg and ">raw</text>" in svg


def test_a_run_without_training_steps_prints_no_progress_line(tmp_path, capsys):
    with RunLogger(tmp_path, total_steps=300, initial_step=300) as log:  # --eval-only
        log.write(300, split="test", loss=1.0)
    assert capsys.readouterr().out == ""


def test_a_fraction_in_percent_is_charted_as_the_table_shows_it(tmp_path):
    with RunLogger(tmp_path, total_steps=2, log_every=1, disable_bar=True, config=CONFIG,
                   units=UNITS) as log:
        log.write(1, split="samples", accuracy=0.25)
        log.write(2, split="samples", accuracy=0.75)
    page = finish_run(tmp_path).read_text()

    chart = re.search(r'<svg [^>]*aria-label="accuracy".*?</svg>', page, re.S).group(0)
    labels = [float(text) for text in re.findall(r">(-?[0-9.]+)</text>", chart)]
    assert max(labels) > 70 and min(labels) < 30  # 25 % to 75 %, not 0.25 to 0.75
