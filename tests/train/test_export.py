"""safetensors export: PyTorch key names, round trips, and named errors."""

import numpy as np
import pytest
from safetensors.numpy import load_file

import tinygen.nn as nn
from tinygen.train import CheckpointError, load_safetensors, save_safetensors


def _net():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3))


def test_export_uses_the_state_dict_key_names_and_values(tmp_path):
    model = _net()
    save_safetensors(model, tmp_path / "w.safetensors")
    saved = load_file(tmp_path / "w.safetensors")
    assert set(saved) == set(model.state_dict()) >= {"0.weight", "1.running_mean",
                                                     "1.num_batches_tracked", "4.bias"}
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(saved[name], array)


def test_load_safetensors_restores_every_parameter_and_buffer(tmp_path):
    source, target = _net(), _net()
    source.state_dict()["1.running_var"][...] = 7.0
    save_safetensors(source, tmp_path / "w.safetensors")
    load_safetensors(target, tmp_path / "w.safetensors")
    for name, array in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], array)


def test_loading_into_a_different_architecture_lists_the_bad_keys(tmp_path):
    save_safetensors(_net(), tmp_path / "w.safetensors")
    with pytest.raises(nn.StateDictError, match="missing keys.*unexpected keys"):
        other = nn.Sequential(*[nn.Identity()] * 4, nn.Linear(8, 3), nn.Linear(3, 3))
        load_safetensors(other, tmp_path / "w.safetensors")


def test_missing_or_corrupt_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_safetensors(_net(), tmp_path / "none.safetensors")
    path = tmp_path / "w.safetensors"
    save_safetensors(_net(), path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="w.safetensors.*corrupt"):
        load_safetensors(_net(), path)
