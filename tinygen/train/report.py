"""A run's report: one self-contained HTML page (``OUT/report.html``) with the command and the
parsed flags, a line chart of every loss and metric series, the sample grids saved during
training behind a slider, the final figures in a table with their units, and every picture
the run saved.

Everything is inline: PNGs and GIFs as base64 data URLs, the charts as SVG drawn here, the
slider as a few lines of script; the page loads nothing from anywhere, so it can be mailed,
archived or opened offline. :class:`tinygen.train.RunLogger` rewrites it (atomically) at each
evaluation, each sample grid and at the end of training; :func:`tinygen.train.finish_run`
writes the last version once the final pictures exist and prints the line that says where
it is. This module only draws: it reads nothing but the run directory's pictures and
``run.json``, and is given the metric records.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from pathlib import Path

from tinygen.train.atomic import atomic_write

REPORT_FILE = "report.html"
RUN_FILE = "run.json"
PROGRESS_DIR = "progress"
PICTURE_SUFFIXES = (".png", ".gif")
COLOURS = ("#1f6fb2", "#e07a10", "#2f7d4a", "#7b4fc4", "#c0392b", "#6b7588")

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
  sans-serif; color: #1d2330; background: #f7f8fa; }
header { padding: 10px 18px; background: #fff; border-bottom: 1px solid #dde1e8; }
h1 { font-size: 17px; margin: 0; font-weight: 600; }
.status { color: #4a5568; }
main { padding: 6px 18px 30px; max-width: 1400px; }
h2 { font-size: 15px; margin: 22px 0 8px; }
pre { background: #fff; border: 1px solid #dde1e8; border-radius: 4px; padding: 8px 10px;
  white-space: pre-wrap; word-break: break-all; margin: 0; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #e3e6ec; padding: 3px 10px; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f3f8; font-weight: 600; }
.charts, .figures { display: flex; flex-wrap: wrap; gap: 12px; }
.config { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
  gap: 2px 14px; background: #fff; border: 1px solid #dde1e8; border-radius: 4px;
  padding: 6px 10px; }
.config div { overflow-wrap: anywhere; }
.config b { font-weight: 600; margin-right: 6px; }
.unit { font-size: 12px; color: #4a5568; max-width: 420px; }
.chart, figure { background: #fff; border: 1px solid #dde1e8; border-radius: 4px;
  margin: 0; padding: 6px; }
figure img, .snapshot img { image-rendering: pixelated; display: block; max-width: 100%;
  height: auto; }
figcaption { font-size: 12px; color: #4a5568; margin-top: 4px; }
svg text { font: 11px system-ui, Helvetica, Arial, sans-serif; fill: #333c4c; }
svg .axis { stroke: #b4bdcc; fill: none; }
svg .grid { stroke: #eef0f4; }
.slider { display: flex; align-items: center; gap: 12px; margin-bottom: 8px; }
#snapshot-slider { width: 360px; }
#snapshot-label { font-variant-numeric: tabular-nums; }
"""

# the slider shows one saved grid at a time; without script every grid stays visible
SLIDER_SCRIPT = """
(function () {
  var slider = document.getElementById("snapshot-slider");
  var label = document.getElementById("snapshot-label");
  var frames = document.querySelectorAll(".snapshot");
  function show() {
    var index = Number(slider.value);
    frames.forEach(function (frame, k) { frame.hidden = k !== index; });
    label.textContent = "step " + frames[index].dataset.step + " (" + (index + 1) +
      " of " + frames.length + ")";
  }
  slider.addEventListener("input", show);
  show();
})();
"""


def save_run_info(run_dir: str | os.PathLike, command: str, config: dict,
                  units: dict | None = None) -> Path:
    """Write ``run_dir/run.json``: the command line, the parsed flags and the units of the
    metrics, which the report shows. Values that JSON cannot hold are kept as text."""
    info = {"command": command, "config": {key: _plain(value) for key, value in config.items()},
            "units": dict(units or {})}
    path = Path(run_dir) / RUN_FILE
    with atomic_write(path) as file:
        file.write(json.dumps(info, indent=1).encode())
    return path


def write_report(run_dir: str | os.PathLike, records: list[dict], status: str = "finished",
                 refresh_seconds: int | None = None, skip: tuple[str, ...] = ()) -> Path:
    """Write ``run_dir/report.html`` (atomically) from the run's metric records and what the
    run directory holds.

    Args:
        run_dir: the run directory: ``run.json``, the grids under ``progress/`` and the
            pictures at its top level (each optional).
        records: the run's metric records, ``{"step": ..., "split": ..., name: value}``.
        status: a line under the title, e.g. "running: step 400 of 2000".
        refresh_seconds: while a run goes on, the page reloads itself this often (None:
            never, for a finished run).
        skip: file names left out of the pictures (the loss plot: the charts show it).

    Returns:
        The report's path.
    """
    run_dir = Path(run_dir)
    info = _read_json(run_dir / RUN_FILE)
    units = info.get("units", {})
    series, single = metric_series(records)
    parts = [_section("Command", _command_html(info)),
             _section("Losses and metrics", _charts_html(series, units)),
             _section("Samples over training", _slider_html(run_dir / PROGRESS_DIR)),
             _section("Final figures", _table_html(records, single, units)),
             _section("Pictures", _figures_html(run_dir, skip))]
    refresh = ("" if refresh_seconds is None else
               f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">')
    title = html.escape(f"tinygen run {run_dir.resolve().name}")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{refresh}'
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            f'<header><h1>{title}</h1><div class="status">{html.escape(status)} '
            f"(written {stamp})</div></header><main>{''.join(p for p in parts if p)}</main>"
            "</body></html>\n")
    path = run_dir / REPORT_FILE
    with atomic_write(path) as file:
        file.write(page.encode())
    return path


