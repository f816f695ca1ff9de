"""safetensors export: a tinygen model's file loads into its PyTorch twin, same outputs."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from tinygen.train import save_safetensors

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
pytestmark = pytest.mark.parity


def _ours():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def _theirs():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))


def test_exported_weights_give_the_pytorch_twin_the_same_outputs(tmp_path):
    tg.manual_seed(0)
    ours = _ours()
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6)).astype(np.float32)
    ours(tg.tensor(x))  # one training-mode pass, so the running statistics are not trivial
    ours.eval()
    save_safetensors(ours, tmp_path / "model.safetensors")

    theirs = _theirs()
    theirs.load_state_dict(safetensors_torch.load_file(tmp_path / "model.safetensors"),
                           strict=True)
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(tg.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert int(theirs[1].num_batches_tracked) == 1
