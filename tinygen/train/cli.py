"""The command line every model script shares: one flag set, one help text.

A model passes its own defaults; the flags and their help are the same for every model, so
``python -m models.<name> --help`` reads alike across the project. Model-specific flags go
into their own titled group with :func:`add_model_flags`, typed with :func:`positive_int`,
:func:`positive_float` and their kin, so that a bad value is refused by argparse itself; the
``check_*`` functions refuse a parsed value that a type cannot judge alone (a range, a flag
that needs another). Every refusal is argparse's usage error (exit status 2) naming the flag,
what it needs and the value given. :func:`script` does the same for what only shows once the
run starts: an unreadable checkpoint or a damaged data file.

A run can be paused (``--pause-at STEP``): the training loop calls :func:`pause_point` after
each step, which at that step saves the checkpoint and stops the run; ``--resume`` continues
it exactly where it stopped, as if it had never stopped.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from tinygen import backend
from tinygen.data.mnist import ChecksumError
from tinygen.train.checkpoint import CHECKPOINT_FILE, Checkpoint, CheckpointError


class RunPaused(Exception):
    """Raised by :func:`pause_point` at the ``--pause-at`` step, after the checkpoint is
    saved; :func:`script` turns it into a normal return."""

    def __init__(self, step: int):
        super().__init__(f"paused at step {step}")
        self.step = step


def make_parser(description: str, *, epochs: int, batch_size: int, lr: float,
                out: str, seed: int = 0) -> argparse.ArgumentParser:
    """The shared parser with a model's defaults.

    Flags: --epochs --batch-size --lr --seed --device --out --resume --quick --pause-at
    --log-every.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help="examples per optimizer step")
    parser.add_argument("--lr", type=positive_float, default=lr, help="learning rate")
    parser.add_argument("--seed", type=non_negative_int, default=seed,
                        help="seeds the model, the data order and every random draw")
    parser.add_argument("--device", default="cpu",
                        help="cpu, or cuda (needs CuPy and a GPU)")
    parser.add_argument("--out", type=Path, default=Path(out),
                        help="run directory: metrics, plots, samples, checkpoint")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                        help=f"resume from a checkpoint (no PATH: OUT/{CHECKPOINT_FILE})")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (a few hundred to a few thousand steps) that shows "
                             "the method works")
    parser.add_argument("--pause-at", type=positive_int, default=None, metavar="STEP",
                        help="save the checkpoint after this step (one past any resumed step) "
                             "and stop, without the final evaluation; --resume continues the "
                             "run as if it never stopped")
    parser.add_argument("--log-every", type=positive_int, default=10, metavar="STEPS",
                        help="write the training losses to metrics.jsonl every this many steps")
    return parser


def add_model_flags(parser: argparse.ArgumentParser, title: str = "model"
                    ) -> argparse._ArgumentGroup:
    """A titled group for a model's own flags, shown apart from the shared ones.

    Example:
        >>> group = add_model_flags(parser)
        >>> group.add_argument("--hidden", type=int, default=64, help="channels")
    """
    return parser.add_argument_group(f"{title} options")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None
               ) -> argparse.Namespace:
    """Parse, validate the device and the paths, and resolve ``--resume`` to a checkpoint
    path (or None). ``args.command`` is the command line, for the run's report (the
    program's own when ``argv`` is None).

    An unknown or unusable device, an ``--out`` that is a file, or a ``--resume`` that is
    missing or a directory exits with a usage error that names the flag, what it needs and
    the value given.
    """
    args = parser.parse_args(argv)
    args.command = (shlex.join(sys.orig_argv) if argv is None
                    else f"{parser.prog} {shlex.join(argv)}")
    try:
        args.device = backend.check_device(args.device)
    except backend.DeviceError as error:
        parser.error(f"argument --device: {error}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: expected a run directory, got the file {str(args.out)!r}")
    if args.resume is None:
        return args
    args.resume = args.out / CHECKPOINT_FILE if args.resume == "auto" else Path(args.resume)
    if args.resume.is_dir():
        parser.error(f"argument --resume: expected a checkpoint file, got the directory "
                     f"{str(args.resume)!r} (its run's checkpoint would be "
                     f"{str(args.resume / CHECKPOINT_FILE)!r})")
    if not args.resume.exists():
        parser.error(f"argument --resume: no checkpoint at {str(args.resume)!r}")
    return args


def quick_notice(command: str, steps: int, full_steps: int | None = None,
                 also: str = "") -> str:
    """The line a ``--quick`` run prints first: that it is short on purpose, and how to run
    the full one, so that its early stop and its numbers do not look like a failure.

    Args:
        command: the command of the full run, e.g. "python -m models.vae".
        steps: the quick run's training steps.
        full_steps: the full run's, when known.
        also: what else the quick run cuts, e.g. "a smaller model".
    """
    planned = f"{steps} training steps" + (
        f" instead of the full run's {full_steps}"
        if full_steps is not None and full_steps != steps else "")
    cuts = f"; {also}" if also else ""
    return (f"--quick: a short run on purpose ({planned}{cuts}) to check that everything "
            f"works; its numbers are not what the model reaches. The full run: {command} "
            "(the same flags, without --quick).")


