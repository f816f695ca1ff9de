"""Run logging: a tqdm bar with the live loss, a metrics JSONL per run, loss-curve plots, and
an abort on the first non-finite loss."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tqdm.auto import tqdm

from tinygen.train.atomic import atomic_write

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "metrics.png"


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names the step and the term."""


def check_finite(step: int, **losses: float) -> None:
    """Raise :class:`NonFiniteLossError` naming ``step`` and the first non-finite term."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise NonFiniteLossError(f"step {step}: loss term {name!r} is {value}; stopping "
                                     f"(lower the learning rate, or check the inputs)")


class RunLogger:
    """One run's progress bar and metrics file.

    Args:
        run_dir: directory of the run; metrics go to ``run_dir/metrics.jsonl`` (appended, so
            a resumed run continues the same file, which ``open_checkpoint`` has cut back to
            the resumed step).
        total_steps: length of the progress bar.
        initial_step: where the bar starts (the step a resumed run starts from).
        log_every: write one JSONL line every this many steps (eval lines always).
        disable_bar: hide the bar; None hides it when the output is not a terminal.
        desc: the bar's label.

    Example:
        >>> with RunLogger(out, total_steps=1000) as log:
        ...     log.step(step, epoch=epoch, loss=loss.item())   # bar, NaN check, JSONL
        ...     log.write(step, split="test", accuracy=0.98)    # an evaluation line
    """

    def __init__(self, run_dir: str | os.PathLike, total_steps: int | None = None,
                 initial_step: int = 0, log_every: int = 10, disable_bar: bool | None = False,
                 desc: str = "train"):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        self.log_every = max(1, int(log_every))
        self._file = open(self.path, "a", encoding="utf-8")
        self.bar = tqdm(total=total_steps, initial=initial_step, desc=desc, dynamic_ncols=True,
                        disable=disable_bar)

    def step(self, step: int, epoch: int | None = None, **losses: float) -> None:
        """Record one training step: abort on a non-finite loss, advance the bar with the
        live losses, and write a JSONL line every ``log_every`` steps."""
        losses = {name: float(value) for name, value in losses.items()}
        check_finite(step, **losses)
        self.bar.update(1)
        self.bar.set_postfix({name: f"{value:.4f}" for name, value in losses.items()},
                             refresh=False)
        if step % self.log_every == 0:
            self.write(step, epoch=epoch, **losses)

    def write(self, step: int, **metrics) -> None:
        """Append one line ``{"step": step, **metrics}`` to the metrics file, flushed.
        Entries whose value is None are left out."""
        record = {"step": int(step), **{k: v for k, v in metrics.items() if v is not None}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def print(self, message: str) -> None:
        """Print a line without breaking the progress bar."""
        self.bar.write(message)

    def close(self) -> None:
        self.bar.close()
        self._file.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def format_summary(title: str, metrics: dict, units: dict | None = None,
                   saved_in: str | os.PathLike | None = None) -> str:
    """A run's final numbers for a reader: one per line, aligned, each with its unit.

    Args:
        title: the first line, e.g. "test set, after 300 steps".
        metrics: name -> value (numbers; strings are shown as they are).
        units: name -> unit, e.g. ``{"test_neg_elbo": "nats per image"}``; "%" shows a
            fraction as a percentage. A name starting ``raw_`` takes its base name's unit.
        saved_in: the file that keeps the same numbers, machine-readable (named last).

    Returns:
        The text, without a trailing newline.
    """
    units = units or {}
    width = max((len(name) for name in metrics), default=0)
    lines = [title]
    for name, value in metrics.items():
        unit = units.get(name, units.get(name.removeprefix("raw_"), ""))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            text = str(value)
        elif unit == "%":
            text, unit = f"{100 * value:.2f}", "%"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = f"{value:.4g}"
        lines.append(f"  {name:<{width}}  {text:>10} {unit}".rstrip())
    if saved_in is not None:
        lines.append(f"  (the same numbers, machine-readable: {saved_in})")
    return "\n".join(lines)


def truncate_metrics(run_dir: str | os.PathLike, step: int | None) -> None:
    """Cut a run's metrics file back to the records of steps up to ``step`` (a resumed run's
    step: the rest is written again as the run goes on), or empty it (``step`` None: a fresh
    run into an old run directory). The rewrite is atomic; a missing file is left missing.
    A torn last line (a process killed mid-write) is dropped too."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return
    if step is None:
        path.unlink()
        return
    kept = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and (
                    record["step"] <= step):
                kept.append(line if line.endswith("\n") else line + "\n")
    with atomic_write(path) as file:
        file.write("".join(kept).encode())


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics JSONL file (a run directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"read_metrics: no metrics file at {str(path)!r}")
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def plot_metrics(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                 keys: list[str] | None = None) -> Path:
    """Plot each numeric metric of a run against the step, one panel per metric, to a PNG.

    Lines of a metric that carry a ``split`` field (e.g. test evaluations) are drawn as a
    separate series in the same panel, so train and test curves sit side by side.

    Args:
        run_dir: the run directory holding ``metrics.jsonl``.
        out: PNG path (default ``run_dir/metrics.png``).
        keys: the metrics to plot (default: every numeric field except step and epoch).

    Returns:
        The PNG path.
    """
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    series: dict = {}  # metric -> split -> ([steps], [values])
    for record in records:
        split = record.get("split", "train")
        for key, value in record.items():
            if key in ("step", "epoch", "split") or not isinstance(value, (int, float)):
                continue
            if keys is not None and key not in keys:
                continue
            steps, values = series.setdefault(key, {}).setdefault(split, ([], []))
            steps.append(record["step"])
            values.append(value)
    if not series:
        raise ValueError(f"plot_metrics: no numeric metrics to plot in {str(run_dir)!r}")
    figure, axes = plt.subplots(len(series), 1, figsize=(7, 2.6 * len(series)), squeeze=False)
    for axis, (key, by_split) in zip(axes[:, 0], series.items()):
        for split, (steps, values) in by_split.items():
            axis.plot(steps, values, marker="o" if len(steps) < 20 else None, label=split)
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
        axis.legend(loc="best")
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    out = Path(out) if out is not None else Path(run_dir) / PLOT_FILE
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
