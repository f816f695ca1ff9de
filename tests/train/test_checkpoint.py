"""Checkpoints: no pickle, atomic writes that survive kill -9, named errors for damaged files,
and a resume that is bit-identical to an uninterrupted run."""

import subprocess
import sys

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from tinygen.data import DataLoader
from tinygen.optim import Adam
from tinygen.train import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointError,
    atomic_write,
    load_state,
    open_checkpoint,
    save_state,
)


# ----------------------------------------------------------------------------- format
def test_nested_state_round_trips_with_types_kept(tmp_path):
    tree = {
        "weights": {"conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                    "count": np.array(3, dtype=np.int64)},
        "state": {0: {"step": 7, "exp_avg": np.ones(2, dtype=np.float64)}},
        "groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False, "name": None}],
        "huge": 2 ** 100,  # a NumPy generator state holds 128-bit integers
        "tensor": tg.tensor([1.0, 2.0]),
    }
    save_state(tmp_path / "c.npz", tree)
    loaded = load_state(tmp_path / "c.npz")
    np.testing.assert_array_equal(loaded["weights"]["conv.weight"], tree["weights"]["conv.weight"])
    assert loaded["weights"]["count"].dtype == np.int64 and loaded["weights"]["count"].shape == ()
    assert loaded["state"]["0"]["step"] == 7  # keys come back as strings
    np.testing.assert_array_equal(loaded["state"]["0"]["exp_avg"], np.ones(2))
    assert loaded["groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999), "nesterov": False,
                                 "name": None}]
    assert loaded["huge"] == 2 ** 100
    np.testing.assert_array_equal(loaded["tensor"], [1.0, 2.0])


def test_checkpoint_file_is_a_plain_npz_that_loads_without_pickle(tmp_path):
    save_state(tmp_path / "c.npz", {"a": np.zeros(3), "b": {"c": np.ones(2), "d": 1}})
    with np.load(tmp_path / "c.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["__meta__", "a", "b/c"]  # numbers live in the JSON
        assert archive["__meta__"].dtype == np.uint8


def test_unstorable_values_are_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="cannot store 'bad' of type object"):
        save_state(tmp_path / "c.npz", {"bad": object()})


# ----------------------------------------------------------------------------- damage
def test_missing_checkpoint_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "nothing.npz")


@pytest.mark.parametrize("damage", [
    lambda raw: raw[:len(raw) // 2],                                   # truncated
    lambda raw: b"garbage" * 10,                                       # not a zip at all
    lambda raw: raw[:200] + bytes(b ^ 0xFF for b in raw[200:260]) + raw[260:],  # bit rot
])
def test_corrupt_or_truncated_checkpoint_raises_checkpoint_error(tmp_path, damage):
    path = tmp_path / "c.npz"
    save_state(path, {"weights": np.random.default_rng(0).standard_normal(500)})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="c.npz.*corrupt or truncated"):
        load_state(path)


def test_a_writer_that_fails_midway_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save_state(path, {"version": 1})

    def fail_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"version": 2})
    assert load_state(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # the temp file is gone


def test_kill_9_during_a_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "c.npz"
    save_state(path, {"version": 1})
    writer = (
        "import sys, time\n"
        "from tinygen.train import atomic_write\n"
        "with atomic_write(sys.argv[1]) as file:\n"
        "    file.write(b'half a checkpoint' * 1000)\n"
        "    file.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer, str(path)],
                               stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"writing"
    process.kill()  # SIGKILL: no cleanup runs
    process.wait()
    process.stdout.close()
    assert load_state(path) == {"version": 1}


def test_atomic_write_replaces_the_file_only_on_success(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_write(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"


# ----------------------------------------------------------------------------- resume
_X = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
_Y = np.random.default_rng(1).integers(0, 3, 40)


def _make_run(seed):
    """A tiny model with dropout and batch norm, Adam, and a shuffled loader."""
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 3))
    optimizer = Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(_X, _Y, batch_size=8, shuffle=True, seed=seed)
    return model, optimizer, loader


def _train(model, optimizer, loader, steps):
    done = 0
    while done < steps:
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    steps = 12  # 5 batches per epoch: the save falls mid-epoch, the run crosses two epochs
    model, optimizer, loader = _make_run(seed=0)
    _train(model, optimizer, loader, steps)
    expected = {name: array.copy() for name, array in model.state_dict().items()}

    model, optimizer, loader = _make_run(seed=0)
    _train(model, optimizer, loader, steps // 2)
    noise = np.random.default_rng(2).standard_normal((4, 2)).astype(np.float32)
    Checkpoint(tmp_path / "c.npz", model=model, optimizer=optimizer, loader=loader).save(
        step=steps // 2, epoch=1, fixed_noise=noise)

    model, optimizer, loader = _make_run(seed=12345)  # fresh objects, different init
    resumed = Checkpoint(tmp_path / "c.npz", model=model, optimizer=optimizer,
                         loader=loader).load()
    _train(model, optimizer, loader, steps - resumed["step"])

    assert resumed["step"] == steps // 2 and resumed["epoch"] == 1
    np.testing.assert_array_equal(resumed["fixed_noise"], noise)
    actual = model.state_dict()
    assert actual.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(actual[name], expected[name]), name


def test_load_restores_tinygen_and_numpy_global_generators(tmp_path):
    tg.manual_seed(0)
    np.random.seed(0)
    checkpoint = Checkpoint(tmp_path / "c.npz")
    checkpoint.save(step=0)
    expected = (tg.randn(3).numpy(), np.random.standard_normal(3))

    tg.manual_seed(1)  # other states, as in a fresh process
    np.random.seed(1)
    checkpoint.load()
    np.testing.assert_array_equal(tg.randn(3).numpy(), expected[0])
    np.testing.assert_array_equal(np.random.standard_normal(3), expected[1])


def test_loading_a_checkpoint_without_an_object_names_it(tmp_path):
    model, optimizer, _ = _make_run(seed=0)
    Checkpoint(tmp_path / "c.npz", model=model).save(step=1)
    with pytest.raises(CheckpointError, match=r"no state for \['optimizer'\]"):
        Checkpoint(tmp_path / "c.npz", model=model, optimizer=optimizer).load()


def test_checkpoint_refuses_objects_without_state_dicts(tmp_path):
    with pytest.raises(TypeError, match="model must have state_dict"):
        Checkpoint(tmp_path / "c.npz", model=object())


def test_open_checkpoint_makes_the_run_directory_and_resumes_from_a_given_file(tmp_path):
    model, optimizer, _ = _make_run(seed=0)
    out = tmp_path / "run" / "nested"
    checkpoint, state = open_checkpoint(out, None, model=model, optimizer=optimizer)
    assert out.is_dir() and state == {"step": 0, "epoch": 0}
    assert checkpoint.path == out / CHECKPOINT_FILE and not checkpoint.exists()
    checkpoint.save(step=3, epoch=1, fixed_noise=np.ones(2, np.float32))
    expected = {name: array.copy() for name, array in model.state_dict().items()}

    model, optimizer, _ = _make_run(seed=7)  # other weights, until the resume restores them
    _, state = open_checkpoint(tmp_path / "other", checkpoint.path, model=model,
                               optimizer=optimizer)
    assert (state["step"], state["epoch"]) == (3, 1)
    np.testing.assert_array_equal(state["fixed_noise"], np.ones(2, np.float32))
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, expected[name])