def pause_point(args: argparse.Namespace, checkpoint: Checkpoint, step: int,
                epoch: int = 0) -> None:
    """Where a training loop may stop: at the ``--pause-at`` step, save ``checkpoint`` (with
    ``step`` and ``epoch``: the epoch a resumed run starts in) and raise :class:`RunPaused`.

    Call it once the step's work is complete (after its evaluation and logging, if any), so
    that the checkpoint holds exactly what an uninterrupted run has at that point.
    """
    if args.pause_at is not None and step == args.pause_at:
        checkpoint.save(step=step, epoch=epoch)
        raise RunPaused(step)


def script(main: Callable[[list[str] | None], dict]) -> Callable[[list[str] | None], dict]:
    """Decorate a model script's ``main(argv)``: a run paused by :func:`pause_point` returns
    ``{"paused_at": step}``; a :class:`CheckpointError`, or a ``ChecksumError`` of the data,
    ends the program as argparse's usage errors do, with ``PROG: error: MESSAGE`` on stderr
    and exit status 2, not a traceback."""
    @functools.wraps(main)
    def run(argv: list[str] | None = None):
        try:
            return main(argv)
        except RunPaused as pause:
            print(f"paused after step {pause.step}; continue with --resume", file=sys.stderr)
            return {"paused_at": pause.step}
        except (CheckpointError, ChecksumError) as error:
            prog = os.path.basename(sys.argv[0]) or "tinygen"
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)
    return run


def check_range(parser: argparse.ArgumentParser, args: argparse.Namespace, flag: str,
                low: float | None = None, high: float | None = None, bounds: str = "[]"
                ) -> None:
    """Exit with a usage error unless the value of ``flag`` lies between ``low`` and ``high``.

    Args:
        parser, args: the parser and what it parsed.
        flag: the option, e.g. "--ema"; its value is ``args.ema``.
        low, high: the bounds; None leaves that side open.
        bounds: "[]", "(]", "[)" or "()": whether each bound is allowed, in interval notation.

    Example:
        >>> check_range(parser, args, "--ema", 0, 1, "[)")  # "--ema must be in [0, 1), got 1.0"
    """
    if bounds not in ("[]", "(]", "[)", "()"):
        raise ValueError(f"check_range: bounds must be one of '[]', '(]', '[)', '()', got "
                         f"{bounds!r}")
    value = _value(args, flag)
    above = low is None or (value >= low if bounds[0] == "[" else value > low)
    below = high is None or (value <= high if bounds[1] == "]" else value < high)
    if above and below:
        return
    if low is not None and high is not None:
        parser.error(f"{flag} must be in {bounds[0]}{low}, {high}{bounds[1]}, got {value}")
    if low is not None:
        parser.error(f"{flag} must be {'>=' if bounds[0] == '[' else '>'} {low}, got {value}")
    parser.error(f"{flag} must be {'<=' if bounds[1] == ']' else '<'} {high}, got {value}")


def check_needs(parser: argparse.ArgumentParser, args: argparse.Namespace, flag: str,
                needs: str, allowed: tuple | None = None, *, used: bool | None = None,
                why: str = "") -> None:
    """Exit with a usage error if ``flag`` is used without the flag it ``needs``.

    Args:
        parser, args: the parser and what it parsed.
        flag: the option that needs another, e.g. "--pack".
        needs: the option it needs, e.g. "--model".
        allowed: the values of ``needs`` that ``flag`` works with; None: ``needs`` must only
            be given (not None).
        used: whether ``flag`` is in use (default: its value is truthy).
        why: a reason, shown in brackets after the message.

    Example:
        >>> check_needs(parser, args, "--pack", "--model", ("dcgan", "lsgan"),
        ...             used=args.pack > 1)  # "--pack needs --model dcgan or lsgan, got 'gan'"
    """
    if not (bool(_value(args, flag)) if used is None else used):
        return
    value = _value(args, needs)
    if (value is not None) if allowed is None else (value in allowed):
        return
    if allowed is None:  # argparse's own wording for a flag missing its partner
        message = f"argument {flag}: needs {needs}"
    else:
        message = f"{flag} needs {needs} {' or '.join(allowed)}, got {value!r}"
    parser.error(message + (f" ({why})" if why else ""))


def check_multiple(parser: argparse.ArgumentParser, args: argparse.Namespace, flag: str,
                   of: str) -> None:
    """Exit with a usage error unless the value of ``flag`` is a multiple of that of ``of``,
    e.g. "--batch-size 64 must be a multiple of --pack 3"."""
    value, divisor = _value(args, flag), _value(args, of)
    if value % divisor:
        parser.error(f"{flag} {value} must be a multiple of {of} {divisor}")


def _value(args: argparse.Namespace, flag: str):
    """The parsed value of ``flag``, under argparse's name for it ("--gp-weight": gp_weight)."""
    return getattr(args, flag.lstrip("-").replace("-", "_"))


# ----------------------------------------------------------------------------- flag types
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the flag in its error)."""
    return _integer(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _integer(text, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def _integer(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return value
