"""PyTorch's dataset protocol: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``,
and ``default_collate``, which turns a list of examples into one batch.

A dataset is anything with ``__len__`` and ``__getitem__(i)``; :class:`DataLoader` batches
it. Arrays and TensorDatasets are batched by slicing every array at once, the rest example by
example through a collate function.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor
from tinygen.data import arguments


class Dataset:
    """Base class of map-style datasets: subclasses define ``__len__`` and ``__getitem__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Examples along the first axis of several tensors (or arrays) of the same length.

    ``dataset[i]`` is the tuple ``(t[i] for t in tensors)``, as ``torch``'s TensorDataset.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, got none")
        tensors = tuple(arguments.rows("TensorDataset", f"tensor {i}", t)
                        for i, t in enumerate(tensors))
        lengths = [len(t) for t in tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: tensors must have the same length (first "
                             f"axis), got {lengths}")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t))
                             for t in tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def arrays(self, index) -> tuple:
        """Every tensor's raw rows at ``index`` (an int array): a whole batch in one slice."""
        return tuple(t.data[index] for t in self.tensors)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order (each an int in
    [-len(dataset), len(dataset)), checked here rather than at the first bad read)."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = arguments.dataset("Subset", "dataset", dataset)
        if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__"):
            raise TypeError(f"Subset: indices must be a sequence of ints, got "
                            f"{type(indices).__name__}")
        self.indices = [int(i) for i in _indices("Subset", list(indices), len(dataset))]

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths: Sequence, generator: np.random.Generator | None = None
                 ) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are counts adding up to ``len(dataset)``, or fractions adding up to 1 (the
    remainder goes round-robin to the first subsets, as in PyTorch). The permutation comes
    from ``generator``, or from tinygen's generator, so ``tinygen.manual_seed`` fixes it.
    """
    total = len(arguments.dataset("random_split", "dataset", dataset))
    rng = arguments.generator("random_split", generator)
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__") or not all(
            isinstance(n, numbers.Real) and not isinstance(n, bool) for n in lengths):
        raise TypeError(f"random_split: lengths must be a sequence of counts or fractions, "
                        f"got {lengths!r}")
    lengths = list(lengths)
    if not lengths or not all(math.isfinite(n) and n >= 0 for n in lengths):
        raise ValueError(f"random_split: lengths must be non-negative finite numbers, got "
                         f"{lengths}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(total * fraction)) for fraction in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(n) for n in lengths]
    if sum(counts) != total or (counts != lengths and not math.isclose(sum(lengths), 1)):
        raise ValueError(f"random_split: lengths must be non-negative counts adding up to "
                         f"the dataset's {total} examples (or fractions adding up to 1), got "
                         f"{list(lengths)}")
    rng = rng if rng is not None else backend.get_generator("cpu")
    order = backend.to_numpy(rng.permutation(total)).tolist()
    cuts = np.cumsum([0, *counts])
    return [Subset(dataset, order[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def default_collate(examples: list):
    """One batch from a list of examples, as PyTorch's default_collate.

    Tensors and arrays are stacked along a new first axis; Python ints become an int64
    tensor and floats a float64 tensor; tuples, lists and dicts are collated field by field;
    anything else (strings) is returned as a list. Every example must be of the first one's
    kind (and shape, and keys).
    """
    if not isinstance(examples, (list, tuple)):
        raise TypeError(f"default_collate: examples must be a list, got "
                        f"{type(examples).__name__}")
    if not examples:
        raise ValueError("default_collate: examples must be a non-empty list, got []")
    first = examples[0]
    kind = _collated_kind(first)
    if any(_collated_kind(e) is not kind for e in examples):
        raise TypeError(f"default_collate: every example must be of the first one's kind, got "
                        f"{sorted({type(e).__name__ for e in examples})}")
    if kind is Tensor or kind is np.ndarray:
        shapes = {tuple(np.shape(e)) for e in examples}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: arrays must share a shape to stack, got "
                             f"shapes {sorted(shapes)}")
    if kind is Tensor:
        return Tensor(backend.get_array_module(first.data).stack([e.data for e in examples]))
    if kind is np.ndarray:
        return Tensor(np.stack(examples))
    if kind is bool:
        return Tensor(np.array(examples, dtype=np.bool_))
    if kind is numbers.Integral:
        return Tensor(np.array(examples, dtype=np.int64))
    if kind is numbers.Real:
        return Tensor(np.array(examples, dtype=np.float64))
    if kind is dict:
        if any(e.keys() != first.keys() for e in examples):
            raise ValueError(f"default_collate: every dict example must have the keys "
                             f"{sorted(first, key=str)}")
        return {key: default_collate([e[key] for e in examples]) for key in first}
    if kind is tuple:
        if any(len(e) != len(first) for e in examples):
            raise ValueError("default_collate: every example must have the same number of "
                             f"fields, got {sorted({len(e) for e in examples})}")
        return tuple(default_collate(list(fields)) for fields in zip(*examples))
    return list(examples)


def _collated_kind(example):
    """The collation rule an example falls under (examples of one batch must share it)."""
    if isinstance(example, Tensor):
        return Tensor
    if isinstance(example, (np.ndarray, np.generic)):
        return np.ndarray
    for kind in (bool, numbers.Integral, numbers.Real, dict):
        if isinstance(example, kind):
            return kind
    return tuple if isinstance(example, (tuple, list)) else object


def _indices(function: str, indices: list, length: int) -> list:
    """``indices`` checked as ints in [-length, length)."""
    for index in indices:
        if not isinstance(index, (int, np.integer)) or isinstance(index, (bool, np.bool_)):
            raise TypeError(f"{function}: indices must be ints, got {index!r}")
        if not -length <= index < length:
            raise IndexError(f"{function}: index {index} is out of range for a dataset of "
                             f"{length} examples")
    return indices
