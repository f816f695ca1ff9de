"""Checkpoints: no pickle, atomic writes that survive kill -9, named errors for damaged files,
and a resume that is bit-identical to an uninterrupted run."""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

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
    read_metrics,
    remove_stale_temps,
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


def _zip(path, members: dict) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=True)
    return buffer.getvalue()


_DAMAGE = {
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]),
                  "is truncated or corrupt (BadZipFile"),
    "bit rot": (lambda path: path.write_bytes(_flip(path.read_bytes(), 200, 260)),
                "is truncated or corrupt (BadZipFile: Bad CRC-32"),
    "empty": (lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
    "garbage": (lambda path: path.write_bytes(b"garbage" * 10),
                "is not a tinygen checkpoint (an .npz zip archive): it starts with b'garbageg'"),
    "a pickle": (lambda path: path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=2)),
                 "is a Python pickle (a legacy torch.save file?)"),
    "a torch.save zip": (lambda path: _zip(path, {"archive/data.pkl": pickle.dumps({}),
                                                  "archive/version": b"3\n"}),
                         "is a PyTorch file (torch.save), not a tinygen checkpoint"),
    "a single .npy": (lambda path: np.save(open(path, "wb"), np.zeros(3)),
                      "is a single .npy array"),
    "someone else's npz": (lambda path: np.savez(open(path, "wb"), weights=np.zeros(3)),
                           "is a zip without tinygen's __meta__ entry"),
    "an object array": (lambda path: _zip(path, {"__meta__.npy": _npy(np.frombuffer(
        b'{"format": 1, "tree": {}}', np.uint8)), "w.npy": _npy(np.array([{}], object))}),
        "entry 'w' holds Python objects (a pickle)"),
    "broken metadata": (lambda path: _zip(path, {"__meta__.npy": _npy(np.frombuffer(
        b"{not json", np.uint8))}), "its __meta__ entry is not JSON"),
    "a dangling array reference": (lambda path: _zip(path, {"__meta__.npy": _npy(np.frombuffer(
        b'{"format": 1, "tree": {"w": {"__array__": "w"}}}', np.uint8))}),
        "refers to the missing entry 'w'"),
    "a newer format": (lambda path: _zip(path, {"__meta__.npy": _npy(np.frombuffer(
        b'{"format": 99, "tree": {}}', np.uint8))}), "has format 99, this tinygen reads format 1"),
}


def _flip(raw: bytes, start: int, stop: int) -> bytes:
    return raw[:start] + bytes(b ^ 0xFF for b in raw[start:stop]) + raw[stop:]


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_an_unreadable_checkpoint_is_one_checkpoint_error_naming_file_and_problem(tmp_path,
                                                                                  damage):
    path = tmp_path / "c.npz"
    save_state(path, {"weights": np.random.default_rng(0).standard_normal(500)})
    spoil, problem = _DAMAGE[damage]
    spoil(path)
    with pytest.raises(CheckpointError) as error:
        load_state(path)
    assert str(error.value).startswith(f"checkpoint {str(path)!r} ")
    assert problem in str(error.value)


def test_a_directory_given_as_checkpoint_names_the_file_inside(tmp_path):
    with pytest.raises(CheckpointError, match=f"is a directory.*{CHECKPOINT_FILE}"):
        load_state(tmp_path)


def test_a_state_file_without_a_run_or_of_another_model_is_refused_by_name(tmp_path):
    save_state(tmp_path / "plain.npz", {"weights": np.zeros(3)})
    model, optimizer, _ = _make_run(seed=0)
    with pytest.raises(CheckpointError, match="holds no run"):
        Checkpoint(tmp_path / "plain.npz", model=model).load()
    Checkpoint(tmp_path / "c.npz", model=model, optimizer=optimizer).save(step=1)
    wider = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(32, 3))
    with pytest.raises(CheckpointError, match=r"its model state does not fit this run.*0\.weight"):
        Checkpoint(tmp_path / "c.npz", model=wider).load()


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


