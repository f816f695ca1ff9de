"""Checkpoints: everything a run needs to resume bit-identically, in one ``.npz``, no pickle.

A checkpoint holds the state of each object it was given (models, optimizers, data loaders,
schedulers: anything with ``state_dict()`` / ``load_state_dict()``), the step and epoch, every
random state (tinygen's generators, and NumPy's legacy global one in case user code draws from
``np.random``), and any extra arrays (the fixed noise of sample grids).

Format: nested state dicts are flattened. Each array becomes one ``.npz`` entry named by its
path (``"model/conv1.weight"``, ``"optimizer/state/0/exp_avg"``); everything else (numbers,
strings, the 128-bit integers of a NumPy generator state) goes into a small JSON document,
stored as a uint8 array under ``__meta__``, where each array appears as a reference to its
entry. Loading uses ``allow_pickle=False``, so a checkpoint can never run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor

CHECKPOINT_FILE = "checkpoint.npz"  # a run's checkpoint, in its run directory
FORMAT_VERSION = 1
_META_KEY = "__meta__"
_ARRAY_TAG = "__array__"
_TUPLE_TAG = "__tuple__"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt, or lacks what the caller restores."""


# ----------------------------------------------------------------------------- atomic write
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Open a temporary file beside ``path`` for binary writing; on success, make it
    ``path`` at once.

    The temp file is fsynced, renamed over ``path`` with ``os.replace`` (atomic on POSIX and
    Windows), and the directory is fsynced so the rename survives a power cut. If the
    writer raises, or the process dies, ``path`` still holds its previous contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if os.name != "nt":  # Windows cannot open a directory; its rename needs no fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ----------------------------------------------------------------------------- flatten
def _encode(value, path: str, arrays: dict):
    """A JSON-able copy of ``value`` with each array moved into ``arrays`` under its path."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # NumPy or CuPy array
        array = backend.to_numpy(value)
        if array.dtype == object:
            raise TypeError(f"checkpoint: {path} is an object array, which needs pickle")
        arrays[path] = array
        return {_ARRAY_TAG: path}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or "/" in str(key):
                raise TypeError(f"checkpoint: key {key!r} under {path!r} must be a str or an "
                                f"int without '/'")
        return {str(key): _encode(item, _join(path, key), arrays) for key, item in value.items()}
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_encode(item, _join(path, i), arrays)
                             for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, _join(path, i), arrays) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot store {path!r} of type {type(value).__name__}")


def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _decode(value, arrays):
    if isinstance(value, dict):
        if _ARRAY_TAG in value:
            return arrays[value[_ARRAY_TAG]]
        if _TUPLE_TAG in value:
            return tuple(_decode(item, arrays) for item in value[_TUPLE_TAG])
        return {key: _decode(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    return value


def save_state(path: str | os.PathLike, tree: dict) -> None:
    """Write a nested dict of arrays and plain values to one ``.npz``, atomically."""
    arrays: dict = {}
    meta = {"format": FORMAT_VERSION, "tree": _encode(tree, "", arrays)}
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def load_state(path: str | os.PathLike) -> dict:
    """Read what :func:`save_state` wrote, with arrays as NumPy arrays.

    Raises:
        CheckpointError: missing, truncated or corrupt file (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}  # reads (and CRC-checks) all
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
        if meta.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {str(path)!r}: format "
                                  f"{meta.get('format')!r}, expected {FORMAT_VERSION}")
        return _decode(meta["tree"], arrays)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated: "
                              f"{type(error).__name__}: {error}") from error


# ----------------------------------------------------------------------------- Checkpoint
class Checkpoint:
    """Saves and restores the named objects of a run, plus every random state.

    Args:
        path: the ``.npz`` file.
        **objects: name -> anything with ``state_dict()`` and ``load_state_dict()``
            (models, optimizers, data loaders, lr schedulers).

    Example:
        >>> checkpoint = Checkpoint(out / "checkpoint.npz", model=model, optimizer=optimizer,
        ...                         loader=loader)
        >>> checkpoint.save(step=step, epoch=epoch, fixed_noise=z)
        >>> resumed = checkpoint.load()   # restores the objects and the RNGs
        >>> step, epoch, z = resumed["step"], resumed["epoch"], resumed["fixed_noise"]
    """

    def __init__(self, path: str | os.PathLike, **objects):
        for name, obj in objects.items():
            if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
                raise TypeError(f"Checkpoint: {name} must have state_dict() and "
                                f"load_state_dict(), got {type(obj).__name__}")
        self.path = Path(path)
        self.objects = objects

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, step: int, epoch: int = 0, **extra) -> None:
        """Write the objects' states, ``step``, ``epoch``, the RNG states and ``extra``
        (arrays, Tensors, numbers, strings; e.g. ``fixed_noise=z``) atomically."""
        save_state(self.path, {
            "step": int(step),
            "epoch": int(epoch),
            "rng": backend.get_rng_state(),
            "numpy_global_rng": np.random.get_state(),
            "objects": {name: obj.state_dict() for name, obj in self.objects.items()},
            "extra": extra,
        })

    def load(self, restore_rng: bool = True) -> dict:
        """Restore every object (and, unless ``restore_rng`` is False, every random
        generator) from the file.

        Returns:
            {"step": int, "epoch": int, **extra}, with extra arrays as NumPy arrays.

        Raises:
            CheckpointError: the file is missing or corrupt, or lacks one of the objects.
        """
        tree = load_state(self.path)
        missing = [name for name in self.objects if name not in tree["objects"]]
        if missing:
            raise CheckpointError(f"checkpoint {str(self.path)!r} has no state for "
                                  f"{missing}; it holds {sorted(tree['objects'])}")
        for name, obj in self.objects.items():
            obj.load_state_dict(tree["objects"][name])
        if restore_rng:
            backend.set_rng_state(tree["rng"])
            np.random.set_state(tree["numpy_global_rng"])
        return {"step": tree["step"], "epoch": tree["epoch"], **tree["extra"]}


def open_checkpoint(out: str | os.PathLike, resume: str | os.PathLike | None, **objects
                    ) -> tuple[Checkpoint, dict]:
    """A run's checkpoint, and where the run starts: the one place every model script
    creates its run directory and honours ``--resume``.

    Args:
        out: the run directory (created if missing); the checkpoint is ``out/checkpoint.npz``.
        resume: a checkpoint to restore the objects and the random states from, or None.
        **objects: as for :class:`Checkpoint`; the same objects are saved and restored.

    Returns:
        (the run's :class:`Checkpoint`, the restored ``{"step", "epoch", **extra}``, or
        ``{"step": 0, "epoch": 0}`` for a fresh run).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(out / CHECKPOINT_FILE, **objects)
    if resume is None:
        return checkpoint, {"step": 0, "epoch": 0}
    return checkpoint, Checkpoint(resume, **objects).load()
