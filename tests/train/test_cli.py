"""The shared command line: one flag set and one help text across models; every bad value or
path is argparse's usage error naming the flag; pausing and the script wrapper."""

import argparse

import pytest

from tinygen.data import ChecksumError
from tinygen.train import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointError,
    RunPaused,
    add_model_flags,
    check_multiple,
    check_needs,
    check_range,
    finite_float,
    load_state,
    make_parser,
    non_negative_float,
    non_negative_int,
    parse_args,
    pause_point,
    positive_float,
    positive_int,
    script,
)

SHARED_FLAGS = ["--epochs", "--batch-size", "--lr", "--seed", "--device", "--out", "--resume",
                "--quick", "--pause-at", "--log-every"]


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


def test_bare_resume_means_the_checkpoint_in_the_run_directory(tmp_path):
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / CHECKPOINT_FILE).write_bytes(b"")
    (tmp_path / "x.npz").write_bytes(b"")
    args = parse_args(parser, ["--out", str(tmp_path / "elsewhere"), "--resume"])
    assert args.resume == tmp_path / "elsewhere" / CHECKPOINT_FILE
    assert parse_args(parser, ["--resume", str(tmp_path / "x.npz")]).resume == tmp_path / "x.npz"


@pytest.mark.parametrize(("argv", "message"), [
    (["--device", "tpu"], "argument --device: device must be one of ('cpu', 'cuda'), got 'tpu'"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["--epochs", "two"], "argument --epochs: expected a positive integer, got 'two'"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
    (["--batch-size", "1.5"], "argument --batch-size: expected a positive integer, got '1.5'"),
    (["--lr", "-1"], "argument --lr: expected a number > 0, got -1"),
    (["--lr", "0"], "argument --lr: expected a number > 0, got 0"),
    (["--lr", "nan"], "argument --lr: expected a finite number, got nan"),
    (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
    (["--seed", "-3"], "argument --seed: expected an integer >= 0, got -3"),
    (["--pause-at", "0"], "argument --pause-at: expected a positive integer, got 0"),
    (["--log-every", "-2"], "argument --log-every: expected a positive integer, got -2"),
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


# ----------------------------------------------------------------------------- paths
def _usage_error(capsys, parser, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(parser, argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_an_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    (tmp_path / "taken").write_text("not a directory")
    message = _usage_error(capsys, parser, ["--out", str(tmp_path / "taken")])
    assert "argument --out: expected a run directory, got the file" in message


def test_resume_from_a_directory_or_a_missing_file_is_a_usage_error(tmp_path, capsys):
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    message = _usage_error(capsys, parser, ["--resume", str(tmp_path)])
    assert "argument --resume: expected a checkpoint file, got the directory" in message
    assert f"{tmp_path / CHECKPOINT_FILE}" in message  # the file it probably meant
    message = _usage_error(capsys, parser, ["--resume", str(tmp_path / "gone.npz")])
    assert "argument --resume: no checkpoint at" in message and "gone.npz" in message
    message = _usage_error(capsys, parser, ["--out", str(tmp_path / "new"), "--resume"])
    assert f"argument --resume: no checkpoint at '{tmp_path / 'new' / CHECKPOINT_FILE}'" in message


@pytest.mark.parametrize(("kind", "text", "message"), [
    (positive_int, "3", None), (positive_int, "0", "expected a positive integer, got 0"),
    (non_negative_int, "0", None), (non_negative_int, "-1", "expected an integer >= 0, got -1"),
    (positive_float, "1e-3", None), (positive_float, "inf", "expected a finite number, got inf"),
    (non_negative_float, "0", None), (non_negative_float, "-0.5", "expected a number >= 0"),
    (finite_float, "-2.5", None), (finite_float, "-inf", "expected a finite number, got -inf"),
])
def test_flag_types_accept_their_range_and_refuse_the_rest_by_value(kind, text, message):
    if message is None:
        assert kind(text) == float(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            kind(text)


# ----------------------------------------------------------------------------- pause, script
def test_pause_point_saves_at_the_pause_step_and_stops(tmp_path):
    parser = make_parser("m", epochs=1, batch_size=1, lr=1.0, out="runs/m")
    args = parse_args(parser, ["--pause-at", "3"])
    checkpoint = Checkpoint(tmp_path / CHECKPOINT_FILE)
    pause_point(args, checkpoint, step=2, epoch=0)  # not yet: nothing happens
    assert not checkpoint.exists()
    with pytest.raises(RunPaused, match="paused at step 3"):
        pause_point(args, checkpoint, step=3, epoch=1)
    assert (load_state(checkpoint.path)["step"], load_state(checkpoint.path)["epoch"]) == (3, 1)


def test_script_returns_a_paused_run_and_turns_unreadable_files_into_usage_errors(capsys):
    @script
    def main(argv=None):
        if argv == ["pause"]:
            raise RunPaused(7)
        if argv == ["checkpoint"]:
            raise CheckpointError("checkpoint 'x.npz' is empty (0 bytes)")
        if argv == ["data"]:
            raise ChecksumError("t10k-labels-idx1-ubyte.gz: SHA-256 expected 1, got 2")
        return {"done": True}

    assert main([]) == {"done": True}
    assert main(["pause"]) == {"paused_at": 7}
    assert "paused after step 7; continue with --resume" in capsys.readouterr().err
    for argv, message in ((["checkpoint"], "error: checkpoint 'x.npz' is empty (0 bytes)"),
                          (["data"], "error: t10k-labels-idx1-ubyte.gz: SHA-256 expected 1")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_parse_args_keeps_the_command_line_for_the_report(tmp_path, monkeypatch):
    parser = make_parser("a", epochs=1, batch_size=2, lr=0.1, out=str(tmp_path))
    assert parse_args(parser, ["--lr", "0.5", "--out", "my run"]).command.endswith(
        " --lr 0.5 --out 'my run'")  # quoted as a shell would need it
    monkeypatch.setattr("sys.argv", ["a.py", "--seed", "3"])
    monkeypatch.setattr("sys.orig_argv", ["python", "-m", "models.a", "--seed", "3"])
    assert parse_args(parser).command == "python -m models.a --seed 3"  # as it was typed
