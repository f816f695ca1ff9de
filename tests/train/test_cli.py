"""The shared command line: one flag set and one help text across models."""

import pytest

from tinygen.train import (
    CHECKPOINT_FILE,
    add_model_flags,
    check_multiple,
    check_needs,
    check_range,
    make_parser,
    parse_args,
)

SHARED_FLAGS = ["--epochs", "--batch-size", "--lr", "--seed", "--device", "--out", "--resume",
                "--quick"]


def _help_by_flag(parser):
    return {action.option_strings[-1]: action.help for action in parser._actions
            if action.option_strings and action.option_strings[-1] != "--help"}


def test_every_model_gets_the_same_flags_and_help_text():
    first = make_parser("a", epochs=1, batch_size=2, lr=0.1, out="runs/a")
    second = make_parser("b", epochs=9, batch_size=64, lr=1e-3, out="runs/b")
    assert list(_help_by_flag(first)) == SHARED_FLAGS
    assert _help_by_flag(first) == _help_by_flag(second)


def test_model_defaults_and_flags_parse():
    parser = make_parser("m", epochs=3, batch_size=32, lr=2e-4, out="runs/m")
    add_model_flags(parser, "m").add_argument("--hidden", type=int, default=8, help="width")
    args = parse_args(parser, ["--lr", "0.5", "--quick", "--hidden", "4"])
    assert (args.epochs, args.batch_size, args.lr, args.quick, args.hidden) == (3, 32, 0.5,
                                                                               True, 4)
    assert args.device == "cpu" and args.resume is None and str(args.out) == "runs/m"


def test_bare_resume_means_the_checkpoint_in_the_run_directory():
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    args = parse_args(parser, ["--out", "elsewhere", "--resume"])
    assert str(args.resume) == f"elsewhere/{CHECKPOINT_FILE}"
    assert str(parse_args(parser, ["--resume", "x.npz"]).resume) == "x.npz"


@pytest.mark.parametrize(("argv", "message"), [
    (["--device", "tpu"], "argument --device: device must be one of ('cpu', 'cuda'), got 'tpu'"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
])
def test_bad_flags_exit_naming_flag_expected_and_actual(capsys, argv, message):
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    with pytest.raises(SystemExit):
        parse_args(parser, argv)
    assert message in capsys.readouterr().err


def _parsed(argv):
    parser = make_parser("m", epochs=1, batch_size=64, lr=1.0, out="runs/m")
    flags = add_model_flags(parser, "m")
    flags.add_argument("--model", default="a")
    flags.add_argument("--ema", type=float, default=0.0)
    flags.add_argument("--pack", type=int, default=1)
    flags.add_argument("--eval-only", action="store_true")
    return parser, parse_args(parser, argv)


@pytest.mark.parametrize(("argv", "low", "high", "bounds", "message"), [
    (["--ema", "1"], 0, 1, "[)", "--ema must be in [0, 1), got 1.0"),
    (["--ema", "0"], 0, 1, "(]", "--ema must be in (0, 1], got 0.0"),
    (["--ema", "-1"], 0, None, "[]", "--ema must be >= 0, got -1.0"),
    (["--ema", "0"], 0, None, "()", "--ema must be > 0, got 0.0"),
    (["--ema", "2"], None, 1, "[]", "--ema must be <= 1, got 2.0"),
])
def test_check_range_refuses_values_outside_the_interval(capsys, argv, low, high, bounds,
                                                         message):
    parser, args = _parsed(argv)
    with pytest.raises(SystemExit):
        check_range(parser, args, "--ema", low, high, bounds)
    assert message in capsys.readouterr().err


def test_check_range_accepts_the_bounds_it_includes():
    parser, args = _parsed(["--ema", "0"])
    check_range(parser, args, "--ema", 0, 1, "[)")
    check_range(parser, args, "--ema", low=0)
    with pytest.raises(ValueError, match="bounds must be one of"):
        check_range(parser, args, "--ema", 0, 1, "<>")


def test_check_needs_names_the_flag_and_what_it_needs(capsys):
    parser, args = _parsed(["--pack", "2", "--model", "b"])
    with pytest.raises(SystemExit):
        check_needs(parser, args, "--pack", "--model", ("a", "c"), used=args.pack > 1,
                    why="a reason")
    assert "--pack needs --model a or c, got 'b' (a reason)" in capsys.readouterr().err
    check_needs(parser, args, "--pack", "--model", ("b",), used=True)  # the needed value
    check_needs(parser, args, "--eval-only", "--resume")  # not used: nothing to need
    parser, args = _parsed(["--eval-only"])
    with pytest.raises(SystemExit):
        check_needs(parser, args, "--eval-only", "--resume")
    assert "argument --eval-only: needs --resume" in capsys.readouterr().err


def test_check_multiple_names_both_flags_and_values(capsys):
    parser, args = _parsed(["--pack", "3"])
    with pytest.raises(SystemExit):
        check_multiple(parser, args, "--batch-size", "--pack")
    assert "--batch-size 64 must be a multiple of --pack 3" in capsys.readouterr().err
    parser, args = _parsed(["--pack", "4"])
    check_multiple(parser, args, "--batch-size", "--pack")
