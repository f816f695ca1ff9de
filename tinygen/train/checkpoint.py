"""Checkpoints: everything a run needs to resume bit-identically, in one ``.npz``, no pickle.

A checkpoint holds the state of each object it was given (models, optimizers, data loaders,
schedulers: anything with ``state_dict()`` / ``load_state_dict()``), the step and epoch, every
random state (tinygen's generators, and NumPy's legacy global one in case user code draws from
``np.random``), and any extra arrays (the fixed noise of sample grids).

Format: nested state dicts are flattened. Each array becomes one ``.npz`` entry named by its
path (``"model/conv1.weight"``, ``"optimizer/state/0/exp_avg"``); everything else (numbers,
strings, the 128-bit integers of a NumPy generator state) goes into a small JSON document,
stored as a uint8 array under ``__meta__``, where each array appears as a reference to its
entry. Loading never unpickles, so a checkpoint can never run code; a file that is not one
(empty, truncated, a pickle, a ``torch.save`` archive, an ``.npz`` of someone else's) is
refused with one :class:`CheckpointError` that names the file and what is wrong with it.

Writes are atomic (:func:`atomic_write`): a temp file beside the target, renamed over it.
A process killed mid-write leaves its temp file behind; the next write to the same path, or
:func:`open_checkpoint` at the start of a run, removes it (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.train.atomic import atomic_write, remove_stale_temps
from tinygen.train.logging import truncate_metrics

CHECKPOINT_FILE = "checkpoint.npz"  # a run's checkpoint, in its run directory
FORMAT_VERSION = 1
_META_KEY = "__meta__"
_ARRAY_TAG = "__array__"
_TUPLE_TAG = "__tuple__"
_RUN_KEYS = ("step", "epoch", "rng", "numpy_global_rng", "objects", "extra")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt, not a checkpoint, or lacks (or does
    not fit) what the caller restores. The message names the file and the problem."""


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
    """Read what :func:`save_state` wrote, with arrays as NumPy arrays; nothing is unpickled.

    Raises:
        CheckpointError: the file is missing, a directory, empty, truncated or corrupt, or
            not a tinygen checkpoint (a pickle, a ``torch.save`` file, a foreign ``.npz``);
            the message names the file and the problem.
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if path.is_dir():
        raise CheckpointError(f"{where} is a directory, not a checkpoint file (the run's "
                              f"checkpoint is {str(path / CHECKPOINT_FILE)!r})")
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    try:
        with open(path, "rb") as file:
            head = file.read(8)
        problem = _not_a_zip(head)
        if problem:
            raise CheckpointError(f"{where} {problem}")
        arrays, meta = _read_archive(path)
        if not isinstance(meta, dict) or "tree" not in meta:
            raise CheckpointError(f"{where}: its {_META_KEY} entry is not tinygen's")
        if meta.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"{where} has format {meta.get('format')!r}, this tinygen "
                                  f"reads format {FORMAT_VERSION}")
        return _decode(meta["tree"], arrays)
    except _NotACheckpoint as error:
        raise CheckpointError(f"{where} {error}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise CheckpointError(f"{where} is truncated or corrupt ({type(error).__name__}: "
                              f"{error})") from error
    except KeyError as error:  # the JSON names an array the archive lacks
        raise CheckpointError(f"{where} is truncated or corrupt: its {_META_KEY} refers to "
                              f"the missing entry {error}") from error
    except OSError as error:
        raise CheckpointError(f"{where} cannot be read: {error}") from error


class _NotACheckpoint(Exception):
    """Inside :func:`load_state`: what the file is instead (the message completes
    "checkpoint 'PATH' ...")."""


def _not_a_zip(head: bytes) -> str | None:
    """What a file that starts with ``head`` is, if it cannot be an ``.npz`` (a zip)."""
    if not head:
        return "is empty (0 bytes): an interrupted copy?"
    if head.startswith(b"PK"):
        return None
    if head[:1] == b"\x80":  # pickle protocol 2+: legacy torch.save, pickle.dump
        return ("is a Python pickle (a legacy torch.save file?), not a tinygen checkpoint; "
                "tinygen never unpickles")
    if head.startswith(b"\x93NUMPY"):
        return "is a single .npy array, not a checkpoint (an .npz archive)"
    return f"is not a tinygen checkpoint (an .npz zip archive): it starts with {head!r}"


def _read_archive(path: Path) -> tuple[dict, object]:
    """(arrays by entry name, the decoded ``__meta__`` JSON); every entry is read, so its
    CRC is checked."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if f"{_META_KEY}.npy" not in names:
            if any(name.endswith("data.pkl") for name in names):
                raise _NotACheckpoint("is a PyTorch file (torch.save), not a tinygen "
                                      "checkpoint; tinygen never unpickles")
            raise _NotACheckpoint(f"is a zip without tinygen's {_META_KEY} entry, not a "
                                  f"tinygen checkpoint (it holds {names[:4]}"
                                  f"{' ...' if len(names) > 4 else ''})")
        for name in names:
            if not name.endswith(".npy"):
                raise _NotACheckpoint(f"holds {name!r}, which is no array: not a tinygen "
                                      f"checkpoint")
            raw = archive.read(name)  # checks the CRC
            try:
                array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
            except ValueError as error:
                kind = ("Python objects (a pickle)" if "allow_pickle" in str(error)
                        else f"no readable array ({error})")
                raise _NotACheckpoint(f"is damaged or not tinygen's: entry {name[:-4]!r} "
                                      f"holds {kind}") from None
            arrays[name[:-4]] = array
    try:
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    except (UnicodeDecodeError, ValueError):
        raise _NotACheckpoint(f"is damaged: its {_META_KEY} entry is not JSON") from None
    return arrays, meta


