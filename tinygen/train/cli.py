"""The command line every model script shares: one flag set, one help text.

A model passes its own defaults; the flags and their help are the same for every model, so
``python -m models.<name> --help`` reads alike across the project. Model-specific flags go
into their own titled group with :func:`add_model_flags`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinygen import backend

CHECKPOINT_FILE = "checkpoint.npz"


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


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value