# ----------------------------------------------------------------------------- sections
def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>" if body else ""


def _command_html(info: dict) -> str:
    if not info:
        return ""
    flags = "".join(f"<div><b>{html.escape(str(key))}</b>{html.escape(_text(value))}</div>"
                    for key, value in info.get("config", {}).items())
    return (f"<pre>{html.escape(info.get('command', ''))}</pre>"
            f'<h2>Configuration (the parsed flags)</h2><div class="config">{flags}</div>')


def _charts_html(series: dict, units: dict) -> str:
    """One chart per metric; a ``raw_`` metric (the model without weight averaging) is drawn
    in its base metric's chart."""
    merged = {key: dict(by_split) for key, by_split in series.items()
              if not (key.startswith("raw_") and key.removeprefix("raw_") in series)}
    for key, by_split in series.items():
        if key not in merged:
            merged[key.removeprefix("raw_")].update(
                {f"{split}, raw": pair for split, pair in by_split.items()})
    charts = [f'<div class="chart">{line_chart(key, _as_shown(by_split, _unit(key, units)))}'
              f'<div class="unit">{html.escape(_unit(key, units))}</div></div>'
              for key, by_split in merged.items()]
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _as_shown(by_split: dict, unit: str) -> dict:
    """The series as the table shows them: a fraction in "%" drawn as a percentage."""
    if unit != "%":
        return by_split
    return {split: (steps, [100 * value for value in values])
            for split, (steps, values) in by_split.items()}


def _slider_html(progress: Path) -> str:
    grids = sorted(progress.glob("step_*.png")) if progress.is_dir() else []
    if not grids:
        return ""
    frames = "".join(
        f'<div class="snapshot" data-step="{int(grid.stem.split("_")[1])}">'
        f'<img src="{_data_url(grid)}" width="{2 * _width(grid)}" '
        f'alt="samples at step {int(grid.stem.split("_")[1])}"></div>'
        for grid in grids)
    return (f'<div class="slider"><input type="range" id="snapshot-slider" min="0" '
            f'max="{len(grids) - 1}" value="{len(grids) - 1}" step="1">'
            f'<span id="snapshot-label"></span></div>{frames}<script>{SLIDER_SCRIPT}</script>')


def _table_html(records: list[dict], single: dict, units: dict) -> str:
    """The last record of every split but the training losses, and any metric logged only
    once or never changing: metric, value, unit, split, step."""
    latest: dict = {}
    for record in records:
        split = record.get("split", "train")
        if split != "train":
            latest.pop(split, None)
            latest[split] = record
    # the split written last first: the final figures above the last periodic evaluation
    rows = [(key, value, split, record["step"]) for split, record in reversed(latest.items())
            for key, value in record.items() if key not in ("step", "epoch", "split")]
    shown = {(key, split) for key, _, split, _ in rows}
    rows += [(key, value, split, step) for (key, split), (step, value) in single.items()
             if (key, split) not in shown]
    if not rows:
        return ""
    body = []
    for key, value, split, step in rows:
        text, unit = format_value(value, _unit(key, units))
        body.append(f"<tr><td>{html.escape(key)}</td><td class='number'>{html.escape(text)}"
                    f"</td><td>{html.escape(unit)}</td><td>{html.escape(str(split))}</td>"
                    f"<td class='number'>{step}</td></tr>")
    return ("<table><tr><th>metric</th><th>value</th><th>unit</th><th>split</th><th>step</th>"
            f"</tr>{''.join(body)}</table>")


def _figures_html(run_dir: Path, skip: tuple[str, ...]) -> str:
    pictures = sorted(path for path in run_dir.iterdir() if path.suffix in PICTURE_SUFFIXES
                      and path.name not in skip and path.is_file())
    figures = "".join(
        f'<figure><img src="{_data_url(path)}" width="{_display_width(path)}" '
        f'alt="{html.escape(path.name)}"><figcaption>{html.escape(path.name)}</figcaption>'
        "</figure>" for path in pictures)
    return f'<div class="figures">{figures}</div>' if figures else ""