# ----------------------------------------------------------------------------- Checkpoint
class Checkpoint:
    """Saves and restores the named objects of a run, plus every random state.

    Args:
        path: the ``.npz`` file.
        **objects: name -> anything with ``state_dict()`` and ``load_state_dict()``
            (models, optimizers, data loaders, lr schedulers).

    Attributes:
        extra: values written with every :meth:`save` (e.g. the fixed noise of sample grids),
            beside those given to the call; :func:`open_checkpoint` fills it.

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
        self.extra: dict = {}

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, step: int, epoch: int = 0, **extra) -> None:
        """Write the objects' states, ``step``, ``epoch``, the RNG states, :attr:`extra` and
        ``extra`` (arrays, Tensors, numbers, strings; e.g. ``fixed_noise=z``) atomically."""
        save_state(self.path, {
            "step": int(step),
            "epoch": int(epoch),
            "rng": backend.get_rng_state(),
            "numpy_global_rng": np.random.get_state(),
            "objects": {name: obj.state_dict() for name, obj in self.objects.items()},
            "extra": {**self.extra, **extra},
        })

    def load(self, restore_rng: bool = True) -> dict:
        """Restore every object (and, unless ``restore_rng`` is False, every random
        generator) from the file.

        Returns:
            {"step": int, "epoch": int, **extra}, with extra arrays as NumPy arrays.

        Raises:
            CheckpointError: the file is missing, corrupt or not a run's checkpoint, or lacks
                one of the objects, or holds a state that does not fit one (another model
                size, another optimizer).
        """
        tree = load_state(self.path)
        where = f"checkpoint {str(self.path)!r}"
        if not isinstance(tree, dict) or not set(_RUN_KEYS) <= set(tree):
            raise CheckpointError(f"{where} holds no run (it was not written by Checkpoint: "
                                  f"keys {sorted(tree) if isinstance(tree, dict) else tree})")
        missing = [name for name in self.objects if name not in tree["objects"]]
        if missing:
            raise CheckpointError(f"{where} has no state for {missing}; it holds "
                                  f"{sorted(tree['objects'])}")
        for name, obj in self.objects.items():
            try:
                obj.load_state_dict(tree["objects"][name])
            except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as error:
                raise CheckpointError(f"{where}: its {name} state does not fit this run "
                                      f"(another configuration?): {error}") from error
        if restore_rng:
            try:
                backend.set_rng_state(tree["rng"])
                np.random.set_state(tree["numpy_global_rng"])
            except (KeyError, ValueError, TypeError) as error:
                raise CheckpointError(f"{where}: its random states are damaged: "
                                      f"{error}") from error
        return {"step": tree["step"], "epoch": tree["epoch"], **tree["extra"]}


def open_checkpoint(out: str | os.PathLike, resume: str | os.PathLike | None,
                    extra: dict | None = None, **objects) -> tuple[Checkpoint, dict]:
    """A run's checkpoint, and where the run starts: the one place every model script
    creates its run directory and honours ``--resume``.

    It also tidies the run directory: temp files of a write that was killed are removed,
    and ``metrics.jsonl`` is cut back to the resumed step (records of later steps came from
    the lost part of the run, and the resumed run writes them again), or emptied for a fresh
    run, so that its steps never repeat or go backwards.

    Args:
        out: the run directory (created if missing); the checkpoint is ``out/checkpoint.npz``.
        resume: a checkpoint to restore the objects and the random states from, or None.
        extra: values every save writes (e.g. ``{"fixed_noise": z}``); a resumed run gets
            the saved ones back, in the returned state and in every later save.
        **objects: as for :class:`Checkpoint`; the same objects are saved and restored.

    Returns:
        (the run's :class:`Checkpoint`, the restored ``{"step", "epoch", **extra}``, or
        ``{"step": 0, "epoch": 0, **extra}`` for a fresh run).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(out / CHECKPOINT_FILE, **objects)
    remove_stale_temps(checkpoint.path)
    checkpoint.extra.update(extra or {})
    if resume is None:
        truncate_metrics(out, None)
        return checkpoint, {"step": 0, "epoch": 0, **checkpoint.extra}
    state = Checkpoint(resume, **objects).load()
    checkpoint.extra.update({key: state[key] for key in checkpoint.extra if key in state})
    truncate_metrics(out, state["step"])
    return checkpoint, {**checkpoint.extra, **state}
