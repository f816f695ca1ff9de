"""Every public function and class of tinygen.data refuses malformed arguments with a named
tinygen error.

For each one the table below holds one valid call and what to do with its result (index a
dataset, draw a batch from a loader). A Hypothesis test draws one corruption per example: one
argument replaced by a bad value (wrong type, zero, negative, NaN, inf, a wrong length, a
wrong dtype, mismatched lengths, an object that is not a dataset). The call passes if it
returns, or if it raises TypeError/ValueError/IndexError/RuntimeError from an explicit
``raise`` in the tinygen package whose message names the function or class
(``tinygen.testing.malformed.internal_escape`` judges, as for the layers and the ops).
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen.data as data
from tinygen.autograd.tensor import Tensor
from tinygen.testing.malformed import internal_escape


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32)


def _labels(n: int = 6) -> np.ndarray:
    return np.arange(n, dtype=np.int64) % 3


def _dataset(n: int = 6) -> data.TensorDataset:
    return data.TensorDataset(_images(n), _labels(n))


class _NotADataset:
    """Neither sized nor indexable."""


class Entry:
    """One public callable: a valid call (``args`` positionally, ``kwargs``), what to do
    with its result (``use``), and the values each argument may be corrupted to (``bad``,
    replacing the generic ones for that argument); ``names``: what else its errors may name
    (the file an IDX error is about, the function it calls)."""

    def __init__(self, name: str, kwargs: dict, args: tuple = (), use=None, bad=None,
                 fixed=(), names=()):
        self.name, self.kwargs, self.args = name, kwargs, args
        self.names = (name, *names)  # what a proper error may name: the function, a file
        self.use = use or (lambda result: result)
        self.bad = bad or {}
        self.fixed = set(fixed)  # arguments never corrupted (paths to real files)

    def __repr__(self) -> str:
        return self.name

    def arguments(self) -> list:
        """The corruptible arguments: positions (ints) and keyword names."""
        return [*range(len(self.args)), *(k for k in sorted(self.kwargs)
                                          if k not in self.fixed)]

    def call(self, argument=None, value=None):
        args, kwargs = list(self.args), dict(self.kwargs)
        if isinstance(argument, int):
            args[argument] = value
        elif argument is not None:
            kwargs[argument] = value
        return self.use(getattr(data, self.name)(*args, **kwargs))


def _first(iterable):
    return list(itertools.islice(iterable, 1))


def _index_and_length(dataset):
    return dataset[0], len(dataset)


def _tmp_file(tmp_dir, payload: bytes = b"tinygen") -> tuple:
    path = tmp_dir / "payload.bin"
    path.write_bytes(payload)
    return path, hashlib.sha256(payload).hexdigest()


GENERIC_BAD = ("x", "", None, 1.5, -2.5, True, False, 0, -1, 3, math.nan, math.inf, (),
               (1, 2, 3), [0.5], {"a": 1}, object())
BAD_ARRAYS = (np.zeros((5, 4), np.float32), np.zeros((6, 4), np.float64), np.zeros(()),
              np.array(["a"] * 6), [[1, 2], [3]], _NotADataset(), Tensor(np.zeros((0, 4))))
BAD_LENGTHS = ([3, 2], [-1, 7], [0.5, 0.6], [0.5, -0.5, 1.0], [1.5, 4.5], [], [math.nan, 1.0],
               ["a", "b"], [6, 0, 0, 0, 0, 0, 0, 0])


def _table(tmp_dir) -> list:
    path, digest = _tmp_file(tmp_dir)
    idx_path = tmp_dir / "array.idx"
    data.write_idx(idx_path, np.arange(6, dtype=np.uint8).reshape(2, 3))
    uint8_images = np.random.default_rng(1).integers(0, 256, (20, 28, 28)).astype(np.uint8)
    return [
        Entry("Dataset", {}),
        Entry("TensorDataset", {}, args=(_images(), _labels()), use=_index_and_length,
              bad={0: BAD_ARRAYS, 1: BAD_ARRAYS}),
        Entry("Subset", {"dataset": _dataset(), "indices": [0, 2, 5]}, use=_index_and_length,
              bad={"indices": ([6], [-7], [1.5], [True], "x", None, 3, [[0]], np.array([0.5])),
                   "dataset": (None, _NotADataset(), 3, "x")}),
        Entry("random_split", {"dataset": _dataset(), "lengths": [4, 2], "generator": None},
              use=lambda parts: [_index_and_length(p) for p in parts if len(p)],
              bad={"lengths": BAD_LENGTHS + GENERIC_BAD, "dataset": (None, _NotADataset(), 3),
                   "generator": ("x", 3, 1.5, object())}),
        Entry("default_collate", {"examples": [np.zeros(3, np.float32)] * 4},
              bad={"examples": ([np.zeros(3), np.zeros(4)], [], "x", None, 3,
                                [np.zeros(3), 1.0], [{"a": 1}, {"b": 2}], [(1, 2), (1,)],
                                [Tensor(np.zeros(2)), Tensor(np.zeros(3))],
                                [Tensor(np.zeros(2)), np.zeros(2)], [1, "a"], [1.0, None])}),
        Entry("DataLoader", {"batch_size": 2, "shuffle": False, "drop_last": False,
                             "seed": None, "generator": None, "collate_fn": None,
                             "device": "cpu", "num_workers": 0, "pin_memory": False},
              args=(_dataset(),), use=_first,
              bad={0: (None, _NotADataset(), 3, "x", [], np.zeros(()), _dataset(0))}),
        Entry("CycledLoader", {"loader": data.DataLoader(_dataset(), batch_size=2),
                               "batches": 5}, use=_first,
              bad={"loader": (None, 3, "x", _NotADataset(), [])}),
        Entry("endless", {"images": _images(), "labels": _labels(), "batch_size": 2,
                          "seed": 0, "device": "cpu"}, use=_first,
              bad={"images": BAD_ARRAYS, "labels": BAD_ARRAYS}),
        Entry("dynamic_binarize", {"intensities": Tensor(np.full((2, 4), 0.5, np.float32))},
              bad={"intensities": BAD_ARRAYS + (np.zeros((2, 4)), None, "x",
                                                Tensor(np.zeros((2, 4), np.int64)))}),
        Entry("random_shift", {"images": Tensor(np.zeros((2, 784), np.float32)),
                               "max_shift": 2, "size": (28, 28)},
              bad={"images": BAD_ARRAYS + (Tensor(np.zeros((2, 10), np.float32)), None)}),
        Entry("binarize", {"images": uint8_images, "method": "threshold", "seed": 0,
                           "threshold": 127},
              bad={"images": BAD_ARRAYS + (None, "x")}),
        Entry("balanced_subset", {"labels": np.arange(30) % 10, "count": 10, "seed": 0,
                                  "classes": 10},
              bad={"labels": BAD_ARRAYS + (None, np.full(30, 11))}),
        Entry("default_split", {"root": None, "train_size": 8000, "verify": True},
              bad={"root": (1.5, True, object(), 3)}),
        Entry("binarized_split", {"method": "threshold", "seed": 0, "train_size": 8000}),
        Entry("load_mnist", {"split": "test", "root": None, "download": False,
                             "mirror": "file:///nonexistent/", "sha256": None,
                             "verify": True},
              bad={"root": (1.5, True, object(), 3),
                   "download": ("x", None, 1.5, 0, object()),
                   "sha256": ("x", 3, {"a": 1}, [1])}),
        Entry("read_idx", {"path": idx_path}, bad={"path": (None, 1.5, 3, object(), b"\0")},
              names=("array.idx",)),
        Entry("parse_idx", {"raw": idx_path.read_bytes(), "source": "array.idx"},
              names=("array.idx",),
              bad={"raw": (None, "x", 3, b"", b"\0\0\x08\x05", b"\0\0\x08\x01\0\0\0\xff",
                           object())}),
        Entry("write_idx", {"path": tmp_dir / "out.idx",
                            "array": np.arange(6, dtype=np.uint8), "compress": None},
              bad={"array": BAD_ARRAYS + (None, np.zeros(3, np.complex64)),
                   "path": (None, 1.5, object())}),
        Entry("verify_file", {"path": path, "sha256": digest},
              bad={"path": (None, 1.5, object()), "sha256": (None, 3, "x")}),
        Entry("download_file", {"url": path.as_uri(), "path": tmp_dir / "copy.bin",
                                "sha256": digest, "timeout": 5.0},
              bad={"url": (None, 3, object()), "path": (None, 1.5, object()),
                   "sha256": (None, 3, "x"), "timeout": ("x", None, -1, 0, math.nan)}),
        Entry("ring", {"n": 8, "radius": 1.0, "noise": 0.05, "seed": 0}),
        Entry("moons", {"n": 8, "noise": 0.05, "seed": 0}),
        Entry("gaussian_mixture", {"n": 8, "modes": 4, "radius": 2.0, "std": 0.02, "seed": 0}),
        Entry("mixture_centres", {"modes": 4, "radius": 2.0}),
    ]


#: Public names of tinygen.data that take no arguments to corrupt.
NOT_CALLABLES = {"DEFAULT_TRAIN_SIZE", "ChecksumError", "IDXError"}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return {entry.name: entry for entry in _table(tmp_path_factory.mktemp("malformed"))}


def test_every_public_data_function_is_in_the_table(table):
    assert set(table) == set(data.__all__) - NOT_CALLABLES


def test_every_table_entry_runs_as_given(table):
    for entry in table.values():
        entry.call()


def _escape(entry: Entry, argument, value) -> str | None:
    """Why calling ``entry`` with ``argument`` set to ``value`` escaped, or None."""
    try:
        entry.call(argument, value)
    except Exception as error:  # noqa: BLE001 - the classifier judges every exception
        reason = internal_escape(error, entry.names)
        if reason is not None:
            return f"{entry.name}({argument}={value!r}): {reason}: {type(error).__name__}: " \
                   f"{error}"
    return None


@pytest.mark.parametrize("name", sorted(set(data.__all__) - NOT_CALLABLES))
@given(choice=st.data())
def test_data_api_refuses_malformed_arguments_by_name(table, name, choice):
    entry = table[name]
    if not entry.arguments():
        return
    argument = choice.draw(st.sampled_from(entry.arguments()))
    value = choice.draw(st.sampled_from(entry.bad.get(argument, GENERIC_BAD)))
    reason = _escape(entry, argument, value)
    assert reason is None, reason


# --------------------------------------------------------------------------- one test per fix
def _cycled_over_nothing():
    return _first(data.CycledLoader([], 3))


#: (id, call, error type, message pattern): each call escaped (or looped forever), or raised
#: an error that did not name the function, before the fix it stands for.
FIXES = [
    ("tensordataset-0d", lambda: data.TensorDataset(np.zeros(())), ValueError,
     r"TensorDataset: tensor 0 must have a first \(example\) axis"),
    ("tensordataset-strings", lambda: data.TensorDataset(np.array(["a", "b"])), TypeError,
     r"TensorDataset: tensor 0 must hold numbers"),
    ("tensordataset-not-array", lambda: data.TensorDataset(_NotADataset()), TypeError,
     r"TensorDataset: tensor 0 must be an array or a Tensor, got _NotADataset"),
    ("subset-out-of-range", lambda: data.Subset(_dataset(), [6]), IndexError,
     r"Subset: index 6 is out of range for a dataset of 6 examples"),
    ("subset-index-type", lambda: data.Subset(_dataset(), [1.5]), TypeError,
     r"Subset: indices must be ints, got 1.5"),
    ("subset-not-dataset", lambda: data.Subset(3, [0]), TypeError,
     r"Subset: dataset must be a dataset \(with __len__ and __getitem__\), got int"),
    ("random-split-lengths-type", lambda: data.random_split(_dataset(), None), TypeError,
     r"random_split: lengths must be a sequence of counts or fractions, got None"),
    ("random-split-nan", lambda: data.random_split(_dataset(), [math.nan, 1.0]), ValueError,
     r"random_split: lengths must be non-negative finite numbers"),
    ("random-split-fractional-counts", lambda: data.random_split(_dataset(), [2.5, 4.5]),
     ValueError, r"random_split: lengths must be non-negative counts adding up to"),
    ("random-split-generator", lambda: data.random_split(_dataset(), [3, 3], generator=3),
     TypeError, r"random_split: generator must be None or a np.random.Generator, got int"),
    ("collate-empty", lambda: data.default_collate([]), ValueError,
     r"default_collate: examples must be a non-empty list"),
    ("collate-shapes", lambda: data.default_collate([np.zeros(3), np.zeros(4)]), ValueError,
     r"default_collate: arrays must share a shape to stack, got shapes \[\(3,\), \(4,\)\]"),
    ("collate-kinds", lambda: data.default_collate([1, "a"]), TypeError,
     r"default_collate: every example must be of the first one's kind"),
    ("collate-keys", lambda: data.default_collate([{"a": 1}, {"b": 2}]), ValueError,
     r"default_collate: every dict example must have the keys \['a'\]"),
    ("loader-not-dataset", lambda: data.DataLoader(None), TypeError,
     r"DataLoader: data\[0\] \(a dataset or an array\) must be an array or a Tensor"),
    ("loader-seed-type", lambda: data.DataLoader(_dataset(), seed="x"), TypeError,
     r"DataLoader: seed must be None or an int, got str 'x'"),
    ("loader-collate-type", lambda: data.DataLoader(_dataset(), collate_fn="x"), TypeError,
     r"DataLoader: collate_fn must be None or callable, got str"),
    ("loader-device-named", lambda: data.DataLoader(_dataset(), device="tpu"), RuntimeError,
     r"DataLoader: device must be one of"),
    ("loader-shuffle-type", lambda: data.DataLoader(_dataset(), shuffle="yes"), TypeError,
     r"DataLoader: shuffle must be a bool"),
    ("cycled-empty-pass", _cycled_over_nothing, ValueError,
     r"CycledLoader: loader yielded no batch in a whole pass"),
    ("cycled-not-iterable", lambda: data.CycledLoader(3, 2), TypeError,
     r"CycledLoader: loader must be an iterable of batches, got int"),
    ("endless-seed-type", lambda: _first(data.endless(_images(), batch_size=2, seed="x")),
     TypeError,
     r"endless: seed must be None or an int"),
    ("endless-0d-images", lambda: _first(data.endless(np.zeros(()))), ValueError,
     r"endless: images must have a first \(example\) axis"),
    ("dynamic-binarize-ndarray", lambda: data.dynamic_binarize(np.zeros(3)), TypeError,
     r"dynamic_binarize: intensities must be a Tensor, got ndarray"),
    ("random-shift-size", lambda: data.random_shift(Tensor(np.zeros((2, 10))), 2), ValueError,
     r"random_shift: images must be \(N, ...\) with 28 x 28 values per image"),
    ("random-shift-max-shift-type",
     lambda: data.random_shift(Tensor(np.zeros((2, 784))), 1.5), TypeError,
     r"random_shift: max_shift must be an int, got float 1.5"),
    ("binarize-threshold-type",
     lambda: data.binarize(np.zeros(3, np.uint8), threshold="x"), TypeError,
     r"binarize: threshold must be a number"),
    ("balanced-subset-short-class",
     lambda: data.balanced_subset(np.full(30, 1), 10), ValueError,
     r"balanced_subset: 1 examples of each of 10 classes are needed, class 0 has 0"),
    ("balanced-subset-classes-type",
     lambda: data.balanced_subset(np.arange(30) % 10, 10, classes="10"), TypeError,
     r"balanced_subset: classes must be an int"),
    ("binarized-split-method-named", lambda: data.binarized_split(method="x"), ValueError,
     r"binarized_split: method must be 'threshold' or 'stochastic'"),
    ("load-mnist-download-type", lambda: data.load_mnist(download="x"), TypeError,
     r"load_mnist: download must be a bool"),
    ("read-idx-path-type", lambda: data.read_idx(None), TypeError,
     r"read_idx: path must be a str or os.PathLike, got NoneType"),
    ("parse-idx-raw-type", lambda: data.parse_idx("x"), TypeError,
     r"parse_idx: raw must be bytes, got str"),
    ("write-idx-compress-type",
     lambda: data.write_idx("unused.idx", np.zeros(2, np.uint8), compress="yes"), TypeError,
     r"write_idx: compress must be None or a bool"),
    ("verify-file-hash", lambda: data.verify_file(__file__, "x"), ValueError,
     r"verify_file: sha256 must be 64 hex digits, got 'x'"),
    ("download-file-timeout",
     lambda: data.download_file("file:///unused", "unused.bin", "0" * 64, timeout=-1),
     ValueError, r"download_file: timeout must be > 0, got -1"),
    ("toy-scale-type", lambda: data.ring(8, noise="x"), TypeError,
     r"ring: noise must be a number, got str 'x'"),
    ("toy-seed-range", lambda: data.moons(8, seed=-1), ValueError,
     r"moons: seed must be a non-negative int, got -1"),
    ("toy-modes-type", lambda: data.gaussian_mixture(8, modes=2.5), TypeError,
     r"gaussian_mixture: modes must be an int"),
]


@pytest.mark.parametrize(("call", "error", "pattern"),
                         [pytest.param(*fix[1:], id=fix[0]) for fix in FIXES])
def test_each_fixed_escape_raises_its_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_verify_file_is_exported_from_tinygen_data(tmp_path):
    path, digest = _tmp_file(tmp_path)
    data.verify_file(path, digest)
