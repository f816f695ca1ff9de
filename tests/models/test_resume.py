"""Every model script resumes bit for bit: N steps straight give the same run as k steps, a
checkpoint, a fresh process with ``--resume``, and the other N - k steps.

Both runs stop with ``--pause-at N``, which saves the checkpoint and skips the final
evaluation, so the two checkpoints hold the state after step N: every parameter, buffer,
optimizer slot, averaged (EMA) weight, learning-rate schedule, loader and stream position,
fixed noise and random generator state. They must be equal entry by entry, bit for bit, and
so must the two metrics files (every training loss, with ``--log-every 1``, and every
evaluation). The configurations are tiny: seconds per run.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygen as tg
from models import gan_metrics
from tinygen.train import Checkpoint, load_state

ROOT = Path(__file__).resolve().parents[2]
VAE = ["--latent", "2", "--hidden", "16", "--epochs", "2"]
GAN = ["--latent", "8", "--hidden", "16", "--channels", "2", "--steps", "50",
       "--eval-every", "3", "--eval-samples", "20", "--final-samples", "20"]

# (script, flags, N, k): 8000 training images, so --batch-size 1000 makes 8 steps an epoch
CASES = {
    "classifier, paused mid-epoch": ("classifier", ["--width", "2", "--batch-size", "1000",
                                                    "--epochs", "2"], 10, 5),
    "classifier, paused at an epoch's end": ("classifier", ["--width", "2", "--batch-size",
                                                            "1000", "--epochs", "2"], 10, 8),
    "vae": ("vae", ["--model", "vae", "--batch-size", "1000", *VAE], 10, 5),
    "conv vae, dynamic binarization and shifts": (
        "vae", ["--model", "conv", "--batch-size", "100", "--binarize", "dynamic",
                "--shift", "2", *VAE], 5, 2),
    "cvae, paused at an epoch's end": ("vae", ["--model", "cvae", "--batch-size", "1000",
                                               *VAE], 10, 8),
    "m2": ("vae", ["--model", "m2", "--labels", "20", "--batch-size", "100", *VAE], 4, 2),
    "gan": ("gan", ["--model", "gan", "--batch-size", "32", "--k", "2", *GAN], 7, 4),
    "cgan": ("gan", ["--model", "cgan", "--batch-size", "32", *GAN], 7, 4),
    "lsgan": ("gan", ["--model", "lsgan", "--batch-size", "16", *GAN], 7, 4),
    "dcgan with EMA and minibatch std": ("gan", ["--model", "dcgan", "--batch-size", "16",
                                                 "--ema", "0.9", "--minibatch-std", *GAN],
                                         7, 4),
    "wgan-gp": ("gan", ["--model", "wgan-gp", "--batch-size", "8", "--k", "2", *GAN], 5, 2),
    "pixelcnn": ("pixelcnn", ["--channels", "2", "--blocks", "1", "--batch-size", "50"], 4, 2),
    "pixelrnn, row": ("pixelrnn", ["--layer", "row", "--hidden", "1", "--layers", "1",
                                   "--batch-size", "50"], 4, 2),
    "pixelrnn, diag": ("pixelrnn", ["--layer", "diag", "--hidden", "1", "--layers", "1",
                                    "--batch-size", "50"], 4, 2),
}


@pytest.fixture(scope="module")
def metric_classifier(tmp_path_factory):
    """An untrained metric classifier: the GAN runs load it, and it need not be good."""
    path = tmp_path_factory.mktemp("classifier") / "classifier.npz"
    tg.manual_seed(0)
    Checkpoint(path, model=gan_metrics.FeatureClassifier()).save(step=0)
    return path


def _leaves(tree, path=""):
    """(path, value) for every leaf of a loaded checkpoint."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{path}/{key}")
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from _leaves(value, f"{path}/{index}")
    else:
        yield path, tree


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("case", list(CASES))
def test_a_resumed_run_is_bit_identical_to_a_straight_one(tmp_path, metric_classifier, case):
    script, flags, steps, pause = CASES[case]
    if script == "gan":
        flags = [*flags, "--classifier", str(metric_classifier)]
    main = importlib.import_module(f"models.{script}").main
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    np.random.seed(1)
    numpy_global = np.random.get_state()[1].copy()

    assert main([*flags, "--log-every", "1", "--out", str(straight),
                 "--pause-at", str(steps)]) == {"paused_at": steps}
    assert main([*flags, "--log-every", "1", "--out", str(resumed),
                 "--pause-at", str(pause)]) == {"paused_at": pause}
    # NumPy's global generator is not seeded by the scripts, so it differs between
    # processes; no script may draw from it, or its runs would not repeat
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_global)
    process = subprocess.run([sys.executable, "-m", f"models.{script}", *flags, "--log-every",
                              "1", "--out", str(resumed), "--resume", "--pause-at", str(steps)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]

    expected = dict(_leaves(load_state(straight / "checkpoint.npz")))
    actual = dict(_leaves(load_state(resumed / "checkpoint.npz")))
    assert actual.keys() == expected.keys()
    assert any("/objects/" in key and "loader" in key or "/data/" in key for key in actual)
    differing = [key for key in expected if not key.startswith("/numpy_global_rng")
                 and not _same(actual[key], expected[key])]
    assert differing == []
    assert (resumed / "metrics.jsonl").read_text() == (straight / "metrics.jsonl").read_text()
