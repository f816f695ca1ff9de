"""Run logging: a tqdm bar with the live loss (plain lines when the output is not a terminal),
a metrics JSONL per run, loss-curve plots, the run's HTML report, and an abort on the first
non-finite loss."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from tinygen.train.atomic import atomic_write
from tinygen.train.images import save_image_grid
from tinygen.train.report import (
    PROGRESS_DIR,
    format_value,
    metric_series,
    save_run_info,
    write_report,
)

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "metrics.png"
# a run's report reloads itself this often in an open browser tab while the run goes on, and
# is rewritten on training-loss lines at most this often (evaluations rewrite it at once)
REFRESH_SECONDS = 30
# without a terminal, a progress line every tenth of the run, and at least this often
PLAIN_LINE_SECONDS = 60


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names the step and the term."""


def check_finite(step: int, **losses: float) -> None:
    """Raise :class:`NonFiniteLossError` naming ``step`` and the first non-finite term."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise NonFiniteLossError(f"step {step}: loss term {name!r} is {value}; stopping "
                                     f"(lower the learning rate, or check the inputs)")


class RunLogger:
    """One run's progress output, metrics file and report.

    Args:
        run_dir: directory of the run; metrics go to ``run_dir/metrics.jsonl`` (appended, so
            a resumed run continues the same file, which ``open_checkpoint`` has cut back to
            the resumed step).
        total_steps: the run's last step (the bar's length).
        initial_step: where the bar starts (the step a resumed run starts from).
        log_every: write one JSONL line every this many steps (eval lines always).
        disable_bar: True: no progress output. Otherwise a tqdm bar on a terminal, and
            without one (a CI log, a file) a plain line every tenth of the run and at least
            once a minute, so that the log reads line by line.
        desc: the bar's label.
        config: the parsed flags (``argparse.Namespace`` or dict); given, the run keeps a
            report, ``run_dir/report.html``, written now, rewritten at each evaluation line
            and sample grid (:meth:`snapshot`) and at the end; its ``command`` entry (set by
            ``parse_args``) is shown as the command line.
        units: metric name -> unit, for the report's table (as in :func:`format_summary`).

    Example:
        >>> with RunLogger(out, total_steps=1000, config=args) as log:
        ...     log.step(step, epoch=epoch, loss=loss.item())   # bar, NaN check, JSONL
        ...     log.write(step, split="test", accuracy=0.98)    # an evaluation line
    """

    def __init__(self, run_dir: str | os.PathLike, total_steps: int | None = None,
                 initial_step: int = 0, log_every: int = 10, disable_bar: bool | None = False,
                 desc: str = "train", config=None, units: dict | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        self.log_every = max(1, int(log_every))
        self._file = open(self.path, "a", encoding="utf-8")
        self.desc, self.total, self.n = desc, total_steps, initial_step
        self.plain = not disable_bar and not sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, initial=initial_step, desc=desc, dynamic_ncols=True,
                        disable=bool(disable_bar) or self.plain)
        self._started = self._last_line = self._last_report = time.perf_counter()
        self._start_step, self._losses = initial_step, {}
        self.report = config is not None
        if self.report:
            config = dict(vars(config) if not isinstance(config, dict) else config)
            save_run_info(self.run_dir, str(config.pop("command", "")), config, units)
            self._forget_grids_after(initial_step)
            self._refresh(f"started at step {initial_step}")

    def step(self, step: int, epoch: int | None = None, **losses: float) -> None:
        """Record one training step: abort on a non-finite loss, advance the progress with
        the live losses, and write a JSONL line every ``log_every`` steps."""
        losses = {name: float(value) for name, value in losses.items()}
        check_finite(step, **losses)
        self.n, self._losses = step, losses
        self.bar.update(1)
        self.bar.set_postfix({name: f"{value:.4f}" for name, value in losses.items()},
                             refresh=False)
        if self.plain:
            self._plain_line()
        if step % self.log_every == 0:
            self.write(step, epoch=epoch, **losses)

    def write(self, step: int, **metrics) -> None:
        """Append one line ``{"step": step, **metrics}`` to the metrics file, flushed.
        Entries whose value is None are left out. An evaluation line (one with a ``split``)
        rewrites the report at once; training lines at most every 30 s."""
        record = {"step": int(step), **{k: v for k, v in metrics.items() if v is not None}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if "split" in record or time.perf_counter() - self._last_report > REFRESH_SECONDS:
            self._refresh(self._running(step))

    def snapshot(self, step: int, images, nrow: int = 8) -> Path:
        """Save a grid of samples of ``step`` to ``run_dir/progress/`` (the report's slider
        shows them in step order) and rewrite the report. ``images`` as in
        :func:`~tinygen.train.make_grid`. Returns the PNG's path."""
        path = save_image_grid(images, self.run_dir / PROGRESS_DIR / f"step_{step:07d}.png",
                               nrow=nrow)
        self._refresh(self._running(step))
        return path

    def print(self, message: str) -> None:
        """Print a line without breaking the progress bar."""
        if self.bar.disable:
            print(message, flush=True)
        else:
            self.bar.write(message)

    def close(self, failed: BaseException | None = None) -> None:
        """Close the bar and the metrics file; the report says where training ended."""
        if self.plain and self.n not in (self._line_step, self._start_step):
            self._plain_line(force=True)
        self.bar.close()
        self._file.close()
        if failed is not None:
            self._refresh(f"stopped after step {self.n}: {type(failed).__name__}: {failed}")
        else:
            self._refresh(f"training ended at step {self.n}; the final evaluation follows")

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(error)

    # ------------------------------------------------------------------------- internals
    _line_step = None  # the step of the last plain progress line

    def _plain_line(self, force: bool = False) -> None:
        """A progress line at each tenth of the run, at least every minute, and at the end."""
        now = time.perf_counter()
        tenth = max(1, (self.total or 0) // 10)
        if not (force or self.n == self.total or (self.total and self.n % tenth == 0)
                or now - self._last_line > PLAIN_LINE_SECONDS):
            return
        done = self.n - self._start_step
        rate = done / max(now - self._started, 1e-9)
        where = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        losses = ", ".join(f"{name} {value:.4f}" for name, value in self._losses.items())
        left = ""
        if self.total and rate > 0 and self.n < self.total:
            left = f", {(self.total - self.n) / rate:.0f} s left"
        print(f"{self.desc}: step {where}{share}, {rate:.2f} steps/s{left}"
              + (f", {losses}" if losses else ""), flush=True)
        self._last_line, self._line_step = now, self.n

    def _running(self, step: int) -> str:
        return f"running: step {step}" + (f" of {self.total}" if self.total else "")

    def _refresh(self, status: str) -> None:
        if not self.report:
            return
        write_report(self.run_dir, read_metrics(self.path), status,
                     refresh_seconds=REFRESH_SECONDS, skip=(PLOT_FILE,))
        self._last_report = time.perf_counter()

    def _forget_grids_after(self, step: int) -> None:
        """Remove the sample grids of steps after ``step``: a resumed run draws them again,
        and a fresh run (step 0) must not show an earlier run's."""
        for grid in (self.run_dir / PROGRESS_DIR).glob("step_*.png"):
            if int(grid.stem.split("_")[1]) > step:
                grid.unlink()


def finish_run(run_dir: str | os.PathLike) -> Path:
    """The last lines of a model script: ``metrics.png`` with the run's series (when any
    metric varies), the final report, and one printed line saying what to open.

    Returns:
        The report's path.
    """
    run_dir = Path(run_dir)
    records = read_metrics(run_dir) if (run_dir / METRICS_FILE).is_file() else []
    series, _ = metric_series(records)
    if series:
        plot_metrics(run_dir)
    else:  # nothing varies: an earlier run's plot would mislead
        (run_dir / PLOT_FILE).unlink(missing_ok=True)
    path = write_report(run_dir, records, skip=(PLOT_FILE,))
    print(f"open {path} in a browser: the run's curves, samples over training, final figures "
          "and pictures on one page", flush=True)
    return path


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
        text, unit = format_value(value, units.get(name, units.get(name.removeprefix("raw_"),
                                                                     "")))
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
    """Plot each series of a run against the step, one panel per metric, to a PNG.

    Lines of a metric that carry a ``split`` field (e.g. test evaluations) are drawn as a
    separate series in the same panel, so train and test curves sit side by side. Only
    series are drawn: a metric logged once, or never changing (a final figure, a
    constant), has no panel; the run's report lists those in its table.

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

    series, _ = metric_series(read_metrics(run_dir))  # metric -> split -> (steps, values)
    series = {key: by_split for key, by_split in series.items() if keys is None or key in keys}
    if not series:
        raise ValueError(f"plot_metrics: no series to plot in {str(run_dir)!r} (no metric "
                         "with more than one differing value)")
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
