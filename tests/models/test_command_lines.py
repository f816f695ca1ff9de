"""Every model script speaks in flags: a bad flag value or path ends in argparse's usage error
(exit status 2) naming the flag, and an unreadable checkpoint in one ``error:`` line naming
the file and what is wrong with it, never a traceback."""

import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["classifier", "vae", "gan", "pixelcnn", "pixelrnn"]


def _refused(capsys, script: str, argv: list[str]) -> str:
    """The usage error of ``models.<script>.main(argv)``; exit status 2 is checked."""
    main = importlib.import_module(f"models.{script}").main
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize(("argv", "message"), [
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["--lr", "-1"], "argument --lr: expected a number > 0, got -1"),
    (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
])
def test_bad_shared_flags_are_usage_errors_in_every_script(capsys, script, argv, message):
    assert message in _refused(capsys, script, argv)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bad_paths_are_usage_errors_in_every_script(capsys, tmp_path, script):
    (tmp_path / "a-file").write_text("")
    assert "argument --out: expected a run directory, got the file" in _refused(
        capsys, script, ["--out", str(tmp_path / "a-file")])
    assert "argument --resume: expected a checkpoint file, got the directory" in _refused(
        capsys, script, ["--resume", str(tmp_path)])
    assert "argument --resume: no checkpoint at" in _refused(
        capsys, script, ["--resume", str(tmp_path / "missing.npz")])


@pytest.mark.parametrize(("script", "argv", "message"), [
    ("classifier", ["--width", "0"], "argument --width: expected a positive integer, got 0"),
    ("vae", ["--latent", "0"], "argument --latent: expected a positive integer, got 0"),
    ("vae", ["--hidden", "-4"], "argument --hidden: expected a positive integer, got -4"),
    ("vae", ["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    ("vae", ["--shift", "30"], "--shift must be <= 27, got 30"),
    ("vae", ["--alpha", "-1"], "argument --alpha: expected a number >= 0, got -1"),
    ("vae", ["--model", "m2", "--labels", "15"], "--labels must be a positive multiple of 10"),
    ("vae", ["--model", "m2", "--batch-size", "9000"], "--batch-size must be <= 8000, got 9000"),
    ("gan", ["--channels", "0"], "argument --channels: expected a positive integer, got 0"),
    ("gan", ["--steps", "0"], "argument --steps: expected a positive integer, got 0"),
    ("gan", ["--k", "0"], "argument --k: expected a positive integer, got 0"),
    ("gan", ["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
    ("gan", ["--gp-weight", "nan"], "argument --gp-weight: expected a finite number, got nan"),
    ("gan", ["--eval-samples", "1"], "--eval-samples must be >= 2, got 1"),
    ("gan", ["--batch-size", "8002", "--pack", "2"], "--batch-size must be <= 8000, got 8002"),
    ("pixelcnn", ["--channels", "1"], "--channels must be >= 2, got 1"),
    ("pixelcnn", ["--blocks", "0"], "argument --blocks: expected a positive integer, got 0"),
    ("pixelrnn", ["--hidden", "0"], "argument --hidden: expected a positive integer, got 0"),
    ("pixelrnn", ["--layers", "0"], "argument --layers: expected a positive integer, got 0"),
])
def test_bad_model_flags_are_usage_errors_naming_the_flag(capsys, script, argv, message):
    assert message in _refused(capsys, script, argv)


def test_a_directory_for_the_metric_classifier_is_a_usage_error(capsys, tmp_path):
    assert "argument --classifier: expected a checkpoint file, got the directory" in _refused(
        capsys, "gan", ["--classifier", str(tmp_path)])


# ----------------------------------------------------------------------------- checkpoints
def _run(script: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"models.{script}", *argv], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True)


UNREADABLE = {  # file name -> (contents, what the error says about it)
    "empty.npz": (b"", "is empty (0 bytes)"),
    "garbage.npz": (b"not a checkpoint at all", "is not a tinygen checkpoint"),
    "truncated.npz": (b"PK\x03\x04" + b"\x00" * 40, "is truncated or corrupt"),
    "legacy.pt": (pickle.dumps({"weight": [0.0]}, protocol=2), "is a Python pickle"),
}


@pytest.mark.parametrize("script", ["classifier", "pixelcnn"])
def test_an_unreadable_checkpoint_is_one_error_line_and_exit_status_2(tmp_path, script):
    for name, (contents, problem) in UNREADABLE.items():
        (tmp_path / name).write_bytes(contents)
        process = _run(script, "--out", str(tmp_path / "run"), "--resume", str(tmp_path / name))
        assert process.returncode == 2, process.stderr[-2000:]
        assert "Traceback" not in process.stderr
        line = process.stderr.strip().splitlines()[-1]
        assert line.startswith(f"{script}.py: error: checkpoint '{tmp_path / name}' {problem}")


def test_a_checkpoint_of_another_configuration_is_one_error_line(tmp_path):
    flags = ["--batch-size", "1000", "--epochs", "1", "--out", str(tmp_path)]
    assert _run("classifier", "--width", "2", "--pause-at", "1", *flags).returncode == 0
    process = _run("classifier", "--width", "3", "--resume", *flags)
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert "its model state does not fit this run (another configuration?)" in process.stderr
    assert "conv1.weight" in process.stderr


def test_a_damaged_metric_classifier_is_one_error_line_not_a_silent_retrain(tmp_path):
    (tmp_path / "classifier.npz").write_bytes(b"garbage")
    process = _run("gan", "--model", "gan", "--steps", "1", "--out", str(tmp_path / "run"),
                   "--classifier", str(tmp_path / "classifier.npz"))
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert f"error: checkpoint '{tmp_path / 'classifier.npz'}' is not a tinygen checkpoint" in (
        process.stderr)
    assert (tmp_path / "classifier.npz").read_bytes() == b"garbage"  # left for the user