def test_real_torch_files_are_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    for name, zipped in (("new.pt", True), ("legacy.pt", False)):
        torch.save({"w": torch.zeros(2)}, tmp_path / name,
                   _use_new_zipfile_serialization=zipped)
        with pytest.raises(CheckpointError, match="torch.save"):
            load_state(tmp_path / name)


# ----------------------------------------------------------------------------- file hygiene
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_checkpoint_gets_the_users_umask_like_any_other_output(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_state(tmp_path / "c.npz", {"a": np.zeros(2)})
        (tmp_path / "other").write_bytes(b"")  # what open() makes
    finally:
        os.umask(old)
    mode = (tmp_path / "c.npz").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask == (tmp_path / "other").stat().st_mode & 0o777


def test_stale_temp_files_go_on_the_next_write_live_writers_temps_stay(tmp_path):
    path = tmp_path / "c.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [tmp_path / f".c.npz.{dead}.0a1b2c3d.tmp", tmp_path / ".c.npz.x7k2m9q1.tmp"]
    live = [tmp_path / f".c.npz.{os.getpid()}.9f8e7d6c.tmp"]  # a writer in another thread
    other = tmp_path / ".d.npz.123.abcdef12.tmp"  # another file's: not ours to touch
    for temp in [*stale, *live, other]:
        temp.write_bytes(b"half a checkpoint")
    save_state(path, {"version": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["c.npz", live[0].name, other.name])
    assert remove_stale_temps(path) == []


_SLOW_WRITER = """
import sys, time
import numpy as np
from tinygen.train import Checkpoint, open_checkpoint

def slow_savez(file, **arrays):  # a large checkpoint on a slow disk: killed half-way
    file.write(b"PK\\x03\\x04" + b"x" * 1_000_000)
    file.flush()
    print("writing", flush=True)
    time.sleep(60)

np.savez = slow_savez
checkpoint, _ = open_checkpoint(sys.argv[1], None)
checkpoint.save(step=2)
"""


def test_kill_9_mid_checkpoint_keeps_the_old_one_and_the_next_start_removes_the_temp(
        tmp_path):
    checkpoint, _ = open_checkpoint(tmp_path, None)
    checkpoint.save(step=1)
    process = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path)],
                               stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"writing"
    process.kill()  # SIGKILL: no cleanup runs
    process.wait()
    process.stdout.close()
    temps = list(tmp_path.glob(f".{CHECKPOINT_FILE}.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 1_000_000  # the orphan

    checkpoint, state = open_checkpoint(tmp_path, checkpoint.path)  # the next start

    assert list(tmp_path.glob(f".{CHECKPOINT_FILE}.*.tmp")) == []
    assert state["step"] == 1  # the old checkpoint, intact


def test_resume_cuts_the_metrics_back_to_the_checkpoint_step_and_a_fresh_run_empties_them(
        tmp_path):
    model, optimizer, _ = _make_run(seed=0)
    checkpoint, _ = open_checkpoint(tmp_path, None, model=model)
    checkpoint.save(step=5)
    lines = [json.dumps({"step": step, "loss": 1.0 / step}) for step in range(1, 9)]
    lines.insert(5, json.dumps({"step": 5, "split": "test", "loss": 0.5}))
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 9, "lo')  # torn

    open_checkpoint(tmp_path, checkpoint.path, model=model)

    records = read_metrics(tmp_path)
    assert [record["step"] for record in records] == [1, 2, 3, 4, 5, 5]
    assert records[-1]["split"] == "test"
    open_checkpoint(tmp_path, None, model=model)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_extras_are_saved_with_every_checkpoint_and_come_back_on_resume(tmp_path):
    noise = np.arange(6, dtype=np.float32).reshape(2, 3)
    checkpoint, state = open_checkpoint(tmp_path, None, {"fixed_noise": noise})
    np.testing.assert_array_equal(state["fixed_noise"], noise)
    checkpoint.save(step=1)  # no extra given: the noise goes in all the same

    _, state = open_checkpoint(tmp_path / "next", checkpoint.path, {"fixed_noise": noise + 9})

    np.testing.assert_array_equal(state["fixed_noise"], noise)  # the saved one wins


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