# ----------------------------------------------------------------------------- the charts
def line_chart(title: str, by_split: dict, width: int = 420, height: int = 210) -> str:
    """An SVG line chart of one metric: one line per split, the step along x.

    Args:
        title: the metric's name, drawn on top.
        by_split: split -> (steps, values), each a list of numbers (non-finite values are
            left out).
        width, height: the picture's size in pixels.

    Returns:
        The ``<svg>`` element as text.
    """
    left, right, top, bottom = 58, 22, 22, 34
    points = {split: [(s, v) for s, v in zip(*pair) if math.isfinite(v)]
              for split, pair in by_split.items()}
    every = [p for pts in points.values() for p in pts]
    if not every:
        return ""
    x_low, x_high = min(s for s, _ in every), max(s for s, _ in every)
    y_low, y_high = min(v for _, v in every), max(v for _, v in every)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    if y_high == y_low:
        y_low, y_high = y_low - 1, y_high + 1
    pad = 0.05 * (y_high - y_low)
    y_low, y_high = y_low - pad, y_high + pad
    inner_w, inner_h = width - left - right, height - top - bottom

    def x_of(step):
        return left + (step - x_low) / (x_high - x_low) * inner_w

    def y_of(value):
        return top + (y_high - value) / (y_high - y_low) * inner_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="{left}" y="14" font-weight="600">{html.escape(title)}</text>']
    # enough digits that the five labels differ: more for a narrow range of large values
    digits = max(3, math.ceil(math.log10(max(abs(y_low), abs(y_high)) / (y_high - y_low)
                                         + 1e-300)) + 2)
    for k in range(5):  # horizontal grid lines with their values
        value = y_low + k * (y_high - y_low) / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text x="{left - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{value:.{digits}g}</text>')
    parts.append(f'<rect class="axis" x="{left}" y="{top}" width="{inner_w}" '
                 f'height="{inner_h}"/>')
    for step in (x_low, (x_low + x_high) / 2, x_high):
        parts.append(f'<text x="{x_of(step):.1f}" y="{height - bottom + 14}" '
                     f'text-anchor="middle">{step:.6g}</text>')
    parts.append(f'<text x="{left + inner_w / 2:.1f}" y="{height - 4}" '
                 'text-anchor="middle">step</text>')
    for k, (split, pts) in enumerate(points.items()):
        colour = COLOURS[k % len(COLOURS)]
        coordinates = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                     f'points="{coordinates}"/>')
        if len(pts) <= 30:  # few points: mark each one
            parts.extend(f'<circle cx="{x_of(s):.1f}" cy="{y_of(v):.1f}" r="2.5" '
                         f'fill="{colour}"/>' for s, v in pts)
        # the legend: the line names side by side in the title row, right-aligned
        legend_x = width - right - sum(7 * len(name) + 12 for name in list(points)[:k])
        parts.append(f'<text x="{legend_x}" y="14" text-anchor="end" '
                     f'fill="{colour}">{html.escape(split)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ----------------------------------------------------------------------------- shared
def metric_series(records: list[dict]) -> tuple[dict, dict]:
    """Split a run's numeric metrics into series worth a chart and single figures.

    Returns:
        (series, single): ``series`` maps metric -> split -> (steps, values) for every
        metric and split with more than one point that are not all the same value;
        ``single`` maps (metric, split) -> (step, value) for the rest (a final figure, a
        constant), the value at the last step.
    """
    points: dict = {}  # (metric, split) -> ([steps], [values])
    for record in records:
        split = record.get("split", "train")
        for key, value in record.items():
            if key in ("step", "epoch", "split") or isinstance(value, bool) or not isinstance(
                    value, (int, float)):
                continue
            steps, values = points.setdefault((key, split), ([], []))
            steps.append(record["step"])
            values.append(value)
    series: dict = {}
    single: dict = {}
    for (key, split), (steps, values) in points.items():
        if len(values) > 1 and len(set(values)) > 1:
            series.setdefault(key, {})[split] = (steps, values)
        else:
            single[(key, split)] = (steps[-1], values[-1])
    return series, single


def format_value(value, unit: str = "") -> tuple[str, str]:
    """A figure as a reader sees it and its unit: "%" shows a fraction as a percentage,
    integers as they are, other numbers to 4 significant digits, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value), unit
    if unit == "%":
        return f"{100 * value:.2f}", "%"
    if isinstance(value, int):
        return str(value), unit
    return f"{value:.4g}", unit


# ----------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _unit(key: str, units: dict) -> str:
    return units.get(key, units.get(key.removeprefix("raw_"), ""))


def _plain(value):
    """A flag's value as JSON holds it: numbers, text, booleans, None and lists stay."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value)


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _data_url(path: Path) -> str:
    kind = "gif" if path.suffix == ".gif" else "png"
    return f"data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _width(path: Path) -> int:
    """A PNG's or GIF's width in pixels, read from its header."""
    head = path.read_bytes()[:32]
    if head[:4] == b"\x89PNG":
        return int.from_bytes(head[16:20], "big")
    return int.from_bytes(head[6:8], "little")  # GIF: little-endian width at byte 6


def _display_width(path: Path) -> int:
    """Grids of small images (MNIST's: 242 to 302 pixels wide) at twice their size, pixel
    for pixel; plots and animations as they are."""
    width = _width(path)
    return 2 * width if width <= 320 and path.suffix == ".png" else width
