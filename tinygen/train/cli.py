"""The command line every model script shares: one flag set, one help text.

A model passes its own defaults; the flags and their help are the same for every model, so
``python -m models.<name> --help`` reads alike across the project. Model-specific flags go
into their own titled group with :func:`add_model_flags`; the ``check_*`` functions refuse a
parsed value that argparse's types cannot judge alone (a range, a flag that needs another),
with a usage error that names the flag, what it needs and the value given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend
from tinygen.train.checkpoint import CHECKPOINT_FILE


def make_parser(description: str, *, epochs: int, batch_size: int, lr: float,
                out: str, seed: int = 0) -> argparse.ArgumentParser:
    """The shared parser with a model's defaults.

    Flags: --epochs --batch-size --lr --seed --device --out --resume --quick.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=_positive_int, default=epochs,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=_positive_int, default=batch_size,
                        help="examples per optimizer step")
    parser.add_argument("--lr", type=float, default=lr, help="learning rate")
    parser.add_argument("--seed", type=int, default=seed,
                        help="seeds the model, the data order and every random draw")
    parser.add_argument("--device", default="cpu",
                        help="cpu, or cuda (needs CuPy and a GPU)")
    parser.add_argument("--out", type=Path, default=Path(out),
                        help="run directory: metrics, plots, samples, checkpoint")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                        help=f"resume from a checkpoint (no PATH: OUT/{CHECKPOINT_FILE})")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run (a few hundred steps) to check that it works")
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
    """Parse, validate the device, and resolve ``--resume`` to a checkpoint path (or None).

    An unknown or unusable device exits with a usage error that names the flag, the
    accepted values and the value given.
    """
    args = parser.parse_args(argv)
    try:
        args.device = backend.check_device(args.device)
    except backend.DeviceError as error:
        parser.error(f"argument --device: {error}")
    if args.resume == "auto":
        args.resume = args.out / CHECKPOINT_FILE
    elif args.resume is not None:
        args.resume = Path(args.resume)
    return args


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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
